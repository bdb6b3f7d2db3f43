"""The secretariat's pages: import (CSV or XLSX) with a preview of every row's error before
anything is recorded, then confirm; users: create with an activation link, revoke."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

from openpyxl import Workbook

from tests.browser.conftest import PASSWORD, Drive, check_accessibility, signed_in, unique


def csv_file(drive: Drive, rows: list[tuple[str, str, str]]) -> dict[str, Any]:
    deadline = (date.today() + timedelta(days=100)).isoformat()
    lines = ["key,unit_id,title,area,deadline,points"]
    lines += [f"{key},{unit},{title},GPMB,{deadline},5" for key, unit, title in rows]
    return {"name": "934.csv", "mimeType": "text/csv", "buffer": ("\r\n".join(lines) + "\r\n").encode()}


async def test_import_shows_every_row_error_first_then_records_on_confirm(browser: Any, drive: Drive) -> None:
    page = await signed_in(browser, drive, drive.secretariat)
    await page.goto(f"/campaigns/{drive.campaign}/import")
    await check_accessibility(page)
    key = unique("imp")
    unit = drive.units["lien-bao"]
    await page.set_input_files("#file", csv_file(drive, [
        (f"{key}-1", unit, "Chỉnh trang đô thị"), (f"{key}-2", "khong-co-don-vi", "Sai đơn vị"),
        (f"{key}-3", unit, "")]))
    await page.click("form[enctype] button[type=submit]")
    text = await page.locator("main").inner_text()
    assert "2 trong 3 dòng có lỗi" in text and "khong-co-don-vi" in text
    await check_accessibility(page)
    listed = await drive.secretariat.api.get(f"/v1/campaigns/{drive.campaign}/targets", params={"unit_id": unit})
    assert all(not t.get("key", "").startswith(key) for t in listed.json()["items"])

    await page.set_input_files("#file", csv_file(drive, [(f"{key}-1", unit, "Chỉnh trang đô thị"),
                                                        (f"{key}-4", unit, "Vệ sinh môi trường")]))
    await page.click("form[enctype] button[type=submit]")
    assert "2 dòng hợp lệ" in await page.locator("main").inner_text()
    await page.click("text=Xác nhận nhập 2 chỉ tiêu")
    await page.wait_for_url("**/targets?*notice=imported*")
    await page.goto(f"/campaigns/{drive.campaign}/targets?unit_id={unit}")
    text = await page.locator("main").inner_text()
    assert "Chỉnh trang đô thị" in text and "Vệ sinh môi trường" in text
    await check_accessibility(page)
    await page.context.close()


async def test_the_secretariat_creates_a_user_who_activates_and_is_revoked(browser: Any, drive: Drive) -> None:
    page = await signed_in(browser, drive, drive.secretariat)
    await page.goto("/users")
    assert await page.title() == "Người dùng – thidua"  # the title, nothing else (the list is in the page)
    await check_accessibility(page)
    login = unique("thanhtra").replace("-", ".")
    await page.fill("#name", "Thanh tra thành phố")
    await page.fill("#login", login)
    await page.select_option("#role", "inspector")
    await page.click("form[action='/users'] button[type=submit]")
    link = await page.locator("#activation-url").inner_text()
    assert "/activate/act_" in link

    newcomer = await browser.new_context(base_url=drive.base_url)
    their = await newcomer.new_page()
    await their.goto(link)
    await check_accessibility(their)
    await their.fill("#password", PASSWORD)
    await their.click("main button[type=submit]")
    await their.wait_for_url("**/sign-in?notice=activated")
    await their.fill("#login", login)
    await their.fill("#password", PASSWORD)
    await their.click("main button[type=submit]")
    await their.wait_for_url("**/audit")
    again = await their.goto(link)  # the link was used up
    assert again is not None
    await their.fill("#password", PASSWORD)
    await their.click("main button[type=submit]")
    assert await their.locator("h1").inner_text() == "Liên kết không còn dùng được"

    await page.goto("/users")
    row = page.locator("tr", has_text="Thanh tra thành phố")
    await row.locator("form[action$='/activation'] button").click()  # e.g. a forgotten password
    second = await page.locator("#activation-url").inner_text()
    assert "/activate/act_" in second and second != link
    await check_accessibility(page)
    row = page.locator("tr", has_text="Thanh tra thành phố")
    await row.locator("form[action$='/revoke'] button").click()
    await page.wait_for_url("**/users?notice=revoked")
    answer = await their.goto("/audit")
    assert answer is not None and "/sign-in" in their.url  # their session ended with the revocation
    await newcomer.close()
    await page.context.close()


async def test_import_takes_an_xlsx_workbook_through_the_same_preview_and_confirm(browser: Any,
                                                                                   drive: Drive) -> None:
    key, unit = unique("xlsx"), drive.units["lien-bao"]
    book = Workbook()
    sheet = book.active
    sheet.append(["key", "unit_id", "title", "area", "deadline", "points"])
    sheet.append([key, unit, "Trồng cây xanh", "GPMB", date.today() + timedelta(days=100), 5])
    data = io.BytesIO()
    book.save(data)
    page = await signed_in(browser, drive, drive.secretariat)
    await page.goto(f"/campaigns/{drive.campaign}/import")
    await page.set_input_files("#file", {"name": "934.xlsx", "buffer": data.getvalue(), "mimeType":
                                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
    await page.click("form[enctype] button[type=submit]")
    assert "1 dòng hợp lệ" in await page.locator("main").inner_text()
    await page.click("text=Xác nhận nhập 1 chỉ tiêu")  # the workbook itself goes back with the confirm
    await page.wait_for_url("**/targets?*notice=imported*")
    listed = await drive.secretariat.api.get(f"/v1/campaigns/{drive.campaign}/targets", params={"unit_id": unit})
    assert any(t.get("key") == key for t in listed.json()["items"])
    await page.context.close()
