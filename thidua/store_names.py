"""The event store's table, named in a module that imports nothing: light processes (the
audit trail's checking processes, `thidua.projections.audit_check`) read the store by
name without importing the domain. The domain names it too (`domain.application`, from
its application's name, as eventsourcing names the table; the domain imports no other
part of the project): `tests/unit/test_projection_codec.py` holds the two equal."""

EVENTS_TABLE = "thidua_events"
