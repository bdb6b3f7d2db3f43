"""Notifications end to end: an escalation reaches every Standing Committee member's
inbox once and a real receiver as one signed webhook (Standard Webhooks, verified
with `standardwebhooks`); a receiver that fails five times is retried until it takes
it; a 410 disables the webhook; private addresses are refused unless allowed."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from email import message_from_bytes
from email.policy import default
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook as Verifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.e2e.conftest import BackgroundLoop, Person, ServerThread, make_person, register_unit, unique
from thidua.embedded import free_port
from thidua.settings import Settings


class Receiver:
    """A webhook receiver on 127.0.0.1: records every request; `/fail/{n}/...` answers
    500 to the first n requests of a path, `/gone/...` answers 410."""

    def __init__(self) -> None:
        self.requests: dict[str, list[tuple[dict[str, str], bytes]]] = defaultdict(list)
        self.lock = threading.Lock()
        self.release = threading.Event()  # lets the requests to `/hang/...` be answered
        self.waiting = 0  # requests to `/hang/...` not answered yet
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        with self.lock:
            self.requests[path].append((dict(request.headers), body))
            seen = len(self.requests[path])
        parts = path.strip("/").split("/")
        if parts[0] == "hang":
            with self.lock:
                self.waiting += 1
            await asyncio.to_thread(self.release.wait, 120)
            with self.lock:
                self.waiting -= 1
        if parts[0] == "gone":
            return Response(status_code=410)
        if parts[0] == "fail" and seen <= int(parts[1]):
            return Response(status_code=500)
        return Response(status_code=204)

    def hanging(self) -> int:
        with self.lock:
            return self.waiting

    def got(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        with self.lock:
            return list(self.requests[path])


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    r = Receiver()
    server = ServerThread(r.app).start()
    try:
        yield r, server.url
    finally:
        server.stop()


class MailBox:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=default)))
        return "250 OK"

    def to(self, address: str) -> list[Any]:
        with self.lock:
            return [m for rcpts, m in self.messages if address in rcpts]


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[MailBox, int]]:
    from aiosmtpd.controller import Controller

    box = MailBox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield box, controller.port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def deliveries(e2e_settings: Settings, worker: None, mailbox: tuple[MailBox, int]) -> Iterator[None]:
    """The webhook and e-mail worker and the outbox dispatcher, as `thidua worker` runs
    them (retries 0.2 s apart at first, so a few failures take about a second)."""
    from thidua.event_store import domain_application
    from thidua.workflows.client import connect
    from thidua.workflows.mail import Mailer
    from thidua.workflows.webhook_worker import WebhookService

    background = BackgroundLoop("thidua-webhooks")
    app = domain_application(e2e_settings.database_url)

    async def start() -> WebhookService:
        client = await connect(e2e_settings.temporal_address, e2e_settings.temporal_namespace)
        service = WebhookService(client, app, e2e_settings.database_url, e2e_settings.task_queue,
                                 allow_private=True, initial_interval_ms=200, poll_interval=0.5,
                                 mail=Mailer(f"smtp://127.0.0.1:{mailbox[1]}", "thidua@thidua.test",
                                             "https://thidua.test"))
        return await service.__aenter__()

    service = background.run(start())
    try:
        yield
    finally:
        background.run(service.shutdown())
        background.close()
        app.close()


async def eventually(check: Any, timeout: float = 60) -> Any:
    """Poll `check()` (a function or a coroutine function) until it gives something
    truthy: deliveries happen on their own."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, "not there in time"
        await asyncio.sleep(0.2)


