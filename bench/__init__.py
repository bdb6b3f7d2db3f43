"""thidua's benchmark harness (`make bench`, `make bench-large`; not part of `make test`).

thidua's speed is judged as a ratio to the parts it is built on, measured in the same run on
the same machine: the raw limits (B: Temporal update round trip and workflow starts,
eventsourcing saves, asyncpg reads, COPY) and thidua's own figures (P1-P6, and S at scale)
are measured side by side, each P figure against its goal. A run prints a table, writes
`bench/results.json`, regenerates the table at the top of `docs/benchmarks.md` from it and
appends a dated section to `docs/benchmarks-history.md`.

Modules:
- `spec`, `figures`: what is measured (ids, units, goals, baselines) and how a result is judged;
- `groups`: the registry of other features' figure groups (one line each);
- `report`, `table`: the table, results.json, the page's table and the history's section;
- `profile`: the sizes of a run (`--smoke`, default, `--large`);
- `services`: a fresh database, a Temporal dev server, child processes, their RSS, py-spy;
- `raw`, `trivial`: the B figures and the trivial workflow they run;
- `corpus`: real domain events written fast (save_changes of many aggregates);
- `country`: the country's store for `--large` (one province made, 33 cloned with COPY);
- `scaleout`: P8, two API processes, workers and projectors;
- `stack`: thidua's processes and users, the projections' position, the lag probe;
- `product`: P1-P6 and the scale figures, through thidua's own parts;
- `stats`: closed-loop load and percentiles; `httpload`: a small keep-alive HTTP/1.1
  client, so the load generator is not the limit; `hotspots`: py-spy summaries;
- `run`: the order of a run and the command line.

See docs/benchmarks.md (the current figures, how to read them) and
docs/benchmarks-history.md (each figure's definition, every run and finding).
"""
