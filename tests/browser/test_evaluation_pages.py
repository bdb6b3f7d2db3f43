"""The evaluation pages in Chromium: a unit head's self-assessment (prefilled with the
system's scores; a bad score is refused next to its field, what was typed kept), the
cluster head's review (self beside system, differences marked; a change needs a reason),
the proposal (the criteria each unit meets; a refusal names the failed criterion), the
Standing Committee's approval, and the results table, in Vietnamese and English, on a
phone-wide screen, each page checked with axe."""

from __future__ import annotations

import dataclasses

from datetime import date, datetime, timedelta, timezone
from typing import Any

from tests.browser.conftest import Drive, assign, check_accessibility, screenshot, signed_in
from tests.e2e.conftest import unique

FLAG = {"id": "co-thi-dua", "name": "Cờ thi đua", "for": "collective", "scope": "cluster", "max_awards": 1,
        "min_score_ratio": 0.95, "max_overdue": 0, "max_late": 0, "top_rank": 1}
MERIT = {"id": "giay-khen", "name": "Giấy khen", "for": "collective", "scope": "cluster", "max_awards": 2,
         "min_score_ratio": 0.4, "max_overdue": 0, "max_late": 1}


async def ok(response: Any) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return response.json()


async def drive_of_its_own(drive: Drive) -> Drive:
    """The drive's wards and people in a campaign of the round's own: the scores the round
    freezes are those of this test's targets, whatever the other browser tests did."""
    cid, sec, units = unique("binh-xet"), drive.secretariat.api, drive.units
    for response in (
        await sec.post("/v1/campaigns", {"id": cid, "name": "Đợt thi đua có bình xét", "starts_on": "2022-02-15",
                                         "ends_on": "2030-12-31", "scoring": {"on_time": 1.0, "late": 0.5,
                                                                              "reward_slots": 1}}),
        await sec.put(f"/v1/campaigns/{cid}/clusters/cum-phuong", {
            "name": "Cụm thi đua các phường", "head_unit_id": units["ngo-quyen"], "deputy_unit_id": units["dong-da"],
            "member_unit_ids": [units["dinh-trung"], units["lien-bao"]]}),
        await sec.post(f"/v1/campaigns/{cid}/decisions", {
            "number": "934-QĐ/TU", "issued_on": "2022-02-15", "issuer": "BTV Thành ủy Vĩnh Yên",
            "title": "Giao chỉ tiêu, nhiệm vụ năm 2022"}),
    ):
        assert response.status_code in (200, 201), response.text
    return dataclasses.replace(drive, campaign=cid)


