"""A kept page (render's `keep`) is the page a fresh render gives: the same bytes for the
same inputs, with each view's own CSRF token and command id, and a new render as soon as
anything it is rendered from differs."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from jinja2 import DictLoader, Environment
from starlette.requests import Request

from thidua.api.auth import Principal
from thidua.api.sessions import Session
from thidua.api.web import render as render_module
from thidua.api.web.render import render
from thidua.domain.values import Role

PAGE = ("<p>{{ person.name }} {{ lang }} {{ path }}?{{ here }} {{ unread }}</p><h1>{{ target.title }}</h1>"
        "<form><input name='{{ csrf_field }}' value='{{ csrf_token }}'><input name='command_id' value='{{ command_id }}'>"
        "</form>{{ timeline }}")


@pytest.fixture(autouse=True)
def page_template(monkeypatch: pytest.MonkeyPatch) -> None:
    env = Environment(loader=DictLoader({"page.html": PAGE}), autoescape=True)
    monkeypatch.setattr(render_module, "templates", env)


APP = SimpleNamespace(state=SimpleNamespace(services=SimpleNamespace(extras={})))
READER = Principal("u-1", "Nguyễn Văn A", Role.INSPECTOR)


def request(query: bytes = b"", unread: int | None = 3) -> Request:
    scope = {"type": "http", "method": "GET", "path": "/targets/t-1", "query_string": query, "headers": [],
             "app": APP, "state": {}}
    req = Request(scope)
    req.state.thidua_unread = unread
    return req


def view(context: dict, *, csrf: str = "csrf-1", keep: object = "k", unread: int | None = 3, query: bytes = b"",
         timeline: bytes = "<ol><li>đã giao</li></ol>".encode()) -> bytes:
    found = (READER, Session(READER.id, csrf))
    req = request(query, unread)
    return bytes(render(req, "page.html", dict(context), found=found, encoded={"timeline": timeline},
                        keep=keep).body)


def test_a_kept_page_is_the_fresh_render_with_each_views_own_tokens() -> None:
    APP.state.services.extras.clear()
    context = {"target": {"title": "Chỉ tiêu <1>"}}
    first_id, second_id = str(uuid.uuid4()), str(uuid.uuid4())
    first = view({**context, "command_id": first_id})
    second = view({**context, "command_id": second_id}, csrf="csrf-2")
    assert first == view({**context, "command_id": first_id}, keep=None)  # as rendered fresh
    assert second == view({**context, "command_id": second_id}, csrf="csrf-2", keep=None)
    assert second_id.encode() in second and first_id.encode() not in second
    assert b"value='csrf-2'" in second and b"csrf-1" not in second
    assert "Chỉ tiêu &lt;1&gt;".encode() in second and "<li>đã giao</li>".encode() in second
    assert len(APP.state.services.extras["kept_pages"]) == 1


def test_a_kept_page_follows_whatever_it_is_rendered_from() -> None:
    APP.state.services.extras.clear()
    base = {"target": {"title": "Chỉ tiêu 1"}, "command_id": "c"}
    view(base)
    assert "Chỉ tiêu 2".encode() in view({**base, "target": {"title": "Chỉ tiêu 2"}})
    assert b"</p>" in view(base, unread=7) and b" 7</p>" in view(base, unread=7)
    assert b"<b>new</b>" in view(base, timeline=b"<b>new</b>")
    assert b"?/targets/t-1?lang=en" in view(base, query=b"lang=en")
    for unread, query in ((3, b""), (None, b""), (3, b"x=1"), (3, b"")):  # each time what a fresh render gives
        assert view(base, unread=unread, query=query) == view(base, unread=unread, query=query, keep=None)
