"""The topics (eventsourcing's `module:qualname`) the domain's classes are stored under.

Installed as a top-level package `domain`, the domain stored its events and aggregates
under topics `domain.<module>:<Class>`; installed under the `thidua` namespace it stores
`thidua.domain.<module>:<Class>`. Both must keep loading:
`register_legacy_topics()` (run when the package is imported) makes the older topics
resolve to the same classes, and a query that selects stored events by topic matches
every spelling in `stored_topics(cls)`.
"""

from __future__ import annotations

import importlib

from eventsourcing.utils import get_topic, register_topic

LEGACY_PACKAGE = "domain"  # the package's name in topics stored before the namespace
PACKAGE = __name__.rpartition(".")[0]  # its name now, as imported


def stored_topics(cls: type) -> tuple[str, ...]:
    """The topic `cls` is stored under now, then the one it was stored under before."""
    topic = get_topic(cls)
    if PACKAGE == LEGACY_PACKAGE or not topic.startswith(PACKAGE + "."):
        return (topic,)
    return (topic, LEGACY_PACKAGE + topic.removeprefix(PACKAGE))


def register_legacy_topics() -> None:
    """Make `domain.<module>:<Class>` resolve to the class of `<PACKAGE>.<module>`."""
    if PACKAGE != LEGACY_PACKAGE:
        register_topic(LEGACY_PACKAGE, importlib.import_module(PACKAGE))
