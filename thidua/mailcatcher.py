"""A local SMTP server for `thidua up` (aiosmtpd): every e-mail thidua sends is kept in a
Maildir under `$THIDUA_DATA_DIR/mail` (one file per message in `new/`, readable as it is or
with any mail reader: `mutt -f <dir>`), so a newcomer sees an escalation e-mail arrive
without a mail server. It listens on 127.0.0.1 only and relays nothing."""

from __future__ import annotations

import mailbox
import threading
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from thidua.embedded import free_port

# the demo's Standing Committee members get these by e-mail (thidua.up sets their preferences)
DEMO_MAIL_KINDS = ("target.escalated", "escalation.reminder")
DEMO_MAIL_DOMAIN = "thidua.local"


class _KeepInMaildir:
    def __init__(self, box: mailbox.Maildir) -> None:
        self.box = box
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        with self.lock:
            self.box.add(envelope.content)
        return "250 kept"


class MailCatcher:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.parent.mkdir(parents=True, exist_ok=True)
        self.box = mailbox.Maildir(str(directory), create=True)
        self.controller = Controller(_KeepInMaildir(self.box), hostname="127.0.0.1", port=free_port())

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.controller.port}"

    def start(self) -> MailCatcher:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def count(self) -> int:
        return len(self.box)
