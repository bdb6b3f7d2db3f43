"""A figure's declaration (`Spec`) and its goal (`Goal`): what a figure group declares.

Kept apart from `bench.figures` so that a figure group (`bench.groups`) can import these
while `bench.figures` gathers every group's declarations.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}
_SYMBOL = {"<=": "≤", "<": "<", ">=": "≥", ">": ">"}


@dataclass(frozen=True)
class Goal:
    """`op` `limit` on the ratio (`on_ratio`) or on the value."""

    op: str
    limit: float
    on_ratio: bool = False

    def met(self, value: float | None, ratio: float | None) -> bool | None:
        subject = ratio if self.on_ratio else value
        if subject is None or (isinstance(subject, float) and math.isnan(subject)):
            return False
        return _OPS[self.op](subject, self.limit)

    def describe(self, unit: str, baseline_id: str | None) -> str:
        if self.on_ratio:
            return f"{_SYMBOL[self.op]} {self.limit:g}× {baseline_id}"
        return f"{_SYMBOL[self.op]} {self.limit:,.0f} {unit}"


@dataclass(frozen=True)
class Spec:
    id: str
    title: str
    unit: str
    baseline_id: str | None = None
    goal: Goal | None = None
    modes: tuple[str, ...] = ("default", "smoke")
    also: tuple[str, ...] = ()  # other baselines: their ratios go to the detail, not judged


DS = ("default", "smoke")
L = ("large",)
ALL = ("default", "smoke", "large")
