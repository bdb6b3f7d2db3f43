"""People sign in (DESIGN.md "People sign in"): activation link, password, session
cookie with CSRF, throttling, sign-out and revocation, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Person, register_unit, unique

PASSWORD = "mật khẩu dài đủ 10"


async def create_with_login(secretariat: Person, *, role: str, unit_id: str | None = None) -> dict[str, Any]:
    login = unique("login").replace("-", ".")
    response = await secretariat.post("/v1/users", {"name": f"Người {login}", "role": role, "unit_id": unit_id,
                                                   "login": login, "email": f"{login}@vinhyen.example"})
    assert response.status_code == 201, response.text
    return response.json()


def token_of(activation_url: str) -> str:
    return activation_url.rsplit("/activate/", 1)[1]


@pytest.fixture
async def browser_like(api_server: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client with its own cookie jar, as one person's browser."""
    async with httpx.AsyncClient(base_url=api_server.url, timeout=60) as client:
        yield client


async def test_activation_sets_the_password_once(secretariat: Person, http: httpx.AsyncClient) -> None:
    made = await create_with_login(secretariat, role="inspector")
    assert made["login"] and made["token"].startswith("thd_")
    assert made["activation_url"].startswith(str(http.base_url).rstrip("/") + "/activate/act_")
    token = token_of(made["activation_url"])

    short = await http.post("/v1/activation", json={"token": token, "password": "short"})
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "body.password"
    first = await http.post("/v1/activation", json={"token": token, "password": PASSWORD})
    assert first.status_code == 200, first.text
    assert first.json()["id"] == made["id"]
    again = await http.post("/v1/activation", json={"token": token, "password": "another password 123"})
    assert again.status_code == 410 and again.headers["content-type"].startswith("application/problem+json")
    forged = await http.post("/v1/activation", json={"token": token[:-3] + "xyz", "password": PASSWORD})
    assert forged.status_code == 410


async def test_the_cookie_reads_freely_and_changes_only_with_the_csrf_token(
    secretariat: Person, http: httpx.AsyncClient, browser_like: httpx.AsyncClient,
) -> None:
    made = await create_with_login(secretariat, role="secretariat")
    assert (await http.post("/v1/activation", json={"token": token_of(made["activation_url"]),
                                                    "password": PASSWORD})).status_code == 200
    signed = await browser_like.post("/v1/session", json={"login": made["login"].upper(), "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie  # plain http here
    csrf = signed.json()["csrf_token"]
    assert (await browser_like.get("/v1/me")).json()["id"] == made["id"]

    unit = unique("phuong")
    refused = await browser_like.put(f"/v1/units/{unit}", json={"name": "Phường Đống Đa", "kind": "ward"})
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
    wrong = await browser_like.put(f"/v1/units/{unit}", json={"name": "Phường Đống Đa", "kind": "ward"},
                                   headers={"X-CSRF-Token": csrf[:-2] + "zz"})
    assert wrong.status_code == 403
    assert (await secretariat.get(f"/v1/units")).status_code == 200
    done = await browser_like.put(f"/v1/units/{unit}", json={"name": "Phường Đống Đa", "kind": "ward"},
                                  headers={"X-CSRF-Token": csrf})
    assert done.status_code == 201, done.text

    out = await browser_like.delete("/v1/session")
    assert out.status_code == 204
    assert (await browser_like.get("/v1/me")).status_code == 401


async def test_wrong_passwords_are_refused_then_throttled(secretariat: Person, http: httpx.AsyncClient,
                                                          browser_like: httpx.AsyncClient) -> None:
    made = await create_with_login(secretariat, role="inspector")
    assert (await http.post("/v1/activation", json={"token": token_of(made["activation_url"]),
                                                    "password": PASSWORD})).status_code == 200
    statuses = []
    for _ in range(6):
        response = await browser_like.post("/v1/session", json={"login": made["login"], "password": "not it at all"})
        statuses.append(response.status_code)
    assert statuses == [401, 401, 401, 401, 401, 429]
    assert int(response.headers["retry-after"]) > 0
    # Refused now even with the right password: the guesser learns nothing.
    right = await browser_like.post("/v1/session", json={"login": made["login"], "password": PASSWORD})
    assert right.status_code == 429
    unknown = await browser_like.post("/v1/session", json={"login": "nobody.here", "password": PASSWORD})
    assert unknown.status_code == 401 and unknown.json()["detail"] == "the login or the password is wrong"


async def test_revoking_a_user_ends_their_sessions_at_once(secretariat: Person, http: httpx.AsyncClient,
                                                           browser_like: httpx.AsyncClient) -> None:
    unit = unique("phuong")
    await register_unit(secretariat, unit, "Phường Liên Bảo")
    made = await create_with_login(secretariat, role="unit_head", unit_id=unit)
    assert (await http.post("/v1/activation", json={"token": token_of(made["activation_url"]),
                                                    "password": PASSWORD})).status_code == 200
    assert (await browser_like.post("/v1/session", json={"login": made["login"], "password": PASSWORD})
            ).status_code == 200
    assert (await browser_like.get("/v1/me")).status_code == 200
    assert (await secretariat.delete(f"/v1/users/{made['id']}")).status_code == 200
    assert (await browser_like.get("/v1/me")).status_code == 401
    again = await browser_like.post("/v1/session", json={"login": made["login"], "password": PASSWORD})
    assert again.status_code == 401


async def test_a_login_is_one_person_and_secrets_never_reach_the_events(secretariat: Person, http: httpx.AsyncClient,
                                                                       projector: None) -> None:
    made = await create_with_login(secretariat, role="inspector")
    taken = await secretariat.post("/v1/users", {"name": "Người khác", "role": "inspector", "login": made["login"]})
    assert taken.status_code == 422 and taken.json()["errors"][0]["field"] == "body.login"
    token = token_of(made["activation_url"])
    position = (await http.post("/v1/activation", json={"token": token, "password": PASSWORD})).json()["position"]
    trail = await secretariat.get("/v1/audit", params={"min_position": position, "actor_id": made["id"]})
    assert trail.status_code == 200, trail.text
    text = trail.text
    assert [e["event_type"] for e in trail.json()["items"]] == ["PasswordSet"]
    assert PASSWORD not in text and token not in text and made["token"] not in text


async def test_the_cli_prints_an_activation_link(e2e_settings: Any) -> None:
    import asyncio

    from thidua.bootstrap import create_user

    made = await asyncio.to_thread(create_user, e2e_settings, name="Văn phòng", role="secretariat",
                                   unit_id=None, login=unique("vp").replace("-", "."))
    assert made["activation_url"].startswith(f"http://{e2e_settings.api_host}:{e2e_settings.api_port}/activate/act_")
