"""Concurrent scoreboard requests share the read of the read models' version, and no
request is answered by a read that started before it asked."""

from __future__ import annotations

import asyncio

import pytest

from thidua.api.shared_reads import SharedReads


class Reads:
    """Reads numbered as they start; each waits until the test lets it finish."""

    def __init__(self) -> None:
        self.started = 0
        self.gates: list[asyncio.Event] = []

    async def read(self, key: str) -> tuple[str, int]:
        self.started += 1
        number = self.started
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        if key == "broken":
            raise RuntimeError(f"read {number} failed")
        return key, number


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_callers_arriving_during_a_read_share_the_next_one():
    reads = Reads()
    shared = SharedReads(reads.read)
    first = asyncio.create_task(shared.get("c"))
    await settle()
    late = [asyncio.create_task(shared.get("c")) for _ in range(5)]  # the first read had already started
    await settle()
    assert reads.started == 1
    reads.gates[0].set()
    assert await first == ("c", 1)
    await settle()
    assert reads.started == 2  # one more read for all five, started after they asked
    reads.gates[1].set()
    assert await asyncio.gather(*late) == [("c", 2)] * 5


async def test_reads_of_different_keys_do_not_wait_for_each_other():
    reads = Reads()
    shared = SharedReads(reads.read)
    a, b = asyncio.create_task(shared.get("a")), asyncio.create_task(shared.get("b"))
    await settle()
    assert reads.started == 2
    for gate in reads.gates:
        gate.set()
    assert {await a, await b} == {("a", 1), ("b", 2)}


async def test_a_failed_read_fails_its_callers_and_the_next_caller_reads_again():
    reads = Reads()
    shared = SharedReads(reads.read)
    first = asyncio.create_task(shared.get("broken"))
    await settle()
    waiting = asyncio.create_task(shared.get("broken"))
    await settle()
    reads.gates[0].set()
    with pytest.raises(RuntimeError, match="read 1 failed"):
        await first
    await settle()
    reads.gates[1].set()
    with pytest.raises(RuntimeError, match="read 2 failed"):
        await waiting
    again = asyncio.create_task(shared.get("broken"))
    await settle()
    reads.gates[2].set()
    with pytest.raises(RuntimeError, match="read 3 failed"):
        await again
