"""The nightly job (.github/workflows/nightly.yml) and its image cache (scripts/image-cache.sh).

The workflow is read as text (no YAML library is a dependency): each promise of the job is one
line that must be there. The script's paths that need no engine are run for real.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "nightly.yml"
SCRIPT = ROOT / "scripts" / "image-cache.sh"


def _steps(text: str) -> list[str]:
    """The workflow's steps, each as its block of text."""
    return re.split(r"\n      - ", text.split("\n    steps:\n", 1)[1])[1:]


def test_the_job_runs_make_scenarios_with_sign_off_options_every_night():
    """A schedule, the README's one command, and the sign-off options the team chose."""
    text = WORKFLOW.read_text()
    assert "\t" not in text and re.search(r"schedule:\n\s+- cron: \"[^\"]+\"", text)
    [run] = [s for s in _steps(text) if "make scenarios" in s]
    assert 'run: make scenarios PYTEST_ARGS="$PYTEST_ARGS"' in run
    assert "'--sign-off --repeat 3 --keep-runs 30'" in text


def test_the_job_caches_the_venv_the_images_and_the_reports():
    """.venv keyed on pyproject.toml, the built images keyed on their recipes, reports/ for the trends."""
    steps = _steps(WORKFLOW.read_text())
    cached = {re.search(r"path: (\S+)", s)[1]: s for s in steps if re.search(r"uses: actions/cache(/restore)?@", s)}
    assert "hashFiles('pyproject.toml')" in cached[".venv"]
    assert "harness/stack/recipes/**" in cached[".image-cache"] and "restore-keys" not in cached[".image-cache"]
    hashed = re.findall(r"'([^']+)/\*\*'", cached[".image-cache"])
    assert hashed and all((ROOT / folder).is_dir() for folder in hashed), hashed   # a moved folder stales the key
    assert "restore-keys: reports-" in cached["reports"]
    assert any("uses: actions/cache/save@" in s and "path: reports" in s for s in steps)
    load = next(i for i, s in enumerate(steps) if "image-cache.sh load" in s)
    scenarios = next(i for i, s in enumerate(steps) if "make scenarios" in s)
    save = next(i for i, s in enumerate(steps) if "image-cache.sh save" in s)
    assert load < scenarios < save


def test_reports_are_uploaded_and_the_summary_shown_even_on_a_no_go():
    """After the scenarios every step runs on failure too: artifact, job summary, reports kept."""
    steps = _steps(WORKFLOW.read_text())
    after = steps[next(i for i, s in enumerate(steps) if "make scenarios" in s) + 1:]
    assert after and all("if: always()" in s for s in after)
    upload = next(s for s in after if "actions/upload-artifact" in s)
    assert "path: reports/" in upload
    summary = next(s for s in after if "GITHUB_STEP_SUMMARY" in s)
    assert "reports/latest/summary.md" in summary and "reports/latest/signoff.md" in summary


def test_image_cache_script_says_how_to_call_it_and_loads_nothing_missing(tmp_path):
    """A wrong call is one usage line and exit 2; loading from an empty cache says so and succeeds."""
    wrong = subprocess.run(["bash", str(SCRIPT), "keep"], capture_output=True, text=True, timeout=30)
    assert wrong.returncode == 2 and wrong.stderr.strip() == "usage: scripts/image-cache.sh save|load DIR"
    empty = subprocess.run(["bash", str(SCRIPT), "load", str(tmp_path)], capture_output=True, text=True,
                           timeout=30)
    assert empty.returncode == 0
    assert empty.stdout.strip() == f"[image-cache] no {tmp_path}/images.tar yet: the first run builds the images"
