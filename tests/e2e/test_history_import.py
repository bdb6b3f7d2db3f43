"""History from the old records over HTTP: POST /v1/campaigns/{cid}/history/import.

A 2022 drive brought from its spreadsheets: each action recorded when it happened (the
scoreboard `as_of` any day of 2022 shows the drive in motion, timeliness judged then),
marked as migrated and by whom in the timeline and the audit trail, which keeps when it
was recorded here too. Bad rows are all reported and nothing is recorded; the same
import id again records nothing; a closed campaign's imported targets run no timers."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timezone

import pytest
from temporalio.client import Client

from tests.e2e.conftest import Person, make_person, register_unit, unique
from thidua.settings import Settings

CSV = "text/csv"
HEADER = "key,action,when,who,note,unit_id,title,area,deadline,points\n"


@pytest.fixture(scope="module")
async def temporal(e2e_settings: Settings) -> Client:
    from thidua.workflows.client import connect

    return await connect(e2e_settings.temporal_address, e2e_settings.temporal_namespace)


def _set_up_in_january_2022(settings: Settings, campaign_id: str, units: list[str]) -> None:
    """The campaign and its cluster as the old records have them: set up in January 2022
    (as the demo's 2022 drive is), so a scoreboard as of any day of 2022 has its cluster."""
    from thidua.bootstrap import domain_application, resolve_database_url
    from thidua.domain.campaign import Campaign
    from thidua.domain.values import Actor, Cluster, Command, Role

    office = Actor("seed-office", "Văn phòng Thành ủy", Role.SECRETARIAT)
    app = domain_application(resolve_database_url(settings))
    try:
        campaign = Campaign.create(Command(unique("c"), office, datetime(2022, 1, 5, 2, tzinfo=timezone.utc)),
                                   campaign_id=campaign_id, name="Đợt cao điểm thi đua 2022",
                                   starts_on=date(2022, 1, 1), ends_on=date(2022, 12, 31))
        campaign.set_cluster(Command(unique("k"), office, datetime(2022, 1, 6, 2, tzinfo=timezone.utc)),
                             Cluster("cum-1", "Cụm phường", units[0], units[1]))
        app.save_changes(campaign)
    finally:
        app.close()


async def drive_2022(secretariat: Person, settings: Settings) -> tuple[str, list[str]]:
    units = [unique("ward"), unique("ward")]
    for unit in units:
        await register_unit(secretariat, unit, f"Phường {unit}")
    campaign = unique("vy2022")
    await asyncio.to_thread(_set_up_in_january_2022, settings, campaign, units)
    return campaign, units


def past(units: list[str]) -> str:
    a, b = units
    return HEADER + "\n".join([
        f"937-01,assign,21/02/2022,Văn phòng Thành ủy,Theo Quyết định 937,{a},Chỉnh trang đô thị,Đô thị,2022-09-30,10",
        "937-01,start,01/03/2022 08:00,Bí thư Đảng ủy phường,,,,,,",
        "937-01,complete,2022-09-15T16:30:00+07:00,Bí thư Đảng ủy phường,Hoàn thành 3 tuyến phố,,,,,",
        f"937-02,assign,21/02/2022,Văn phòng Thành ủy,,{b},Học tập và làm theo tư tưởng Hồ Chí Minh,Xây dựng Đảng,"
        "2022-06-30,5",
        "937-02,block,10/05/2022,Bí thư Đảng ủy phường,Thiếu kinh phí,,,,,",
        "937-02,unblock,01/07/2022,Bí thư Đảng ủy phường,,,,,,",
        "937-02,complete,20/07/2022,Bí thư Đảng ủy phường,,,,,,",
    ]) + "\n"


async def board_counts(person: Person, campaign: str, as_of: str, unit: str, position: int) -> dict[str, int]:
    board = await person.get(f"/v1/campaigns/{campaign}/scoreboard",
                             params={"as_of": as_of, "min_position": position})
    assert board.status_code == 200, board.text
    return next(u["counts"] for c in board.json()["clusters"] for u in c["units"] if u["unit_id"] == unit)


async def test_the_past_lies_on_its_calendar_and_says_it_was_migrated(secretariat, e2e_settings, worker, projector):
    campaign, units = await drive_2022(secretariat, e2e_settings)
    head = await make_person(secretariat, name="Bí thư Đảng ủy phường", role="unit_head", unit_id=units[1])
    import_id = unique("ho-so")
    url = f"/v1/campaigns/{campaign}/history/import"
    done = await secretariat.post(url, content=past(units), params={"import_id": import_id},
                                  headers={"Content-Type": CSV})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["rows"] == 7 and len(body["items"]) == 2
    position = body["position"]
    first = next(i["target_id"] for i in body["items"] if i["key"] == "937-01")
    second = next(i["target_id"] for i in body["items"] if i["key"] == "937-02")

    # as_of any day of 2022 shows the drive as it went
    march = await board_counts(secretariat, campaign, "2022-03-15T00:00:00+07:00", units[0], position)
    assert march["in_progress_within_deadline"] == 1 and march["completed_on_time"] == 0
    may = await board_counts(secretariat, campaign, "2022-05-20T00:00:00+07:00", units[1], position)
    assert may["blocked"] == 1
    august = await board_counts(secretariat, campaign, "2022-08-01T00:00:00+07:00", units[1], position)
    assert august["completed_late"] == 1  # deadline 30/06, completed 20/07
    october = await board_counts(secretariat, campaign, "2022-10-01T00:00:00+07:00", units[0], position)
    assert october["completed_on_time"] == 1
    before = await board_counts(secretariat, campaign, "2022-02-01T00:00:00+07:00", units[0], position)
    assert sum(before.values()) == 0  # nothing assigned yet in January

    # the timeline: when it happened, by whom the records name, marked migrated
    timeline = (await secretariat.get(f"/v1/targets/{first}/history")).json()["items"]
    assert [e["event_type"] for e in timeline] == ["Assigned", "Started", "Completed", "HistoryMigrated"]
    started = timeline[1]
    assert started["occurred_at"].startswith("2022-03-01T01:00:00")  # 08:00 in Vĩnh Yên
    assert started["actor"]["name"] == "Bí thư Đảng ủy phường"
    assert started["actor"]["id"] == f"migrated:{secretariat.id}" and started["migrated"] is True
    assert datetime.fromisoformat(started["recorded_at"]) > datetime(2025, 1, 1, tzinfo=timezone.utc)
    marker = timeline[-1]
    assert marker["actor"]["id"] == secretariat.id and import_id in marker["reason"]
    target = (await secretariat.get(f"/v1/targets/{first}")).json()
    assert target["report_class"] == "completed_on_time"
    assert (await secretariat.get(f"/v1/targets/{second}")).json()["report_class"] == "completed_late"

    # the past notifies nobody now (937-02 went overdue on 30/06/2022, under this head)
    timeline2 = (await secretariat.get(f"/v1/targets/{second}/history")).json()["items"]
    assert "DeadlinePassed" in [e["event_type"] for e in timeline2]
    inbox = (await head.get("/v1/me/notifications", params={"min_position": position})).json()["items"]
    assert [n for n in inbox if n["target_id"] in (first, second)] == []

    audit = (await secretariat.get("/v1/audit", params={"target_id": first})).json()["items"]
    assert {e["event_type"] for e in audit if e["migrated"]} == {"Assigned", "Started", "Completed"}

    # the same import again records nothing
    again = await secretariat.post(url, content=past(units), params={"import_id": import_id},
                                   headers={"Content-Type": CSV})
    assert again.status_code == 200 and again.json()["events"] == 0
    assert len((await secretariat.get(f"/v1/targets/{first}/history")).json()["items"]) == 4


async def test_bad_rows_are_all_reported_and_nothing_is_recorded(secretariat, e2e_settings, worker, projector):
    campaign, units = await drive_2022(secretariat, e2e_settings)
    bad = HEADER + "\n".join([
        f"k-1,assign,21/02/2022,Văn phòng,,{units[0]},Chỉ tiêu,Đô thị,2022-09-30,10",
        "k-1,fly,01/03/2022,Ai đó,,,,,,",                      # unknown action
        "k-2,start,01/03/2022,Ai đó,,,,,,",                    # a new key that does not start with assign
        f"k-3,assign,31/02/2022,Văn phòng,,{units[0]},X,Y,2022-09-30,1",  # no such day
        "k-4,assign,21/02/2022,Văn phòng,,no-such-unit,X,Y,2022-09-30,1",  # unknown unit
        f"k-5,assign,21/02/2022,,,{units[0]},X,Y,2022-09-30,1",  # nobody named
    ]) + "\n"
    refused = await secretariat.post(f"/v1/campaigns/{campaign}/history/import", content=bad,
                                     params={"import_id": unique("bad")}, headers={"Content-Type": CSV})
    assert refused.status_code == 422, refused.text
    lines = {r["line"] for r in refused.json()["rows"]}
    assert lines == {3, 4, 5, 6, 7}
    targets = await secretariat.get(f"/v1/campaigns/{campaign}/targets")
    assert targets.json()["items"] == []

    committee = await make_person(secretariat, name="BTV", role="standing_committee")
    assert (await committee.post(f"/v1/campaigns/{campaign}/history/import", content=past(units),
                                 params={"import_id": "x"}, headers={"Content-Type": CSV})).status_code == 403


async def test_a_closed_drive_brought_from_its_records_runs_no_timer(secretariat, e2e_settings, worker, projector, temporal):
    from temporalio.service import RPCError

    from thidua.workflows.client import workflow_id_for

    campaign, units = await drive_2022(secretariat, e2e_settings)
    closed = await secretariat.post(f"/v1/campaigns/{campaign}/close", {"reason": "Tổng kết năm 2022"})
    assert closed.status_code in (200, 202), closed.text
    from tests.e2e.test_campaign_changes import eventually

    async def is_closed() -> bool:
        return (await secretariat.get(f"/v1/campaigns/{campaign}")).json().get("closed") is True

    await eventually(is_closed, "the campaign to close")
    done = await secretariat.post(f"/v1/campaigns/{campaign}/history/import", content=past(units),
                                  params={"import_id": unique("ho-so")}, headers={"Content-Type": CSV})
    assert done.status_code == 200, done.text
    for item in done.json()["items"]:
        with pytest.raises(RPCError):
            await temporal.get_workflow_handle(workflow_id_for(item["target_id"])).describe()
