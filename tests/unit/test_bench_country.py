"""The country's store (bench/country.py): a cloned province is the template province's events
under its own names: every aggregate id derived as thidua derives it for that province, the
campaign and unit names replaced in each event, each event the same size."""

from __future__ import annotations

import uuid

from bench import country
from bench.corpus import Corpus
from bench.run import parse_args
from thidua.domain.campaign import campaign_uuid, unit_uuid
from thidua.domain.target import target_id_for


def _template() -> tuple[list[tuple[uuid.UUID, int, str, bytes]], Corpus]:
    first = Corpus(campaign_id="prov-01", unit_ids=["p01-000", "p01-001"], cluster_ids=["cum-1"])
    target = target_id_for("prov-01", "t0000000")
    rows = [
        (unit_uuid("p01-000"), 1, "thidua.domain.campaign:Unit.Registered", b'{"unit_id":"p01-000"}'),
        (campaign_uuid("prov-01"), 1, "thidua.domain.campaign:Campaign.Created",
         b'{"campaign_id":"prov-01","members":["p01-000","p01-001"]}'),
        (target, 1, "thidua.domain.target:Target.Assigned", b'{"campaign_id":"prov-01","unit_id":"p01-001"}'),
        (target, 2, "thidua.domain.target:Target.Started", b'{"note":"B\xe1\xba\xaft \xc4\x91\xe1\xba\xa7u"}'),
    ]
    return rows, first


def test_a_cloned_province_has_its_own_ids_and_names_and_the_template_s_sizes() -> None:
    template, first = _template()
    clone = country._clone(template, first, ["t0000000"], 7)
    target = target_id_for("prov-07", "t0000000")
    assert [r[0] for r in clone] == [unit_uuid("p07-000"), campaign_uuid("prov-07"), target, target]
    assert [(r[1], r[2]) for r in clone] == [(r[1], r[2]) for r in template]
    assert clone[1][3] == b'{"campaign_id":"prov-07","members":["p07-000","p07-001"]}'
    assert clone[2][3] == b'{"campaign_id":"prov-07","unit_id":"p07-001"}'
    assert clone[3][3] == template[3][3]  # nothing of the province's in it
    assert [len(r[3]) for r in clone] == [len(r[3]) for r in template]


def test_a_reduced_country_is_asked_for_with_provinces() -> None:
    assert parse_args(["--large", "--provinces", "3"]).provinces == 3
    assert parse_args(["--large"]).provinces is None  # the profile's 34
