"""The throttle on failed sign-ins and the pages' dates (pure parts of thidua.api.sessions, thidua.api.web.i18n)."""

from __future__ import annotations

from datetime import date

import pytest

from thidua.api.auth import hash_password, password_matches, password_problem
from thidua.api.problems import Problem
from thidua.api.sessions import LoginThrottle
from thidua.api.web.i18n import dmy, dmy_hm, parse_dmy, pick_language, translator


def test_failures_slow_then_refuse_per_login_and_a_success_forgives() -> None:
    throttle = LoginThrottle()
    delays = []
    for _ in range(5):
        delays.append(throttle.check("an", "10.0.0.1"))
        throttle.failed("an", "10.0.0.1")
    assert delays[:3] == [0, 0, 0] and 0 < delays[3] < delays[4]
    with pytest.raises(Problem) as refused:
        throttle.check("AN", "10.0.0.2")  # logins compare in lower case, from any address
    assert refused.value.status == 429 and int(refused.value.headers["Retry-After"]) > 0
    assert throttle.check("binh", "10.0.0.1") == 0  # another login from that address: not yet slowed
    other = LoginThrottle()
    for _ in range(3):
        other.failed("chi", "10.0.0.3")
    other.succeeded("chi")
    assert other.check("chi", "10.0.0.4") == 0


def test_one_address_is_refused_after_many_logins_fail() -> None:
    throttle = LoginThrottle()
    for i in range(12):
        throttle.failed(f"user{i}", "10.0.0.9")
    assert throttle.check("someone-new", "10.0.0.9") > 0  # an office shares an address: slowed first
    for i in range(12, 20):
        throttle.failed(f"user{i}", "10.0.0.9")
    with pytest.raises(Problem):
        throttle.check("someone-new", "10.0.0.9")


def test_passwords_are_argon2id_and_checked_without_a_hash_too() -> None:
    stored = hash_password("mật khẩu mới 2022")
    assert stored.startswith("$argon2id$")
    assert password_matches(stored, "mật khẩu mới 2022") and not password_matches(stored, "mật khẩu mới 2023")
    assert not password_matches(None, "anything at all")
    assert password_problem("short") and password_problem("x" * 1001) and password_problem("ten chars!") is None


def test_dates_read_as_people_write_them() -> None:
    assert dmy("2022-09-30") == "30/09/2022"
    assert dmy_hm("2022-02-14T17:30:00+00:00", "Asia/Ho_Chi_Minh") == "15/02/2022 00:30"
    assert dmy("2022-02-14T17:30:00+00:00", "Asia/Ho_Chi_Minh") == "15/02/2022"
    assert parse_dmy("30/9/2022") == parse_dmy("2022-09-30") == date(2022, 9, 30)
    with pytest.raises(ValueError):
        parse_dmy("31/02/2022")


def test_vietnamese_unless_english_is_asked_for() -> None:
    assert pick_language(None, None) == "vi" and pick_language("en", "vi") == "en"
    assert pick_language("fr", "en") == "en"
    assert translator("en")("blocked") == "Blocked" and translator("vi")("blocked") == "Vướng mắc"
    assert translator("en")("no-such-key") == "no-such-key"
