"""The secretariat's acceptance queue (oldest report first, accept / return with a
reason) and the history import page (every bad row shown before anything is recorded,
then a preview and confirm; the timeline says what came from the old records)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tests.browser.conftest import Drive, check_accessibility, signed_in, unique


async def acceptance_campaign(drive: Drive) -> str:
    cid = unique("nghiem-thu")
    created = await drive.secretariat.api.post("/v1/campaigns", {
        "id": cid, "name": "Đợt thi đua có nghiệm thu", "starts_on": "2022-01-01", "ends_on": "2030-12-31",
        "policy": {"escalate_after": "P3D", "resolution_sla": "P7D", "stale_after": "P14D",
                   "acceptance_required": True, "acceptance_sla": "P5D"}})
    assert created.status_code == 201, created.text
    return cid


async def reported(drive: Drive, cid: str, ward: str, title: str) -> str:
    assigned = await drive.secretariat.api.post(f"/v1/campaigns/{cid}/targets", {
        "unit_id": drive.units[ward], "title": title, "area": "Đô thị",
        "deadline": (date.today() + timedelta(days=60)).isoformat(), "points": 5})
    assert assigned.status_code == 201, assigned.text
    tid = assigned.json()["target"]["id"]
    done = await drive.heads[ward].api.post(f"/v1/targets/{tid}/complete", {"result": "Đã hoàn thành"})
    assert done.status_code == 200 and done.json()["target"]["status"] == "awaiting_acceptance", done.text
    return tid


async def test_the_acceptance_queue_lists_the_oldest_first_and_accepts_or_returns(browser: Any, drive: Drive) -> None:
    cid = await acceptance_campaign(drive)
    first = await reported(drive, cid, "ngo-quyen", "Chỉnh trang đô thị phường Ngô Quyền")
    await reported(drive, cid, "dong-da", "Học tập và làm theo tư tưởng Hồ Chí Minh")
    page = await signed_in(browser, drive, drive.secretariat)
    await page.goto(f"/campaigns/{cid}/acceptance")
    titles = await page.locator("article.acceptance h2").all_inner_texts()
    assert titles == ["Chỉnh trang đô thị phường Ngô Quyền", "Học tập và làm theo tư tưởng Hồ Chí Minh"]
    await check_accessibility(page)

    # Returning without a reason: the problem is shown next to the field, nothing recorded.
    oldest = page.locator("article.acceptance").first
    await oldest.locator("form[action$='/return'] button").click()
    assert "Lý do" in await page.locator(".error-summary").inner_text()
    await check_accessibility(page)
    assert (await drive.secretariat.api.get(f"/v1/targets/{first}")).json()["status"] == "awaiting_acceptance"

    await page.goto(f"/campaigns/{cid}/acceptance")
    oldest = page.locator("article.acceptance").first
    await oldest.locator("textarea[name=reason], input[name=reason]").fill("Thiếu minh chứng")
    await oldest.locator("form[action$='/return'] button").click()
    await page.wait_for_url(f"**/campaigns/{cid}/acceptance?*notice=done*")
    assert await page.locator("article.acceptance h2").all_inner_texts() == [
        "Học tập và làm theo tư tưởng Hồ Chí Minh"]
    returned = (await drive.secretariat.api.get(f"/v1/targets/{first}")).json()
    assert returned["status"] == "in_progress" and returned["acceptance"]["return_reason"] == "Thiếu minh chứng"

    await page.locator("article.acceptance form[action$='/accept'] button").click()
    await page.wait_for_url(f"**/campaigns/{cid}/acceptance?*notice=done*")
    assert await page.locator("article.acceptance").count() == 0
    await page.goto(f"/campaigns/{cid}/acceptance?lang=en")
    assert "Awaiting acceptance" in await page.locator("h1").inner_text()
    await page.context.close()

    head = await signed_in(browser, drive, drive.heads["ngo-quyen"])
    await head.goto(f"/targets/{first}")  # the unit head reads why its completion came back
    assert "Trả lại vì" in await head.locator("main").inner_text()
    assert "Thiếu minh chứng" in await head.locator("dl.summary").inner_text()
    await check_accessibility(head)
    refused = await head.goto(f"/campaigns/{cid}/acceptance")
    assert refused is not None and refused.status == 403
    await head.context.close()


def history_csv(drive: Drive, key: str, *, bad: bool = False) -> dict[str, Any]:
    unit = drive.units["lien-bao"]
    lines = ["key,action,when,who,note,unit_id,title,area,deadline,points",
             f"{key},assign,21/02/2022,Văn phòng Thành ủy,Theo Quyết định 937,{unit},Dự án chỉnh trang đô thị,"
             "Đô thị,30/09/2022,10".replace("30/09/2022", "2022-09-30"),
             f"{key},start,01/03/2022 08:00,Bí thư Đảng ủy phường Liên Bảo,,,,,,",
             f"{key},complete,15/09/2022 16:30,Bí thư Đảng ủy phường Liên Bảo,Hoàn thành,,,,,"]
    if bad:
        lines += [f"{key},dance,01/04/2022,Ai đó,,,,,,", f"{key}-x,start,01/04/2022,Ai đó,,,,,,"]
    return {"name": "ho-so-2022.csv", "mimeType": "text/csv", "buffer": ("\r\n".join(lines) + "\r\n").encode()}


async def test_the_history_import_previews_every_bad_row_then_records_the_past(browser: Any, drive: Drive) -> None:
    key = unique("hs")
    page = await signed_in(browser, drive, drive.secretariat)
    await page.goto(f"/campaigns/{drive.campaign}/history")
    await check_accessibility(page)
    await page.set_input_files("#file", history_csv(drive, key, bad=True))
    await page.click("form[enctype] button[type=submit]")
    text = await page.locator("main").inner_text()
    assert "2 dòng có lỗi" in text and "dance" not in text.split("action")[0]
    await check_accessibility(page)
    listed = await drive.secretariat.api.get(f"/v1/campaigns/{drive.campaign}/targets",
                                             params={"unit_id": drive.units["lien-bao"]})
    assert all(t.get("key") != key for t in listed.json()["items"])

    await page.set_input_files("#file", history_csv(drive, key))
    await page.click("form[enctype] button[type=submit]")
    assert "3 hoạt động hợp lệ" in await page.locator("main").inner_text()
    await check_accessibility(page)
    await page.click("text=Xác nhận nhập 3 hoạt động")
    await page.wait_for_url("**/history?*notice=history_recorded*")
    assert "Đã ghi 4 sự kiện" in await page.locator("main").inner_text()

    listed = await drive.secretariat.api.get(f"/v1/campaigns/{drive.campaign}/targets",
                                             params={"unit_id": drive.units["lien-bao"]})
    tid = next(t["id"] for t in listed.json()["items"] if t.get("key") == key)
    await page.goto(f"/targets/{tid}")
    timeline = await page.locator("ol.timeline").inner_text()
    assert "01/03/2022" in timeline and "từ hồ sơ cũ" in timeline and "Bí thư Đảng ủy phường Liên Bảo" in timeline
    await check_accessibility(page)
    await page.context.close()
