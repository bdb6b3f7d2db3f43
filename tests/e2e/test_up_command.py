"""`thidua up` as a newcomer runs it: a subprocess on free ports with a fresh, short data
directory and the embedded PostgreSQL and Temporal (no DATABASE_URL, no TEMPORAL_ADDRESS).

The tests run in order and share one data directory: first start (healthy, demo loaded,
scoreboards, tokens), SIGINT (every process gone), second start (data reused, no second demo).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest

from tests.processes import alive
from thidua import demo_data as D
from thidua.embedded import free_port

REPO = Path(__file__).resolve().parents[2]
HEALTHY_WITHIN = 120.0
READY_WITHIN = 120.0  # after healthy: the demo load
STOPPED_WITHIN = 60.0

pytestmark = pytest.mark.timeout(420)


@dataclass
class Run:
    """One `thidua up` process and what it printed."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.process.poll() is not None:
                time.sleep(0.2)  # let the reader drain the pipe
                raise AssertionError(f"`thidua up` exited ({self.process.returncode}) before {text!r}:\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} within {timeout:.0f} s:\n{self.output()}")
            time.sleep(0.1)


@dataclass
class Setup:
    data_dir: Path
    env: dict[str, str]
    api_url: str
    runs: list[Run] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def start(self) -> Run:
        process = subprocess.Popen(
            [sys.executable, "-m", "thidua.cli", "up"],
            cwd=REPO, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
        )
        run = Run(process)

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                run.lines.append(line.rstrip("\n"))

        run.reader = threading.Thread(target=read, daemon=True)
        run.reader.start()
        self.runs.append(run)
        return run

    def state(self) -> dict[str, Any]:
        return json.loads((self.data_dir / "up.json").read_text())

    def tokens(self) -> dict[str, str]:
        return json.loads((self.data_dir / "demo-tokens.json").read_text())

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres:@/postgres?host={self.data_dir / 'pg'}"


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    data_dir = Path(tempfile.mkdtemp(prefix="thu", dir="/tmp"))  # short: the PG socket lives in it
    api_port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(("THIDUA_", "TEMPORAL_")) and k.upper() != "DATABASE_URL"}
    env.update(
        THIDUA_DATA_DIR=str(data_dir),
        THIDUA_API_PORT=str(api_port),
        THIDUA_TEMPORAL_PORT=str(free_port()),
        THIDUA_TEMPORAL_UI_PORT=str(free_port()),
        THIDUA_LOG_LEVEL="INFO",
        PYTHONPATH=str(REPO),
    )
    s = Setup(data_dir, env, f"http://127.0.0.1:{api_port}")
    try:
        yield s
    finally:
        for run in s.runs:
            if run.process.poll() is None:
                run.process.send_signal(signal.SIGINT)
                try:
                    run.process.wait(60)
                except subprocess.TimeoutExpired:
                    run.process.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


def wait_healthy(s: Setup, run: Run) -> float:
    started = time.monotonic()
    with httpx.Client(timeout=3) as http:
        while True:
            if run.process.poll() is not None:
                raise AssertionError(f"`thidua up` exited with {run.process.returncode}:\n{run.output()}")
            try:
                response = http.get(f"{s.api_url}/healthz")
                # "degraded" (200) until the worker and the projector have written their first heartbeat
                if response.status_code == 200 and response.json()["status"] == "ok":
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            if time.monotonic() - started > HEALTHY_WITHIN:
                raise AssertionError(f"/healthz not green within {HEALTHY_WITHIN:.0f} s:\n{run.output()}")
            time.sleep(0.5)


