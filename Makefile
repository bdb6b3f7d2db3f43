# thidua: `make up` runs it all, `make test` passes the tests; both bootstrap .venv first.
SHELL := /bin/bash

VENV       := .venv
VENV_PY    := $(VENV)/bin/python
STAMP      := $(VENV)/.installed
# python3.11 if there is one, else python3 (override: make PYTHON=/path/to/python venv)
PYTHON     ?= $(shell command -v python3.11 >/dev/null 2>&1 && echo python3.11 || echo python3)
PYTEST_ARGS ?=

# The lock: every package, pinned with its hashes (made by `make lock` from pyproject.toml).
# test.txt is the runtime plus the test extra (.venv, CI); runtime.txt is what the image
# installs; bench.txt adds the profilers. runtime and bench are constrained by test.txt,
# so one package has one version in all three.
LOCK_DIR   := requirements
LOCK       := $(LOCK_DIR)/test.txt
UV         := $(VENV)/bin/uv
UV_SPEC    := uv>=0.13,<0.14
LOCK_ARGS  := --universal --python-version 3.11 --generate-hashes --quiet $(if $(UPGRADE),--upgrade)

.PHONY: venv chromium test test-tools up lock bench bench-large faults clean distclean

venv: $(STAMP)

$(VENV_PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall when pyproject.toml or the lock is newer than the stamp. Only hashed, pinned
# packages come from the index; the project itself goes on top without resolving anything.
$(STAMP): pyproject.toml $(LOCK) | $(VENV_PY)
	$(VENV_PY) -m pip install --require-hashes -r $(LOCK)
	$(VENV_PY) -m pip install --no-deps -e .
	touch $(STAMP)

# The browser tests (tests/browser) drive Debian's Chromium: installed here when it is missing
# and we are root (Playwright's own download is not reachable everywhere). Otherwise those
# tests fail and say how to get a browser.
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ ! -x "$(CHROMIUM)" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

# Refresh the lock after changing the dependencies in pyproject.toml; pins that still fit
# are kept. `make lock UPGRADE=1` moves every package to its newest allowed version.
# uv is needed only here, so it is installed on demand.
lock: | $(VENV_PY)
	$(VENV_PY) -m pip install --quiet '$(UV_SPEC)'
	$(UV) pip compile pyproject.toml --extra test $(LOCK_ARGS) -o $(LOCK_DIR)/test.txt
	$(UV) pip compile pyproject.toml $(LOCK_ARGS) -c $(LOCK_DIR)/test.txt -o $(LOCK_DIR)/runtime.txt
	$(UV) pip compile pyproject.toml --extra test --extra bench $(LOCK_ARGS) -c $(LOCK_DIR)/test.txt -o $(LOCK_DIR)/bench.txt

# The README tour's test (tests/e2e/test_readme_tour.py) pastes the tour into bash, which
# uses jq as a reader would: installed here when missing and we are root on apt; else a hint.
test-tools:
	@command -v jq >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && { apt-get install -y -qq jq >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq jq; }; }; } \
	  || echo "make test: jq is missing (the README tour's test needs it): install it, e.g. apt-get install jq" >&2

# The suites that start servers run in an interpreter of their own after the others: a
# process that has run the integration tests (Temporal's core, worker threads, many pools)
# and then starts the e2e stack was seen to crash in native code (asyncpg building a
# connection), and each suite stands alone anyway. PYTEST_ARGS go to both runs.
test: venv test-tools chromium
	$(VENV_PY) -m pytest -q tests/unit tests/integration $(PYTEST_ARGS)
	$(VENV_PY) -m pytest -q tests/e2e tests/browser $(PYTEST_ARGS)

up: venv
	$(VENV)/bin/thidua up

# The benchmarks also need the profilers (py-spy, pyinstrument) of the `bench` extra.
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): pyproject.toml $(LOCK_DIR)/bench.txt | $(STAMP)
	$(VENV_PY) -m pip install --require-hashes -r $(LOCK_DIR)/bench.txt
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(VENV_PY) -m bench

# The country's size (bench/country.py): 34 provincial campaigns, 170,000 targets and 3.4 M
# events in one store, then the projector's bulk build of it (S4), the audit verification
# (S6), one province's scoreboard (S5), the live stages and the figure groups (V freezes a
# province's round), peak RSS (S.rss_*). By hand, not part of `make test`: 12 minutes on 2
# idle cores, about 10 with `--only S` (which skips the raw limits and the figure groups), 41
# under heavy load (docs/benchmarks.md, "The country's size", has each stage).
bench-large: $(BENCH_STAMP)
	$(VENV_PY) -m bench --large

# The fault run (bench/faults.py): load while the worker, the projector and Temporal are
# SIGKILLed and PostgreSQL goes away and stalls, then bad input and authorisation attempts;
# writes the figures into docs/reliability.md. About four minutes here; not part of `make test`.
faults: venv
	$(VENV_PY) -m bench.faults --write docs/reliability.md

# Build and test leftovers; keeps .venv and the dev data in .thidua/ (see distclean).
clean:
	rm -rf build dist .pytest_cache .hypothesis *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

# Everything clean removes, plus the virtualenv.
distclean: clean
	rm -rf $(VENV)
