"""Every check a route needs, as typed dependencies, in one place.

- `CurrentUser`: a valid, unrevoked bearer token (401 otherwise).
- Role requirements (function level), each from the rule in domain/permissions.py or
  the command's declaration in domain/lifecycle.py: `may_run(command)` (`MayAssign`,
  `Secretariat`, `StandingCommittee`, `AuditReaders`...; 403 for any other role). The
  role check comes before any lookup, so a caller learns nothing about objects it may
  not touch.
- Object level: `target_for(command)` (may this user run this command on this target?
  404 for an unknown id, 403 for another unit's target), `ReadableTarget` (detail: own
  unit, or a cluster the user's unit heads or deputises), `HistoryTarget` (own unit) —
  the rules themselves are domain/permissions.py's.
  Reads are checked against the aggregate (the source of truth), not a read model that
  may lag, whenever the rule depends on the owner; a role that reads every target
  (`reads_every_target`) is answered from the read model without loading anything. A command is first checked against the read model (one indexed query): when
  it allows, the target's workflow checks again against its own facts before anything
  is stored; when it refuses or does not know the target yet, the aggregate decides.
- `CommandCtx`: the command id and the `Idempotency-Key` bookkeeping of a command.

`create_app` refuses to start if a /v1 route does not depend on `authenticate`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Header, Path, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from thidua.api import readmodels
from thidua.api.models import CommandPendingOut
from thidua.api.auth import Principal, user_id_of
from thidua.api.idempotency import MAX_KEY_LENGTH, StoredResponse, command_id_for, request_hash
from thidua.api.problems import Problem, from_domain_error, is_unavailable
from thidua.api.shared_reads import SharedReads
from thidua.api.services import Services
from thidua.workflows.errors import CommandPending
from thidua.api.sessions import client_address
from thidua.domain import lifecycle as lc
from thidua.projections import queries, tree_queries
from thidua.domain.errors import DomainError
from thidua.domain.permissions import (
    AUDIT_READERS,
    CAMPAIGN_COMMANDS,
    OPERATION_READERS,
    may_read_history,
    may_read_target,
    reads_every_target,
)
from thidua.domain.values import Role


def get_services(request: Request) -> Services:
    services = getattr(request.app.state, "services", None)
    if services is None:
        raise Problem(503, "the API is starting or stopping")
    return services


async def services_of(request: Request) -> Services:
    """`get_services` as a dependency: async, so FastAPI calls it on the event loop
    instead of sending every request through a worker thread (as it does for a `def`)."""
    return get_services(request)


ServicesDep = Annotated[Services, Depends(services_of)]

# Seconds a client waits before asking again for a command's outcome (202).
PENDING_RETRY_AFTER = 2

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer thd_<user>_<secret>`")


async def authenticate(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    challenge = {"WWW-Authenticate": 'Bearer realm="thidua"'}
    if credentials is None:  # a person signed in to the pages: the session cookie (+ CSRF header for changes)
        from thidua.api.sessions import principal_from_cookie

        if (person := await principal_from_cookie(request, services)) is not None:
            return person
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Problem(401, "a bearer token is required", headers=challenge)
    token = credentials.credentials
    throttle, user_id, address = services.token_throttle, user_id_of(token), client_address(request)
    if throttle is not None:
        throttle.check(None, address)  # an address that failed too often: 429 before any lookup
    principal = await services.verifier.verify(token)
    if principal is None:
        if throttle is not None:
            # Wrong tokens naming a user id are counted for it too; its own right token
            # still passes above, so guessing at someone's id does not lock them out.
            throttle.check(user_id, address)
            throttle.failed(user_id, address)
        raise Problem(401, "the token is unknown or revoked",
                      headers={"WWW-Authenticate": 'Bearer realm="thidua", error="invalid_token"'})
    return principal


CurrentUser = Annotated[Principal, Depends(authenticate)]


def require_roles(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    allowed = frozenset(roles)

    async def check_role(user: CurrentUser) -> Principal:
        if user.role not in allowed:
            raise Problem(403, f"the role {user.role} may not call this route")
        return user

    check_role.allowed_roles = allowed  # type: ignore[attr-defined]
    check_role.__name__ = "require_" + "_or_".join(sorted(str(r) for r in roles))
    return check_role


def may_run(command: str) -> Any:
    """The user, if their role may issue `command` (a target command of the lifecycle
    or a campaign-, unit- or user-level one)."""
    roles = lc.COMMANDS[command].roles if command in lc.COMMANDS else CAMPAIGN_COMMANDS[command]
    return Annotated[Principal, Depends(require_roles(*roles))]


MayAssign = may_run("assign")
Secretariat = Annotated[Principal, Depends(require_roles(Role.SECRETARIAT))]
StandingCommittee = Annotated[Principal, Depends(require_roles(Role.STANDING_COMMITTEE))]
AuditReaders = Annotated[Principal, Depends(require_roles(*AUDIT_READERS))]
OperationReaders = Annotated[Principal, Depends(require_roles(*OPERATION_READERS))]


# ------------------------------------------------------------------ objects
CampaignId = Annotated[str, Path(min_length=1, max_length=100, description="Campaign id",
                                 examples=["vinh-yen-2022"])]
TargetId = Annotated[str, Path(min_length=1, max_length=100, description="Target id (UUID)")]


async def load_campaign(cid: CampaignId, services: ServicesDep) -> Any:
    """The Campaign aggregate (404 when unknown)."""
    return await services.in_thread(services.domain_app.get_campaign, cid)


ExistingCampaign = Annotated[Any, Depends(load_campaign)]


async def _load_target(services: Services, tid: str) -> Any:
    return await services.in_thread(services.domain_app.get_target, tid)


@dataclass(frozen=True)
class TargetRef:
    """The target a command route acts on, as far as the route needs it."""

    id: UUID
    unit_id: str


def target_for(command: lc.TargetCommand) -> Callable[..., Awaitable[Any]]:
    """The Target a command route acts on, after the function- and object-level checks."""

    async def target_in_scope(tid: TargetId, user: CurrentUser, services: ServicesDep, ctx: CommandCtx) -> Any:
        if user.role not in command.roles:
            raise Problem(403, f"the role {user.role} may not {command.name} targets")
        owner = await readmodels.queries().target_owner(services.pool, tid)
        if owner is not None and command.allows(user.actor, owner):
            return TargetRef(id=UUID(tid), unit_id=owner)
        target = await _load_target(services, tid)
        # A command id this target already applied goes on to be answered as a replay
        # (its first answer may have been lost before the target changed hands).
        if not command.allows(user.actor, target.unit_id) and target.version_of_command(ctx.command_id) is None:
            raise Problem(403, f"this target belongs to unit {target.unit_id!r}, not to yours")
        return target

    target_in_scope.__name__ = f"target_for_{command.name}"
    target_in_scope.command = command.name  # type: ignore[attr-defined]
    return target_in_scope


_UNREAD = object()


@dataclass(frozen=True)
class ReadTarget:
    """A target this reader may see: its read-model row (`row`, as the read check found
    it) or, when the check needed the owner or the target is not projected yet, the
    aggregate it loaded. `load()` is the aggregate either way (read from the event store
    the first time it is asked for, when the check did not need it)."""

    id: UUID
    unit_id: str
    campaign_id: str
    row: dict[str, Any] | None = None
    aggregate: Any = None
    services: Services | None = field(default=None, repr=False, compare=False)
    # The row's rollup when the check read them together (see `rollup()`).
    rollup_read: Any = field(default=_UNREAD, repr=False, compare=False)

    @property
    def coordinating_unit_ids(self) -> tuple[str, ...]:
        found = self.row.get("coordinating_unit_ids") if self.row is not None else self.aggregate.coordinating_unit_ids
        return tuple(found or ())

    def to_state(self) -> dict[str, Any]:
        return self.row if self.row is not None else self.aggregate.to_state()

    async def rollup(self) -> dict[str, Any] | None:
        """The rollup of the target's children (None: no children), as read with the row,
        else read now."""
        if self.rollup_read is _UNREAD:
            if self.services is None:
                raise RuntimeError("this ReadTarget was made without the services to read its rollup")
            object.__setattr__(self, "rollup_read", await tree_queries.rollup(self.services.pool, str(self.id)))
        return self.rollup_read

    async def load(self) -> Any:
        """The Target aggregate (the event store's word, e.g. which evidence files it names)."""
        if self.aggregate is None:
            if self.services is None:
                raise RuntimeError("this ReadTarget was made without the services to load its aggregate")
            object.__setattr__(self, "aggregate", await _load_target(self.services, str(self.id)))
        return self.aggregate


def target_rows(services: Services) -> SharedReads:
    """`tree_queries.target_with_rollup` by target id, shared by concurrent requests: each
    gets a read that started after it asked (`SharedReads`), so never an older row than a
    read of its own. What it answers is shared by those requests: read, never changed."""
    shared = services.extras.get("target_rows")
    if shared is None:
        pool = services.pool
        shared = services.extras["target_rows"] = SharedReads(lambda tid: tree_queries.target_with_rollup(pool, tid))
    return shared


async def readable_target(tid: TargetId, user: CurrentUser, services: ServicesDep) -> ReadTarget:
    """Target detail (thidua.domain.permissions.may_read_target). A reader of every
    target is answered from the read model (one indexed read, shared by the concurrent
    requests for the target: `target_rows`); the others' check needs the owner, read
    from the aggregate (the source of truth), as is a target not projected yet."""
    if reads_every_target(user.actor):
        found = await target_rows(services).get(tid)  # the row and its rollup: one read
        if found is not None:
            row, rollup = found
            return ReadTarget(UUID(row["id"]), row["unit_id"], row["campaign_id"], row=row, services=services,
                              rollup_read=rollup)
    target = await _load_target(services, tid)
    if not may_read_target(user.actor, target.unit_id, await cluster_leads(services, user, target),
                           target.coordinating_unit_ids):
        raise Problem(403, "this target belongs to another unit")
    return ReadTarget(target.id, target.unit_id, target.campaign_id, aggregate=target, services=services)


async def cluster_leads(services: Services, user: Principal, target: Any) -> frozenset[str]:
    """The head and deputy units of the target's cluster, when they matter to this user
    (a unit head of another unit than the owner); else empty."""
    if user.role != Role.UNIT_HEAD or target.unit_id == user.unit_id or user.unit_id in target.coordinating_unit_ids:
        return frozenset()
    campaign = await services.in_thread(services.domain_app.get_campaign, target.campaign_id)
    return frozenset(campaign.cluster_leads_of(target.unit_id))


async def history_target(tid: TargetId, user: CurrentUser, services: ServicesDep) -> Any:
    """Target history (thidua.domain.permissions.may_read_history)."""
    target = await _load_target(services, tid)
    if not may_read_history(user.actor, target.unit_id, target.coordinating_unit_ids):
        raise Problem(403, "this target belongs to another unit")
    return target


ReadableTarget = Annotated[ReadTarget, Depends(readable_target)]
HistoryTarget = Annotated[Any, Depends(history_target)]


# ------------------------------------------------------------------ commands and idempotency
class Replay(Exception):
    """A stored answer to send back as it was."""

    def __init__(self, stored: StoredResponse) -> None:
        super().__init__("idempotent replay")
        self.stored = stored


def replay_response(replay: Replay) -> Response:
    stored = replay.stored
    return Response(stored.body, status_code=stored.status, media_type=stored.media_type,
                    headers={"Idempotent-Replayed": "true"})


@dataclass
class CommandContext:
    """One command request: who, which command id, and its idempotency record."""

    principal: Principal
    services: Services
    request: Request
    key: str | None
    command_id: str
    request_hash: str

    async def run(
        self,
        name: str,
        action: Callable[[], Awaitable[Any]],
        *,
        status: int | Callable[[Any], int] = 200,
        model: type[BaseModel] | None = None,
        stored_view: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> Response:
        """Run the command; answer with its result or its domain refusal, and remember
        the answer under the Idempotency-Key. `stored_view` redacts what must never be
        stored (a new user's token)."""
        metrics = self.services.metrics
        try:
            result = await action()
        except DomainError as error:
            metrics.command(name, error.kind)
            response = from_domain_error(error, self.request.url.path)
            await self._remember(response.status_code, response.media_type or "", bytes(response.body))
            return response
        except Problem:
            metrics.command(name, "refused")
            raise
        except CommandPending as pending:
            # Handed over, outcome unknown: not remembered under the key, so a retry with
            # it asks the workflow again and gets the outcome (docs/api.md, "503 and 202").
            metrics.command(name, "pending")
            return JSONResponse(CommandPendingOut(command_id=self.command_id, detail=str(pending)).model_dump(),
                                status_code=202, headers={"Retry-After": str(PENDING_RETRY_AFTER)})
        except Exception as exc:
            metrics.command(name, "unavailable" if is_unavailable(exc) else "error")
            raise
        metrics.command(name, "ok")
        if callable(status):
            status = status(result)
        payload = model.model_validate(result).model_dump(mode="json") if model else jsonable_encoder(result)
        response = JSONResponse(payload, status_code=status)
        stored = response
        if stored_view is not None:
            stored = JSONResponse(stored_view(payload), status_code=status)
        await self._remember(status, "application/json", bytes(stored.body))
        return response

    async def _remember(self, status: int, media_type: str, body: bytes) -> None:
        if self.key is None or status >= 500:
            return
        await self.services.idempotency.record(
            self.principal.id, self.key,
            StoredResponse(self.request_hash, status, media_type, body.decode()),
        )


async def command_context(
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", min_length=1, max_length=MAX_KEY_LENGTH,
               description="Retry-safe key (≤ 200 characters): a replay returns the first answer and records "
                           "nothing; the same key with another request is a 422"),
    ] = None,
) -> CommandContext:
    body = await request.body()
    digest = request_hash(request.method, request.url.path, request.url.query, body)
    if idempotency_key is not None:
        stored = await services.idempotency.lookup(user.id, idempotency_key)
        if stored is not None:
            if stored.request_hash != digest:
                raise Problem(
                    422, "this Idempotency-Key was already used for a different request",
                    type_slug="idempotency-key-reused",
                    errors=[{"field": "header.Idempotency-Key", "message": "already used for a different request",
                             "type": "idempotency_key_reused"}],
                )
            raise Replay(stored)
    return CommandContext(user, services, request, idempotency_key, command_id_for(user.id, idempotency_key), digest)