class Setup:
    def __init__(self, secretariat: Person) -> None:
        self.secretariat = secretariat
        self.campaign = unique("notify")
        self.unit = unique("phuong")
        self.position = 0

    def saw(self, response: Any) -> dict[str, Any]:
        assert response.status_code in (200, 201), response.text
        body = response.json()
        self.position = max(self.position, int(body.get("position") or 0))
        return body

    async def escalated_target(self, head: Person) -> str:
        body = self.saw(await self.secretariat.post(f"/v1/campaigns/{self.campaign}/targets", {
            "key": unique("k"), "unit_id": self.unit, "title": "Giải phóng mặt bằng", "area": "GPMB",
            "deadline": (date.today() + timedelta(days=90)).isoformat(), "points": 5}))
        tid = body["target"]["id"]
        self.saw(await head.post(f"/v1/targets/{tid}/start", {}))
        self.saw(await head.post(f"/v1/targets/{tid}/block", {"reason": "Hộ dân chưa đồng ý"}))
        self.saw(await head.post(f"/v1/targets/{tid}/escalate", {"reason": "Đề nghị BTV chỉ đạo"}))
        return tid

    async def webhook(self, url: str, events: list[str]) -> dict[str, Any]:
        response = await self.secretariat.post("/v1/webhooks", {"url": url, "campaign_id": self.campaign,
                                                                "events": events})
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture(scope="module")
async def setup(secretariat: Person, projector: None, deliveries: None) -> Setup:
    s = Setup(secretariat)
    await register_unit(secretariat, s.unit, "Phường Ngô Quyền")
    s.saw(await secretariat.post("/v1/campaigns", {
        "id": s.campaign, "name": "Thi đua 2026", "starts_on": "2026-01-01", "ends_on": "2030-12-31",
        "policy": {"escalate_after": "P30D", "resolution_sla": "P7D", "stale_after": "P14D"}}))
    return s


def verified(secret: str, request: tuple[dict[str, str], bytes]) -> dict[str, Any]:
    headers, body = request
    return Verifier(secret).verify(body, headers)  # raises if the signature is not right


async def test_an_escalation_reaches_every_member_once_and_one_signed_webhook(setup: Setup, receiver) -> None:
    got, base = receiver
    s = setup
    members = [await make_person(s.secretariat, name=f"Ủy viên {i}", role="standing_committee") for i in range(3)]
    head = await make_person(s.secretariat, name="Bí thư phường", role="unit_head", unit_id=s.unit)
    inspector = await make_person(s.secretariat, name="Kiểm tra", role="inspector")
    path = f"/ok/{unique('h')}"
    hook = await s.webhook(base + path, ["target.escalated"])
    assert hook["secret"].startswith("whsec_") and hook["active"] is True
    tid = await s.escalated_target(head)

    for member in members:
        page = (await member.get("/v1/me/notifications", params={"unread": "true",
                                                                "min_position": s.position})).json()
        mine = [n for n in page["items"] if n["target_id"] == tid]
        assert [n["kind"] for n in mine] == ["target.escalated"]
        assert mine[0]["link"] == f"/v1/targets/{tid}" and mine[0]["read_at"] is None
        assert page["unread"] >= 1
    for other in (head, inspector):
        page = (await other.get("/v1/me/notifications", params={"min_position": s.position})).json()
        assert [n for n in page["items"] if n["kind"] == "target.escalated" and n["target_id"] == tid] == []

    # one delivery, signed with the secret shown at registration, carrying ids and a link
    requests = await eventually(lambda: got.got(path))
    payload = verified(hook["secret"], requests[0])
    assert payload["kind"] == "target.escalated" and payload["target_id"] == tid
    assert payload["campaign_id"] == s.campaign and payload["link"] == f"/v1/targets/{tid}"
    assert requests[0][0]["webhook-id"] == payload["id"]
    await asyncio.sleep(1.0)  # a second delivery would have come by now: none does
    assert len(got.got(path)) == 1
    log = (await s.secretariat.get(f"/v1/webhooks/{hook['id']}/deliveries")).json()["items"]
    assert [(d["attempt"], d["status_code"], d["outcome"]) for d in log] == [(1, 204, "delivered")]

    # reading marks it once; another person cannot mark it
    first = members[0]
    nid = next(n["id"] for n in (await first.get("/v1/me/notifications")).json()["items"] if n["target_id"] == tid)
    assert (await members[1].post(f"/v1/me/notifications/{nid}/read")).status_code == 404
    read = await first.post(f"/v1/me/notifications/{nid}/read")
    assert read.status_code == 200 and read.json()["read_at"] is not None
    again = await first.post(f"/v1/me/notifications/{nid}/read")
    assert again.json()["read_at"] == read.json()["read_at"]
    unread = (await first.get("/v1/me/notifications", params={"unread": "true"})).json()["items"]
    assert nid not in [n["id"] for n in unread]


