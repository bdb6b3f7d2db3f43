"""The edge rules run before any route (thidua.api.edge): a header value with a NUL character
is a 422 naming the header, and a path typed in NFD reaches the route in NFC."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

import httpx

from thidua.api.app import create_app
from thidua.api.edge import _nfc_scope, allowed_methods
from thidua.settings import Settings


async def test_a_nul_character_in_a_header_value_is_a_422_naming_the_header():
    app = create_app(Settings(database_url="postgresql://nobody@127.0.0.1:1/none"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        response = await client.get("/v1/campaigns", headers=[(b"X-Trace", b"a\x00b")])
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["header.x-trace"]


def test_the_path_and_the_query_reach_the_routes_in_nfc():
    nfd = unicodedata.normalize("NFD", "phường-đống-đa")
    scope = {"type": "http", "path": f"/v1/units/{nfd}", "query_string": f"unit_id={quote(nfd)}".encode()}
    normal = _nfc_scope(scope)
    assert normal["path"] == "/v1/units/phường-đống-đa"
    assert normal["query_string"].decode() == "unit_id=ph%C6%B0%E1%BB%9Dng-%C4%91%E1%BB%91ng-%C4%91a"
    assert _nfc_scope({"type": "http", "path": "/v1/units/x", "query_string": b"a=1"})["query_string"] == b"a=1"


def test_allowed_methods_are_those_of_every_route_of_the_path():
    app = create_app(Settings(database_url="postgresql://nobody@127.0.0.1:1/none"))
    assert allowed_methods(app, "/v1/campaigns") == ["GET", "OPTIONS", "POST"]
    assert allowed_methods(app, "/nowhere") == []
