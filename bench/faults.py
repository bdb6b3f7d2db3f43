"""`make faults`: thidua under load while its parts are killed and its database goes away,
then bad input and authorisation attempts; the figures go into docs/reliability.md.

    .venv/bin/python -m bench.faults [--clients 16] [--write docs/reliability.md]

One run (a few minutes here) on a PostgreSQL server and a Temporal dev server of its own:

1. `thidua worker | projector | api` as processes; one unit head per client, two targets each.
2. Load: every client sends progress reports with an Idempotency-Key, and on 202, 503 or a
   lost connection sends the same request again until it has an outcome (as a client should).
   Meanwhile the faults, one after the other: SIGKILL of the worker, of the projector, of the
   Temporal dev server (each started again), a PostgreSQL outage (the database refuses and
   ends every connection) and a stall (its events table locked).
3. Counted against the event store: acknowledged commands missing (lost), command ids stored
   more than once (duplicated); the read models compared with a fresh rebuild; one stored
   event altered behind the API's back and `verify` asked to name it.
4. Bad input by kind and authorisation attempts, each counted by answer (5xx must be 0; an
   attempt allowed that should not be must be 0).

The table is written between the markers in docs/reliability.md with `--write`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from bench.services import Process, fresh_database, temporal_server, thidua_env, work_directory
from bench.stack import Stack, max_position, wait_projected
from thidua.api.auth import user_id_of
from thidua.api.idempotency import command_id_for
from thidua.dburl import asyncpg_dsn

MARK_BEGIN, MARK_END = "<!-- faults-table -->", "<!-- /faults-table -->"
RETRY_PAUSE = 0.5  # seconds between a client's retries of the same request
OUTAGE_SECONDS = 40.0  # longer than the API waits for an outcome (30 s): commands in flight get 202
STALL_SECONDS = 25.0  # as the probe that found the stall did
FAULT_GAP = 12.0  # seconds of plain load between two faults


@dataclass
class Load:
    clients: int = 0
    acknowledged: set[str] = field(default_factory=set)
    refused: int = 0  # a 4xx outcome (e.g. a target completed meanwhile): nothing stored, counted apart
    retries: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # 5xx other than 503, by the problem's detail
    seconds: float = 0.0


@dataclass
class Fault:
    name: str
    seconds: float  # how long the part was gone (down to the restart) or the fault lasted
    note: str = ""


@contextlib.contextmanager
def own_postgres(work: Path) -> Iterator[str]:
    """A PostgreSQL server of this run's own (embedded, under `work`): the outage and the
    stall touch nothing else, and no other user of a shared server takes its connections."""
    from thidua.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(work / "pg").start()
    try:
        yield server.url
    finally:
        server.stop()


# ------------------------------------------------------------------------------------ setup
async def setup(http: httpx.AsyncClient, stack: Stack, units: list[str]) -> tuple[str, dict[str, list[str]]]:
    sec = {"Authorization": f"Bearer {stack.secretariat}"}
    cid = f"faults-{secrets.token_hex(3)}"
    made = await http.post("/v1/campaigns", headers=sec, json={
        "id": cid, "name": "Thử lỗi", "starts_on": "2022-01-01",
        "ends_on": (date.today() + timedelta(days=365)).isoformat()})
    made.raise_for_status()
    targets: dict[str, list[str]] = {}
    for unit in units:
        head = {"Authorization": f"Bearer {stack.heads[unit]}"}
        for n in range(2):
            res = await http.post(f"/v1/campaigns/{cid}/targets", headers=sec, json={
                "key": f"{unit}-{n}", "unit_id": unit, "title": f"Chỉ tiêu {n} của {unit}", "area": "CCHC",
                "deadline": (date.today() + timedelta(days=200)).isoformat(), "points": 2})
            res.raise_for_status()
            tid = res.json()["target"]["id"]
            (await http.post(f"/v1/targets/{tid}/start", headers=head, json={})).raise_for_status()
            targets.setdefault(unit, []).append(tid)
    return cid, targets


# ------------------------------------------------------------------------------------- load
async def client_loop(http: httpx.AsyncClient, token: str, tids: list[str], load: Load, until: Callable[[], bool],
                      give_up_at: Callable[[], float]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    user_id = user_id_of(token)
    assert user_id is not None
    n = 0
    while not until():
        key = f"load-{user_id}-{n}"
        tid = tids[n % len(tids)]
        n += 1
        while True:  # the same request until it has an outcome
            try:
                res = await http.post(f"/v1/targets/{tid}/progress", json={"note": f"lần {n}"},
                                      headers={**headers, "Idempotency-Key": key}, timeout=60)
                load.answers[res.status_code] += 1
                if res.status_code >= 500 and res.status_code != 503:
                    load.errors[f"{res.status_code} {res.text[:160]}"] += 1
                if res.status_code < 300 and res.status_code != 202:
                    load.acknowledged.add(command_id_for(user_id, key))
                    break
                if 400 <= res.status_code < 500 and res.status_code != 429:
                    load.refused += 1
                    break
            except httpx.HTTPError:
                load.answers[0] += 1  # no answer at all (the API itself was unreachable)
            if time.monotonic() > give_up_at():
                raise RuntimeError(f"{key}: still no outcome after the faults were over")
            load.retries += 1
            await asyncio.sleep(RETRY_PAUSE)


# ----------------------------------------------------------------------------------- faults
class Faults:
    def __init__(self, stack: Stack, temporal: Any, server_url: str, env: dict[str, str]) -> None:
        self.stack, self.temporal, self.server_url, self.env = stack, temporal, server_url, env
        self.dbname = psycopg.conninfo.conninfo_to_dict(asyncpg_dsn(stack.database_url))["dbname"]
        self.done: list[Fault] = []

    async def kill_process(self, name: str) -> None:
        proc = self.stack.processes[name]
        started = time.monotonic()
        assert proc.popen is not None
        proc.popen.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.popen.wait)
        await asyncio.sleep(2)  # down for a moment, as under a supervisor's backoff
        self.stack.processes[name] = Process.thidua(name, name, self.env, self.stack.logs).start()
        self.done.append(Fault(f"SIGKILL {name}", time.monotonic() - started, "started again after 2 s"))

    async def kill_temporal(self) -> None:
        started = time.monotonic()
        os.kill(self.temporal.pid, signal.SIGKILL)
        while self.temporal.poll() is None:
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)
        await asyncio.to_thread(self.temporal.restart)
        self.done.append(Fault("SIGKILL Temporal dev server", time.monotonic() - started,
                               "started again on the same ports and database file"))

    def _admin(self, *statements: sql.Composable) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    async def outage(self) -> None:
        started = time.monotonic()
        await asyncio.to_thread(self._admin, sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(
            sql.Identifier(self.dbname)), sql.SQL(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {} AND pid <> pg_backend_pid()"
        ).format(sql.Literal(self.dbname)))
        await asyncio.sleep(OUTAGE_SECONDS)
        await asyncio.to_thread(self._admin, sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(
            sql.Identifier(self.dbname)))
        self.done.append(Fault("PostgreSQL outage", time.monotonic() - started,
                               "every connection ended, new ones refused"))

    async def stall(self) -> None:
        started = time.monotonic()

        def hold() -> None:
            with psycopg.connect(asyncpg_dsn(self.stack.database_url)) as conn:
                conn.execute("LOCK TABLE thidua_events IN ACCESS EXCLUSIVE MODE")
                time.sleep(STALL_SECONDS)
                conn.rollback()

        await asyncio.to_thread(hold)
        self.done.append(Fault("PostgreSQL stall", time.monotonic() - started, "the events table locked"))

    def schedule(self) -> list[Callable[[], Awaitable[None]]]:
        return [lambda: self.kill_process("worker"), lambda: self.kill_process("projector"), self.kill_temporal,
                self.outage, self.stall]


def revive(stack: Stack, env: dict[str, str]) -> None:
    for name, proc in list(stack.processes.items()):
        if not proc.alive():
            stack.processes[name] = Process.thidua(name, name, env, stack.logs).start()


# ------------------------------------------------------------------------------ the outcome
def stored_command_ids(database_url: str, target_ids: list[str]) -> Counter[str]:
    from thidua.event_store import domain_application

    app = domain_application(database_url)
    try:
        ids: Counter[str] = Counter()
        for tid in target_ids:
            target = app.get_target(tid)
            ids.update(e.command_id for e in app.repository.event_store.get(target.id))
        return ids
    finally:
        app.close()


async def read_models_match_a_rebuild(database_url: str) -> tuple[bool, list[str]]:
    import asyncpg

    from tests.integration.projection_conftest import fresh_rebuild, read_models

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        live = await read_models(conn, "public")
    finally:
        await conn.close()
    rebuilt = await fresh_rebuild(database_url)
    differ = [table for table in live if live[table] != rebuilt[table]]
    return not differ, differ


async def tampering_is_named(database_url: str) -> tuple[bool, int]:
    """Alter one stored event's bytes behind the API's back; `verify` must name its position."""
    from thidua.projections.audit import verify

    def alter() -> int:
        # A progress report's note changed ("lần" -> "lăn"), as someone with the database's keys might.
        with psycopg.connect(asyncpg_dsn(database_url), autocommit=True) as conn:
            position, state = conn.execute(
                "SELECT notification_id, state FROM thidua_events WHERE position(%s in state) > 0"
                " ORDER BY notification_id LIMIT 1", ("lần".encode(),)).fetchone()
            conn.execute("UPDATE thidua_events SET state = %s WHERE notification_id = %s",
                         (bytes(state).replace("lần".encode(), "lăn".encode(), 1), position))
            return int(position)

    position = await asyncio.to_thread(alter)
    result = await verify(asyncpg_dsn(database_url))
    return (not result["ok"] and result.get("first_bad_position") == position), position


# ------------------------------------------------------------------- bad input, authorisation
def bad_inputs(cid: str, tid: str, unit: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(kind, method, path, httpx request arguments) — each must be answered 4xx."""
    deep = "[" * 100_000 + "]" * 100_000
    json_ct = {"Content-Type": "application/json"}
    items: list[tuple[str, str, str, dict[str, Any]]] = []
    for body in ("{", "[1,", '{"note": }', "nul\x00", "\xff\xfe", "true", "1e999999"):
        items.append(("malformed JSON", "POST", f"/v1/targets/{tid}/progress", {"content": body, "headers": json_ct}))
    items.append(("JSON nested 100,000 deep", "POST", f"/v1/campaigns/{cid}/targets/import",
                  {"content": deep, "headers": json_ct}))
    items.append(("JSON nested 100,000 deep", "POST", f"/v1/targets/{tid}/progress",
                  {"content": deep, "headers": json_ct}))
    for value in ("0001-01-01T00:00:00+07:00", "9999-12-31T23:59:59-12:00", "yesterday", "2022-13-40"):
        items.append(("times out of range", "GET", f"/v1/campaigns/{cid}/scoreboard", {"params": {"as_of": value}}))
        items.append(("times out of range", "PUT", f"/v1/campaigns/{cid}/scoring",
                      {"json": {"effective_at": value, "scale": []}}))
    for cursor in (str(2**64), "-1", "abc", "9" * 400):
        items.append(("cursors beyond int64 or malformed", "GET", f"/v1/campaigns/{cid}/targets",
                      {"params": {"cursor": cursor}}))
    for points in (-1, "-0x1", 1e308, "NaN", None):
        items.append(("wrong types and ranges", "POST", f"/v1/campaigns/{cid}/targets",
                      {"json": {"unit_id": unit, "title": "x", "area": "x", "deadline": "2022-05-01",
                                "points": points}}))
    for duration in ("PT0.000001S", "P1DT", "PT0S", "P1M", "-P1D"):
        items.append(("durations under a second or malformed", "PUT", f"/v1/campaigns/{cid}/policy",
                      {"json": {"escalate_after": duration, "resolution_sla": "P7D", "stale_after": "P14D"}}))
    for key in ("a\u200bb", "a\u202eb", "", "x" * 300):
        items.append(("keys with invisible or bidi characters, empty or long", "POST", f"/v1/campaigns/{cid}/targets",
                      {"json": {"key": key, "unit_id": unit, "title": "x", "area": "x", "deadline": "2022-05-01",
                                "points": 1}}))
    for path in ("/v1/targets/not-a-uuid", f"/v1/targets/{tid}/nope", "/v1/campaigns/%00", "/v1/" + "a" * 5000):
        items.append(("bad paths", "GET", path, {}))
    items.append(("oversized bodies", "POST", f"/v1/targets/{tid}/progress",
                  {"content": '{"note": "' + "x" * 3_000_000 + '"}', "headers": json_ct}))
    items.append(("unknown fields", "POST", f"/v1/targets/{tid}/progress", {"json": {"note": "x", "admin": True}}))
    items.append(("Idempotency-Key too long", "POST", f"/v1/targets/{tid}/progress",
                  {"json": {"note": "x"}, "headers": {"Idempotency-Key": "k" * 300}}))
    return items


