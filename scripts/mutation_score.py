"""Print the share of mutants of the judging code that the unit tests killed, and what survived.

Run by `make mutation` after `mutmut run` (configuration in pyproject.toml, [tool.mutmut]).
Every surviving mutant is either killed by a test or explained, one line each, in
docs/mutation-survivors.md; this script lists only the survivors that file does not explain
(and explanations whose mutant no longer survives), then ends with the score line:

    mutation score: 2790 of 2860 mutants killed = 97.6 % (target 90 %)

Exits 1 when the share killed is below the target, so the command can gate a change.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

TARGET = 0.90
EXPLAINED = Path("docs/mutation-survivors.md")
_NAME = re.compile(r"`(harness\.[^`\s]+__mutmut_\d+)`")


def explained_names(text: str) -> set[str]:
    """The mutant names the survivors file explains (each written in backticks)."""
    return set(_NAME.findall(text))


def parse_results(text: str) -> dict[str, str]:
    """``mutmut results`` lines ("    name: status") as {name: status}."""
    out = {}
    for line in text.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and name:
            out[name] = status
    return out


def percent(share: float) -> str:
    return f"{100 * share:.1f} %"


def main() -> int:
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    if not Path("mutants").is_dir():
        print("mutation score: no mutmut run found here (no mutants/ folder); run `make mutation` from the repo root")
        return 2
    subprocess.run([mutmut, "export-cicd-stats"], check=True, capture_output=True)
    stats = json.loads(Path("mutants/mutmut-cicd-stats.json").read_text())
    judged = stats["killed"] + stats["survived"] + stats.get("timeout", 0) + stats.get("suspicious", 0)
    killed = stats["killed"] + stats.get("timeout", 0)
    share = killed / judged if judged else 0.0
    results = parse_results(subprocess.run([mutmut, "results"], check=True, capture_output=True, text=True).stdout)
    left = {name: status for name, status in results.items() if status not in ("killed", "timeout", "not checked")}
    explained = explained_names(EXPLAINED.read_text(encoding="utf-8")) if EXPLAINED.exists() else set()
    unexplained = sorted(name for name in left if name not in explained)
    stale = sorted(name for name in explained if name not in left)
    for name in unexplained:
        print(f"not explained: {name}: {left[name]}   (see: mutmut show {name})")
    if stale:
        print(f"{len(stale)} mutant(s) in {EXPLAINED} no longer survive; remove them: {', '.join(stale)}")
    print(f"survivors: {len(left)}, {len(left) - len(unexplained)} explained in {EXPLAINED}, "
          f"{len(unexplained)} not explained")
    print(f"mutation score: {killed} of {judged} mutants killed = {percent(share)} (target {100 * TARGET:.0f} %)"
          + (f"; {stats['no_tests']} not reached by any selected test" if stats.get("no_tests") else ""))
    return 0 if share >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
