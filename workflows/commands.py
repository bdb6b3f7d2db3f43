"""The target commands the workflow carries, and how their arguments travel.

Arguments cross Temporal as JSON: dates as ISO strings, numbers as decimal strings
(so 50, 50.0 and "50" fingerprint the same), a decision as a dict. `encode_args` runs
in the caller, `decode_args` in the activity, right before the domain method is called.
Pure module: imported by the client, the activities and (passed through) the workflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.errors import BadInput
from domain.values import OPEN_STATES, Decision, Status

_TEXT = "text"
_DATE = "date"
_NUMBER = "number"
_DECISION = "decision"
_UNITS = "units"
_DATETIME = "datetime"
_INT = "int"

# command -> {argument: kind}. The keyword arguments of the Target method, minus the
# command and expected_version (the workflow passes those itself).
USER_COMMANDS: dict[str, dict[str, str]] = {
    "start": {"note": _TEXT},
    "report_progress": {"value": _NUMBER, "percent": _NUMBER, "note": _TEXT},
    "block": {"reason": _TEXT, "help_needed": _TEXT},
    "unblock": {"note": _TEXT},
    "escalate": {"reason": _TEXT},
    "resolve": {
        "directive": _TEXT, "new_deadline": _DATE, "reassign_to": _TEXT, "coordinating_unit_ids": _UNITS,
    },
    "complete": {"result": _TEXT, "evidence": _TEXT, "note": _TEXT},
    "reopen": {"reason": _TEXT},
    "extend_deadline": {"new_deadline": _DATE, "reason": _TEXT, "decision": _DECISION},
    "reassign": {"unit_id": _TEXT, "reason": _TEXT},
    "cancel": {"reason": _TEXT},
}

# Arguments the Target method cannot do without (None is passed when missing, and the
# domain answers with its own BadInput naming the field).
REQUIRED_ARGS: dict[str, tuple[str, ...]] = {
    "block": ("reason",),
    "resolve": ("directive",),
    "reopen": ("reason",),
    "extend_deadline": ("new_deadline", "reason"),
    "reassign": ("unit_id", "reason"),
    "cancel": ("reason",),
}

# Timer-made commands (actor `system`), issued by the workflow only.
TIMER_COMMANDS: dict[str, dict[str, str]] = {
    "auto_escalate": {"block_no": _INT},
    "remind_escalation": {"escalation_no": _INT, "reminder_no": _INT},
    "mark_overdue": {"deadline_at": _DATETIME},
    "remind_stale": {"since": _DATETIME},
}

ALL_COMMANDS: dict[str, dict[str, str]] = {**USER_COMMANDS, **TIMER_COMMANDS}

# The from-states of the lifecycle table (DESIGN.md), for the workflow's cheap update
# validation; the domain checks them again when the command is applied.
_WORKING = frozenset({Status.ASSIGNED, Status.IN_PROGRESS})
ALLOWED_FROM: dict[str, frozenset[Status]] = {
    "start": frozenset({Status.ASSIGNED}),
    "report_progress": _WORKING,
    "block": _WORKING,
    "unblock": frozenset({Status.BLOCKED}),
    "escalate": frozenset({Status.BLOCKED}),
    "resolve": frozenset({Status.ESCALATED}),
    "complete": _WORKING,
    "reopen": frozenset({Status.COMPLETED}),
    "extend_deadline": OPEN_STATES,
    "reassign": OPEN_STATES,
    "cancel": OPEN_STATES,
}


def check_command_name(command: str) -> dict[str, str]:
    spec = USER_COMMANDS.get(command)
    if spec is None:
        raise BadInput(
            f"unknown command {command!r}; expected one of {', '.join(USER_COMMANDS)}", field="command"
        )
    return spec


def check_arg_names(command: str, args: Mapping[str, Any], spec: Mapping[str, str]) -> None:
    for name in args:
        if name not in spec:
            raise BadInput(f"{command} takes no argument {name!r}", field=name)


def encode_args(command: str, args: Mapping[str, Any] | None) -> dict[str, Any]:
    """Caller side: check names, turn dates/numbers/decisions into JSON-safe values."""
    spec = check_command_name(command)
    args = dict(args or {})
    check_arg_names(command, args, spec)
    return {name: _encode(spec[name], name, value) for name, value in args.items() if value is not None}


def decode_args(command: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Activity side: the keyword arguments for the Target method."""
    spec = ALL_COMMANDS.get(command)
    if spec is None:
        raise BadInput(f"unknown command {command!r}", field="command")
    check_arg_names(command, args, spec)
    decoded = {name: _decode(spec[name], name, value) for name, value in args.items() if value is not None}
    for name in REQUIRED_ARGS.get(command, ()):
        decoded.setdefault(name, None)
    return decoded


