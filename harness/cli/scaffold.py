"""``dr-harness init``: scaffold a team's repository for chaos scenarios, overwriting nothing.

Writes, from the templates in ``harness/cli/templates/`` (package data):

    conftest.py                               where the team declares its stack (stack_services)
    objectives.toml                           one documented objective
    scenarios/test_web_redis_outage.py        one example scenario against the team's service
    .github/workflows/dr-harness-nightly.yml  the nightly job: the scenarios in sign-off mode

(A template folder named ``dot-<name>`` becomes ``.<name>``: setuptools' package-data globs do not
match names that start with a dot.)

A file that exists is left as it is and named as skipped. Each file is created exclusively (never
replaced, even by a race); when a write fails, the files this call created are removed again, so
nothing is left half-written, and the failure is one line.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import ConfigError
from harness.stack.images import package_dir

SUFFIX = ".template"
DOT = "dot-"
NEXT_STEPS = ("next: declare your service in conftest.py, then run the example: "
              "dr-harness engine && pytest scenarios/")


def templates_dir() -> Path:
    return package_dir("harness.cli") / "templates"


def templates() -> dict[str, Path]:
    """Relative path in the project (``scenarios/test_x.py``) -> its template file."""
    root = templates_dir()
    found = {_target(path.relative_to(root).as_posix()): path for path in sorted(root.rglob(f"*{SUFFIX}"))}
    if not found:
        raise ConfigError(f"the scaffold templates are missing from the installed harness (looked in {root})",
                          fix="reinstall the harness (pip install --force-reinstall dr-harness)")
    return found


def _target(rel: str) -> str:
    """``dot-github/workflows/x.yml.template`` -> ``.github/workflows/x.yml``."""
    parts = rel.removesuffix(SUFFIX).split("/")
    return "/".join("." + part[len(DOT):] if part.startswith(DOT) else part for part in parts)


def init(directory: Path, *, say=print) -> int:  # noqa: ANN001 - a print-like callable
    """Scaffold ``directory``; say what was created and what was skipped. Exit status 0."""
    if not directory.is_dir():
        raise ConfigError(f"{directory} is not a directory", where="dr-harness init DIR",
                          fix="create it first, or run dr-harness init inside your project")
    created: list[Path] = []
    made_dirs: list[Path] = []
    skipped: list[str] = []
    try:
        for rel, template in templates().items():
            target = directory / rel
            if target.exists() or target.is_symlink():
                skipped.append(rel)
                continue
            missing = [folder for folder in (target.parent, *target.parent.parents) if not folder.exists()]
            if missing:
                target.parent.mkdir(parents=True)
                made_dirs.extend(reversed(missing))       # outermost first; removed innermost first
            try:
                with open(target, "x", encoding="utf-8") as out:
                    created.append(target)
                    out.write(template.read_text(encoding="utf-8"))
            except FileExistsError:
                skipped.append(rel)
    except OSError as exc:
        for path in created:
            path.unlink(missing_ok=True)
        for folder in reversed(made_dirs):
            folder.rmdir()
        raise ConfigError(f"cannot write the scaffold into {directory}: {exc.strerror or exc}",
                          where=str(getattr(exc, "filename", None) or directory),
                          fix="check the folder's permissions and free space, then run dr-harness init again; "
                              "nothing was left half-written") from None
    for path in created:
        say(f"created {path.relative_to(directory).as_posix()}")
    for rel in skipped:
        say(f"skipped {rel} (it exists; left unchanged)")
    say(NEXT_STEPS if created else "nothing to do: every file of the scaffold exists")
    return 0
