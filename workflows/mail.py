"""E-mail notifications over SMTP (`THIDUA_SMTP_URL`, aiosmtplib): a Vietnamese
subject and body, plain text and HTML, with a link to the target. Like webhooks, a
mail carries ids and a link, no more (whoever follows the link signs in to read)."""

from __future__ import annotations

import email.policy
import html
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import aiosmtplib

from thidua.domain.notifications import NOTICES
from thidua.domain.values import DEFAULT_TIMEZONE

_TITLES = {n.kind: n.title_vi for n in NOTICES}
_WIRE = email.policy.SMTP.clone(max_line_length=998)  # RFC 5322's limit: headers are not folded


@dataclass(frozen=True)
class Mailer:
    """`smtp://[user:password@]host[:port]` (STARTTLS when the server offers it) or
    `smtps://...` (TLS from the start)."""

    url: str
    sender: str
    public_url: str  # the links' base: where people reach the API and its pages

    def message(self, address: str, note: Any, lines: tuple[str, ...] = ()) -> EmailMessage:
        """`lines`: what the notice says besides its title (the daily digest's counts per unit)."""
        title = _TITLES.get(note["kind"], note["kind"])
        link = self.public_url.rstrip("/") + note["link"]
        when = note["occurred_at"].astimezone(ZoneInfo(DEFAULT_TIMEZONE)).strftime("%H:%M ngày %d/%m/%Y")
        # a target's notice links to the target; the daily digest to the digest
        see = "Xem chi tiết chỉ tiêu" if note["target_id"] else "Xem bản tổng hợp"
        msg = EmailMessage()
        msg["Subject"] = f"[Thi đua] {title}"
        msg["From"] = self.sender
        msg["To"] = address
        msg["Message-ID"] = f"<{note['notification_id']}@thidua>"  # stable: a mail client drops a repeat
        said = "".join(f"{line}\n" for line in lines) + ("\n" if lines else "")
        text = (f"{title}\n\nĐợt thi đua: {note['campaign_id']}\nThời điểm: {when}\n\n{said}"
                f"{see}: {link}\n\nThư tự động từ hệ thống theo dõi thi đua; vui lòng không trả lời.\n")
        msg.set_content(text)
        msg.add_alternative(
            f"<p><strong>{html.escape(title)}</strong></p><p>Đợt thi đua: {html.escape(note['campaign_id'])}<br>"
            f"Thời điểm: {html.escape(when)}</p>"
            + ("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>" if lines else "")
            + f"<p><a href=\"{html.escape(link)}\">{see}</a></p>"
            "<p><small>Thư tự động từ hệ thống theo dõi thi đua; vui lòng không trả lời.</small></p>",
            subtype="html")
        return msg

    async def send(self, address: str, note: Any, lines: tuple[str, ...] = ()) -> None:
        parts = urlsplit(self.url)
        tls = parts.scheme == "smtps"
        # Flattened here, not by aiosmtplib (policy SMTP, lines of 78): Python's folding of a
        # long non-ASCII header drops the space between two encoded words, so a Vietnamese
        # subject longer than a line arrived with words run together ("chỉtiêu").
        wire = self.message(address, note, lines).as_bytes(policy=_WIRE)
        await aiosmtplib.send(
            wire, sender=self.sender, recipients=[address], hostname=parts.hostname or "localhost",
            port=parts.port or (465 if tls else 25), use_tls=tls, start_tls=None if not tls else False,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None, timeout=20)


def digest_lines(digest: Any, unit_name: Any) -> tuple[str, ...]:
    """The daily digest's counts, one line per unit: ids and counts, no more."""
    return tuple(f"{unit_name(u['unit_id'])}: {len(u['overdue'])} chỉ tiêu quá hạn, "
                 f"{len(u['stale'])} chỉ tiêu lâu chưa cập nhật" for u in digest.units)


def escalation_age_line(age: timedelta) -> str:
    """An escalation past its SLA says how long it has waited."""
    days, hours = age.days, age.seconds // 3600
    return f"Kiến nghị đã chờ xử lý {days} ngày {hours} giờ" if days else f"Kiến nghị đã chờ xử lý {hours} giờ"
