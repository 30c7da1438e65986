"""The ``dr-harness`` command (also ``python -m harness``): what a team runs in its own repository.

    dr-harness init [DIR]     scaffold DIR (default: here): conftest.py, objectives.toml, scenarios/
    dr-harness engine         make sure a Docker engine answers (installs Debian's where it can)
    dr-harness report [RUN]   show a run report (default: the latest); --list shows every run
    dr-harness report merge DIR [DIR ...]   the run folders of N shards (--shard I/N) as one run report

Each sub-command lives in its own module (``scaffold.py``, ``engine.py``, ``reports.py``,
``merge.py``). A
mistake is one line on stderr naming what, where and the fix, with exit status 2; the pytest plugin
is not imported here (the CLI sits beside it, nothing imports the CLI).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.cli import engine, merge, reports, scaffold
from harness.errors import HarnessError

PROG = "dr-harness"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog=PROG, description="Disaster-recovery and chaos scenarios on a "
                                  "real Docker stack, judged against documented objectives.")
    commands = top.add_subparsers(dest="command", required=True, metavar="{init,engine,report}")
    init = commands.add_parser("init", help="scaffold a project: conftest.py, objectives.toml, scenarios/")
    init.add_argument("directory", nargs="?", type=Path, default=Path("."),
                      help="the project's root (default: the current directory)")
    commands.add_parser("engine", help="make sure a Docker engine answers (like scripts/ensure-engine.sh)")
    report = commands.add_parser("report", help="show a run report (default: the latest run); "
                                 "'report merge DIR [DIR ...]' merges the run folders of shards into one")
    report.add_argument("run_id", nargs="?", help="a run id (a folder of the reports directory)")
    report.add_argument("--reports-dir", type=Path, default=Path("reports"),
                        help="where the runs' reports are (default: reports/)")
    report.add_argument("--list", action="store_true", help="list every run, newest last")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["report", "merge"]:   # a run id never reads "merge" (they are UTC times)
        args = merge.parser().parse_args(argv[2:])
        args.command = "report merge"
    else:
        args = parser().parse_args(argv)
    try:
        if args.command == "report merge":
            return merge.run(args)
        if args.command == "init":
            return scaffold.init(args.directory)
        if args.command == "engine":
            return engine.ensure()
        if args.list:
            return reports.list_runs(args.reports_dir)
        return reports.show(args.reports_dir, args.run_id)
    except HarnessError as err:
        print(f"{PROG} {args.command}: {err}", file=sys.stderr)
        return 2
