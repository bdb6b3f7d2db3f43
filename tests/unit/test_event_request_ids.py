"""The request id is stored with each event as metadata: the events a request stores carry
it, others (timers, events stored before) lack it and still decode, and it never counts
as one of the event's changes in the audit trail."""

from __future__ import annotations

from datetime import date, datetime, timezone

from thidua.domain.application import REQUEST_ID_ATTRIBUTE, ThiduaApplication
from thidua.domain.campaign import Campaign
from thidua.domain.values import Actor, Command, Role
from thidua.projections.codec import StoredDecoder, event_changes, stored_changes

SEC = Actor("sec", "Thư ký", Role.SECRETARIAT)
AT = datetime(2022, 3, 1, 8, 0, tzinfo=timezone.utc)


def _campaign(command_id: str) -> Campaign:
    return Campaign.create(Command(command_id, SEC, AT), campaign_id=command_id, name="Theo dấu",
                           starts_on=date(2022, 1, 1), ends_on=date(2022, 12, 31))


def _stored(app: ThiduaApplication) -> list:
    return list(app.recorder.select_notifications(start=1, limit=100))


def test_the_events_a_request_stores_carry_its_id_and_others_none() -> None:
    app = ThiduaApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    serving: list[str | None] = ["req-7f3a"]
    app.request_id_source = lambda: serving[0]
    app.save_changes(_campaign("c-1"))
    serving[0] = None  # a timer, or a process that serves no request
    app.save_changes(_campaign("c-2"))

    decoder = StoredDecoder(app.mapper)
    first, second = (app.mapper.to_domain_event(item) for item in _stored(app))
    assert getattr(first, REQUEST_ID_ATTRIBUTE) == "req-7f3a"
    assert not hasattr(second, REQUEST_ID_ATTRIBUTE)
    for item, event in zip(_stored(app), (first, second)):
        fast, data = decoder.decode(item.originator_id, item.originator_version, item.topic, item.state)
        assert vars(fast) == vars(event)
        assert data.get(REQUEST_ID_ATTRIBUTE) == getattr(event, REQUEST_ID_ATTRIBUTE, None)
        # metadata, not a change
        assert REQUEST_ID_ATTRIBUTE not in stored_changes(data)
        assert REQUEST_ID_ATTRIBUTE not in event_changes(event)
    # the aggregate replays from stamped and unstamped events alike
    assert app.get_campaign("c-1").name == app.get_campaign("c-2").name == "Theo dấu"


def test_without_a_source_nothing_is_stamped() -> None:
    app = ThiduaApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.save_changes(_campaign("c-3"))
    (item,) = _stored(app)
    assert not hasattr(app.mapper.to_domain_event(item), REQUEST_ID_ATTRIBUTE)
