"""Domain errors: each says what was refused and why, so callers can map them.

The API maps them to HTTP statuses (NotAllowed -> 403, InvalidTransition, CampaignClosed
and VersionConflict -> 409, BadInput and CommandIdReused -> 422, NotFound -> 404);
the workflow layer carries their `kind` across Temporal unchanged.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every rule the domain refuses to break."""

    kind = "domain_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "message": self.message, **self.details}


class InvalidTransition(DomainError):
    """The command is not allowed from the aggregate's current state."""

    kind = "invalid_transition"

    def __init__(self, command: str, state: str, message: str | None = None) -> None:
        super().__init__(
            message or f"cannot {command} a target that is {state}",
            command=command,
            state=state,
        )
        self.command = command
        self.state = state


class CampaignClosed(InvalidTransition):
    """The target's (or the command's) campaign is closed: nothing changes in it until
    the Standing Committee reopens it."""

    kind = "campaign_closed"

    def __init__(self, command: str, state: str = "closed", message: str | None = None,
                 campaign_id: str | None = None) -> None:
        super().__init__(command, state, message or f"cannot {command}: the campaign is closed")
        if campaign_id is not None:
            self.details["campaign_id"] = campaign_id
        self.campaign_id = campaign_id


class NotAllowed(DomainError):
    """The actor's role or unit does not permit the command."""

    kind = "not_allowed"


class BadInput(DomainError):
    """The command's arguments break a rule (empty reason, bad date, ...)."""

    kind = "bad_input"

    def __init__(self, message: str, field: str | None = None, **details: object) -> None:
        super().__init__(message, field=field, **details)
        self.field = field


class CommandIdReused(DomainError):
    """A command id that was already applied arrived with a different payload."""

    kind = "command_id_reused"


class VersionConflict(DomainError):
    """Somebody else changed the aggregate first (optimistic concurrency)."""

    kind = "conflict"


class NotFound(DomainError):
    kind = "not_found"


ERROR_KINDS: dict[str, type[DomainError]] = {
    cls.kind: cls
    for cls in (
        DomainError,
        InvalidTransition,
        CampaignClosed,
        NotAllowed,
        BadInput,
        CommandIdReused,
        VersionConflict,
        NotFound,
    )
}
