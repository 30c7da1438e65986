"""``dr-harness report merge DIR [DIR ...]``: the run folders of N shards as one run report, one go/no-go.

Each DIR is a shard's run folder (``reports/<run-id>/``, as its CI job uploaded it) or a reports dir,
read through its ``latest``. The checks and the merged record are ``harness/report/merge.py``'s; the
report is written by the same ``write_report`` as any run, into ``--reports-dir`` (default
``reports/``), so its summary.md, timeline, junit.xml, signoff.md, index and trends are those of one
run. Prints where it went and the decision; exit 0 on GO, 1 on NO-GO, 2 (nothing written) when
the folders cannot be merged.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.report import go_no_go, write_report
from harness.report.merge import load_run, merge
from harness.report.trends import KEEP_RUNS
from harness.stack.labels import new_run_id

USAGE = "dr-harness report merge DIR [DIR ...] [--reports-dir OUT] [--sign-off] [--keep-runs N]"


def _count(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number of 1 or more")
    return int(raw)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dr-harness report merge", usage=USAGE,
                                description="Merge the run folders of the shards of one run "
                                "(pytest --shard I/N on N runners) into one run report with one go/no-go.")
    p.add_argument("folders", nargs="+", type=Path, metavar="DIR",
                   help="a shard's run folder (holding report.json), or a reports dir (its latest run)")
    p.add_argument("--reports-dir", type=Path, default=Path("reports"),
                   help="where the merged run report goes (default: reports/)")
    p.add_argument("--sign-off", action="store_true",
                   help="judge strictly (any skip, breach, unknown or flaky verdict is a no-go); "
                        "on anyway when any shard ran with --sign-off")
    p.add_argument("--keep-runs", type=_count, default=KEEP_RUNS, metavar="N",
                   help=f"run folders kept under --reports-dir, older ones pruned (default {KEEP_RUNS})")
    return p


def run(args: argparse.Namespace) -> int:
    """Load, check, merge, write, then print the report's place and the decision line."""
    runs = [load_run(folder) for folder in args.folders]
    record, notes = merge(runs, run_id=new_run_id(), sign_off=args.sign_off)
    for note in notes:
        print(note)
    out = write_report(args.reports_dir, record, keep_runs=args.keep_runs)
    go, reasons = go_no_go(record, strict=record.strict)
    print(f"merged {len(runs)} runs ({', '.join(r.run_id for r in runs)}): {len(record.scenarios)} scenarios "
          f"-> {out}/summary.md" + (f" and {out}/signoff.md" if record.strict else ""))
    label = "sign-off" if record.strict else "go/no-go"
    print(f"{label}: GO" if go else f"{label}: NO-GO: " + "; ".join(reasons))
    return 0 if go else 1
