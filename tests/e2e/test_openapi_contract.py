"""The served OpenAPI schema is the contract a generated client is built from: every
response field declared (no untyped `additionalProperties`), readable operation ids,
spreadsheets declared with their media types."""

from __future__ import annotations

import re

import httpx

from thidua.api.models import ScoreboardOut
from tests.e2e.conftest import Person
from tests.e2e.test_api_conventions import target  # noqa: F401 - the module's fixture

# RFC 9457 problem details may carry extension members by design.
OPEN_BY_DESIGN = {"ProblemDetails", "FieldError"}


async def test_every_response_object_declares_all_its_fields(http: httpx.AsyncClient) -> None:
    schemas = (await http.get("/openapi.json")).json()["components"]["schemas"]
    loose = [name for name, schema in schemas.items()
             if schema.get("type") == "object" and schema.get("additionalProperties") is not False]
    assert sorted(set(loose) - OPEN_BY_DESIGN) == []


async def test_operations_have_readable_unique_ids(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/openapi.json")).json()
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z][a-z_]*", i) for i in ids), ids
    assert spec["paths"]["/v1/targets/{tid}/block"]["post"]["operationId"] == "block_target"


async def test_spreadsheets_are_declared_with_their_media_types(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/openapi.json")).json()
    content = spec["paths"]["/v1/campaigns/{cid}/scoreboard"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/csv",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"} <= set(content)


async def test_the_cached_scoreboard_body_is_the_declared_shape(secretariat: Person,
                                                                target: dict[str, str]) -> None:  # noqa: F811
    # The JSON scoreboard is served from a cache of encoded bodies, past FastAPI's
    # response validation: check it against its declaration here.
    answer = await secretariat.get(f"/v1/campaigns/{target['cid']}/scoreboard")
    assert answer.status_code == 200, answer.text
    board = ScoreboardOut.model_validate(answer.json())
    assert board.campaign_id == target["cid"]
