"""Templates, the person behind a page request, CSRF checks of forms, and error pages.

A page request is signed in by the session cookie (thidua.api.sessions). A page that needs a
person sends anybody else to the sign-in page with `next=` the page asked for, so an
expired session comes back to where it was. Every form posts a CSRF token: the
session's own once signed in, a double-submit cookie before (sign-in, activation).
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from thidua.api.auth import Principal
from thidua.api.deps import get_services
from thidua.api.shared_reads import SharedReads
from thidua.api.sessions import ANON_CSRF_COOKIE, CSRF_FIELD, Session, csrf_matches, is_https, session_of
from thidua.api.web.i18n import LANG_COOKIE, dmy, dmy_hm, pick_language, translator

HERE = Path(__file__).parent
# auto_reload off: the templates ship with the code, so no page stats its template files
# (and those it extends, imports and includes) on every render to see if they changed.
templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                        trim_blocks=True, lstrip_blocks=True, auto_reload=False)
templates.filters["dmy"] = dmy
templates.filters["dmy_hm"] = dmy_hm


def load_templates() -> None:
    """Compile every template now: a serving process's start-up (before `heap.settle`
    freezes what it built), instead of the first view of each page (~0.4 s of CPU in all)."""
    for name in templates.list_templates():
        templates.get_template(name)


class SignInRequired(Exception):
    """No (or an ended) session on a page that needs one: go to sign-in, then come back."""

    def __init__(self, next_url: str) -> None:
        super().__init__("sign in required")
        self.next_url = next_url


class PageRefused(Exception):
    """An HTML error page (403, 404, 410, 429...)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def language(request: Request) -> str:
    return pick_language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))


def safe_next(url: str | None) -> str:
    """Only a path of this site: never an open redirect."""
    if not url or not url.startswith("/") or url.startswith("//") or urlsplit(url).netloc:
        return "/"
    return url


def here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def person(request: Request) -> tuple[Principal, Session]:
    found = await session_of(request, get_services(request))
    if found is None:
        raise SignInRequired(here(request) if request.method == "GET" else came_from(request))
    await _count_unread(request, found[0])
    return found


async def _count_unread(request: Request, who: Principal) -> None:
    """The unread count every signed-in page shows in its header (the inbox's link). A
    person's concurrent page views (tabs, a page and its redirect) share one count read
    that started after they asked (shared_reads.SharedReads): never older than their own."""
    services = get_services(request)
    shared = services.extras.get("page_unread_counts")
    if shared is None:
        from thidua.projections.inbox import unread_count  # the read side, loaded at the first page

        pool = services.pool
        shared = services.extras["page_unread_counts"] = SharedReads(lambda user_id: unread_count(pool, user_id))
    try:
        request.state.thidua_unread = await shared.get(who.id)
    except Exception:  # noqa: BLE001 - the outbox unreadable: the page still shows, without the count
        request.state.thidua_unread = None


