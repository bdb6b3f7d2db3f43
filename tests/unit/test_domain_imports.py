"""The domain is pure: importing it and every submodule loads no Temporal, HTTP or
database driver (checked in a fresh interpreter, where nothing else was imported first)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("temporalio", "fastapi", "starlette", "asyncpg", "psycopg", "psycopg_pool", "psycopg2")

PROBE = """
import importlib, json, pkgutil, sys
import domain
names = [m.name for m in pkgutil.walk_packages(domain.__path__, "domain.")]
for name in names:
    importlib.import_module(name)
loaded = sorted({m.split(".")[0] for m in sys.modules})
print(json.dumps({"modules": names, "loaded": loaded}))
"""


def test_importing_the_domain_loads_no_temporal_http_or_database_driver():
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])

    assert {"domain.target", "domain.campaign", "domain.scoring", "domain.permissions",
            "domain.application"} <= set(report["modules"])
    assert [name for name in FORBIDDEN if name in report["loaded"]] == []
