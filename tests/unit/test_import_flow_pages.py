"""The import pages' one upload → preview → confirm template (api/web/templates/import_flow.html),
rendered for each import without I/O: the preview of every row or every bad row, and the
confirm form that carries the file back to the page's own confirm action."""

from __future__ import annotations

from datetime import date, datetime, timezone
from types import SimpleNamespace
from typing import Any

from thidua.api.web.i18n import translator
from thidua.api.web.render import templates


def page(name: str, **context: Any) -> str:
    base = {"t": translator("vi"), "lang": "vi", "other_lang": "en", "lang_url": "/", "person": None,
            "csrf_token": "tok", "csrf_field": "csrf", "path": "/", "here": "/", "quote": str, "unread": None,
            "campaign": {"name": "Thi đua 2022"}, "cid": "c1", "errors": {}, "items": None, "bad": None,
            "file_name": "f.csv", "file_data": "a2V5", "import_id": "11111111-1111-1111-1111-111111111111",
            "tz": "Asia/Ho_Chi_Minh", "notice": None}
    segment = "import" if name == "import.html" else "history"
    base.update(action=f"/campaigns/c1/{segment}", confirm_action=f"/campaigns/c1/{segment}/confirm")
    return templates.get_template(name).render(**{**base, **context})


def test_the_target_import_previews_its_rows_and_confirms_at_its_own_action() -> None:
    row = SimpleNamespace(line=2, row=SimpleNamespace(unit_id="u1", title="Chỉnh trang đô thị",
                                                      deadline=date(2022, 9, 30), points=5))
    html = page("import.html", items=[row], names={"u1": "Phường Liên Bảo"})
    assert "<h1>Nhập chỉ tiêu</h1>" in html and "1 dòng hợp lệ" in html
    assert "Phường Liên Bảo" in html and "30/09/2022" in html
    assert 'action="/campaigns/c1/import/confirm"' in html and 'name="file_data" value="a2V5"' in html
    assert "Xác nhận nhập 1 chỉ tiêu" in html
    assert 'action="/campaigns/c1/import" enctype="multipart/form-data"' in html


def test_the_history_import_previews_its_actions_with_its_own_words() -> None:
    action = SimpleNamespace(line=3, key="hs-1", action="start", who="Bí thư",
                             when=datetime(2022, 3, 1, 1, 0, tzinfo=timezone.utc))
    html = page("history.html", items=[action], notice=None, recorded=None)
    assert "<h1>Nhập lịch sử từ hồ sơ cũ</h1>" in html and "1 hoạt động hợp lệ" in html
    assert "01/03/2022" in html and 'action="/campaigns/c1/history/confirm"' in html
    assert "Xác nhận nhập 1 hoạt động" in html and "history_assign_columns" not in html


def test_bad_rows_are_listed_and_nothing_can_be_confirmed() -> None:
    bad = [{"line": 4, "key": "k", "errors": [{"field": "unit_id", "message": "khong-co-don-vi"}]}]
    for name, words in (("import.html", "1 trong 2 dòng có lỗi"), ("history.html", "1 dòng có lỗi")):
        html = page(name, items=[object(), object()] if name == "import.html" else None, bad=bad, recorded=None)
        assert words in html and "khong-co-don-vi" in html
        assert "/confirm" not in html
