"""bench/notifications.py's delivery-rate measurement runs end to end on real parts (a scratch
database, the test Temporal server, a verifying receiver) and delivers every notification;
speed is `make bench`'s business, not asserted here."""

from __future__ import annotations

from bench.notifications import delivery_rate_vs_raw
from tests.integration.projection_conftest import scratch_database  # noqa: F401  (fixture)


async def test_the_delivery_rate_bench_delivers_every_notification(scratch_database, temporal_address):
    result = await delivery_rate_vs_raw(scratch_database, temporal_address, n=20, timeout=120)
    assert (result["delivered"], result["n"], result["bad_signatures"]) == (20, 20, 0)
    assert result["thidua_rate"] > 0 and result["raw_rate"] > 0 and result["ratio"] is not None
