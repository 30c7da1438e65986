"""``dr-harness report merge`` (harness/report/merge.py, harness/cli/merge.py) on hand-made run folders.

Each shard's folder is written by the real ``write_report`` from hand-built records, then merged
through the command: what a merge keeps, the one go/no-go (with its negative controls: a FAIL
verdict, a skip under sign-off), and every refusal (one line, exit 2, nothing written).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.report.records import RunRecord, ScenarioRecord
from harness.report.writer import latest_run_id, write_report

COMMIT = "0123456789abcdef0123456789abcdef01234567"
PASS_V = {"objective": "redis-outage-fail-fast", "metric": "rto", "limit": 1.0, "measured": 0.4,
          "unit": "s", "validity": "pass", "explanation": "Reads resumed 0.4 s after the heal.", "phase": "after"}
FAIL_V = PASS_V | {"measured": 3.2, "validity": "fail", "explanation": "Reads resumed 3.2 s after the heal; 1 s allowed."}
SECRET = "hunter2hunter2"


def _ops() -> list[dict]:
    keys = ("index", "time", "process", "type", "f", "value", "error", "invoke_index")
    fault = {"name": "down(redis)", "kind": "down", "target": "redis"}
    rows = [(0, 1.0, "nemesis", "invoke", "inject", fault, None, None), (1, 1.01, "nemesis", "ok", "inject", None, None, 0),
            (2, 1.1, "read", "invoke", "get", 1, None, None),
            (3, 1.2, "read", "fail", "get", None, f"redis://:{SECRET}@proxy-redis:16379/0 refused", 2),
            (4, 2.0, "nemesis", "invoke", "heal", fault, None, None), (5, 2.01, "nemesis", "ok", "heal", None, None, 4)]
    return [dict(zip(keys, row)) for row in rows]


def _scenario(name: str, outcome: str = "passed", verdicts: list[dict] | None = None, **more) -> ScenarioRecord:
    fields = dict(id=f"scenarios/test_s.py::{name}", outcome=outcome, duration_s=2.5, ops=_ops(),
                  faults=[{"name": "down(redis)", "kind": "down", "target": "redis", "injected_at": 1.01,
                           "healed_at": 2.01, "in_effect": True, "evidence": "a probe through 127.0.0.1:1: refused"}],
                  verdicts=[PASS_V] if verdicts is None else verdicts, rates={"read": {"run": {"share": 1.0}}},
                  seed=f"7:scenarios/test_s.py::{name}", worker="main", harness_s={"setup_s": 0.5})
    return ScenarioRecord(**(fields | more))


def _shard(root: Path, run_id: str, scenarios: list[ScenarioRecord], *, index: int | None = 1, count: int = 2,
           plan: str = "abc123", seed: int = 7, strict: bool = False, commit: str | None = COMMIT,
           started: str = "2026-11-29T02:00:00+00:00", finished: str = "2026-11-29T02:30:00+00:00") -> Path:
    environment = {"engine": {"version": "20.10"}, "images": {"redis": {"ref": "redis:7", "id": "sha256:1",
                                                                        "source": "built"}}}
    if index is not None:
        environment["shard"] = {"index": index, "count": count, "tests": len(scenarios), "collected": 4,
                                "with_durations": 0, "plan": plan}
    run = RunRecord(run_id=run_id, started_at=started, finished_at=finished, seed=seed, environment=environment,
                    objectives_file="objectives.toml", scenarios=scenarios, strict=strict, commit=commit,
                    redact=(SECRET,))
    return write_report(root / run_id.split("T")[0], run)


def _two_shards(tmp_path: Path, **second) -> tuple[Path, Path]:
    one = _shard(tmp_path / "a", "20261129T020000-aaaa", [_scenario("test_a"), _scenario("test_b")],
                 started="2026-11-29T02:00:00+00:00", finished="2026-11-29T02:20:00+00:00")
    two = _shard(tmp_path / "b", "20261129T020100-bbbb",
                 second.pop("scenarios", [_scenario("test_c", logs={"redis": "boom\nredis://:***@x ok\n"}),
                                          _scenario("test_d")]),
                 **({"index": 2, "started": "2026-11-29T01:59:00+00:00",
                     "finished": "2026-11-29T02:40:00+00:00"} | second))
    return one, two


def _merge(capsys: pytest.CaptureFixture[str], out: Path, *args: object) -> tuple[int, str, str]:
    code = main(["report", "merge", *map(str, args), "--reports-dir", str(out)])
    said = capsys.readouterr()
    return code, said.out, said.err


def _doc(out: Path) -> dict:
    return json.loads((out / latest_run_id(out) / "report.json").read_text())


def test_two_shards_become_one_run_with_one_go(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every scenario once, earliest start, latest finish, the shards listed, one GO line, exit 0."""
    one, two = _two_shards(tmp_path)
    out = tmp_path / "merged"
    code, said, err = _merge(capsys, out, one, two)
    assert (code, err) == (0, "")
    assert said.splitlines()[-1] == "go/no-go: GO"
    doc = _doc(out)
    assert [s["id"].split("::")[1] for s in doc["scenarios"]] == ["test_a", "test_b", "test_c", "test_d"]
    assert doc["started_at"] == "2026-11-29T01:59:00+00:00" and doc["finished_at"] == "2026-11-29T02:40:00+00:00"
    assert doc["run_id"] not in (one.name, two.name) and doc["commit"] == COMMIT and doc["seed"] == 7
    shards = doc["environment"]["shards"]
    assert [(s["run_id"], s["shard"]["index"], s["scenarios"]) for s in shards] == [(one.name, 1, 2), (two.name, 2, 2)]
    assert "shard" not in doc["environment"] and doc["environment"]["images"]["redis"]["ref"] == "redis:7"
    assert doc["summary"]["go"] is True and doc["summary"]["scenarios"] == 4
    folder = out / doc["run_id"]
    assert {"summary.md", "timeline.html", "junit.xml", "history.jsonl"} <= {p.name for p in folder.iterdir()}
    assert (folder / "junit.xml").read_text().count("<testcase") == 4
    index = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert {row["run_id"] for row in index} == {doc["run_id"]} and len(index) == 4


