"""The harness as a team gets it: the wheel built with the standard tools, installed into a fresh
virtual environment outside this repository, a project scaffolded with ``dr-harness init``, and
its example scenario run against a real stack, with nothing left behind.

Package sources: the fresh venv's pip reads the same configuration as ``make setup``'s (the
machine's pip configuration and PIP_* environment: its index and local wheel folders), and nothing
else; ``python -m build`` gets its build backend the same way. No path of this checkout is on the
installed harness's import path (PYTHONPATH is cleared and the harness is shown to be imported
from the venv). Everything the installed runs write to temp goes under one temporary folder
(TMPDIR points into it), which is removed at the end and checked to be gone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from harness.stack.cleanup import leftovers
from harness.stack.images import SPECS, recipe_tag

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
OBJECTIVE = "web-answers-during-redis-outage"
RUNTIME_FILES = ("harness/stack/recipes/postgres/Dockerfile", "harness/stack/recipes/postgres/docker-entrypoint.sh",
                 "harness/stack/recipes/redis/Dockerfile", "harness/stack/recipes/redis/docker-entrypoint.sh",
                 "harness/stack/recipes/toxiproxy/Dockerfile", "harness/stack/ensure-engine.sh",
                 "harness/cli/templates/objectives.toml.template", "toxiproxy_compat/__main__.py")

# The negative control's service: answers 503 whenever it cannot reach Redis (no fallback at all).
FRAGILE = r'''
import os, socket, sys, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REDIS = urllib.parse.urlsplit(os.environ["REDIS_URL"])

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        try:   # a PING must be answered: the published port alone accepts even when Redis is away
            with socket.create_connection((REDIS.hostname, REDIS.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                status = 200 if conn.recv(64) else 503
        except OSError:
            status = 503
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
'''
STAND_IN = 'run=[sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"],'


@dataclass(frozen=True)
class Installed:
    root: Path        # the temporary folder holding everything below
    dist: Path        # the wheel and the sdist
    venv: Path        # the fresh virtual environment the wheel is installed into
    env: dict[str, str]

    def run(self, *args: str, cwd: Path, timeout_s: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=cwd, env=self.env, capture_output=True, text=True,
                              timeout=timeout_s, check=False)

    def pytest(self, project: Path) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.venv / "bin" / "python"), "-m", "pytest", "scenarios/", cwd=project)


def checked(done: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"{what} failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def source_files() -> list[str]:
    """The files of this checkout a clone would have: tracked, plus new ones not ignored."""
    done = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                          capture_output=True, text=True, check=True, timeout=60)
    return [name for name in done.stdout.split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    """Build the wheel and sdist from a copy of the sources; install the wheel into a fresh venv."""
    holder = tempfile.TemporaryDirectory(prefix="dr-harness-installed-")
    root = Path(holder.name)
    try:
        src, dist, venv = root / "src", root / "dist", root / "venv"
        for name in source_files():         # a copy, so the build writes nothing into the checkout
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
        (root / "tmp").mkdir()
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
        env |= {"PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", "TMPDIR": str(root / "tmp"),
                "TESTCONTAINERS_CONNECTION_MODE": "docker_host", "TESTCONTAINERS_RYUK_DISABLED": "true"}
        env.pop("CI", None)   # the inner runs print as on a workstation
        box = Installed(root, dist, venv, env)
        checked(box.run(sys.executable, "-m", "build", "--outdir", str(dist), str(src), cwd=root), "python -m build")
        checked(box.run(sys.executable, "-m", "venv", str(venv), cwd=root), "python -m venv")
        wheel = next(dist.glob("dr_harness-*.whl"))
        checked(box.run(str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel), cwd=root),
                "pip install of the wheel")
        yield box
    finally:
        holder.cleanup()
    assert not root.exists(), f"{root} was left behind"


@pytest.fixture
def project(installed: Installed) -> Iterator[Path]:
    """A fresh project folder (a team's repository) scaffolded by the installed dr-harness init."""
    path = Path(tempfile.mkdtemp(prefix="project-", dir=installed.root))
    done = checked(installed.run("dr-harness", "init", cwd=path), "dr-harness init")
    assert done.stdout.splitlines()[:4] == ["created conftest.py", "created .github/workflows/dr-harness-nightly.yml",
                                            "created objectives.toml", "created scenarios/test_web_redis_outage.py"]
    yield path
    shutil.rmtree(path)


def run_id_of(output: str) -> str:
    found = re.findall(r"harness: run (\S+?),", output)
    assert len(found) == 1, output
    return found[0]


def report_of(project: Path, run_id: str) -> dict:
    return json.loads((project / "reports" / run_id / "report.json").read_text())


def run_example(installed: Installed, project: Path, client: docker.DockerClient) -> tuple[int, str, str]:
    """Run the project's scenarios with the installed harness: (exit code, output, run id); the run
    left nothing on the engine; its verdict lines are printed."""
    done = installed.pytest(project)
    output = done.stdout + done.stderr
    run_id = run_id_of(output)
    assert leftovers(client, run_id) == []
    print("\n".join(line for line in output.splitlines() if line.startswith(("PASS ", "FAIL ", "UNKNOWN "))))
    return done.returncode, output, run_id


def test_wheel_and_sdist_carry_the_run_time_files(installed: Installed) -> None:
    """The wheel and the sdist hold the recipes, the compat server, the engine script and the
    templates, with the entrypoints' executable bits; the console script is declared."""
    wheel = next(installed.dist.glob("dr_harness-*.whl"))
    sdist = next(installed.dist.glob("dr_harness-*.tar.gz"))
    with zipfile.ZipFile(wheel) as archive:
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        entry_points = next(archive.read(n).decode() for n in modes if n.endswith("entry_points.txt"))
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for name in RUNTIME_FILES:
        assert name in modes, f"{name} is not in the wheel"
        assert name in in_sdist, f"{name} is not in the sdist"
    assert modes["harness/stack/recipes/postgres/docker-entrypoint.sh"] & 0o111
    assert "dr-harness = harness.cli:main" in entry_points and "harness = harness.plugin.hooks" in entry_points


def test_scaffolded_project_runs_its_example_against_a_real_stack(installed: Installed, project: Path,
                                                                  client: docker.DockerClient) -> None:
    """pip install, dr-harness init, pytest scenarios/: the example passes on measured verdicts,
    with the images a clone builds (same recipe tags), and leaves no container, network or volume."""
    where = checked(installed.run(str(installed.venv / "bin" / "python"), "-c",
                                  "import harness, toxiproxy_compat; from harness.stack.images import RECIPES_DIR; "
                                  "print(harness.__file__); print(toxiproxy_compat.__file__); print(RECIPES_DIR)",
                                  cwd=project), "import").stdout.split()
    assert all(path.startswith(str(installed.venv)) for path in where), where

    code, output, run_id = run_example(installed, project, client)
    assert code == 0, output[-4000:]
    assert "1 passed" in output
    assert f"PASS {OBJECTIVE} max_error_rate_during_fault 0.0 % <= 1.0 %" in output

    report = report_of(project, run_id)
    [scenario] = report["scenarios"]
    assert scenario["outcome"] == "passed"
    assert {(v["metric"], v["validity"]) for v in scenario["verdicts"]} == {
        ("max_error_rate_during_fault", "pass"), ("latency_p99_during_fault", "pass")}
    [fault] = scenario["faults"]
    assert "redis" in fault["target"] and fault["injected_at"] < fault["healed_at"], fault
    for service, image in report["environment"]["images"].items():
        if image["source"] == "built" and service in SPECS:
            assert image["ref"] == recipe_tag(SPECS[service]), f"{service}: the installed recipe hashes differently"

    shown = checked(installed.run("dr-harness", "report", cwd=project), "dr-harness report").stdout
    assert f"# Run {run_id}" in shown and "verdict: **GO**" in shown


def test_the_example_fails_on_a_service_that_needs_redis(installed: Installed, project: Path,
                                                         client: docker.DockerClient) -> None:
    """Negative control: the same scaffold with a service that answers 503 while Redis is away
    fails the example's objective, with the measured error rate, and still leaves nothing."""
    (project / "fragile.py").write_text(FRAGILE)
    conftest = (project / "conftest.py").read_text()
    assert STAND_IN in conftest
    (project / "conftest.py").write_text(conftest.replace(STAND_IN, 'run=[sys.executable, "fragile.py", "{port}"],'))

    code, output, run_id = run_example(installed, project, client)
    assert code == 1, output[-4000:]
    assert "1 failed" in output
    assert f"FAIL {OBJECTIVE} max_error_rate_during_fault" in output
    [scenario] = report_of(project, run_id)["scenarios"]
    [breach] = [v for v in scenario["verdicts"] if v["metric"] == "max_error_rate_during_fault"]
    assert breach["validity"] == "fail" and breach["measured"] > 50.0, breach


def test_a_project_without_objectives_is_told_how_to_make_one(installed: Installed) -> None:
    """An installed harness in a folder with no objectives.toml: a scenario there gets one line with
    the path looked at and `dr-harness init`, non-zero exit, no traceback (the project's plain
    tests run without the file: tests/unit/test_plugin.py)."""
    bare = Path(tempfile.mkdtemp(prefix="bare-", dir=installed.root))
    (bare / "scenarios").mkdir()
    (bare / "scenarios" / "test_one.py").write_text("def test_one(stack):\n    pass\n")
    done = installed.pytest(bare)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    lines = [line for line in output.splitlines() if "objectives file not found" in line]
    assert len(lines) == 1, output
    assert f"(looked for {bare / 'objectives.toml'})" in lines[0] and "dr-harness init" in lines[0]
    assert "Traceback" not in output


def test_the_compose_export_writes_into_the_project(installed: Installed, project: Path) -> None:
    """python -m harness.stack.compose of an installed harness writes compose/ in the project, with
    the project's service from its conftest.py, and nothing into site-packages."""
    done = checked(installed.run(str(installed.venv / "bin" / "python"), "-m", "harness.stack.compose",
                                 cwd=project), "compose export")
    assert done.stdout.strip() == "wrote compose/docker-compose.yml and compose/toxiproxy.json"
    assert "proxy-redis" in (project / "compose" / "docker-compose.yml").read_text()
    assert not list(installed.venv.glob("lib/python*/site-packages/compose"))
