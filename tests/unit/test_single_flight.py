"""The session and user caches' loads (thidua.api.auth.SingleFlight): the requests that
miss together share one load, and a load overtaken by a revocation or a sign-out is not
kept."""

from __future__ import annotations

import asyncio

import pytest

from thidua.api.auth import TokenVerifier
from thidua.api.shared_reads import SingleFlight


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class Loads:
    """Loads numbered as they start; each waits until the test lets it finish."""

    def __init__(self, flight: SingleFlight[int]) -> None:
        self.flight = flight
        self.started = 0
        self.gates: list[asyncio.Event] = []
        self.kept: list[int] = []

    async def load(self, key: str) -> int:
        self.started += 1
        number = self.started
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        if key == "broken":
            raise RuntimeError(f"load {number} failed")
        if self.flight.current(key):
            self.kept.append(number)
        return number


async def test_callers_that_miss_together_share_one_load():
    flight: SingleFlight[int] = SingleFlight()
    loads = Loads(flight)
    callers = [asyncio.create_task(flight.get("u", lambda: loads.load("u"))) for _ in range(5)]
    await settle()
    assert loads.started == 1
    loads.gates[0].set()
    assert await asyncio.gather(*callers) == [1] * 5
    assert loads.kept == [1]
    later = asyncio.create_task(flight.get("u", lambda: loads.load("u")))  # the first one is over
    await settle()
    assert loads.started == 2
    loads.gates[1].set()
    assert await later == 2


async def test_a_dropped_load_is_not_kept_and_the_next_caller_loads_again():
    flight: SingleFlight[int] = SingleFlight()
    loads = Loads(flight)
    before = asyncio.create_task(flight.get("u", lambda: loads.load("u")))
    await settle()
    flight.drop("u")  # a revocation while it loads
    after = asyncio.create_task(flight.get("u", lambda: loads.load("u")))
    await settle()
    assert loads.started == 2
    for gate in loads.gates:
        gate.set()
    assert (await before, await after) == (1, 2)
    assert loads.kept == [2]


async def test_a_failed_load_fails_its_callers_and_a_cancelled_caller_cancels_nothing():
    flight: SingleFlight[int] = SingleFlight()
    loads = Loads(flight)
    gone = asyncio.create_task(flight.get("broken", lambda: loads.load("broken")))
    staying = asyncio.create_task(flight.get("broken", lambda: loads.load("broken")))
    await settle()
    gone.cancel()
    await settle()
    loads.gates[0].set()
    with pytest.raises(RuntimeError, match="load 1 failed"):
        await staying
    with pytest.raises(asyncio.CancelledError):
        await gone


class Users:
    """A domain application with one user whose loads the test lets finish."""

    def __init__(self) -> None:
        self.loads = 0
        self.revoked = False

    def get_user(self, user_id: str):  # noqa: ANN201 - a stand-in for the User aggregate
        from types import SimpleNamespace

        self.loads += 1
        return SimpleNamespace(user_id="u1", name="Ana", role="secretariat", unit_id=None, token_hash="h",
                               revoked=self.revoked)


async def test_the_verifier_loads_a_user_once_for_concurrent_requests_and_forgets_at_once():
    users = Users()
    verifier = TokenVerifier(users, ttl=60)
    found = await asyncio.gather(*(verifier.principal_of("u1") for _ in range(10)))
    assert users.loads == 1 and {p.id for p in found} == {"u1"}
    users.revoked = True
    verifier.forget("u1")
    assert await verifier.principal_of("u1") is None  # loaded again, revoked
    assert users.loads == 2
