"""Unit tests for the dr-harness command (harness/cli/): scaffold, report, engine, and what ships.

No Docker here: the scaffold is checked as files (valid Python, a loadable objectives file that
holds the objective the example names), the report command on hand-made run folders. The
installed wheel running the scaffold against a real stack is tests/integration/test_installed.py.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from harness.cli import main
from harness.cli.scaffold import templates
from harness.errors import ImageUnavailable
from harness.judging.objectives import LIMIT_HELP, load_objectives
from harness.stack.images import SPECS, ImageSpec, RECIPES_DIR, check_recipe

ROOT = Path(__file__).resolve().parents[2]
SCAFFOLD = ("conftest.py", ".github/workflows/dr-harness-nightly.yml", "objectives.toml",
            "scenarios/test_web_redis_outage.py")


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def one_stderr_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_init_writes_the_scaffold_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """init writes conftest.py, objectives.toml and one example scenario, naming each file created."""
    assert main(["init", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert files_under(tmp_path) == set(SCAFFOLD)
    assert [line for line in out.splitlines() if line.startswith("created ")] == \
        [f"created {name}" for name in SCAFFOLD]
    assert "pytest scenarios/" in out


def test_the_scaffold_is_valid_and_consistent(tmp_path: Path) -> None:
    """The Python files parse, the objectives file loads, and the example judges the objective it names."""
    main(["init", str(tmp_path)])
    for name in ("conftest.py", "scenarios/test_web_redis_outage.py"):
        ast.parse((tmp_path / name).read_text(), name)
    objectives = load_objectives(tmp_path / "objectives.toml")
    scenario = (tmp_path / "scenarios/test_web_redis_outage.py").read_text()
    assert list(objectives) == ["web-answers-during-redis-outage"]
    assert scenario.count('"web-answers-during-redis-outage"') == 2   # the marker and the judge
    objective = objectives["web-answers-during-redis-outage"]
    assert objective.owner and objective.runbook and objective.description
    assert "stack_services" in (tmp_path / "conftest.py").read_text()


def test_the_nightly_job_runs_the_scenarios_in_sign_off_mode(tmp_path: Path) -> None:
    """The scaffold's nightly job: a schedule, the engine, the scenarios with --sign-off, the report
    into the job summary and reports/ uploaded (read as text, one promise per line)."""
    main(["init", str(tmp_path)])
    text = (tmp_path / ".github/workflows/dr-harness-nightly.yml").read_text()
    assert "\t" not in text and "schedule:\n    - cron: " in text
    for line in ("run: dr-harness engine", "run: python -m pytest scenarios/ -n 2 --sign-off",
                 'run: dr-harness report >> "$GITHUB_STEP_SUMMARY"', "path: reports/"):
        assert line in text, line


def test_objectives_template_documents_every_limit_name() -> None:
    """The scaffold's objectives file lists every limit the harness knows (drift fails here)."""
    text = templates()["objectives.toml"].read_text()
    for name in LIMIT_HELP.split(", "):
        assert name.replace("<phase>", "").replace("[_min]", "").rstrip("_") in text, name


def test_init_overwrites_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that exists is left byte for byte and named as skipped; the others are still written."""
    (tmp_path / "conftest.py").write_text("# ours\n")
    assert main(["init", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "conftest.py").read_text() == "# ours\n"
    assert "skipped conftest.py (it exists; left unchanged)" in out
    assert "created objectives.toml" in out
    assert main(["init", str(tmp_path)]) == 0
    again = capsys.readouterr().out
    assert "created" not in again and again.count("skipped ") == len(SCAFFOLD)
    assert "nothing to do" in again


def test_init_into_a_missing_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder that does not exist: exit 2, one line naming it and the fix, nothing made."""
    assert main(["init", str(tmp_path / "nope")]) == 2
    line = one_stderr_line(capsys)
    assert line.startswith(f"dr-harness init: {tmp_path / 'nope'} is not a directory")
    assert "create it first" in line
    assert not (tmp_path / "nope").exists()


def test_init_that_fails_halfway_leaves_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """When a write fails (scenarios is a file here), the files already written are removed again."""
    (tmp_path / "scenarios").write_text("not a folder\n")
    assert main(["init", str(tmp_path)]) == 2
    line = one_stderr_line(capsys)
    assert line.startswith(f"dr-harness init: cannot write the scaffold into {tmp_path}")
    assert "nothing was left half-written" in line
    assert [p.name for p in tmp_path.iterdir()] == ["scenarios"]      # no file, no empty folder left


def make_run(reports: Path, run_id: str, outcomes: list[str]) -> None:
    run = reports / run_id
    run.mkdir(parents=True)
    scenarios = [{"id": f"scenarios/test_{i}.py::test", "outcome": o,
                  "verdicts": [{"validity": "pass" if o == "passed" else "fail"}]}
                 for i, o in enumerate(outcomes)]
    (run / "report.json").write_text(json.dumps({"schema": 1, "run_id": run_id,
                                                 "started_at": "2026-11-29T10:00:00+00:00",
                                                 "scenarios": scenarios}))
    (run / "summary.md").write_text(f"# Run {run_id}\n\n- verdict: **GO**\n")


