"""The nightly job (.github/workflows/nightly.yml) and its image cache (scripts/image-cache.sh).

The workflow is read as text (no YAML library is a dependency): each promise of the job is one
line that must be there. The job is a matrix of shards (``--shard I/N``) and a merge job; the merge
job's own command line is run on folders laid out as the CI downloads them. The script's paths that need no engine are run for real.
"""

from __future__ import annotations

import glob
import re
import shlex
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "nightly.yml"
SCRIPT = ROOT / "scripts" / "image-cache.sh"


def _jobs(text: str) -> dict[str, str]:
    """The workflow's jobs by name, each as its block of text."""
    parts = re.split(r"\n  ([\w-]+):\n", "\n" + text.split("\njobs:\n", 1)[1])
    return dict(zip(parts[1::2], parts[2::2]))


def _steps(text: str) -> list[str]:
    """A job's steps, each as its block of text."""
    return re.split(r"\n      - ", text.split("\n    steps:\n", 1)[1])[1:]


def _after(steps: list[str], marker: str) -> list[str]:
    return steps[next(i for i, s in enumerate(steps) if marker in s) + 1:]


def test_the_job_runs_make_scenarios_with_sign_off_options_every_night_on_each_shard():
    """A schedule, the README's one command with --shard I/N for each runner of the matrix, the sign-off options."""
    text = WORKFLOW.read_text()
    assert "\t" not in text and re.search(r"schedule:\n\s+- cron: \"[^\"]+\"", text)
    job = _jobs(text)["scenarios"]
    [run] = [s for s in _steps(job) if "make scenarios" in s]
    [(count)] = re.findall(r'run: make scenarios PYTEST_ARGS="--shard \$\{\{ matrix\.shard \}\}/(\d+) \$PYTEST_ARGS"', run)
    shards = re.search(r"matrix:\n\s+shard: \[([\d, ]+)\]", job)[1]
    assert [int(k) for k in shards.split(",")] == list(range(1, int(count) + 1))   # every shard of N, once
    assert "fail-fast: false" in job   # one shard's NO-GO must not cancel the others
    assert "'--sign-off --repeat 3 --keep-runs 30'" in text


def test_the_job_caches_the_venv_the_images_and_the_reports():
    """.venv keyed on pyproject.toml, the built images keyed on their recipes, reports/ for the trends
    and the split: every shard restores the same reports, only the merge saves them."""
    jobs = _jobs(WORKFLOW.read_text())
    steps = _steps(jobs["scenarios"])
    cached = {re.search(r"path: (\S+)", s)[1]: s for s in steps if re.search(r"uses: actions/cache(/restore)?@", s)}
    assert "hashFiles('pyproject.toml')" in cached[".venv"]
    assert "harness/stack/recipes/**" in cached[".image-cache"] and "restore-keys" not in cached[".image-cache"]
    hashed = re.findall(r"'([^']+)/\*\*'", cached[".image-cache"])
    assert hashed and all((ROOT / folder).is_dir() for folder in hashed), hashed   # a moved folder stales the key
    assert "restore-keys: reports-" in cached["reports"] and "actions/cache/restore@" in cached["reports"]
    assert not any("uses: actions/cache/save@" in s for s in steps)   # shards never race on the reports cache
    load = next(i for i, s in enumerate(steps) if "image-cache.sh load" in s)
    scenarios = next(i for i, s in enumerate(steps) if "make scenarios" in s)
    save = next(i for i, s in enumerate(steps) if "image-cache.sh save" in s)
    assert load < scenarios < save
    merge = _steps(jobs["merge"])
    assert any("actions/cache/restore@" in s and "path: reports" in s and "restore-keys: reports-" in s for s in merge)
    assert any("uses: actions/cache/save@" in s and "path: reports" in s for s in merge)