async def test_a_receiver_that_fails_five_times_gets_it_on_the_sixth(setup: Setup, receiver) -> None:
    got, base = receiver
    s = setup
    head = await make_person(s.secretariat, name="Bí thư", role="unit_head", unit_id=s.unit)
    path = f"/fail/5/{unique('h')}"
    hook = await s.webhook(base + path, ["target.escalated"])
    await s.escalated_target(head)
    requests = await eventually(lambda: len(got.got(path)) >= 6 and got.got(path))
    ids = {verified(hook["secret"], r)["id"] for r in requests}
    assert len(ids) == 1  # every retry is the same notification, by id

    async def logged() -> Any:
        items = (await s.secretariat.get(f"/v1/webhooks/{hook['id']}/deliveries")).json()["items"]
        return items if any(d["outcome"] == "delivered" for d in items) else None

    log = sorted(await eventually(logged), key=lambda d: d["attempt"])
    assert [(d["attempt"], d["status_code"], d["outcome"]) for d in log] == [
        *[(n, 500, "retrying") for n in range(1, 6)], (6, 204, "delivered")]
    assert all(d["next_retry_at"] is not None for d in log[:5])


async def test_a_410_disables_the_webhook(setup: Setup, receiver) -> None:
    got, base = receiver
    s = setup
    head = await make_person(s.secretariat, name="Bí thư", role="unit_head", unit_id=s.unit)
    path = f"/gone/{unique('h')}"
    hook = await s.webhook(base + path, ["target.escalated"])
    await s.escalated_target(head)

    async def gone() -> Any:
        items = (await s.secretariat.get(f"/v1/webhooks/{hook['id']}/deliveries")).json()["items"]
        return items if items else None

    log = await eventually(gone)
    assert [(d["status_code"], d["outcome"]) for d in log] == [(410, "gone")]
    # disabled: the next escalation is not sent to it
    await s.escalated_target(head)
    await asyncio.sleep(1.5)
    assert len(got.got(path)) == 1


async def test_a_receiver_that_does_not_answer_holds_up_no_command(setup: Setup, receiver) -> None:
    got, base = receiver
    s = setup
    head = await make_person(s.secretariat, name="Bí thư", role="unit_head", unit_id=s.unit)
    path = f"/hang/{unique('h')}"
    hook = await s.webhook(base + path, ["target.escalated"])
    try:
        await s.escalated_target(head)
        await eventually(lambda: got.hanging() == 1)
        # while that delivery waits on the receiver, commands go on (and their own
        # escalation's delivery waits beside it)
        await s.escalated_target(head)
        await eventually(lambda: got.hanging() == 2)
    finally:
        got.release.set()

    async def delivered() -> Any:
        items = (await s.secretariat.get(f"/v1/webhooks/{hook['id']}/deliveries")).json()["items"]
        return [d for d in items if d["outcome"] == "delivered"]

    assert len(await eventually(lambda: _two(delivered))) == 2


async def _two(fetch: Any) -> Any:
    items = await fetch()
    return items if len(items) == 2 else None


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/x", "http://169.254.169.254/latest",
    "http://[::1]/x", "ftp://example.org/x", "http://user:pw@example.org/x",
])
async def test_private_addresses_are_refused_unless_allowed(url: str) -> None:
    from thidua.workflows.webhook_urls import refusal

    assert refusal(url, allow_private=False) is not None


