"""The history import: a drive's past actions from the old records (CSV or XLSX).

Every row is checked before anything is recorded, and every bad row is reported with
its line: first each row on its own (columns, action, time, arguments), then each
target's rows played in memory through the domain (domain/history.py), which refuses
what the lifecycle refuses. Only when no row is bad are the targets saved, all in one
transaction. The import id names the import: the same id again records nothing new.

CSV: UTF-8 (a BOM is fine), a header row, columns in any order:
`key, action, when, who` (required) and `note, percent, new_deadline` and, for
`assign` rows, the target import's `unit_id, title, area, deadline, points,
decision_number, decision_issued_on, decision_issuer` (optional). `when` is ISO 8601
(`2022-03-01T08:30:00+07:00`; without an offset, or a date alone, in the campaign's
time zone) or `dd/mm/yyyy[ HH:MM]`. XLSX: the first sheet, laid out the same way.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from thidua.api.importing import DECISION_COLUMNS, ImportRejected, header_columns
from thidua.domain import history
from thidua.domain import lifecycle as lc
from thidua.domain.errors import BadInput, NotFound, VersionConflict
from thidua.domain.history import PastAction, RowError
from thidua.domain.target import target_id_for
from thidua.domain.values import Actor, check_instant

MAX_ROWS = 20_000
REQUIRED_COLUMNS = ("key", "action", "when", "who")
TARGET_COLUMNS = ("unit_id", "title", "area", "deadline", "points", *DECISION_COLUMNS)
OPTIONAL_COLUMNS = ("note", "percent", "new_deadline", *TARGET_COLUMNS)
CSV_MEDIA_TYPES = ("text/csv", "application/csv")
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NOON = time(12, 0)  # a date alone: midday in the campaign's time zone

CSV_EXAMPLE = (
    "key,action,when,who,note,unit_id,title,area,deadline,points\r\n"
    "934-07,assign,21/02/2022,Văn phòng Thành ủy,Theo Quyết định 937,phuong-ngo-quyen,"
    "Chỉnh trang đô thị phường Ngô Quyền,Đô thị,2022-09-30,10\r\n"
    "934-07,start,01/03/2022 08:00,Bí thư Đảng ủy phường Ngô Quyền,,,,,,\r\n"
    "934-07,complete,2022-09-15T16:30:00+07:00,Bí thư Đảng ủy phường Ngô Quyền,Hoàn thành 3 tuyến phố,,,,,\r\n"
)


@dataclass
class HistoryRows:
    """The rows of a file: those good on their own, and every error found so far."""

    actions: list[PastAction] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    count: int = 0


# ------------------------------------------------------------------ reading the file
def records(media_type: str, body: bytes) -> list[tuple[int, dict[str, str] | None]]:
    """(line, {column: text}) of each non-blank row (None: not as many values as columns);
    a file unusable as a whole is ImportRejected."""
    table = _xlsx_rows(body) if media_type == XLSX_MEDIA_TYPE or body.startswith(b"PK") else _csv_rows(body)
    try:
        header = next(table)[1]
    except StopIteration as exc:
        raise ImportRejected("the file is empty: a header row is required") from exc
    columns = header_columns(header, REQUIRED_COLUMNS, OPTIONAL_COLUMNS)
    out = []
    for line, values in table:
        if not any(v.strip() for v in values):
            continue
        if len(out) >= MAX_ROWS:
            raise ImportRejected(f"more than {MAX_ROWS} rows; split the file")
        if not any(v.strip() for v in values[len(columns):]):  # (spreadsheets pad rows with empty cells)
            values = values[:len(columns)] + [""] * (len(columns) - len(values))
        if len(values) != len(columns):
            out.append((line, None))
            continue
        out.append((line, {c: v.strip() for c, v in zip(columns, values, strict=True)}))
    return out


def _csv_rows(body: bytes) -> Any:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRejected(f"the file is not UTF-8 (byte {exc.start})") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        line = reader.line_num + 1
        try:
            yield line, next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportRejected(f"line {line}: {exc}", field=f"line {line}") from exc


def _xlsx_rows(body: bytes) -> Any:
    from openpyxl import load_workbook

    try:
        sheet = load_workbook(io.BytesIO(body), read_only=True, data_only=True).worksheets[0]
    except Exception as exc:  # noqa: BLE001 - not a workbook after all: one message for the person
        raise ImportRejected("not a readable XLSX workbook") from exc
    for line, row in enumerate(sheet.iter_rows(values_only=True), start=1):
        yield line, [_cell_text(v) for v in row]


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# ------------------------------------------------------------------ each row on its own
def parse_when(text: str, tz: str) -> datetime:
    """ISO 8601 or dd/mm/yyyy[ HH:MM]; without an offset, in the campaign's time zone."""
    value: datetime | None = None
    try:
        value = datetime.fromisoformat(text)
        if len(text) == 10:  # a date alone
            value = datetime.combine(value.date(), NOON)
    except ValueError:
        for pattern in ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y"):
            try:
                value = datetime.strptime(text, pattern)
            except ValueError:
                continue
            if pattern == "%d/%m/%Y":
                value = datetime.combine(value.date(), NOON)
            break
    if value is None:
        raise BadInput(f"when: not a time: {text!r} (ISO 8601 or dd/mm/yyyy HH:MM)", field="when")
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return check_instant(value, "when")


