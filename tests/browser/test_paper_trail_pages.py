"""A target's paper trail in the browser: the urge at the top of an overdue target's page
for the unit's head, the comment thread with only the kinds this person may write (a bad
comment keeps what was typed, its message next to the field), evidence uploaded with a
plain form (no JavaScript) and with the progress bar, refused files, download links."""

from __future__ import annotations

import os
from datetime import date, timedelta
from typing import Any

from tests.browser.conftest import Drive, assign, check_accessibility, reload_until, signed_in

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + os.urandom(40_000)
EXE = b"MZ" + b"\x90\x00" * 30 + b"\x00" * 32 + b"PE\x00\x00" + os.urandom(2000)


def upload(name: str, content: bytes, mime: str = "application/pdf") -> dict[str, Any]:
    return {"name": name, "mimeType": mime, "buffer": content}


async def test_an_urge_on_an_overdue_target_heads_the_unit_heads_page_and_the_thread_offers_only_allowed_kinds(
    browser: Any, drive: Drive
) -> None:
    tid = await assign(drive, "ngo-quyen", "Hoàn thành đề án học tập và làm theo tư tưởng Hồ Chí Minh",
                       deadline=date.today() - timedelta(days=1))
    office = await signed_in(browser, drive, drive.secretariat)
    await office.goto(f"/targets/{tid}")
    await reload_until(office, "Quá hạn")  # the deadline timer marks it overdue
    assert await office.locator("#comment-kind option").all_inner_texts() == ["Ý kiến", "Trả lời", "Đôn đốc"]
    await office.select_option("#comment-kind", "urge")
    await office.fill("#comment-body", "Đề nghị đơn vị báo cáo kết quả trước ngày 30/6")
    await office.click("form[action$='/comments'] button[type=submit]")
    await office.wait_for_url("**notice=done*")
    assert "Đề nghị đơn vị báo cáo kết quả trước ngày 30/6" in await office.locator(".thread").inner_text()
    await check_accessibility(office)
    await office.context.close()

    head = await signed_in(browser, drive, drive.heads["ngo-quyen"])
    await head.goto(f"/targets/{tid}")
    banner = head.locator(".urge-banner")
    assert "Đề nghị đơn vị báo cáo kết quả trước ngày 30/6" in await banner.inner_text()
    # The banner comes before the facts of the target.
    assert await head.evaluate("document.querySelector('.urge-banner').compareDocumentPosition("
                               "document.querySelector('dl.summary')) & Node.DOCUMENT_POSITION_FOLLOWING")
    assert await head.locator("#comment-kind option").all_inner_texts() == ["Ý kiến", "Trả lời"]
    too_long = "Đã làm " * 700
    await head.select_option("#comment-kind", "reply")
    await head.fill("#comment-body", too_long)
    await head.click("form[action$='/comments'] button[type=submit]")
    assert "Nội dung quá dài" in await head.locator("#comment-body-error").inner_text()
    assert await head.input_value("#comment-body") == too_long.strip() or \
        (await head.input_value("#comment-body")).startswith("Đã làm")
    await check_accessibility(head)
    await head.fill("#comment-body", "Đơn vị xin tiếp thu, sẽ báo cáo đúng hạn")
    await head.click("form[action$='/comments'] button[type=submit]")
    await head.wait_for_url("**notice=done*")
    assert "Đơn vị xin tiếp thu" in await head.locator(".thread").inner_text()
    assert "Trả lời" in await head.locator("#timeline-h + ol").inner_text()
    await head.set_viewport_size({"width": 390, "height": 844})
    assert await head.evaluate("document.documentElement.scrollWidth") <= 390
    await check_accessibility(head)
    await head.context.close()


async def test_evidence_is_uploaded_without_javascript_and_with_a_progress_bar_and_bad_files_are_refused(
    browser: Any, drive: Drive
) -> None:
    tid = await assign(drive, "lien-bao", "Dự án chỉnh trang đô thị phường Liên Bảo")
    plain = await signed_in(browser, drive, drive.heads["lien-bao"], java_script_enabled=False)
    await plain.goto(f"/targets/{tid}")
    await plain.set_input_files("#evidence-file", upload("Biên bản nghiệm thu.pdf", PDF))
    await plain.click("form.upload button[type=submit]")
    await plain.wait_for_url("**notice=done*")
    link = plain.locator(".files a", has_text="Biên bản nghiệm thu.pdf")
    assert await link.count() == 1
    href = await link.get_attribute("href")
    fetched = await plain.context.request.get(href)
    assert fetched.status == 200 and await fetched.body() == PDF
    assert fetched.headers["content-disposition"].startswith("attachment")
    await plain.set_input_files("#evidence-file", upload("quyet-dinh.pdf", EXE))
    await plain.click("form.upload button[type=submit]")
    assert "Loại tệp không được chấp nhận" in await plain.locator("#evidence-file-error").inner_text()
    await plain.context.close()  # (axe runs in the page's JavaScript: checked below, with the same forms)

    scripted = await signed_in(browser, drive, drive.heads["lien-bao"])
    await scripted.goto(f"/targets/{tid}")
    assert await scripted.locator("form.upload progress").count() == 1
    await scripted.set_input_files("#evidence-file", upload("anh-hien-truong.png", b"\x89PNG\r\n\x1a\n" + PDF[9:],
                                                            "image/png"))
    await scripted.click("form.upload button[type=submit]")
    await scripted.wait_for_url("**notice=done*")
    assert await scripted.locator(".files a", has_text="anh-hien-truong.png").count() == 1
    await check_accessibility(scripted)
    await scripted.set_input_files("#evidence-file", upload("trong.pdf", b""))
    await scripted.click("form.upload button[type=submit]")
    await scripted.locator("#evidence-file-error").wait_for()
    assert "Tệp rỗng" in await scripted.locator("#evidence-file-error").inner_text()
    await check_accessibility(scripted)
    await scripted.context.close()

    # The cluster's head unit reads the files and may comment, but has no upload form.
    lead = await signed_in(browser, drive, drive.heads["ngo-quyen"])
    await lead.goto(f"/targets/{tid}")
    assert await lead.locator(".files a").count() == 2
    assert await lead.locator("form.upload").count() == 0
    assert await lead.locator("#comment-kind").count() == 1
    await lead.context.close()