def test_loopback_is_allowed_when_the_setting_says_so() -> None:
    from thidua.workflows.webhook_urls import refusal

    assert refusal("http://127.0.0.1:9/hook", allow_private=True) is None


async def test_the_api_refuses_a_url_it_cannot_use(setup: Setup) -> None:
    response = await setup.secretariat.post("/v1/webhooks", {"url": "ftp://example.org/x", "events": ["target.stale"]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.url"
    response = await setup.secretariat.post("/v1/webhooks", {"url": "https://example.org/x", "events": ["nope"]})
    assert response.status_code == 422


async def test_members_who_chose_email_get_one_vietnamese_mail_each(setup: Setup, mailbox) -> None:
    box, _ = mailbox
    s = setup
    by_mail = [await make_person(s.secretariat, name=f"Ủy viên thư {i}", role="standing_committee") for i in range(2)]
    inbox_only = await make_person(s.secretariat, name="Ủy viên", role="standing_committee")
    head = await make_person(s.secretariat, name="Bí thư", role="unit_head", unit_id=s.unit)
    addresses = {p.id: f"{unique('uv')}@thidua.test" for p in (*by_mail, inbox_only)}
    for person in by_mail:
        answer = s.saw(await person.put("/v1/me/preferences", {"email": addresses[person.id],
                                                               "email_kinds": ["target.escalated"]}))
        assert answer["email_kinds"] == ["target.escalated"]
    s.saw(await inbox_only.put("/v1/me/preferences", {"email": addresses[inbox_only.id], "email_kinds": []}))
    assert (await by_mail[0].get("/v1/me/preferences")).json()["email"] == addresses[by_mail[0].id]
    tid = await s.escalated_target(head)

    for person in by_mail:
        mails = await eventually(lambda p=person: box.to(addresses[p.id]))
        assert len(mails) == 1
        mail = mails[0]
        assert mail["Subject"] == "[Thi đua] Chỉ tiêu được chuyển lên Ban Thường vụ"
        plain = mail.get_body(("plain",)).get_content()
        page = mail.get_body(("html",)).get_content()
        assert f"https://thidua.test/v1/targets/{tid}" in plain and f"https://thidua.test/v1/targets/{tid}" in page
        assert "Xem chi tiết chỉ tiêu" in plain
    await asyncio.sleep(1.0)  # a repeated or stray mail would have come by now
    assert [len(box.to(addresses[p.id])) for p in by_mail] == [1, 1]
    assert box.to(addresses[inbox_only.id]) == []
    # the inbox is always on
    page = (await inbox_only.get("/v1/me/notifications", params={"min_position": s.position})).json()
    assert [n["kind"] for n in page["items"] if n["target_id"] == tid] == ["target.escalated"]


async def test_preferences_refuse_what_cannot_be_sent(setup: Setup) -> None:
    person = await make_person(setup.secretariat, name="Ủy viên", role="standing_committee")
    assert (await person.put("/v1/me/preferences", {"email": "not-an-address",
                                                    "email_kinds": ["target.escalated"]})).status_code == 422
    assert (await person.put("/v1/me/preferences", {"email_kinds": ["target.escalated"]})).status_code == 422
    assert (await person.put("/v1/me/preferences", {"email_kinds": ["nope"]})).status_code == 422


async def test_the_secretariat_lists_and_disables_webhooks_and_sees_what_failed(setup: Setup, receiver) -> None:
    got, base = receiver
    s = setup
    head = await make_person(s.secretariat, name="Bí thư", role="unit_head", unit_id=s.unit)
    kept, stopped, gone = f"/ok/{unique('h')}", f"/ok/{unique('h')}", f"/gone/{unique('h')}"
    hooks = {path: await s.webhook(base + path, ["target.escalated"]) for path in (kept, stopped, gone)}
    position = max(h["position"] for h in hooks.values())
    listed = {h["id"]: h for h in (await s.secretariat.get("/v1/webhooks", params={"min_position": position})).json()[
        "items"]}
    assert all(listed[h["id"]]["active"] and "secret" not in listed[h["id"]] for h in hooks.values())
    assert (await head.get("/v1/webhooks")).status_code == 403

    off = await s.secretariat.post(f"/v1/webhooks/{hooks[stopped]['id']}/disable", {"reason": "Ngừng dùng"})
    assert off.status_code == 200 and off.json()["active"] is False
    assert (await s.secretariat.post(f"/v1/webhooks/{hooks[stopped]['id']}/disable",
                                     {"reason": "Lần nữa"})).status_code == 409
    assert (await head.post(f"/v1/webhooks/{hooks[kept]['id']}/disable", {"reason": "x"})).status_code == 403
    assert (await s.secretariat.post("/v1/webhooks/nope/disable", {"reason": "x"})).status_code == 404
    s.position = max(s.position, off.json()["position"])
    await s.escalated_target(head)
    await eventually(lambda: got.got(kept))

    async def failed() -> Any:
        page = (await s.secretariat.get("/v1/notifications/failed", params={"campaign_id": s.campaign})).json()
        return [n for n in page["items"] if n["recipient"] == hooks[gone]["id"]]

    items = await eventually(failed)
    assert [(n["channel"], n["kind"], n["last_status_code"]) for n in items] == [("webhook", "target.escalated", 410)]
    assert got.got(stopped) == []  # disabled before the escalation: nothing sent
    assert (await head.get("/v1/notifications/failed")).status_code == 403
    listed = {h["id"]: h["active"] for h in (await s.secretariat.get(
        "/v1/webhooks", params={"campaign_id": s.campaign, "min_position": s.position})).json()["items"]}
    assert (listed[hooks[kept]["id"]], listed[hooks[stopped]["id"]], listed[hooks[gone]["id"]]) == (True, False, False)


async def test_the_daily_digest_reaches_the_secretariat_and_its_link_answers(
        setup: Setup, e2e_settings: Settings, mailbox) -> None:
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    from thidua.workflows.client import connect
    from thidua.workflows.digest_workflow import DailyDigestWorkflow, DigestRequest
    from thidua.workflows.webhook_workflow import webhooks_queue

    s = setup
    clerk = await make_person(s.secretariat, name="Chuyên viên", role="secretariat")
    address = f"{unique('cv')}@thidua.test"
    s.saw(await clerk.put("/v1/me/preferences", {"email": address, "email_kinds": ["digest.daily"]}))
    head = await make_person(s.secretariat, name="Bí thư", role="unit_head", unit_id=s.unit)
    tid = await s.escalated_target(head)
    # as of 15 days on, nothing moved for more than the campaign's stale_after (P14D)
    as_of = datetime.now(timezone.utc) + timedelta(days=15)
    client = await connect(e2e_settings.temporal_address, e2e_settings.temporal_namespace)
    await eventually(lambda: _target_listed(s, tid))
    result = await client.execute_workflow(DailyDigestWorkflow.run, DigestRequest(s.campaign, as_of.isoformat()),
                                           id=unique("digest"), task_queue=webhooks_queue(e2e_settings.task_queue))
    day = as_of.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date().isoformat()
    assert result in (f"recorded {day}", f"already {day}")

    async def digest_note() -> Any:
        page = (await clerk.get("/v1/me/notifications")).json()
        return [n for n in page["items"] if n["kind"] == "digest.daily" and n["campaign_id"] == s.campaign]

    notes = await eventually(digest_note)
    assert notes[0]["link"] == f"/v1/campaigns/{s.campaign}/digests/{day}" and notes[0]["target_id"] is None
    digest = (await clerk.get(notes[0]["link"])).json()
    assert digest["day"] == day
    assert tid in next(u for u in digest["units"] if u["unit_id"] == s.unit)["stale"]
    assert (await head.get(notes[0]["link"])).status_code == 403
    assert (await clerk.get(f"/v1/campaigns/{s.campaign}/digests/2001-01-01")).status_code == 404
    page = (await head.get("/v1/me/notifications")).json()
    assert [n for n in page["items"] if n["kind"] == "digest.daily"] == []
    # by e-mail too, for who chose it: the counts per unit and the link
    mails = await eventually(lambda: mailbox[0].to(address))
    plain = mails[0].get_body(("plain",)).get_content()
    assert mails[0]["Subject"] == "[Thi đua] Tổng hợp hằng ngày: chỉ tiêu quá hạn và lâu chưa cập nhật"
    assert "Phường Ngô Quyền: " in plain and "chỉ tiêu lâu chưa cập nhật" in plain
    assert f"https://thidua.test/v1/campaigns/{s.campaign}/digests/{day}" in plain


async def _target_listed(s: Setup, tid: str) -> bool:
    response = await s.secretariat.get(f"/v1/targets/{tid}")
    return response.status_code == 200


async def test_the_api_metrics_show_the_outbox_backlog_and_what_was_given_up(setup: Setup, receiver) -> None:
    import re

    got, base = receiver
    s = setup
    head = await make_person(s.secretariat, name="Bí thư", role="unit_head", unit_id=s.unit)
    hook = await s.webhook(base + f"/gone/{unique('h')}", ["target.escalated"])
    await s.escalated_target(head)

    async def failed() -> Any:
        page = (await s.secretariat.get("/v1/notifications/failed", params={"campaign_id": s.campaign})).json()
        return [n for n in page["items"] if n["recipient"] == hook["id"]]

    await eventually(failed)
    text = (await s.secretariat.get("/metrics")).text

    def sample(name: str, channel: str) -> float:
        found = re.search(rf'^{name}\{{channel="{channel}"\}} ([0-9.e+]+)$', text, re.M)
        assert found, f"no {name}{{channel={channel}}} in /metrics"
        return float(found.group(1))

    assert sample("thidua_notifications_failed", "webhook") >= 1
    for channel in ("email", "webhook"):
        assert sample("thidua_notifications_backlog", channel) >= 0
        assert sample("thidua_notifications_oldest_pending_seconds", channel) >= 0


async def test_the_commit_to_receiver_bench_measures_every_escalation(setup: Setup, api_server, e2e_settings) -> None:
    """bench/notifications.py's latency measurement on the e2e stack (speed is `make bench`'s)."""
    from bench.notifications import commit_to_receiver

    s = setup
    head = await make_person(s.secretariat, name="Bí thư", role="unit_head", unit_id=s.unit)
    targets = []
    for _ in range(2):
        body = s.saw(await s.secretariat.post(f"/v1/campaigns/{s.campaign}/targets", {
            "key": unique("k"), "unit_id": s.unit, "title": "Đo độ trễ", "area": "GPMB",
            "deadline": (date.today() + timedelta(days=90)).isoformat(), "points": 5}))
        targets.append(body["target"]["id"])
    result = await commit_to_receiver(api_server.url, s.secretariat.token, s.campaign, {s.unit: head.token},
                                      {s.unit: targets}, seconds=60, settle_timeout=60,
                                      database_url=e2e_settings.database_url,
                                      temporal_address=e2e_settings.temporal_address,
                                      namespace=e2e_settings.temporal_namespace)
    assert (result["expected"], result["delivered"], result["command_errors"], result["bad_signatures"]) == (
        2, 2, 0, 0)
    assert result["p99_ms"] is not None and result["p99_ms"] >= result["p50_ms"] > 0
    # where the time went: every part measured, and each batch's first try was local
    assert all(part["p50_ms"] is not None for name, part in result["split"].items() if name != "started_to_activity")
    assert result["batches"] >= 1 and result["local_first_tries"] == result["batches"]
