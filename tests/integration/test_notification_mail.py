"""An escalation past its SLA is mailed again with its age, to a real SMTP server (aiosmtpd):
the worker's delivery path from the outbox row to the mailbox."""

from __future__ import annotations

import secrets
import threading
from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller

from thidua.domain.preferences import Preferences
from thidua.domain.user import User
from thidua.domain.values import SYSTEM, Actor, Role
from thidua.embedded import free_port
from thidua.projections.projector import Projector
from thidua.workflows.mail import Mailer
from tests.integration.conftest import eventually
from tests.integration.projection_conftest import (  # noqa: F401  (fixtures)
    SECRETARIAT,
    World,
    create_read_models,
    scratch_app,
    scratch_database,
)
from tests.integration.webhook_world import escalate


class Box:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mails: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        with self.lock:
            self.mails.append(message_from_bytes(envelope.content, policy=default))
        return "250 OK"


async def test_a_reminder_mail_says_how_long_the_escalation_has_waited(scratch_database, scratch_app,
                                                                       temporal_address):
    from temporalio.client import Client

    from thidua.workflows.converter import data_converter
    from thidua.workflows.webhook_worker import WebhookService

    box = Box()
    smtp = Controller(box, hostname="127.0.0.1", port=free_port())
    smtp.start()
    world = World(scratch_app, units=4)
    member = Actor(f"sc-{world.tag}", "Ủy viên", Role.STANDING_COMMITTEE)
    world.touch(User.create(world.cmd(SECRETARIAT), user_id=member.id, name=member.name, role=member.role,
                            unit_id=None, token_hash="x", bootstrap=True))
    world.touch(Preferences.start(world.cmd(member), user_id=member.id, email=f"{member.id}@thidua.test",
                                  email_kinds=["escalation.reminder"]))
    target = escalate(world, world.assign(0))
    target.remind_escalation(world.cmd(SYSTEM, advance=timedelta(days=8, hours=2)), escalation_no=1, reminder_no=1)
    world.touch(target)
    world.save()
    await create_read_models(scratch_database)
    projector = Projector(scratch_database)
    await projector.catch_up()
    await projector.close()

    client = await Client.connect(temporal_address, data_converter=data_converter)
    service = WebhookService(client, scratch_app, scratch_database, f"mail-{secrets.token_hex(3)}",
                             poll_interval=0.3, mail=Mailer(f"smtp://127.0.0.1:{smtp.port}", "thidua@thidua.test",
                                                            "https://thidua.test"))
    await service.__aenter__()
    try:
        def mailed() -> list[Any]:
            with box.lock:
                return list(box.mails)

        mails = await eventually(mailed, timeout=60, what="the reminder mailed")
        assert len(mails) == 1 and mails[0]["To"] == f"{member.id}@thidua.test"
        assert mails[0]["Subject"] == "[Thi đua] Nhắc lại: kiến nghị quá hạn xử lý"
        assert "Kiến nghị đã chờ xử lý 8 ngày 2 giờ" in mails[0].get_body(("plain",)).get_content()
    finally:
        await service.shutdown()
        smtp.stop()
