"""schemathesis over the API's own OpenAPI schema, signed in as every role: whatever a
client sends that the schema allows (and a good deal it does not), the API never answers
with a 5xx, and every answer keeps every check schemathesis has (status, content type,
headers, body, schema-valid data accepted, invalid data rejected, missing headers,
unsupported methods and their `Allow`, ignored authentication...).

Bounded: a few examples per operation and role. Path parameters are sometimes swapped
for objects that exist (a campaign with a cluster, a target), so the checks reach past
the 404s.

The one documented allowance: schema-valid data may also be refused with 409 (the state
forbids it: a closed campaign, a completed target) or 422 (a rule no JSON Schema can say:
`ends_on` before `starts_on`, an unknown unit, a year outside 1970-2100), besides the
401/403/404 every check expects.
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
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig

from tests.e2e.conftest import Person, make_person, register_unit, unique

EXAMPLES_PER_OPERATION = 2
# Schema-valid input the domain may still refuse (see the module's docstring).
ACCEPTED_STATUSES = ["2XX", "401", "403", "404", "409", "422"]


@dataclass
class FuzzWorld:
    people: dict[str, Person]  # role -> a person of that role
    campaign: str
    cluster: str
    unit: str
    target: str


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
    people = {
        "secretariat": secretariat,
        "standing_committee": await make_person(secretariat, name="BTV", role="standing_committee"),
        "unit_head": await make_person(secretariat, name="Trưởng phường", role="unit_head", unit_id=unit),
        "inspector": await make_person(secretariat, name="Thanh tra", role="inspector"),
    }
    return FuzzWorld(people=people, campaign=campaign, cluster="cum-1", unit=unit,
                     target=assigned.json()["target"]["id"])


def all_checks() -> list[Any]:
    load_all_checks()
    return list(CHECKS.get_all())


def _fuzz_operation(operation: Any, world: FuzzWorld, role: str, base_url: str, calls: list[int]) -> list[str]:
    """Generated requests for one operation as one role: schema-valid ones with random
    and with real path parameters, then schema-invalid ones; the failures, described."""
    real = {"cid": world.campaign, "tid": world.target, "cluster_id": world.cluster, "unit_id": world.unit}
    params = {p.name for p in operation.path_parameters}
    fixed = {k: v for k, v in real.items() if k in params}
    headers = {"Authorization": f"Bearer {world.people[role].token}"}
    checks = all_checks()
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
            case.call_and_validate(base_url=base_url, headers=headers, checks=checks, timeout=60)

        try:
            check()
        except Unsatisfiable:
            pass  # nothing to break: the operation takes no input a negative case could spoil
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every operation's failures
            failures.append(f"{operation.method.upper()} {operation.path} as {role} ({mode.value}): "
                            f"{_describe(exc)}")
    return failures


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 3000 else text[:3000] + " ..."


async def test_the_api_keeps_to_its_schema(api_server: Any, fuzz_world: FuzzWorld) -> None:
    config = SchemathesisConfig.from_dict({"checks": {
        "positive_data_acceptance": {"expected-statuses": ACCEPTED_STATUSES}}})
    schema = await asyncio.to_thread(schemathesis.openapi.from_url, f"{api_server.url}/openapi.json", config=config)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    assert len(all_checks()) >= 10
    failures: list[str] = []
    calls: list[int] = []
    for role in fuzz_world.people:
        for operation in operations:
            failures += await asyncio.to_thread(_fuzz_operation, operation, fuzz_world, role, api_server.url, calls)
    assert len(calls) > 2 * len(operations) * len(fuzz_world.people)
    assert not failures, "\n\n".join(failures)