def _encode(kind: str, name: str, value: Any) -> Any:
    if kind == _TEXT:
        if not isinstance(value, str):
            raise BadInput(f"{name} must be text", field=name)
        return value
    if kind == _DATE:
        if isinstance(value, datetime) or not isinstance(value, (date, str)):
            raise BadInput(f"{name} must be a date (YYYY-MM-DD)", field=name)
        return parse_date(value, name).isoformat()
    if kind == _NUMBER:
        return str(parse_number(value, name))
    if kind == _UNITS:
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise BadInput(f"{name} must be a list of unit ids", field=name)
        return list(value)
    if kind == _DECISION:
        return decision_to_json(value, name)
    raise AssertionError(kind)  # pragma: no cover - table and code agree


def _decode(kind: str, name: str, value: Any) -> Any:
    if kind == _TEXT:
        return str(value)
    if kind == _DATE:
        return parse_date(value, name)
    if kind == _NUMBER:
        return parse_number(value, name)
    if kind == _UNITS:
        return [str(v) for v in value]
    if kind == _DECISION:
        return decision_from_json(value, name)
    if kind == _INT:
        return int(value)
    if kind == _DATETIME:
        return as_utc(value if isinstance(value, datetime) else datetime.fromisoformat(str(value)))
    raise AssertionError(kind)  # pragma: no cover


def as_utc(value: datetime) -> datetime:
    """One representation for instants that feed fingerprints (retries must match)."""
    if value.tzinfo is None:
        raise BadInput("a time must carry a UTC offset", field="at")
    return value.astimezone(timezone.utc)


def parse_date(value: Any, name: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise BadInput(f"{name} must be a date (YYYY-MM-DD): {value!r}", field=name) from exc


def parse_number(value: Any, name: str) -> Decimal:
    if isinstance(value, bool):
        raise BadInput(f"{name} must be a number", field=name)
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise BadInput(f"{name} must be a number: {value!r}", field=name) from exc
    if not number.is_finite():
        raise BadInput(f"{name} must be finite", field=name)
    return number


def decision_to_json(value: Any, name: str = "decision") -> dict[str, Any] | None:
    if value is None:
        return None
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if not isinstance(value, Mapping):
        raise BadInput(f"{name} must be an object with number, issued_on, issuer", field=name)
    data = dict(value)
    if "issued_on" in data and data["issued_on"] is not None:
        data["issued_on"] = parse_date(data["issued_on"], f"{name}.issued_on").isoformat()
    return data


def decision_from_json(value: Any, name: str = "decision") -> Decision | None:
    if value is None:
        return None
    data = dict(value)
    try:
        return Decision(
            number=str(data["number"]),
            issued_on=parse_date(data["issued_on"], f"{name}.issued_on"),
            issuer=str(data["issuer"]),
            title=str(data.get("title") or ""),
        )
    except KeyError as exc:
        raise BadInput(f"{name}.{exc.args[0]} is required", field=f"{name}.{exc.args[0]}") from exc


def measure_to_json(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if not isinstance(value, Mapping):
        raise BadInput("measure must be an object with kind, goal, unit, direction", field="measure")
    data = dict(value)
    if "goal" in data:
        data["goal"] = str(parse_number(data["goal"], "measure.goal"))
    return data

