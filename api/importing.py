"""Bulk assignment: parse a CSV file or a JSON array, validate every row, report every bad one.

Nothing is created unless every row is good. A row is bad when its fields break the
schema, when its `key` repeats within the file, when its unit is not registered, or
when its key already names a target of the campaign with different details (same
details: the row is a replay and creates nothing new).

CSV: UTF-8 (with or without a BOM), a header row, columns (in any order)
`key, unit_id, title, area, deadline, points` (required) and `decision_number,
decision_issued_on, decision_issuer, note, parent_key` (optional; a decision is named by
its number, registered in the campaign, and the date and issuer given must match it;
`parent_key` names the parent target by its key, in the file or already assigned;
`coordinating_unit_ids`: registered unit ids separated by `;`).
Line numbers count the header as line 1. JSON: an array of assignment
objects (the body of `POST /v1/campaigns/{cid}/targets`, with `key` required); the
"line" of an item is its 1-based index.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field, ValidationError

from thidua.api.models import AssignIn
from thidua.domain.errors import CommandIdReused, DomainError, NotFound
from thidua.domain.target import target_id_for
from thidua.domain.tree import check_parent
from thidua.domain.values import Command

MAX_ROWS = 10_000
REQUIRED_COLUMNS = ("key", "unit_id", "title", "area", "deadline", "points")
OPTIONAL_COLUMNS = ("decision_number", "decision_issued_on", "decision_issuer", "note", "parent_key",
                    "coordinating_unit_ids")
# Several unit ids in one CSV cell (a comma already separates the columns).
UNIT_LIST_SEPARATOR = ";"
DECISION_COLUMNS = ("decision_number", "decision_issued_on", "decision_issuer")
CSV_MEDIA_TYPES = ("text/csv", "application/csv")

CSV_EXAMPLE = (
    "key,unit_id,title,area,deadline,points,decision_number,decision_issued_on,decision_issuer,note\r\n"
    "934-01,phuong-ngo-quyen,Hoàn thành GPMB dự án đường Nguyễn Tất Thành,GPMB,2022-09-30,10,"
    "934-QĐ/TU,2022-02-15,BTV Thành ủy Vĩnh Yên,\r\n"
)


class ImportRow(AssignIn):
    """One row of an import: an assignment whose `key` is required."""

    key: Annotated[str, Field(min_length=1, max_length=200)]  # type: ignore[assignment]
    parent_key: Annotated[str | None, Field(default=None, min_length=1, max_length=200,
                                            description="The parent target's key (in the file or assigned)")] = None

    def assignment(self, campaign_id: str) -> dict[str, Any]:
        """The assignment's fields, the parent named by its id."""
        data = {k: v for k, v in self if k != "parent_key"}
        if self.parent_key is not None:
            data["parent_id"] = target_id_for(campaign_id, self.parent_key)
        return data


@dataclass
class ParsedRow:
    line: int
    key: str | None
    row: ImportRow | None
    errors: list[dict[str, Any]] = field(default_factory=list)


class ImportRejected(Exception):
    """The file as a whole is unusable (encoding, header, size): one message, no rows."""

    def __init__(self, message: str, field: str = "body") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def header_columns(header: list[str], required: tuple[str, ...], optional: tuple[str, ...]) -> list[str]:
    """The header row's column names; ImportRejected naming every missing, unknown or
    repeated one (both imports read their files' headers so)."""
    columns = [c.strip() for c in header]
    unknown = [c for c in columns if c not in required + optional]
    missing = [c for c in required if c not in columns]
    repeated = len(set(columns)) != len(columns)
    if unknown or missing or repeated:
        parts = [f"missing column(s): {', '.join(missing)}"] if missing else []
        parts += [f"unknown column(s): {', '.join(unknown[:20])}"] if unknown else []
        parts += ["repeated column names"] if repeated else []
        raise ImportRejected("header row: " + "; ".join(parts), field="header")
    return columns


def _errors_of(exc: ValidationError, prefix: str = "") -> list[dict[str, Any]]:
    result = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        result.append({"field": prefix + loc if loc else prefix.rstrip(".") or "row",
                       "message": str(err.get("msg", "invalid")), "type": str(err.get("type", "invalid"))})
    return result


