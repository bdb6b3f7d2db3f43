"""The Vĩnh Yên story through the pages only: a unit head blocks a target with a reason;
with a short policy its timer escalates it to the Standing Committee's queue; a member
resolves it with a directive and a new deadline; the unit head completes it; the
scoreboard shows it, and the audit page names each actor. Screenshots of the main
pages are saved to docs/screenshots/."""

from __future__ import annotations

import asyncio
import re

from datetime import date, timedelta
from typing import Any

from tests.browser.conftest import Drive, assign, check_accessibility, reload_until, screenshot, signed_in

REASON = "Hộ dân chưa đồng ý phương án bồi thường"
DIRECTIVE = "Trung tâm Phát triển quỹ đất phối hợp giải quyết trong tháng 7"


async def test_the_story_through_the_pages(browser: Any, drive: Drive) -> None:
    title = "Bàn giao mặt bằng khu đô thị mới Nam Vĩnh Yên"
    tid = await assign(drive, "dong-da", title)
    head = drive.heads["dong-da"]

    # The unit head finds the target in the list and reports the obstacle.
    unit_page = await signed_in(browser, drive, head)
    await unit_page.goto(f"/campaigns/{drive.campaign}/targets")
    await unit_page.click(f"text={title}")
    await unit_page.wait_for_url(f"**/targets/{tid}")
    await unit_page.fill("#block-reason", REASON)
    await unit_page.click("form[action$='/block'] button[type=submit]")
    await unit_page.wait_for_url(f"**/targets/{tid}?*notice=done*")
    assert "Vướng mắc" in await unit_page.locator("main").inner_text()

    # Left blocked, the timer escalates it: it reaches the Standing Committee's queue.
    committee_page = await signed_in(browser, drive, drive.committee)
    await committee_page.goto(f"/campaigns/{drive.campaign}/escalations")
    await reload_until(committee_page, title)
    await check_accessibility(committee_page)
    await screenshot(committee_page, "escalation-queue")
    new_deadline = (date.today() + timedelta(days=300)).strftime("%d/%m/%Y")
    form = committee_page.locator(f"form[action='/targets/{tid}/resolve']")
    await form.locator("[name=directive]").fill(DIRECTIVE)
    await form.locator("[name=new_deadline]").fill(new_deadline)
    await form.locator("button[type=submit]").click()
    await committee_page.wait_for_url("**/escalations?*notice=done*")
    assert title not in await committee_page.locator("main").inner_text()

    # (the drive is shared with the other browser tests: count from what Đống Đa has now)
    on_time_before = await on_time_of(committee_page, drive, "Phường Đống Đa")

    # The unit head sees the directive and the new deadline, and completes the target.
    await unit_page.goto(f"/targets/{tid}")
    text = await unit_page.locator("main").inner_text()
    assert DIRECTIVE in text and new_deadline in text
    await unit_page.fill("#complete-result", "Đã bàn giao toàn bộ mặt bằng")
    await unit_page.click("form[action$='/complete'] button[type=submit]")
    await unit_page.wait_for_url(f"**/targets/{tid}?*notice=done*")
    assert "Hoàn thành" in await unit_page.locator("main .tag").first.inner_text()
    await check_accessibility(unit_page)
    await screenshot(unit_page, "target-page")

    # The scoreboard counts it completed on time for Đống Đa.
    for _ in range(40):  # the scoreboard follows the projector (bounded)
        on_time = await on_time_of(committee_page, drive, "Phường Đống Đa")
        if on_time == on_time_before + 1:
            break
        await asyncio.sleep(0.25)
    assert on_time == on_time_before + 1
    await check_accessibility(committee_page)
    await screenshot(committee_page, "scoreboard")

    # The inspector's audit page names everyone who acted on the target.
    inspector_page = await signed_in(browser, drive, drive.inspector)
    await inspector_page.goto(f"/audit?target_id={tid}")
    trail = await inspector_page.locator("main table").inner_text()
    for actor in (drive.secretariat.api.name or "Văn phòng", head.name, drive.committee.name):
        assert actor in trail, actor
    assert "Escalated" in trail and "Hệ thống" in trail  # the timer acted as the system
    assert "Chuỗi băm toàn vẹn" in await inspector_page.locator(".badge").inner_text()
    await check_accessibility(inspector_page)
    await screenshot(inspector_page, "audit")
    for page in (unit_page, committee_page, inspector_page):
        await page.context.close()


async def on_time_of(page: Any, drive: Any, unit_name: str) -> int:
    """How many of the unit's targets the scoreboard page counts completed on time."""
    await page.goto(f"/campaigns/{drive.campaign}/scoreboard")
    label = await page.locator("tr", has_text=unit_name).locator("svg").get_attribute("aria-label")
    found = re.search(r"Hoàn thành đúng hạn: (\d+)", label or "")
    assert found, label
    return int(found.group(1))
