"""``pytest -n 2`` on the real engine: a stack per worker, one report, one sign-off, nothing left.

Each test runs an inner pytest with two pytest-xdist workers on tiny scenarios that use the ``stack``
fixture (a real PostgreSQL, Redis and Toxiproxy per worker), then asks the Docker engine, by label,
what the run left: after a run with a passing and a failing scenario, after Ctrl-C of the
controller, and after SIGKILL of one worker.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
import pytest

from harness.stack.cleanup import leftovers, remove_run
from harness.stack.labels import RUN_LABEL, WORKER_LABEL

pytestmark = pytest.mark.docker

OBJECTIVES = Path(__file__).resolve().parents[2] / "objectives.toml"
INNER_INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider
"""
RUN_TIMEOUT_S = 600.0
EXIT_TIMEOUT_S = 120.0
HEADER = re.compile(r"harness: run (\S+), seed \d+, objectives .*2 workers with a stack each")

# Each scenario writes, once its stack is up, which worker it ran on, that worker's pid and the
# containers of its stack; then it passes, fails, or waits for the test to drop a release file.
SCENARIOS = """
import json
import os
import time
from pathlib import Path

import pytest

OUT = Path({out!r})


def _up(name, stack, docker_client, harness_run):
    from harness.stack.labels import RUN_LABEL
    mine = docker_client.containers.list(filters={{"label": [f"{{RUN_LABEL}}={{harness_run.settings.run_id}}",
                                                            f"dr-harness.worker={{os.environ.get('PYTEST_XDIST_WORKER')}}"]}})
    (OUT / f"{{name}}.json").write_text(json.dumps({{
        "worker": os.environ.get("PYTEST_XDIST_WORKER"), "pid": os.getpid(),
        "containers": sorted(c.name for c in mine)}}))


def _wait_for_release():
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not (OUT / "release").exists():
        time.sleep(0.2)


@pytest.mark.parametrize("n", range({count}))
def test_scenario(n, stack, docker_client, harness_run, history, judge):
    from harness import RedisReads
    with RedisReads(history, **stack.redis.conninfo, rate_hz=20):
        time.sleep(0.5)                    # some history from each worker's own stack
    _up(f"scenario{{n}}", stack, docker_client, harness_run)
    if "{mode}" == "one-fails" and n == 0:
        assert False, "this scenario fails on purpose"
    if "{mode}" == "wait":
        _wait_for_release()
"""


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INNER_INI)
    return pytester


def write(pytester: pytest.Pytester, mode: str, count: int) -> tuple[Path, Path]:
    out = pytester.path / "out"
    out.mkdir()
    path = pytester.makepyfile(test_parallel_inner=SCENARIOS.format(out=str(out), mode=mode, count=count))
    return path, out


def args(pytester: pytest.Pytester, *extra: str) -> list[str]:
    return ["-n", "2", f"--objectives={OBJECTIVES}", f"--reports-dir={pytester.path / 'reports'}", *extra]


def seen(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in out.glob("scenario*.json")}


def run_id_of(lines: list[str]) -> str:
    found = [m[1] for line in lines if (m := HEADER.search(line))]
    assert len(found) == 1, "no harness header in:\n" + "\n".join(lines)
    return found[0]


@contextmanager
def both_stacks_up(pytester: pytest.Pytester, client: docker.DockerClient, inner_runs) -> Iterator[tuple]:  # noqa: ANN001
    """Start an inner ``pytest -n 2`` whose two scenarios wait; yield (process, log, out, run id)
    once both stacks are up; afterwards the process is gone and nothing of the run is left."""
    target, out = write(pytester, "wait", 2)
    log = pytester.path / "inner.log"
    proc = inner_runs.start(pytester.path, [str(target), *args(pytester)], log)
    run_id = None
    try:
        inner_runs.wait_until(proc, log, lambda: len(seen(out)) == 2)
        run_id = run_id_of(log.read_text(errors="replace").splitlines())
        yield proc, log, out, run_id
    finally:
        (out / "release").write_text("")
        inner_runs.end(proc)
        if run_id:
            remove_run(client, run_id)


