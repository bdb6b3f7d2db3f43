"""The paper trail of a target: comments (urges, directives, replies) and evidence files.

Both are target commands of domain/lifecycle.py (`comment`, `attach_evidence`) and go
through the target's workflow like every other command (one write path); their routes
are written here rather than built by `add_command_route` because who may comment
depends on the comment's kind and on who may read the target, and evidence arrives as
a multipart upload whose bytes are stored before the command names them.

Lists come from the audit trail (thidua.projections.paper).
(No `from __future__ import annotations`: FastAPI must see the body model as a class.)
"""

import os
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from thidua.api.deps import (
    CommandCtx,
    CommandContext,
    CurrentUser,
    ReadTarget,
    ReadableTarget,
    Replay,
    ServicesDep,
    TargetId,
    cluster_leads,
    wait_for_projections,
)
from thidua.api.idempotency import MAX_KEY_LENGTH, command_id_for, request_hash
from thidua.api.models import COMMAND_BODIES, PageQuery, TargetCommandOut
from thidua.api.paper_models import CommentPage, EvidenceOut, EvidencePage
from thidua.api.problems import Problem, problem_responses
from thidua.api.readmodels import paged
from thidua.api.routes.targets import COMMAND_PROBLEMS, READ_PROBLEMS, execute_command
from thidua.api.services import Services
from thidua.domain import lifecycle as lc
from thidua.api import sniffing
from thidua.projections import evidence_files, paper

router = APIRouter(tags=["paper trail"])

CommentIn = COMMAND_BODIES[lc.COMMENT.name]
EvidenceArgsIn = COMMAND_BODIES[lc.ATTACH_EVIDENCE.name]
Sha256Path = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="The file's sha256 (lower-case hex)")]


# ------------------------------------------------------------------ comments
def comment_problem(user: Any, kind: str) -> Problem:
    allowed = ", ".join(k for k, who in lc.COMMENT_KINDS.items() if user.role in who) or "none"
    return Problem(403, f"the role {user.role} may not write a {kind} on this target (may write: {allowed})",
                   errors=[{"field": "body.kind", "message": f"{kind} is not allowed", "type": "not_allowed"}])


@dataclass(frozen=True)
class Commentable:
    """A target this person may comment on, and the other units whose heads may read it."""

    target: Any
    readers: tuple[str, ...]

    def kinds_for(self, actor: Any) -> list[str]:
        return lc.comment_kinds_for(actor, self.target.unit_id, self.readers)


async def commentable(tid: str, user: Any, services: Services, command_id: str) -> Commentable:
    """The target, if this user may comment on it at all (the kind is checked with the body)."""
    if user.role not in lc.COMMENT.roles:
        raise Problem(403, f"the role {user.role} may not comment on targets")
    target = await services.in_thread(services.domain_app.get_target, tid)
    readers = (*target.coordinating_unit_ids, *await cluster_leads(services, user, target))
    if not lc.COMMENT.allows(user.actor, target.unit_id, readers) and target.version_of_command(command_id) is None:
        raise Problem(403, "only those who may read this target comment on it")
    return Commentable(target, readers)


async def commentable_target(tid: TargetId, user: CurrentUser, services: ServicesDep, ctx: CommandCtx) -> Commentable:
    return await commentable(tid, user, services, ctx.command_id)


async def post_comment(services: Services, found: Commentable, actor: Any, command_id: str,
                       body: Any) -> dict[str, Any]:
    """The comment route's work after its checks: the JSON route and the page both run this."""
    if body.kind not in found.kinds_for(actor):
        raise comment_problem(actor, body.kind)
    return await execute_command(services, found.target, lc.COMMENT, actor, command_id, body)


@router.post("/v1/targets/{tid}/comments", status_code=201, response_model=TargetCommandOut,
             summary=lc.COMMENT.summary, responses=COMMAND_PROBLEMS, name="comment_target",
             operation_id="comment_target")
async def comment_target(tid: TargetId, body: CommentIn, ctx: CommandCtx,  # type: ignore[valid-type]
                         found: Annotated[Commentable, Depends(commentable_target)]) -> Any:
    async def act() -> dict[str, Any]:
        return await post_comment(ctx.services, found, ctx.principal.actor, ctx.command_id, body)

    return await ctx.run(lc.COMMENT.name, act, status=201, model=TargetCommandOut)


