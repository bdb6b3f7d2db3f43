"""Parent and child targets: the rules of the tree (no I/O).

A target may name a parent (`parent_id`, fixed at assignment): the city's own target
that a unit's target makes concrete. The parent must be a target of the same campaign
that is still open, and the parents must never form a cycle. The parent is fixed when
the child is assigned, so a cycle can only be made by a target naming itself or by
targets assigned together (an import) naming one another.

A parent completes by itself when its last child does (the cascade: workflows/cascade.py
sends it `complete_by_children`); by hand it may be neither completed nor cancelled while
a child is open (`check_closing_by_hand`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from thidua.domain import lifecycle as lc
from thidua.domain.errors import BadInput, InvalidTransition

# The hand-issued commands that would close a parent under its open children.
CLOSING_BY_HAND = frozenset({lc.COMPLETE.name, lc.CANCEL.name})


def check_parent(parent: Any | None, campaign_id: str) -> None:
    """`parent` (a Target or None when there is none) may take a new child of `campaign_id`."""
    if parent is None:
        raise BadInput("parent_id: no such target", field="parent_id")
    if parent.campaign_id != campaign_id:
        raise BadInput("parent_id: the parent is a target of another campaign", field="parent_id")
    if not parent.is_open:
        raise BadInput(f"parent_id: the parent is {parent.status}; a closed target takes no new children",
                       field="parent_id")


def check_no_cycle(parents: Mapping[str, str | None]) -> None:
    """`parents` maps target id -> parent id for targets assigned together: refuse a
    chain of them that comes back to where it started."""
    for start in parents:
        seen = {start}
        node = parents.get(start)
        while node is not None and node in parents:
            if node in seen:
                raise BadInput("parent_id: the parents form a cycle", field="parent_id", target_id=start)
            seen.add(node)
            node = parents[node]


def check_closing_by_hand(command: str, open_children: int) -> None:
    """A person's `command` on a target with `open_children` open children: completing or
    cancelling it is refused (409) until they are closed; then it completes by itself."""
    if command in CLOSING_BY_HAND and open_children:
        raise InvalidTransition(command, "open children",
                                f"cannot {command} a target while {open_children} of its children "
                                "are open: it completes by itself when its last child does")