async def try_bad_inputs(http: httpx.AsyncClient, token: str, items: list[tuple[str, str, str, dict[str, Any]]]
                         ) -> dict[str, Counter[str]]:
    by_kind: dict[str, Counter[str]] = {}
    for kind, method, path, kwargs in items:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        res = await http.request(method, path, headers=headers, timeout=60, **kwargs)
        counts = by_kind.setdefault(kind, Counter())
        counts["tried"] += 1
        counts["4xx" if 400 <= res.status_code < 500 else "5xx" if res.status_code >= 500 else "other"] += 1
    return by_kind


async def try_authorisation(http: httpx.AsyncClient, stack: Stack, cid: str, targets: dict[str, list[str]]
                            ) -> Counter[str]:
    """Attempts that must be refused (401, 403, 404): counted as refused or allowed."""
    units = list(targets)
    me, other = units[0], units[1]
    mine, theirs = stack.heads[me], stack.heads[other]
    their_tid = targets[other][0]
    attempts: list[tuple[str | None, str, str, dict[str, Any]]] = []
    for segment, body in (("progress", {"note": "x"}), ("block", {"reason": "x"}), ("complete", {}),
                          ("start", {}), ("escalate", {})):
        attempts.append((mine, "POST", f"/v1/targets/{their_tid}/{segment}", {"json": body}))
    for segment, body in (("reopen", {"reason": "x"}), ("cancel", {"reason": "x"}),
                          ("reassign", {"unit_id": me, "reason": "x"}),
                          ("extend-deadline", {"new_deadline": "2030-01-01", "reason": "x"})):
        attempts.append((theirs, "POST", f"/v1/targets/{their_tid}/{segment}", {"json": body}))
    attempts += [
        (mine, "GET", f"/v1/targets/{their_tid}", {}),
        (mine, "GET", f"/v1/targets/{their_tid}/history", {}),
        (mine, "POST", f"/v1/campaigns/{cid}/targets", {"json": {"unit_id": me, "title": "x", "area": "x",
                                                                 "deadline": "2030-01-01", "points": 1}}),
        (mine, "PUT", f"/v1/campaigns/{cid}/policy", {"json": {"escalate_after": "P3D", "resolution_sla": "P7D",
                                                                "stale_after": "P14D"}}),
        (mine, "POST", "/v1/users", {"json": {"name": "x", "role": "secretariat"}}),
        (mine, "PUT", f"/v1/units/{me}", {"json": {"name": "x", "kind": "ward"}}),
        (None, "GET", f"/v1/campaigns/{cid}/targets", {}),
        (None, "POST", f"/v1/targets/{their_tid}/progress", {"json": {"note": "x"}}),
        ("thd_" + user_id_of(mine) + "_" + "A" * 43, "GET", f"/v1/campaigns/{cid}/targets", {}),
        ("not-a-token", "GET", f"/v1/campaigns/{cid}/targets", {}),
    ]
    counts: Counter[str] = Counter()
    for token, method, path, kwargs in attempts:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        res = await http.request(method, path, headers=headers, timeout=60, **kwargs)
        counts["tried"] += 1
        counts["refused" if res.status_code in (401, 403, 404) else "5xx" if res.status_code >= 500 else
               f"allowed ({res.status_code} {method} {path})"] += 1
    return counts


