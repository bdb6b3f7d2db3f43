"""The read-model tables, grouped by the projection that owns them.

A *group* is what the projector applies in one pass and what `thidua projections
rebuild NAME` rebuilds and swaps as a unit. Each group owns one or more tracking rows
in `projection_tracking`, written in the same transaction as the group's rows:

| group        | tracking rows          | tables                                                   |
|--------------|------------------------|----------------------------------------------------------|
| catalog      | catalog                | campaigns, campaign_clusters, campaign_cluster_history,  |
|              |                        | campaign_scales, campaign_rules, campaign_bonuses, units |
| targets      | targets, scoreboard    | targets, target_status_history, scoreboard,              |
|              |                        | scoreboard_dirty                                         |
| escalations  | escalations            | escalations                                              |
| audit_log    | audit_log              | audit_log                                                |
| notifications| notifications          | notifications, notification_recipients,                  |
|              |                        | notification_preferences, webhooks, webhook_deliveries   |
|              |                        | (the outbox: never rebuilt, see NEVER_REBUILT)           |
| cascade      | cascade                | target_links, target_rollups (parents and children)      |
| evaluations  | evaluations            | evaluations, evaluation_units, awards                    |

`scoreboard` has its own tracking row because, during a long catch-up, the projector
recomputes cluster boards only every few seconds: clusters whose rows are stale are
marked in `scoreboard_dirty` (in the same transaction), and the `scoreboard` position
only moves when no mark is left, so "every projection has passed N" stays true.

Every DDL statement takes the schema as `{s}` so a rebuild can create the same tables
in a scratch schema and move them into `public` in one transaction.
"""

from __future__ import annotations

from typing import Any

from thidua.projections import evidence_files

PUBLIC = "public"
TRACKING_TABLE = "projection_tracking"

GROUPS: dict[str, tuple[str, ...]] = {
    "catalog": (
        "campaigns",
        "campaign_clusters",
        "campaign_cluster_history",
        "campaign_scales",
        "campaign_rules",
        "campaign_bonuses",
        "units",
    ),
    "targets": ("targets", "target_status_history", "scoreboard", "scoreboard_dirty"),
    "escalations": ("escalations",),
    "audit_log": ("audit_log",),
    "notifications": ("notifications", "notification_recipients", "notification_preferences", "webhooks",
                      "webhook_deliveries"),
    "cascade": ("target_links", "target_rollups"),
    "evaluations": ("evaluations", "evaluation_units", "awards"),
}

# The outbox (thidua.projections.notifications) keeps what was read and delivered beside what
# was projected: a rebuild into a scratch schema would forget it and send everything
# again, so `thidua projections rebuild` leaves it out (its rows are written
# ON CONFLICT DO NOTHING with stable ids: projecting an event twice adds nothing). Only a
# projector's bulk build of empty read models builds it too, swapped in while it is still
# untouched (thidua.projections.rebuild, `outbox`).
NEVER_REBUILT = ("notifications",)

TRACKING_ROWS: dict[str, tuple[str, ...]] = {
    "catalog": ("catalog",),
    "targets": ("targets", "scoreboard"),
    "escalations": ("escalations",),
    "audit_log": ("audit_log",),
    "notifications": ("notifications",),
    "cascade": ("cascade",),
    "evaluations": ("evaluations",),
}

ALL_TRACKING = tuple(name for rows in TRACKING_ROWS.values() for name in rows)

# Names a user may give to `thidua projections rebuild NAME`: a group or any table of it.
ALIASES: dict[str, str] = {
    **{group: group for group in GROUPS},
    **{table: group for group, tables in GROUPS.items() for table in tables},
    "audit": "audit_log",
}

_TRACKING_DDL = [
    """CREATE TABLE IF NOT EXISTS {s}.projection_tracking (
        name text PRIMARY KEY,
        position bigint NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now()
    )""",
    # Read models stopped at an event they cannot apply (see thidua.projections.faults).
    """CREATE TABLE IF NOT EXISTS {s}.projection_faults (
        name text PRIMARY KEY,
        position bigint NOT NULL,
        originator_id uuid,
        originator_version bigint,
        topic text,
        reason text NOT NULL,
        stopped_at timestamptz NOT NULL DEFAULT now()
    )""",
]

