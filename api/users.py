"""Users: `thidua users create` (the first secretariat user) and the /v1/users routes.

Creating and revoking a user are events of the `User` aggregate (actor, time,
command id), so they appear in the audit trail like every other change. A token is
shown once, at creation; only its sha256 is stored, and so an idempotent replay of
`POST /v1/users` answers with the same user but `token: null`.
"""

from __future__ import annotations

import getpass
import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.auth import hash_token, new_token, new_user_id
from api.deps import CommandCtx, CurrentUser, Secretariat
from api.models import UserCreate, UserCreatedOut, UserOut, UserRevokedOut
from api.problems import problem_responses
from api.services import Services, apply_and_save, command, position_of_command
from domain.errors import BadInput, DomainError, NotFound
from domain.user import User
from domain.values import Actor, Command, Role

router = APIRouter(tags=["users"])

UserId = Annotated[str, Path(min_length=1, max_length=100, description="User id")]


def create_user(domain_app: Any, cmd: Command, *, user_id: str, name: str, role: str, unit_id: str | None,
                bootstrap: bool = False) -> dict[str, Any]:
    """Create a user with a fresh token; the answer carries the token (shown once).

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
        return {**existing.to_state(), "token": None,
                "position": position_of_command(domain_app, existing, cmd.id)}
    token = new_token(user_id)
    user = User.create(cmd, user_id=user_id, name=name, role=role_value, unit_id=unit_id,
                       token_hash=hash_token(token), bootstrap=bootstrap)
    position = domain_app.save_changes(user)
    return {**user.to_state(), "token": token, "position": position}


def create_user_cli(domain_app: Any, *, name: str, role: str, unit_id: str | None) -> dict[str, Any]:
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
                             role=role, unit_id=unit_id, bootstrap=True)
    except DomainError as exc:
        raise SystemExit(f"thidua users create: {exc.message}") from None  # a message, not a traceback
    return {"id": result["id"], "name": result["name"], "role": result["role"], "unit_id": result["unit_id"],
            "token": result["token"]}


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

    async def act() -> dict[str, Any]:
        try:
            return await services.in_thread(
                lambda: create_user(services.domain_app, command(ctx.command_id, user.actor), user_id=user_id,
                                    name=body.name, role=body.role, unit_id=body.unit_id)
            )
        finally:
            services.verifier.forget(user_id)  # drop a cached "unknown user" for this id

    return await ctx.run("create_user", act, status=201, model=UserCreatedOut,
                         stored_view=lambda payload: {**payload, "token": None})


@router.delete(
    "/v1/users/{uid}", response_model=UserRevokedOut, summary="Revoke a user's token",
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)
async def delete_user(uid: UserId, user: Secretariat, ctx: CommandCtx) -> Any:
    services: Services = ctx.services

    def revoke() -> dict[str, Any]:
        target, position = apply_and_save(
            services.domain_app, lambda: services.domain_app.get_user(uid),
            lambda u: u.revoke(command(ctx.command_id, user.actor)), ctx.command_id,
        )
        return {**target.to_state(), "position": position}

    async def act() -> dict[str, Any]:
        try:
            return await services.in_thread(revoke)
        finally:
            services.verifier.forget(uid)

    return await ctx.run("revoke_user", act, model=UserRevokedOut)


@router.get("/v1/me", response_model=UserOut, summary="Who the token belongs to",
            responses=problem_responses(401, 503))
async def me(user: CurrentUser) -> Any:
    return user.to_dict()
