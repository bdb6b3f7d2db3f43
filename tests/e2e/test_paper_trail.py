"""The paper trail of a target over HTTP, on the real stack (PostgreSQL, Temporal, the
worker and the projector): comments by each role, the coordinating unit's reads and
replies, evidence files in and out in constant memory, bad input refused with nothing
recorded, and a changed byte of a stored file found by the audit verification."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest

from tests.e2e.conftest import Person, make_person, register_unit, unique
from thidua.dburl import asyncpg_dsn
from thidua.projections.evidence_files import READ_AHEAD
from thidua.settings import Settings

MIB = 1024 * 1024


@dataclass
class Story:
    tid: str
    cid: str
    owner: Person
    coordinator: Person
    stranger: Person
    committee: Person
    inspector: Person
    position: int


async def target_story(secretariat: Person, *, coordinated: bool = True) -> Story:
    """A target owned by one ward; with `coordinated`, escalated and resolved by the
    Standing Committee naming a second ward to coordinate."""
    owner_unit, coord_unit, other_unit = unique("phuong-ngo-quyen"), unique("phuong-dong-da"), unique("phuong-hoi-hop")
    for unit, name in ((owner_unit, "Phường Ngô Quyền"), (coord_unit, "Phường Đống Đa"), (other_unit, "Phường Hội Hợp")):
        await register_unit(secretariat, unit, name)
    cid = unique("giay-to")
    created = await secretariat.post("/v1/campaigns", {"id": cid, "name": "Đợt cao điểm", "starts_on": "2022-01-01",
                                                       "ends_on": (date.today() + timedelta(days=365)).isoformat()})
    assert created.status_code == 201, created.text
    assigned = await secretariat.post(f"/v1/campaigns/{cid}/targets", {
        "key": unique("k"), "unit_id": owner_unit, "title": "Chỉnh trang đô thị phường Ngô Quyền", "area": "Đô thị",
        "deadline": (date.today() + timedelta(days=60)).isoformat(), "points": 10})
    assert assigned.status_code == 201, assigned.text
    tid = assigned.json()["target"]["id"]
    owner = await make_person(secretariat, name="Bí thư Ngô Quyền", role="unit_head", unit_id=owner_unit)
    coordinator = await make_person(secretariat, name="Bí thư Đống Đa", role="unit_head", unit_id=coord_unit)
    stranger = await make_person(secretariat, name="Bí thư Hội Hợp", role="unit_head", unit_id=other_unit)
    committee = await make_person(secretariat, name="Nguyễn Hoài Nam", role="standing_committee")
    inspector = await make_person(secretariat, name="Ủy ban Kiểm tra", role="inspector")
    position = assigned.json()["position"]
    if coordinated:
        for step, body in (("block", {"reason": "Vướng mặt bằng"}), ("escalate", {})):
            answer = await owner.post(f"/v1/targets/{tid}/{step}", body)
            assert answer.status_code == 200, answer.text
        resolved = await committee.post(f"/v1/targets/{tid}/resolve", {
            "directive": "Phường Đống Đa phối hợp", "coordinating_unit_ids": [coord_unit]})
        assert resolved.status_code == 200, resolved.text
        position = resolved.json()["position"]
    return Story(tid, cid, owner, coordinator, stranger, committee, inspector, position)


async def comment_count(person: Person, tid: str, position: int) -> int:
    """Once the projections have passed `position`."""
    answer = await person.get(f"/v1/targets/{tid}", params={"min_position": position})
    return answer.json()["comment_count"]


# ------------------------------------------------------------------ comments
async def test_each_role_writes_the_kinds_of_comment_it_may_and_no_other(
    secretariat: Person, worker: None, projector: None
) -> None:
    s = await target_story(secretariat)
    url = f"/v1/targets/{s.tid}/comments"
    allowed = [(secretariat, "urge", "Đề nghị báo cáo trước 30/6"), (secretariat, "comment", "Đã nhận báo cáo"),
               (s.committee, "directive", "Tập trung hoàn thành trong quý III"),
               (s.owner, "reply", "Đơn vị xin tiếp thu"), (s.owner, "comment", "Đã họp dân"),
               (s.coordinator, "reply", "Đống Đa sẽ cử cán bộ phối hợp")]
    refused = [(s.owner, "directive"), (s.owner, "urge"), (secretariat, "directive"), (s.committee, "urge"),
               (s.coordinator, "urge"), (s.inspector, "comment"), (s.stranger, "comment"), (s.stranger, "reply")]
    last = 0
    for person, kind, body in allowed:
        answer = await person.post(url, {"kind": kind, "body": body})
        assert answer.status_code == 201, (person.name, kind, answer.text)
        last = answer.json()["position"]
    for person, kind in refused:
        answer = await person.post(url, {"kind": kind, "body": "không được phép"})
        assert answer.status_code == 403, (person.name, kind, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert await comment_count(secretariat, s.tid, last) == len(allowed)

    page1 = await s.coordinator.get(url, params={"limit": 4, "min_position": last})
    assert page1.status_code == 200, page1.text
    page2 = await s.coordinator.get(url, params={"limit": 4, "cursor": page1.json()["next_cursor"]})
    items = page1.json()["items"] + page2.json()["items"]
    assert page2.json()["next_cursor"] is None
    assert [(i["author"]["id"], i["kind"], i["body"]) for i in items] == [
        (p.id, k, b) for p, k, b in allowed]
    # In the timeline and the audit trail, with who and from which command.
    history = (await s.owner.get(f"/v1/targets/{s.tid}/history",
                                 params={"limit": 500, "min_position": last})).json()["items"]
    assert [e["changes"]["kind"] for e in history if e["event_type"] == "Commented"] == [k for _, k, _ in allowed]
    urge = (await s.owner.get(f"/v1/targets/{s.tid}", params={"min_position": last})).json()["last_urge"]
    assert urge["body"] == "Đề nghị báo cáo trước 30/6" and urge["by"] == secretariat.name
    # The unit head is told of the urge and of the directive (target.urged, target.directive).
    inbox = (await s.owner.get("/v1/me/notifications", params={"min_position": last})).json()["items"]
    kinds = sorted(n["kind"] for n in inbox if n["target_id"] == s.tid)
    assert kinds == ["escalation.resolved", "target.directive", "target.urged"]  # (the first: the resolve)


async def test_bad_comments_are_refused_and_record_nothing(secretariat: Person, worker: None, projector: None) -> None:
    s = await target_story(secretariat, coordinated=False)
    url = f"/v1/targets/{s.tid}/comments"
    for body in ({"kind": "comment", "body": "x" * 4001}, {"kind": "comment", "body": "   "},
                 {"kind": "memo", "body": "loại không có"}, {"body": "thiếu loại"}):
        answer = await secretariat.post(url, body)
        assert answer.status_code == 422, answer.text
    once = await secretariat.post(url, {"kind": "urge", "body": "Nhắc lần 1"}, headers={"Idempotency-Key": "u-1"})
    again = await secretariat.post(url, {"kind": "urge", "body": "Nhắc lần 1"}, headers={"Idempotency-Key": "u-1"})
    assert once.status_code == again.status_code == 201 and once.json() == again.json()
    assert await comment_count(secretariat, s.tid, once.json()["position"]) == 1
    cancelled = await secretariat.post(f"/v1/targets/{s.tid}/cancel", {"reason": "Trùng chỉ tiêu"})
    assert cancelled.status_code == 200, cancelled.text
    closed = await secretariat.post(url, {"kind": "comment", "body": "Sau khi hủy"})
    assert closed.status_code == 409, closed.text
    assert await comment_count(secretariat, s.tid, cancelled.json()["position"]) == 1


async def test_a_coordinating_unit_reads_and_replies_and_changes_nothing_else(
    secretariat: Person, worker: None, projector: None
) -> None:
    s = await target_story(secretariat)
    for path in ("", "/history", "/comments", "/evidence"):
        answer = await s.coordinator.get(f"/v1/targets/{s.tid}{path}", params={"min_position": s.position})
        assert answer.status_code == 200, (path, answer.text)
        assert (await s.stranger.get(f"/v1/targets/{s.tid}{path}")).status_code == 403, path
    assert (await s.coordinator.get(f"/v1/targets/{s.tid}")).json()["restricted"] is False
    for step, body in (("progress", {"percent": 50}), ("complete", {"result": "xong"}), ("block", {"reason": "x"}),
                       ("cancel", {"reason": "x"})):
        answer = await s.coordinator.post(f"/v1/targets/{s.tid}/{step}", body)
        assert answer.status_code == 403, (step, answer.text)
    upload = await s.coordinator.post(f"/v1/targets/{s.tid}/evidence", files={"file": ("a.pdf", pdf_bytes(10))})
    assert upload.status_code == 403, upload.text
    assert (await s.coordinator.post(f"/v1/targets/{s.tid}/comments",
                                     {"kind": "reply", "body": "Đã nhận"})).status_code == 201


# ------------------------------------------------------------------ evidence
def pdf_bytes(size: int, seed: bytes = b"") -> bytes:
    """A PDF signature followed by `size` bytes in all (content that does not compress)."""
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + seed
    return head + os.urandom(max(0, size - len(head)))


class PdfStream(io.RawIOBase):
    """A `size`-byte PDF produced a block at a time (the test never holds it whole)."""

    def __init__(self, size: int) -> None:
        self.size, self.sent = size, 0
        self.digest = hashlib.sha256()
        self.block = b"%PDF-1.7\n" + os.urandom(MIB - 9)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.size - self.sent)
        if n <= 0:
            return 0
        offset = self.sent % len(self.block)
        n = min(n, len(self.block) - offset)
        buffer[:n] = self.block[offset:offset + n]
        self.digest.update(self.block[offset:offset + n])
        self.sent += n
        return n


@pytest.fixture
def memory() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


async def test_a_20_mb_file_goes_in_and_out_in_constant_memory(
    secretariat: Person, worker: None, projector: None, memory: None
) -> None:
    s = await target_story(secretariat, coordinated=False)
    size = 20 * MIB
    source = PdfStream(size)
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    upload = await s.owner.post(f"/v1/targets/{s.tid}/evidence",
                                files={"file": ("Biên bản nghiệm thu.pdf", io.BufferedReader(source, MIB), "text/plain")})
    assert upload.status_code == 201, upload.text
    digest = source.digest.hexdigest()
    entry = upload.json()
    assert entry["sha256"] == digest and entry["size"] == size and entry["content_type"] == "application/pdf"
    assert entry["name"] == "Biên bản nghiệm thu.pdf"

    got, received = hashlib.sha256(), 0
    async with s.owner.http.stream("GET", f"/v1/targets/{s.tid}/evidence/{digest}", headers=s.owner.headers) as r:
        assert r.status_code == 200
        assert r.headers["content-disposition"].startswith("attachment;")
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["content-type"] == "application/pdf"
        async for block in r.aiter_bytes():
            got.update(block)
            received += len(block)
    peak = tracemalloc.get_traced_memory()[1] - base
    assert got.hexdigest() == digest and received == size
    # Upload and download together allocated a small multiple of one read (READ_AHEAD
    # chunks, two groups in flight), not the file.
    assert peak < 3 * READ_AHEAD * MIB < size, f"peak {peak / MIB:.1f} MiB"


async def test_evidence_is_stored_once_listed_named_by_completion_and_read_by_readers_only(
    secretariat: Person, worker: None, projector: None, api_database_url: str
) -> None:
    s = await target_story(secretariat)
    other = await target_story(secretariat, coordinated=False)
    content = pdf_bytes(300_000)
    digest = hashlib.sha256(content).hexdigest()
    first = await s.owner.post(f"/v1/targets/{s.tid}/evidence", files={"file": ("bao-cao.pdf", content)})
    again = await s.owner.post(f"/v1/targets/{s.tid}/evidence", files={"file": ("bao-cao (1).pdf", content)})
    elsewhere = await other.owner.post(f"/v1/targets/{other.tid}/evidence", files={"file": ("b.pdf", content)})
    assert first.status_code == 201 and again.status_code == 200 and elsewhere.status_code == 201, again.text
    assert again.json()["position"] == first.json()["position"]
    small = pdf_bytes(1000)
    keyed = [await s.owner.post(f"/v1/targets/{s.tid}/evidence", files={"file": ("c.pdf", small)},
                                headers={"Idempotency-Key": "ev-1"}) for _ in range(2)]
    assert keyed[0].status_code == keyed[1].status_code == 201 and keyed[0].json() == keyed[1].json()
    assert keyed[1].headers.get("idempotent-replayed") == "true"
    conn = await asyncpg.connect(asyncpg_dsn(api_database_url))
    try:
        assert await conn.fetchval("SELECT count(*) FROM evidence_files WHERE sha256 = $1", digest) == 1
        assert await conn.fetchval("SELECT sum(length(data)) FROM evidence_file_chunks WHERE sha256 = $1",
                                   digest) == len(content)
    finally:
        await conn.close()

    listed = await s.coordinator.get(f"/v1/targets/{s.tid}/evidence", params={"min_position": keyed[0].json()["position"]})
    assert [(e["sha256"], e["name"], e["size"]) for e in listed.json()["items"]] == [
        (digest, "bao-cao.pdf", len(content)), (hashlib.sha256(small).hexdigest(), "c.pdf", len(small))]
    for reader in (s.coordinator, s.inspector, s.committee):
        assert (await reader.get(f"/v1/targets/{s.tid}/evidence/{digest}")).content == content
    assert (await s.stranger.get(f"/v1/targets/{s.tid}/evidence/{digest}")).status_code == 403
    assert (await s.owner.get(f"/v1/targets/{s.tid}/evidence/{'0' * 64}")).status_code == 404

    unknown = await s.owner.post(f"/v1/targets/{s.tid}/complete", {"result": "Xong", "evidence_sha256": ["a" * 64]})
    assert unknown.status_code == 422 and "evidence_sha256" in unknown.text
    done = await s.owner.post(f"/v1/targets/{s.tid}/complete", {"result": "Xong", "evidence_sha256": [digest]})
    assert done.status_code == 200, done.text
    assert done.json()["target"]["evidence_sha256"] == [digest]


def exe_bytes() -> bytes:
    """A Windows executable's signature (MZ ... PE) padded out."""
    return b"MZ" + b"\x90\x00" * 30 + b"\x00" * 0x20 + b"PE\x00\x00" + os.urandom(4000)


