"""The lock (requirements/*.txt, made by `make lock`) is what every install uses, and it covers
what pyproject.toml declares: a dependency added to pyproject without `make lock` fails here."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
LOCKS = REPO / "requirements"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)")


def read_lock(name: str) -> dict[str, set[str]]:
    """Package -> pinned versions (a universal lock may pin one package per platform), and
    every pin must carry its hashes."""
    pins: dict[str, set[str]] = {}
    lines = (LOCKS / name).read_text().splitlines()
    for i, line in enumerate(lines):
        match = PIN.match(line)
        if match is None:
            continue
        assert i + 1 < len(lines) and "--hash=sha256:" in lines[i + 1], f"{name}: {line!r} has no hash"
        pins.setdefault(canonicalize_name(match["name"]), set()).add(match["version"])
    assert pins, f"{name} pins nothing"
    return pins


def declared(*extras: str) -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    found = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        found += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return found


@pytest.mark.parametrize(
    ("lock", "extras"), [("runtime.txt", ()), ("test.txt", ("test",)), ("bench.txt", ("test", "bench"))]
)
def test_the_lock_pins_every_declared_dependency_within_its_range(lock: str, extras: tuple[str, ...]) -> None:
    pins = read_lock(lock)
    missing, outside = [], []
    for requirement in declared(*extras):
        versions = pins.get(canonicalize_name(requirement.name))
        if not versions:
            missing.append(requirement.name)
        elif not any(requirement.specifier.contains(Version(v), prereleases=True) for v in versions):
            outside.append(f"{requirement} (locked {', '.join(sorted(versions))})")
    assert not missing, f"{lock} lacks {missing}: run `make lock`"
    assert not outside, f"{lock} pins versions pyproject.toml no longer allows: {outside}; run `make lock`"


def test_one_package_has_one_version_in_every_lock() -> None:
    test = read_lock("test.txt")
    for other in ("runtime.txt", "bench.txt"):
        differ = {n: (v, test[n]) for n, v in read_lock(other).items() if n in test and v != test[n]}
        assert not differ, f"{other} and test.txt pin different versions: {differ}"


def make_dry_run(*args: str) -> str:
    make = shutil.which("make")
    assert make, "`make` is needed to check the Makefile (apt-get install make)"
    done = subprocess.run([make, "-n", "-C", str(REPO), *args], capture_output=True, text=True, check=True)
    return done.stdout


def pip_installs(commands: str) -> list[str]:
    return [line.strip() for line in commands.splitlines() if re.search(r"\bpip install\b", line)]


def test_make_venv_installs_only_from_the_lock_and_again_when_the_lock_changes() -> None:
    # -W: as if the lock had just been rewritten (by `make lock` or a merge).
    installs = pip_installs(make_dry_run("-W", "requirements/test.txt", "venv"))
    assert installs, "a changed lock must reinstall .venv"
    assert "--require-hashes -r requirements/test.txt" in installs[0], installs
    assert all("--require-hashes" in line or "--no-deps" in line for line in installs), installs


def test_make_bench_installs_the_profilers_from_the_lock() -> None:
    installs = pip_installs(make_dry_run("-W", "requirements/bench.txt", "bench"))
    assert any("--require-hashes -r requirements/bench.txt" in line for line in installs), installs
    assert all("--require-hashes" in line or "--no-deps" in line for line in installs), installs


def test_the_image_installs_the_runtime_lock_on_a_pinned_base() -> None:
    text = (REPO / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+(\S+)", text, re.M)
    assert base, "the Dockerfile has no FROM"
    # A full release (3.11.N) and a named Debian release, or a digest: never a moving tag.
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", base[1]), base[1]
    installs = [" ".join(m.split()) for m in re.findall(r"pip install[^\n&]*", text)]
    assert "pip install --require-hashes -r requirements/runtime.txt" in installs, installs
    assert all("--require-hashes" in line or "--no-deps" in line for line in installs), installs
    assert re.search(r"^COPY requirements/runtime.txt\b", text, re.M), "the image must copy the lock it installs"
