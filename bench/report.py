"""How a run is reported: a rich table, `bench/results.json`, a dated section of
`docs/benchmarks.md`.

results.json keeps the latest figure of every id across modes: a `--large` run replaces
the S figures (and the B figures it measured again) and leaves the P figures of the last
default run in place; each figure says which run measured it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.figures import SPEC_BY_ID, Figure

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_PATH = REPO_ROOT / "bench" / "results.json"
DOCS_PATH = REPO_ROOT / "docs" / "benchmarks.md"
RUNS_HEADING = "## Runs"


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if unit in ("ms",) or abs(value) < 10:
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def fmt_ratio(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}×"


def fmt_pass(passed: bool | None) -> str:
    return {True: "pass", False: "MISS", None: ""}[passed]


def run_info(mode: str, started: datetime, seconds: float) -> dict[str, Any]:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                text=True, timeout=5).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True,
                                    text=True, timeout=5).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {
        "mode": mode,
        "started_at": started.isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "commit": commit,
        "dirty_tree": dirty,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def print_table(figures: list[Figure], info: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"thidua benchmarks — {info['mode']} run, {info['started_at']}", title_justify="left")
    for name, justify in (("id", "left"), ("what", "left"), ("value", "right"), ("unit", "left"),
                          ("baseline", "right"), ("ratio", "right"), ("goal", "left"), ("", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for f in figures:
        style = {True: "green", False: "red", None: ""}[f.pass_]
        table.add_row(
            f.id, f.title, fmt(f.value, f.unit), f.unit, fmt(f.baseline, f.unit), fmt_ratio(f.ratio),
            f.goal or "", f"[{style}]{fmt_pass(f.pass_)}[/]" if style else "",
        )
    console.print(table)
    for f in figures:
        if f.note:
            console.print(f"[dim]{f.id}: {f.note}[/]")


def write_results(figures: list[Figure], info: dict[str, Any], path: Path = RESULTS_PATH, *,
                  merge: bool = True) -> dict[str, Any]:
    """Write results.json; with `merge`, figures of other modes from the file are kept."""
    previous: dict[str, dict[str, Any]] = {}
    if merge and path.exists():
        try:
            previous = {f["id"]: f for f in json.loads(path.read_text()).get("figures", [])}
        except (OSError, ValueError, AttributeError):
            previous = {}
    current = {}
    for f in figures:
        data = f.to_json()
        data["run"] = {"mode": info["mode"], "started_at": info["started_at"]}
        current[f.id] = data
    merged = {**previous, **current}
    order = {spec_id: n for n, spec_id in enumerate(SPEC_BY_ID)}
    document = {
        "schema": 1,
        "last_run": info,
        "figures": sorted(merged.values(), key=lambda f: order.get(f["id"], len(order))),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return document


def markdown_section(figures: list[Figure], info: dict[str, Any], notes: list[str]) -> str:
    started = datetime.fromisoformat(info["started_at"]).astimezone(timezone.utc)
    lines = [
        f"### {started:%Y-%m-%d %H:%M} UTC — `{info['mode']}` run",
        "",
        f"commit `{info['commit']}`{' (uncommitted changes)' if info.get('dirty_tree') else ''}, "
        f"{info['cpus']} CPUs, Python {info['python']}, {info['seconds']:.0f} s.",
        "",
        "| id | what | value | unit | baseline | ratio | goal | |",
        "|---|---|--:|---|--:|--:|---|---|",
    ]
    for f in figures:
        lines.append(
            f"| {f.id} | {f.title} | {fmt(f.value, f.unit)} | {f.unit} | {fmt(f.baseline, f.unit)} | "
            f"{fmt_ratio(f.ratio)} | {f.goal or ''} | {fmt_pass(f.pass_)} |"
        )
    extra = [f"- {f.id}: {f.note}" for f in figures if f.note] + [f"- {n}" for n in notes]
    extra += [f"- {f.id} CPU ms per call: " + ", ".join(f"{k} {v:g}" for k, v in
                                                        sorted(f.detail["cpu_ms_per_call"].items()))
              for f in figures if f.detail.get("cpu_ms_per_call")]
    if extra:
        lines += ["", *extra]
    return "\n".join(lines) + "\n"


def append_markdown(section: str, path: Path = DOCS_PATH) -> None:
    """Append the run's section at the end of the document (under `## Runs`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if RUNS_HEADING not in text:
        text = text.rstrip("\n") + f"\n\n{RUNS_HEADING}\n"
    path.write_text(text.rstrip("\n") + "\n\n" + section)
