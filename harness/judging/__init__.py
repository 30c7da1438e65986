"""Judging: pure functions from a history to verdicts against the documented objectives.

No engine or store clients here (a test of the house rules holds this): checkers read a
``History`` and return ``Verdict`` s; they are unit-tested on hand-built histories.

    checkers.py    every metric, defined in one sentence each, and ``check``
    phases.py      fault windows, phases (before, during, after) and the quantities read from them
    responses.py  what an HTTP service answered per phase: 5xx share, degraded share
    rates.py       attempts scheduled vs sent per phase; the rate gate that makes a verdict unknown
    objectives.py  the objectives file: parsing, units, one-line errors
    verdicts.py    Verdict, Measurement, merging by severity, ``assert_met``
"""

from harness.judging.checkers import check
from harness.judging.objectives import Objective, Objectives, load_objectives
from harness.judging.verdicts import Verdict, assert_met

__all__ = ["Objective", "Objectives", "Verdict", "assert_met", "check", "load_objectives"]
