"""Browser tests: the whole system (the e2e stack: real PostgreSQL, Temporal, worker,
projector, API over HTTP) driven through its pages by a real headless Chromium.

The browser: Debian's /usr/bin/chromium when it is there (Playwright's own download
cannot be reached on the build machine; `make test` installs the Debian package when
missing and run as root), else Playwright's own (`playwright install chromium`). With
neither, these tests FAIL and say how to get one: they never skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (  # noqa: F401 - the e2e stack's fixtures, shared
    Person,
    api_database_url,
    api_server,
    e2e_settings,
    http,
    make_person,
    projector,
    register_unit,
    secretariat,
    unique,
    worker,
)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "mật khẩu thử nghiệm 2022"
DEBIAN_CHROMIUM = "/usr/bin/chromium"
NO_BROWSER = (
    "no Chromium for the browser tests: on Debian/Ubuntu run `apt-get install -y chromium` (as root; "
    "`make test` does it), elsewhere `.venv/bin/playwright install chromium`"
)


def chromium_launch_options() -> dict[str, Any]:
    options: dict[str, Any] = {"headless": True}
    executable = os.environ.get("THIDUA_CHROMIUM") or (DEBIAN_CHROMIUM if os.path.exists(DEBIAN_CHROMIUM) else None)
    executable = executable or shutil.which("chromium") or shutil.which("chromium-browser")
    if executable:
        options["executable_path"] = executable
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        options["args"] = ["--no-sandbox"]  # Chromium refuses to run its sandbox as root
    return options


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import Error, async_playwright

    async with async_playwright() as p:
        try:
            launched = await p.chromium.launch(**chromium_launch_options())
        except Error as exc:
            pytest.fail(f"{NO_BROWSER}\n({exc.message.splitlines()[0]})")
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class WebPerson:
    """Someone with a login and a password, and the API Person made at the same time."""

    api: Person
    login: str
    name: str
    role: str
    unit_id: str | None = None


@dataclass
class Drive:
    campaign: str
    units: dict[str, str]
    secretariat: WebPerson
    committee: WebPerson
    inspector: WebPerson
    heads: dict[str, WebPerson]
    base_url: str


async def web_person(secretariat: Person, *, name: str, role: str, unit_id: str | None = None) -> tuple[
        WebPerson, str]:
    """A user with a login, and their activation URL (the person sets the password in the browser)."""
    login = unique(role.replace("_", "")).replace("-", ".")
    response = await secretariat.post("/v1/users", {"name": name, "role": role, "unit_id": unit_id, "login": login})
    assert response.status_code == 201, response.text
    body = response.json()
    api = Person(secretariat.http, body["id"], role, body["token"], unit_id=unit_id, name=name)
    return WebPerson(api, login, name, role, unit_id), body["activation_url"]


@pytest.fixture(scope="session")
async def drive(secretariat: Person, worker: None, projector: None, api_server: Any, browser: Any) -> Drive:
    """A campaign of Vĩnh Yên with a short escalation policy, its wards, and one person
    of each role, who set their passwords through the activation page."""
    suffix = unique("web")
    cid = f"vinh-yen-{suffix}"
    wards = {"ngo-quyen": "Phường Ngô Quyền", "dong-da": "Phường Đống Đa", "dinh-trung": "Phường Định Trung",
             "lien-bao": "Phường Liên Bảo"}
    units = {key: f"{key}-{suffix}" for key in wards}
    for key, name in wards.items():
        await register_unit(secretariat, units[key], name)
    for response in (
        await secretariat.post("/v1/campaigns", {
            "id": cid, "name": "Đợt cao điểm thi đua năm 2022", "starts_on": "2022-02-15", "ends_on": "2030-12-31",
            "policy": {"escalate_after": "PT2S", "resolution_sla": "P7D", "stale_after": "P14D"},
            "scoring": {"on_time": 1.0, "late": 0.5, "reward_slots": 1}}),
        await secretariat.put(f"/v1/campaigns/{cid}/clusters/cum-phuong", {
            "name": "Cụm thi đua các phường", "head_unit_id": units["ngo-quyen"], "deputy_unit_id": units["dong-da"],
            "member_unit_ids": [units["dinh-trung"], units["lien-bao"]]}),
        await secretariat.post(f"/v1/campaigns/{cid}/decisions", {
            "number": "934-QĐ/TU", "issued_on": "2022-02-15", "issuer": "BTV Thành ủy Vĩnh Yên",
            "title": "Giao chỉ tiêu, nhiệm vụ năm 2022"}),
    ):
        assert response.status_code in (200, 201), response.text
    people: dict[str, tuple[WebPerson, str]] = {
        "secretariat": await web_person(secretariat, name="Trần Thị Văn Phòng", role="secretariat"),
        "committee": await web_person(secretariat, name="Nguyễn Hoài Nam", role="standing_committee"),
        "inspector": await web_person(secretariat, name="Ủy ban Kiểm tra Thành ủy", role="inspector"),
    }
    for key in ("ngo-quyen", "dong-da", "lien-bao"):
        people[key] = await web_person(secretariat, name=f"Bí thư {wards[key]}", role="unit_head",
                                       unit_id=units[key])
    context = await browser.new_context()
    page = await context.new_page()
    for person, activation_url in people.values():
        await page.goto(activation_url)
        await page.fill("#password", PASSWORD)
        await page.click("main button[type=submit]")
        await page.wait_for_url("**/sign-in?notice=activated")
    await context.close()
    return Drive(cid, units, people["secretariat"][0], people["committee"][0], people["inspector"][0],
                 {k: people[k][0] for k in ("ngo-quyen", "dong-da", "lien-bao")}, api_server.url)


async def assign(drive: Drive, ward: str, title: str, deadline: date | None = None) -> str:
    """Assigning is the secretariat's setup (its own pages are import and the API)."""
    response = await drive.secretariat.api.post(f"/v1/campaigns/{drive.campaign}/targets", {
        "unit_id": drive.units[ward], "title": title, "area": "GPMB",
        "deadline": (deadline or date.today() + timedelta(days=200)).isoformat(), "points": 10,
        "decision": {"number": "934-QĐ/TU", "issued_on": "2022-02-15", "issuer": "BTV Thành ủy Vĩnh Yên"}})
    assert response.status_code == 201, response.text
    return response.json()["target"]["id"]


async def signed_in(browser: Any, drive: Drive, who: WebPerson, **context_options: Any) -> Any:
    """A new browser context (its own cookies) signed in through the sign-in page."""
    context = await browser.new_context(base_url=drive.base_url, **context_options)
    page = await context.new_page()
    await page.goto("/sign-in")
    await page.fill("#login", who.login)
    await page.fill("#password", PASSWORD)
    await page.click("main button[type=submit]")
    await page.wait_for_url(lambda url: "/sign-in" not in url)
    return page


async def check_accessibility(page: Any) -> None:
    """axe-core on the page as it is: no serious or critical violation."""
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    assert not bad, f"{page.url}: " + "; ".join(f"{v['id']} ({v['impact']}): {v['help']} "
                                                f"{[n['target'] for n in v['nodes']][:3]}" for v in bad)


async def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def reload_until(page: Any, text: str, attempts: int = 120) -> None:
    """The timer works on its own: reload (bounded) until the page shows `text`."""
    for _ in range(attempts):
        if text in await page.locator("main").inner_text():
            return
        await page.wait_for_timeout(500)
        await page.reload()
    raise AssertionError(f"{page.url} never showed {text!r}")