def _validate(line: int, data: Any) -> ParsedRow:
    key = data.get("key") if isinstance(data, dict) and isinstance(data.get("key"), str) else None
    try:
        return ParsedRow(line, key, ImportRow.model_validate(data))
    except ValidationError as exc:
        return ParsedRow(line, key, None, _errors_of(exc))


def parse_csv(body: bytes) -> list[ParsedRow]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRejected(f"the file is not UTF-8 (byte {exc.start})") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration as exc:
        raise ImportRejected("the file is empty: a header row is required") from exc
    except csv.Error as exc:
        raise ImportRejected(f"line 1: {exc}") from exc
    columns = header_columns(header, REQUIRED_COLUMNS, OPTIONAL_COLUMNS)
    rows: list[ParsedRow] = []
    while True:
        line = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rows.append(ParsedRow(line, None, None, [{"field": "row", "message": str(exc), "type": "csv"}]))
            break
        if not any(v.strip() for v in values):
            continue  # blank line
        if len(rows) >= MAX_ROWS:
            raise ImportRejected(f"more than {MAX_ROWS} rows; split the file")
        if len(values) != len(columns):
            rows.append(ParsedRow(line, None, None, [{
                "field": "row", "message": f"{len(values)} values for {len(columns)} columns", "type": "csv"}]))
            continue
        record = {c: v.strip() for c, v in zip(columns, values, strict=True)}
        rows.append(_validate(line, _row_from_csv(record)))
    return rows


