"""Reading the old records' file (api/history_import.py): CSV and XLSX, the times people
write, and every row's problem reported with its line."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta, timezone

import pytest
from openpyxl import Workbook

from thidua.api.history_import import XLSX_MEDIA_TYPE, parse_when, read_rows
from thidua.api.importing import ImportRejected
from thidua.domain.errors import BadInput

TZ = "Asia/Ho_Chi_Minh"
VN = timezone(timedelta(hours=7))
HEADER = ["key", "action", "when", "who", "note", "unit_id", "title", "area", "deadline", "points"]


@pytest.mark.parametrize(("text", "expected"), [
    ("2022-03-01T08:30:00+07:00", datetime(2022, 3, 1, 8, 30, tzinfo=VN)),
    ("2022-03-01T08:30", datetime(2022, 3, 1, 8, 30, tzinfo=VN)),
    ("2022-03-01", datetime(2022, 3, 1, 12, 0, tzinfo=VN)),
    ("01/03/2022 08:30", datetime(2022, 3, 1, 8, 30, tzinfo=VN)),
    ("01/03/2022", datetime(2022, 3, 1, 12, 0, tzinfo=VN)),
])
def test_the_times_people_write_are_read_in_the_campaigns_time_zone(text, expected):
    assert parse_when(text, TZ) == expected


@pytest.mark.parametrize("text", ["31/02/2022", "hôm qua", "2022-13-01", "01/01/1900"])
def test_a_time_that_is_not_one_is_refused_naming_when(text):
    with pytest.raises(BadInput) as refused:
        parse_when(text, TZ)
    assert refused.value.details["field"] == "when"


def test_an_xlsx_sheet_reads_like_the_csv_dates_and_times_included():
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append(["k-1", "assign", datetime(2022, 2, 21, 8, 0), "Văn phòng Thành ủy", None, "ngo-quyen",
                  "Chỉnh trang đô thị", "Đô thị", date(2022, 9, 30), 10])
    sheet.append(["k-1", "start", datetime(2022, 3, 1, 0, 0), "Bí thư Đảng ủy phường", None, None, None, None, None,
                  None])
    out = io.BytesIO()
    book.save(out)
    rows = read_rows(XLSX_MEDIA_TYPE, out.getvalue(), TZ)
    assert rows.errors == [] and rows.count == 2
    assign, start = rows.actions
    assert assign.when == datetime(2022, 2, 21, 8, 0, tzinfo=VN) and assign.args["deadline"] == date(2022, 9, 30)
    assert start.when == datetime(2022, 3, 1, 12, 0, tzinfo=VN)  # a date alone: midday


def test_every_bad_row_is_reported_with_its_line():
    csv = "\n".join([
        ",".join(HEADER),
        "k-1,assign,21/02/2022,VP,,ngo-quyen,Chỉ tiêu,Đô thị,2022-09-30,10",
        "k-1,fly,01/03/2022,VP,,,,,,",
        "k-1,report_progress,01/03/2022,,,,,,,",
        "k-2,assign,21/02/2022,VP,,ngo-quyen,,Đô thị,2022-09-30,10",
        "k-3,start,01/03/2022",
    ]).encode()
    rows = read_rows("text/csv", csv, TZ)
    # (a short row is read as if its last cells were empty, as spreadsheets leave them)
    assert [(e.line, e.field) for e in rows.errors] == [(3, "action"), (4, "who"), (5, "title"), (6, "who")]
    assert [a.line for a in rows.actions] == [2]


def test_a_file_without_the_required_columns_is_refused_as_a_whole():
    with pytest.raises(ImportRejected) as refused:
        read_rows("text/csv", b"key,action,who\nk,start,A\n", TZ)
    assert "when" in refused.value.message


def test_both_imports_read_a_header_alike_naming_every_column_problem():
    from thidua.api.importing import parse_csv

    for read, header in ((lambda body: read_rows("text/csv", body, TZ), b"key,action,colour,key\n"),
                         (parse_csv, b"key,unit_id,title,area,colour,key\n")):
        with pytest.raises(ImportRejected) as refused:
            read(header + b"x\n")
        message = refused.value.message
        assert refused.value.field == "header" and message.startswith("header row: missing column(s): ")
        assert "unknown column(s): colour" in message and "repeated column names" in message