# ------------------------------------------------------------------------------------- run
async def run(clients: int, keep: bool = False) -> dict[str, Any]:
    began = time.monotonic()
    with work_directory(keep) as work, own_postgres(work) as server_url, fresh_database(server_url) as database_url, \
            temporal_server(work) as temporal:
        logs = work / "logs"
        logs.mkdir()
        print(f"logs of the processes in {logs}" + ("" if keep else " (removed at the end; --keep keeps them)"))
        stack = Stack(database_url, temporal.address, work, logs)
        stack.start()
        env = thidua_env(database_url, temporal.address, work / "thidua", api_port=stack.api_port)
        try:
            await stack.wait_ready()
            units = [f"don-vi-{n:02d}" for n in range(clients)]
            await stack.bootstrap_users(units)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.api_port}") as http:
                cid, targets = await setup(http, stack, units)
                load = Load(clients=clients)
                faults = Faults(stack, temporal, server_url, env)
                finished = asyncio.Event()
                give_up = {"at": float("inf")}
                started = time.monotonic()
                tasks = [asyncio.create_task(client_loop(http, stack.heads[u], targets[u], load, finished.is_set,
                                                         lambda: give_up["at"])) for u in units]
                for fault in faults.schedule():
                    await asyncio.sleep(FAULT_GAP)
                    await fault()
                await asyncio.sleep(FAULT_GAP)
                finished.set()
                give_up["at"] = time.monotonic() + 240
                await asyncio.gather(*tasks)
                load.seconds = time.monotonic() - started
                revive(stack, env)  # a part that gave up during an outage is started again, as a supervisor would

                all_targets = [t for ts in targets.values() for t in ts]
                stored = await asyncio.to_thread(stored_command_ids, database_url, all_targets)
                lost = [c for c in load.acknowledged if stored[c] == 0]
                duplicated = [c for c, n in stored.items() if n > 1]
                await wait_projected(database_url, await max_position(database_url), 300, None)
                same, differ = await read_models_match_a_rebuild(database_url)
                bad = await try_bad_inputs(http, stack.secretariat, bad_inputs(cid, all_targets[0], units[0]))
                auth = await try_authorisation(http, stack, cid, targets)
            named, tampered_at = await tampering_is_named(database_url)
        finally:
            stack.stop()
    return {
        "clients": clients, "targets": 2 * clients, "seconds": round(load.seconds),
        "acknowledged": len(load.acknowledged), "refused": load.refused, "retries": load.retries,
        "answers": {str(k): v for k, v in sorted(load.answers.items())},
        "errors": dict(load.errors), "bugs": sum(n for k, n in load.answers.items() if k >= 500 and k != 503),
        "faults": [f.__dict__ | {"seconds": round(f.seconds, 1)} for f in faults.done],
        "lost": len(lost), "duplicated": len(duplicated), "read_models_match": same, "differ": differ,
        "tampering_named": named, "tampered_at": tampered_at,
        "bad_inputs": {k: dict(v) for k, v in bad.items()}, "authorisation": dict(auth),
        "run_seconds": round(time.monotonic() - began),
    }