def test_report_shows_the_latest_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """report prints the summary of the run ``latest`` points at, after a line naming its files."""
    make_run(tmp_path, "run-a", ["passed"])
    make_run(tmp_path, "run-b", ["passed", "failed"])
    (tmp_path / "latest").symlink_to("run-b")
    assert main(["report", "--reports-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"{tmp_path / 'run-b'}: report.json, summary.md"
    assert "# Run run-b" in out and "run-a" not in out
    assert main(["report", "--reports-dir", str(tmp_path), "run-a"]) == 0
    assert "# Run run-a" in capsys.readouterr().out


def test_report_lists_every_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--list gives one line per run: outcomes and verdicts counted, the latest marked."""
    make_run(tmp_path, "run-a", ["passed"])
    make_run(tmp_path, "run-b", ["passed", "failed"])
    (tmp_path / "latest").symlink_to("run-b")
    assert main(["report", "--list", "--reports-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "run-a  started 2026-11-29T10:00:00+00:00  scenarios: 1 passed  verdicts: 1 pass",
        "run-b  started 2026-11-29T10:00:00+00:00  scenarios: 1 failed, 1 passed  verdicts: 1 fail, 1 pass"
        "  (latest)"]


@pytest.mark.parametrize("args, expected", [
    (["report"], "no reports folder at"),
    (["report", "--list"], "no reports folder at"),
])
def test_report_without_runs_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch, args: list[str], expected: str) -> None:
    """No reports folder: exit 2, one line saying where it looked and to run the scenarios first."""
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    line = one_stderr_line(capsys)
    assert expected in line and str(tmp_path / "reports") in line and "pytest scenarios/" in line


def test_report_of_an_unknown_or_escaping_run_is_one_line(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A run id that is not a folder of the reports directory (or climbs out of it) is refused."""
    make_run(tmp_path / "reports", "run-a", ["passed"])
    for bad in ("run-z", "..", "../reports/run-a"):
        assert main(["report", "--reports-dir", str(tmp_path / "reports"), bad]) == 2
        assert "dr-harness report --list shows the runs" in one_stderr_line(capsys)
    assert main(["report", "--reports-dir", str(tmp_path / "reports")]) == 2
    assert "no latest run in" in one_stderr_line(capsys)


def test_engine_command_runs_the_shared_script() -> None:
    """dr-harness engine is the script of scripts/ensure-engine.sh: with no engine and installing
    forbidden it fails with the script's one line (run as python -m harness, as installed)."""
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock", "HARNESS_NO_INSTALL": "1"}
    done = subprocess.run([sys.executable, "-m", "harness", "engine"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "[ensure-engine] no Docker engine answers at unix:///nonexistent.sock: install Docker Engine and "
        "start it, or set DOCKER_HOST to an engine that runs (as root on Debian this script installs "
        "docker.io itself)"]
    wrapper = (ROOT / "scripts" / "ensure-engine.sh").read_text()
    assert "harness/stack/ensure-engine.sh" in wrapper


def test_package_data_ships_every_run_time_file() -> None:
    """Every recipe file, the engine script and every template match pyproject's package-data globs,
    so a file added to a recipe later ships in the wheel too."""
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert files_under(RECIPES_DIR) >= {"postgres/Dockerfile", "redis/Dockerfile", "toxiproxy/Dockerfile"}
    needed = {"harness.stack": {f"recipes/{name}" for name in files_under(RECIPES_DIR)} | {"ensure-engine.sh"},
              "harness.cli": {f"templates/{name}" for name in files_under(ROOT / "harness/cli/templates")}}
    for package, names in needed.items():
        for name in names:
            assert any(fnmatch.fnmatchcase(name, glob) and name.count("/") == glob.count("/")
                       for glob in package_data[package]), f"{package}: {name} is not package data"


def test_a_missing_recipe_is_one_line(tmp_path: Path) -> None:
    """A recipe folder without its Dockerfile names the path looked at and the fix."""
    spec = ImageSpec("postgres", "postgres:15.10-bookworm", "HARNESS_POSTGRES_IMAGE", tmp_path / "postgres")
    with pytest.raises(ImageUnavailable) as caught:
        check_recipe(spec)
    assert str(caught.value) == (
        f"the postgres image recipe is missing: no Dockerfile in {tmp_path / 'postgres'}; reinstall the "
        "harness (pip install --force-reinstall dr-harness), or set HARNESS_POSTGRES_IMAGE to an image you have")


def test_the_app_recipe_outside_a_clone_is_one_line(tmp_path: Path) -> None:
    """The app recipe's input (app/) is only in the harness's repository: elsewhere one line says so."""
    spec = ImageSpec("app", "dr-harness/app:0.1.0", "HARNESS_APP_IMAGE", SPECS["app"].recipe_dir,
                     extra_context=(tmp_path / "app",), official=False)
    with pytest.raises(ImageUnavailable) as caught:
        check_recipe(spec)
    assert f"needs app/, not found at {tmp_path / 'app'} (it ships only in the harness's own repository)" \
        in str(caught.value)
    for name in ("postgres", "redis", "toxiproxy", "app"):
        check_recipe(SPECS[name])   # in this clone every recipe and input is there
