"""Each role signs in through the pages and reads what needs them; every page passes axe-core."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import (
    PASSWORD,
    Drive,
    assign,
    check_accessibility,
    screenshot,
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
    inspector = await signed_in(browser, drive, drive.inspector)
    assert inspector.url.endswith("/audit")  # an inspector's home is the audit trail
    await inspector.context.close()


async def test_the_home_reads_on_a_phone_without_javascript(browser: Any, drive: Drive) -> None:
    page = await signed_in(browser, drive, drive.heads["dong-da"], viewport={"width": 390, "height": 844},
                           java_script_enabled=False)
    await page.goto(f"/?campaign={drive.campaign}")
    assert "Chỉ tiêu quá hạn" in await page.locator("main").inner_text()
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