def table(r: dict[str, Any]) -> str:
    answers = ", ".join(f"{'no answer' if k == '0' else k}: {v:,}" for k, v in r["answers"].items())
    lines = [
        f"Run of `make faults` on {date.today().isoformat()}: {r['run_seconds']} s in all.",
        "",
        "| load held | figure |",
        "|---|---|",
        f"| clients (one unit head each, two targets each) | {r['clients']} |",
        f"| commands acknowledged (200) | {r['acknowledged']:,} |",
        f"| seconds of load, faults included | {r['seconds']} |",
        f"| answers seen, retries included | {answers} |",
        f"| retries of the same request (after 202, 503 or no answer) | {r['retries']:,} |",
        f"| answers that were a bug (5xx other than 503) | **{r['bugs']}** |",
        "",
        "| fault injected during the load | lasted (s) | how |",
        "|---|---|---|",
        *(f"| {f['name']} | {f['seconds']} | {f['note']} |" for f in r["faults"]),
        "",
        "| after the faults | figure |",
        "|---|---|",
        f"| acknowledged commands lost | **{r['lost']}** |",
        f"| commands stored twice | **{r['duplicated']}** |",
        f"| read models equal to a fresh rebuild | **{'yes' if r['read_models_match'] else 'no: ' + ', '.join(r['differ'])}** |",
        f"| an event altered in the store, named by `verify` | **{'yes' if r['tampering_named'] else 'no'}** "
        f"(position {r['tampered_at']}) |",
        "",
        "| bad input, by kind | tried | 4xx | 5xx |",
        "|---|---|---|---|",
        *(f"| {kind} | {c.get('tried', 0)} | {c.get('4xx', 0)} | **{c.get('5xx', 0)}** |"
          for kind, c in r["bad_inputs"].items()),
        f"| **all** | {sum(c.get('tried', 0) for c in r['bad_inputs'].values())} | "
        f"{sum(c.get('4xx', 0) for c in r['bad_inputs'].values())} | "
        f"**{sum(c.get('5xx', 0) for c in r['bad_inputs'].values())}** |",
        "",
        "| authorisation attempts that must fail | figure |",
        "|---|---|",
        f"| tried (another unit's target, another role's command, no token, a wrong token) | "
        f"{r['authorisation'].get('tried', 0)} |",
        f"| refused (401, 403, 404) | {r['authorisation'].get('refused', 0)} |",
        f"| allowed | **{sum(v for k, v in r['authorisation'].items() if k.startswith('allowed'))}** |",
    ]
    return "\n".join(lines)


def write(path: Path, text: str) -> None:
    doc = path.read_text()
    pattern = re.compile(re.escape(MARK_BEGIN) + ".*?" + re.escape(MARK_END), re.S)
    if not pattern.search(doc):
        raise SystemExit(f"{path}: no {MARK_BEGIN} ... {MARK_END} markers")
    path.write_text(pattern.sub(lambda _: f"{MARK_BEGIN}\n{text}\n{MARK_END}", doc))


def main() -> None:
    parser = argparse.ArgumentParser(description="thidua's fault run (make faults)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--write", type=Path, help="the document whose faults table to replace")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (the processes' logs)")
    args = parser.parse_args()
    result = asyncio.run(run(args.clients, args.keep))
    text = table(result)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    if args.write:
        write(args.write, text)
    failed = result["bugs"] or result["lost"] or result["duplicated"] or not result["read_models_match"] \
        or not result["tampering_named"] or any(c.get("5xx") for c in result["bad_inputs"].values()) \
        or any(k.startswith("allowed") or k == "5xx" for k in result["authorisation"])
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
