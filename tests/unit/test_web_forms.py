"""The command forms a person may use now (thidua.api.web.forms), built from the request models."""

from __future__ import annotations

import pytest

from thidua.api.web.forms import FormRefused, available_commands, read_form
from thidua.domain.values import Actor, Role

HEAD = Actor(id="h", name="Trưởng phường", role=Role.UNIT_HEAD, unit_id="ngo-quyen")
OTHER_HEAD = Actor(id="o", name="Trưởng phường khác", role=Role.UNIT_HEAD, unit_id="dong-da")
BTV = Actor(id="b", name="BTV", role=Role.STANDING_COMMITTEE)
SEC = Actor(id="s", name="Văn phòng", role=Role.SECRETARIAT)
INSPECTOR = Actor(id="i", name="UBKT", role=Role.INSPECTOR)


def target(status: str) -> dict[str, str]:
    return {"status": status, "unit_id": "ngo-quyen"}


def names(actor: Actor, status: str) -> set[str]:
    return {f.name for f in available_commands(actor, target(status))}


def test_each_person_gets_only_the_commands_they_may_use_in_this_state() -> None:
    assert names(HEAD, "assigned") == {"start", "report_progress", "block", "complete"}
    assert names(HEAD, "blocked") == {"unblock", "escalate"}
    assert names(HEAD, "escalated") == set()
    assert names(OTHER_HEAD, "assigned") == set()
    assert names(BTV, "escalated") == {"resolve", "extend_deadline", "reassign", "cancel"}
    assert names(SEC, "completed") == {"reopen"}
    assert names(INSPECTOR, "blocked") == set()


def test_fields_come_from_the_request_model() -> None:
    (resolve,) = [f for f in available_commands(BTV, target("escalated")) if f.name == "resolve"]
    fields = {f.name: (f.kind, f.required) for f in resolve.fields}
    assert fields == {"directive": ("textarea", True), "new_deadline": ("date", False),
                      "reassign_to": ("text", False), "coordinating_unit_ids": ("list", False)}


def test_what_was_typed_becomes_the_request_model_or_a_message_per_field() -> None:
    (resolve,) = [f for f in available_commands(BTV, target("escalated")) if f.name == "resolve"]
    body = read_form(resolve, {"directive": "Phối hợp giải quyết", "new_deadline": "31/10/2022",
                               "coordinating_unit_ids": "a, b\nc"})
    assert str(body.new_deadline) == "2022-10-31" and body.coordinating_unit_ids == ["a", "b", "c"]
    with pytest.raises(FormRefused) as refused:
        read_form(resolve, {"directive": "", "new_deadline": "31/02/2022"})
    assert set(refused.value.errors) == {"new_deadline"}
    with pytest.raises(FormRefused) as refused:
        read_form(resolve, {"directive": ""})
    assert set(refused.value.errors) == {"directive"}