async def test_bad_files_are_refused_and_record_nothing(secretariat: Person, worker: None, projector: None) -> None:
    s = await target_story(secretariat, coordinated=False)
    url = f"/v1/targets/{s.tid}/evidence"
    cases = [
        (("quyet-dinh.pdf", exe_bytes(), "application/pdf"), 415),  # an executable renamed .pdf
        (("ghi-chu.pdf", b"just some text, not a PDF", "application/pdf"), 415),
        (("trong.pdf", b"", "application/pdf"), 422),
    ]
    for file, status in cases:
        answer = await s.owner.post(url, files={"file": file})
        assert answer.status_code == status, (file[0], answer.text)
        assert answer.json()["errors"][0]["field"] == "body.file"
    no_file = await s.owner.post(url, data={"other": "x"}, files={"note": ("n.txt", b"x")})
    assert no_file.status_code == 422, no_file.text
    target = (await s.owner.get(f"/v1/targets/{s.tid}", params={"min_position": s.position})).json()
    assert target["evidence_count"] == 0 and target["version"] == 1


async def test_a_file_over_the_cap_is_refused(secretariat: Person, worker: None, projector: None,
                                             e2e_settings: Settings) -> None:
    s = await target_story(secretariat, coordinated=False)
    too_big = e2e_settings.evidence_max_bytes + 1
    answer = await s.owner.post(f"/v1/targets/{s.tid}/evidence",
                                files={"file": ("lon.pdf", io.BufferedReader(PdfStream(too_big), MIB))})
    assert answer.status_code == 413, answer.text
    assert (await s.owner.get(f"/v1/targets/{s.tid}", params={"min_position": s.position})
            ).json()["evidence_count"] == 0


