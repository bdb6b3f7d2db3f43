"""The house's layering, read from the source.

Nodes are the packages `domain`, `workflows`, `projections`, `api`, and each module of
`thidua/` on its own (`thidua/` holds both the bottom, e.g. `thidua.settings`, and the
top, e.g. `thidua.cli`). Every import counts, also those inside functions or under
TYPE_CHECKING: a cycle hidden in a function is still a cycle. The packages may be
installed under the `thidua` namespace (`thidua.domain`...): those names are read as the
package they name.
"""

from __future__ import annotations

import ast
import graphlib
import io
import json
import subprocess
import sys
import tokenize
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "workflows", "projections", "api")
# The bottom of the house: these import nothing else of the project.
BOTTOM = {"thidua.settings", "thidua.dburl", "thidua.heap"}
# The top: what builds and runs the processes. Only these may import the API.
TOP = {"thidua.bootstrap", "thidua.cli", "thidua.up", "thidua.demo", "thidua.demo_history"}


def module_name(path: Path) -> str:
    """The module name the source folders spell: `thidua/cli.py` -> `thidua.cli`, `domain/x.py` -> `domain.x`."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def project_modules() -> dict[str, Path]:
    files = [f for top in (*PACKAGES, "thidua") for f in sorted((ROOT / top).rglob("*.py"))]
    return {module_name(f): f for f in files}


def plain(name: str) -> str:
    """A name in the `thidua` namespace (thidua.domain...) read as the package's own (domain...)."""
    head, _, rest = name.partition(".")
    if head == "thidua" and rest.split(".")[0] in PACKAGES:
        return rest
    return name


def node_of(module: str) -> str | None:
    """The graph node a module belongs to; None outside the project."""
    module = plain(module)
    parts = module.split(".")
    if parts[0] in PACKAGES:
        return parts[0]
    if parts[0] == "thidua":
        return ".".join(parts[:2])
    return None


def imported_modules(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The modules an import statement loads, with `from pkg import sub` resolved to the
    submodule when `sub` is one, and relative imports made absolute."""
    if isinstance(node, ast.Import):
        yield from (plain(alias.name) for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = module.split(".")
        if not project_modules()[module].name == "__init__.py":
            package = package[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    base = plain(base)
    for alias in node.names:
        sub = plain(f"{base}.{alias.name}")  # `from thidua import domain` names the package
        yield sub if sub in project_modules() else base


def imports_of(module: str) -> Iterator[tuple[int, int, str, bool]]:
    """(first line, last line, module imported, inside a function) for every import of the
    project's modules; the first line of an import inside a function is that of the run of
    imports it stands in (so one comment above the run explains the run)."""
    tree = ast.parse(project_modules()[module].read_text(encoding="utf-8"))
    run_start: dict[int, int] = {}  # id(import inside a function) -> first line of its run
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for block in ast.walk(fn):
                start = None
                for stmt in getattr(block, "body", []) if isinstance(getattr(block, "body", None), list) else []:
                    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                        start = stmt.lineno if start is None else start
                        run_start[id(stmt)] = start
                    else:
                        start = None
    for stmt in ast.walk(tree):
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for target in imported_modules(module, stmt):
                if node_of(target) is not None:
                    nested = id(stmt) in run_start
                    yield run_start.get(id(stmt), stmt.lineno), stmt.end_lineno or stmt.lineno, target, nested


@cache
def package_graph() -> dict[str, set[str]]:
    """node -> the other nodes it imports."""
    graph: dict[str, set[str]] = {}
    for module in project_modules():
        source = node_of(module)
        assert source is not None
        edges = graph.setdefault(source, set())
        for _, _, target, _ in imports_of(module):
            if node_of(target) != source:
                edges.add(node_of(target))  # type: ignore[arg-type]
    return graph


def test_the_graph_is_read_from_the_source() -> None:
    """What every other test here relies on: the reader sees the imports that exist."""
    graph = package_graph()
    assert {"domain", "workflows", "projections", "api", "thidua.settings", "thidua.bootstrap",
            "thidua.cli"} <= graph.keys()
    assert {"domain"} <= graph["workflows"] and {"domain"} <= graph["api"]
    assert {"api", "workflows", "projections", "thidua.settings"} <= graph["thidua.bootstrap"]


def test_the_domain_imports_no_other_part_of_the_project() -> None:
    assert package_graph()["domain"] == set()


def test_the_bottom_imports_nothing_of_the_project() -> None:
    assert {node: package_graph()[node] for node in BOTTOM} == {node: set() for node in BOTTOM}


def test_only_the_top_imports_the_api() -> None:
    importers = {node for node, targets in package_graph().items() if "api" in targets}
    assert importers - TOP == set()


def test_no_cycle_between_packages() -> None:
    sorter = graphlib.TopologicalSorter(package_graph())
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None
    assert order.index("domain") < order.index("workflows") < order.index("thidua.bootstrap")


def comment_lines(path: Path) -> set[int]:
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    return {tok.start[0] for tok in tokens if tok.type == tokenize.COMMENT}


def test_an_import_inside_a_function_says_why() -> None:
    """Imports belong at the top of a module; one of the project's modules imported inside a
    function carries a comment (on its line, or above its run of imports) saying why."""
    unexplained = []
    for module, path in project_modules().items():
        comments = comment_lines(path)
        for first, last, target, nested in imports_of(module):
            if nested and not comments & set(range(first - 1, last + 1)):
                unexplained.append(f"{path.relative_to(ROOT)}:{last} imports {target}")
    assert sorted(set(unexplained)) == []


FORBIDDEN_IN_DOMAIN = ("temporalio", "fastapi", "starlette", "asyncpg", "psycopg", "psycopg_pool", "psycopg2")

PROBE = """
import importlib, json, pkgutil, sys
from thidua import domain
names = [m.name for m in pkgutil.walk_packages(domain.__path__, domain.__name__ + ".")]
for name in names:
    importlib.import_module(name)
loaded = sorted({m.split(".")[0] for m in sys.modules})
print(json.dumps({"modules": names, "loaded": loaded}))
"""


def test_importing_the_domain_loads_no_temporal_http_or_database_driver() -> None:
    """Also at run time, in a fresh interpreter where nothing else was imported first:
    the domain loads no Temporal, HTTP or database driver (not even through a library)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])

    assert {"target", "campaign", "scoring", "permissions", "application"} <= {
        name.rsplit(".", 1)[-1] for name in report["modules"]
    }
    assert [name for name in FORBIDDEN_IN_DOMAIN if name in report["loaded"]] == []