def test_a_merge_loses_nothing_and_un_redacts_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each scenario's report.json entry, its history lines and its saved logs come out as they went in."""
    one, two = _two_shards(tmp_path)
    out = tmp_path / "merged"
    assert _merge(capsys, out, one, two)[0] == 0
    merged = out / latest_run_id(out)
    got = {s["id"]: s for s in _doc(out)["scenarios"]}
    lines = (merged / "history.jsonl").read_text().splitlines()
    for source in (one, two):
        doc = json.loads((source / "report.json").read_text())
        for s in doc["scenarios"]:
            mine = got[s["id"]]
            assert {k: v for k, v in mine.items() if k != "logs"} == {k: v for k, v in s.items() if k != "logs"}
            for service, rel in s["logs"].items():
                assert (merged / mine["logs"][service]).read_text() == (source / rel).read_text()
        theirs = (source / "history.jsonl").read_text().splitlines()
        assert theirs and all(line in lines for line in theirs)
    assert len(lines) == 4 * len(_ops())
    everything = "".join(p.read_text() for p in merged.rglob("*") if p.is_file())
    assert SECRET not in everything and "redis://:***@proxy-redis" in everything
    assert got["scenarios/test_s.py::test_c"]["faults"][0]["evidence"] == "a probe through 127.0.0.1:1: refused"