def came_from(request: Request) -> str:
    """After signing in again, a form posted with an ended session returns to its page."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc != request.url.netloc:
        return "/"
    return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))


async def maybe_person(request: Request) -> tuple[Principal, Session] | None:
    found = await session_of(request, get_services(request))
    if found is not None:
        await _count_unread(request, found[0])
    return found


def check_csrf(request: Request, form: Any, session: Session | None) -> None:
    """A form without the right token is refused (403) before anything else is read."""
    given = form.get(CSRF_FIELD)
    expected = session.csrf_token if session is not None else request.cookies.get(ANON_CSRF_COOKIE, "")
    if not expected or not csrf_matches(expected, given if isinstance(given, str) else None):
        raise PageRefused(403, "csrf")


def _marker(name: str) -> str:
    return f"\x00thidua-fragment-{name}\x00"  # NUL: never in a template's own text nor in escaped values


def render(request: Request, name: str, context: dict[str, Any], *, status: int = 200,
           found: tuple[Principal, Session] | None = None, headers: dict[str, str] | None = None,
           encoded: dict[str, bytes] | None = None, keep: Any = None) -> HTMLResponse:
    """The page `name` in the request's language. `encoded`: context values that are HTML
    already encoded in UTF-8 (a cached fragment, such as a scoreboard's 100 units), put
    into the page's bytes where the template shows them, instead of being joined into
    the page's text and encoded again on every view. `keep`: a signed-in page kept
    under this key (see `_kept_body`)."""
    lang = language(request)
    anon_csrf = None
    if found is None:
        anon_csrf = request.cookies.get(ANON_CSRF_COOKIE) or secrets.token_urlsafe(32)
    who, session = found if found is not None else (None, None)
    unread = getattr(request.state, "thidua_unread", None) if who is not None else None
    csrf_token = session.csrf_token if session else anon_csrf
    content: str | bytes
    if keep is not None and found is not None:
        content = _kept_body(request, name, lang, context, found, unread, encoded or {}, keep)
    else:
        content = _body(request, name, lang, who, csrf_token, unread, context, encoded or {})
    response = HTMLResponse(content, status_code=status, headers=headers)
    if request.query_params.get("lang") == lang:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", secure=is_https(request))
    if anon_csrf is not None and not request.cookies.get(ANON_CSRF_COOKIE):
        response.set_cookie(ANON_CSRF_COOKIE, anon_csrf, httponly=True, samesite="lax", secure=is_https(request),
                            path="/")
    return response


def _body(request: Request, name: str, lang: str, who: Principal | None, csrf_token: str | None, unread: Any,
          context: dict[str, Any], encoded: dict[str, bytes]) -> str | bytes:
    other = "en" if lang == "vi" else "vi"
    switch = {k: v for k, v in request.query_params.items() if k not in ("notice", "min_position")}
    body = templates.get_template(name).render(
        request=request, t=translator(lang), lang=lang, other_lang=other,
        lang_url=request.url.path + "?" + urlencode({**switch, "lang": other}),
        person=who, csrf_token=csrf_token, csrf_field=CSRF_FIELD,
        path=request.url.path, here=here(request), quote=quote, unread=unread, **context,
        **{key: Markup(_marker(key)) for key in encoded},
    )
    if not encoded:
        return body
    content = body.encode()
    for key, value in encoded.items():
        content = content.replace(_marker(key).encode(), value)
    return content


KEPT_PAGES = 256  # rendered pages kept per app (tens of KB each)
PER_VIEW = ("csrf_token", "command_id")  # drawn for each view: put into a kept page's bytes


def _kept_body(request: Request, name: str, lang: str, context: dict[str, Any], found: tuple[Principal, Session],
               unread: Any, encoded: dict[str, bytes], keep: Any) -> bytes:
    """A signed-in page rendered once and kept under `keep` (the page and its reader)
    with everything it was rendered from: the template's name, the language, the URL,
    the reader, the unread count, the context and the encoded parts. A view whose
    inputs all equal those is answered with the kept bytes (rendering is a function of
    them), with what each view draws anew (`PER_VIEW`: the session's CSRF token, the
    forms' command id) put into them; any other view renders again and is kept."""
    who, session = found
    fresh = {"csrf_token": session.csrf_token, **{k: context[k] for k in PER_VIEW if k in context}}
    steady = {k: v for k, v in context.items() if k not in fresh}
    inputs = (name, lang, request.url.path, request.url.query, who, unread, steady, encoded)
    cache: OrderedDict[Any, tuple[Any, bytes]] = get_services(request).extras.setdefault("kept_pages", OrderedDict())
    kept = cache.get(keep)
    if kept is not None and kept[0] == inputs:
        cache.move_to_end(keep)
        body = kept[1]
    else:
        markers = {k: Markup(_marker(k)) for k in fresh}
        rendered = _body(request, name, lang, who, markers.pop("csrf_token"), unread, {**steady, **markers}, encoded)
        body = rendered.encode() if isinstance(rendered, str) else rendered
        cache[keep] = (inputs, body)
        while len(cache) > KEPT_PAGES:
            cache.popitem(last=False)
    for key, value in fresh.items():
        body = body.replace(_marker(key).encode(), str(escape(value)).encode())
    return body


def fragment(request: Request, name: str, context: dict[str, Any]) -> Markup:
    """A part of a page, rendered in the request's language (for a part worth caching)."""
    lang = language(request)
    return Markup(templates.get_template(name).render(t=translator(lang), lang=lang, **context))


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def error_page(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    found = request.state.thidua_session if "thidua_session" in request.scope.get("state", {}) else None
    retry_after = (headers or {}).get("Retry-After")
    return render(request, "error.html", {"status": status, "message": message, "retry_after": retry_after},
                  status=status, found=found, headers=headers)
