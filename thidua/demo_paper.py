"""The demo's paper trail on the current drive: comments, an urge, a directive, a reply and
evidence files.

The evidence files are small PDFs and a PNG generated here (no binary file in the
repository), stored through the same evidence store the API's upload uses
(thidua.projections.evidence_files) and named on the target by `attach_evidence`, the
command the upload sends. Every command has a fixed id (`demo:<key>:<what>`), so loading
again records nothing twice.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from thidua import demo_data as D
from thidua.projections import evidence_files


# ----------------------------------------------------------------------------- generated files
def minimal_pdf(lines: list[str]) -> bytes:
    """A valid one-page PDF showing `lines` (ASCII: the standard Helvetica font has no
    Vietnamese glyphs, so the page carries the file's Latin summary)."""
    text = "".join(f"({line.replace(chr(92), '').replace('(', '').replace(')', '')}) Tj T* " for line in lines)
    stream = f"BT /F1 12 Tf 14 TL 50 780 Td {text}ET".encode("ascii", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def minimal_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid PNG of one colour (a stand-in for a site photo)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


@dataclass(frozen=True)
class DemoFile:
    key: str  # the command id's suffix
    name: str
    content_type: str
    data: bytes

    def args(self) -> dict[str, Any]:
        """`attach_evidence`'s arguments, as the upload route gives them."""
        return {"sha256": hashlib.sha256(self.data).hexdigest(), "name": self.name, "size": len(self.data),
                "content_type": self.content_type}


# The evidence the unit attaches after its first report was returned for incomplete evidence.
RETURNED_EVIDENCE = (
    DemoFile("bien-ban", "Biên bản nghiệm thu, bàn giao.pdf", "application/pdf",
             minimal_pdf(["Bien ban nghiem thu, ban giao", "Thanh uy Vinh Yen", "Dot thi dua hien tai"])),
    DemoFile("anh-hien-truong", "Ảnh chụp hiện trường.png", "image/png", minimal_png(64, 48, (46, 125, 50))),
)
# The report attached to a target completed on time.
REPORT_EVIDENCE = DemoFile("bao-cao", "Báo cáo kết quả thực hiện.pdf", "application/pdf",
                           minimal_pdf(["Bao cao ket qua thuc hien chi tieu", "Thanh uy Vinh Yen"]))
ALL_FILES = (*RETURNED_EVIDENCE, REPORT_EVIDENCE)


async def store_files(app: Any, files: tuple[DemoFile, ...] = ALL_FILES) -> None:
    """The files' bytes into the evidence store of the event store's database (before a
    command names them, as the upload route does)."""
    env = app.env
    pool = await asyncpg.create_pool(
        host=env["POSTGRES_HOST"], port=int(env["POSTGRES_PORT"]), user=env["POSTGRES_USER"],
        password=env.get("POSTGRES_PASSWORD") or None, database=env["POSTGRES_DBNAME"], min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            if await conn.fetchval("SELECT to_regclass($1)", evidence_files.FILES) is None:
                await evidence_files.ensure_tables(conn)
        for f in files:
            facts = f.args()
            view = memoryview(f.data)
            position = 0

            def read(n: int, view: memoryview = view) -> bytes:
                nonlocal position
                block = bytes(view[position:position + n])
                position += len(block)
                return block

            await evidence_files.store(pool, facts["sha256"], facts["size"], f.content_type, read)
    finally:
        await pool.close()


# ----------------------------------------------------------------------------- comments
@dataclass(frozen=True)
class Remark:
    """One comment on the first target of a story: kind, who says it, what."""

    story: str
    what: str  # the command id's suffix
    kind: str
    author: Callable[[str], D.UserFact]  # from the target's unit id
    body: str


def _secretariat(_: str) -> D.UserFact:
    return D.SECRETARIAT


def _committee(_: str) -> D.UserFact:
    return D.BINH


REMARKS = (
    Remark("overdue", "urge", "urge", _secretariat,
           "Chỉ tiêu đã quá hạn: đề nghị đơn vị khẩn trương hoàn thành, báo cáo kết quả về Văn phòng Thành ủy"),
    Remark("overdue", "reply", "reply", D.head_of,
           "Đơn vị đã tập trung nhân lực, dự kiến hoàn thành trong tháng này và báo cáo kết quả"),
    Remark("escalated_open", "directive", "directive", _committee,
           "Ban Thường vụ chỉ đạo: đơn vị chủ trì phối hợp với các cơ quan liên quan tháo gỡ ngay vướng mắc, "
           "báo cáo trước phiên họp thường kỳ"),
    Remark("in_progress", "comment", "comment", _secretariat,
           "Đề nghị đơn vị cập nhật tiến độ hằng tuần kèm số liệu cụ thể"),
    Remark("returned_accepted", "comment", "comment", _secretariat,
           "Đã nhận biên bản nghiệm thu, bàn giao và ảnh chụp hiện trường bổ sung"),
)

Send = Callable[[str, str, str, str, dict[str, Any]], Awaitable[None]]


async def add_remarks(plans: list[Any], applied_of: Callable[[str], Awaitable[set[str] | None]], send: Send,
                      actor_of: Callable[[D.UserFact], Any]) -> int:
    """The REMARKS on the first target of each story; `send(target_id, command, actor,
    command_id, args)`. The number of commands sent."""
    sent = 0
    for remark in REMARKS:
        plan = next((p for p in plans if p.scenario == remark.story), None)
        if plan is None:
            continue
        command_id = f"demo:{plan.fact.key}:{remark.what}"
        if command_id in (await applied_of(plan.target_id) or set()):
            continue
        await send(plan.target_id, "comment", actor_of(remark.author(plan.fact.unit_id)), command_id,
                   {"kind": remark.kind, "body": remark.body})
        sent += 1
    return sent


__all__ = ["ALL_FILES", "REMARKS", "REPORT_EVIDENCE", "RETURNED_EVIDENCE", "DemoFile", "add_remarks",
           "minimal_pdf", "minimal_png", "store_files"]
