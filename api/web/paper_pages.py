"""The paper trail's forms on a target's page: a comment (of a kind this person may
write) and an evidence upload (a plain multipart form; api/web/static/upload.js adds a
progress bar). Each runs the JSON route's own code (thidua.api.routes.paper), so a page
can do nothing the API would not let the same person do; a refusal re-renders the page
with the message next to the field and what was typed kept."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from thidua.api.deps import get_services
from thidua.api.models import COMMAND_BODIES
from thidua.api.problems import Problem
from thidua.api.routes import paper as paper_routes
from thidua.api.web.pages import _problem_message, _target_context, render_target
from thidua.api.web.render import PageRefused, check_csrf, person, redirect
from thidua.domain import lifecycle as lc
from thidua.domain.errors import DomainError

router = APIRouter(include_in_schema=False)
FILE_PROBLEMS = ("empty", "too_large", "file_type")


def _command_id(values: dict[str, str]) -> str:
    """Made when the form was shown: a double submit records once."""
    try:
        return "web-" + str(uuid.UUID(values.get("command_id", "")))
    except ValueError:
        return "web-" + str(uuid.uuid4())


def _refused(exc: Problem | DomainError) -> PageRefused:
    status = exc.status if isinstance(exc, Problem) else 404
    return PageRefused(status, "forbidden" if status == 403 else "not_found")


async def _again(request: Request, tid: str, found: Any, form: str, errors: dict[str, str],
                 values: dict[str, str], status: int) -> Response:
    context = await _target_context(request, tid, found[0])
    context.update(paper_errors={form: errors}, paper_values={form: values})
    return render_target(request, context, status=status, found=found)


def _done(tid: str, position: int, anchor: str) -> Response:
    return redirect(f"/targets/{tid}?min_position={position}&notice=done#{anchor}")


@router.post("/targets/{tid}/comments")
async def comment_page(request: Request, tid: str) -> Response:
    found = await person(request)
    who, session = found
    form = await request.form()
    check_csrf(request, form, session)
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    services = get_services(request)
    command_id = _command_id(values)
    try:
        commentable = await paper_routes.commentable(tid, who, services, command_id)
    except (Problem, DomainError) as exc:
        raise _refused(exc) from None
    try:
        body = COMMAND_BODIES[lc.COMMENT.name].model_validate(
            {"kind": values.get("kind", ""), "body": values.get("body", "")})
    except ValidationError as exc:
        error = exc.errors()[0]
        field = "kind" if error["loc"] and error["loc"][0] == "kind" else "body"
        message = {"string_too_long": "comment_too_long", "literal_error": "comment_kind_pick"}.get(
            error["type"], "comment_empty")
        return await _again(request, tid, found, "comment", {field: message}, values, 422)
    try:
        result = await paper_routes.post_comment(services, commentable, who.actor, command_id, body)
    except (DomainError, Problem) as exc:
        status, message = _problem_message(exc)
        return await _again(request, tid, found, "comment", {"kind" if status == 403 else "body": message},
                            values, status)
    services.metrics.command(lc.COMMENT.name, "ok")
    return _done(tid, result["position"], "comments-h")


@router.post("/targets/{tid}/evidence")
async def evidence_page(request: Request, tid: str) -> Response:
    found = await person(request)
    who, session = found
    services = get_services(request)
    try:
        target = await paper_routes.evidence_target(tid, who, services)
    except (Problem, DomainError) as exc:
        raise _refused(exc) from None
    upload, values = await paper_routes.parse_upload(request)
    try:
        check_csrf(request, values, session)
        if upload is None or not upload.filename:
            return await _again(request, tid, found, "evidence", {"file": "file_missing"}, values, 422)
        try:
            facts = await paper_routes.inspect_upload(services, upload)
            entry, _ = await paper_routes.attach_upload(services, target, who.actor, _command_id(values), upload,
                                                        facts)
        except (DomainError, Problem) as exc:
            status, message = _problem_message(exc)
            kind = ((getattr(exc, "extra", {}).get("errors") or [{}])[0]).get("type")
            if kind in FILE_PROBLEMS:  # the words of the page's language for the file checks
                message = "file_" + kind
            return await _again(request, tid, found, "evidence", {"file": message}, values, status)
    finally:
        if upload is not None:
            await upload.close()
    services.metrics.command(lc.ATTACH_EVIDENCE.name, "ok")
    return _done(tid, entry["position"], "evidence-h")
