"""The event store's names, in a module that imports nothing: light processes (the
audit trail's second verifying process, `thidua.projections.audit_check`) read the store
by name without importing the domain."""

APP_NAME = "thidua"
EVENTS_TABLE = f"{APP_NAME}_events"
