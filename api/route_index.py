"""Skip, for each request, the included routers that cannot hold its path.

FastAPI tries the app's included routers in order, and each tries every route it holds
(twice: once to find the router, once more to pick the route), whatever the path: a page
such as `/targets/{tid}`, served by a router included after every /v1 router, was
compared with all ~120 routes first, about a third of the request's CPU in the API. Each
included router here is given a guard that answers "no match" at once when the path's
first segments (`targets`, or `v1/targets` under /v1) are none of those of its routes;
otherwise FastAPI matches exactly as before, so what a path matches (including a 405 for
another method, and the trailing-slash redirect) is unchanged. A route whose leading
segments are a parameter keeps its router always tried.
"""

from __future__ import annotations

from typing import Any

from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope

ANY = "*"  # a key of a router with a route whose leading segment is a parameter


def path_key(path: str) -> str:
    """`targets` for /targets/..., `v1/targets` for /v1/targets/..., `` for /."""
    parts = path.lstrip("/").split("/", 2)
    if parts[0] == "v1" and len(parts) > 1:
        return "v1/" + parts[1]
    return parts[0]


def _route_key(path_format: str | None) -> str:
    if not path_format:  # a route of no known path: always tried
        return ANY
    key = path_key(path_format)
    return ANY if "{" in key else key


class _Guard:
    """`matches` of one included router, behind a check of the path's key."""

    def __init__(self, included: Any) -> None:
        self.included = included
        self.original = included.matches  # the bound method of its class
        self.version: int | None = None
        self.keys: frozenset[str] = frozenset()

    def _current_keys(self) -> frozenset[str]:
        # The router's own count of route changes (the routers here include no routers).
        version = self.included.original_router._routes_version
        if version != self.version:  # routes added since: read them again
            self.keys = frozenset(_route_key(getattr(context, "path_format", None))
                                  for context in self.included.effective_route_contexts())
            self.version = version
        return self.keys

    def __call__(self, scope: Scope) -> tuple[Match, Scope]:
        keys = self._current_keys()
        if ANY not in keys and scope.get("type") in ("http", "websocket") \
                and path_key(get_route_path(scope)) not in keys:
            return Match.NONE, {}
        return self.original(scope)


def index_routes(app: Any) -> None:
    """Guard every included router of `app` (call once its routes are all added)."""
    for route in app.router.routes:
        if hasattr(route, "original_router") and not isinstance(route.__dict__.get("matches"), _Guard):
            route.matches = _Guard(route)


def prepare_routes(app: Any) -> None:
    """Build what FastAPI builds for each route at its first request (its dependency
    analysis: about 0.4 s of CPU for all of them), and the guards' keys, before the app
    serves: at start-up, not on the first requests."""
    for route in app.router.routes:
        guard = route.__dict__.get("matches")
        if isinstance(guard, _Guard):
            guard._current_keys()
