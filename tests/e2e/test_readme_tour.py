"""The README's "A five-minute tour" runs as a reader pastes it.

A `thidua up` with the Vĩnh Yên demo starts as the README says (embedded PostgreSQL and
Temporal, the data in `.thidua/` of the directory it runs in); then the tour's shell blocks,
taken from README.md as they are, run in one bash from that directory, which holds `.venv`
like the project's root does. Every command must succeed (bash -e, and curl fails on an
HTTP error status), and the outputs the tour promises must be there: a blocked target, a
scoreboard that counts it now and not as of before the tour, a resolved escalation, a
verified audit chain, a campaign of one's own set up and closed.

jq is what the tour uses; `make test` installs it when it can (see the Makefile).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_up_command import HEALTHY_WITHIN, READY_WITHIN, STOPPED_WITHIN, Run
from thidua import demo_data as D
from thidua.embedded import free_port

REPO = Path(__file__).resolve().parents[2]
TOUR_HEADING = "## A five-minute tour"

pytestmark = pytest.mark.timeout(480)

# Stricter than a reader's shell, not different: stop at the first failing command and
# name it; curl exits non-zero (and still prints the problem body) on an HTTP error.
PREAMBLE = """\
set -euo pipefail
trap 'echo "tour: \\"$BASH_COMMAND\\" failed (status $?)" >&2' ERR
curl() { command curl --fail-with-body --show-error "$@"; }
"""


def tour_blocks(readme: str) -> list[str]:
    """The ```sh blocks of the tour section, in order."""
    start = readme.index(TOUR_HEADING)
    end = readme.find("\n## ", start + len(TOUR_HEADING))
    section = readme[start:end if end != -1 else None]
    return re.findall(r"^```sh\n(.*?)^```", section, flags=re.S | re.M)


def test_the_tour_section_has_no_placeholders() -> None:
    blocks = tour_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 2, "the tour and the campaign of one's own"
    code = "\n".join(line.split("  #")[0] for block in blocks for line in block.splitlines()
                     if not line.lstrip().startswith("#"))
    assert not re.search(r"<[a-z][a-z ]*>", code), "an <angle-bracket placeholder> cannot be pasted"
    assert not re.search(r"\bN\b", code), "a bare N cannot be pasted"


def reader_env() -> dict[str, str]:
    """The environment of someone who set nothing: no THIDUA_*, TEMPORAL_* or DATABASE_URL."""
    return {k: v for k, v in os.environ.items()
            if not k.upper().startswith(("THIDUA_", "TEMPORAL_")) and k.upper() != "DATABASE_URL"}


def json_or_none(line: str) -> object:
    try:
        return json.loads(line)
    except ValueError:
        return None


@pytest.fixture(scope="module")
def stack() -> Iterator[Path]:
    """`thidua up` with the demo, in a fresh directory laid out like the project's root."""
    assert shutil.which("jq"), "the README tour needs jq: `make test` installs it as root; else install it"
    assert shutil.which("curl"), "the README tour needs curl"
    venv = Path(sys.prefix)
    assert (venv / "bin" / "thidua").exists(), f"run the tests from the project's venv (no {venv}/bin/thidua)"
    home = Path(tempfile.mkdtemp(prefix="tht", dir="/tmp"))  # short: the PostgreSQL socket lives under it
    (home / ".venv").symlink_to(venv)
    env = reader_env()
    env.update(THIDUA_API_PORT=str(free_port()), THIDUA_TEMPORAL_PORT=str(free_port()),
               THIDUA_TEMPORAL_UI_PORT=str(free_port()), PYTHONPATH=str(REPO),
               # The tour prints the closed campaign, which the close answers when its operation
               # ends within this wait: a busy test machine must not turn that into a 202.
               THIDUA_OPERATION_WAIT_SECONDS="60")
    process = subprocess.Popen([sys.executable, "-m", "thidua.cli", "up"], cwd=home, env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, bufsize=1)
    run = Run(process)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            run.lines.append(line.rstrip("\n"))

    run.reader = threading.Thread(target=read, daemon=True)
    run.reader.start()
    try:
        run.wait_for_line("thidua is up.", HEALTHY_WITHIN + READY_WITHIN)
        yield home
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(STOPPED_WITHIN)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(home, ignore_errors=True)


def test_the_tour_runs_verbatim_against_the_demo(stack: Path) -> None:
    home = stack
    blocks = tour_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    result = subprocess.run(["bash", "-c", PREAMBLE + "\n".join(blocks)], cwd=home, env=reader_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"the tour failed:\n{result.stderr[-4000:]}\n--- stdout:\n{result.stdout[-4000:]}"
    out = result.stdout
    values = [v for v in map(json_or_none, out.splitlines()) if isinstance(v, dict)]
    # the unit head's block: its answer, then the target's last history entry
    blocked = next(v for v in values if v.get("status") == "blocked")
    assert isinstance(blocked["position"], int) and blocked["position"] > 0
    last = next(v for v in values if v.get("event_type") == "Blocked")
    assert last["position"] == blocked["position"] and "đồng thuận" in last["reason"]
    # the scoreboard counts the block now, and not as of the instant before the tour
    counts = [v["blocked"] for v in values if v.get("unit_id") == "ngo-quyen"
              and set(v) == {"unit_id", "blocked"}]
    assert counts == [1, 0], out
    # the Standing Committee resolved an escalation: the target is back in progress
    resolved = next(v for v in values if isinstance(v.get("escalation"), dict)
                    and "status" in v)
    assert resolved["status"] == "in_progress" and resolved["escalation"]["state"] == "resolved"
    assert resolved["escalation"]["directive"].startswith("Phòng TN-MT")
    # the hash chain verifies (`jq` pretty-prints that one)
    assert re.search(r'"ok": true', out) and re.search(r'"first_bad_position": null', out), out
    # the spreadsheet is one (an XLSX file is a zip archive)
    assert (home / "scoreboard.xlsx").read_bytes()[:2] == b"PK"
    # a campaign of one's own: two imported targets, then closed
    imported = next(v for v in values if "created" in v)
    assert imported["created"] == 2 and [i["key"] for i in imported["items"]] == ["12-02", "12-03"]
    assert {"id": "vy-2027", "closed": True} in values

    # and the system agrees with what the tour printed: Ngô Quyền has one blocked target,
    # whose block is the event the tour stored
    tokens = json.loads((home / ".thidua" / "demo-tokens.json").read_text())
    api = json.loads((home / ".thidua" / "up.json").read_text())["api_url"]
    headers = {"Authorization": f"Bearer {tokens['inspector']}"}
    with httpx.Client(base_url=api, headers=headers, timeout=30) as http:
        targets = http.get(f"/v1/campaigns/{D.CAMPAIGN_ID}/targets",
                           params={"unit_id": "ngo-quyen", "status": "blocked"}).json()["items"]
        assert len(targets) == 1, targets
        history = http.get(f"/v1/targets/{targets[0]['id']}/history").json()["items"]
    assert history[-1]["event_type"] == "Blocked" and history[-1]["position"] == blocked["position"]
