"""The decision tree: a decision's targets, each with its rollup bar and its children,
reached from the decisions list; the target page links parent and children. axe-core
finds nothing serious, and the tree reads on a phone without JavaScript."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tests.browser.conftest import Drive, check_accessibility, screenshot, signed_in


async def _post(drive: Drive, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await drive.secretariat.api.post(url, body)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def test_the_decision_tree_shows_each_target_with_its_rollup_and_children(browser: Any, drive: Drive) -> None:
    cid = drive.campaign
    for body in ({"number": "529", "issued_on": "2022-01-11", "title": "Giao chỉ tiêu năm 2022",
                  "issuer": {"level": "province", "name": "Ban Thường vụ Tỉnh ủy Vĩnh Phúc"}},
                 {"number": "937", "issued_on": "2022-02-21", "title": "Giao chỉ tiêu cho các phường",
                  "issuer": {"level": "city", "name": "Ban Thường vụ Thành ủy Vĩnh Yên"}, "parent_number": "529"}):
        await _post(drive, f"/v1/campaigns/{cid}/decisions", body)
    deadline = (date.today() + timedelta(days=200)).isoformat()
    parent = (await _post(drive, f"/v1/campaigns/{cid}/targets", {
        "unit_id": drive.units["lien-bao"], "title": "Chỉnh trang đô thị toàn thành phố", "area": "Đô thị",
        "deadline": deadline, "points": 20, "decision": {"number": "529"}}))["target"]["id"]
    children = []
    for ward, title in (("ngo-quyen", "Chỉnh trang đô thị phường Ngô Quyền"),
                        ("dong-da", "Chỉnh trang đô thị phường Đống Đa")):
        children.append((await _post(drive, f"/v1/campaigns/{cid}/targets", {
            "unit_id": drive.units[ward], "title": title, "area": "Đô thị", "deadline": deadline, "points": 10,
            "decision": {"number": "937", "issued_on": "2022-02-21"}, "parent_id": parent}))["target"]["id"])
    done = await drive.heads["ngo-quyen"].api.post(f"/v1/targets/{children[0]}/complete", {"result": "Xong"})
    assert done.status_code == 200, done.text
    position = done.json()["position"]

    page = await signed_in(browser, drive, drive.committee)
    await page.goto(f"/campaigns/{cid}/decisions?min_position={position}")
    assert "Cấp tỉnh" in await page.locator("main").inner_text()
    await check_accessibility(page)
    await page.click("text=Quyết định 529")
    await page.wait_for_url(f"**/campaigns/{cid}/decisions/529")
    main = page.locator("main")
    assert await page.locator("h1").inner_text() == "Quyết định 529"
    text = await main.inner_text()
    assert "Chỉnh trang đô thị toàn thành phố" in text
    assert "Chỉnh trang đô thị phường Ngô Quyền" in text and "Chỉnh trang đô thị phường Đống Đa" in text
    bar = page.locator("svg.bar").first
    assert "Hoàn thành đúng hạn 1" in await bar.get_attribute("aria-label")
    assert "Hoàn thành (theo điểm): 50.0%" in text
    await check_accessibility(page)
    await screenshot(page, "decision-tree")

    await page.click(f"a[href='/targets/{parent}']")
    await page.wait_for_url(f"**/targets/{parent}")
    assert await page.locator(f"a[href='/targets/{children[1]}']").count() == 1
    await check_accessibility(page)
    await page.goto(f"/targets/{children[1]}")
    assert await page.locator(f"a[href='/targets/{parent}']").count() == 1
    await page.goto(f"/campaigns/{cid}/city-targets")
    assert "Chỉnh trang đô thị toàn thành phố" in await page.locator("main").inner_text()
    await check_accessibility(page)
    await page.context.close()

    phone = await signed_in(browser, drive, drive.heads["dong-da"], viewport={"width": 390, "height": 844},
                            java_script_enabled=False)
    await phone.goto(f"/campaigns/{cid}/decisions/529")
    assert "Chỉnh trang đô thị phường Đống Đa" in await phone.locator("main").inner_text()
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
    await phone.context.close()