def add_list_route(segment: str, query: Any, model: type, summary: str) -> None:
    """`GET /v1/targets/{tid}/<segment>`: one page of the target's comments or files, to
    whoever may read the target (the same paging as every list)."""

    async def list_paper(tid: TargetId, user: CurrentUser, target: ReadableTarget, services: ServicesDep,
                         q: Annotated[PageQuery, Query()]) -> Any:
        await wait_for_projections(services, q.min_position)
        return await paged(segment, q.cursor, lambda after: query(services.pool, str(target.id), q.limit, after))

    name = f"list_target_{segment}"
    list_paper.__name__ = name
    router.add_api_route(f"/v1/targets/{{tid}}/{segment}", list_paper, methods=["GET"], response_model=model,
                         summary=summary, responses=READ_PROBLEMS, name=name, operation_id=name)


add_list_route("comments", paper.target_comments, CommentPage, "Comments on a target, oldest first")


# ------------------------------------------------------------------ evidence: upload
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary",
                                    "description": "PDF, PNG, JPEG, WebP or an office document"}},
        }}},
    }
}


async def parse_upload(request: Request) -> tuple[UploadFile | None, dict[str, str]]:
    """The `file` part (spooled to disk by the parser as the body streams in, None when
    absent) and the other fields. The body's size is capped before (api/middleware.py)."""
    parser = MultiPartParser(request.headers, request.stream(), max_files=1, max_fields=20)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise Problem(422, f"the body is not a valid multipart form: {exc.message}",
                      errors=[{"field": "body", "message": exc.message, "type": "multipart"}]) from None
    upload = form.get("file")
    return (upload if isinstance(upload, UploadFile) else None), {k: v for k, v in form.items() if isinstance(v, str)}


def missing_file() -> Problem:
    return Problem(422, "send the file in the multipart field `file`",
                   errors=[{"field": "body.file", "message": "missing", "type": "missing"}])


async def evidence_target(tid: TargetId, user: CurrentUser, services: ServicesDep) -> Any:
    """The Target, if this user may attach evidence to it: checked before the body is
    read (`target_for` would read it whole for the command id)."""
    if user.role not in lc.ATTACH_EVIDENCE.roles:
        raise Problem(403, f"the role {user.role} may not attach evidence")
    target = await services.in_thread(services.domain_app.get_target, tid)
    if not lc.ATTACH_EVIDENCE.allows(user.actor, target.unit_id):
        raise Problem(403, f"this target belongs to unit {target.unit_id!r}, not to yours")
    return target


def file_problem(status: int, message: str, kind: str) -> Problem:
    return Problem(status, message, errors=[{"field": "body.file", "message": message, "type": kind}])


async def inspect_upload(services: Services, upload: UploadFile) -> dict[str, Any]:
    """The file checked (not empty, under the cap, a type of the allow-list read from its
    bytes) and hashed: `{sha256, name, size, content_type}`."""
    cap = int(services.extras.get("evidence_max_bytes", 20 * 1024 * 1024))
    source = upload.file
    source.seek(0, os.SEEK_END)
    size = source.tell()
    source.seek(0)
    if size == 0:
        raise file_problem(422, "the file is empty", "empty")
    if size > cap:
        raise file_problem(413, f"the file is larger than {cap} bytes", "too_large")
    content_type = sniffing.content_type_of(source.read(sniffing.HEAD_BYTES))
    source.seek(0)
    if content_type not in lc.EVIDENCE_TYPES:
        raise file_problem(415, f"files of this kind ({content_type or 'unknown'}) are not accepted as evidence; "
                                "send a PDF, an image (PNG, JPEG, WebP) or an office document", "file_type")
    sha256, _ = await services.in_thread(evidence_files.digest_of, source.read)
    name = os.path.basename((upload.filename or "").replace("\\", "/")).strip() or f"{sha256[:12]}"
    return {"sha256": sha256, "name": name[-255:], "size": size, "content_type": content_type}


