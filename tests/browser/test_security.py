"""What the pages refuse: another unit's target by URL (403 page), a form without its
CSRF token, and sign-in after too many wrong passwords (429 with Retry-After). A
refused command shows the problem next to its form, keeps what was typed and records
nothing; a page asked for without a session goes to sign-in and then back."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import PASSWORD, Drive, assign, check_accessibility, signed_in, unique


async def test_a_unit_head_cannot_open_another_units_target(browser: Any, drive: Drive) -> None:
    tid = await assign(drive, "ngo-quyen", "Giải quyết khiếu nại, tố cáo tồn đọng")
    page = await signed_in(browser, drive, drive.heads["lien-bao"])  # a member of the cluster, not its head
    response = await page.goto(f"/targets/{tid}")
    assert response.status == 403
    assert await page.locator("h1").inner_text() == "Không có quyền truy cập"
    assert "Giải quyết khiếu nại" not in await page.content()
    await check_accessibility(page)
    refused = await page.request.post(f"/targets/{tid}/start", form={
        "csrf_token": await page.locator("input[name=csrf_token]").first.input_value(), "note": "x"})
    assert refused.status == 403
    await page.context.close()


async def test_a_form_without_its_csrf_token_is_refused_and_records_nothing(browser: Any, drive: Drive) -> None:
    tid = await assign(drive, "ngo-quyen", "Cải cách hành chính, chính quyền điện tử")
    head = drive.heads["ngo-quyen"]
    page = await signed_in(browser, drive, head)
    await page.goto(f"/targets/{tid}")
    response = await page.request.post(f"/targets/{tid}/start", form={"note": "Bắt đầu"})  # the session cookie goes
    assert response.status == 403
    forged = await page.request.post(f"/targets/{tid}/start", form={"note": "Bắt đầu", "csrf_token": "forged"})
    assert forged.status == 403
    target = (await head.api.get(f"/v1/targets/{tid}")).json()
    assert target["status"] == "assigned" and target["version"] == 1
    await page.context.close()


async def test_a_refused_command_keeps_what_was_typed(browser: Any, drive: Drive) -> None:
    tid = await assign(drive, "ngo-quyen", "Xử lý dứt điểm vi phạm đất đai")
    page = await signed_in(browser, drive, drive.heads["ngo-quyen"])
    await page.goto(f"/targets/{tid}")
    await page.fill("#progress-percent", "140")
    await page.fill("#progress-note", "Đã chi trả cho các hộ dân")
    await page.click("form[action$='/progress'] button[type=submit]")
    form = page.locator("form[action$='/progress']")
    assert await form.locator(".error-summary").count() == 1
    assert await page.input_value("#progress-percent") == "140"
    assert await page.input_value("#progress-note") == "Đã chi trả cho các hộ dân"
    await check_accessibility(page)
    target = (await drive.heads["ngo-quyen"].api.get(f"/v1/targets/{tid}")).json()
    assert target["version"] == 1 and target["percent"] is None
    await page.context.close()


async def test_without_a_session_a_page_goes_to_sign_in_and_back(browser: Any, drive: Drive) -> None:
    tid = await assign(drive, "dong-da", "Tiết kiệm, chống lãng phí")
    page = await signed_in(browser, drive, drive.heads["dong-da"])
    await page.context.clear_cookies()  # the session has ended
    await page.goto(f"/targets/{tid}?lang=vi")
    assert "/sign-in?next=" in page.url
    await check_accessibility(page)
    await page.fill("#login", drive.heads["dong-da"].login)
    await page.fill("#password", PASSWORD)
    await page.click("main button[type=submit]")
    await page.wait_for_url(f"**/targets/{tid}?lang=vi")
    assert "Tiết kiệm, chống lãng phí" in await page.locator("h1").inner_text()
    # A form sent after the session ended records nothing and comes back to its page.
    await page.fill("#start-note", "Bắt đầu")
    await page.context.clear_cookies()
    await page.click("form[action$='/start'] button[type=submit]")
    await page.wait_for_url("**/sign-in?next=*")
    await page.fill("#login", drive.heads["dong-da"].login)
    await page.fill("#password", PASSWORD)
    await page.click("main button[type=submit]")
    await page.wait_for_url(f"**/targets/{tid}?lang=vi")
    assert (await drive.heads["dong-da"].api.get(f"/v1/targets/{tid}")).json()["status"] == "assigned"
    await page.context.close()


async def test_sign_in_is_refused_after_repeated_failures(browser: Any, drive: Drive) -> None:
    context = await browser.new_context(base_url=drive.base_url)
    page = await context.new_page()
    statuses = []
    guessed = unique("guessed").replace("-", ".")  # a login of its own: the others keep signing in
    for _ in range(6):
        await page.goto("/sign-in")
        await page.fill("#login", guessed)
        await page.fill("#password", "đoán mò mật khẩu")
        async with page.expect_response(lambda r: r.request.method == "POST") as answer:
            await page.click("main button[type=submit]")
        statuses.append((await answer.value).status)
    assert statuses == [401, 401, 401, 401, 401, 429]
    assert int((await answer.value).headers["retry-after"]) > 0
    assert await page.locator("h1").inner_text() == "Quá nhiều lần đăng nhập sai"
    await check_accessibility(page)
    await context.close()
