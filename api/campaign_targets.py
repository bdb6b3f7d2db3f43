"""Which targets belong to a campaign, read from the event store itself.

Closing a campaign and changing its policy must reach the workflow of every one of its
targets. The `targets` read model can lag (or its projector be down), and a target it
has not seen yet would keep running on the old terms; waiting for the projector would
make closing depend on it. A target's `Assigned` event, which names its campaign, is in
the event store from the moment the target exists, so this reads those events directly
(synchronously, like all of eventsourcing: call it in a thread).

The store has no index by campaign. When events are stored as plain JSON (no
compression or encryption configured) PostgreSQL keeps only the `Assigned` events whose
bytes contain the campaign id as the transcoder writes it; every row kept is decoded
and checked, so the filter can only save work, never change the answer. Otherwise all
`Assigned` events are decoded. Either way one pass over the events table: fine for
the rare commands that need it (close, policy change).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import StoredEvent
from domain.target import Target
from domain.topics import stored_topics

ASSIGNED_TOPICS = list(stored_topics(Target.Assigned))


def campaign_target_ids(domain_app: Any, campaign_id: str, after: int = 0) -> tuple[list[str], int]:
    """The ids of the campaign's targets assigned at a position after `after`, and a
    position to pass as `after` next time to get only the ones assigned since."""
    recorder, mapper = domain_app.recorder, domain_app.mapper
    # Read before the scan: an event stored meanwhile is then seen again next time
    # (a duplicate, harmless) rather than never.
    upto = domain_app.max_position()
    sql = (
        "SELECT notification_id, originator_id, originator_version, topic, state "
        f"FROM {recorder.events_table_name} WHERE topic = ANY(%s) AND notification_id > %s"
    )
    params: list[Any] = [ASSIGNED_TOPICS, after]
    needle = _stored_bytes_of_campaign_id(mapper, campaign_id)
    if needle is not None:
        sql += " AND position(%s::bytea IN state) > 0"
        params.append(needle)
    with recorder.datastore.transaction(commit=False) as curs:
        curs.execute(sql + " ORDER BY notification_id", params)
        rows = curs.fetchall()
    ids: list[str] = []
    for row in rows:
        event = mapper.to_domain_event(
            StoredEvent(row["originator_id"], row["originator_version"], row["topic"], bytes(row["state"]))
        )
        if getattr(event, "campaign_id", None) == campaign_id:
            ids.append(str(row["originator_id"]))
    return ids, max(upto, after)


def _stored_bytes_of_campaign_id(mapper: Any, campaign_id: str) -> bytes | None:
    """`"campaign_id":"<id>"` exactly as it appears in a stored event's state, or None
    when the stored state is compressed or encrypted (then no byte filter applies)."""
    if getattr(mapper, "compressor", None) is not None or getattr(mapper, "cipher", None) is not None:
        return None
    encoded: bytes = mapper.transcoder.encode({"campaign_id": campaign_id})
    if not (encoded.startswith(b"{") and encoded.endswith(b"}")):
        return None  # not the JSON we know: decode everything instead
    return encoded[1:-1]
