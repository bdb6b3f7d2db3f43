"""The web pages for people (DESIGN.md "The web interface"), served by the API's app.

`mount(app)` adds the pages, their static files, and error handling that answers a
page with a page (sign-in redirect, 403/404/410/429 pages) while /v1 keeps its RFC
9457 problems.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from thidua.api.problems import DOMAIN_PROBLEMS
from thidua.api.web.notification_pages import router as notification_router
from thidua.api.web.cascade_pages import router as cascade_router
from thidua.api.web.acceptance_pages import router as acceptance_router
from thidua.api.web.evaluation_pages import router as evaluation_router
from thidua.api.web.pages import router
from thidua.api.web.render import PageRefused, SignInRequired, error_page, redirect
from thidua.api.problems import Problem
from thidua.domain.errors import DomainError

STATIC = Path(__file__).parent / "static"


def _is_page(request: Request) -> bool:
    path = request.url.path
    return not (path.startswith("/v1/") or path in ("/healthz", "/metrics", "/docs", "/openapi.json"))


def mount(app: FastAPI) -> None:
    from thidua.api.web.paper_pages import router as paper_router  # (it imports the pages)

    app.include_router(paper_router)  # before the pages' /targets/{tid}/{segment}
    app.include_router(router)
    app.include_router(notification_router)
    app.include_router(cascade_router)
    app.include_router(acceptance_router)
    app.include_router(evaluation_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Any:
        from urllib.parse import quote

        return redirect(f"/sign-in?next={quote(exc.next_url, safe='')}")

    @app.exception_handler(PageRefused)
    async def _refused(request: Request, exc: PageRefused) -> Any:
        return error_page(request, exc.status, exc.message, exc.headers)

    api_http_handler = app.exception_handlers[StarletteHTTPException]
    api_problem_handler = app.exception_handlers[Problem]
    api_domain_handler = app.exception_handlers[DomainError]

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Any:
        if _is_page(request):  # e.g. the read models lag behind a `min_position` (503, Retry-After)
            return error_page(request, exc.status, exc.detail or exc.title, dict(exc.headers or {}))
        return await api_problem_handler(request, exc)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Any:
        if _is_page(request):

            return error_page(request, DOMAIN_PROBLEMS.get(exc.kind, (422,))[0], exc.message)
        return await api_domain_handler(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Any:
        if _is_page(request) and exc.status_code in (404, 405):
            return error_page(request, exc.status_code, "not_found")
        return await api_http_handler(request, exc)
