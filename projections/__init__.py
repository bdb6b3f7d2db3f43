"""Read models of thidua: the projector (event store -> tables, exactly once), the
queries the API reads them with, rebuilds, and the hash-chained audit trail.

Modules:
- `schema`      tables, indexes, projection groups and their tracking rows; `ensure_schema(pool)`
- `pipeline`    gap-safe reading of the event store, aggregates kept up to date with
                the domain's own `mutate` (events decoded by `codec.StoredDecoder`)
- `engine`      one batch = one transaction: lock tracking rows, read, apply every
                group, advance tracking rows; the next batch is prepared meanwhile
- `catalog`, `targets`, `escalations`, `audit`   the projection groups
- `boards`      scoreboards via `thidua.domain.scoring` only
- `projector`   `Projector` (asyncio, in-process), `ProjectorThread`, `serve(database_url)`
- `rebuild`     `rebuild(...)`, `main(...)` (`thidua projections rebuild [NAME]`)
- `audit`       also `verify(...)` (`thidua audit verify`)
- `queries`     what the API calls (asyncpg)
"""
