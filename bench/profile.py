"""The sizes of a run: `smoke` (seconds, for the test suite), `default` (`make bench`,
under ~15 minutes on 2 cores) and `large` (`make bench-large`, by hand: the country's size)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    clients: int  # concurrent clients of B2, B4, B5, P2, P5
    load_seconds: float  # B2 and P2
    b1_calls: int
    b3_saves: int
    b4_starts: int
    b5_seconds: float
    b6_rows: int
    # the stored corpus: real domain events for P4 (rebuild), P5 (scoreboard), P6 (verify)
    units: int
    targets: int
    events: int
    p1_commands: int
    p3_targets: int
    p5_seconds: float
    # provinces > 1: the country's store (bench.country), each province a campaign of
    # `units` units, `targets` targets and `events` events (the first is the one read)
    provinces: int = 1

    @property
    def mode(self) -> str:
        return self.name


SMOKE = Profile(
    name="smoke", clients=4, load_seconds=1.5, b1_calls=10, b3_saves=50, b4_starts=20, b5_seconds=0.5,
    b6_rows=5_000, units=8, targets=40, events=400, p1_commands=8, p3_targets=40, p5_seconds=0.5,
)

DEFAULT = Profile(
    name="default", clients=32, load_seconds=20.0, b1_calls=200, b3_saves=2_000, b4_starts=1_024, b5_seconds=5.0,
    b6_rows=200_000, units=100, targets=5_000, events=200_000, p1_commands=200, p3_targets=2_000, p5_seconds=10.0,
)

# The country (issue 21.2): 34 provinces × 98 communes (3,332, the 3,321 communes rounded up
# to the same number per province) × 5,000 targets × 100,000 events = 170,000 targets and
# 3.4 M events in one store; the scoreboard figures read one province's campaign.
LARGE = Profile(
    name="large", clients=32, load_seconds=20.0, b1_calls=200, b3_saves=2_000, b4_starts=1_024, b5_seconds=5.0,
    b6_rows=200_000, units=98, targets=5_000, events=100_000, p1_commands=0, p3_targets=5_000,
    p5_seconds=10.0, provinces=34,
)

PROFILES = {p.name: p for p in (SMOKE, DEFAULT, LARGE)}