def test_two_workers_two_stacks_one_report_one_no_go(inner: pytest.Pytester, client: docker.DockerClient) -> None:
    """Four scenarios on two workers: each worker has its own stack, named after it; the run writes
    ONE report holding all four (history, verdicts, junit) and the sign-off weighs all of them
    (one failing scenario on either worker is a no-go); nothing of the run is left afterwards."""
    target, out = write(inner, "one-fails", 4)
    run_id = None
    try:
        result = inner.runpytest_subprocess(str(target), *args(inner, "--sign-off", "--repeat", "1"),
                                            timeout=RUN_TIMEOUT_S)
        found = seen(out)
        run_id = run_id_of(result.outlines)
        assert result.ret == pytest.ExitCode.TESTS_FAILED, "\n".join(result.outlines)
        assert len(found) == 4, found
        workers = {s["worker"] for s in found.values()}
        assert workers == {"gw0", "gw1"}, found
        for s in found.values():   # every container of a worker's stack says whose it is
            assert len(s["containers"]) >= 3, s
            assert all(name.startswith(f"dr-{run_id}-{s['worker']}-") for name in s["containers"]), s
        names = {n for s in found.values() for n in s["containers"]}
        assert not {n for n in names if "-gw0-" in n} & {n for n in names if "-gw1-" in n}

        report_dir = inner.path / "reports" / run_id
        report = json.loads((report_dir / "report.json").read_text())
        assert len(report["scenarios"]) == 4
        assert {s["worker"] for s in report["scenarios"]} == {"gw0", "gw1"}
        assert sorted(s["outcome"] for s in report["scenarios"]) == ["failed", "passed", "passed", "passed"]
        assert report["summary"]["go"] is False
        assert any("this scenario fails on purpose" in r for r in report["summary"]["reasons"])
        assert (report_dir / "junit.xml").read_text().count("<testcase") == 4
        histories = {json.loads(line)["scenario"] for line in (report_dir / "history.jsonl").read_text().splitlines()}
        assert len(histories) == 4, histories   # every worker's stack ops came home
        assert "sign-off: NO-GO" in "\n".join(result.outlines)
        assert leftovers(client, run_id) == []
    finally:
        if run_id:
            remove_run(client, run_id)


def test_ctrl_c_of_the_controller_leaves_nothing(inner: pytest.Pytester, client: docker.DockerClient, inner_runs) -> None:
    """SIGINT to the controller while both workers hold a stack: every stack of the run is removed."""
    with both_stacks_up(inner, client, inner_runs) as (proc, log, _out, run_id):
        assert len(leftovers(client, run_id)) >= 8   # two stacks: containers, networks, volumes
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=EXIT_TIMEOUT_S)
        output = log.read_text(errors="replace")
        assert code == pytest.ExitCode.INTERRUPTED, output
        assert leftovers(client, run_id) == [], output


def test_a_sigkilled_worker_leaves_nothing_once_the_run_ends(inner: pytest.Pytester,
                                                            client: docker.DockerClient, inner_runs) -> None:
    """SIGKILL of one worker (no teardown runs in it): its stack outlives it, the other worker goes
    on, and when the run ends nothing of the run is left."""
    with both_stacks_up(inner, client, inner_runs) as (proc, log, out, run_id):
        victim = next(s for s in seen(out).values() if s["worker"] == "gw0")
        os.kill(victim["pid"], signal.SIGKILL)
        label = [f"{RUN_LABEL}={run_id}", f"{WORKER_LABEL}=gw0"]
        assert client.containers.list(all=True, filters={"label": label}), "the killed worker's stack vanished at once"
        (out / "release").write_text("")
        proc.wait(timeout=RUN_TIMEOUT_S)
        output = log.read_text(errors="replace")
        assert "crashed" in output or "node down" in output.lower(), output
        assert leftovers(client, run_id) == [], output


RACE = """
import sys, time
from harness.stack.builds import resolve_service_image
from harness.stack.declare import ServiceSpec
from harness.stack.engine import connect

start_at = float(sys.argv[2])
time.sleep(max(0.0, start_at - time.time()))        # both processes ask at the same instant
image = resolve_service_image(connect(), ServiceSpec("race", port=1, build=sys.argv[1]), "race-test",
                              progress=lambda line: print(line, flush=True))
print("IMAGE", image.id, flush=True)
"""


def test_two_processes_never_build_one_image_twice(tmp_path: Path, client: docker.DockerClient) -> None:
    """Two workers resolving the same not-yet-built image at once: one builds, the other waits for
    it and reuses it (a per-image lock on the machine), and both get the same image."""
    import secrets
    import time as _time

    from harness.stack.builds import build_tag
    from harness.stack.declare import ServiceSpec

    context = tmp_path / "race"
    context.mkdir()
    (context / "Dockerfile").write_text(f"ARG BASE_IMAGE\nFROM ${{BASE_IMAGE}}\nRUN echo {secrets.token_hex(8)} > /marker\n")
    tag = build_tag(ServiceSpec("race", port=1, build=str(context)))
    script = tmp_path / "race.py"
    script.write_text(RACE)
    at = str(_time.time() + 3)
    try:
        procs = [subprocess.Popen([sys.executable, str(script), str(context), at], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=RUN_TIMEOUT_S)[0] for p in procs]
        assert all(p.returncode == 0 for p in procs), outs
        text = "\n".join(outs)
        assert text.count(f"building {tag}") == 1, text
        assert text.count(f"reused {tag}") == 1, text
        ids = {line.split()[1] for line in text.splitlines() if line.startswith("IMAGE ")}
        assert len(ids) == 1, text
    finally:
        try:
            client.images.remove(tag, force=True)
        except docker.errors.ImageNotFound:
            pass
