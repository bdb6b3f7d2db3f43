"""Users: `thidua users create` (the first secretariat user) and the /v1/users routes.

Creating and revoking a user are events of the `User` aggregate (actor, time,
command id), so they appear in the audit trail like every other change. A token is
shown once, at creation; only its sha256 is stored, and so an idempotent replay of
`POST /v1/users` answers with the same user but `token: null`. The same goes for the
one-time `activation_url` where the person sets a password (72 hours).
"""

from __future__ import annotations

import getpass
import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Path

from thidua.api.auth import (
    ACTIVATION_LIFETIME,
    ACTIVATION_PREFIX,
    activation_url,
    hash_password,
    hash_token,
    new_activation_token,
    new_token,
    new_user_id,
    password_problem,
    user_id_of,
)
from thidua.api.deps import CommandCtx, CurrentUser, Secretariat
from thidua.api.models import UserCreate, UserCreatedOut, UserOut, UserRevokedOut
from thidua.api.problems import problem_responses
from thidua.api.services import Services, apply_and_save, command
from thidua.domain.errors import BadInput, DomainError, NotFound, VersionConflict
from thidua.domain.user import ActivationGone, LoginClaim, User, check_login, login_uuid
from thidua.domain.values import Actor, Command, Role
from thidua.settings import get_settings

router = APIRouter(tags=["users"])

UserId = Annotated[str, Path(min_length=1, max_length=100, description="User id")]


def create_user(domain_app: Any, cmd: Command, *, user_id: str, name: str, role: str, unit_id: str | None,
                bootstrap: bool = False, login: str | None = None, email: str | None = None,
                base_url: str = "") -> dict[str, Any]:
    """Create a user with a fresh token and activation link; the answer carries both (shown once).

    Runs in a thread (eventsourcing is synchronous). When `user_id` already exists
    (a retried request whose first answer was lost), the user is returned with no token.
    """
    try:
        role_value = Role(role)
    except ValueError as exc:
        raise BadInput(f"unknown role {role!r}", field="role") from exc
    if role_value == Role.UNIT_HEAD and unit_id:
        try:
            domain_app.get_unit(unit_id)
        except NotFound as exc:
            raise BadInput(f"unit {unit_id!r} is not registered", field="unit_id") from exc
    try:
        existing = domain_app.get_user(user_id)
    except NotFound:
        existing = None
    if existing is not None:
        return {**existing.to_state(), "token": None, "activation_url": None,
                "position": domain_app.position_of_command(existing, cmd.id)}
    login = check_login(login)
    token = new_token(user_id)
    activation = new_activation_token(user_id)
    user = User.create(cmd, user_id=user_id, name=name, role=role_value, unit_id=unit_id,
                       token_hash=hash_token(token), bootstrap=bootstrap, login=login, email=email,
                       activation_hash=hash_token(activation), activation_expires=cmd.at + ACTIVATION_LIFETIME)
    aggregates: list[Any] = [user]
    if login is not None:
        aggregates.append(LoginClaim(login=login, user_id=user_id, actor=cmd.actor, occurred_at=cmd.at,
                                     command_id=cmd.id))
    try:
        position = domain_app.save_changes(*aggregates)
    except VersionConflict:
        # The claim already exists (the user id is fresh): nothing of this user was stored.
        raise BadInput(f"the login {login!r} is taken", field="login") from None
    return {**user.to_state(), "token": token, "position": position,
            "activation_url": activation_url(base_url, activation)}


def user_by_login(domain_app: Any, login: str) -> User | None:
    """The user a login names, or None (no such login, or not a valid login at all)."""
    try:
        claim = domain_app.load(LoginClaim, login_uuid(check_login(login) or ""), "login")
        return domain_app.get_user(claim.user_id)
    except (BadInput, NotFound):
        return None


def activate(domain_app: Any, token: str, password: str) -> dict[str, Any]:
    """Set the first password from a one-time activation token (runs in a thread)."""
    problem = password_problem(password)
    if problem is not None:
        raise BadInput(problem, field="password")
    user_id = user_id_of(token, ACTIVATION_PREFIX)
    if user_id is None:
        raise ActivationGone("this activation link does not exist")
    try:
        user = domain_app.get_user(user_id)
    except NotFound:
        raise ActivationGone("this activation link does not exist") from None
    cmd = command(f"activate-{hash_token(token)[:32]}", user.as_actor())
    password_hash = hash_password(password)
    changed = domain_app.change(lambda: domain_app.get_user(user_id),
                                lambda u: u.activate(cmd, activation_hash=hash_token(token),
                                                     password_hash=password_hash), cmd.id)
    if not changed.stored:  # the same link twice: it is used up, whoever comes back with it
        raise ActivationGone("this activation link was used already")
    return {**changed.aggregate.to_state(), "position": changed.position}


