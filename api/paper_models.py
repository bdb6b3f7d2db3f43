"""Response models of the paper trail (comments and evidence files): every field declared."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from thidua.api.models import AuditActor, Output


class CommentOut(Output):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "position": 812, "kind": "urge", "body": "Đề nghị báo cáo kết quả trước ngày 30/6/2022",
        "author": {"id": "u-vp", "name": "Văn phòng Thành ủy", "role": "secretariat"},
        "occurred_at": "2022-06-20T08:00:00+00:00"}]})
    position: int = Field(description="The global position of its `Commented` event (also its id)")
    kind: Literal["comment", "reply", "urge", "directive"]
    body: str
    author: AuditActor
    occurred_at: datetime


class CommentPage(Output):
    items: list[CommentOut]
    next_cursor: str | None = None


class EvidenceOut(Output):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "name": "bien-ban.pdf",
        "size": 48213, "content_type": "application/pdf", "position": 815}]})
    sha256: str = Field(description="The file's sha256: its name in the store and in `EvidenceAttached`")
    name: str = Field(description="The file name as uploaded (without folders)")
    size: int
    content_type: str = Field(description="Sniffed from the file's bytes")
    position: int = Field(description="The global position of the `EvidenceAttached` event")
    attached_by: AuditActor | None = None
    attached_at: datetime | None = None


class EvidencePage(Output):
    items: list[EvidenceOut]
    next_cursor: str | None = None
