"""What a run measures: every figure's id, unit, baseline and goal, and how it is judged.

A figure's `ratio` is value / baseline when it has a baseline (a raw limit measured in the
same run); its goal is either on that ratio ("≤ 1.3× raw") or on the value itself
("≥ 20,000 events/s"). Raw limits (B) have no goal: `pass` is None for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from bench import groups
from bench.spec import ALL, DS, L, Goal, Spec

_DS, _L, _ALL = DS, L, ALL

SPECS: tuple[Spec, ...] = (
    # --- B: the raw limits of the parts, measured in the same run --------------------------
    Spec("B1.update_p50", "Temporal update + trivial activity, 1 client, p50", "ms", modes=_ALL),
    Spec("B1.update_p99", "Temporal update + trivial activity, 1 client, p99", "ms", modes=_ALL),
    Spec("B2.update_rate", "Temporal update + trivial activity, 32 clients", "updates/s", modes=_ALL),
    Spec("B3.es_save_rate", "eventsourcing save, one new aggregate per call", "saves/s", modes=_ALL),
    Spec("B4.start_rate", "Temporal workflow starts, 32 concurrent", "starts/s", modes=_ALL),
    Spec("B5.select_rate", "asyncpg single-row SELECT, 32 concurrent", "queries/s", modes=_ALL),
    Spec("B6.copy_rate", "asyncpg COPY into a table", "rows/s", modes=_ALL),
    Spec("B7.uws_rate", "Temporal update-with-start (workflow running) + trivial activity, 32 clients",
         "updates/s", modes=_ALL),
    Spec("B8.local_update_p50", "Temporal update + trivial LOCAL activity, 1 client, p50", "ms", modes=_ALL),
    Spec("B8.local_update_p99", "Temporal update + trivial LOCAL activity, 1 client, p99", "ms", modes=_ALL),
    Spec("B9.local_update_rate", "Temporal update + trivial LOCAL activity, 32 clients", "updates/s", modes=_ALL),
    # --- P: thidua ---------------------------------------------------------------------------
    # P1/P2 are judged against the raw limit of their own shape (local activity, B8/B9);
    # the ratio to the ordinary-activity limit (B1/B2) is kept in the detail (`also`).
    Spec("P1.p50", "command latency via HTTP, 1 client, p50", "ms", "B8.local_update_p50", also=("B1.update_p50",)),
    Spec("P1.p95", "command latency via HTTP, 1 client, p95", "ms"),
    Spec("P1.p99", "command latency via HTTP, 1 client, p99", "ms", "B8.local_update_p99",
         Goal("<=", 1.3, on_ratio=True), also=("B1.update_p99",)),
    Spec("P2.rate", "commands via HTTP, 32 clients, mixed", "commands/s", "B9.local_update_rate",
         Goal(">=", 0.8, on_ratio=True), also=("B2.update_rate",)),
    Spec("P3.import_rate", "bulk import → every workflow running", "targets/s", "B4.start_rate",
         Goal(">=", 0.8, on_ratio=True)),
    Spec("P4.rebuild_rate", "projection rebuild", "events/s", "B6.copy_rate", Goal(">=", 20_000)),
    Spec("P4.lag_p50", "live projection lag under P2's load, p50", "ms"),
    Spec("P4.lag_p99", "live projection lag under P2's load, p99", "ms", goal=Goal("<", 500)),
    Spec("P5.scoreboard_rate", "scoreboard GET, 32 concurrent", "req/s", goal=Goal(">=", 1_000)),
    Spec("P5.scoreboard_p99", "scoreboard GET, 32 concurrent, p99", "ms", goal=Goal("<", 50)),
    Spec("P5.as_of_p99", "scoreboard GET ?as_of, 32 concurrent, p99", "ms", goal=Goal("<", 100)),
    # P7: a person's pages beside the JSON route each reads, both with the session cookie.
    Spec("P7.scoreboard_json_p99", "scoreboard JSON GET (cookie), 32 concurrent, p99", "ms", modes=_DS),
    Spec("P7.scoreboard_page_p99", "scoreboard page GET, 32 concurrent, p99", "ms", "P7.scoreboard_json_p99",
         Goal("<", 50), modes=_DS),
    Spec("P7.target_json_p99", "target JSON GET (cookie), 32 concurrent, p99", "ms", modes=_DS),
    Spec("P7.target_page_p99", "target page GET, 32 concurrent, p99", "ms", "P7.target_json_p99",
         Goal("<", 50), modes=_DS),
    Spec("P6.verify_rate", "audit chain verify", "events/s", goal=Goal(">=", 100_000)),
    # P8: P2's load on two API processes, two workers, two projectors (bench.scaleout).
    Spec("P8.rate", "commands via HTTP, 32 clients, 2 API + 2 worker + 2 projector processes", "commands/s",
         "P2.rate"),
    Spec("P8.lost", "P8: commands answered 2xx whose event is not stored", "commands", goal=Goal("<=", 0)),
    Spec("P8.duplicated", "P8: command events stored more than once", "events", goal=Goal("<=", 0)),
    Spec("P8.rebuild_diff", "P8: read-model rows differing from a rebuild of the store", "rows",
         goal=Goal("<=", 0)),
    Spec("R.rss_api", "peak RSS of the api process", "MB", goal=Goal("<", 500), modes=_DS),
    Spec("R.rss_worker", "peak RSS of the worker process", "MB", goal=Goal("<", 500), modes=_DS),
    Spec("R.rss_projector", "peak RSS of the projector process", "MB", goal=Goal("<", 500), modes=_DS),
    # --- S: scale (`--large`) ----------------------------------------------------------------
    Spec("S4.rebuild_rate", "projection rebuild at scale", "events/s", "B6.copy_rate", Goal(">=", 20_000), _L),
    Spec("S4.lag_p99", "live projection lag under command load at scale, p99", "ms",
         goal=Goal("<", 500), modes=_L),
    Spec("S5.scoreboard_rate", "scoreboard GET at scale, 32 concurrent", "req/s", goal=Goal(">=", 1_000), modes=_L),
    Spec("S5.scoreboard_p99", "scoreboard GET at scale, p99", "ms", goal=Goal("<", 50), modes=_L),
    Spec("S5.as_of_p99", "scoreboard GET ?as_of at scale, p99", "ms", goal=Goal("<", 100), modes=_L),
    Spec("S6.verify_rate", "audit chain verify at scale", "events/s", goal=Goal(">=", 100_000), modes=_L),
    Spec("S.rss_api", "peak RSS of the api process at scale", "MB", goal=Goal("<", 500), modes=_L),
    Spec("S.rss_worker", "peak RSS of the worker process at scale", "MB", goal=Goal("<", 500), modes=_L),
    Spec("S.rss_projector", "peak RSS of the projector process at scale", "MB", goal=Goal("<", 500), modes=_L),
)

# The figure groups of bench.groups (one line each there) add their figures after these.
SPECS += groups.specs()

SPEC_BY_ID = {spec.id: spec for spec in SPECS}


def ids_for(mode: str) -> list[str]:
    """Every figure id a run in `mode` reports (measured or marked skipped)."""
    return [spec.id for spec in SPECS if mode in spec.modes]


@dataclass
class Figure:
    """One reported number, as it appears in results.json."""

    id: str
    title: str
    value: float | None
    unit: str
    baseline: float | None
    baseline_id: str | None
    ratio: float | None
    goal: str | None
    pass_: bool | None
    detail: dict[str, Any] = field(default_factory=dict)
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["pass"] = data.pop("pass_")
        return data


class Results:
    """The figures of one run; `put` records a value, `judge` fills baselines, ratios, goals."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._values: dict[str, tuple[float | None, dict[str, Any], str | None]] = {}

    def put(self, figure_id: str, value: float | None, note: str | None = None, **detail: Any) -> None:
        if figure_id not in SPEC_BY_ID:
            raise KeyError(f"unknown figure id {figure_id!r}")
        self._values[figure_id] = (None if value is None else float(value), detail, note)

    def skip(self, figure_ids: Iterable[str], why: str) -> None:
        for figure_id in figure_ids:
            if figure_id not in self._values:
                self.put(figure_id, None, note=f"not measured: {why}")

    def has(self, figure_id: str) -> bool:
        return figure_id in self._values and self._values[figure_id][0] is not None

    def value(self, figure_id: str) -> float | None:
        entry = self._values.get(figure_id)
        return None if entry is None else entry[0]

    def judge(self) -> list[Figure]:
        """Every figure of this mode, in spec order; unmeasured ones carry a note."""
        figures = []
        for figure_id in ids_for(self.mode):
            spec = SPEC_BY_ID[figure_id]
            value, detail, note = self._values.get(figure_id, (None, {}, "not measured"))
            baseline = self.value(spec.baseline_id) if spec.baseline_id else None
            ratio = value / baseline if value is not None and baseline else None
            goal = spec.goal.describe(spec.unit, spec.baseline_id) if spec.goal else None
            passed = spec.goal.met(value, ratio) if spec.goal else None
            also = {other: round(value / self.value(other), 3) for other in spec.also
                    if value is not None and self.value(other)}
            if also:
                detail = {**detail, "ratio_to": also}
            figures.append(Figure(
                id=spec.id, title=spec.title, value=value, unit=spec.unit, baseline=baseline,
                baseline_id=spec.baseline_id, ratio=ratio, goal=goal, pass_=passed,
                detail=detail, note=note,
            ))
        return figures
