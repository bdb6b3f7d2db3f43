"""Reads of the evaluation rounds: the `evaluations` read model (asyncpg), the exports'
rows (Vietnamese headers) and the audit trail from an award back to the target events
and evidence digests behind its points."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from thidua.domain.evaluation import evaluation_of_award, evaluation_uuid
from thidua.domain.evaluation_rules import Standing, criteria_met
from thidua.domain.scoring import RewardRules

# The export's columns: (header, key of a unit in the round's body).
EXPORT_COLUMNS = (
    ("Mã cụm", "cluster_id"), ("Mã đơn vị", "unit_id"), ("Tên đơn vị", "name"),
    ("Điểm hệ thống", "system_score"), ("Điểm tối đa", "max_score"), ("Điểm tự chấm", "self_score"),
    ("Điểm cụm chấm", "reviewed_score"), ("Chênh lệch tự chấm - hệ thống", "self_minus_system"),
    ("Chênh lệch cụm chấm - tự chấm", "reviewed_minus_self"), ("Nộp muộn", "self_assessed_late"),
    ("Đạt tiêu chí", "criteria_met"), ("Khen thưởng", "awards"),
)
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def round_body(pool: Any, evaluation_id: str) -> dict[str, Any] | None:
    """The round with its units (and their names), and which forms' criteria each meets
    (computed here, on the units as they stand: one unit's review can move another's rank)."""
    row = await pool.fetchrow("SELECT body FROM public.evaluations WHERE evaluation_id = $1", evaluation_id)
    if row is None:
        return None
    body = _loads(row["body"])
    rows = await pool.fetch(
        "SELECT e.body, u.name FROM public.evaluation_units e LEFT JOIN public.units u ON u.unit_id = e.unit_id "
        "WHERE e.evaluation_id = $1 ORDER BY e.unit_id", evaluation_id)
    body["units"] = [{**_loads(r["body"]), "name": r["name"]} for r in rows]
    met = criteria_met(RewardRules.from_list(body.get("rules")), {u["unit_id"]: _standing(u) for u in body["units"]})
    for unit in body["units"]:
        unit["criteria_met"] = met.get(unit["unit_id"], [])
    return body


def _standing(unit: dict[str, Any]) -> Standing:
    """What the rules read of a unit row: the reviewed score, else the self score, else the system's."""
    score = next(s for s in (unit["reviewed_score"], unit["self_score"], unit["system_score"]) if s is not None)
    return Standing(unit["unit_id"], unit["cluster_id"], Decimal(str(score)), Decimal(str(unit["max_score"])),
                    Decimal(str(unit.get("completion_rate", 0))), int(unit["overdue"]), int(unit["late"]))


async def rounds_of_campaign(pool: Any, campaign_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT evaluation_id, campaign_id, name, state, period_end, version FROM public.evaluations "
        "WHERE campaign_id = $1 ORDER BY period_end, evaluation_id", campaign_id)
    return [{"id": r["evaluation_id"], "campaign_id": r["campaign_id"], "name": r["name"], "state": r["state"],
             "period_end": r["period_end"].isoformat(), "version": r["version"]} for r in rows]


def export_rows(body: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    awards: dict[str, list[str]] = {}
    for award in body["awards"]:
        if award["kind"] == "collective":
            revoked = award["revoked"]
            text = award["form_name"] + (f" (đã thu hồi: {revoked['reason']})" if revoked else "")
            awards.setdefault(award["unit_id"], []).append(text)
    rows = []
    for unit in body["units"]:
        values = {**unit, "criteria_met": " ".join(unit.get("criteria_met") or ()),
                  "awards": "; ".join(awards.get(unit["unit_id"], ())), "name": unit.get("name") or ""}
        rows.append([values.get(key) for _, key in EXPORT_COLUMNS])
    return [h for h, _ in EXPORT_COLUMNS], rows


def _event(row: Any) -> dict[str, Any]:
    changes = _loads(row["changes"]) or {}
    return {"position": row["position"], "event_type": row["event_type"], "occurred_at": row["occurred_at"].isoformat(),
            "actor_id": row["actor_id"], "summary": changes if isinstance(changes, dict) else {"value": changes}}


def _digests(changes: Any) -> list[str]:
    found: list[str] = []
    if isinstance(changes, dict):
        for key, value in changes.items():
            if key in ("sha256", "evidence", "digest", "evidence_digests") or isinstance(value, (dict, list)):
                found += _digests(value)
    elif isinstance(changes, list):
        for value in changes:
            found += _digests(value)
    elif isinstance(changes, str) and _DIGEST.match(changes):
        found.append(changes)
    return found


def _concerns(row: Any, unit_id: str) -> bool:
    """Whether a round's event belongs in a unit's trail: the round's own events, the unit's
    self-assessment and review, and the TargetsFrozen events carrying its targets."""
    if row["event_type"] in ("SelfAssessed", "Reviewed"):
        return bool(_loads(row["changes"]).get("unit_id") == unit_id)
    if row["event_type"] == "TargetsFrozen":
        return any(group.get("unit_id") == unit_id for group in _loads(row["changes"]).get("groups") or ())
    return True


async def award_trail(pool: Any, award_id: str) -> dict[str, Any] | None:
    """The award, its unit's scores in the round, the round's events (who assessed,
    reviewed, proposed, approved, revoked) and each target's events up to the round's
    freeze, with the evidence digests attached then."""
    evaluation_id = evaluation_of_award(award_id)
    body = await round_body(pool, evaluation_id)
    award = None if body is None else next((a for a in body["awards"] if a["award_id"] == award_id), None)
    if body is None or award is None:
        return None
    unit = next(u for u in body["units"] if u["unit_id"] == award["unit_id"])
    round_rows = await pool.fetch(
        "SELECT position, event_type, occurred_at, actor_id, changes FROM public.audit_log "
        "WHERE originator_id = $1 ORDER BY position", evaluation_uuid(evaluation_id))
    frozen_at = round_rows[0]["position"] if round_rows else 0
    round_events = [_event(r) for r in round_rows if _concerns(r, unit["unit_id"])]
    target_ids = [i["target_id"] for i in unit["items"]]
    rows = await pool.fetch(
        "SELECT target_id::text AS target_id, position, event_type, occurred_at, actor_id, changes "
        "FROM public.audit_log WHERE target_id = ANY($1::uuid[]) AND position < $2 ORDER BY position",
        target_ids, frozen_at)
    events: dict[str, list[Any]] = {}
    for r in rows:
        events.setdefault(r["target_id"], []).append(r)
    targets = []
    for item in unit["items"]:
        mine = events.get(item["target_id"], [])
        digests = list(dict.fromkeys(d for r in mine for d in _digests(_loads(r["changes"]))))
        targets.append({"target_id": item["target_id"], "points": item["points"], "system_score": item["system_score"],
                        "self_score": item["self_score"], "reviewed_score": item["reviewed_score"],
                        "reason": item["reason"], "events": [_event(r) for r in mine], "evidence": digests})
    return {"award": award, "evaluation_id": evaluation_id, "unit": unit, "round_events": round_events,
            "targets": targets}
