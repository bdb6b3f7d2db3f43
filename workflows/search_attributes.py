"""The typed search attributes of each target's workflow, for operators:

    temporal workflow list --query "thiduaUnit='ngo-quyen' AND thiduaStatus='blocked'"

TargetWorkflow upserts them whenever the facts they show change (only those that
changed); an import's carried start gives them at once (`at_start`). A namespace must
know them before a workflow sets them, or its workflow tasks fail: the embedded dev
server registers them at start (`--search-attribute NAME=TYPE`), the worker registers
any missing one when it starts (`ensure_registered`), and docs/operations.md gives the
`temporal operator search-attribute create` lines for a namespace the worker may not
change.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, SearchAttributeUpdate, TypedSearchAttributes

if TYPE_CHECKING:
    from thidua.workflows.messages import TargetFacts

CAMPAIGN = SearchAttributeKey.for_keyword("thiduaCampaign")
UNIT = SearchAttributeKey.for_keyword("thiduaUnit")
STATUS = SearchAttributeKey.for_keyword("thiduaStatus")
OVERDUE = SearchAttributeKey.for_bool("thiduaOverdue")
DEADLINE = SearchAttributeKey.for_datetime("thiduaDeadline")
KEYS: tuple[SearchAttributeKey[Any], ...] = (CAMPAIGN, UNIT, STATUS, OVERDUE, DEADLINE)

# Their Temporal types as the CLI and the dev server spell them (`--search-attribute NAME=TYPE`).
CLI_TYPES = {CAMPAIGN.name: "Keyword", UNIT.name: "Keyword", STATUS.name: "Keyword", OVERDUE.name: "Bool",
             DEADLINE.name: "Datetime"}

log = logging.getLogger("thidua.workflows")


def wanted(campaign_id: str, facts: TargetFacts) -> dict[str, Any]:
    """The value of each attribute for a target's facts in its campaign, by name."""
    return {CAMPAIGN.name: campaign_id, UNIT.name: facts.unit_id, STATUS.name: facts.status,
            OVERDUE.name: facts.overdue, DEADLINE.name: facts.deadline_at}


def at_start(campaign_id: str, facts: TargetFacts) -> TypedSearchAttributes:
    """The attributes to give a workflow when it is started (an import's carried start, whose
    first task publishes nothing while its facts equal them), so an operator's list finds a
    target before its first command."""
    values = wanted(campaign_id, facts)
    return TypedSearchAttributes([SearchAttributePair(key, values[key.name]) for key in KEYS])


def updates(current: TypedSearchAttributes, values: dict[str, Any]) -> list[SearchAttributeUpdate[Any]]:
    """The updates that bring `current` to `values`: none for an attribute already right."""
    return [key.value_set(values[key.name]) for key in KEYS if current.get(key) != values[key.name]]


async def ensure_registered(client: Any, namespace: str) -> None:
    """Register on `namespace` the attributes it does not know yet (a namespace made
    without them). Refused (no operator rights on a production namespace): log how to
    register them and go on; their workflows' tasks fail until they are."""
    # Here, not at the top: the workflow sandbox imports this module for the keys only.
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest

    try:
        known = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    except Exception as exc:  # noqa: BLE001 - no right to look: the operator registered them, or will
        log.warning("could not list the search attributes of namespace %s (%s); target workflows need %s "
                    "(docs/operations.md)", namespace, exc, ", ".join(CLI_TYPES))
        return
    names = set(known.custom_attributes) | set(known.system_attributes)
    missing = {key.name: key.indexed_value_type for key in KEYS if key.name not in names}
    if not missing:
        return
    try:
        await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
            namespace=namespace, search_attributes={name: kind
                                                    for name, kind in missing.items()}))
        log.info("registered the search attributes %s on namespace %s", ", ".join(sorted(missing)), namespace)
    except Exception as exc:  # noqa: BLE001 - the worker still serves; the log says what to do
        lines = "; ".join(f"temporal operator search-attribute create --namespace {namespace} --name {name} "
                          f"--type {CLI_TYPES[name]}" for name in sorted(missing))
        log.error("the search attributes %s are not registered on namespace %s and could not be (%s): "
                  "target workflows fail until they are; run: %s", ", ".join(sorted(missing)), namespace, exc, lines)
