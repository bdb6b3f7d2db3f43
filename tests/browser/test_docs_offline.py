"""/docs (Swagger UI) renders the API's operations in a real browser with no request
leaving the server: on an intranet without internet it must not be a blank page.

The API is the real app (its lifespan on a fresh database and the test Temporal server),
served by uvicorn; the browser is the system Chromium driven by Playwright. Every request to
another host is aborted and recorded, so a page that needs a CDN fails here.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn

from thidua.embedded import free_port
from thidua.settings import Settings

CHROMIUM = Path(os.environ.get("THIDUA_CHROMIUM", "/usr/bin/chromium"))
RENDER_TIMEOUT_MS = 60_000  # a bound for a slow shared machine, not a measurement


class _Server:
    """uvicorn serving the app on a free port, in a thread with its own event loop."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="docs-api", daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def docs_api(database_url: str, temporal_address: str) -> Iterator[_Server]:
    from thidua.bootstrap import build_api

    settings = Settings(database_url=database_url, temporal_address=temporal_address, log_level="WARNING")
    with _Server(build_api(settings)) as server:
        yield server


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"no browser at {CHROMIUM}: install Chromium (`apt-get install -y chromium` on Debian/Ubuntu) "
            "or point THIDUA_CHROMIUM at a Chromium executable"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


class _OfflinePage:
    """A page whose requests to any host but the server's are aborted and recorded."""

    def __init__(self, browser: Any, server_url: str) -> None:
        self.own = urlsplit(server_url).netloc
        self.outside: list[str] = []
        self.failed: list[str] = []
        self.context = browser.new_context()
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("response", self._response)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != self.own:
            self.outside.append(url)
            route.abort()
        else:
            route.continue_()

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.status} {response.url}")

    def close(self) -> None:
        self.context.close()


def schema_operations(server_url: str) -> set[str]:
    schema = httpx.get(f"{server_url}/openapi.json", timeout=30).json()
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {f"{m.upper()} {path}" for path, item in schema["paths"].items() for m in item if m in methods}


# Swagger UI shows an operation once per tag; its method and path are in each summary.
RENDERED_OPERATIONS = """() => Array.from(document.querySelectorAll('.opblock-summary')).map(s =>
    s.querySelector('.opblock-summary-method').textContent.trim() + ' ' +
    s.querySelector('.opblock-summary-path').getAttribute('data-path'))"""


def test_swagger_ui_renders_every_operation_without_outside_requests(chromium: Any, docs_api: _Server) -> None:
    expected = schema_operations(docs_api.url)
    offline = _OfflinePage(chromium, docs_api.url)
    try:
        offline.page.goto(f"{docs_api.url}/docs")
        offline.page.wait_for_selector(".opblock-summary", timeout=RENDER_TIMEOUT_MS)
        offline.page.wait_for_load_state("networkidle")
        rendered = set(offline.page.evaluate(RENDERED_OPERATIONS))
    finally:
        offline.close()
    assert offline.outside == [], f"/docs asked for outside resources: {offline.outside}"
    assert offline.failed == [], f"/docs met failed requests: {offline.failed}"
    assert len(expected) > 10
    assert rendered == expected, f"missing: {expected - rendered}; unexpected: {rendered - expected}"