async def test_a_round_through_its_pages(browser: Any, drive: Drive) -> None:
    drive = await drive_of_its_own(drive)
    sec, heads = drive.secretariat.api, drive.heads
    await ok(await sec.put(f"/v1/campaigns/{drive.campaign}/rules", {
        "forms": [FLAG, MERIT], "effective_at": "2022-02-15T00:00:00+07:00"}))
    mine = await assign(drive, "ngo-quyen", "Chỉnh trang đô thị")
    done = await assign(drive, "dong-da", "Giải phóng mặt bằng đường Nguyễn Tất Thành")
    open_ = await assign(drive, "dong-da", "Xây dựng nhà văn hóa tổ dân phố")
    await ok(await heads["ngo-quyen"].api.post(f"/v1/targets/{mine}/complete", {"result": "Xong"}))
    await ok(await heads["dong-da"].api.post(f"/v1/targets/{done}/complete", {"result": "Xong"}))
    now = datetime.now(timezone.utc)
    eid = unique("tong-ket")
    await ok(await sec.post(f"/v1/campaigns/{drive.campaign}/evaluations", {
        "id": eid, "name": "Tổng kết năm 2022", "period_end": now.isoformat(),
        "self_assessment_due": (now + timedelta(days=5)).isoformat(),
        "review_due": (now + timedelta(days=10)).isoformat()}))
    ngo, dong = drive.units["ngo-quyen"], drive.units["dong-da"]

    # The unit head's self-assessment, prefilled with the system's score per target.
    page = await signed_in(browser, drive, heads["dong-da"], viewport={"width": 390, "height": 844})
    await page.goto(f"/evaluations/{eid}/units/{dong}/self-assessment")
    assert await page.input_value(f"#score-{done}") == "10"
    assert await page.input_value(f"#score-{open_}") == "0"
    await check_accessibility(page)
    await page.fill(f"#score-{open_}", "11")
    await page.click("main button[type=submit]")
    assert "0..10" in await page.locator(f"#score-{open_}-error").inner_text()
    assert await page.input_value(f"#score-{open_}") == "11"  # what was typed is kept
    await check_accessibility(page)
    await page.fill(f"#score-{open_}", "8")
    await page.fill(f"#note-{open_}", "Đã xong phần móng")
    await page.click("main button[type=submit]")
    await page.wait_for_url(f"**/evaluations/{eid}?**notice=saved")
    await page.context.close()

    await ok(await heads["ngo-quyen"].api.put(f"/v1/evaluations/{eid}/units/{ngo}/self-assessment",
                                              {"items": [{"target_id": mine, "score": 10}]}))
    await ok(await heads["dong-da"].api.put(f"/v1/evaluations/{eid}/units/{ngo}/review", {"items": []}))

    # The cluster head's review: self beside system, the difference marked; a change needs a reason.
    page = await signed_in(browser, drive, heads["ngo-quyen"])
    await page.goto(f"/evaluations/{eid}/units/{dong}/review")
    assert "+8" in await page.locator(".diff-up").first.inner_text()
    await check_accessibility(page)
    await screenshot(page, "evaluation-review")
    await page.fill(f"#score-{open_}", "0")
    await page.click("main button[type=submit]")
    assert await page.locator(f"#reason-{open_}-error").is_visible()
    await page.fill(f"#reason-{open_}", "Chưa hoàn thành tại thời điểm chốt số liệu")
    await page.click("main button[type=submit]")
    await page.wait_for_url(f"**/evaluations/{eid}?**notice=saved")

    # The proposal: the criteria each unit meets; a refusal names the failed criterion.
    await page.goto(f"/evaluations/{eid}/clusters/cum-phuong/proposal")
    await check_accessibility(page)
    await page.select_option(f"#form-{dong}", "co-thi-dua")
    await page.click("main button[type=submit]")
    assert "score 50 % < 95 % required for Cờ thi đua" in await page.locator(".error-summary").inner_text()
    await page.select_option(f"#form-{dong}", "giay-khen")
    await page.select_option(f"#form-{ngo}", "co-thi-dua")
    await page.click("main button[type=submit]")
    await page.wait_for_url(f"**/evaluations/{eid}?**notice=saved")
    await page.context.close()

    # The Standing Committee's decision.
    page = await signed_in(browser, drive, drive.committee)
    await page.goto(f"/evaluations/{eid}/approve")
    await check_accessibility(page)
    await page.fill("#decision_number", "1205-QĐ/TU")
    await page.fill("#issued_on", "31/13/2022")
    await page.click("main button[type=submit]")
    assert await page.locator("#issued_on-error").is_visible()
    await page.fill("#issued_on", date.today().strftime("%d/%m/%Y"))
    await page.click("main button[type=submit]")
    await page.wait_for_url(f"**/evaluations/{eid}?**notice=saved")
    results = await page.locator("main").inner_text()
    assert "1205-QĐ/TU" in results and "Cờ thi đua" in results and "Giấy khen" in results
    await check_accessibility(page)
    await screenshot(page, "evaluation-results")
    await page.goto(f"/evaluations/{eid}?lang=en")
    assert "Results" in await page.locator("main").inner_text()
    await page.goto(f"/campaigns/{drive.campaign}/evaluations")
    assert "Tổng kết năm 2022" in await page.locator("main").inner_text() or "Tổng kết" in await page.content()
    await page.context.close()

    # Someone else's forms are refused.
    page = await signed_in(browser, drive, heads["lien-bao"])
    response = await page.goto(f"/evaluations/{eid}/units/{dong}/self-assessment")
    assert response.status == 403
    await page.context.close()


