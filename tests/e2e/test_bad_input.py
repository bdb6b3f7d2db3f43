"""Bad input is a 4xx problem, decided at the edge by one rule for every route, and
nothing is half-written: NUL characters, times that are not ISO 8601 or outside the
years, deep JSON, forged cursors, loose text and loose durations. Exports never turn a
name into a formula."""

from __future__ import annotations

import base64
import io
import json
import unicodedata

import httpx
import openpyxl
import pytest

from tests.e2e.conftest import Person, register_unit, unique

PROBLEM = "application/problem+json"
FORMULA = '=HYPERLINK("http://example.invalid/","x")'


@pytest.fixture(scope="module")
async def world(secretariat: Person, worker: None, projector: None) -> dict[str, str]:
    head, deputy = unique("bi-head"), unique("bi-deputy")
    await register_unit(secretariat, head, FORMULA)
    await register_unit(secretariat, deputy, "@SUM(1)")
    cid = unique("bad-input")
    created = await secretariat.post("/v1/campaigns", {"id": cid, "name": "Đầu vào xấu", "starts_on": "2022-01-01",
                                                       "ends_on": "2030-12-31"})
    assert created.status_code == 201, created.text
    cluster = await secretariat.put(f"/v1/campaigns/{cid}/clusters/cum-1", {
        "name": "-cụm", "head_unit_id": head, "deputy_unit_id": deputy})
    assert cluster.status_code == 200, cluster.text
    return {"cid": cid, "head": head, "deputy": deputy, "position": str(cluster.json().get("position", 0))}


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    if field is not None:
        assert field in [e["field"] for e in body.get("errors", [])], body
    return body


# ------------------------------------------------------------------ NUL, OPTIONS
@pytest.mark.parametrize(("path", "field"), [
    ("/v1/campaigns/a%00b", "path"),
    ("/v1/targets/a%00b/history", "path"),
    ("/v1/audit?unit_id=a%00b", "query.unit_id"),
    ("/v1/campaigns?cursor=%00", "query.cursor"),
])
async def test_a_nul_character_anywhere_is_a_422_naming_where(secretariat: Person, path: str, field: str) -> None:
    assert_problem(await secretariat.get(path), 422, field)


async def test_a_nul_character_in_a_list_filter_is_a_422(secretariat: Person, world: dict[str, str]) -> None:
    response = await secretariat.get(f"/v1/campaigns/{world['cid']}/targets?unit_id=a%00b")
    assert_problem(response, 422, "query.unit_id")


async def test_options_names_every_method_of_the_path_and_a_405_does_too(secretariat: Person) -> None:
    options = await secretariat.request("OPTIONS", "/v1/campaigns")
    assert options.status_code == 204
    assert {"GET", "POST", "OPTIONS"} <= {m.strip() for m in options.headers["allow"].split(",")}
    single = await secretariat.request("OPTIONS", "/v1/targets/x")
    assert {m.strip() for m in single.headers["allow"].split(",")} == {"GET", "OPTIONS"}
    refused = await secretariat.request("DELETE", "/v1/campaigns")
    assert refused.status_code == 405
    assert {"GET", "POST"} <= {m.strip() for m in refused.headers["allow"].split(",")}
    assert (await secretariat.request("OPTIONS", "/v1/no-such-thing")).status_code == 404


# ------------------------------------------------------------------ times
@pytest.mark.parametrize("value", ["0.5", "1700000000", "2022-07-01", "0001-01-01T00:00:00+07:00",
                                   "9999-12-31T23:59:59-12:00"])
async def test_as_of_since_and_until_take_iso_8601_within_the_years_only(secretariat: Person, world: dict[str, str],
                                                                          value: str) -> None:
    assert_problem(await secretariat.get(f"/v1/campaigns/{world['cid']}/scoreboard", params={"as_of": value}),
                   422, "query.as_of")
    assert_problem(await secretariat.get("/v1/audit", params={"since": value}), 422, "query.since")
    assert_problem(await secretariat.get("/v1/audit", params={"until": value}), 422, "query.until")


async def test_a_scoring_change_of_year_one_is_refused_and_nothing_is_written(secretariat: Person,
                                                                               world: dict[str, str]) -> None:
    committee_path = f"/v1/campaigns/{world['cid']}/scoring"
    # Read once the cluster's change is projected: the version then is the campaign's last.
    before = (await secretariat.get(f"/v1/campaigns/{world['cid']}",
                                    params={"min_position": world["position"]})).json()
    for value in ("0001-01-01T00:00:00+07:00", "2019-01-01T00:00:00+07:00"):  # outside the years; before the period
        response = await secretariat.put(committee_path, {"on_time": 1, "late": 0.5, "reward_slots": 1,
                                                          "effective_at": value})
        assert_problem(response, 422)
        assert any(e["field"].endswith("effective_at") for e in response.json()["errors"])
    after = (await secretariat.get(f"/v1/campaigns/{world['cid']}")).json()
    assert after.get("version") == before.get("version")


async def test_a_date_field_takes_a_date_and_a_period_is_at_most_ten_years(secretariat: Person,
                                                                          world: dict[str, str]) -> None:
    datetime_for_date = await secretariat.post("/v1/campaigns", {
        "id": unique("c"), "name": "x", "starts_on": "2022-01-01T00:00:00", "ends_on": "2022-12-31"})
    assert_problem(datetime_for_date, 422, "body.starts_on")
    deadline_time = await secretariat.post(f"/v1/campaigns/{world['cid']}/targets", {
        "key": unique("k"), "unit_id": world["head"], "title": "t", "area": "a", "deadline": "2030-06-30T00:00:00",
        "points": 1})
    assert_problem(deadline_time, 422, "body.deadline")
    too_long = await secretariat.post("/v1/campaigns", {
        "id": unique("c"), "name": "x", "starts_on": "2022-01-01", "ends_on": "2032-01-01"})
    assert_problem(too_long, 422, "body.ends_on")