def get(s: Setup, path: str, token: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{s.api_url}{path}", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def scoreboard_once_projected(s: Setup, token: str) -> dict[str, Any]:
    """The demo's scoreboard once the projector has caught up with every unit."""
    deadline = time.monotonic() + 60
    while True:
        response = get(s, f"/v1/campaigns/{D.CAMPAIGN_ID}/scoreboard", token)
        if response.status_code == 200:
            board = response.json()
            units = [u for c in board["clusters"] for u in c["units"]]
            counted = sum(sum(u["counts"].values()) for u in units)
            if len(units) == len(D.UNITS) and counted >= len(D.TARGETS):
                return board
        if time.monotonic() > deadline:
            raise AssertionError(f"scoreboard not complete: {response.status_code} {response.text[:500]}")
        time.sleep(0.5)


def all_targets(s: Setup, token: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        response = get(s, f"/v1/campaigns/{D.CAMPAIGN_ID}/targets", token, **params)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def count_events(s: Setup) -> dict[str, int]:
    with psycopg.connect(s.database_url) as conn:
        rows = conn.execute("SELECT topic, count(*) FROM thidua_events GROUP BY topic").fetchall()
    return {topic: n for topic, n in rows}


# ---------------------------------------------------------------------------------- first start


def test_first_start_is_healthy_and_loads_the_demo(setup: Setup) -> None:
    run = setup.start()
    wait_healthy(setup, run)
    run.wait_for_line("thidua is up.", READY_WITHIN)
    text = run.output()
    assert "Demo loaded" in text
    assert f"{setup.api_url}/docs" in text
    state = setup.state()
    assert state["pid"] == run.process.pid and state["api_url"] == setup.api_url
    ui = state["temporal_ui"]
    assert ui and ui == f"http://127.0.0.1:{setup.env['THIDUA_TEMPORAL_UI_PORT']}" and ui in text
    assert state["temporal_address"] == f"127.0.0.1:{setup.env['THIDUA_TEMPORAL_PORT']}"
    assert httpx.get(ui, timeout=10).status_code == 200  # the Temporal web UI is served (not headless)
    assert httpx.get(f"{setup.api_url}/docs", timeout=10).status_code == 200


def test_the_demo_escalations_arrive_as_mail_in_the_printed_maildir(setup: Setup) -> None:
    """A newcomer sees escalation e-mails arrive: `thidua up` runs a local SMTP catcher
    and says where its mail is kept."""
    import mailbox
    from email import message_from_bytes
    from email.policy import default

    state = setup.state()
    maildir = Path(state["maildir"])
    assert maildir == setup.data_dir / "mail" and state["smtp_url"].startswith("smtp://127.0.0.1:")
    assert str(maildir / "new") in setup.runs[-1].output()
    deadline = time.monotonic() + 90
    while True:
        mails = [message_from_bytes(m.as_bytes(), policy=default) for m in mailbox.Maildir(str(maildir))]
        to_nam = [m for m in mails if m["To"] == f"{D.NAM.user_id}@thidua.local"]
        if to_nam:
            break
        assert time.monotonic() < deadline, f"no mail in {maildir} ({len(mails)} there)"
        time.sleep(0.5)
    assert to_nam[0]["Subject"] == "[Thi đua] Chỉ tiêu được chuyển lên Ban Thường vụ"
    assert f"{setup.api_url}/v1/targets/" in to_nam[0].get_body(("plain",)).get_content()


def test_every_token_in_the_tokens_file_signs_its_user_in(setup: Setup) -> None:
    tokens = setup.tokens()
    assert set(tokens) == {u.user_id for u in D.USERS}
    text = setup.runs[0].output()
    for user in D.USERS:
        token = tokens[user.user_id]
        assert token in text  # printed too
        response = get(setup, "/v1/me", token)
        assert response.status_code == 200, (user.user_id, response.text)
        assert (response.json()["id"], response.json()["role"]) == (user.user_id, user.role)
    assert get(setup, "/v1/me", tokens["secretariat"][:-4] + "AAAA").status_code == 401


def test_the_web_address_comes_first_and_the_printed_password_signs_in(setup: Setup) -> None:
    text = setup.runs[0].output()
    ready = text[text.index("Demo loaded"):]
    assert ready.index(f"{setup.api_url}/") < ready.index(f"{setup.api_url}/docs")  # the pages before the API
    password = (setup.data_dir / "demo-password.txt").read_text().strip()
    assert password in text
    with httpx.Client(base_url=setup.api_url, timeout=30) as browser:
        signed = browser.post("/v1/session", json={"login": "head-ngo-quyen", "password": password})
        assert signed.status_code == 200, signed.text
        assert browser.get("/v1/me").json()["id"] == "head-ngo-quyen"
        assert "Phường Ngô Quyền" in browser.get("/").text


def test_the_demo_scoreboard_has_four_clusters_and_ranks_every_unit(setup: Setup) -> None:
    token = setup.tokens()["inspector"]
    board = scoreboard_once_projected(setup, token)
    clusters = {c["cluster_id"]: c for c in board["clusters"]}
    assert set(clusters) == {c.cluster_id for c in D.CLUSTERS}
    forms = {f.form_id: f for f in D.REWARD_FORMS}
    for fact in D.CLUSTERS:
        units = clusters[fact.cluster_id]["units"]
        assert {u["unit_id"] for u in units} == set(fact.member_unit_ids)
        merit = {u["unit_id"]: (u["score"], u["completion_rate"]) for u in units}
        for u in units:  # equal units share a rank: 1 + the number of better ones
            assert u["rank"] == 1 + sum(m > merit[u["unit_id"]] for m in merit.values())
        # the drive's reward rules decide the candidates: each meets the criteria of the forms it names
        for u in units:
            assert u["reward_candidate"] == bool(u["eligible_forms"])
            for form_id in u["eligible_forms"]:
                form = forms[form_id]
                assert form.recipient == "collective" and u["counts"]["overdue"] <= form.max_overdue
                assert u["score"] >= float(form.min_score_ratio) * u["max_score"] > 0
        for form in forms.values():
            if form.scope == "cluster":
                assert sum(form.form_id in u["eligible_forms"] for u in units) <= form.max_awards
    units = {u["unit_id"]: u for c in board["clusters"] for u in c["units"]}
    totals = {k: sum(u["counts"][k] for u in units.values()) for k in next(iter(units.values()))["counts"]}
    for report_class in ("completed_on_time", "completed_late", "in_progress_within_deadline", "overdue", "cancelled"):
        assert totals[report_class] > 0, totals
    assert totals["escalated"] > 0 and totals["blocked"] > 0
    # the initiative bonus counts for Ngô Quyền
    assert units["ngo-quyen"]["score"] > 0

    campaigns = get(setup, "/v1/campaigns", token).json()["items"]
    assert sorted(c["id"] for c in campaigns) == sorted([D.CAMPAIGN_ID, D.HISTORY_CAMPAIGN_ID])
    escalations = get(setup, f"/v1/campaigns/{D.CAMPAIGN_ID}/escalations", token, state="all").json()["items"]
    assert {e["state"] for e in escalations} == {"open", "resolved"}
    setup.facts["targets"] = sorted(t["id"] for t in all_targets(setup, token))
    setup.facts["events"] = count_events(setup)
    # the units' targets and the city's own targets under 529 (their parents)
    assert len(setup.facts["targets"]) == len(D.TARGETS) + len(D.PARENT_TARGETS)


def test_a_crashed_child_is_reported_and_restarted(setup: Setup) -> None:
    run = setup.runs[0]
    worker = setup.state()["children"]["worker"]
    os.kill(worker, signal.SIGKILL)
    run.wait_for_line("worker was killed by signal 9; restarting", 30)
    deadline = time.monotonic() + 60
    while setup.state()["children"].get("worker") in (None, worker):
        assert time.monotonic() < deadline, run.output()
        time.sleep(0.2)
    assert alive(setup.state()["children"]["worker"])
    # the new worker serves commands: a unit head reports progress on one of its targets
    tokens = setup.tokens()
    target = next(t for t in all_targets(setup, tokens["inspector"])
                  if t["status"] == "in_progress" and t["unit_id"] == "tc-kh")
    response = httpx.post(f"{setup.api_url}/v1/targets/{target['id']}/progress", json={"percent": 95, "note": "gần xong"},
                          headers={"Authorization": f"Bearer {tokens['head-tc-kh']}"}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["target"]["percent"] == 95


# ---------------------------------------------------------------------------------- stopping


def _processes_using(data_dir: Path) -> list[psutil.Process]:
    """Live processes whose command line names the data directory (Temporal, PostgreSQL)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and str(data_dir) in " ".join(proc.info["cmdline"] or ()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def stop_and_check(setup: Setup, run: Run) -> None:
    state = setup.state()
    pids = {**{f"child {k}": v for k, v in state["children"].items()},
            **{f"embedded {k}": v for k, v in state["embedded"].items()},
            "thidua up": run.process.pid}
    assert all(isinstance(p, int) for p in pids.values()), pids
    assert all(psutil.pid_exists(p) for p in pids.values()), pids
    run.process.send_signal(signal.SIGINT)
    try:
        code = run.process.wait(STOPPED_WITHIN)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"`thidua up` did not stop within {STOPPED_WITHIN:.0f} s:\n{run.output()}") from None
    assert code == 0, run.output()
    run.reader.join(5)
    deadline = time.monotonic() + 10
    left = pids
    while left and time.monotonic() < deadline:
        left = {name: pid for name, pid in left.items() if alive(pid)}
        time.sleep(0.1)
    assert not left, f"still running after SIGINT: {left}"
    assert not _processes_using(setup.data_dir)
    assert not (setup.data_dir / "up.json").exists()
    assert "thidua stopped." in run.output()


def test_sigint_stops_every_child_and_the_embedded_services(setup: Setup) -> None:
    stop_and_check(setup, setup.runs[0])


# ---------------------------------------------------------------------------------- second start


def test_a_second_start_reuses_the_data_without_a_second_demo(setup: Setup) -> None:
    before_tokens = setup.tokens()
    run = setup.start()
    wait_healthy(setup, run)
    run.wait_for_line("thidua is up.", READY_WITHIN)
    assert "already loaded" in run.output() and "Demo loaded" not in run.output()
    assert setup.tokens() == before_tokens
    token = before_tokens["nguyen-ngoc-binh"]
    assert get(setup, "/v1/me", token).json()["id"] == "nguyen-ngoc-binh"
    assert before_tokens["secretariat"] in run.output()

    assert sorted(c["id"] for c in get(setup, "/v1/campaigns", token).json()["items"]) == sorted(
        [D.CAMPAIGN_ID, D.HISTORY_CAMPAIGN_ID])
    assert sorted(t["id"] for t in all_targets(setup, token)) == setup.facts["targets"]
    events = count_events(setup)
    for topic, n in setup.facts["events"].items():
        if not topic.startswith("thidua.domain.target:Target."):
            assert events.get(topic) == n, topic  # no second campaign, unit, user or bonus
    assigned = "thidua.domain.target:Target.Assigned"
    # the demo's two drives: the current one and the 2022 one from its records, the same targets in each
    # (and the current one's parents)
    assigned_count = 2 * len(D.TARGETS) + len(D.PARENT_TARGETS)
    assert events[assigned] == setup.facts["events"][assigned] == assigned_count

    # `thidua demo` against the running system: nothing to add, the tokens again
    again = thidua(setup, "demo")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already loaded" in again.stdout and before_tokens["inspector"] in again.stdout
    assert count_events(setup).get(assigned) == assigned_count
    stop_and_check(setup, run)


def test_the_demo_command_explains_what_is_missing_when_nothing_runs(setup: Setup) -> None:
    result = thidua(setup, "demo")
    assert result.returncode == 1
    assert "No database" in result.stdout and "thidua up" in result.stdout
    assert not _processes_using(setup.data_dir)  # and it started nothing


def thidua(setup: Setup, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "thidua.cli", *args], cwd=REPO, env=setup.env,
                          capture_output=True, text=True, timeout=120)
