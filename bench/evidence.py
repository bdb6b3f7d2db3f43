"""Evidence files: upload and download throughput through the API, beside a raw
PostgreSQL write and read of the same bytes (the goal: the API at least 0.5x raw).

`measure_evidence(...)` needs a running API (any: `thidua up`, the bench's stack), the
bearer token of a unit head and an open target of that unit, and the database URL the API
uses. Every round uploads fresh random bytes (the store keeps one copy per content, so
the same bytes again would store nothing), downloads them, and then writes and reads the
same bytes with asyncpg in the store's chunk size into a table of its own (dropped after).

    python -m bench.evidence --api http://127.0.0.1:8000 --token thd_... --target <tid> \\
        --database-url postgresql://... [--mib 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import statistics
import time
from typing import Any

import asyncpg
import httpx

from thidua.dburl import asyncpg_dsn
from thidua.projections.evidence_files import CHUNK

from bench.spec import ALL, Goal, Spec

MIB = 1024 * 1024
RAW_TABLE = "bench_raw_evidence"

SPECS: tuple[Spec, ...] = (
    Spec("E.raw_write_rate", "raw PostgreSQL write of a file's bytes in the store's chunks", "MiB/s", modes=ALL),
    Spec("E.raw_read_rate", "raw PostgreSQL read of a file's bytes in the store's chunks", "MiB/s", modes=ALL),
    Spec("E.upload_rate", "evidence upload through the API", "MiB/s", "E.raw_write_rate",
         Goal(">=", 0.5, on_ratio=True), modes=ALL),
    Spec("E.download_rate", "evidence download through the API", "MiB/s", "E.raw_read_rate",
         Goal(">=", 0.5, on_ratio=True), modes=ALL),
)
SIZES = {"smoke": (1, 1), "default": (20, 3), "large": (20, 3)}  # mode -> (MiB per file, rounds)


def _pdf(size: int) -> bytes:
    head = b"%PDF-1.7\n"
    return head + os.urandom(size - len(head))


async def _upload(client: httpx.AsyncClient, target_id: str, content: bytes) -> tuple[float, str]:
    started = time.perf_counter()
    answer = await client.post(f"/v1/targets/{target_id}/evidence", files={"file": ("bench.pdf", content)})
    elapsed = time.perf_counter() - started
    answer.raise_for_status()
    if answer.status_code not in (200, 201):  # 202: stored, the attachment's outcome not known in time
        raise RuntimeError(f"upload answered {answer.status_code}: {answer.text[:300]}")
    return elapsed, answer.json()["sha256"]


async def _download(client: httpx.AsyncClient, target_id: str, sha256: str) -> tuple[float, int]:
    received = 0
    started = time.perf_counter()
    async with client.stream("GET", f"/v1/targets/{target_id}/evidence/{sha256}") as answer:
        answer.raise_for_status()
        async for block in answer.aiter_bytes(CHUNK):
            received += len(block)
    return time.perf_counter() - started, received


async def _raw_write(conn: asyncpg.Connection, content: bytes) -> tuple[float, str]:
    """(seconds, key) of writing the bytes in the store's chunking."""
    key = hashlib.sha256(content).hexdigest()
    started = time.perf_counter()
    async with conn.transaction():
        for seq, offset in enumerate(range(0, len(content), CHUNK)):
            await conn.execute(f"INSERT INTO {RAW_TABLE} (k, seq, data) VALUES ($1, $2, $3)",
                               key, seq, content[offset:offset + CHUNK])
    return time.perf_counter() - started, key


