"""The User aggregate's sign-in events: activation once, within 72 hours, hashes only."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from thidua.domain.errors import BadInput, NotAllowed
from thidua.domain.user import ActivationGone, User, check_login
from thidua.domain.values import Actor, Command, Role

AT = datetime(2022, 2, 15, 8, 0, tzinfo=timezone.utc)
SEC = Actor(id="vp", name="Văn phòng", role=Role.SECRETARIAT)


def new_user(expires: datetime = AT + timedelta(hours=72)) -> User:
    user = User.create(Command("c1", SEC, AT), user_id="u1", name="Nguyễn Văn An", role=Role.INSPECTOR,
                       unit_id=None, token_hash="t", login="An.Nguyen", activation_hash="h1",
                       activation_expires=expires)
    user.collect_events()
    return user


def by_self(user: User, command_id: str, at: datetime) -> Command:
    return Command(command_id, user.as_actor(), at)


def test_activation_sets_the_password_hash_and_uses_the_link_up() -> None:
    user = new_user()
    assert user.login == "an.nguyen"
    assert user.activate(by_self(user, "a1", AT + timedelta(hours=1)), activation_hash="h1", password_hash="argon")
    assert user.password_hash == "argon" and user.activation_hash is None
    (event,) = user.collect_events()
    assert type(event).__name__ == "PasswordSet" and event.actor.id == "u1"
    with pytest.raises(ActivationGone):
        user.activate(by_self(user, "a2", AT + timedelta(hours=2)), activation_hash="h1", password_hash="other")


def test_a_replayed_activation_records_nothing() -> None:
    user = new_user()
    cmd = by_self(user, "a1", AT)
    assert user.activate(cmd, activation_hash="h1", password_hash="argon")
    assert not user.activate(cmd, activation_hash="h1", password_hash="argon")


def test_a_wrong_or_expired_link_is_gone() -> None:
    user = new_user()
    with pytest.raises(ActivationGone):
        user.activate(by_self(user, "a1", AT), activation_hash="nope", password_hash="argon")
    with pytest.raises(ActivationGone):
        user.activate(by_self(user, "a2", AT + timedelta(hours=72)), activation_hash="h1", password_hash="argon")
    assert user.password_hash is None


def test_the_secretariat_issues_a_new_link() -> None:
    user = new_user()
    later = AT + timedelta(days=5)
    with pytest.raises(NotAllowed):
        user.issue_activation(by_self(user, "i0", later), activation_hash="h2", expires=later + timedelta(hours=72))
    assert user.issue_activation(Command("i1", SEC, later), activation_hash="h2", expires=later + timedelta(hours=72))
    assert user.activate(by_self(user, "a1", later), activation_hash="h2", password_hash="argon")


def test_logins_are_plain_and_compared_in_lower_case() -> None:
    assert check_login("  Thanh.Tra@VinhYen ") == "thanh.tra@vinhyen"
    for bad in ("a", "có dấu", "-dash-first", "x" * 101):
        with pytest.raises(BadInput):
            check_login(bad)