def test_a_fail_verdict_in_one_shard_makes_the_merged_run_no_go(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Negative control: shard 2's breached objective is the merged run's no-go, exit 1."""
    one, two = _two_shards(tmp_path, scenarios=[_scenario("test_c", outcome="failed", verdicts=[FAIL_V],
                                                          error="FAIL redis-outage-fail-fast rto")])
    out = tmp_path / "merged"
    code, said, _ = _merge(capsys, out, one, two)
    assert code == 1
    assert said.splitlines()[-1].startswith("go/no-go: NO-GO: failed: scenarios/test_s.py::test_c")
    assert "FAIL redis-outage-fail-fast rto 3.2 s > 1.0 s" in said.splitlines()[-1]
    assert _doc(out)["summary"]["go"] is False


def test_a_skip_under_sign_off_makes_the_merged_run_no_go(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Negative control: a skipped scenario is GO in a plain merge, NO-GO under --sign-off (signoff.md written)."""
    one, two = _two_shards(tmp_path, scenarios=[_scenario("test_c", outcome="skipped", verdicts=[],
                                                          skip_reason="elasticsearch image cannot be had")])
    assert _merge(capsys, tmp_path / "plain", one, two)[0] == 0
    out = tmp_path / "strict"
    code, said, _ = main(["report", "merge", str(one), str(two), "--reports-dir", str(out), "--sign-off"]), *[""] * 2
    said = capsys.readouterr().out
    assert code == 1
    assert said.splitlines()[-1] == ("sign-off: NO-GO: skipped: scenarios/test_s.py::test_c: "
                                     "elasticsearch image cannot be had")
    page = (out / latest_run_id(out) / "signoff.md").read_text()
    assert page.startswith(f"# Sign-off {latest_run_id(out)}: NO-GO")


def test_a_shard_that_ran_strict_keeps_the_merge_strict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --sign-off on the merge, a shard run with --sign-off still makes it a sign-off."""
    one, two = _two_shards(tmp_path, strict=True, scenarios=[_scenario("test_c", verdicts=[PASS_V | {
        "validity": "unknown", "measured": None, "explanation": "No read after the heal."}])])
    code, said, _ = _merge(capsys, tmp_path / "merged", one, two)
    assert code == 1 and said.splitlines()[-1].startswith("sign-off: NO-GO: UNKNOWN redis-outage-fail-fast rto")
    assert _doc(tmp_path / "merged")["strict"] is True


def test_different_seeds_are_merged_and_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The first shard's seed is the run's; each scenario keeps its own; the shards' seeds are listed."""
    one, two = _two_shards(tmp_path, seed=99)
    code, said, _ = _merge(capsys, tmp_path / "merged", one, two)
    assert code == 0
    assert said.splitlines()[0] == (f"note: the shards ran with different seeds ({one.name}: 7, {two.name}: 99); "
                                    "the merged report keeps 7 and each scenario the seed it ran with")
    doc = _doc(tmp_path / "merged")
    assert doc["seed"] == 7 and [s["seed"] for s in doc["environment"]["shards"]] == [7, 99]


def test_a_reports_dir_is_read_through_its_latest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Giving the shard's reports dir merges the run its ``latest`` points at."""
    one, two = _two_shards(tmp_path)
    assert _merge(capsys, tmp_path / "merged", one.parent, two.parent)[0] == 0
    assert [s["run_id"] for s in _doc(tmp_path / "merged")["environment"]["shards"]] == [one.name, two.name]


def _refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, *folders: Path) -> str:
    out = tmp_path / "merged"
    code, said, err = _merge(capsys, out, *folders)
    assert code == 2 and said == "" and len(err.splitlines()) == 1, (code, said, err)
    assert not out.exists(), "a refused merge wrote something"
    return err.strip()


