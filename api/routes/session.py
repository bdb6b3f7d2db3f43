"""People sign in: activation (first password), the session cookie, signing out.

These routes authenticate with what they are given (an activation token, a login and
password), so they are the API's public routes besides /healthz and /metrics. The web
pages call the same functions (`sign_in`, `thidua.api.users.activate`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from thidua.api.auth import Principal, password_matches
from thidua.api.deps import ServicesDep
from thidua.api.models import ActivatedOut, ActivationIn, SessionIn, SessionOut
from thidua.api.problems import Problem, problem_responses
from thidua.api.services import Services
from thidua.api.sessions import COOKIE, Session, clear_session_cookie, client_address, set_session_cookie
from thidua.api.users import activate, user_by_login

router = APIRouter(tags=["sign-in"])

PUBLIC_PATHS = frozenset({"/v1/activation", "/v1/session"})


async def sign_in(services: Services, login: str, password: str, address: str) -> tuple[Principal, str, Session]:
    """Check a login and password under the throttle; open a session.

    Returns (who, the cookie's secret, the session). A refusal says nothing about which
    of the two was wrong (401), and too many refusals become 429 with Retry-After.
    """
    throttle = services.throttle
    delay = throttle.check(login, address)
    if delay:
        await asyncio.sleep(delay)
    user = await services.in_thread(user_by_login, services.domain_app, login)
    ok = await services.in_thread(password_matches, getattr(user, "password_hash", None), password)
    if user is None or not ok or user.revoked:
        throttle.failed(login, address)
        raise Problem(401, "the login or the password is wrong", type_slug="sign-in-failed")
    throttle.succeeded(login)
    secret, session = await services.sessions.open(user.user_id)
    return Principal(id=user.user_id, name=user.name, role=user.role, unit_id=user.unit_id), secret, session


@router.post("/v1/activation", response_model=ActivatedOut, summary="Set the first password from an activation link",
             responses=problem_responses(410, 422, 503))
async def post_activation(body: ActivationIn, services: ServicesDep) -> Any:
    result = await services.in_thread(activate, services.domain_app, body.token, body.password)
    services.verifier.forget(result["id"])
    return result


@router.post("/v1/session", response_model=SessionOut, summary="Sign in: sets the session cookie",
             responses=problem_responses(401, 422, 429, 503))
async def post_session(body: SessionIn, request: Request, services: ServicesDep) -> Any:
    principal, secret, session = await sign_in(services, body.login, body.password, client_address(request))
    response = JSONResponse({"user": principal.to_dict(), "csrf_token": session.csrf_token})
    set_session_cookie(response, request, secret, services.sessions.lifetime_seconds)
    return response


@router.delete("/v1/session", status_code=204, summary="Sign out: ends the session", responses=problem_responses(503))
async def delete_session(request: Request, services: ServicesDep) -> Response:
    secret = request.cookies.get(COOKIE)
    if secret:
        await services.sessions.close(secret)
    response = Response(status_code=204)
    clear_session_cookie(response, request)
    return response
