"""The routers' guards (thidua.api.route_index) never change what a request matches: for
every route of the app, with each method, the first route that matches fully (or, for
another method, partly) is the same with and without them; and a guard skips the
routers that cannot hold the path."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Match

from thidua.api.app import create_app
from thidua.api.route_index import _Guard, path_key, prepare_routes


@pytest.fixture(scope="module")
def app():  # type: ignore[no-untyped-def]
    app = create_app()
    prepare_routes(app)
    return app


def _scope(app, method: str, path: str):  # type: ignore[no-untyped-def]
    return {"type": "http", "method": method, "path": path, "root_path": "", "query_string": b"", "headers": [],
            "app": app}


def _first_match(app, method: str, path: str, guarded: bool):  # type: ignore[no-untyped-def]
    scope = _scope(app, method, path)
    partial = None
    for index, route in enumerate(app.router.routes):
        guard = route.__dict__.get("matches")
        matches = guard.original if isinstance(guard, _Guard) and not guarded else route.matches
        match, child = matches(scope)
        if match == Match.FULL:
            return "full", index, child.get("path_params")
        if match == Match.PARTIAL and partial is None:
            partial = ("partial", index, child.get("path_params"))
    return partial


def _sample_paths(app) -> list[str]:  # type: ignore[no-untyped-def]
    paths = set()
    for route in app.router.routes:
        guard = route.__dict__.get("matches")
        contexts = guard.included.effective_route_contexts() if isinstance(guard, _Guard) else [route]
        for context in contexts:
            path = getattr(context, "path_format", None) or getattr(context, "path", None)
            if path:
                paths.add(re.sub(r"\{[^}]+\}", "x1", path))
    return sorted(paths)


def test_every_path_matches_the_same_route_with_the_guards(app) -> None:  # type: ignore[no-untyped-def]
    paths = _sample_paths(app) + ["/", "/nothing/here", "/v1", "/v1/nothing", "/targets/x1/", "/v1/targets/x1/"]
    assert len(paths) > 100
    for path in paths:
        for method in ("GET", "POST", "DELETE"):
            assert _first_match(app, method, path, True) == _first_match(app, method, path, False), (method, path)


def test_a_page_path_skips_the_v1_routers(app) -> None:  # type: ignore[no-untyped-def]
    scope = _scope(app, "GET", "/targets/x1")
    skipped = [route for route in app.router.routes
               if isinstance(route.__dict__.get("matches"), _Guard) and "v1/targets" in route.matches._current_keys()]
    assert skipped
    for route in skipped:
        assert route.matches(scope) == (Match.NONE, {})


def test_path_keys() -> None:
    assert path_key("/targets/abc") == "targets"
    assert path_key("/v1/targets/abc/history") == "v1/targets"
    assert path_key("/v1") == "v1"
    assert path_key("/") == ""
