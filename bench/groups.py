"""Figure groups beyond the core ones: a feature's figures plug in here with one line.

A group is a module of `bench/` with
- `SPECS: tuple[bench.spec.Spec, ...]`: its figures (ids of its own, each with its raw part
  as `baseline_id` when it has one, `modes` the runs that measure it);
- `async def measure(ctx: GroupContext) -> None`: measures them while thidua's processes
  run (after P2), recording each with `ctx.run.results.put(id, value, **detail)`; a raw
  part it is judged against is measured in the same function, right before.

A run measures every group listed below (its name is the module's last part: `--only
notifications` runs that group alone), reports its figures in the table, results.json and
docs/benchmarks.md like the core ones, and goes on when a group fails (its figures carry
the failure). Add a line, keep the order:
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.spec import Spec

GROUPS: tuple[str, ...] = (
    "bench.cascade",
    "bench.evidence",
    "bench.evaluation",
    "bench.notifications",
)


@dataclass
class GroupContext:
    """What a group may use: the run (results, profile, CPU meter, notes), thidua's
    running processes and users (`bench.stack.Stack`), the stored corpus (None when the
    run wrote none) and the live campaign's targets by unit (`bench.product.Live`)."""

    run: Any
    stack: Any
    database_url: str
    address: str
    work: Path
    logs: Path
    corpus: Any
    live: Any


def name_of(module: str) -> str:
    return module.rsplit(".", 1)[-1]


def modules() -> list[ModuleType]:
    return [importlib.import_module(module) for module in GROUPS]


def specs() -> tuple[Spec, ...]:
    return tuple(spec for module in modules() for spec in module.SPECS)