async def test_the_standing_committee_extends_a_stage_and_revokes_an_award(browser: Any, drive: Drive) -> None:
    """On the round's page: the extension of a stage still open (a new due time and a
    reason; an earlier due time is refused next to its field, what was typed kept), and
    the revocation of an award (a reason required), which then shows as revoked with its
    reason in the awards, in the unit's row and in the export."""
    drive = await drive_of_its_own(drive)
    sec, heads = drive.secretariat.api, drive.heads
    await ok(await sec.put(f"/v1/campaigns/{drive.campaign}/rules", {
        "forms": [FLAG, MERIT], "effective_at": "2022-02-15T00:00:00+07:00"}))
    mine = await assign(drive, "ngo-quyen", "Chỉnh trang vỉa hè")
    await ok(await heads["ngo-quyen"].api.post(f"/v1/targets/{mine}/complete", {"result": "Xong"}))
    now = datetime.now(timezone.utc)
    eid = unique("so-ket")
    await ok(await sec.post(f"/v1/campaigns/{drive.campaign}/evaluations", {
        "id": eid, "name": "Sơ kết 6 tháng", "period_end": now.isoformat(),
        "self_assessment_due": (now + timedelta(days=5)).isoformat(),
        "review_due": (now + timedelta(days=10)).isoformat()}))
    ngo = drive.units["ngo-quyen"]

    # A unit head sees no extension form; the Standing Committee does, for both stages still open.
    page = await signed_in(browser, drive, heads["ngo-quyen"])
    await page.goto(f"/evaluations/{eid}")
    assert await page.locator("#extend_reason").count() == 0
    await page.context.close()
    page = await signed_in(browser, drive, drive.committee, viewport={"width": 390, "height": 844})
    await page.goto(f"/evaluations/{eid}")
    assert await page.locator("#stage option").count() == 2
    await check_accessibility(page)

    # An earlier due time is refused by the round, next to the date, with what was typed kept.
    earlier = (now + timedelta(days=1)).strftime("%d/%m/%Y")
    await page.select_option("#stage", "self_assessment")
    await page.fill("#due_date", earlier)
    await page.fill("#extend_reason", "Các phường đề nghị thêm thời gian")
    await page.click("#extend-title ~ form button[type=submit]")
    assert "later than" in await page.locator("#due_date-error").inner_text()
    assert await page.locator(".error-summary").is_visible()
    assert await page.input_value("#due_date") == earlier
    assert await page.input_value("#extend_reason") == "Các phường đề nghị thêm thời gian"
    await check_accessibility(page)
    later = (now + timedelta(days=7)).strftime("%d/%m/%Y")
    await page.fill("#due_date", later)
    await page.click("#extend-title ~ form button[type=submit]")
    await page.wait_for_url(f"**/evaluations/{eid}?**notice=saved")
    header = await page.locator("main").inner_text()
    assert f"{later} 17:00" in header and "Các phường đề nghị thêm thời gian" in header
    round_ = await ok(await sec.get(f"/v1/evaluations/{eid}"))
    assert round_["extensions"][0]["stage"] == "self_assessment"
    await page.context.close()

    # The round to its decision through the API, then the award revoked on the page.
    await ok(await heads["ngo-quyen"].api.put(f"/v1/evaluations/{eid}/units/{ngo}/self-assessment",
                                              {"items": [{"target_id": mine, "score": 10}]}))
    await ok(await heads["dong-da"].api.put(f"/v1/evaluations/{eid}/units/{ngo}/review", {"items": []}))
    await ok(await heads["ngo-quyen"].api.post(f"/v1/evaluations/{eid}/clusters/cum-phuong/proposal",
                                               {"collectives": [{"unit_id": ngo, "form_id": "giay-khen"}]}))
    approved = await ok(await drive.committee.api.post(f"/v1/evaluations/{eid}/approve", {
        "decision": {"number": "88-QĐ/TU", "issued_on": date.today().isoformat()}}))
    page = await signed_in(browser, drive, drive.committee, viewport={"width": 390, "height": 844})
    await page.goto(f"/evaluations/{eid}?min_position={approved['position']}")
    assert await page.locator("#extend_reason").count() == 0  # the round is closed
    await page.click("#award-1 button[type=submit]")
    assert await page.locator("#revoke-reason-1-error").is_visible()
    assert await page.locator(".error-summary").is_visible()
    await check_accessibility(page)
    await page.fill("#revoke-reason-1", "Hồ sơ hoàn thành chỉ tiêu không trung thực")
    await page.click("#award-1 button[type=submit]")
    await page.wait_for_url(f"**/evaluations/{eid}?**notice=saved")
    assert "Hồ sơ hoàn thành chỉ tiêu không trung thực" in await page.locator("#award-1").inner_text()
    row = await page.locator("tbody tr", has_text="Giấy khen").inner_text()
    assert "Đã thu hồi" in row and "không trung thực" in row
    assert await page.locator("#award-1 form").count() == 0
    await check_accessibility(page)
    await screenshot(page, "evaluation-revoked")
    await page.goto(f"/evaluations/{eid}?lang=en")
    assert "Revoked" in await page.locator("#award-1").inner_text()
    await page.context.close()
    exported = await sec.get(f"/v1/evaluations/{eid}", params={"format": "csv"})
    assert "Giấy khen (đã thu hồi: Hồ sơ hoàn thành chỉ tiêu không trung thực)" in exported.text

    # Only the Standing Committee revokes.
    page = await signed_in(browser, drive, heads["ngo-quyen"])
    await page.goto(f"/evaluations/{eid}")
    assert await page.locator("#award-1 form").count() == 0
    await page.context.close()
