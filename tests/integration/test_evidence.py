"""The evidence a real run leaves: no secret in any file of the run folder, and the container logs of
a failed scenario saved beside the report.

One real run (PostgreSQL, Redis and Toxiproxy on the engine) of two scratch scenarios, both meant to
fail: a Redis outage judged against a deliberately impossible recovery limit (a breach), and a
scenario whose error message carries the PostgreSQL URL with its password, as a client library's
error might. The scratch scenarios write the stack's generated passwords to a file outside the
reports folder, so the test knows exactly what must never appear in it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

OBJECTIVES = """
[objectives.scratch-impossible-recovery]
description = "Redis reads recover within 1 ms of the heal: impossible on purpose, so the run breaches."
owner = "team-evidence"
runbook = "docs/runbooks/scratch.md"

[objectives.scratch-impossible-recovery.limits]
rto = "1 ms"
"""

SCENARIOS = '''
import os
import time

import pytest

from harness import RedisReads


def keep_secrets(stack):
    with open(os.environ["SCRATCH_SECRETS_FILE"], "a", encoding="utf-8") as fh:
        for service in stack.services:
            fh.write(f"{service.password}\\n{service.url}\\n")


@pytest.mark.objectives("scratch-impossible-recovery")
def test_redis_outage_breaches(stack, history, judge):
    keep_secrets(stack)
    with RedisReads(history, **stack.redis.conninfo, socket_timeout_s=0.1, rate_hz=50):
        time.sleep(0.5)
        with stack.redis.down():
            time.sleep(0.5)
        time.sleep(0.5)
    judge("scratch-impossible-recovery", f="read")


def test_passes_quietly(stack, history):
    keep_secrets(stack)


def test_error_names_a_dsn(stack, history):
    keep_secrets(stack)
    raise RuntimeError(f"could not talk to {stack.postgres.url} (simulated client error)")
'''

URL_WITH_PASSWORD = re.compile(r"://[^\s/@:\"']*:(?!\*\*\*@)[^\s/@\"']+@")


@pytest.fixture(scope="module")
def scratch_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], str]:
    """Run the scratch scenarios once; return the run folder, the run's passwords and pytest's output."""
    root = tmp_path_factory.mktemp("evidence")
    (root / "objectives.toml").write_text(OBJECTIVES)
    (root / "test_scratch.py").write_text(SCENARIOS)
    secrets_file = root / "secrets.txt"
    env = dict(os.environ, SCRATCH_SECRETS_FILE=str(secrets_file), TESTCONTAINERS_RYUK_DISABLED="true",
               TESTCONTAINERS_CONNECTION_MODE="docker_host")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(root / "test_scratch.py"), f"--objectives={root / 'objectives.toml'}",
         f"--reports-dir={root / 'reports'}", "-p", "no:cacheprovider", "-q", f"--rootdir={root}"],
        cwd=root, env=env, capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    lines = secrets_file.read_text().split()
    passwords = sorted({x for x in lines if "://" not in x and x})
    assert len(passwords) >= 2, lines   # postgres and redis at least
    run_id = (root / "reports" / "latest").resolve().name
    return root / "reports" / run_id, passwords, out


def _files(run_dir: Path) -> list[Path]:
    return sorted(p for p in run_dir.rglob("*") if p.is_file())


def leaks(directory: Path, passwords: list[str]) -> list[str]:
    """Every (file, what) where a password or a URL with a password shows up."""
    found = []
    for path in _files(directory):
        text = path.read_bytes().decode("utf-8", errors="replace")
        found += [f"{path.name}: password {pw[:3]}..." for pw in passwords if pw in text]
        found += [f"{path.name}: {m.group(0)[:12]}..." for m in URL_WITH_PASSWORD.finditer(text)]
    return found


def test_no_password_in_any_file_of_a_real_run(scratch_run, tmp_path):
    """report.json, history.jsonl, summary.md, junit.xml, the pages and the saved logs hold none of the
    run's generated passwords and no URL with a password in it."""
    run_dir, passwords, _ = scratch_run
    names = {p.name for p in _files(run_dir)}
    assert {"report.json", "history.jsonl", "summary.md", "junit.xml", "timeline.html"} <= names
    doc = json.loads((run_dir / "report.json").read_text())
    errors = [s["error"] for s in doc["scenarios"] if s["outcome"] == "failed"]
    assert any("postgresql://harness:***@" in e for e in errors), errors   # the error kept, its secret not
    assert leaks(run_dir, passwords) == []
    # the scan can fail: a copy of a run file with a password planted in it is caught
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "summary.md").write_text((run_dir / "summary.md").read_text() + f"\n{passwords[0]}\n")
    assert leaks(planted, passwords) == [f"summary.md: password {passwords[0][:3]}..."]


def test_a_failed_scenario_keeps_every_container_log_beside_the_report(scratch_run):
    """Each failed scenario (a breach, an error) has the last lines of every container of its stack
    saved under logs/, linked from report.json, summary.md and the timeline; a passing one has none."""
    run_dir, _, _ = scratch_run
    doc = json.loads((run_dir / "report.json").read_text())
    by_name = {s["id"].split("::")[-1]: s for s in doc["scenarios"]}
    assert by_name["test_passes_quietly"]["outcome"] == "passed" and by_name["test_passes_quietly"]["logs"] == {}
    summary = (run_dir / "summary.md").read_text()
    timeline = (run_dir / "timeline.html").read_text()
    for name in ("test_redis_outage_breaches", "test_error_names_a_dsn"):
        logs = by_name[name]["logs"]
        assert by_name[name]["outcome"] == "failed"
        assert {"postgres", "redis", "toxiproxy"} <= set(logs), logs
        for service, path in logs.items():
            text = (run_dir / path).read_text()
            assert text.strip(), f"{path} is empty"
            assert f"[{service}]({path})" in summary
            assert f'href="{path}"' in timeline
        assert "database system is ready to accept connections" in (run_dir / logs["postgres"]).read_text()
        assert "Ready to accept connections" in (run_dir / logs["redis"]).read_text()
