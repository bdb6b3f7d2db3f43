"""The country's corpus (`make bench-large`): every province's campaign in one store.

Vietnam after the 2025 reform: 34 provinces and about 3,321 communes; ~50 targets per body
and ~20 events per target a year make ≈ 170,000 targets and 3.4 million events a year.
Here each province is a campaign (`prov-01` … `prov-34`) with its communes as units
(`p01-000` …) and its targets, all in one event store.

Writing 3.4 M events through the domain one province after the other takes many minutes
on 2 cores, so only the first province is made that way (`bench.corpus.build`: real
commands, real events); the others are that province's stored events cloned in the
store's own format (`originator_id, originator_version, topic, state`), with the
province's names put in (campaign id, unit ids: the same length, so every event keeps
its size) and the aggregates' ids derived as thidua derives them (campaign_uuid,
unit_uuid, target_id_for(campaign, key)), and written with COPY. The clones' events are
the template's: the same lifecycles, times and texts in every province, which the read
models, the rebuild and the audit chain treat like any others.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from bench import corpus as corpus_mod
from thidua.domain.application import EVENTS_TABLE, ThiduaApplication
from thidua.domain.campaign import campaign_uuid, unit_uuid
from thidua.domain.target import target_id_for

PROVINCES = 34
COMMUNES = 3_321
TARGETS = 170_000
EVENTS = 3_400_000


def campaign_of(province: int) -> str:
    return f"prov-{province:02d}"


def units_of(province: int) -> str:
    """The unit-id prefix of a province's communes (`p07-012`)."""
    return f"p{province:02d}"


def build(app: ThiduaApplication, *, provinces: int, units: int, targets: int, events: int,
          progress: Callable[[int], None] | None = None) -> corpus_mod.Corpus:
    """`provinces` campaigns of `units` units, `targets` targets and about `events` events
    each; returns the first province's corpus, with `events` the store's total."""
    t0 = time.perf_counter()
    first = corpus_mod.build(app, campaign_of(1), units=units, targets=targets, events=events,
                             unit_prefix=units_of(1), progress=progress)
    t1 = time.perf_counter()
    template = _stored_rows(app)
    keys = [f"t{n:07d}" for n in range(targets)]
    for province in range(2, provinces + 1):
        _copy(app, _clone(template, first, keys, province))
        if progress is not None:
            progress(len(template) * province)
    first.events = len(template) * provinces
    first.last_position = app.max_position()
    first.seconds = time.perf_counter() - t0
    first.stages = {"first_province_s": round(t1 - t0, 1), "cloned_s": round(first.seconds - (t1 - t0), 1)}
    return first


def _stored_rows(app: ThiduaApplication) -> list[tuple[uuid.UUID, int, str, bytes]]:
    recorder = app.recorder
    with recorder.datastore.transaction(commit=False) as curs:  # type: ignore[attr-defined]
        curs.execute(f"SELECT originator_id, originator_version, topic, state FROM {EVENTS_TABLE} "
                     "ORDER BY notification_id")
        return [(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"])) for r in curs.fetchall()]


def _clone(template: list[tuple[uuid.UUID, int, str, bytes]], first: corpus_mod.Corpus, keys: list[str],
           province: int) -> list[tuple[uuid.UUID, int, str, bytes]]:
    """The template province's rows as `province`'s."""
    old_campaign, new_campaign = campaign_of(1), campaign_of(province)
    old_units, new_units = units_of(1) + "-", units_of(province) + "-"
    ids = {campaign_uuid(old_campaign): campaign_uuid(new_campaign)}
    for unit in first.unit_ids:
        ids[unit_uuid(unit)] = unit_uuid(new_units + unit[len(old_units):])
    for key in keys:
        ids[target_id_for(old_campaign, key)] = target_id_for(new_campaign, key)
    a1, a2, b1, b2 = old_campaign.encode(), new_campaign.encode(), old_units.encode(), new_units.encode()
    return [(ids[originator], version, topic, state.replace(a1, a2).replace(b1, b2))
            for originator, version, topic, state in template]


def _copy(app: ThiduaApplication, rows: list[tuple[uuid.UUID, int, str, bytes]]) -> None:
    """COPY the rows into the event store (their positions come from its sequence, in order)."""
    recorder = app.recorder
    with recorder.datastore.transaction(commit=True) as curs:  # type: ignore[attr-defined]
        with curs.copy(f"COPY {EVENTS_TABLE} (originator_id, originator_version, topic, state) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