CommandCtx = Annotated[CommandContext, Depends(command_context)]


# ------------------------------------------------------------------ reads
async def wait_for_projections(services: Services, min_position: int | None) -> None:
    """Read-your-writes: wait until the read models include `min_position`.

    A position beyond the last stored event can never be reached: 422 at once. A
    position that exists but is not projected within the wait: 503 with Retry-After
    (the projector is behind or down; the same read will succeed later).
    """
    if min_position is None or min_position == 0:
        return
    last = await queries.max_event_position(services.pool)
    if min_position > last:
        raise Problem(422, f"min_position {min_position} is beyond the last stored event ({last})",
                      errors=[{"field": "query.min_position", "message": "beyond the last stored event",
                               "type": "min_position_unknown"}])
    if not await queries.wait_for_position(services.pool, min_position, timeout=services.position_wait_seconds):
        raise Problem(503, f"the read models have not reached position {min_position} yet; retry shortly",
                      type_slug="projection-lag", headers={"Retry-After": "1"})


def route_is_guarded(dependant: Any) -> bool:
    """True when `authenticate` is somewhere in a route's dependency tree."""
    stack = [dependant]
    while stack:
        dep = stack.pop()
        if dep.call is authenticate:
            return True
        stack.extend(dep.dependencies)
    return False
