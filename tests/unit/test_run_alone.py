"""``@pytest.mark.run_alone`` under ``pytest -n``: a timing-sensitive test has the machine to itself.

Inner pytest runs with two xdist workers on tests that only sleep and write down when they ran (no
Docker): the run_alone test's interval must overlap no other test's, while the other tests do run
side by side (so the check is not vacuous).
"""

from __future__ import annotations

import json
import pytest

INNER = """
import json, os, time
from pathlib import Path
import pytest

OUT = Path({out!r})


def _ran(name, seconds):
    began = time.monotonic()
    time.sleep(seconds)
    OUT.joinpath(name + ".json").write_text(json.dumps([began, time.monotonic(), os.getpid()]))


@pytest.mark.run_alone
def test_alone():                  # collected first: without the lock it would start beside plain0
    _ran("alone", 0.6)


@pytest.mark.parametrize("n", range(4))
def test_side_by_side(n):
    _ran(f"plain{{n}}", 0.6)
"""


def test_a_run_alone_test_overlaps_no_other(pytester: pytest.Pytester) -> None:
    out = pytester.path / "out"
    out.mkdir()
    pytester.makepyfile(test_inner=INNER.format(out=str(out)))
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", "--no-report", timeout=120)
    assert result.ret == 0, "\n".join(result.outlines)
    ran = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert len(ran) == 5, ran
    alone = ran.pop("alone")
    assert all(end <= alone[0] or start >= alone[1] for start, end, _ in ran.values()), (alone, ran)
    plain = sorted(ran.values())
    overlapping = any(b[0] < a[1] for a, b in zip(plain, plain[1:]))
    assert overlapping, f"the plain tests never ran side by side: {plain}"
    assert len({pid for _, _, pid in ran.values()} | {alone[2]}) == 2