def test_each_shard_uploads_its_own_new_run_folder_even_on_a_no_go():
    """After the scenarios every step runs on failure too; a shard that wrote no new run fails, never
    uploads an earlier night's folder; the artifact is named by the shard."""
    steps = _steps(_jobs(WORKFLOW.read_text())["scenarios"])
    after = _after(steps, "make scenarios")
    assert after and all("if: always()" in s for s in after)
    find = next(s for s in after if "id: run" in s)
    assert 'steps.before.outputs.latest' in find and "exit 1" in find
    upload = next(s for s in after if "actions/upload-artifact" in s)
    assert "name: shard-${{ matrix.shard }}" in upload and "path: ${{ steps.run.outputs.dir }}/" in upload


def test_the_merge_job_merges_every_shard_and_shows_the_one_go_no_go():
    """The merge runs after all shards whatever they said, merges every downloaded shard into reports/,
    and shows signoff.md and summary.md (unless the merge was refused) and uploads reports/."""
    job = _jobs(WORKFLOW.read_text())["merge"]
    assert "needs: scenarios" in job and "if: always()" in job.split("steps:")[0]
    steps = _steps(job)
    download = next(s for s in steps if "actions/download-artifact" in s)
    assert "pattern: shard-*" in download and "path: shards" in download
    [merge] = [s for s in steps if "dr-harness report merge" in s]
    assert "run: dr-harness report merge shards/shard-* --reports-dir reports" in merge
    after = _after(steps, "dr-harness report merge")
    assert after and all("if: always()" in s for s in after)
    summary = next(s for s in after if "GITHUB_STEP_SUMMARY" in s)
    assert "reports/latest/summary.md" in summary and "reports/latest/signoff.md" in summary
    assert "steps.before.outputs.latest" in summary   # a refused merge does not show last night's page
    upload = next(s for s in after if "actions/upload-artifact" in s)
    assert "path: reports/" in upload


def test_the_merge_command_of_the_workflow_merges_folders_laid_out_as_downloaded(tmp_path, monkeypatch, capsys):
    """The workflow's own merge line, run on shards/shard-1 and shards/shard-2 as download-artifact lays
    them out: one report in reports/, a GO with exit 0; with shard 2 absent: exit 2, nothing written."""
    from harness.cli import main
    from harness.report.records import RunRecord, ScenarioRecord
    from harness.report.writer import write_report

    job = _jobs(WORKFLOW.read_text())["merge"]
    line = re.search(r"run: (dr-harness report merge .+)", job)[1]
    for k in (1, 2):
        run = RunRecord(f"20261129T0217{k:02d}-000{k}", "2026-11-29T02:17:00+00:00", "2026-11-29T02:40:00+00:00",
                        5, {"shard": {"index": k, "count": 2, "plan": "p"}}, "objectives.toml",
                        [ScenarioRecord(f"scenarios/test_s.py::test_{k}", "passed")], strict=True, commit="c")
        written = write_report(tmp_path / "runner", run)
        shutil.copytree(written, tmp_path / "shards" / f"shard-{k}")
    monkeypatch.chdir(tmp_path)
    argv = shlex.split(line)[1:]
    expand = lambda args: [a for arg in args for a in (sorted(glob.glob(arg)) or [arg])]  # noqa: E731  the shell's glob
    shutil.move("shards/shard-2", "shard-2-away")
    assert main(expand(argv)) == 2 and not Path("reports").exists()
    assert "shard 2/2 missing" in capsys.readouterr().err
    shutil.move("shard-2-away", "shards/shard-2")
    assert main(expand(argv)) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "sign-off: GO"
    assert (Path("reports") / "latest" / "signoff.md").is_file()


def test_image_cache_script_says_how_to_call_it_and_loads_nothing_missing(tmp_path):
    """A wrong call is one usage line and exit 2; loading from an empty cache says so and succeeds."""
    wrong = subprocess.run(["bash", str(SCRIPT), "keep"], capture_output=True, text=True, timeout=30)
    assert wrong.returncode == 2 and wrong.stderr.strip() == "usage: scripts/image-cache.sh save|load DIR"
    empty = subprocess.run(["bash", str(SCRIPT), "load", str(tmp_path)], capture_output=True, text=True,
                           timeout=30)
    assert empty.returncode == 0
    assert empty.stdout.strip() == f"[image-cache] no {tmp_path}/images.tar yet: the first run builds the images"