# Not projected from events, so in no group (never rebuilt or swapped): the webhooks'
# signing secrets. Standard Webhooks signs with HMAC, which needs the key itself, so it
# cannot be stored hashed; it is kept out of the event store (whose payloads the audit
# trail shows to inspectors) and read only by the API (at registration) and the worker.
_PUBLIC_ONLY_DDL = [
    """CREATE TABLE IF NOT EXISTS {s}.webhook_secrets (
        webhook_id text PRIMARY KEY,
        secret text NOT NULL
    )""",
    # Evidence files' bytes (thidua.projections.evidence_files): primary data that events point at.
    *evidence_files.DDL,
]

_DDL: dict[str, list[str]] = {
    # Evaluation rounds (thidua.projections.evaluations): each round as its aggregate
    # stands (`body`: the JSON the API answers, without the units), one row per unit of
    # a round, and every award, revoked or not.
    "evaluations": [
        """CREATE TABLE IF NOT EXISTS {s}.evaluations (
            evaluation_id text PRIMARY KEY,
            campaign_id text NOT NULL,
            name text NOT NULL,
            state text NOT NULL,
            period_end timestamptz NOT NULL,
            body jsonb NOT NULL,
            version integer NOT NULL,
            created_at timestamptz NOT NULL,
            position bigint NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS evaluations_campaign_idx ON {s}.evaluations (campaign_id, period_end)",
        """CREATE TABLE IF NOT EXISTS {s}.evaluation_units (
            evaluation_id text NOT NULL,
            unit_id text NOT NULL,
            cluster_id text NOT NULL,
            body jsonb NOT NULL,
            position bigint NOT NULL,
            PRIMARY KEY (evaluation_id, unit_id)
        )""",
        """CREATE TABLE IF NOT EXISTS {s}.awards (
            award_id text PRIMARY KEY,
            evaluation_id text NOT NULL,
            campaign_id text NOT NULL,
            kind text NOT NULL,
            unit_id text NOT NULL,
            name text,
            form_id text NOT NULL,
            form_name text NOT NULL,
            decision_number text NOT NULL,
            issued_on date NOT NULL,
            revoked_reason text,
            revoked_at timestamptz,
            position bigint NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS awards_unit_idx ON {s}.awards (unit_id)",
    ],
    "catalog": [
        """CREATE TABLE IF NOT EXISTS {s}.campaigns (
            campaign_id text PRIMARY KEY,
            name text NOT NULL,
            starts_on date NOT NULL,
            ends_on date NOT NULL,
            timezone text NOT NULL,
            policy jsonb NOT NULL,
            scoring jsonb NOT NULL,
            closed boolean NOT NULL,
            version integer NOT NULL,
            state jsonb NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            position bigint NOT NULL
        )""",
        # Current clusters (the API lists them; scoreboards and filters read members here).
        """CREATE TABLE IF NOT EXISTS {s}.campaign_clusters (
            campaign_id text NOT NULL,
            cluster_id text NOT NULL,
            name text NOT NULL,
            head_unit_id text NOT NULL,
            deputy_unit_id text NOT NULL,
            member_unit_ids text[] NOT NULL,
            set_at timestamptz NOT NULL,
            position bigint NOT NULL,
            PRIMARY KEY (campaign_id, cluster_id)
        )""",
        # Every ClusterSet, so an "as of" scoreboard uses the clusters of that instant.
        """CREATE TABLE IF NOT EXISTS {s}.campaign_cluster_history (
            campaign_id text NOT NULL,
            cluster_id text NOT NULL,
            position bigint NOT NULL,
            name text NOT NULL,
            head_unit_id text NOT NULL,
            deputy_unit_id text NOT NULL,
            member_unit_ids text[] NOT NULL,
            valid_from timestamptz NOT NULL,
            PRIMARY KEY (campaign_id, cluster_id, position)
        )""",
        # The scale at creation and every change, with its effective time.
        """CREATE TABLE IF NOT EXISTS {s}.campaign_scales (
            campaign_id text NOT NULL,
            position bigint NOT NULL,
            effective_at timestamptz NOT NULL,
            on_time numeric NOT NULL,
            late numeric NOT NULL,
            reward_slots integer NOT NULL,
            recorded_at timestamptz NOT NULL,
            PRIMARY KEY (campaign_id, position)
        )""",
        # Every change of the reward rules, with its effective time; `forms` as the event has them.
        """CREATE TABLE IF NOT EXISTS {s}.campaign_rules (
            campaign_id text NOT NULL,
            position bigint NOT NULL,
            effective_at timestamptz NOT NULL,
            forms jsonb NOT NULL,
            recorded_at timestamptz NOT NULL,
            PRIMARY KEY (campaign_id, position)
        )""",
        """CREATE TABLE IF NOT EXISTS {s}.campaign_bonuses (
            campaign_id text NOT NULL,
            position bigint NOT NULL,
            unit_id text NOT NULL,
            points numeric NOT NULL,
            reason text NOT NULL,
            awarded_at timestamptz NOT NULL,
            awarded_by text NOT NULL,
            PRIMARY KEY (campaign_id, position)
        )""",
        "CREATE INDEX IF NOT EXISTS campaign_bonuses_time_idx ON {s}.campaign_bonuses (campaign_id, awarded_at)",
        """CREATE TABLE IF NOT EXISTS {s}.units (
            unit_id text PRIMARY KEY,
            name text NOT NULL,
            kind text NOT NULL,
            head_name text,
            version integer NOT NULL,
            updated_at timestamptz NOT NULL,
            position bigint NOT NULL
        )""",
    ],
    "targets": [
        """CREATE TABLE IF NOT EXISTS {s}.targets (
            target_id uuid PRIMARY KEY,
            campaign_id text NOT NULL,
            unit_id text NOT NULL,
            title text NOT NULL,
            area text NOT NULL,
            deadline date NOT NULL,
            deadline_at timestamptz NOT NULL,
            points numeric NOT NULL,
            status text NOT NULL,
            overdue boolean NOT NULL,
            report_class text NOT NULL,
            version integer NOT NULL,
            escalation_state text,
            state jsonb NOT NULL,
            assigned_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            position bigint NOT NULL,
            has_children boolean NOT NULL DEFAULT false
        )""",
        # A parent (a target with children: the city's own) counts in no unit's scoreboard.
        "ALTER TABLE {s}.targets ADD COLUMN IF NOT EXISTS has_children boolean NOT NULL DEFAULT false",
        # Lists are keyset-paginated by target_id inside a campaign; the unit index also
        # carries what scoring needs, so a cluster's facts come from an index-only scan.
        "CREATE INDEX IF NOT EXISTS targets_campaign_idx ON {s}.targets (campaign_id, target_id)",
        """CREATE INDEX IF NOT EXISTS targets_unit_idx ON {s}.targets (campaign_id, unit_id, target_id)
            INCLUDE (points, report_class, status, has_children)""",
        "CREATE INDEX IF NOT EXISTS targets_parents_idx ON {s}.targets (target_id) WHERE has_children",
        "CREATE INDEX IF NOT EXISTS targets_status_idx ON {s}.targets (campaign_id, status, target_id)",
        "CREATE INDEX IF NOT EXISTS targets_class_idx ON {s}.targets (campaign_id, report_class, target_id)",
        "CREATE INDEX IF NOT EXISTS targets_overdue_idx ON {s}.targets (campaign_id, target_id) WHERE overdue",
        # One row per interval in which a target's scoring facts did not change:
        # [valid_from, valid_to), valid_to NULL for the current one.
        """CREATE TABLE IF NOT EXISTS {s}.target_status_history (
            target_id uuid NOT NULL,
            position bigint NOT NULL,
            campaign_id text NOT NULL,
            unit_id text NOT NULL,
            points numeric NOT NULL,
            status text NOT NULL,
            overdue boolean NOT NULL,
            report_class text NOT NULL,
            valid_from timestamptz NOT NULL,
            valid_to timestamptz,
            PRIMARY KEY (target_id, position)
        )""",
        """CREATE INDEX IF NOT EXISTS target_status_history_asof_idx
            ON {s}.target_status_history (campaign_id, valid_from)
            INCLUDE (valid_to, target_id, unit_id, points, status, report_class)""",
        """CREATE INDEX IF NOT EXISTS target_status_history_open_idx
            ON {s}.target_status_history (target_id) WHERE valid_to IS NULL""",
        """CREATE TABLE IF NOT EXISTS {s}.scoreboard (
            campaign_id text NOT NULL,
            cluster_id text NOT NULL,
            unit_id text NOT NULL,
            cluster_name text NOT NULL,
            unit_name text NOT NULL,
            score numeric NOT NULL,
            max_score numeric NOT NULL,
            completion_rate numeric NOT NULL,
            bonus numeric NOT NULL,
            rank integer NOT NULL,
            reward_candidate boolean NOT NULL,
            eligible_forms text[] NOT NULL DEFAULT '{{}}',
            completed_on_time integer NOT NULL,
            completed_late integer NOT NULL,
            in_progress_within_deadline integer NOT NULL,
            overdue integer NOT NULL,
            blocked integer NOT NULL,
            escalated integer NOT NULL,
            cancelled integer NOT NULL,
            PRIMARY KEY (campaign_id, cluster_id, unit_id)
        )""",
        # (a scoreboard table from before the reward rules; `projections rebuild targets` fills it)
        "ALTER TABLE {s}.scoreboard ADD COLUMN IF NOT EXISTS eligible_forms text[] NOT NULL DEFAULT '{{}}'",
        # (completions waiting for acceptance, counted apart)
        "ALTER TABLE {s}.scoreboard ADD COLUMN IF NOT EXISTS awaiting_acceptance integer NOT NULL DEFAULT 0",
        "CREATE INDEX IF NOT EXISTS scoreboard_unit_idx ON {s}.scoreboard (unit_id)",
        """CREATE TABLE IF NOT EXISTS {s}.scoreboard_dirty (
            campaign_id text NOT NULL,
            cluster_id text NOT NULL,
            PRIMARY KEY (campaign_id, cluster_id)
        )""",
    ],
    "escalations": [
        """CREATE TABLE IF NOT EXISTS {s}.escalations (
            target_id uuid NOT NULL,
            number integer NOT NULL,
            campaign_id text NOT NULL,
            unit_id text NOT NULL,
            state text NOT NULL,
            trigger text NOT NULL,
            opened_at timestamptz NOT NULL,
            resolved_at timestamptz,
            reason text,
            help_needed text,
            directive text,
            reminders integer NOT NULL,
            last_reminded_at timestamptz,
            resolved_by text,
            position bigint NOT NULL,
            PRIMARY KEY (target_id, number)
        )""",
        """CREATE INDEX IF NOT EXISTS escalations_queue_idx
            ON {s}.escalations (campaign_id, state, opened_at, target_id, number)""",
        """CREATE INDEX IF NOT EXISTS escalations_all_idx
            ON {s}.escalations (campaign_id, opened_at, target_id, number)""",
    ],
    # `changes` is json, not jsonb: it keeps the exact text the projection wrote, which
    # `audit verify` compares as text (a jsonb column, from before, is compared parsed).
    "audit_log": [
        """CREATE TABLE IF NOT EXISTS {s}.audit_log (
            position bigint PRIMARY KEY,
            occurred_at timestamptz NOT NULL,
            recorded_at timestamptz,
            actor_id text NOT NULL,
            actor_name text NOT NULL,
            actor_role text NOT NULL,
            aggregate_type text NOT NULL,
            aggregate_id text NOT NULL,
            originator_id uuid NOT NULL,
            aggregate_version integer NOT NULL,
            event_type text NOT NULL,
            campaign_id text,
            target_id uuid,
            unit_id text,
            changes json NOT NULL,
            reason text,
            command_id text NOT NULL,
            prev_hash text NOT NULL,
            hash text NOT NULL
        )""",
        # The id of the request that stored the event (None for timers and older events).
        "ALTER TABLE {s}.audit_log ADD COLUMN IF NOT EXISTS request_id text",
        "CREATE INDEX IF NOT EXISTS audit_log_target_idx ON {s}.audit_log (target_id, position) WHERE target_id IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS audit_log_unit_idx ON {s}.audit_log (unit_id, position) WHERE unit_id IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS audit_log_actor_idx ON {s}.audit_log (actor_id, position)",
        "CREATE INDEX IF NOT EXISTS audit_log_time_idx ON {s}.audit_log (occurred_at, position)",
    ],
    # The outbox: one row per notification, recipient and channel (thidua.projections.notifications).
    # `status`: inbox rows are `delivered` when written; webhook rows go pending ->
    # delivered | failed (workflows.webhook_delivery).
    "notifications": [
        """CREATE TABLE IF NOT EXISTS {s}.notifications (
            notification_id uuid PRIMARY KEY,
            kind text NOT NULL,
            channel text NOT NULL,
            recipient text NOT NULL,
            position bigint NOT NULL,
            occurred_at timestamptz NOT NULL,
            campaign_id text NOT NULL,
            target_id uuid,
            link text NOT NULL,
            status text NOT NULL,
            read_at timestamptz,
            dispatched_at timestamptz,
            delivered_at timestamptz,
            attempts integer NOT NULL DEFAULT 0
        )""",
        """CREATE INDEX IF NOT EXISTS notifications_inbox_idx
            ON {s}.notifications (recipient, position DESC, notification_id) WHERE channel = 'inbox'""",
        # the batch a row was claimed into (thidua.workflows.webhook_dispatch)
        "ALTER TABLE {s}.notifications ADD COLUMN IF NOT EXISTS batch_id uuid",
        """CREATE INDEX IF NOT EXISTS notifications_undispatched_idx
            ON {s}.notifications (position) WHERE channel <> 'inbox' AND dispatched_at IS NULL""",
        # the backlog and the failed ones (the API's /metrics, GET /v1/notifications/failed)
        """CREATE INDEX IF NOT EXISTS notifications_undelivered_idx
            ON {s}.notifications (channel, status, occurred_at) WHERE status <> 'delivered'""",
        # Who held which role, and which webhooks were there, from each position on:
        # projecting from any position resolves recipients as they were then.
        """CREATE TABLE IF NOT EXISTS {s}.notification_recipients (
            user_id text NOT NULL,
            position bigint NOT NULL,
            role text NOT NULL,
            unit_id text,
            active boolean NOT NULL,
            PRIMARY KEY (user_id, position)
        )""",
        """CREATE TABLE IF NOT EXISTS {s}.notification_preferences (
            user_id text NOT NULL,
            position bigint NOT NULL,
            email text,
            kinds text NOT NULL,
            PRIMARY KEY (user_id, position)
        )""",
        """CREATE TABLE IF NOT EXISTS {s}.webhooks (
            webhook_id text NOT NULL,
            position bigint NOT NULL,
            url text NOT NULL,
            campaign_id text,
            kinds text NOT NULL,
            active boolean NOT NULL,
            PRIMARY KEY (webhook_id, position)
        )""",
        # One row per attempt to deliver a webhook notification.
        """CREATE TABLE IF NOT EXISTS {s}.webhook_deliveries (
            notification_id uuid NOT NULL,
            attempt integer NOT NULL,
            webhook_id text NOT NULL,
            attempted_at timestamptz NOT NULL,
            status_code integer,
            error text,
            outcome text NOT NULL,
            next_retry_at timestamptz,
            PRIMARY KEY (notification_id, attempt)
        )""",
        "CREATE INDEX IF NOT EXISTS webhook_deliveries_hook_idx ON {s}.webhook_deliveries (webhook_id, attempted_at)",
    ],
    # Parents and children (thidua.projections.cascade): every target's link to its parent
    # with what the rollup counts, and each parent's rollup of its children.
    "cascade": [
        """CREATE TABLE IF NOT EXISTS {s}.target_links (
            target_id uuid PRIMARY KEY,
            campaign_id text NOT NULL,
            parent_id uuid,
            decision_number text,
            unit_id text NOT NULL,
            title text NOT NULL,
            points numeric NOT NULL,
            status text NOT NULL,
            report_class text NOT NULL,
            percent numeric,
            closed_position bigint,
            reopened_position bigint,
            position bigint NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS target_links_parent_idx ON {s}.target_links (parent_id) WHERE parent_id IS NOT NULL",
        """CREATE INDEX IF NOT EXISTS target_links_decision_idx ON {s}.target_links (decision_number, campaign_id)
            WHERE decision_number IS NOT NULL""",
        """CREATE TABLE IF NOT EXISTS {s}.target_rollups (
            target_id uuid PRIMARY KEY,
            campaign_id text NOT NULL,
            children integer NOT NULL,
            completed_on_time integer NOT NULL,
            completed_late integer NOT NULL,
            in_progress_within_deadline integer NOT NULL,
            overdue integer NOT NULL,
            cancelled integer NOT NULL,
            open_children integer NOT NULL,
            percent numeric,
            position bigint NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS target_rollups_campaign_idx ON {s}.target_rollups (campaign_id)",
    ],
}

# Serialises DDL between processes that start together (api, projector, rebuild).
_DDL_LOCK_KEY = 0x7468_6964_7561  # "thidua"


def qident(name: str) -> str:
    """Quote an identifier we built ourselves (schema and table names)."""
    return '"' + name.replace('"', '""') + '"'


def _is_index(ddl: str) -> bool:
    return ddl.lstrip().upper().startswith("CREATE INDEX")


async def create_tables(
    conn: Any, schema: str, groups: tuple[str, ...] | list[str], *, indexes: bool = True
) -> None:
    """Create the tracking table and the tables of `groups` in `schema` (idempotent),
    and the tracking rows of those groups at position 0 if missing. A rebuild passes
    `indexes=False` and calls `create_indexes` after the bulk load (much faster than
    maintaining every index row by row); primary keys are always there."""
    s = qident(schema)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _DDL_LOCK_KEY)
        if schema != PUBLIC:  # (needs CREATE on the database, which a plain owner of public may lack)
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
        for ddl in _TRACKING_DDL + (_PUBLIC_ONLY_DDL if schema == PUBLIC else []):
            await conn.execute(ddl.format(s=s))
        for group in groups:
            for ddl in _DDL[group]:
                if indexes or not _is_index(ddl):
                    await conn.execute(ddl.format(s=s))
        names = [name for group in groups for name in TRACKING_ROWS[group]]
        await conn.execute(
            f"INSERT INTO {s}.projection_tracking (name, position) SELECT unnest($1::text[]), 0 "
            "ON CONFLICT (name) DO NOTHING",
            names,
        )


async def create_indexes(conn: Any, schema: str, groups: tuple[str, ...] | list[str]) -> None:
    """Index `groups`' tables (filled without indexes) and gather their statistics:
    tables filled in one go have none until autovacuum comes by (never, where it is
    off), and without them the planner guesses a few thousand rows and picks plans that
    read whole tables."""
    s = qident(schema)
    for group in groups:
        for ddl in _DDL[group]:
            if _is_index(ddl):
                await conn.execute(ddl.format(s=s))
        # A small sample (3,000 rows) is enough to tell the planner how big the tables
        # are and how keys spread; the default one took 0.6 s for the audit trail alone.
        await conn.execute("SET default_statistics_target = 10")
        try:
            for table in GROUPS[group]:
                await conn.execute(f"ANALYZE {s}.{qident(table)}")
        finally:
            await conn.execute("RESET default_statistics_target")


# The event store's columns that its readers filter on (its payloads are not worth sampling).
EVENT_STORE_KEYS = "(notification_id, originator_id, originator_version)"


async def analyze_if_unplanned(conn: Any, table: str, columns: str = "") -> bool:
    """ANALYZE `table` (schema-qualified) when it has no statistics, or when a tenth of
    its rows changed since it last had them. The event store, read in batches by
    position: with no statistics the planner expects a few thousand rows after any
    position and sorts everything after it for each batch (measured: a quarter of a
    rebuild's database time). `columns`: "(a, b)" to sample only the columns queries
    filter on (the row count is gathered anyway). True if it analyzed."""
    stale = await conn.fetchval(
        "SELECT (last_analyze IS NULL AND last_autoanalyze IS NULL) OR n_mod_since_analyze > n_live_tup / 10 "
        "FROM pg_stat_user_tables WHERE relid = $1::regclass",
        table,
    )
    if not stale:
        return False
    await conn.execute(f"ANALYZE {table} {columns}" if columns else f"ANALYZE {table}")
    return True


async def ensure_schema(pool_or_conn: Any) -> None:
    """Create every read-model table in `public` if missing. Safe to call from every
    process at start-up (the API calls it so its queries never meet a missing table)."""
    if hasattr(pool_or_conn, "acquire"):
        async with pool_or_conn.acquire() as conn:
            await create_tables(conn, PUBLIC, list(GROUPS))
    else:
        await create_tables(pool_or_conn, PUBLIC, list(GROUPS))


def resolve_groups(name: str | None) -> list[str]:
    """`None` -> every group that may be rebuilt; a group or table name -> its group."""
    if name is None:
        return [g for g in GROUPS if g not in NEVER_REBUILT]
    group = ALIASES.get(name)
    if group in NEVER_REBUILT:
        raise ValueError(f"{name!r} is the notifications outbox, which is never rebuilt (it keeps what was "
                         "delivered; its rows are written once by id, so the projector may simply go on)")
    if group is None:
        known = ", ".join(sorted(ALIASES))
        raise ValueError(f"unknown read model {name!r}; known: {known}")
    return [group]
