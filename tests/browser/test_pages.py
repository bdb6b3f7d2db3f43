"""Each role signs in through the pages and reads what needs them; every page passes axe-core."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tests.browser.conftest import (
    PASSWORD,
    Drive,
    assign,
    check_accessibility,
    screenshot,
    reload_until,
    signed_in,
)


async def test_each_role_signs_in_and_sees_its_home(browser: Any, drive: Drive) -> None:
    blocked = await assign(drive, "ngo-quyen", "Hoàn thành GPMB dự án đường Nguyễn Tất Thành")
    head = drive.heads["ngo-quyen"]
    response = await head.api.post(f"/v1/targets/{blocked}/block", {"reason": "Hộ dân chưa đồng ý phương án"})
    assert response.status_code == 200, response.text
    position = response.json()["position"]
    expectations = [
        (drive.secretariat, "Quá hạn theo đơn vị"),
        (drive.committee, "Báo cáo BTV tháo gỡ"),
        (head, "Chỉ tiêu vướng mắc"),
    ]
    for who, heading in expectations:
        page = await signed_in(browser, drive, who)
        await page.goto(f"/?campaign={drive.campaign}&min_position={position}")
        assert await page.locator("h1").inner_text() == who.name
        assert heading in await page.locator("main").inner_text()
        await check_accessibility(page)
        await page.context.close()
    late = await assign(drive, "dinh-trung", "Xử lý vi phạm đất đai", date.today() - timedelta(days=3))
    page = await signed_in(browser, drive, drive.secretariat)
    await page.goto(f"/?campaign={drive.campaign}")
    await reload_until(page, "Phường Định Trung")  # its deadline passed: the timer marks it overdue
    row = page.locator("tr", has_text="Phường Định Trung")
    assert (await row.locator("td").all_inner_texts())[1] == "1"
    assert late
    await page.context.close()
    inspector = await signed_in(browser, drive, drive.inspector)
    assert inspector.url.endswith("/audit")  # an inspector's home is the audit trail
    await inspector.context.close()


async def test_the_home_reads_on_a_phone_without_javascript(browser: Any, drive: Drive) -> None:
    soon = await assign(drive, "dong-da", "Hoàn thành chuyển đổi số cấp phường", date.today() + timedelta(days=10))
    head = drive.heads["dong-da"]
    blocked = await assign(drive, "dong-da", "Giải phóng mặt bằng đường vành đai")
    response = await head.api.post(f"/v1/targets/{blocked}/block", {"reason": "Chờ phê duyệt giá đất"})
    assert response.status_code == 200, response.text
    page = await signed_in(browser, drive, head, viewport={"width": 390, "height": 844}, java_script_enabled=False)
    await page.goto(f"/?campaign={drive.campaign}&min_position={response.json()['position']}")
    due_soon = page.locator("h2", has_text="Sắp đến hạn").locator("xpath=following-sibling::ul[1]")
    assert "Hoàn thành chuyển đổi số cấp phường" in await due_soon.inner_text()
    assert await page.locator(f"a[href='/targets/{soon}']").count() == 1
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    await screenshot(page, "home-phone")
    await page.context.close()


async def test_english_is_one_click_away(browser: Any, drive: Drive) -> None:
    page = await signed_in(browser, drive, drive.secretariat)
    await page.goto(f"/?campaign={drive.campaign}")
    await page.click("text=English")
    assert "Overdue by unit" in await page.locator("main").inner_text()
    await page.goto(f"/?campaign={drive.campaign}")  # the choice is remembered
    assert "Overdue by unit" in await page.locator("main").inner_text()
    await page.context.close()


async def test_a_wrong_password_keeps_the_login_and_says_what_is_wrong(browser: Any, drive: Drive) -> None:
    context = await browser.new_context(base_url=drive.base_url)
    page = await context.new_page()
    await page.goto("/sign-in")
    await page.fill("#login", drive.inspector.login)
    await page.fill("#password", PASSWORD + "x")
    await page.click("main button[type=submit]")
    assert await page.locator(".error-summary").count() == 1
    assert await page.input_value("#login") == drive.inspector.login
    await check_accessibility(page)
    await context.close()


async def test_the_scoreboard_downloads_and_answers_what_if_for_the_committee(browser: Any, drive: Drive) -> None:
    page = await signed_in(browser, drive, drive.committee)
    await page.goto(f"/campaigns/{drive.campaign}/scoreboard")
    units = await page.locator("section.board tbody tr td:nth-child(2)").all_inner_texts()
    assert units and set(units) <= {"Phường Ngô Quyền", "Phường Đống Đa", "Phường Định Trung", "Phường Liên Bảo"}
    for kind, signature in (("csv", b"\xef\xbb\xbf"), ("xlsx", b"PK")):
        link = page.locator(f"a[href$='format={kind}']")
        download = await page.request.get(await link.get_attribute("href"))  # the session cookie reads the API
        assert download.status == 200 and (await download.body()).startswith(signature)
    await page.fill("#on_time", "1")
    await page.fill("#late", "0")
    await page.fill("#reward_slots", "2")
    await page.click("form[method=post][action$='/scoreboard'] button[type=submit]")
    assert await page.locator("section.board").count() >= 2  # the board, then the board under the proposal
    await page.fill("#on_time", "-3")
    await page.click("form[method=post][action$='/scoreboard'] button[type=submit]")
    assert await page.locator(".panel .error-message").count() == 1
    assert await page.input_value("#on_time") == "-3"
    await page.fill("#as_of", "32/13/2022")
    await page.click("form[method=get] button[type=submit]")
    assert await page.locator(".field-error #as_of").count() == 1
    await check_accessibility(page)
    await page.context.close()


async def test_an_unknown_page_is_a_page_and_an_unknown_api_route_a_problem(browser: Any, drive: Drive) -> None:
    page = await signed_in(browser, drive, drive.secretariat)
    response = await page.goto("/no-such-page")
    assert response.status == 404 and await page.locator("h1").inner_text() == "Không tìm thấy trang"
    api = await page.request.get("/v1/no-such-route")
    assert api.status == 404 and api.headers["content-type"].startswith("application/problem+json")
    await page.context.close()
