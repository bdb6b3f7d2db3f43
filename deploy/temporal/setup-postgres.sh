#!/bin/sh
# One-shot schema setup for Temporal on PostgreSQL (run by the temporal-admin-tools service).
# Creates the `temporal` and `temporal_visibility` databases if needed and brings both schemas
# to the version shipped with the admin-tools image; safe to run again on every `up`.
set -eu

: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
DB_PORT="${DB_PORT:-5432}"
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

echo "waiting for PostgreSQL at ${POSTGRES_SEEDS}:${DB_PORT}..."
until nc -z -w 2 "$POSTGRES_SEEDS" "$DB_PORT"; do sleep 1; done

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

for db in temporal temporal_visibility; do
  case "$db" in
    temporal) versioned="$SCHEMA_DIR/temporal/versioned" ;;
    *) versioned="$SCHEMA_DIR/visibility/versioned" ;;
  esac
  # `create` fails when the database exists: the normal case on a restart.
  sql_tool --db "$db" create || echo "database $db exists"
  # update-schema applies only the versions a set-up database lacks; it fails, changing
  # nothing, when the database has no schema yet - then set the schema up first.
  if ! sql_tool --db "$db" update-schema -d "$versioned"; then
    sql_tool --db "$db" setup-schema -v 0.0
    sql_tool --db "$db" update-schema -d "$versioned"
  fi
done
echo "Temporal schemas are up to date"
