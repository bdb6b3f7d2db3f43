"""Failed bearer tokens are throttled per client address and per user id (issue 15, item 11):
429 with Retry-After, decided before any lookup for an address that failed too often; a
user's own right token still passes while others guess at its id; a malformed token or
an id that cannot be one costs no event-store read."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx

from tests.e2e.conftest import Person
from thidua.bootstrap import build_api
from thidua.settings import Settings

LIMIT = 3  # failures per user id per minute in these tests; an address gets ten times as many


@contextlib.asynccontextmanager
async def clients(app: Any, *addresses: str) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One client per address, all talking to `app` in-process (its lifespan run by hand)."""
    async with app.router.lifespan_context(app), contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url="http://api"))
            for address in addresses]


def wrong_token(user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer thd_{user_id}_{secrets.token_urlsafe(32)}"}


async def test_wrong_tokens_for_one_user_are_refused_with_429_and_the_right_one_still_passes(
    e2e_settings: Settings, secretariat: Person
) -> None:
    app = build_api(e2e_settings.model_copy(update={"auth_failures_per_minute": LIMIT}))
    async with clients(app, "10.1.0.1", "10.1.0.2") as (first, second):
        answers = [await first.get("/v1/campaigns", headers=wrong_token(secretariat.id)) for _ in range(LIMIT)]
        assert [a.status_code for a in answers] == [401] * LIMIT
        # The user id has failed LIMIT times: from any address, a wrong token for it is 429.
        for client in (first, second):
            refused = await client.get("/v1/campaigns", headers=wrong_token(secretariat.id))
            assert refused.status_code == 429, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # Guessing at someone's id does not lock them out.
        mine = await second.get("/v1/campaigns", headers=secretariat.headers)
        assert mine.status_code == 200, mine.text


async def test_an_address_that_fails_too_often_is_refused_before_any_lookup(
    e2e_settings: Settings, secretariat: Person
) -> None:
    app = build_api(e2e_settings.model_copy(update={"auth_failures_per_minute": LIMIT}))
    async with clients(app, "10.2.0.1", "10.2.0.2") as (guesser, neighbour):
        kinds = [lambda: {"Authorization": "Bearer not-a-token"},  # malformed
                 lambda: {"Authorization": f"Bearer thd_{'x' * 80}_{secrets.token_urlsafe(32)}"},  # not one of our ids
                 lambda: wrong_token("u" + secrets.token_hex(8))]  # a new unknown user each time
        statuses = [(await guesser.get("/v1/campaigns", headers=kinds[n % 3]())).status_code
                    for n in range(10 * LIMIT)]
        assert statuses == [401] * (10 * LIMIT)
        refused = await guesser.get("/v1/campaigns", headers=secretariat.headers)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        # another address is not affected
        assert (await neighbour.get("/v1/campaigns", headers=secretariat.headers)).status_code == 200


async def test_a_malformed_token_or_an_impossible_id_costs_no_store_read(
    e2e_settings: Settings, secretariat: Person, monkeypatch: Any
) -> None:
    app = build_api(e2e_settings.model_copy(update={"auth_failures_per_minute": LIMIT}))
    async with clients(app, "10.3.0.1") as (client,):
        verifier = app.state.services.verifier
        reads: list[str] = []
        load = verifier._load
        monkeypatch.setattr(verifier, "_load", lambda user_id: reads.append(user_id) or load(user_id))
        for header in ("Bearer not-a-token", f"Bearer thd_{'x' * 80}_{secrets.token_urlsafe(32)}",
                       f"Bearer thd_a/b_{secrets.token_urlsafe(32)}", "Bearer thd_u1_short"):
            assert (await client.get("/v1/campaigns", headers={"Authorization": header})).status_code == 401
        assert reads == []
        unknown = "u" + secrets.token_hex(8)
        for _ in range(2):  # an unknown id is read once, then answered from the cache
            assert (await client.get("/v1/campaigns", headers=wrong_token(unknown))).status_code == 401
        assert reads == [unknown]
