"""Errors keep their class and attributes across Temporal, and command arguments keep
their meaning on the way to the activity (pure code: no server needed)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from thidua.domain.errors import (
    BadInput,
    CampaignClosed,
    CommandIdReused,
    InvalidTransition,
    NotAllowed,
    NotFound,
    VersionConflict,
)
from thidua.domain.values import Decision
from thidua.workflows.commands import decode_args, encode_args
from thidua.workflows.errors import CommandFailed, ServiceUnavailable, domain_error_from, to_application_error


@pytest.mark.parametrize(
    "error",
    [
        NotAllowed("unit_head 'h' may not resolve a target of unit 'u'", command="resolve", role="unit_head"),
        InvalidTransition("unblock", "assigned"),
        CampaignClosed("start", message="cannot start: campaign 'c' is closed", campaign_id="c"),
        BadInput("reason is required", field="reason"),
        CommandIdReused("command id 'c' was already used for a different command", command_id="c"),
        VersionConflict("target is at version 3, not 2", expected_version=2, current_version=3),
        NotFound("target not found", id="t"),
    ],
    ids=lambda e: e.kind,
)
def test_a_domain_error_comes_back_as_the_same_class_with_the_same_details(error):
    rebuilt = domain_error_from(to_application_error(error))
    assert type(rebuilt) is type(error)
    assert rebuilt.to_dict() == error.to_dict()
    if isinstance(error, InvalidTransition):
        assert (rebuilt.command, rebuilt.state) == (error.command, error.state)
    if isinstance(error, BadInput):
        assert rebuilt.field == error.field


def test_other_failures_are_unavailable_or_internal():
    from temporalio.exceptions import ApplicationError

    assert isinstance(domain_error_from(ApplicationError("down", type="service_unavailable")), ServiceUnavailable)
    assert isinstance(domain_error_from(ApplicationError("boom", type="internal_error")), CommandFailed)
    assert ServiceUnavailable("x").to_dict()["retryable"] is True


def test_arguments_travel_as_json_and_arrive_as_the_domain_expects():
    sent = encode_args("extend_deadline", {
        "new_deadline": date(2022, 12, 31), "reason": "QĐ 937",
        "decision": Decision(number="937-QĐ/TU", issued_on=date(2022, 2, 21), issuer="BTV"),
    })
    assert sent["new_deadline"] == "2022-12-31" and sent["decision"]["issued_on"] == "2022-02-21"
    received = decode_args("extend_deadline", sent)
    assert received["new_deadline"] == date(2022, 12, 31)
    assert received["decision"] == Decision(number="937-QĐ/TU", issued_on=date(2022, 2, 21), issuer="BTV")
    # 50, 50.0 and "50" are one and the same percentage (and so one fingerprint).
    assert {decode_args("report_progress", encode_args("report_progress", {"percent": p}))["percent"]
            for p in (50, 50.0, "50", Decimal("50"))} == {Decimal("50")}


@pytest.mark.parametrize(
    ("command", "args", "field"),
    [
        ("fly", {}, "command"),
        ("start", {"colour": "red"}, "colour"),
        ("report_progress", {"percent": "a lot"}, "percent"),
        ("extend_deadline", {"new_deadline": "31/12/2022", "reason": "r"}, "new_deadline"),
        ("block", {"reason": 42}, "reason"),
    ],
)
def test_malformed_arguments_are_bad_input_naming_the_field(command, args, field):
    with pytest.raises(BadInput) as refused:
        encode_args(command, args)
    assert refused.value.field == field


def test_a_missing_required_argument_is_bad_input_naming_it():
    with pytest.raises(BadInput) as refused:
        decode_args("cancel", {})
    assert refused.value.field == "reason"
