"""The ``dr-harness`` command (also ``python -m harness``): what a team runs in its own repository.

    dr-harness engine         make sure a Docker engine answers (installs Debian's where it can)

A mistake is one line on stderr naming what, where and the fix, with exit status 2; the pytest
plugin is not imported here (the CLI sits beside it, nothing imports the CLI).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from harness.cli import engine
from harness.errors import HarnessError

PROG = "dr-harness"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog=PROG, description="Disaster-recovery and chaos scenarios on a "
                                  "real Docker stack, judged against documented objectives.")
    commands = top.add_subparsers(dest="command", required=True, metavar="{engine}")
    commands.add_parser("engine", help="make sure a Docker engine answers (like scripts/ensure-engine.sh)")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return engine.ensure()
    except HarnessError as err:
        print(f"{PROG} {args.command}: {err}", file=sys.stderr)
        return 2
