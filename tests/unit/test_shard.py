"""``--shard I/N`` (harness/plugin/shard.py): the split on hand-made ids and durations, the durations
read from hand-made report folders, bad values, and the option through ``pytester`` (no Docker)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.plugin.shard import Shard, digest, plan, read_durations, select, shard_line, shard_of, weights

IDS = [f"scenarios/test_s.py::test_{c}" for c in "abcdefgh"]


def _report(root: Path, run_id: str, durations: dict[str, float], **extra: dict) -> None:
    folder = root / run_id
    folder.mkdir(parents=True)
    scenarios = [{"id": i, "outcome": "passed", "duration_s": d} | extra.get(i, {}) for i, d in durations.items()]
    (folder / "report.json").write_text(json.dumps({"run_id": run_id, "scenarios": scenarios}))


# -- the split ------------------------------------------------------------------------------------
def test_every_test_is_in_exactly_one_shard_for_every_n():
    """Union is all ids, shards are disjoint, and collection order is kept inside each shard."""
    durations = {i: float(k + 1) for k, i in enumerate(IDS)}
    for n in range(1, 11):
        shards = plan(IDS, durations, n)
        assert len(shards) == n
        flat = [i for s in shards for i in s]
        assert sorted(flat) == sorted(IDS) and len(flat) == len(IDS)
        assert all(s == [i for i in IDS if i in s] for s in shards)


def test_longest_first_greedy_balances_recorded_seconds():
    """60, 50, 40, 30, 20, 10 s over 2 shards: 60+30+20 and 50+40+10, not 60+40+20 / 50+30+10 by turns."""
    durations = dict(zip(IDS, [60.0, 50.0, 40.0, 30.0, 20.0, 10.0]))
    shards = plan(IDS[:6], durations, 2)
    loads = [sum(durations[i] for i in s) for s in shards]
    assert loads == [110.0, 100.0]
    assert shards[0] == [IDS[0], IDS[3], IDS[4]]


def test_ties_are_broken_by_node_id_and_shard_index_so_every_process_agrees():
    """Equal weights: the same split whatever order the ids were collected in (sets compared)."""
    one = plan(IDS, {}, 3)
    other = plan(list(reversed(IDS)), {}, 3)
    assert [sorted(s) for s in one] == [sorted(s) for s in other]
    assert digest(one) == digest(plan(IDS, {}, 3)) != digest(plan(IDS, {}, 2))
    assert [len(s) for s in one] == [3, 3, 2]


def test_without_durations_the_split_is_by_count_and_unknown_tests_weigh_the_median():
    """Nothing known: weight 1 each; some known: an unknown test weighs their median."""
    assert set(weights(IDS, {}).values()) == {1.0}
    w = weights(IDS[:4], {IDS[0]: 10.0, IDS[1]: 20.0, IDS[2]: 90.0})
    assert w[IDS[3]] == 20.0 and w[IDS[2]] == 90.0


def test_repeat_suffix_is_ignored_when_matching_durations():
    """``test_a[repeat2of3]`` weighs what ``test_a`` was recorded to take."""
    w = weights([IDS[0] + "[repeat2of3]", IDS[1] + "[repeat1of3]"], {IDS[0]: 7.0, IDS[1]: 3.0})
    assert list(w.values()) == [7.0, 3.0]


def test_the_line_names_the_share_and_every_shares_seconds():
    """The documented line, with recorded time, and its by-count form."""
    durations = dict(zip(IDS, [60.0, 50.0, 40.0, 30.0, 20.0, 10.0]))
    shards = plan(IDS[:6], durations, 2)
    line = shard_line(Shard(2, 2), shards, weights(IDS[:6], durations), 6, True)
    assert line == "harness: shard 2/2: 3 of 6 tests, ~100 s of recorded time (shares 110/100 s)"
    line = shard_line(Shard(1, 3), plan(IDS, {}, 3), weights(IDS, {}), 8, False)
    assert line == "harness: shard 1/3: 3 of 8 tests, no recorded durations: split by count (shares 3/3/2 tests)"


@pytest.mark.parametrize("raw", ["0/3", "4/3", "x", "1/0", "2", "-1/3", "1/3/3", ""])
def test_bad_shard_values_are_one_config_error_line(raw: str):
    """I/N with 1 <= I <= N, else one line naming the option and the fix."""
    with pytest.raises(ConfigError) as err:
        Shard.parse(raw)
    assert "\n" not in str(err.value) and "--shard / HARNESS_SHARD" in str(err.value)
    assert str(Shard.parse(" 2/3 ")) == "2/3"


def test_the_option_wins_over_the_environment():
    """--shard first, else HARNESS_SHARD, else every test runs."""
    assert shard_of("1/2", {"HARNESS_SHARD": "2/2"}) == Shard(1, 2)
    assert shard_of(None, {"HARNESS_SHARD": "2/2"}) == Shard(2, 2)
    assert shard_of(None, {}) is None


# -- durations from earlier reports -------------------------------------------------------------------
def test_durations_are_the_median_of_the_newest_runs_with_repeats_pooled(tmp_path: Path):
    """Five newest runs only (an older outlier is ignored); repeats pooled; set-up time counted; junk skipped."""
    _report(tmp_path, "20261101T000000-0000", {IDS[0]: 999.0})   # older than the five newest
    for k, d in enumerate([10.0, 12.0, 11.0, 50.0]):
        _report(tmp_path, f"20261102T00000{k}-0000", {IDS[0]: d, IDS[1] + "[repeat1of2]": 4.0,
                                                       IDS[1] + "[repeat2of2]": 6.0})
    _report(tmp_path, "20261103T000000-0000", {IDS[2]: 2.0},
            **{IDS[2]: {"harness_s": {"setup_s": 1.5, "teardown_s": 0.5, "record_s": 9.0}}})
    (tmp_path / "20261104T000000-0000").mkdir()
    (tmp_path / "20261104T000000-0000" / "report.json").write_text("{torn")
    (tmp_path / "latest").symlink_to("20261103T000000-0000")
    durations = read_durations(tmp_path)
    assert durations == {IDS[0]: 11.5, IDS[1]: 5.0, IDS[2]: 4.0}
    assert read_durations(tmp_path / "missing") == {}


def test_select_reports_what_it_chose(tmp_path: Path):
    """The runner's ids, its line and the record merged reports check (plan digest, counts)."""
    _report(tmp_path, "20261102T000000-0000", dict(zip(IDS[:2], [30.0, 10.0])))
    mine, line, record = select(Shard(2, 2), IDS[:4], tmp_path)
    assert line.startswith("harness: shard 2/2: ") and "of 4 tests" in line
    assert record == {"index": 2, "count": 2, "tests": len(mine), "collected": 4, "with_durations": 2,
                      "plan": digest(plan(IDS[:4], read_durations(tmp_path), 2))}
    other, _, _ = select(Shard(1, 2), IDS[:4], tmp_path)
    assert mine | other == set(IDS[:4]) and not mine & other