def _row_from_csv(record: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {c: record[c] for c in REQUIRED_COLUMNS}
    for optional in ("note", "parent_key"):
        if record.get(optional):
            data[optional] = record[optional]
    if record.get("coordinating_unit_ids"):
        data["coordinating_unit_ids"] = [
            u.strip() for u in record["coordinating_unit_ids"].split(UNIT_LIST_SEPARATOR) if u.strip()]
    given = [c for c in DECISION_COLUMNS if record.get(c)]
    if given:
        # The number names it; a date or issuer given without a number is reported on the number.
        data["decision"] = {"number": record.get("decision_number") or None,
                            "issued_on": record.get("decision_issued_on") or None,
                            "issuer": record.get("decision_issuer") or None}
    return data


# An assignment is an object holding objects (decision, measure): a few levels suffice.
# Deeper input is refused before parsing, which would otherwise recurse once per level.
MAX_JSON_DEPTH = 32


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(rb"[\[\]{}]")


def _nesting_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in `body` (brackets inside strings not counted)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_JSON_STRING.sub(b"", body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    break
        else:
            depth -= 1
    return deepest


def parse_json(body: bytes) -> list[ParsedRow]:
    if _nesting_depth(body) > MAX_JSON_DEPTH:
        raise ImportRejected(f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        items = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImportRejected("the body is not valid JSON") from exc
    if not isinstance(items, list):
        raise ImportRejected("the body must be a JSON array of targets")
    if len(items) > MAX_ROWS:
        raise ImportRejected(f"more than {MAX_ROWS} rows; split the file")
    return [_validate(i + 1, item) for i, item in enumerate(items)]


def parse(media_type: str, body: bytes) -> list[ParsedRow]:
    if media_type in CSV_MEDIA_TYPES:
        return parse_csv(body)
    return parse_json(body)


def check_rows(domain_app: Any, campaign: Any, rows: list[ParsedRow], cmd: Command) -> None:
    """The checks that need the store (runs in a thread): duplicate keys, unknown
    units, keys already assigned with other details. Adds errors to the rows."""
    seen: dict[str, int] = {}
    for parsed in rows:
        if parsed.row is None:
            continue
        first = seen.setdefault(parsed.row.key, parsed.line)
        if first != parsed.line:
            parsed.errors.append({"field": "key", "message": f"the key is repeated (first on line {first})",
                                  "type": "duplicate_key"})
    units = {u for p in rows if p.row is not None for u in (p.row.unit_id, *p.row.coordinating_unit_ids)}
    unknown = set()
    for unit_id in units:
        try:
            domain_app.get_unit(unit_id)
        except NotFound:
            unknown.add(unit_id)
    stored = domain_app.existing([target_id_for(campaign.campaign_id, p.row.key) for p in rows if p.row is not None])
    check_tree(domain_app, campaign, rows)
    for parsed in rows:
        if parsed.row is None:
            continue
        if parsed.row.unit_id in unknown:
            parsed.errors.append({"field": "unit_id", "message": f"unit {parsed.row.unit_id!r} is not registered",
                                  "type": "unknown_unit"})
        for unit_id in dict.fromkeys(u for u in parsed.row.coordinating_unit_ids if u in unknown):
            parsed.errors.append({"field": "coordinating_unit_ids", "message": f"unit {unit_id!r} is not registered",
                                  "type": "unknown_unit"})
        if parsed.row.decision is not None:
            try:
                campaign.registered_decision(parsed.row.decision.to_value())
            except DomainError as exc:
                parsed.errors.append({"field": str(exc.details.get("field") or "decision"), "message": exc.message,
                                      "type": "unknown_decision"})
        target_id = target_id_for(campaign.campaign_id, parsed.row.key)
        if parsed.errors or target_id not in stored:
            continue
        try:
            existing = domain_app.get_target(target_id)
        except NotFound:
            continue
        try:
            existing.is_same_assignment(cmd, **assignment_kwargs(campaign, parsed.row))
        except CommandIdReused:
            parsed.errors.append({"field": "key", "message": "this key already names a target with other details",
                                  "type": "key_taken"})
        except DomainError as exc:
            parsed.errors.append({"field": str(exc.details.get("field") or "row"), "message": exc.message,
                                  "type": exc.kind})


def check_tree(domain_app: Any, campaign: Any, rows: list[ParsedRow]) -> None:
    """Each `parent_key` names a row of the file or an open target of the campaign, and
    the parents named in the file form no cycle. Adds errors to the rows."""
    in_file = {p.row.key: p.row.parent_key for p in rows if p.row is not None}
    for parsed in rows:
        row = parsed.row
        if row is None or row.parent_key is None:
            continue
        error = _cycle_from(row.key, in_file)
        if error is None and row.parent_key not in in_file:
            try:
                check_parent(_target_or_none(domain_app, target_id_for(campaign.campaign_id, row.parent_key)),
                             campaign.campaign_id)
            except DomainError as exc:
                error = exc.message
        if error is not None:
            parsed.errors.append({"field": "parent_key", "message": error, "type": "bad_parent"})


def _cycle_from(key: str, parents: dict[str, str | None]) -> str | None:
    seen = {key}
    node = parents.get(key)
    while node is not None and node in parents:
        if node in seen:
            return "parent_key: the parents form a cycle"
        seen.add(node)
        node = parents[node]
    return None


def _target_or_none(domain_app: Any, target_id: Any) -> Any:
    try:
        return domain_app.get_target(target_id)
    except NotFound:
        return None


def parents_first(rows: list[ImportRow]) -> list[ImportRow]:
    """The rows with every parent before its children (the order they are saved in)."""
    parents = {r.key: r.parent_key for r in rows}

    def depth(row: ImportRow) -> int:
        n, node = 0, row.parent_key
        while node in parents and n <= len(parents):
            n, node = n + 1, parents[node]
        return n

    return sorted(rows, key=depth)


def assignment_kwargs(campaign: Any, row: ImportRow) -> dict[str, Any]:
    """The Target.assign keyword arguments a row stands for (as the domain compares them)."""
    kwargs = AssignIn.model_validate(row.assignment(campaign.campaign_id)).kwargs()
    if kwargs.get("decision") is not None:
        kwargs["decision"] = campaign.registered_decision(kwargs["decision"])
    if kwargs.get("parent_id") is not None:
        kwargs["parent_id"] = str(kwargs["parent_id"])
    return {**kwargs, "campaign_id": campaign.campaign_id, "timezone": campaign.timezone}


def report(rows: list[ParsedRow]) -> list[dict[str, Any]]:
    """Every bad row with its line number and its errors."""
    return [{"line": p.line, "key": p.key, "errors": p.errors} for p in rows if p.errors]