async def attach_upload(services: Services, target: Any, actor: Any, command_id: str, upload: UploadFile,
                        facts: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Store the inspected file and record `EvidenceAttached` (the JSON route and the page
    run this): (the evidence entry, HTTP status). The same file again on the same target
    records nothing and answers with the first attachment."""
    upload.file.seek(0)
    await evidence_files.store(services.pool, facts["sha256"], facts["size"], facts["content_type"],
                               upload.file.read)
    aggregate = await services.in_thread(services.domain_app.get_target, str(target.id))
    known = aggregate.evidence_files.get(facts["sha256"])
    if known is not None and aggregate.version_of_command(command_id) is None:
        position = await services.in_thread(services.domain_app.position_of, aggregate.id, known["version"])
        return {**facts, "name": known["name"], "position": position or 0}, 200
    result = await execute_command(services, target, lc.ATTACH_EVIDENCE, actor, command_id, EvidenceArgsIn(**facts))
    return {**facts, "position": result["position"]}, 201


async def upload_context(request: Request, user: Any, services: Services, facts: dict[str, Any]) -> CommandContext:
    """`CommandCtx` for an upload: the same Idempotency-Key rules, the request compared by
    what it asks (the file's digest and name), not by its bytes (a multipart boundary
    differs on every send); thidua.api.deps.command_context would read the body whole."""
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise Problem(422, f"Idempotency-Key must be 1..{MAX_KEY_LENGTH} characters",
                      errors=[{"field": "header.Idempotency-Key", "message": "bad length", "type": "string_length"}])
    digest = request_hash(request.method, request.url.path, request.url.query,
                          f"{facts['sha256']}\x1f{facts['name']}".encode())
    if key is not None:
        stored = await services.idempotency.lookup(user.id, key)
        if stored is not None:
            if stored.request_hash != digest:
                raise Problem(422, "this Idempotency-Key was already used for a different request",
                              type_slug="idempotency-key-reused",
                              errors=[{"field": "header.Idempotency-Key", "message": "already used for a different "
                                       "request", "type": "idempotency_key_reused"}])
            raise Replay(stored)
    return CommandContext(user, services, request, key, command_id_for(user.id, key), digest)


@router.post("/v1/targets/{tid}/evidence", status_code=201, response_model=EvidenceOut,
             summary=lc.ATTACH_EVIDENCE.summary, openapi_extra=_UPLOAD_BODY,
             responses=problem_responses(401, 403, 404, 409, 413, 415, 422, 503), name="attach_evidence_target",
             operation_id="attach_evidence_target")
async def attach_evidence_target(tid: TargetId, request: Request, user: CurrentUser, services: ServicesDep,
                                 target: Annotated[Any, Depends(evidence_target)]) -> Any:
    upload, _ = await parse_upload(request)
    if upload is None:
        raise missing_file()
    try:
        facts = await inspect_upload(services, upload)
        ctx = await upload_context(request, user, services, facts)
        status = 201

        async def act() -> dict[str, Any]:
            nonlocal status
            entry, status = await attach_upload(services, target, user.actor, ctx.command_id, upload, facts)
            return entry

        return await ctx.run(lc.ATTACH_EVIDENCE.name, act, status=lambda _: status, model=EvidenceOut)
    finally:
        await upload.close()


# ------------------------------------------------------------------ evidence: reading
add_list_route("evidence", paper.target_evidence, EvidencePage, "Evidence files of a target")


def content_disposition(name: str) -> str:
    """`attachment` with an ASCII fallback and the UTF-8 name (RFC 6266 / 5987)."""
    ascii_name = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in name) or "evidence"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get("/v1/targets/{tid}/evidence/{sha256}", summary="Download an evidence file",
            responses={200: {"description": "The file's bytes", "content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}}, **READ_PROBLEMS},
            response_class=StreamingResponse, name="download_target_evidence",
            operation_id="download_target_evidence")
async def download_target_evidence(tid: TargetId, sha256: Sha256Path, user: CurrentUser, target: ReadableTarget,
                                   services: ServicesDep) -> Any:
    return await evidence_response(services, target, sha256)


async def evidence_response(services: Services, target: ReadTarget, sha256: str) -> StreamingResponse:
    # Which files the target names is the event store's word (the aggregate).
    aggregate = await target.load()
    entry = aggregate.evidence_files.get(sha256)
    stored = await evidence_files.stat(services.pool, sha256) if entry is not None else None
    if entry is None or stored is None:
        raise Problem(404, "no such evidence file on this target")
    return StreamingResponse(
        evidence_files.chunks(services.pool, stored), media_type=stored.content_type,
        headers={"Content-Disposition": content_disposition(entry["name"]), "X-Content-Type-Options": "nosniff",
                 "Content-Length": str(stored.size), "ETag": f'"{sha256}"', "Cache-Control": "private, no-cache"},
    )

