"""Print the share of mutants of the judging code that the unit tests killed, and the survivors.

Run by `make mutation` after `mutmut run` (configuration in pyproject.toml, [tool.mutmut]).
Exits 1 when the share killed is below the target, so the command can gate a change.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TARGET = 0.90


def main() -> int:
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    subprocess.run([mutmut, "export-cicd-stats"], check=True, capture_output=True)
    stats = json.loads(Path("mutants/mutmut-cicd-stats.json").read_text())
    judged = stats["killed"] + stats["survived"] + stats.get("timeout", 0) + stats.get("suspicious", 0)
    killed = stats["killed"] + stats.get("timeout", 0)
    share = killed / judged if judged else 0.0
    survivors = subprocess.run([mutmut, "results"], check=True, capture_output=True, text=True).stdout
    print(survivors.rstrip())
    print(f"mutation score: {killed} of {judged} mutants killed = {share:.1%} (target {TARGET:.0%}); "
          f"{stats.get('no_tests', 0)} not reached by any selected test")
    return 0 if share >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