def new_activation(domain_app: Any, cmd: Command, user_id: str, base_url: str) -> dict[str, Any]:
    """A fresh activation link for an existing user (secretariat)."""
    activation = new_activation_token(user_id)
    changed = domain_app.change(lambda: domain_app.get_user(user_id),
                                lambda u: u.issue_activation(cmd, activation_hash=hash_token(activation),
                                                             expires=cmd.at + ACTIVATION_LIFETIME), cmd.id)
    url = activation_url(base_url, activation) if changed.stored else None
    return {**changed.aggregate.to_state(), "activation_url": url, "position": changed.position}


def create_user_cli(domain_app: Any, *, name: str, role: str, unit_id: str | None, login: str | None = None,
                    email: str | None = None, base_url: str = "") -> dict[str, Any]:
    """`thidua users create` (opened by `thidua.bootstrap.create_user`): works with no
    user yet (this is how the first one is made).

    The actor recorded is the operating-system user who ran the command.
    """
    try:
        os_user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        os_user = "unknown"
    actor = Actor(id=f"cli:{os_user}", name=f"thidua users create ({os_user})", role=Role.SYSTEM)
    user_id = new_user_id()
    try:
        result = create_user(domain_app, command(f"cli-create-user-{user_id}", actor), user_id=user_id, name=name,
                             role=role, unit_id=unit_id, bootstrap=True, login=login, email=email,
                             base_url=base_url)
    except DomainError as exc:
        raise SystemExit(f"thidua users create: {exc.message}") from None  # a message, not a traceback
    return {"id": result["id"], "name": result["name"], "role": result["role"], "unit_id": result["unit_id"],
            "login": result["login"], "token": result["token"], "activation_url": result["activation_url"]}


def public_url(settings: Any) -> str:
    """Where people reach the web pages (activation links start with it)."""
    return str(settings.public_url).rstrip("/")


def request_base_url(request: Any) -> str:
    """THIDUA_PUBLIC_URL when it is set, else the address the request came to (a page or a
    client reached the API there, so a person can too)."""
    settings = get_settings()
    if "public_url" in settings.model_fields_set:
        return public_url(settings)
    return str(request.base_url).rstrip("/")


def _user_id_for(command_id: str, key: str | None) -> str:
    # A keyed request names the same user on every retry; otherwise a fresh id.
    if key is None:
        return new_user_id()
    return "u" + hashlib.sha256(command_id.encode()).hexdigest()[:16]


@router.post(
    "/v1/users", status_code=201, response_model=UserCreatedOut, summary="Create a user and its token",
    responses=problem_responses(401, 403, 409, 413, 422, 503),
)
async def post_user(body: UserCreate, user: Secretariat, ctx: CommandCtx) -> Any:
    services: Services = ctx.services
    user_id = _user_id_for(ctx.command_id, ctx.key)
    base_url = request_base_url(ctx.request)

    async def act() -> dict[str, Any]:
        try:
            return await services.in_thread(
                lambda: create_user(services.domain_app, command(ctx.command_id, user.actor), user_id=user_id,
                                    name=body.name, role=body.role, unit_id=body.unit_id, login=body.login,
                                    email=body.email, base_url=base_url)
            )
        finally:
            services.verifier.forget(user_id)  # drop a cached "unknown user" for this id

    return await ctx.run("create_user", act, status=201, model=UserCreatedOut,
                         stored_view=lambda payload: {**payload, "token": None, "activation_url": None})


@router.delete(
    "/v1/users/{uid}", response_model=UserRevokedOut, summary="Revoke a user's token",
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)
async def delete_user(uid: UserId, user: Secretariat, ctx: CommandCtx) -> Any:
    services: Services = ctx.services

    async def act() -> dict[str, Any]:
        return await revoke_user(services, command(ctx.command_id, user.actor), uid)

    return await ctx.run("revoke_user", act, model=UserRevokedOut)


async def revoke_user(services: Services, cmd: Command, uid: str) -> dict[str, Any]:
    """Revoke a user: their token stops working, and every session of theirs ends now."""
    def revoke() -> dict[str, Any]:
        target, position = apply_and_save(services.domain_app, lambda: services.domain_app.get_user(uid),
                                          lambda u: u.revoke(cmd), cmd.id)
        return {**target.to_state(), "position": position}

    try:
        result = await services.in_thread(revoke)
    finally:
        services.verifier.forget(uid)
    await services.sessions.close_all(uid)  # a table row per session: this ends them on every replica
    return result


@router.get("/v1/me", response_model=UserOut, summary="Who the token belongs to",
            responses=problem_responses(401, 503))
async def me(user: CurrentUser) -> Any:
    return user.to_dict()
