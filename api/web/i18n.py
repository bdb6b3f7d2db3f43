"""The pages' words in Vietnamese (the default) and English, and dates as people write them.

The language is chosen by `?lang=vi|en` (remembered in a cookie) or that cookie. A
missing English word falls back to the Vietnamese one, a missing key to the key, so
a forgotten translation shows up as itself instead of breaking the page.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from thidua.domain.notifications import NOTICES
from thidua.api.web.evaluation_words import EVALUATION_WORDS
from thidua.domain.values import DEFAULT_TIMEZONE

LANGUAGES = ("vi", "en")
LANG_COOKIE = "thidua_lang"

WORDS: dict[str, dict[str, str]] = {
    "app": {"vi": "Theo dõi thi đua", "en": "Emulation tracker"},
    "skip": {"vi": "Bỏ qua để đến nội dung chính", "en": "Skip to main content"},
    "home": {"vi": "Trang chủ", "en": "Home"},
    "targets": {"vi": "Chỉ tiêu", "en": "Targets"},
    "scoreboard": {"vi": "Bảng xếp hạng", "en": "Scoreboard"},
    "escalations": {"vi": "Báo cáo BTV tháo gỡ", "en": "Escalations"},
    "audit": {"vi": "Nhật ký kiểm tra", "en": "Audit trail"},
    "import": {"vi": "Nhập chỉ tiêu", "en": "Import"},
    "users": {"vi": "Người dùng", "en": "Users"},
    "sign_in": {"vi": "Đăng nhập", "en": "Sign in"},
    "sign_out": {"vi": "Đăng xuất", "en": "Sign out"},
    "login": {"vi": "Tên đăng nhập", "en": "Login"},
    "password": {"vi": "Mật khẩu", "en": "Password"},
    "password_hint": {"vi": "Ít nhất 10 ký tự", "en": "At least 10 characters"},
    "wrong": {"vi": "Tên đăng nhập hoặc mật khẩu không đúng", "en": "The login or the password is wrong"},
    "login_required": {"vi": "Nhập tên đăng nhập", "en": "Enter your login"},
    "password_required": {"vi": "Nhập mật khẩu", "en": "Enter your password"},
    "activate": {"vi": "Đặt mật khẩu", "en": "Set your password"},
    "activated": {"vi": "Đã đặt mật khẩu. Mời đăng nhập.", "en": "Your password is set. Please sign in."},
    "signed_out": {"vi": "Đã đăng xuất.", "en": "You are signed out."},
    "session_expired": {"vi": "Phiên làm việc đã hết hạn. Mời đăng nhập lại.",
                        "en": "Your session has ended. Please sign in again."},
    "there_is_a_problem": {"vi": "Có lỗi cần sửa", "en": "There is a problem"},
    "forbidden": {"vi": "Không có quyền truy cập", "en": "You may not see this page"},
    "not_found": {"vi": "Không tìm thấy trang", "en": "Page not found"},
    "gone": {"vi": "Liên kết không còn dùng được", "en": "This link can no longer be used"},
    "too_many": {"vi": "Quá nhiều lần đăng nhập sai", "en": "Too many failed sign-ins"},
    "try_after": {"vi": "Thử lại sau {seconds} giây.", "en": "Try again in {seconds} seconds."},
    "campaign": {"vi": "Đợt thi đua", "en": "Campaign"},
    "unit": {"vi": "Đơn vị", "en": "Unit"},
    "cluster": {"vi": "Cụm thi đua", "en": "Cluster"},
    "status": {"vi": "Trạng thái", "en": "Status"},
    "report_class": {"vi": "Phân loại", "en": "Report class"},
    "overdue": {"vi": "Quá hạn", "en": "Overdue"},
    "deadline": {"vi": "Hạn", "en": "Deadline"},
    "area": {"vi": "Lĩnh vực", "en": "Area"},
    "points": {"vi": "Điểm", "en": "Points"},
    "decision": {"vi": "Quyết định", "en": "Decision"},
    "progress": {"vi": "Tiến độ", "en": "Progress"},
    "escalation": {"vi": "Báo cáo BTV", "en": "Escalation"},
    "directive": {"vi": "Chỉ đạo", "en": "Directive"},
    "timeline": {"vi": "Diễn biến", "en": "Timeline"},
    "actions": {"vi": "Thao tác", "en": "Actions"},
    "no_actions": {"vi": "Bạn không có thao tác nào với chỉ tiêu này lúc này.",
                   "en": "There is nothing you can do with this target now."},
    "filter": {"vi": "Lọc", "en": "Filter"},
    "all": {"vi": "Tất cả", "en": "All"},
    "yes": {"vi": "Có", "en": "Yes"},
    "no": {"vi": "Không", "en": "No"},
    "next_page": {"vi": "Trang sau", "en": "Next page"},
    "none": {"vi": "Không có", "en": "None"},
    "rank": {"vi": "Hạng", "en": "Rank"},
    "score": {"vi": "Điểm / tối đa", "en": "Score / max"},
    "reward": {"vi": "Đề nghị khen thưởng", "en": "Reward candidate"},
    "as_of": {"vi": "Tính đến ngày", "en": "As of"},
    "show": {"vi": "Xem", "en": "Show"},
    "download_csv": {"vi": "Tải CSV", "en": "Download CSV"},
    "download_xlsx": {"vi": "Tải Excel (XLSX)", "en": "Download XLSX"},
    "what_if": {"vi": "Thử thang điểm khác", "en": "What if"},
    "on_time_weight": {"vi": "Hệ số đúng hạn", "en": "On-time weight"},
    "late_weight": {"vi": "Hệ số quá hạn", "en": "Late weight"},
    "reward_slots": {"vi": "Số đơn vị được khen", "en": "Reward slots"},
    "opened": {"vi": "Mở lúc", "en": "Opened"},
    "age": {"vi": "Đã chờ", "en": "Waiting"},
    "sla_due": {"vi": "Hạn xử lý", "en": "Due by"},
    "reason": {"vi": "Lý do", "en": "Reason"},
    "open_target": {"vi": "Mở chỉ tiêu", "en": "Open target"},
    "verify_ok": {"vi": "Chuỗi băm toàn vẹn ({checked} sự kiện)", "en": "Hash chain intact ({checked} events)"},
    "verify_bad": {"vi": "Chuỗi băm bị sai từ vị trí {position}", "en": "Hash chain broken at position {position}"},
    "when": {"vi": "Thời điểm", "en": "When"},
    "who": {"vi": "Người thực hiện", "en": "Who"},
    "what": {"vi": "Việc", "en": "What"},
    "position": {"vi": "Vị trí", "en": "Position"},
    "actor": {"vi": "Người thực hiện (mã)", "en": "Actor id"},
    "your_overdue": {"vi": "Chỉ tiêu quá hạn", "en": "Overdue targets"},
    "your_blocked": {"vi": "Chỉ tiêu vướng mắc", "en": "Blocked targets"},
    "your_due_soon": {"vi": "Sắp đến hạn (30 ngày)", "en": "Due within 30 days"},
    "overdue_by_unit": {"vi": "Quá hạn theo đơn vị", "en": "Overdue by unit"},
    "stale_by_unit": {"vi": "Lâu không cập nhật theo đơn vị", "en": "Stale by unit"},
    "count": {"vi": "Số lượng", "en": "Count"},
    "nothing_now": {"vi": "Không có việc gì cần xử lý.", "en": "Nothing needs you now."},
    "create_user": {"vi": "Tạo người dùng", "en": "Create a user"},
    "name": {"vi": "Họ và tên", "en": "Name"},
    "role": {"vi": "Vai trò", "en": "Role"},
    "email": {"vi": "Thư điện tử", "en": "E-mail"},
    "optional": {"vi": "(không bắt buộc)", "en": "(optional)"},
    "create": {"vi": "Tạo", "en": "Create"},
    "revoke": {"vi": "Thu hồi", "en": "Revoke"},
    "revoked": {"vi": "Đã thu hồi", "en": "Revoked"},
    "activation_link": {"vi": "Liên kết kích hoạt (dùng một lần, 72 giờ)",
                        "en": "Activation link (one use, 72 hours)"},
    "new_link": {"vi": "Cấp liên kết kích hoạt mới", "en": "New activation link"},
    "user_created": {"vi": "Đã tạo người dùng", "en": "User created"},
    "upload": {"vi": "Tệp CSV hoặc XLSX", "en": "CSV or XLSX file"},
    "check_file": {"vi": "Kiểm tra tệp", "en": "Check the file"},
    "confirm_import": {"vi": "Xác nhận nhập {n} chỉ tiêu", "en": "Import {n} targets"},
    "rows_ok": {"vi": "{n} dòng hợp lệ, chưa có gì được ghi.", "en": "{n} rows are valid; nothing is recorded yet."},
    "rows_bad": {"vi": "{bad} trong {n} dòng có lỗi; chưa có gì được ghi.",
                 "en": "{bad} of {n} rows have errors; nothing was recorded."},
    "imported": {"vi": "Đã nhập các chỉ tiêu.", "en": "The targets are imported."},
    "upload_missing": {"vi": "Chọn một tệp CSV hoặc XLSX", "en": "Choose a CSV or XLSX file"},
    "line": {"vi": "Dòng", "en": "Line"},
    "done": {"vi": "Đã ghi nhận.", "en": "Recorded."},
    "language": {"vi": "English", "en": "Tiếng Việt"},
    "secretariat": {"vi": "Văn phòng", "en": "Secretariat"},
    "standing_committee": {"vi": "Ban Thường vụ", "en": "Standing Committee"},
    "unit_head": {"vi": "Người đứng đầu đơn vị", "en": "Unit head"},
    "inspector": {"vi": "Ủy ban Kiểm tra", "en": "Inspector"},
    "system": {"vi": "Hệ thống (hẹn giờ)", "en": "System (timer)"},
    # statuses and report classes
    "assigned": {"vi": "Đã giao", "en": "Assigned"},
    "in_progress": {"vi": "Đang thực hiện", "en": "In progress"},
    "blocked": {"vi": "Vướng mắc", "en": "Blocked"},
    "escalated": {"vi": "Đã báo cáo BTV", "en": "Escalated"},
    "completed": {"vi": "Hoàn thành", "en": "Completed"},
    "cancelled": {"vi": "Đã hủy", "en": "Cancelled"},
    "awaiting_acceptance": {"vi": "Hoàn thành, chờ nghiệm thu", "en": "Completed, awaiting acceptance"},
    "open": {"vi": "Đang chờ BTV", "en": "Open"},
    "resolved": {"vi": "Đã tháo gỡ", "en": "Resolved"},
    "completed_on_time": {"vi": "Hoàn thành đúng hạn", "en": "Completed on time"},
    "completed_late": {"vi": "Hoàn thành quá hạn", "en": "Completed late"},
    "in_progress_within_deadline": {"vi": "Đang thực hiện trong hạn", "en": "In progress within the deadline"},
    # commands
    "cmd_start": {"vi": "Bắt đầu thực hiện", "en": "Start"},
    "cmd_report_progress": {"vi": "Báo cáo tiến độ", "en": "Report progress"},
    "cmd_block": {"vi": "Báo cáo vướng mắc", "en": "Report an obstacle"},
    "cmd_unblock": {"vi": "Đã hết vướng mắc", "en": "The obstacle is gone"},
    "cmd_escalate": {"vi": "Đề nghị BTV tháo gỡ", "en": "Ask the Standing Committee"},
    "cmd_resolve": {"vi": "Tháo gỡ (chỉ đạo)", "en": "Resolve with a directive"},
    "cmd_complete": {"vi": "Báo cáo hoàn thành", "en": "Report completion"},
    "cmd_reopen": {"vi": "Mở lại", "en": "Reopen"},
    "cmd_accept": {"vi": "Nghiệm thu", "en": "Accept"},
    "cmd_return_completion": {"vi": "Trả lại kết quả", "en": "Return the completion"},
    "cmd_assign": {"vi": "Giao chỉ tiêu", "en": "Assign"},
    "cmd_extend_deadline": {"vi": "Gia hạn", "en": "Extend the deadline"},
    "cmd_reassign": {"vi": "Giao cho đơn vị khác", "en": "Reassign"},
    "cmd_cancel": {"vi": "Hủy chỉ tiêu", "en": "Cancel the target"},
    # command fields
    "f_note": {"vi": "Ghi chú", "en": "Note"},
    "f_percent": {"vi": "Phần trăm hoàn thành", "en": "Percent done"},
    "f_value": {"vi": "Giá trị đạt được", "en": "Value reached"},
    "f_reason": {"vi": "Lý do", "en": "Reason"},
    "f_help_needed": {"vi": "Đề nghị hỗ trợ", "en": "Help needed"},
    "f_directive": {"vi": "Nội dung chỉ đạo", "en": "Directive"},
    "f_new_deadline": {"vi": "Hạn mới", "en": "New deadline"},
    "f_reassign_to": {"vi": "Giao cho đơn vị (mã)", "en": "Reassign to unit (id)"},
    "f_coordinating_unit_ids": {"vi": "Đơn vị phối hợp (mã, cách nhau bởi dấu phẩy)",
                                "en": "Coordinating units (ids, comma-separated)"},
    "f_result": {"vi": "Kết quả", "en": "Result"},
    "f_evidence": {"vi": "Minh chứng", "en": "Evidence"},
    "f_unit_id": {"vi": "Đơn vị (mã)", "en": "Unit (id)"},
    "date_hint": {"vi": "Ví dụ 30/09/2022", "en": "For example 30/09/2022"},
    # events of the timeline
    "ev_Assigned": {"vi": "Giao chỉ tiêu", "en": "Assigned"},
    "ev_Started": {"vi": "Bắt đầu thực hiện", "en": "Started"},
    "ev_ProgressReported": {"vi": "Báo cáo tiến độ", "en": "Progress reported"},
    "ev_Blocked": {"vi": "Báo cáo vướng mắc", "en": "Blocked"},
    "ev_Unblocked": {"vi": "Hết vướng mắc", "en": "Unblocked"},
    "ev_Escalated": {"vi": "Báo cáo BTV", "en": "Escalated"},
    "ev_Resolved": {"vi": "BTV chỉ đạo tháo gỡ", "en": "Resolved"},
    "ev_Completed": {"vi": "Hoàn thành", "en": "Completed"},
    "ev_Reopened": {"vi": "Mở lại", "en": "Reopened"},
    "ev_DeadlineExtended": {"vi": "Gia hạn", "en": "Deadline extended"},
    "ev_Reassigned": {"vi": "Giao lại", "en": "Reassigned"},
    "ev_Cancelled": {"vi": "Hủy", "en": "Cancelled"},
    "ev_Commented": {"vi": "Ý kiến", "en": "Comment"},
    "ev_EvidenceAttached": {"vi": "Nộp minh chứng", "en": "Evidence attached"},
    # the paper trail (comments, evidence files)
    "comments": {"vi": "Ý kiến, đôn đốc, chỉ đạo", "en": "Comments, urges, directives"},
    "no_comments": {"vi": "Chưa có ý kiến nào.", "en": "No comments yet."},
    "kind_comment": {"vi": "Ý kiến", "en": "Comment"},
    "kind_reply": {"vi": "Trả lời", "en": "Reply"},
    "kind_urge": {"vi": "Đôn đốc", "en": "Urge"},
    "kind_directive": {"vi": "Chỉ đạo", "en": "Directive"},
    "comment_kind": {"vi": "Loại", "en": "Kind"},
    "comment_body": {"vi": "Nội dung", "en": "Text"},
    "comment_hint": {"vi": "Tối đa {n} ký tự", "en": "At most {n} characters"},
    "send_comment": {"vi": "Gửi", "en": "Send"},
    "comment_empty": {"vi": "Nhập nội dung", "en": "Enter the text"},
    "comment_too_long": {"vi": "Nội dung quá dài", "en": "The text is too long"},
    "comment_kind_pick": {"vi": "Chọn loại ý kiến", "en": "Choose a kind"},
    "urged": {"vi": "Văn phòng Thành ủy đôn đốc", "en": "The secretariat urges"},
    "evidence_files": {"vi": "Minh chứng", "en": "Evidence files"},
    "no_evidence": {"vi": "Chưa có minh chứng.", "en": "No evidence files yet."},
    "file": {"vi": "Tệp minh chứng", "en": "Evidence file"},
    "file_hint": {"vi": "PDF, ảnh (PNG, JPEG, WebP) hoặc văn bản Office, tối đa {mb} MB",
                  "en": "PDF, an image (PNG, JPEG, WebP) or an office document, at most {mb} MB"},
    "upload_button": {"vi": "Tải lên", "en": "Upload"},
    "uploading": {"vi": "Đang tải lên", "en": "Uploading"},
    "download": {"vi": "Tải về", "en": "Download"},
    "file_missing": {"vi": "Chọn tệp cần tải lên", "en": "Choose a file to upload"},
    "file_empty": {"vi": "Tệp rỗng", "en": "The file is empty"},
    "file_too_large": {"vi": "Tệp quá lớn", "en": "The file is too large"},
    "file_file_type": {"vi": "Loại tệp không được chấp nhận (chỉ PDF, ảnh, văn bản Office)",
                       "en": "This kind of file is not accepted (PDF, images, office documents only)"},
    "by": {"vi": "bởi", "en": "by"},
    "ev_CompletedByChildren": {"vi": "Hoàn thành theo các chỉ tiêu con", "en": "Completed by its children"},
    "ev_ReopenedByChild": {"vi": "Mở lại do chỉ tiêu con mở lại", "en": "Reopened by a child"},
    # Decisions and the cascade
    "decisions": {"vi": "Quyết định", "en": "Decisions"},
    "no_decisions": {"vi": "Chưa có quyết định nào.", "en": "No decision yet."},
    "issued_on": {"vi": "Ngày ban hành", "en": "Issued on"},
    "issuer": {"vi": "Cơ quan ban hành", "en": "Issuer"},
    "title": {"vi": "Trích yếu", "en": "Title"},
    "makes_concrete": {"vi": "Cụ thể hóa", "en": "Makes concrete"},
    "level_province": {"vi": "Cấp tỉnh", "en": "Province"},
    "level_city": {"vi": "Cấp thành phố", "en": "City"},
    "level_ward": {"vi": "Cấp phường, xã", "en": "Ward"},
    "level_unit": {"vi": "Cấp cơ sở", "en": "Unit"},
    "no_targets_of_decision": {"vi": "Quyết định này chưa giao chỉ tiêu nào.", "en": "This decision assigned no target yet."},
    "city_targets": {"vi": "Chỉ tiêu của Thành ủy", "en": "City targets"},
    "no_city_targets": {"vi": "Chưa có chỉ tiêu nào được cụ thể hóa.", "en": "No target has been broken down yet."},
    "children": {"vi": "Chỉ tiêu con", "en": "Children"},
    "open_children": {"vi": "Chưa xong", "en": "Open"},
    "percent_done": {"vi": "Hoàn thành (theo điểm)", "en": "Done (by points)"},
    "parent_target": {"vi": "Chỉ tiêu cha", "en": "Parent target"},
    "rollup": {"vi": "Tổng hợp từ chỉ tiêu con", "en": "Rolled up from its children"},
    "ev_CompletionReported": {"vi": "Báo cáo hoàn thành, chờ nghiệm thu", "en": "Completion reported, awaiting acceptance"},
    "ev_Accepted": {"vi": "Nghiệm thu", "en": "Accepted"},
    "ev_Returned": {"vi": "Trả lại kết quả", "en": "Returned"},
    "ev_AcceptanceReminded": {"vi": "Nhắc nghiệm thu", "en": "Acceptance reminder"},
    "ev_HistoryMigrated": {"vi": "Nhập lịch sử từ hồ sơ cũ", "en": "History brought from the old records"},
    "ev_DeadlinePassed": {"vi": "Quá hạn", "en": "Deadline passed"},
    # acceptance and the history import
    "acceptance_queue": {"vi": "Chờ nghiệm thu", "en": "Awaiting acceptance"},
    "acceptance_lead": {"vi": "Kết quả đơn vị báo cáo hoàn thành, báo cáo sớm nhất ở trên. Đúng hạn hay quá hạn "
                                "được tính theo thời điểm đơn vị báo cáo.",
                        "en": "Completions the units reported, the oldest first. On time or late is judged at the "
                              "unit's report."},
    "reported_at": {"vi": "Báo cáo lúc", "en": "Reported"},
    "returned_because": {"vi": "Trả lại vì", "en": "Returned because"},
    "reports": {"vi": "Số lần báo cáo", "en": "Reports"},
    "reminders": {"vi": "Số lần nhắc", "en": "Reminders"},
    "history_import": {"vi": "Nhập lịch sử từ hồ sơ cũ", "en": "History from the old records"},
    "history_lead": {"vi": "Mỗi dòng là một hoạt động đã diễn ra: được ghi đúng thời điểm trong hồ sơ, kèm thời "
                              "điểm nhập và người nhập. Mọi dòng được kiểm tra trước khi ghi.",
                     "en": "Each row is an action that happened: recorded at its time in the records, with when and "
                           "by whom it was imported. Every row is checked before anything is recorded."},
    "history_assign_columns": {"vi": "dòng giao chỉ tiêu (assign) thêm", "en": "assign rows also"},
    "history_rows_bad": {"vi": "{bad} dòng có lỗi; chưa có gì được ghi.", "en": "{bad} rows are invalid; nothing "
                                                                              "was recorded."},
    "history_rows_ok": {"vi": "{n} hoạt động hợp lệ, chưa có gì được ghi.",
                        "en": "{n} actions are valid; nothing is recorded yet."},
    "confirm_history": {"vi": "Xác nhận nhập {n} hoạt động", "en": "Record {n} actions"},
    "history_recorded": {"vi": "Đã ghi {n} sự kiện từ hồ sơ cũ.", "en": "{n} events recorded from the old records."},
    "action": {"vi": "Hoạt động", "en": "Action"},
    "happened_at": {"vi": "Thời điểm", "en": "When"},
    "migrated": {"vi": "từ hồ sơ cũ", "en": "from the old records"},
    "recorded_here": {"vi": "nhập lúc", "en": "recorded"},
}
WORDS.update(EVALUATION_WORDS)  # the evaluation pages' words live beside them


def pick_language(query_lang: str | None, cookie_lang: str | None) -> str:
    for candidate in (query_lang, cookie_lang):
        if candidate in LANGUAGES:
            return candidate  # type: ignore[return-value]
    return "vi"


def translator(lang: str):  # noqa: ANN201 - a small closure for the templates
    def t(key: str, **values: Any) -> str:
        entry = WORDS.get(key)
        text = key if entry is None else entry.get(lang) or entry["vi"]
        return text.format(**values) if values else text

    return t


def _zone(tz: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz or DEFAULT_TIMEZONE)
    except Exception:  # noqa: BLE001 - an unknown zone name: show the campaign's default
        return ZoneInfo(DEFAULT_TIMEZONE)


def dmy(value: Any, tz: str | None = None) -> str:
    """dd/mm/yyyy; an instant is first put in the campaign's time zone."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_zone(tz))
        return value.strftime("%d/%m/%Y")
    return value.strftime("%d/%m/%Y")


