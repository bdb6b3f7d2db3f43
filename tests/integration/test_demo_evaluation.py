"""The demo's evaluation rounds on the real stack (PostgreSQL, Temporal, projector): after
`thidua demo` has loaded the drive, one round is done (self-assessments, reviews with a few
scores cut back with a reason, proposals, the Standing Committee's decision with awards to
units and people) and one is open for self-assessment; loading again changes nothing."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

from tests.integration.projection_conftest import scratch_app, scratch_database  # noqa: F401  (fixtures)
from thidua import demo
from thidua import demo_data as D
from thidua.domain.evaluation import Evaluation, evaluation_uuid


def round_of(app, evaluation_id: str) -> Evaluation:  # type: ignore[no-untyped-def]
    return app.repository.get(evaluation_uuid(evaluation_id))


async def test_the_demo_ends_a_round_and_opens_another(scratch_app, scratch_database, temporal_client,
                                                       tmp_path: Path) -> None:
    """On a database of its own: the demo loads only into a store without other campaigns."""
    from thidua.projections.projector import Projector
    from thidua.workflows.client import TargetGateway
    from thidua.workflows.worker import build_worker

    workflow_app = scratch_app
    queue = f"wf-demo-{secrets.token_hex(3)}"
    gateway = TargetGateway(temporal_client, queue, answer_timeout=timedelta(seconds=45))
    async with build_worker(temporal_client, scratch_app, queue, graceful_shutdown_timeout=timedelta(seconds=3)), \
            Projector(scratch_database, poll_interval=0.2):
        await demo.load(workflow_app, gateway, tmp_path)
        done = round_of(workflow_app, "tong-ket-2022")
        assert done.stage == "closed" and done.decision["number"] == "1250-QĐ/TU"
        kinds = {a["kind"] for a in done.awards.values()}
        assert kinds == {"collective", "individual"}
        reasons = [i["reason"] for r in done.reviews.values() for i in r["items"].values() if i["reason"]]
        assert reasons, "some self-assessed scores were cut back with a reason"
        assert len(done.self_assessments) == len(D.UNIT_HEADS)
        open_ = round_of(workflow_app, "so-ket-dot-hien-tai")
        assert open_.stage == "self_assessment" and len(open_.self_assessments) == 3
        version = (done.version, open_.version)
        await demo.load(workflow_app, gateway, tmp_path)  # complete: nothing more
    assert (round_of(workflow_app, "tong-ket-2022").version, round_of(workflow_app, "so-ket-dot-hien-tai").version) == version
