"""Shared setup of the webhook delivery tests: webhooks registered through the domain (with
their secrets), one Standing Committee member, and one target escalated and projected, so
the outbox holds one `target.escalated` row per webhook."""

from __future__ import annotations

import psycopg

from thidua.domain.target import Target
from thidua.domain.user import User
from thidua.domain.values import Role
from thidua.domain.webhook import Webhook
from thidua.projections.projector import Projector
from tests.integration.projection_conftest import SECRETARIAT, World, create_read_models, head_of

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def escalate(world: World, target: Target) -> Target:
    """Started, blocked and escalated by its unit's head."""
    head = head_of(target.unit_id)
    target.start(world.cmd(head))
    target.block(world.cmd(head), reason="vướng")
    target.escalate(world.cmd(head), reason="xin ý kiến")
    return target


async def escalation_for(world: World, database_url: str, hooks: dict[str, str]) -> None:
    """`hooks`: webhook id -> receiver URL."""
    world.touch(User.create(world.cmd(SECRETARIAT), user_id=f"sc-{world.tag}", name="BTV",
                            role=Role.STANDING_COMMITTEE, unit_id=None, token_hash="x", bootstrap=True))
    await create_read_models(database_url)
    with psycopg.connect(database_url) as conn:
        for hook_id in hooks:
            conn.execute("INSERT INTO webhook_secrets VALUES (%s, %s)", (hook_id, SECRET))
    for hook_id, url in hooks.items():
        world.touch(Webhook.register(world.cmd(SECRETARIAT), webhook_id=hook_id, url=url,
                                     campaign_id=world.campaign_id, kinds=["target.escalated"]))
    escalate(world, world.assign(0))
    world.save()
    projector = Projector(database_url)
    await projector.catch_up()
    await projector.close()
