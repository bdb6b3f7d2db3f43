"""How a target command's arguments travel through Temporal.

The arguments of every command are declared once, in domain/lifecycle.py; this module
only applies that declaration at both ends of the trip: `encode_args` in the caller
(checks and turns dates, numbers and decisions into JSON: numbers as decimal strings, so
50, 50.0 and "50" fingerprint the same), `decode_args` in the activity, right before
the domain method is called. Pure module: imported by the client, the activities and
(passed through) the workflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from thidua.domain import lifecycle as lc
from thidua.domain.errors import BadInput

# Commands a caller may send; the timer commands are the workflow's own.
USER_COMMANDS: dict[str, lc.TargetCommand] = {c.name: c for c in lc.routed()}
# Commands the `command` update takes: people's, and the cascade's (issued as `system`
# by thidua.workflows.cascade; `who` lets no one else issue them).
UPDATE_COMMANDS: dict[str, lc.TargetCommand] = {**USER_COMMANDS, **lc.CASCADE_COMMANDS}


def encode_args(command: str, args: Mapping[str, Any] | lc.Args | None) -> dict[str, Any]:
    """Caller side: the command's arguments checked against its declaration, JSON-safe."""
    return lc.command_named(command, USER_COMMANDS).encode(args)


def decode_args(command: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Activity side: the keyword arguments of the Target method."""
    return lc.command_named(command).decode(args)


def as_utc(value: datetime) -> datetime:
    """One representation for instants that feed fingerprints (retries must match)."""
    if value.tzinfo is None:
        raise BadInput("a time must carry a UTC offset", field="at")
    return value.astimezone(timezone.utc)