def test_missing_folder_and_unreadable_report_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder that is not there, a torn report.json, and a report of another schema: one line each."""
    one, two = _two_shards(tmp_path)
    assert _refused(capsys, tmp_path, one, tmp_path / "nope") == (
        f"dr-harness report merge: no run folder at {tmp_path / 'nope'} (in {tmp_path / 'nope'}); "
        "give the folder of a shard's run (it holds report.json)")
    (two / "report.json").write_text('{"schema": 1, "run_id": ')
    assert "report.json is not JSON" in _refused(capsys, tmp_path, one, two)
    (two / "report.json").write_text('{"schema": 2}')
    assert "is not a schema 1 run report" in _refused(capsys, tmp_path, one, two)
    (two / "report.json").unlink()
    assert "cannot read report.json" in _refused(capsys, tmp_path, one, two)


def test_a_folder_that_lost_ops_or_logs_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """history.jsonl with fewer ops than report.json counts, or a saved log gone: refused, not half-merged."""
    one, two = _two_shards(tmp_path)
    history = (two / "history.jsonl").read_text().splitlines()
    (two / "history.jsonl").write_text("\n".join(history[:-1]) + "\n")
    assert "history.jsonl holds 5 ops of scenarios/test_s.py::test_d, report.json says 6" in \
        _refused(capsys, tmp_path, one, two)
    (two / "history.jsonl").write_text("\n".join(history) + "\n")
    shutil.rmtree(two / "logs")
    assert "cannot read the saved log logs/01-test_s.py_test_c/redis.log" in _refused(capsys, tmp_path, one, two)


def test_a_scenario_in_two_shards_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same node id in two runs: the split was not one split."""
    one, two = _two_shards(tmp_path, scenarios=[_scenario("test_b")])
    assert _refused(capsys, tmp_path, one, two) == (
        f"dr-harness report merge: scenario scenarios/test_s.py::test_b is in run {one.name} and in run {two.name} "
        "(in the folders given); merge shards of one split: each test runs in one shard only")
    assert f"run {one.name} is given twice" in _refused(capsys, tmp_path, one, one)


def test_shards_of_other_commits_or_splits_or_a_missing_shard_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Different commits, different split digests, shard 2/2 absent, 1/2 twice, 1/2 with 1/3: refused."""
    one, two = _two_shards(tmp_path / "c", commit="f" * 40)
    assert "the runs tested different commits" in _refused(capsys, tmp_path, one, two)
    one, two = _two_shards(tmp_path / "p", plan="zzz999")
    assert "the shards computed different splits (plans abc123, zzz999)" in _refused(capsys, tmp_path, one, two)
    assert _refused(capsys, tmp_path, one).endswith("shard 2/2 missing (in the folders given); merge the run "
                                                    "folders of all N shards of one night, made from the same reports/")
    one, two = _two_shards(tmp_path / "t", index=1)
    assert "shard 1/2 given twice" in _refused(capsys, tmp_path, one, two)
    one, two = _two_shards(tmp_path / "n", count=3)
    assert "the shards were split different ways" in _refused(capsys, tmp_path, one, two)
    one, two = _two_shards(tmp_path / "d", index="2")
    assert f"the shard record of run {two.name} names no shard I/N" in _refused(capsys, tmp_path, one, two)
    one, two = _two_shards(tmp_path / "u", index=None)
    assert f"run {two.name} was not made with --shard" in _refused(capsys, tmp_path, one, two)


def test_runs_made_without_shard_merge_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two plain runs of one commit (no --shard) merge; their shards entries carry no shard record."""
    one = _shard(tmp_path / "a", "20261129T020000-aaaa", [_scenario("test_a")], index=None)
    two = _shard(tmp_path / "b", "20261129T020100-bbbb", [_scenario("test_b")], index=None)
    assert _merge(capsys, tmp_path / "merged", one, two)[0] == 0
    assert [s["shard"] for s in _doc(tmp_path / "merged")["environment"]["shards"]] == [None, None]


def test_bad_keep_runs_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--keep-runs 0 stops before anything is read or written."""
    with pytest.raises(SystemExit) as done:
        main(["report", "merge", str(tmp_path), "--keep-runs", "0"])
    assert done.value.code == 2 and "'0' is not a whole number of 1 or more" in capsys.readouterr().err
