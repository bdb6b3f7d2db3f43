"""The rules every field of every request meets, whatever the route or the command: one
base model (`EdgeRules`) that request models (thidua.api.models.Input) and command arguments
(thidua.domain.lifecycle.Args) derive from, so no route can forget them.

- Text is kept in Unicode NFC, so a word typed with combined or separate accents is
  one word. Invisible characters (zero-width, bidirectional controls: see
  thidua.domain.commandlog.INVISIBLE) are refused in keys and ids (fields named `id`, `key`,
  `*_id`, `*_ids`) and dropped from other text.
- Dates and times are ISO 8601 text (not epoch seconds such as `1700000000` or `0.5`;
  a date field takes `YYYY-MM-DD`, not a date and time), within the years
  MIN_YEAR..MAX_YEAR (a time in UTC too).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timezone
from typing import Any, get_args

from pydantic import AwareDatetime, BaseModel, ValidationInfo, field_validator

from thidua.domain.commandlog import has_invisible, normalize_text
from thidua.domain.values import MAX_YEAR, MIN_YEAR

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DATETIME = re.compile(r"(\d{4})-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def temporal_kind(annotation: Any) -> str | None:
    """'datetime' or 'date' when a field holds one (optionally, or inside Annotated)."""
    if annotation is datetime or annotation is AwareDatetime:
        return "datetime"
    if annotation is date:
        return "date"
    for arg in get_args(annotation):
        kind = temporal_kind(arg)
        if kind is not None:
            return kind
    return None


def check_iso_8601(value: Any, kind: str) -> None:
    """ISO 8601 text only, and (before any conversion: year 1 at +07:00 cannot be
    converted to UTC) a year within the bounds."""
    if isinstance(value, (date, datetime)):
        year = value.year
    elif kind == "date" and isinstance(value, str) and _ISO_DATE.fullmatch(value):
        year = int(value[:4])
    elif kind == "datetime" and isinstance(value, str) and (match := _ISO_DATETIME.match(value)):
        year = int(match.group(1))
    elif kind == "date":
        raise ValueError("must be a date in ISO 8601 form, YYYY-MM-DD")
    else:
        raise ValueError("must be an ISO 8601 date and time with a UTC offset, e.g. 2022-07-01T00:00:00+07:00")
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"must be within the years {MIN_YEAR}..{MAX_YEAR}")


def check_years(value: date) -> None:
    """A time within the years in UTC too (2100-12-31T23:00-12:00 is 2101 in UTC)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        if not MIN_YEAR <= value.astimezone(timezone.utc).year <= MAX_YEAR:
            raise ValueError(f"must be within the years {MIN_YEAR}..{MAX_YEAR} (in UTC)")


def clean_text(value: Any, *, key: bool) -> Any:
    """Text in NFC; invisible characters refused in keys and ids, dropped elsewhere."""
    if isinstance(value, str):
        if key and has_invisible(value):
            raise ValueError("must not contain invisible (zero-width or bidirectional) characters")
        return unicodedata.normalize("NFC", value) if key else normalize_text(value)
    if isinstance(value, list):
        return [clean_text(item, key=key) for item in value]
    if isinstance(value, dict):
        return {k: clean_text(v, key=False) for k, v in value.items()}
    return value


def is_key(name: str) -> bool:
    return name in ("id", "key") or name.endswith(("_id", "_ids"))


class EdgeRules(BaseModel):
    @field_validator("*", mode="before")
    @classmethod
    def _at_the_edge(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.field_name or ""
        field = cls.model_fields.get(name)
        kind = temporal_kind(field.annotation) if field is not None else None
        if kind is not None and value is not None:
            check_iso_8601(value, kind)
        return clean_text(value, key=is_key(name))

    @field_validator("*", mode="after")
    @classmethod
    def _within_the_years(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, (date, datetime)):
            check_years(value)
        return value
