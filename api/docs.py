"""`/docs` (Swagger UI) that works without internet.

FastAPI's own page loads its script, style and favicon from public CDNs, so on a closed
network (a government intranet) it stays blank. The same page here takes those files from
the installed package fastapi-offline (Swagger UI 5, which reads OpenAPI 3.1; its licence
travels with the package), served under /docs/assets. Swagger UI's online validator badge,
which would call validator.swagger.io, is off. ReDoc is not offered: its page loads its logo
from Redocly's CDN whatever its options say.

The page is a plain Starlette route, like FastAPI's own docs route: outside the schema and
outside the API routes whose authentication `create_app` checks.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/docs/assets"
SWAGGER_PARAMETERS = {"validatorUrl": None}


def install_docs(app: FastAPI, *, docs_url: str = "/docs") -> None:
    """Serve Swagger UI at `docs_url`; create the app with `docs_url=None, redoc_url=None` so
    FastAPI's CDN pages are not there too."""
    if not (ASSETS_DIR / "swagger-ui-bundle.js").is_file():
        raise RuntimeError(f"the Swagger UI assets are missing from {ASSETS_DIR}: reinstall fastapi-offline")
    oauth2_redirect_url = f"{docs_url}/oauth2-redirect"

    def assets(request: Request) -> str:
        return f"{request.scope.get('root_path', '')}{ASSETS_URL}"

    def openapi_url(request: Request) -> str:
        return f"{request.scope.get('root_path', '')}{app.openapi_url}"

    async def swagger_ui(request: Request) -> HTMLResponse:
        base = assets(request)
        return get_swagger_ui_html(
            openapi_url=openapi_url(request),
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=oauth2_redirect_url,
            swagger_js_url=f"{base}/swagger-ui-bundle.js",
            swagger_css_url=f"{base}/swagger-ui.css",
            swagger_favicon_url=f"{base}/favicon.png",
            swagger_ui_parameters=SWAGGER_PARAMETERS,
        )

    async def swagger_ui_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    app.add_route(docs_url, swagger_ui, include_in_schema=False)
    app.add_route(oauth2_redirect_url, swagger_ui_redirect, include_in_schema=False)