async def _raw_read(conn: asyncpg.Connection, key: str, size: int) -> float:
    started = time.perf_counter()
    for seq in range((size + CHUNK - 1) // CHUNK):
        await conn.fetchval(f"SELECT data FROM {RAW_TABLE} WHERE k = $1 AND seq = $2", key, seq)
    return time.perf_counter() - started


async def measure(ctx: Any) -> None:
    """The group's figures in a run: a unit head of the live campaign attaches files to the
    last of its unit's targets (the one the command loads reach last) through the API."""
    mib, rounds = SIZES[ctx.run.profile.mode]
    unit = next(u for u, targets in ctx.live.by_unit.items() if targets and u in ctx.stack.heads)
    figures = await measure_evidence(f"http://127.0.0.1:{ctx.stack.api_port}", ctx.stack.heads[unit],
                                     ctx.live.by_unit[unit][-1], ctx.database_url, size=mib * MIB, rounds=rounds,
                                     meter=ctx.run.cpu_meter)
    detail = {"size_mib": mib, "rounds": rounds}
    for figure_id, key in (("E.raw_write_rate", "raw_write_mib_s"), ("E.raw_read_rate", "raw_read_mib_s"),
                           ("E.upload_rate", "upload_mib_s"), ("E.download_rate", "download_mib_s")):
        cpu = figures.get(key.replace("_mib_s", "_cpu_ms_per_mib"))
        ctx.run.results.put(figure_id, figures[key], **detail, **({"cpu_ms_per_mib": cpu} if cpu else {}))


async def measure_evidence(api_url: str, token: str, target_id: str, database_url: str, *,
                           size: int = 20 * MIB, rounds: int = 3, meter: Any = None) -> dict[str, Any]:
    """Median MiB/s of `rounds` uploads and downloads of `size` bytes through the API and of
    the raw PostgreSQL write and read of the same bytes; and the API/raw ratios. `meter`
    (a `bench.services.CpuMeter` factory): also the CPU per MiB of the downloads and of the
    raw reads by process (the harness is the client: httpx, or asyncpg for the raw read)."""
    up, down, raw_write, raw_read = [], [], [], []
    contents: list[tuple[bytes, str]] = []
    cpu: dict[str, Any] = {}
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute(f"CREATE TABLE IF NOT EXISTS {RAW_TABLE} (k text, seq int, data bytea, "
                           "PRIMARY KEY (k, seq))")
        await conn.execute(f"ALTER TABLE {RAW_TABLE} ALTER COLUMN data SET STORAGE EXTERNAL")
        async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {token}"},
                                     timeout=300) as client:
            for _ in range(rounds):
                content = _pdf(size)
                seconds, sha256 = await _upload(client, target_id, content)
                up.append(size / MIB / seconds)
                contents.append((content, sha256))
            # Each kind in a row under one CPU meter (its samples open a database connection).
            with meter() if meter else contextlib.nullcontext() as downloads:
                for _, sha256 in contents:
                    seconds, received = await _download(client, target_id, sha256)
                    assert received == size, f"downloaded {received} of {size} bytes"
                    down.append(size / MIB / seconds)
        keys = []
        for content, _ in contents:
            seconds, key = await _raw_write(conn, content)
            raw_write.append(size / MIB / seconds)
            keys.append(key)
        with meter() if meter else contextlib.nullcontext() as reads:
            for key in keys:
                raw_read.append(size / MIB / await _raw_read(conn, key, size))
        if meter:
            mib = rounds * size / MIB
            cpu = {"download_cpu_ms_per_mib": {k: round(v * 1000 / mib, 2) for k, v in downloads.seconds().items()},
                   "raw_read_cpu_ms_per_mib": {k: round(v * 1000 / mib, 2) for k, v in reads.seconds().items()}}
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
        await conn.close()
    figures = {name: round(statistics.median(values), 1) for name, values in (
        ("upload_mib_s", up), ("download_mib_s", down), ("raw_write_mib_s", raw_write),
        ("raw_read_mib_s", raw_read))}
    figures["upload_vs_raw"] = round(figures["upload_mib_s"] / figures["raw_write_mib_s"], 2)
    figures["download_vs_raw"] = round(figures["download_mib_s"] / figures["raw_read_mib_s"], 2)
    return {"size_mib": size / MIB, "rounds": rounds, **figures, **cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description="evidence upload/download throughput vs raw PostgreSQL")
    parser.add_argument("--api", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--mib", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure_evidence(args.api, args.token, args.target, args.database_url,
                                                  size=args.mib * MIB, rounds=args.rounds))))


if __name__ == "__main__":
    main()
