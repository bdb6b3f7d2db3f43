"""CORS is off unless origins are listed (THIDUA_CORS_ALLOW_ORIGINS); a listed origin's
scripts may call the JSON API with a bearer token, any other origin gets no CORS headers."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import Person
from tests.e2e.test_resilience import served
from thidua.bootstrap import build_api
from thidua.settings import Settings

PORTAL = "https://cong-thong-tin.vinhyen.gov.vn"


def _preflight(origin: str) -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,idempotency-key"}


async def test_without_origins_there_is_no_cors(http: httpx.AsyncClient) -> None:
    answer = await http.options("/v1/campaigns", headers=_preflight(PORTAL))
    assert "access-control-allow-origin" not in answer.headers


async def test_a_listed_origin_may_call_the_api_with_a_token_and_another_may_not(
    e2e_settings: Settings, secretariat: Person
) -> None:
    settings = e2e_settings.model_copy(update={"cors_allow_origins": PORTAL})
    async with served(build_api(settings)) as client:
        allowed = await client.options("/v1/campaigns", headers=_preflight(PORTAL))
        assert allowed.status_code == 200, allowed.text
        assert allowed.headers["access-control-allow-origin"] == PORTAL
        assert "idempotency-key" in allowed.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in allowed.headers

        read = await client.get("/v1/campaigns", headers={"Origin": PORTAL, **secretariat.headers})
        assert read.status_code == 200 and read.headers["access-control-allow-origin"] == PORTAL

        other = await client.options("/v1/campaigns", headers=_preflight("https://evil.example"))
        assert "access-control-allow-origin" not in other.headers
        stranger = await client.get("/v1/campaigns", headers={"Origin": "https://evil.example", **secretariat.headers})
        assert "access-control-allow-origin" not in stranger.headers
