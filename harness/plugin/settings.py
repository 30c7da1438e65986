"""One typed settings object for a run, validated once and printed in the pytest header.

Precedence, highest first: command-line option > environment variable > default.

| setting          | option            | environment            | default                       |
|------------------|-------------------|------------------------|-------------------------------|
| objectives file  | --objectives PATH | HARNESS_OBJECTIVES     | objectives.toml at the rootdir |
| seed             | --seed N|last     | HARNESS_SEED           | random                        |
| sign-off mode    | --sign-off        | HARNESS_SIGN_OFF=1     | off                           |
| reports folder   | --reports-dir DIR | HARNESS_REPORTS_DIR    | reports/ at the rootdir        |
| readiness limit  |                   | HARNESS_READY_TIMEOUT_S| 90 s                          |
| Toxiproxy API port on 127.0.0.1 | | HARNESS_TOXIPROXY_API_PORT | any free port (under `pytest -n`, worker gwN takes the port + N) |
| repeats          | --repeat N        | HARNESS_REPEAT         | 1; 3 with --sign-off (SIGN_OFF_REPEATS) |
| runs kept        | --keep-runs N     | HARNESS_KEEP_RUNS      | 30 (older run folders pruned) |
| source commit    |                   | HARNESS_COMMIT, GITHUB_SHA | ``git rev-parse HEAD`` at the rootdir, else unknown |

``--seed last`` reuses the seed of the newest report (``reports/latest/report.json``). Before each
scenario Python's ``random`` is seeded with ``"<seed>:<node id>"``, so random choices a scenario
makes (which service to kill, when) repeat with the same seed.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError
from harness.report import latest_run_id
from harness.report.trends import KEEP_RUNS

SIGN_OFF_REPEATS = 3  # a sign-off runs each scenario this often unless --repeat says otherwise
from harness.stack.labels import new_run_id


@dataclass(frozen=True)
class Settings:
    """What a run needs to know, resolved once at configure time."""

    run_id: str
    seed: int
    objectives_path: Path
    reports_dir: Path
    sign_off: bool
    ready_timeout_s: float
    toxiproxy_api_port: int | None
    keep_runs: int = KEEP_RUNS
    commit: str | None = None
    repeat: int = 1  # how many times each scenario runs (fresh stack state and its own seed each time)

    @classmethod
    def resolve(cls, *, rootdir: Path, objectives: str | None, seed: str | None,
                sign_off: bool, reports_dir: str | None,
                env: dict[str, str] | None = None, keep_runs: str | int | None = None,
                repeat: str | int | None = None, run_id: str | None = None) -> "Settings":
        """Resolve every setting; a pytest-xdist worker passes the controller's ``run_id`` (and its
        resolved seed), so all workers of one run share its id, seed and report."""
        env = dict(os.environ if env is None else env)
        reports = Path(reports_dir or env.get("HARNESS_REPORTS_DIR") or rootdir / "reports")
        sign_off = sign_off or env.get("HARNESS_SIGN_OFF", "") in ("1", "true", "yes")
        return cls(
            run_id=run_id or new_run_id(),
            seed=_seed(seed or env.get("HARNESS_SEED"), reports),
            objectives_path=Path(objectives or env.get("HARNESS_OBJECTIVES")
                                 or rootdir / "objectives.toml"),
            reports_dir=reports,
            sign_off=sign_off,
            ready_timeout_s=_positive_float(env, "HARNESS_READY_TIMEOUT_S", 90.0),
            toxiproxy_api_port=_port(env, "HARNESS_TOXIPROXY_API_PORT"),
            keep_runs=_count(keep_runs if keep_runs is not None else env.get("HARNESS_KEEP_RUNS"),
                             "--keep-runs / HARNESS_KEEP_RUNS", KEEP_RUNS),
            repeat=_count(repeat if repeat is not None else env.get("HARNESS_REPEAT"), "--repeat / HARNESS_REPEAT",
                          SIGN_OFF_REPEATS if sign_off else 1),
            commit=env.get("HARNESS_COMMIT") or env.get("GITHUB_SHA") or _git_commit(rootdir),
        )


def _seed(raw: str | None, reports: Path) -> int:
    if raw is None or raw == "":
        return random.SystemRandom().randrange(1, 2**31)
    if raw == "last":
        latest = reports / (latest_run_id(reports) or "latest") / "report.json"
        try:
            return int(json.loads(latest.read_text())["seed"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"--seed last: no readable seed in {latest}",
                              fix="run once without --seed first, or pass --seed N") from exc
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"seed {raw!r} is not an integer", where="--seed / HARNESS_SEED",
                          fix="pass an integer or 'last'") from None


def _count(raw: str | int | None, where: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{raw!r} is not a whole number of 1 or more", where=where,
                          fix=f"give e.g. {default}")
    return value


def _git_commit(rootdir: Path) -> str | None:
    """The commit checked out at ``rootdir``, or None where there is no git or no repository."""
    try:
        done = subprocess.run(["git", "-C", str(rootdir), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    sha = done.stdout.strip()
    return sha if done.returncode == 0 and len(sha) == 40 else None


def _positive_float(env: dict[str, str], key: str, default: float) -> float:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigError(f"{key}={raw!r} is not a positive number of seconds",
                          fix=f"unset {key} or give e.g. {key}={default:g}")
    return value


def _port(env: dict[str, str], key: str) -> int | None:
    raw = env.get(key)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"{key}={raw!r} is not a TCP port", fix=f"unset {key} or give 1-65535")
    return int(raw)
