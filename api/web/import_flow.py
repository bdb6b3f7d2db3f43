"""One upload → preview → confirm flow for the pages that import a file into a campaign.

Two pages run it, each with its own reader and checks, words and confirm action:
- `/campaigns/{cid}/import`: targets (api/importing.py, api/web/pages.py);
- `/campaigns/{cid}/history`: past actions from the old records (api/history_import.py,
  api/web/acceptance_pages.py).

GET shows the upload form. POST reads the upload and has the import check it without
recording anything (`preview`): every bad row is listed, or the rows to be recorded with a
confirm form that carries the file back (base64) under the preview's import id. The
confirm checks it again (the campaign may have changed since) and records it (`record`)
under that id, so a second click is a replay. A file unusable as a whole (ImportRejected)
is named at the upload field on the preview, and refused (422) on the confirm.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from thidua.api.deps import get_services
from thidua.api.importing import ImportRejected
from thidua.api.problems import Problem
from thidua.api.web import forms, page_reads
from thidua.api.web.render import PageRefused, check_csrf, person, redirect, render
from thidua.domain.values import Role


@dataclass(frozen=True)
class Upload:
    """The file as the person chose it: its name and its bytes."""

    name: str
    content: bytes


# preview(services, who, cid, upload, context) -> the page's status; fills context["items"]
# (what will be recorded) or context["bad"] (every bad row), or context["errors"].
Preview = Callable[[Any, Any, str, Upload, dict[str, Any]], Awaitable[int]]
# record(services, who, cid, import_id, upload) -> where to go once recorded.
Record = Callable[[Any, Any, str, str, Upload], Awaitable[str]]


@dataclass(frozen=True)
class ImportFlow:
    segment: str  # the page is /campaigns/{cid}/<segment>, its confirm <segment>/confirm
    template: str  # extends import_flow.html
    roles: Collection[Role]  # who may import (from the rule in the domain)
    preview: Preview
    record: Record
    context: Callable[[Request, Any], Awaitable[dict[str, Any]]] | None = None  # the page's own extras

    def add_routes(self, router: APIRouter) -> None:
        """GET/POST `/campaigns/{cid}/<segment>` (the page) and POST `.../confirm`."""
        router.add_api_route(f"/campaigns/{{cid}}/{self.segment}", self.page, methods=["GET", "POST"],
                             name=f"{self.segment}_page")
        router.add_api_route(f"/campaigns/{{cid}}/{self.segment}/confirm", self.confirm, methods=["POST"],
                             name=f"{self.segment}_confirm")

    def _may(self, who: Any) -> None:
        if who.role not in self.roles:
            raise PageRefused(403, "forbidden")

    async def page(self, request: Request, cid: str) -> Response:
        found = await person(request)
        who, session = found
        self._may(who)
        services = get_services(request)
        campaign = await page_reads.campaign(services, cid)
        if campaign is None:
            raise PageRefused(404, "not_found")
        action = f"/campaigns/{cid}/{self.segment}"
        context: dict[str, Any] = {
            "campaign": campaign, "cid": cid, "action": action, "confirm_action": action + "/confirm",
            "items": None, "bad": None, "errors": {}, "file_name": "", "file_data": "",
            "import_id": str(uuid.uuid4()), "tz": campaign.get("timezone"),
            "notice": request.query_params.get("notice"),
        }
        if self.context is not None:
            context.update(await self.context(request, services))
        status = 200
        if request.method == "POST":
            form = await request.form()
            check_csrf(request, form, session)
            chosen = forms.uploaded_file(form)
            if chosen is None:
                context["errors"] = {"file": "upload_missing"}
                return render(request, self.template, context, found=found, status=422)
            upload = Upload(chosen.filename, await chosen.read())
            context.update(file_name=upload.name, file_data=base64.b64encode(upload.content).decode())
            try:
                status = await self.preview(services, who, cid, upload, context)
            except ImportRejected as exc:
                context["errors"] = {"file": exc.message}
                status = 422
        return render(request, self.template, context, found=found, status=status)

    async def confirm(self, request: Request, cid: str) -> Response:
        found = await person(request)
        who, session = found
        form = await request.form()
        check_csrf(request, form, session)
        self._may(who)
        services = get_services(request)
        try:
            import_id = str(uuid.UUID(str(form.get("import_id", ""))))
            content = base64.b64decode(str(form.get("file_data", "")), validate=True)
        except (ValueError, binascii.Error):
            raise PageRefused(422, "there_is_a_problem") from None
        try:
            url = await self.record(services, who, cid, import_id, Upload(str(form.get("file_name", "")), content))
        except (ImportRejected, Problem):
            raise PageRefused(422, "there_is_a_problem") from None
        return redirect(url)
