"""The benchmark harness runs end to end in its tiny mode and reports every figure.

Speed is not asserted here (that is what `make bench` is for): only that a run starts what
it needs, drives every part, and writes results.json in the shape the docs describe.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report
from bench.figures import ids_for

REPO = Path(__file__).resolve().parents[2]
FIELDS = ("id", "value", "unit", "baseline", "ratio", "goal", "pass")


def test_a_smoke_run_reports_every_figure_with_its_goal(postgres_server_url: str, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    docs = tmp_path / "benchmarks.md"
    history = tmp_path / "benchmarks-history.md"
    env = {**os.environ, "DATABASE_URL": postgres_server_url}
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out), "--docs", str(docs), "--history", str(history)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    document = json.loads(out.read_text())
    figures = {f["id"]: f for f in document["figures"]}
    assert document["last_run"]["mode"] == "smoke"
    assert set(figures) == set(ids_for("smoke"))
    for figure_id, figure in figures.items():
        assert all(field in figure for field in FIELDS), figure_id
        assert figure["value"] is not None, f"{figure_id} was not measured: {figure['note']}"
        assert figure["unit"]

    # A figure with a goal is judged; a raw limit is not.
    # P1/P2 against the raw figures of their own shape (local activity); the ordinary ones beside.
    assert figures["P1.p99"]["baseline"] == figures["B8.local_update_p99"]["value"]
    assert set(figures["P1.p99"]["detail"]["ratio_to"]) == {"B1.update_p99"}
    assert figures["P2.rate"]["baseline"] == figures["B9.local_update_rate"]["value"]
    assert figures["P1.p99"]["ratio"] is not None and isinstance(figures["P1.p99"]["pass"], bool)
    assert figures["B2.update_rate"]["pass"] is None and figures["B2.update_rate"]["goal"] is None
    assert isinstance(figures["P6.verify_rate"]["pass"], bool)
    # Rebuild and verification also say what they cost the machine (steadier than rates).
    for figure_id in ("P4.rebuild_rate", "P6.verify_rate"):
        assert figures[figure_id]["detail"]["machine_cpu_s"] > 0, figure_id
        assert figures[figure_id]["detail"]["cpu_ms_per_1k_events"] > 0, figure_id

    # The raw start rate brackets the import: one round before it, one after, pooled.
    b4 = figures["B4.start_rate"]["detail"]
    assert len(b4["rounds"]) == 2 and b4["calls"] == sum(r["calls"] for r in b4["rounds"])
    assert figures["B4.start_rate"]["value"] == pytest.approx(b4["calls"] / b4["seconds"], rel=1e-2)  # seconds are rounded
    assert figures["P3.import_rate"]["baseline"] == figures["B4.start_rate"]["value"]

    # The run's dated section went to the history it was given, with every figure; the
    # page's table is results.json's.
    section = history.read_text()
    assert "`smoke` run" in section
    assert all(f"| {figure_id} |" in section for figure_id in figures)
    assert report.current_table(docs.read_text()) == report.table_markdown(document)

    # The feature groups (bench.groups) report beside their raw parts, measured in the same run.
    assert figures["E.upload_rate"]["baseline"] == figures["E.raw_write_rate"]["value"]
    assert figures["E.download_rate"]["baseline"] == figures["E.raw_read_rate"]["value"]
    assert figures["V.freeze_ms"]["baseline"] == figures["V.as_of_ms"]["value"]
    assert figures["N.delivery_rate"]["baseline"] == figures["N.raw_post_rate"]["value"]
    notified = figures["N.commit_to_receiver_p99"]["detail"]
    assert notified["delivered"] == notified["expected"] > 0 and notified["bad_signatures"] == 0
    # measured from each event's commit, which follows its occurred_at (the command's workflow task)
    assert notified["commit_unseen"] == 0
    assert notified["from_occurred_at"]["p99_ms"] >= figures["N.commit_to_receiver_p99"]["value"]
    assert figures["N.delivery_rate"]["detail"]["delivered"] == figures["N.delivery_rate"]["detail"]["n"]
    for figure_id in ("C.rollup_lag_p99", "E.upload_rate", "V.freeze_ms", "N.commit_to_receiver_p99"):
        assert isinstance(figures[figure_id]["pass"], bool), figure_id
