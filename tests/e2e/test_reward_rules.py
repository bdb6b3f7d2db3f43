"""Reward rules over HTTP: `PUT /v1/campaigns/{cid}/rules`, the scoreboard's reward marks
under them (JSON, CSV, XLSX, as of before they took effect, what-if), and clear 4xx
problems for bad rules that record nothing."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone
from typing import Any

import openpyxl
import pytest

from tests.e2e.conftest import Person
from tests.e2e.test_campaign_changes import committee, new_drive  # noqa: F401  (fixture)

FLAG = {"id": "co-thi-dua", "name": "Cờ thi đua", "for": "collective", "scope": "cluster", "max_awards": 1,
        "min_score_ratio": 0.95, "max_overdue": 0, "max_late": 0, "top_rank": 1}
MERIT = {"id": "giay-khen", "name": "Giấy khen", "for": "collective", "scope": "cluster", "max_awards": 2,
         "min_score_ratio": 0.4, "max_overdue": 0, "max_late": 1}
PERSON = {"id": "giay-khen-ca-nhan", "name": "Giấy khen cá nhân", "for": "individual", "scope": "campaign",
          "max_awards": 5, "min_score_ratio": 0, "max_overdue": 0, "max_late": 0}


def marks(board: dict[str, Any]) -> dict[str, list[str]]:
    return {u["unit_id"]: u["eligible_forms"] for c in board["clusters"] for u in c["units"] if u["reward_candidate"]}


@pytest.mark.parametrize("change, field", [
    ({"forms": [FLAG, {**MERIT, "id": "co-thi-dua"}]}, "body.forms.id"),
    ({"forms": [{**FLAG, "min_score_ratio": 1.5}]}, "body.forms.0.min_score_ratio"),
    ({"forms": [{**FLAG, "max_awards": -1}]}, "body.forms.0.max_awards"),
    ({"forms": [{**FLAG, "max_overdue": -2}]}, "body.forms.0.max_overdue"),
    ({"forms": [{**FLAG, "top_rank": 0}]}, "body.forms.0.top_rank"),
    ({"forms": [{**FLAG, "for": "team"}]}, "body.forms.0.for"),
    ({"forms": [{**FLAG, "colour": "red"}]}, "body.forms.0.colour"),
    ({"forms": [FLAG], "effective_at": "2022-12-01T00:00:00"}, "body.effective_at"),
])
async def test_bad_rules_are_a_422_problem_naming_the_field_and_record_nothing(
    secretariat: Person, committee: Person, change: dict[str, Any], field: str,
) -> None:
    d = await new_drive(secretariat, committee)
    refused = await committee.put(f"/v1/campaigns/{d.campaign}/rules", change)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in refused.json()["errors"]], refused.text
    accepted = await committee.put(f"/v1/campaigns/{d.campaign}/rules", {"forms": [FLAG]})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["campaign"]["version"] == 3  # created, one cluster, these rules: the refusal left nothing


async def test_only_the_office_sets_rules_of_a_campaign_that_exists(secretariat: Person, committee: Person) -> None:
    d = await new_drive(secretariat, committee)
    head = d.heads[d.units[0]]
    assert (await head.put(f"/v1/campaigns/{d.campaign}/rules", {"forms": [FLAG]})).status_code == 403
    assert (await committee.put("/v1/campaigns/no-such-drive/rules", {"forms": [FLAG]})).status_code == 404


async def test_the_scoreboard_marks_candidates_by_the_rules_in_force(
    secretariat: Person, committee: Person, worker: None, projector: None,
) -> None:
    d = await new_drive(secretariat, committee)
    first, second = d.units
    done_early = await d.assign(first, points=10)
    done_late = await d.assign(second, deadline=date.today() - timedelta(days=2), points=10)
    await d.assign(second, points=10)
    for unit, tid in ((first, done_early), (second, done_late)):
        done = await d.by_head(unit, tid, "complete", {"result": "Đã hoàn thành"})
        assert done.status_code == 200, done.text
    before_rules = datetime.now(timezone.utc)
    board = await committee.get(f"/v1/campaigns/{d.campaign}/scoreboard", params={
        "min_position": done.json()["position"]})
    assert marks(board.json()) == {first: []}  # no rules: the first reward slot, no form named

    changed = await secretariat.put(f"/v1/campaigns/{d.campaign}/rules", {"forms": [FLAG, MERIT, PERSON]},
                                    headers={"Idempotency-Key": "rules-" + d.campaign})
    assert changed.status_code == 200, changed.text
    rules = changed.json()["campaign"]["rules"]
    assert [f["id"] for f in rules["forms"]] == ["co-thi-dua", "giay-khen", "giay-khen-ca-nhan"]
    assert rules["forms"][0]["for"] == "collective" and rules["forms"][0]["min_score_ratio"] == 0.95
    position = changed.json()["position"]

    board = (await committee.get(f"/v1/campaigns/{d.campaign}/scoreboard",
                                 params={"min_position": position})).json()
    # first: 10 of 10 on time; second: 5 of 20 (one late, one open) is below 40 %: no form, no candidate
    assert marks(board) == {first: ["co-thi-dua", "giay-khen"]}
    then = (await committee.get(f"/v1/campaigns/{d.campaign}/scoreboard",
                                params={"as_of": before_rules.isoformat()})).json()
    assert marks(then) == {first: []}
    what_if = (await committee.post(f"/v1/campaigns/{d.campaign}/scoreboard/what-if",
                                    {"scoring": {"on_time": 1, "late": 1, "reward_slots": 1}}))
    assert what_if.status_code == 200, what_if.text
    assert marks(what_if.json()) == {first: ["co-thi-dua", "giay-khen"], second: ["giay-khen"]}  # 10 of 20

    exported = await committee.get(f"/v1/campaigns/{d.campaign}/scoreboard", params={"format": "csv"})
    rows = {r["unit_id"]: r for r in csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig")))}
    assert rows[first]["eligible_forms"] == "co-thi-dua giay-khen" and rows[second]["eligible_forms"] == ""
    workbook = await committee.get(f"/v1/campaigns/{d.campaign}/scoreboard", params={"format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).active
    header = [c.value for c in sheet[1]]
    cells = {row[header.index("unit_id")]: row[header.index("eligible_forms")]
             for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert cells[first] == "co-thi-dua giay-khen"

    again = await secretariat.put(f"/v1/campaigns/{d.campaign}/rules", {"forms": [FLAG, MERIT, PERSON]},
                                  headers={"Idempotency-Key": "rules-" + d.campaign})
    assert again.status_code == 200 and again.json()["position"] == position  # the same command: nothing new
