"""Scoreboard exports: CSV (UTF-8 with a BOM, so spreadsheet programs keep the
Vietnamese diacritics) and XLSX (openpyxl). One row per unit, ranked within its cluster.

No text a user typed (a unit or cluster name, an id) may become a formula when the file
is opened: in CSV a text cell that a spreadsheet would read as a formula (it begins
with `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'`, which
spreadsheets show as text; in XLSX every text cell is written with the string type, so
it is never a formula, and keeps its exact value.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

COUNT_COLUMNS = ("completed_on_time", "completed_late", "in_progress_within_deadline", "overdue", "blocked",
                 "escalated", "cancelled", "awaiting_acceptance")
HEADER = ("cluster_id", "cluster_name", "rank", "unit_id", "unit_name", "score", "max_score", "completion_rate",
          "reward_candidate", "eligible_forms", *COUNT_COLUMNS)

# The ids of the forms a unit is a candidate for, in one cell (ids hold no space).
FORM_SEPARATOR = " "

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def rows(board: dict[str, Any]) -> list[list[Any]]:
    result = []
    for cluster in board.get("clusters", []):
        for unit in cluster.get("units", []):
            counts = unit.get("counts", {})
            result.append([
                cluster.get("cluster_id"), cluster.get("name"), unit.get("rank"), unit.get("unit_id"),
                unit.get("name"), unit.get("score"), unit.get("max_score"), unit.get("completion_rate"),
                bool(unit.get("reward_candidate")), FORM_SEPARATOR.join(unit.get("eligible_forms") or ()),
                *(counts.get(c, 0) for c in COUNT_COLUMNS),
            ])
    return result


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """A text cell no spreadsheet will evaluate (numbers and booleans pass unchanged)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(board: dict[str, Any]) -> bytes:
    return table_csv(list(HEADER), rows(board))


def to_xlsx(board: dict[str, Any]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "Scoreboard"
    sheet.append(list(HEADER))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows(board):
        _append_text_safe(sheet, row)
    as_of = board.get("as_of")
    info = book.create_sheet("About")
    _append_text_safe(info, ["campaign_id", board.get("campaign_id")])
    _append_text_safe(info, ["as_of", str(as_of) if as_of is not None else ""])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _append_text_safe(sheet: Any, values: list[Any]) -> None:
    """Append a row; text cells get the string type (openpyxl would make a text that
    begins with `=` a formula)."""
    sheet.append(values)
    for cell, value in zip(sheet[sheet.max_row], values, strict=False):
        if isinstance(value, str):
            cell.value = value
            cell.data_type = "s"


def filename(board: dict[str, Any], extension: str) -> str:
    return safe_filename("scoreboard", str(board.get("campaign_id", "scoreboard")), extension)


def table_csv(header: list[str], table: list[list[Any]]) -> bytes:
    """Any table as the scoreboard's CSV is written (BOM, cells neutralised)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([csv_safe(v) for v in row] for row in table)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def table_xlsx(header: list[str], table: list[list[Any]], title: str) -> bytes:
    """Any table as the scoreboard's XLSX is written (bold header, text cells as text)."""
    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    _append_text_safe(sheet, list(header))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in table:
        _append_text_safe(sheet, row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def safe_filename(stem: str, name: str, extension: str) -> str:
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in name)
    return f"{stem}-{safe}.{extension}"