# ------------------------------------------------------------------ deep JSON, cursors
async def test_a_json_import_nested_100000_deep_is_a_422(secretariat: Person, world: dict[str, str]) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    response = await secretariat.post(f"/v1/campaigns/{world['cid']}/targets/import", content=body,
                                      headers={"Content-Type": "application/json"})
    assert_problem(response, 422)
    deep = await secretariat.post("/v1/campaigns", content=b"[" * 100_000 + b"]" * 100_000,
                                  headers={"Content-Type": "application/json"})
    assert_problem(deep, 422)


@pytest.mark.parametrize("keyset", [2**63, 2**70, -(2**64), [1, 2**80]])
async def test_an_audit_cursor_beyond_int64_is_a_422(secretariat: Person, keyset: object) -> None:
    cursor = base64.urlsafe_b64encode(json.dumps({"k": "audit", "v": keyset}).encode()).rstrip(b"=").decode()
    assert_problem(await secretariat.get("/v1/audit", params={"cursor": cursor}), 422, "query.cursor")


# ------------------------------------------------------------------ loose text and numbers
async def test_a_key_typed_in_nfd_names_the_target_typed_in_nfc(secretariat: Person, world: dict[str, str]) -> None:
    key = unique("Đường-Nguyễn")
    body = {"unit_id": world["head"], "title": "Giải phóng mặt bằng", "area": "GPMB", "deadline": "2030-06-30",
            "points": 5}
    first = await secretariat.post(f"/v1/campaigns/{world['cid']}/targets", {**body, "key": key})
    again = await secretariat.post(f"/v1/campaigns/{world['cid']}/targets",
                                   {**body, "key": unicodedata.normalize("NFD", key),
                                    "title": unicodedata.normalize("NFD", body["title"])})
    assert first.status_code == 201, first.text
    assert again.status_code in (200, 201), again.text
    assert again.json()["target"]["id"] == first.json()["target"]["id"]


@pytest.mark.parametrize("key", ["934\u200b-01", "934-01\u202e", "\ufeff934"])
async def test_a_key_or_an_id_with_an_invisible_character_is_refused(secretariat: Person, world: dict[str, str],
                                                                     key: str) -> None:
    response = await secretariat.post(f"/v1/campaigns/{world['cid']}/targets", {
        "key": key, "unit_id": world["head"], "title": "t", "area": "a", "deadline": "2030-06-30", "points": 1})
    assert_problem(response, 422, "body.key")
    assert_problem(await secretariat.post("/v1/campaigns", {"id": "c\u200d1", "name": "x", "starts_on": "2022-01-01",
                                                            "ends_on": "2022-12-31"}), 422, "body.id")


async def test_a_title_loses_its_invisible_characters_and_minus_zero_points_are_zero(
    secretariat: Person, world: dict[str, str]
) -> None:
    response = await secretariat.post(f"/v1/campaigns/{world['cid']}/targets", {
        "key": unique("k"), "unit_id": world["head"], "title": "\u202eChỉ\u200b tiêu", "area": "a",
        "deadline": "2030-06-30", "points": "-0"})
    assert response.status_code == 201, response.text
    target = response.json()["target"]
    assert target["title"] == "Chỉ tiêu"
    assert str(target["points"]) in ("0", "0.0")
    assert not str(target["points"]).startswith("-")


@pytest.mark.parametrize("duration", ["P1DT", "PT0.000001S", "PT0.5S"])
async def test_a_policy_duration_that_is_malformed_or_under_a_second_is_a_422_naming_the_field(
    secretariat: Person, world: dict[str, str], duration: str
) -> None:
    response = await secretariat.put(f"/v1/campaigns/{world['cid']}/policy", {
        "escalate_after": "P3D", "resolution_sla": duration, "stale_after": "P14D"})
    assert_problem(response, 422, "body.resolution_sla")
    created = await secretariat.post("/v1/campaigns", {
        "id": unique("c"), "name": "x", "starts_on": "2022-01-01", "ends_on": "2022-12-31",
        "policy": {"escalate_after": duration, "resolution_sla": "P7D", "stale_after": "P14D"}})
    assert_problem(created, 422, "body.policy.escalate_after")


# ------------------------------------------------------------------ exports
async def test_no_name_becomes_a_formula_in_a_csv_or_xlsx_export(secretariat: Person, world: dict[str, str]) -> None:
    params = {"min_position": world["position"]}
    csv_response = await secretariat.get(f"/v1/campaigns/{world['cid']}/scoreboard",
                                         params={**params, "format": "csv"})
    assert csv_response.status_code == 200, csv_response.text
    text = csv_response.content.decode("utf-8-sig")
    assert "'=HYPERLINK(" in text and "'@SUM(1)" in text and "'-cụm" in text
    for line in text.splitlines()[1:]:
        for cell in line.split(","):
            assert not cell.lstrip('"').startswith(("=", "+", "-", "@", "\t", "\r")), line

    xlsx = await secretariat.get(f"/v1/campaigns/{world['cid']}/scoreboard", params={**params, "format": "xlsx"})
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    cells = [cell for row in sheet.iter_rows(min_row=2) for cell in row if isinstance(cell.value, str)]
    assert FORMULA in [c.value for c in cells]  # the exact name, as text
    assert all(c.data_type == "s" for c in cells)
