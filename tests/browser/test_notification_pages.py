"""The notification pages in Chromium: the inbox (unread count in the header of every
signed-in page, mark read), preferences (kinds x channels, the e-mail address, errors
next to the field with what was typed kept), and the secretariat's webhooks (register
with the secret shown once, the delivery log with status codes, disable), the
notifications given up and the daily digest. Deliveries run for real (the e2e
notifications' worker and receiver); every page passes axe-core."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from tests.browser.conftest import Drive, assign, check_accessibility, screenshot, signed_in, unique
from tests.e2e.test_notifications import deliveries, eventually, mailbox, receiver  # noqa: F401 - fixtures
from thidua.settings import Settings

PHONE = {"viewport": {"width": 390, "height": 844}}


async def escalated(drive: Drive, ward: str, title: str) -> tuple[str, int]:
    tid = await assign(drive, ward, title)
    head = drive.heads[ward]
    for segment, body in (("block", {"reason": "Hộ dân chưa đồng ý"}), ("escalate", {"reason": "Xin BTV chỉ đạo"})):
        response = await head.api.post(f"/v1/targets/{tid}/{segment}", body)
        if segment == "escalate" and response.status_code == 409:  # the 2 s policy escalated it already
            break
        assert response.status_code == 200, response.text
    return tid, response.json().get("position", 0) if response.status_code == 200 else 0


async def test_the_inbox_counts_unread_in_every_header_and_marks_read(browser: Any, drive: Drive) -> None:
    tid, _ = await escalated(drive, "ngo-quyen", "Giải phóng mặt bằng khu tái định cư")
    page = await signed_in(browser, drive, drive.committee, **PHONE)

    async def listed() -> Any:
        await page.goto("/inbox?unread=1")
        return await page.locator(f"tr:has(a[href='/targets/{tid}'])").count()

    await eventually(listed)
    count = int(await page.locator("#inbox-link .count").inner_text())
    assert count >= 1
    await page.goto(f"/campaigns/{drive.campaign}/escalations")  # another page: the same count in its header
    assert int(await page.locator("#inbox-link .count").inner_text()) == count
    await page.goto("/inbox?unread=1")
    row = page.locator(f"tr:has(a[href='/targets/{tid}'])")
    assert "Chỉ tiêu được chuyển lên Ban Thường vụ" in await row.inner_text()
    await check_accessibility(page)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await screenshot(page, "inbox-phone")
    await row.locator("button").click()
    await page.wait_for_url("**/inbox?unread=1")
    assert await page.locator(f"tr:has(a[href='/targets/{tid}'])").count() == 0
    after = page.locator("#inbox-link .count")
    assert (await after.count() == 0 and count == 1) or int(await after.inner_text()) == count - 1
    await page.goto("/inbox?lang=en")
    assert "A target was escalated to the Standing Committee" in await page.locator("main").inner_text()
    await page.goto("/inbox?lang=vi")
    await page.context.close()


async def test_preferences_keep_what_was_typed_and_name_the_field(browser: Any, drive: Drive) -> None:
    head = drive.heads["lien-bao"]
    page = await signed_in(browser, drive, head)
    await page.goto("/preferences")
    await check_accessibility(page)
    await page.check("input[name=email_kinds][value='target.overdue']")
    await page.fill("#email", "khong-phai-dia-chi")
    await page.click("main button[type=submit]")
    assert await page.locator(".error-summary").count() == 1
    assert await page.locator("#email").input_value() == "khong-phai-dia-chi"
    assert await page.locator("input[name=email_kinds][value='target.overdue']").is_checked()
    assert await page.locator("#email[aria-invalid=true]").count() == 1
    await check_accessibility(page)
    assert (await head.api.get("/v1/me/preferences")).json()["email_kinds"] == []  # nothing recorded

    address = f"{unique('bt')}@lienbao.test"
    await page.fill("#email", address)
    await page.click("main button[type=submit]")
    await page.wait_for_url("**/preferences?notice=saved")
    saved = (await head.api.get("/v1/me/preferences")).json()
    assert (saved["email"], saved["email_kinds"]) == (address, ["target.overdue"])
    assert await page.locator("#email").input_value() == address
    await page.context.close()


async def test_the_secretariat_registers_a_webhook_reads_its_log_and_disables_it(
        browser: Any, drive: Drive, deliveries: None, receiver: Any) -> None:  # noqa: F811 - fixtures
    got, base = receiver
    page = await signed_in(browser, drive, drive.secretariat)
    await page.goto("/webhooks")
    await check_accessibility(page)
    # a URL that cannot be used: the message is next to the field, what was typed is kept
    await page.fill("#url", "ftp://hooks.example")
    await page.check("input[name=events][value='target.escalated']")
    await page.click("form[action='/webhooks'] button[type=submit]")
    assert await page.locator("#url-error").count() == 1
    assert await page.locator("#url").input_value() == "ftp://hooks.example"
    await check_accessibility(page)

    path = f"/ok/{unique('web')}"
    await page.fill("#url", base + path)
    await page.select_option("#campaign_id", drive.campaign)
    await page.click("form[action='/webhooks'] button[type=submit]")
    secret = await page.locator("#webhook-secret").inner_text()
    assert secret.startswith("whsec_")
    hook_link = page.locator(".notice a")
    hook_url = await hook_link.get_attribute("href")
    await page.goto("/webhooks")
    assert await page.locator("#webhook-secret").count() == 0  # shown that once
    assert secret not in await page.content()

    tid, _ = await escalated(drive, "dong-da", "Chỉnh trang vỉa hè tuyến phố chính")
    await eventually(lambda: got.got(path))
    await page.goto(hook_url)

    async def logged() -> Any:
        await page.reload()
        return await page.locator("#delivery-log td", has_text="Đã gửi").count()

    await eventually(logged)
    assert "204" in await page.locator("#delivery-log").inner_text()
    await check_accessibility(page)
    await screenshot(page, "webhook-delivery-log")

    await page.click("form[action$='/disable'] button[type=submit]")  # no reason
    assert await page.locator("#reason-error").count() == 1
    await page.fill("#reason", "Hệ thống nhận đã ngừng")
    await page.click("form[action$='/disable'] button[type=submit]")
    await page.wait_for_url("**notice=disabled*")
    assert await page.locator("#webhook-status").inner_text() == "Đã tắt"
    await check_accessibility(page)
    await page.context.close()


async def test_the_secretariat_sees_what_failed_and_the_daily_digest(
        browser: Any, drive: Drive, deliveries: None, receiver: Any,  # noqa: F811 - fixtures
        e2e_settings: Settings) -> None:
    from thidua.workflows.client import connect
    from thidua.workflows.digest_workflow import DailyDigestWorkflow, DigestRequest
    from thidua.workflows.webhook_workflow import webhooks_queue

    got, base = receiver
    path = f"/gone/{unique('web')}"
    hook = (await drive.secretariat.api.post("/v1/webhooks", {"url": base + path, "campaign_id": drive.campaign,
                                                              "events": ["target.escalated"]})).json()
    await escalated(drive, "lien-bao", "Xây dựng nhà văn hóa tổ dân phố")
    page = await signed_in(browser, drive, drive.secretariat, **PHONE)

    async def failed() -> Any:
        await page.goto("/notifications/failed")
        return await page.locator(f"#failed a[href='/webhooks/{hook['id']}']").count()

    await eventually(failed)
    assert "410" in await page.locator("#failed").inner_text()
    await check_accessibility(page)

    as_of = datetime.now(timezone.utc) + timedelta(days=15)  # nothing moved for the policy's P14D
    client = await connect(e2e_settings.temporal_address, e2e_settings.temporal_namespace)
    await client.execute_workflow(DailyDigestWorkflow.run, DigestRequest(drive.campaign, as_of.isoformat()),
                                  id=unique("digest"), task_queue=webhooks_queue(e2e_settings.task_queue))
    day = as_of.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()

    async def digest_listed() -> Any:
        await page.goto("/inbox")
        return await page.locator(f"a[href='/campaigns/{drive.campaign}/digests/{day.isoformat()}']").count()

    await eventually(digest_listed)
    await page.click(f"a[href='/campaigns/{drive.campaign}/digests/{day.isoformat()}']")
    text = await page.locator("main").inner_text()
    assert day.strftime("%d/%m/%Y") in text and "Phường Liên Bảo" in text
    await check_accessibility(page)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.context.close()
    head = await signed_in(browser, drive, drive.heads["lien-bao"])
    response = await head.goto(f"/campaigns/{drive.campaign}/digests/{day.isoformat()}")
    assert response.status == 403
    await head.context.close()
