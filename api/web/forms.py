"""The command forms a person may use on a target now, and reading what they typed.

`available_commands` is the ONE place that decides which forms a target's page shows:
the commands `domain/lifecycle.py` declares as available to this person in this state.
The fields of each form come from the command's request model (thidua.api.models.COMMAND_BODIES,
derived from the same declaration), never from a hand-written copy.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ValidationError

from thidua.api.web.i18n import parse_dmy
from thidua.domain import lifecycle as lc
from thidua.api.models import COMMAND_BODIES

HIDDEN_FIELDS = frozenset({"expected_version"})
LONG_TEXT = 300  # longer limits than this get a text area


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # text | textarea | date | number | list
    required: bool
    max_length: int | None


@dataclass(frozen=True)
class CommandForm:
    command: lc.TargetCommand
    model: type[BaseModel]  # the JSON route's request model
    fields: tuple[Field, ...]

    @property
    def segment(self) -> str:  # the URL segment of the command's JSON route, reused by the page's form
        return str(self.command.segment)

    @property
    def name(self) -> str:
        return self.command.name


def form_of(command: lc.TargetCommand) -> CommandForm:

    model = COMMAND_BODIES[command.name]
    return CommandForm(command, model, fields_of(model))


def available_commands(actor: Any, target: dict[str, Any]) -> list[CommandForm]:
    """The forms `actor` may submit on `target` (its read-model state) in its status now."""
    return [form_of(c) for c in lc.available_commands(actor, target["unit_id"], target["status"])]


def routed_command(segment: str) -> lc.TargetCommand | None:
    return next((c for c in lc.generic_routes() if c.segment == segment), None)


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the type inside Optional/Annotated, whether None is allowed)."""
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(annotation))
            annotation = args[0]
        else:
            return annotation, optional


def _max_length(info: Any) -> int | None:
    for meta in info.metadata:
        value = getattr(meta, "max_length", None)
        if value is not None:
            return int(value)
    return None


def fields_of(model: type[BaseModel]) -> tuple[Field, ...]:
    fields = []
    for name, info in model.model_fields.items():
        if name in HIDDEN_FIELDS:
            continue
        inner, _ = _unwrap(info.annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel) and not info.is_required():
            continue  # an optional nested record (a decision reference): the JSON API takes it
        max_length = _max_length(info)
        if inner is date:
            kind = "date"
        elif inner in (Decimal, int, float):
            kind = "number"
        elif typing.get_origin(inner) is list:
            kind = "list"
        elif max_length is not None and max_length > LONG_TEXT:
            kind = "textarea"
        else:
            kind = "text"
        fields.append(Field(name, kind, info.is_required(), max_length))
    return tuple(fields)


class FormRefused(Exception):
    """What a person typed does not fit the command: {field: message}."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def read_form(form: CommandForm, data: dict[str, str]) -> BaseModel:
    """The command's request model from the form's text fields, or FormRefused."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in form.fields:
        raw = (data.get(f.name) or "").strip()
        if not raw:
            if f.kind == "list":
                values[f.name] = []
            continue
        if f.kind == "date":
            try:
                values[f.name] = parse_dmy(raw).isoformat()
            except ValueError:
                errors[f.name] = "dd/mm/yyyy"
        elif f.kind == "list":
            values[f.name] = [part.strip() for part in raw.replace("\n", ",").split(",") if part.strip()]
        else:
            values[f.name] = raw
    if errors:
        raise FormRefused(errors)
    try:
        return form.model.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "form"
            errors.setdefault(field, error["msg"])
        raise FormRefused(errors) from exc


def uploaded_file(form: Any) -> Any | None:
    """The file a form's `file` field carries, or None when none was chosen."""
    upload = form.get("file")
    if upload is None or isinstance(upload, str) or not upload.filename:
        return None
    return upload