# -- the option in a pytest run -------------------------------------------------------------------------
TESTS = "\n".join(f"def test_{c}():\n    pass\n" for c in "abcde")


def _ran(result: pytest.RunResult) -> set[str]:
    return {m[1] for line in result.outlines if (m := re.search(r"::(test_\w+) PASSED", line))}


def test_shards_of_a_run_cover_every_test_once(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """--shard 1/2 and 2/2 (the second by HARNESS_SHARD) run disjoint sets whose union is every test."""
    pytester.makepyfile(test_five=TESTS)
    args = ("-v", "-p", "no:cacheprovider", f"--reports-dir={pytester.path / 'reports'}")
    first = pytester.runpytest_subprocess(*args, "--shard", "1/2")
    monkeypatch.setenv("HARNESS_SHARD", "2/2")
    second = pytester.runpytest_subprocess(*args)
    assert first.ret == second.ret == 0
    assert _ran(first) | _ran(second) == {f"test_{c}" for c in "abcde"}
    assert not _ran(first) & _ran(second)
    first.stdout.fnmatch_lines(["harness: shard 1/2: 3 of 5 tests, no recorded durations: split by count "
                                "(shares 3/2 tests)", "*2 deselected*"])
    second.stdout.fnmatch_lines(["harness: shard 2/2: 2 of 5 tests*", "*3 deselected*"])


@pytest.mark.parametrize("raw", ["0/3", "4/3", "x"])
def test_a_bad_shard_stops_the_run_with_one_line(pytester: pytest.Pytester, raw: str):
    """A usage error (exit 4), nothing run."""
    pytester.makepyfile(test_five=TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--shard", raw)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.errlines if "shard" in line] == [
        f"ERROR: shard {raw!r} is not I/N with 1 <= I <= N (in --shard / HARNESS_SHARD); give e.g. "
        f"--shard 1/2 on the first of two runners and --shard 2/2 on the second"]


def test_xdist_workers_split_alike_and_the_controller_says_the_share(pytester: pytest.Pytester):
    """With -n 2 every worker computes the same split (pytest-xdist refuses differing collections)
    and the controller prints the line the workers sent home."""
    pytest.importorskip("xdist", reason="pytest-xdist is installed with the harness's -n support")
    pytester.makepyfile(test_five=TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "-v", "--shard", "2/2",
                                           f"--reports-dir={pytester.path / 'reports'}", timeout=120)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["harness: shard 2/2: 2 of 5 tests, no recorded durations: split by count "
                                 "(shares 3/2 tests)"])
    assert {m[1] for line in result.outlines if (m := re.search(r"PASSED .*::(test_\w+)", line))} == {"test_b", "test_d"}
