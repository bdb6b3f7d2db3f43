"""schemathesis over the API's own OpenAPI schema, signed in: whatever a client sends
that the schema allows (and a good deal it does not), the API never answers with a
5xx, and every answer matches the schema (status, content type, body).

Bounded: a few examples per operation. Path parameters are sometimes swapped for
objects that exist (a campaign with a cluster, a target), so the checks reach past
the 404s; each operation is called as a role that may call it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import Person, make_person, register_unit, unique

EXAMPLES_PER_OPERATION = 4


@dataclass
class FuzzWorld:
    secretariat: Person
    committee: Person
    head: Person
    campaign: str
    cluster: str
    unit: str
    target: str

    def token_for(self, method: str, path: str) -> str:
        owner_commands = ("/start", "/progress", "/block", "/unblock", "/escalate", "/complete")
        if path.startswith("/v1/targets/{tid}/") and path.endswith(owner_commands):
            return self.head.token
        if path.endswith(("/bonuses", "/resolve", "/extend-deadline")):
            return self.committee.token
        return self.secretariat.token


@pytest.fixture(scope="module")
async def fuzz_world(secretariat: Person, worker: None, projector: None) -> FuzzWorld:
    unit, deputy = unique("fz"), unique("fzd")
    for u in (unit, deputy):
        await register_unit(secretariat, u, "Phường Đống Đa")
    campaign = unique("fuzz")
    assert (await secretariat.post("/v1/campaigns", {"id": campaign, "name": "Fuzz", "starts_on": "2022-01-01",
                                                     "ends_on": "2030-12-31"})).status_code == 201
    assert (await secretariat.put(f"/v1/campaigns/{campaign}/clusters/cum-1", {
        "name": "Cụm 1", "head_unit_id": unit, "deputy_unit_id": deputy})).status_code == 200
    assigned = await secretariat.post(f"/v1/campaigns/{campaign}/targets", {
        "unit_id": unit, "title": "Chỉ tiêu", "area": "GPMB", "deadline": "2030-01-01", "points": 5})
    assert assigned.status_code == 201
    return FuzzWorld(
        secretariat=secretariat,
        committee=await make_person(secretariat, name="BTV", role="standing_committee"),
        head=await make_person(secretariat, name="Trưởng phường", role="unit_head", unit_id=unit),
        campaign=campaign, cluster="cum-1", unit=unit, target=assigned.json()["target"]["id"],
    )


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _fuzz_operation(operation: Any, world: FuzzWorld, base_url: str, calls: list[int]) -> list[str]:
    """Generated requests for one operation: schema-valid ones with random and with real
    path parameters, then schema-invalid ones; the failures, described."""
    real = {"cid": world.campaign, "tid": world.target, "cluster_id": world.cluster, "unit_id": world.unit}
    params = {p.name for p in operation.path_parameters}
    fixed = {k: v for k, v in real.items() if k in params}
    token = world.token_for(operation.method.upper(), operation.path)
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    runs = [(GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None)]
    if fixed:
        runs.insert(1, (GenerationMode.POSITIVE, fixed))

    for mode, path_parameters in runs:
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(mode, path_parameters=path_parameters))
        def check(case: Any) -> None:
            calls.append(1)
            case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=60)

        try:
            check()
        except Unsatisfiable:
            pass  # nothing to break: the operation takes no input a negative case could spoil
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every operation's failures
            failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {_describe(exc)}")
    return failures


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 3000 else text[:3000] + " ..."


async def test_the_api_keeps_to_its_schema(api_server: Any, fuzz_world: FuzzWorld) -> None:
    schema = await asyncio.to_thread(schemathesis.openapi.from_url, f"{api_server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    failures: list[str] = []
    calls: list[int] = []
    for operation in operations:
        failures += await asyncio.to_thread(_fuzz_operation, operation, fuzz_world, api_server.url, calls)
    assert len(calls) > 2 * len(operations)
    assert not failures, "\n\n".join(failures)