def dmy_hm(value: Any, tz: str | None = None) -> str:
    """dd/mm/yyyy HH:MM in the campaign's time zone."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(_zone(tz))
    return value.strftime("%d/%m/%Y %H:%M")


def parse_dmy(text: str) -> date:
    """What a person types in a date field: dd/mm/yyyy (or the browser's yyyy-mm-dd)."""
    text = text.strip()
    if "/" in text:
        day, month, year = (int(p) for p in text.split("/"))
        return date(year, month, day)
    return date.fromisoformat(text)


# The notification pages (thidua.api.web.notification_pages). Each kind's Vietnamese line is
# the declaration's (thidua.domain.notifications: the e-mail subject and the inbox line).
_KIND_EN = {
    "target.escalated": "A target was escalated to the Standing Committee",
    "escalation.reminder": "Reminder: an escalation is past its deadline",
    "escalation.resolved": "An escalation was resolved",
    "target.directive": "A directive asks your unit to coordinate",
    "target.urged": "A target was urged",
    "target.overdue": "A target is overdue",
    "target.stale": "A target has had no progress for a long time",
    "target.returned": "A completion was returned",
    "target.awaiting_acceptance": "A completion awaits acceptance",
    "evaluation.opened": "An evaluation was opened",
    "evaluation.due_soon": "An evaluation is due soon",
    "award.approved": "An award was approved",
    "award.revoked": "An award was revoked",
    "digest.daily": "Daily digest: overdue and stale targets",
}


def _kind_words() -> dict[str, dict[str, str]]:
    return {f"kind_{n.kind}": {"vi": n.title_vi, "en": _KIND_EN.get(n.kind, n.kind)} for n in NOTICES}


WORDS.update({
    "inbox": {"vi": "Thông báo", "en": "Notifications"},
    "unread": {"vi": "Chưa đọc", "en": "Unread"},
    "unread_n": {"vi": "{n} thông báo chưa đọc", "en": "{n} unread"},
    "notification": {"vi": "Thông báo", "en": "Notification"},
    "no_notifications": {"vi": "Chưa có thông báo nào.", "en": "No notifications yet."},
    "mark_read": {"vi": "Đánh dấu đã đọc", "en": "Mark read"},
    "read_on": {"vi": "Đã đọc lúc", "en": "Read on"},
    "preferences": {"vi": "Cài đặt nhận thông báo", "en": "Notification settings"},
    "email_hint": {"vi": "Địa chỉ nhận thư cho các loại thông báo được chọn bên dưới.",
                   "en": "Where the kinds chosen below are e-mailed."},
    "channels_per_kind": {"vi": "Nhận thông báo qua", "en": "How each kind reaches you"},
    "channel_inbox": {"vi": "Trong hệ thống", "en": "In the app"},
    "channel_email": {"vi": "Thư điện tử", "en": "E-mail"},
    "channel_webhook": {"vi": "Webhook", "en": "Webhook"},
    "channel": {"vi": "Kênh", "en": "Channel"},
    "inbox_always": {"vi": "Thông báo trong hệ thống luôn được bật.", "en": "In-app notifications are always on."},
    "save": {"vi": "Lưu", "en": "Save"},
    "saved": {"vi": "Đã lưu.", "en": "Saved."},
    "webhooks": {"vi": "Webhook", "en": "Webhooks"},
    "webhook": {"vi": "Webhook", "en": "Webhook"},
    "register_webhook": {"vi": "Đăng ký webhook", "en": "Register a webhook"},
    "webhook_url": {"vi": "Địa chỉ nhận (URL)", "en": "Receiver URL"},
    "webhook_url_hint": {"vi": "Địa chỉ https của hệ thống nhận; địa chỉ nội bộ không được chấp nhận.",
                         "en": "The receiver's https address; private addresses are refused."},
    "webhook_events": {"vi": "Loại thông báo", "en": "Kinds"},
    "all_campaigns": {"vi": "Mọi đợt thi đua", "en": "Every campaign"},
    "webhook_registered": {"vi": "Đã đăng ký webhook", "en": "Webhook registered"},
    "secret_once": {"vi": "Khóa ký dưới đây chỉ hiện một lần này: hãy lưu lại để hệ thống nhận kiểm tra chữ ký.",
                    "en": "The signing secret below is shown this once: keep it, the receiver verifies "
                          "signatures with it."},
    "no_webhooks": {"vi": "Chưa có webhook nào.", "en": "No webhooks yet."},
    "active": {"vi": "Đang hoạt động", "en": "Active"},
    "disabled": {"vi": "Đã tắt", "en": "Disabled"},
    "disable_webhook": {"vi": "Tắt webhook", "en": "Disable the webhook"},
    "delivery_log": {"vi": "Nhật ký gửi", "en": "Delivery log"},
    "no_deliveries": {"vi": "Chưa gửi lần nào.", "en": "Nothing delivered yet."},
    "attempt": {"vi": "Lần thử", "en": "Attempt"},
    "attempts": {"vi": "Số lần thử", "en": "Attempts"},
    "status_code": {"vi": "Mã trả lời", "en": "Status code"},
    "outcome": {"vi": "Kết quả", "en": "Outcome"},
    "next_retry": {"vi": "Thử lại lúc", "en": "Next retry"},
    "outcome_delivered": {"vi": "Đã gửi", "en": "Delivered"},
    "outcome_retrying": {"vi": "Sẽ thử lại", "en": "Retrying"},
    "outcome_failed": {"vi": "Thất bại", "en": "Failed"},
    "outcome_gone": {"vi": "Bên nhận báo ngừng (410)", "en": "Gone (410)"},
    "failed_notifications": {"vi": "Thông báo gửi không thành công", "en": "Notifications not delivered"},
    "failed_hint": {"vi": "Thư và webhook đã thử lại suốt một ngày (hoặc bị từ chối) mà không gửi được.",
                    "en": "E-mails and webhooks retried for a day (or refused) without being delivered."},
    "recipient": {"vi": "Người/nơi nhận", "en": "Recipient"},
    "last_answer": {"vi": "Lần trả lời cuối", "en": "Last answer"},
    "stale": {"vi": "Lâu chưa cập nhật", "en": "Stale"},
    "target": {"vi": "Chỉ tiêu", "en": "Target"},
    **_kind_words(),
})
