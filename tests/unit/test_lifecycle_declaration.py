"""Each target command is declared once (domain/lifecycle.py), and everything else is
derived from that declaration: the aggregate's guards, the arguments' trip through
Temporal, the API's request model and route, the forms a person is offered, the docs'
table. A new command needs its declaration and its domain method, nothing else."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from eventsourcing.domain import event

from thidua.api.models import COMMAND_BODIES, command_request_model
from thidua.api.routes.targets import add_command_route
from thidua.domain import lifecycle as lc
from thidua.domain.errors import BadInput, InvalidTransition, NotAllowed
from thidua.domain.permissions import OWNER
from thidua.domain.target import Target
from thidua.domain.values import Actor, Status
from tests.unit.test_domain_builders import OTHER_HEAD, OWNER_HEAD, OWNER_UNIT, SECRETARIAT, Clock, cmd, target_in

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ a command that does not exist yet
class AcknowledgeArgs(lc.Args):
    note: lc.Text


ACKNOWLEDGE = lc.TargetCommand(
    "acknowledge", "Acknowledged", AcknowledgeArgs, frozenset({Status.ASSIGNED}), frozenset({OWNER}),
    "Acknowledge the assignment (owning unit)", segment="acknowledge",
)


class AcknowledgingTarget(Target):
    @lc.handles(ACKNOWLEDGE)
    def acknowledge(self, meta: lc.Meta, note: str) -> None:
        self._acknowledged(note=note, **meta)

    @event("Acknowledged")
    def _acknowledged(self, note: str, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str) -> None:
        self.acknowledged = note
        self._record_meta(command_id, fingerprint, occurred_at, actor)


def _acknowledging_target(clock: Clock) -> AcknowledgingTarget:
    target = target_in(Status.ASSIGNED, clock)
    target.__class__ = AcknowledgingTarget  # the same aggregate, with the new method
    return target  # type: ignore[return-value]


def test_a_new_commands_guards_come_from_its_declaration() -> None:
    clock = Clock()
    target = _acknowledging_target(clock)

    with pytest.raises(NotAllowed):
        target.acknowledge(cmd(OTHER_HEAD, clock.tick()), note="đã nhận")
    with pytest.raises(NotAllowed):
        target.acknowledge(cmd(SECRETARIAT, clock.tick()), note="đã nhận")
    first = cmd(OWNER_HEAD, clock.tick())
    assert target.acknowledge(first, note="Đã nhận nhiệm vụ") is True
    assert target.acknowledge(first, note="Đã nhận nhiệm vụ") is False  # a replay records nothing
    target.start(cmd(OWNER_HEAD, clock.tick()))
    with pytest.raises(InvalidTransition):
        target.acknowledge(cmd(OWNER_HEAD, clock.tick()), note="lại")


def test_a_new_commands_arguments_travel_and_are_checked_by_its_declaration() -> None:
    assert ACKNOWLEDGE.decode(ACKNOWLEDGE.encode({"note": "  Đã nhận  "})) == {"note": "Đã nhận"}
    with pytest.raises(BadInput) as refused:
        ACKNOWLEDGE.encode({"note": "x", "colour": "red"})
    assert refused.value.field == "colour"
    with pytest.raises(BadInput) as refused:
        ACKNOWLEDGE.encode({})
    assert refused.value.field == "note"


def test_a_new_command_gets_its_route_request_model_and_docs_from_its_declaration() -> None:
    router = APIRouter()
    add_command_route(router, ACKNOWLEDGE, command_request_model(ACKNOWLEDGE))
    app = FastAPI()
    app.include_router(router)

    operation = app.openapi()["paths"]["/v1/targets/{tid}/acknowledge"]["post"]
    assert operation["operationId"] == "acknowledge_target"
    assert operation["summary"] == ACKNOWLEDGE.summary
    body = app.openapi()["components"]["schemas"]["AcknowledgeIn"]
    assert set(body["properties"]) == {"note", "expected_version"} and body["required"] == ["note"]
    assert body["additionalProperties"] is False
    assert "| acknowledge (note) | `POST /v1/targets/{tid}/acknowledge` | assigned | same | owning unit |" in \
        lc.lifecycle_table({"acknowledge": ACKNOWLEDGE})


def test_a_person_is_offered_exactly_the_commands_the_declarations_allow_now() -> None:
    offered = {c.name for c in lc.available_commands(OWNER_HEAD, OWNER_UNIT, Status.ASSIGNED,
                                                     [*lc.generic_routes(), ACKNOWLEDGE])}
    assert offered == {"start", "report_progress", "block", "complete", "acknowledge"}
    assert lc.available_commands(OTHER_HEAD, OWNER_UNIT, Status.ASSIGNED) == []
    assert {c.name for c in lc.available_commands(SECRETARIAT, OWNER_UNIT, Status.COMPLETED)} == {"reopen"}


# ------------------------------------------------------------------ the real table is whole
@pytest.mark.parametrize("command", list(lc.COMMANDS.values()), ids=lambda c: c.name)
def test_every_declared_command_has_its_domain_method_and_event(command: lc.TargetCommand) -> None:
    method = getattr(Target, command.name)
    if command is not lc.ASSIGN:
        assert method.command is command  # wrapped by handles(<this declaration>)
    assert isinstance(getattr(Target, command.event), type)  # the event class exists


def test_every_routed_command_has_a_request_model_and_a_route() -> None:
    from thidua.api.app import create_app

    paths = create_app().openapi()["paths"]
    for command in lc.routed():
        assert f"/v1/targets/{{tid}}/{command.segment}" in paths
        fields = set(COMMAND_BODIES[command.name].model_fields)
        assert fields == {*command.args.model_fields, "expected_version"}


def test_the_docs_lifecycle_table_is_generated_from_the_declarations() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    start, end = "<!-- lifecycle-table -->\n", "<!-- /lifecycle-table -->"
    table = text[text.index(start) + len(start):text.index(end)].strip()
    # Regenerate with: python -c "from thidua.domain.lifecycle import lifecycle_table; print(lifecycle_table())"
    assert table == lc.lifecycle_table().strip()
