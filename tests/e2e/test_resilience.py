"""When PostgreSQL or Temporal is down the API says so (503 problem+json, /healthz 503),
and never leaks a traceback."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from thidua.dburl import asyncpg_dsn, with_database
from thidua.embedded import free_port
from thidua.settings import Settings
from tests.e2e.conftest import Person, register_unit, unique


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process (its lifespan run by hand), over httpx's ASGI transport."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


async def test_healthz_says_ok_when_everything_answers(http: httpx.AsyncClient, worker: None, projector: None) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert {k: v for k, v in body.items() if k != "processes"} == {
        "status": "ok", "stopped_read_models": [],
        "checks": {"postgres": "ok", "temporal": "ok", "read_models": "ok", "workers": "ok", "projector": "ok"}}
    assert {(p["kind"], p["state"]) for p in body["processes"]} == {("worker", "alive"), ("projector", "alive")}


async def test_temporal_down_is_a_503(secretariat: Person, e2e_settings: Settings, worker: None) -> None:
    from thidua.bootstrap import build_api
    from thidua.event_store import domain_application
    from thidua.workflows.client import TargetGateway, connect

    unit = unique("u")
    await register_unit(secretariat, unit, "Phường Khai Quang")
    cid = unique("down")
    await secretariat.post("/v1/campaigns", {"id": cid, "name": "C", "starts_on": "2022-01-01",
                                             "ends_on": "2030-12-31"})
    assigned = await secretariat.post(f"/v1/campaigns/{cid}/targets", {
        "unit_id": unit, "title": "T", "area": "GPMB", "deadline": "2030-01-01", "points": 1})
    tid = assigned.json()["target"]["id"]

    dead = await connect(f"127.0.0.1:{free_port()}", lazy=True)
    gateway = TargetGateway(dead, e2e_settings.task_queue, answer_timeout=timedelta(seconds=3))
    domain_app = await asyncio.to_thread(domain_application, e2e_settings.database_url)
    pool = await asyncpg.create_pool(asyncpg_dsn(e2e_settings.database_url), min_size=1, max_size=2)
    try:
        app = build_api(e2e_settings, domain_app=domain_app, pool=pool, gateway=gateway, temporal_client=dead)
        async with served(app) as client:
            health = await client.get("/healthz")
            assert health.status_code == 503
            assert health.json()["checks"] == {"postgres": "ok", "temporal": "unavailable"}
            cancel = await client.post(f"/v1/targets/{tid}/cancel", json={"reason": "Thử"},
                                       headers=secretariat.headers)
            assert cancel.status_code == 503, cancel.text
            assert cancel.headers["content-type"].startswith("application/problem+json")
            assert "Traceback" not in cancel.text and cancel.headers["retry-after"]
    finally:
        await pool.close()
        domain_app.close()


async def test_postgres_down_is_a_503(postgres_server_url: str, e2e_settings: Settings) -> None:
    """An API whose database disappears under it."""
    import psycopg
    from psycopg import sql

    from thidua.bootstrap import API_STORE_ENV, build_api, create_user
    from thidua.event_store import domain_application
    from thidua.workflows.client import TargetGateway, connect

    name = f"thidua_gone_{secrets.token_hex(4)}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(postgres_server_url, name)
    settings = Settings(database_url=url, temporal_address=e2e_settings.temporal_address)
    user = await asyncio.to_thread(create_user, settings, name="VP", role="secretariat", unit_id=None)
    # The API's settings, with a shorter connect timeout so the test waits less for the 503.
    domain_app = await asyncio.to_thread(domain_application, url, {**API_STORE_ENV, "POSTGRES_CONNECT_TIMEOUT": "1"})
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=1, max_size=2)
    client = await connect(e2e_settings.temporal_address)
    try:
        app = build_api(settings, domain_app=domain_app, pool=pool,
                        gateway=TargetGateway(client, "unused"), temporal_client=client, auth_cache_ttl=0)
        async with served(app) as api:
            headers = {"Authorization": f"Bearer {user['token']}"}
            assert (await api.get("/v1/me", headers=headers)).status_code == 200
            with psycopg.connect(postgres_server_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            me = await api.get("/v1/me", headers=headers)
            assert me.status_code == 503, me.text
            assert me.headers["content-type"].startswith("application/problem+json")
            health = await api.get("/healthz")
            assert health.status_code == 503 and health.json()["checks"]["postgres"] == "unavailable"
    finally:
        await pool.close()
        domain_app.close()
        with psycopg.connect(postgres_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