async def test_audit_verify_finds_and_names_a_changed_byte_of_a_stored_file(
    secretariat: Person, worker: None, projector: None, api_database_url: str
) -> None:
    s = await target_story(secretariat, coordinated=False)
    content = pdf_bytes(50_000, seed=zlib.compress(b"tamper"))
    upload = await s.owner.post(f"/v1/targets/{s.tid}/evidence", files={"file": ("x.pdf", content)})
    assert upload.status_code == 201, upload.text
    digest, position = upload.json()["sha256"], upload.json()["position"]
    await secretariat.get(f"/v1/targets/{s.tid}/evidence", params={"min_position": position})
    before = (await secretariat.get("/v1/audit/verify")).json()
    assert before["ok"] is True and before["files"]["bad"] == []
    conn = await asyncpg.connect(asyncpg_dsn(api_database_url))
    flip = "UPDATE evidence_file_chunks SET data = overlay(data PLACING $2 FROM 1000 FOR 1) WHERE sha256 = $1 AND seq = 0"
    try:
        original = await conn.fetchval("SELECT substring(data FROM 1000 FOR 1) FROM evidence_file_chunks "
                                       "WHERE sha256 = $1 AND seq = 0", digest)
        await conn.execute(flip, digest, bytes([original[0] ^ 0x01]))
        after = (await secretariat.get("/v1/audit/verify")).json()
        assert after["ok"] is False
        assert after["files"]["bad"] == [{"sha256": digest, "position": position, "problem": "changed"}]
        await conn.execute(flip, digest, original)
        row = await conn.fetchrow("DELETE FROM evidence_files WHERE sha256 = $1 RETURNING *", digest)
        gone = (await secretariat.get("/v1/audit/verify")).json()
        assert gone["ok"] is False
        assert gone["files"]["bad"] == [{"sha256": digest, "position": position, "problem": "missing"}]
        await conn.execute("INSERT INTO evidence_files VALUES ($1, $2, $3, $4, $5)", *row.values())
    finally:
        await conn.execute(flip, digest, original)  # (sets the original byte again: harmless when restored)
        await conn.close()
    assert (await secretariat.get("/v1/audit/verify")).json()["ok"] is True


async def test_the_evidence_bench_measures_the_api_beside_raw_postgresql(
    secretariat: Person, worker: None, projector: None, api_server: Any, api_database_url: str
) -> None:
    from bench.evidence import MIB as BENCH_MIB, measure_evidence

    s = await target_story(secretariat, coordinated=False)
    size = int(os.environ.get("BENCH_EVIDENCE_MIB", "2")) * BENCH_MIB  # 20 for the figure of the issue
    figures = await measure_evidence(api_server.url, s.owner.token, s.tid, api_database_url, size=size, rounds=1)
    assert all(figures[k] > 0 for k in ("upload_mib_s", "download_mib_s", "raw_write_mib_s", "raw_read_mib_s"))
    assert {"upload_vs_raw", "download_vs_raw"} <= figures.keys()
    print("evidence bench:", figures)
