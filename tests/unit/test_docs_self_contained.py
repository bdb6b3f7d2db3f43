"""The project's documentation stands on its own: whoever clones the repository has README.md
and docs/, nothing else. Every relative link in them leads to a file of the repository (and,
with an anchor, to a heading of that file), and none sends the reader to a file that is not
in the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    found = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", markdown, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_leads_somewhere(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: outside the repository by intent
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        assert file.exists(), f"{doc.name}: link to {target} leads nowhere"
        if anchor and file.suffix == ".md":
            assert anchor in anchors(file.read_text(encoding="utf-8")), f"{doc.name}: no heading #{anchor} in {path}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_no_document_sends_the_reader_outside_the_repository(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    for name in ("DESIGN.md", "DOMAIN.md", "shared folder"):
        assert name not in text, f"{doc.name} names {name}, which a clone of the project does not have"


def test_the_readme_links_the_domain_and_the_architecture() -> None:
    links = set(LINK.findall((REPO / "README.md").read_text(encoding="utf-8")))
    assert {"docs/domain.md", "docs/architecture.md", "docs/api.md"} <= links
