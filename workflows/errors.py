"""How errors cross Temporal and come back as the exceptions callers know.

A domain refusal travels as a non-retryable `ApplicationError` whose `type` is the
error's `kind` and whose first detail is `error.to_dict()`; the gateway rebuilds the
same domain exception class from it, so the API maps it like any other domain error.
Infrastructure trouble (Temporal unreachable, an answer that does not come in time)
becomes `ServiceUnavailable`, which says the caller may retry with the same command id.
"""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import ActivityError, ApplicationError, ApplicationErrorCategory

from thidua.domain.errors import (
    ERROR_KINDS,
    BadInput,
    CampaignClosed,
    DomainError,
    InvalidTransition,
)

SERVICE_UNAVAILABLE = "service_unavailable"
INTERNAL_ERROR = "internal_error"


class ServiceUnavailable(Exception):
    """Temporal (or the worker behind it) did not answer: retry later with the same
    command id; a command that did reach the workflow is applied at most once."""

    kind = SERVICE_UNAVAILABLE
    retryable = True

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "retryable": True}


class CommandPending(ServiceUnavailable):
    """The command reached its workflow but no outcome came back in time (e.g. PostgreSQL
    is down and the workflow retries its save until it answers): it may be applied later,
    once, or not at all. The API answers 202; repeating the request with the same
    Idempotency-Key (the same command id) reads the outcome, or applies it if it was lost."""


class CommandFailed(Exception):
    """The command hit a bug or an unexpected error in the worker (not a domain rule).
    Nothing half-done is kept: the workflow reloads the target before the next command."""

    kind = INTERNAL_ERROR
    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message}


# A refusal is an expected answer, not a failure: BENIGN makes the SDK log it at DEBUG
# (no WARNING with a traceback in the worker's log) and keeps it out of its failure metrics.
REFUSAL = ApplicationErrorCategory.BENIGN


def to_application_error(error: DomainError) -> ApplicationError:
    """A domain refusal as Temporal carries it: typed, non-retryable, benign, with details."""
    return ApplicationError(error.message, error.to_dict(), type=error.kind, non_retryable=True, category=REFUSAL)


def is_domain_failure(error: BaseException) -> bool:
    return isinstance(error, ApplicationError) and error.type in ERROR_KINDS


def failure_of_activity(error: ActivityError, failed: str) -> ApplicationError:
    """What a workflow raises when one of its activities failed: a domain refusal as the
    same typed, non-retryable ApplicationError; anything else as `internal_error`,
    prefixed with `failed` (what could not be done)."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and is_domain_failure(cause):
        return ApplicationError(cause.message, *cause.details, type=cause.type, non_retryable=True,
                                category=REFUSAL)
    return ApplicationError(f"{failed}: {cause or error}", type=INTERNAL_ERROR, non_retryable=True)


def domain_error_from(error: ApplicationError) -> Exception:
    """Rebuild the domain exception (same class, same attributes) from its Temporal form."""
    details: dict[str, Any] = {}
    if error.details and isinstance(error.details[0], dict):
        details = dict(error.details[0])
    details.pop("kind", None)
    message = str(details.pop("message", None) or error.message)
    kind = error.type or ""
    if kind == SERVICE_UNAVAILABLE:
        return ServiceUnavailable(message)
    cls = ERROR_KINDS.get(kind)
    if cls is None:
        return CommandFailed(message)
    if cls is InvalidTransition:
        return InvalidTransition(
            str(details.pop("command", "")), str(details.pop("state", "")), message
        )
    if cls is CampaignClosed:
        campaign_id = details.pop("campaign_id", None)
        return CampaignClosed(str(details.pop("command", "")), str(details.pop("state", "closed")), message,
                              campaign_id=None if campaign_id is None else str(campaign_id))
    if cls is BadInput:
        field = details.pop("field", None)
        return BadInput(message, field=field, **details)
    return cls(message, **details)