def _arguments(spec: lc.TargetCommand, record: dict[str, str]) -> dict[str, Any]:
    if spec is lc.ASSIGN:
        raw: dict[str, Any] = {c: record[c] for c in TARGET_COLUMNS[:5] if record.get(c)}
        if record.get("note"):
            raw["note"] = record["note"]
        if any(record.get(c) for c in DECISION_COLUMNS):
            raw["decision"] = {"number": record.get("decision_number") or None,
                               "issued_on": record.get("decision_issued_on") or None,
                               "issuer": record.get("decision_issuer") or None}
    else:
        raw = {}
        text = history.text_field(spec)
        if text and record.get("note"):
            raw[text] = record["note"]
        for column in ("percent", "new_deadline"):
            if record.get(column) and column in spec.args.model_fields:
                raw[column] = record[column]
    args = spec.parse(raw).kwargs()
    return {k: v for k, v in args.items() if k != "key"}


def read_rows(media_type: str, body: bytes, tz: str) -> HistoryRows:
    """Every row checked on its own (ImportRejected: the file as a whole is unusable)."""
    out = HistoryRows()
    for line, record in records(media_type, body):
        out.count += 1
        if record is None:
            out.errors.append(RowError(line, None, "row", "not as many values as the header has columns", "csv"))
            continue
        key = record.get("key") or None
        try:
            if not key or len(key) > 200:
                raise BadInput("key: 1..200 characters", field="key")
            spec = history.ACTIONS.get(record["action"])
            if spec is None:
                raise BadInput(f"action: one of {', '.join(history.ACTIONS)}", field="action")
            who = record.get("who") or ""
            if not who or len(who) > 200:
                raise BadInput("who: 1..200 characters (the person the old records name)", field="who")
            out.actions.append(PastAction(line=line, key=key, action=spec.name, when=parse_when(record["when"], tz),
                                          who=who, args=_arguments(spec, record)))
        except BadInput as error:
            out.errors.append(RowError(line, key, str(error.details.get("field") or "row"), error.message, error.kind))
    return out


# ------------------------------------------------------------------ against the store
@dataclass
class Outcome:
    rows: int
    played: list[history.Played]
    positions: dict[Any, int]


def check_and_record(app: Any, campaign: Any, rows: HistoryRows, importer: Actor, import_id: str,
                     now: datetime, *, record: bool) -> tuple[list[RowError], Outcome | None]:
    """Play every target's rows in memory; with no error anywhere and `record`, save them
    all in one transaction. Runs in a thread (the domain application is synchronous)."""
    errors = list(rows.errors)
    units_checked: dict[str, bool] = {}
    for past in rows.actions:
        unit = past.args.get("unit_id") if past.action == lc.ASSIGN.name else None
        if unit is not None and not units_checked.setdefault(unit, _unit_exists(app, unit)):
            errors.append(RowError(past.line, past.key, "unit_id", f"unit {unit!r} is not registered", "unknown_unit"))
    bad_keys = {e.key for e in errors}
    by_key: dict[str, list[PastAction]] = defaultdict(list)
    for past in rows.actions:
        by_key[past.key].append(past)
    played: list[history.Played] = []
    for key, actions in by_key.items():
        if key in bad_keys:
            continue
        existing = _existing(app, target_id_for(campaign.campaign_id, key))
        result, error = history.play(key, existing, actions, campaign_id=campaign.campaign_id,
                                     timezone=campaign.timezone, policy=campaign.policy, importer=importer,
                                     import_id=import_id, now=now,
                                     registered_decision=campaign.registered_decision)
        if error is not None:
            errors.append(error)
        elif result is not None:
            played.append(result)
    errors.sort(key=lambda e: e.line)
    if errors or not record:
        return errors, None
    changed = [p.target for p in played if p.events]
    try:
        positions = app.save_each(*changed) if changed else {}
    except VersionConflict:
        raise VersionConflict("a target of the import changed while it was being imported; send it again") from None
    return [], Outcome(rows.count, played, positions)


def _unit_exists(app: Any, unit_id: str) -> bool:
    try:
        app.get_unit(unit_id)
    except NotFound:
        return False
    return True


def _existing(app: Any, target_id: Any) -> Any:
    try:
        return app.get_target(target_id)
    except NotFound:
        return None


def report(errors: list[RowError]) -> list[dict[str, Any]]:
    """Every bad row with its line and its errors (the shape of the target import's report)."""
    by_line: dict[int, dict[str, Any]] = {}
    for e in errors:
        row = by_line.setdefault(e.line, {"line": e.line, "key": e.key, "errors": []})
        row["errors"].append({"field": e.field, "message": e.message, "type": e.kind})
    return list(by_line.values())
