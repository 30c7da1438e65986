"""Negative controls of the backup-restore drills, on a real stack: damaged backups, restores that
silently miss data, and drills interrupted halfway must each end in a FAIL verdict or a DrillError,
never in a pass, and an interrupted drill must leave nothing behind.
"""

import time

import pytest

from harness.drills import PostgresLogicalDrill, PostgresPitrDrill, RedisAofDrill, RedisRdbDrill
from harness.drills.containers import DRILL_LABEL
from harness.errors import DrillError
from harness.judging.checkers import check
from harness.stack.labels import RUN_LABEL, WORKER_LABEL, worker_id
from harness.judging.drills import drill_runs
from harness.judging.objectives import Objective, parse_limit
from harness.workloads.clients import read_back_postgres
from harness.workloads.postgres import PostgresInserts
from harness.workloads.redis import RedisWrites

pytestmark = pytest.mark.docker


def objective(**limits):
    return Objective("drill-control", "negative control", "team-test", "",
                     tuple(parse_limit(k, v) for k, v in limits.items()))


def left_by(client, drill):
    """What still carries the drill's label on the engine."""
    label = {"label": f"{DRILL_LABEL}={drill.id}"}
    return ([f"container {c.name}" for c in client.containers.list(all=True, filters=label)]
            + [f"volume {v.name}" for v in client.volumes.list(filters=label)])


def drilled(stack, history, *, writes_after_backup_s=0.5):
    """Run a logical drill up to the restore under inserts; the caller verifies."""
    drill = PostgresLogicalDrill(stack, history).prepare()
    with PostgresInserts(history, **stack.postgres.conninfo, rate_hz=50):
        time.sleep(0.8)
        drill.backup()
        time.sleep(writes_after_backup_s)
    drill.copy()
    drill.disaster()
    drill.restore()
    return drill


def test_a_flipped_byte_in_the_dumps_copy_stops_the_restore(stack_factory, history):
    """One byte of the second copy's dump inverted: the restore refuses it, naming the file, and restores nothing."""
    stack = stack_factory()
    with PostgresLogicalDrill(stack, history) as drill:
        with PostgresInserts(history, **stack.postgres.conninfo, rate_hz=50):
            time.sleep(0.5)
            drill.backup()
        drill.copy()
        drill.flip_byte("db.dump")
        with pytest.raises(DrillError, match=r"fails its SHA-256 manifest: db\.dump: sha256") as err:
            drill.restore()
    assert "\n" not in str(err.value)
    run = drill_runs(history)[0]
    assert run.outcome == "fail" and run.step("provision") is None and run.step("check").outcome == "fail"


def test_a_dump_taken_before_the_last_acknowledged_writes_fails_an_rpo_of_zero(stack_factory, history):
    """Inserts acknowledged after the dump's snapshot are lost: RPO 0 FAILs, while the snapshot itself was whole."""
    stack = stack_factory()
    with drilled(stack, history, writes_after_backup_s=1.0) as drill:
        drill.verify()
        observed = read_back_postgres(**stack.postgres.conninfo)
    verdicts = {v.metric: v for v in check(objective(rpo_lost_writes="0 writes", rpo="0 s",
                                                      lost_before_restore_point="0 writes"),
                                           history, f="insert", observed=observed)}
    assert verdicts["rpo_lost_writes"].validity == "fail" and verdicts["rpo_lost_writes"].measured >= 10
    assert verdicts["rpo"].validity == "fail"
    assert verdicts["lost_before_restore_point"].validity == "pass"


def test_a_restore_that_silently_lost_rows_fails_verification(stack_factory, history):
    """Rows deleted from the restored server behind the drill's back: verify raises, and the RTO is not a pass."""
    stack = stack_factory()
    with drilled(stack, history) as drill:
        with stack.postgres.connect() as conn:
            conn.execute("DELETE FROM dr_writes WHERE id IN (SELECT id FROM dr_writes ORDER BY id LIMIT 3)")
        with pytest.raises(DrillError, match=r"fails verification: table public\.dr_writes has \d+ rows"):
            drill.verify()
    [rto] = check(objective(drill_rto="600 s"), history)
    assert rto.validity != "pass", rto


@pytest.mark.parametrize("when", ["copy", "provision"])
@pytest.mark.parametrize("how", [RuntimeError, KeyboardInterrupt])
def test_a_drill_interrupted_halfway_leaves_nothing_behind(stack_factory, history, docker_client, monkeypatch,
                                                           when, how):
    """An exception or Ctrl-C inside a step: the step is recorded as failed and no container or volume remains."""
    stack = stack_factory()
    seen = []

    def interrupt(*args, **kwargs):
        seen.extend(left_by(docker_client, drill))
        raise how(f"interrupted during {when}")

    target = ("harness.drills.manifest.Manifest.text" if when == "copy" else "harness.drills.pg_server.wait_ready")
    with pytest.raises(DrillError if how is RuntimeError else KeyboardInterrupt):
        with PostgresLogicalDrill(stack, history) as drill:
            drill.backup()
            monkeypatch.setattr(target, interrupt)
            drill.copy()
            drill.disaster()
            drill.restore()
    assert any(s.startswith("container") for s in seen) and any(s.startswith("volume") for s in seen)
    if when == "provision":
        assert any("restored" in s for s in seen), seen
    assert left_by(docker_client, drill) == []
    assert drill_runs(history)[0].step(when).outcome == "fail"


def redis_backed_up(stack, history, drill):
    with RedisWrites(history, **stack.redis.conninfo, rate_hz=50):
        time.sleep(0.5)
        drill.backup()


@pytest.mark.parametrize("kind", [RedisRdbDrill, RedisAofDrill])
def test_a_flipped_byte_in_a_redis_backups_copy_stops_the_restore(stack_factory, history, kind):
    """One byte of the copied dump.rdb, or of the copied AOF's incremental file, inverted: the restore refuses it."""
    stack = stack_factory()
    with kind(stack, history) as drill:
        redis_backed_up(stack, history, drill)
        drill.copy()
        victim = next(p for p in drill.copy_files() if p.endswith((".rdb", ".incr.aof")) and "base" not in p)
        drill.flip_byte(victim)
        with pytest.raises(DrillError, match=rf"fails its SHA-256 manifest: {victim}: sha256"):
            drill.restore()
    assert drill_runs(history)[0].outcome == "fail"


def test_an_rdb_damaged_before_its_manifest_was_taken_is_caught_by_redis_check_rdb(stack_factory, history):
    """A byte flipped where the backup was written fools the manifest, not redis-check-rdb's checksum."""
    stack = stack_factory()
    with RedisRdbDrill(stack, history) as drill:
        redis_backed_up(stack, history, drill)
        drill.flip_byte("dump.rdb", in_backup=True)
        drill.copy()
        with pytest.raises(DrillError, match="redis-check-rdb of the copy failed"):
            drill.restore()


def test_an_rdb_restored_into_a_server_with_aof_on_is_caught(stack_factory, history):
    """The trap: with appendonly yes the fresh server ignores dump.rdb and starts empty; verify refuses it."""
    stack = stack_factory()
    with RedisRdbDrill(stack, history, restore_args=("--appendonly", "yes")) as drill:
        redis_backed_up(stack, history, drill)
        drill.copy()
        drill.disaster()
        drill.restore()
        with pytest.raises(DrillError, match=r"fails verification: 1 of 1 keys missing \(dr:writes\)"):
            drill.verify()
    assert drill_runs(history)[0].step("restore").details["keys"] == 0


def pitr_backed_up(stack, history, drill):
    with PostgresInserts(history, **stack.postgres.conninfo, rate_hz=50):
        time.sleep(0.3)
        drill.backup()
        time.sleep(0.3)
        drill.mark_target()


@pytest.mark.parametrize("victim", ["base/global/pg_control", "wal/"])
def test_a_flipped_byte_in_the_base_backups_or_a_wal_segments_copy_stops_the_restore(stack_factory, history, victim):
    """One byte of the copied base backup, or of an archived WAL segment, inverted: the restore refuses it."""
    stack = stack_factory(PostgresPitrDrill.stack_options())
    with PostgresPitrDrill(stack, history) as drill:
        pitr_backed_up(stack, history, drill)
        drill.copy()
        path = victim if victim != "wal/" else next(p for p in drill.copy_files()
                                                    if p.startswith("wal/") and not p.endswith(".history"))
        drill.flip_byte(path)
        with pytest.raises(DrillError, match=rf"fails its SHA-256 manifest: {path}: sha256"):
            drill.restore()


def test_a_base_backup_damaged_before_its_manifest_was_taken_is_caught_by_pg_verifybackup(stack_factory, history):
    """A byte flipped where the base backup was written fools the SHA-256 manifest, not pg_verifybackup."""
    stack = stack_factory(PostgresPitrDrill.stack_options())
    with PostgresPitrDrill(stack, history) as drill:
        pitr_backed_up(stack, history, drill)
        drill.flip_byte("base/global/pg_control", in_backup=True)
        drill.copy()
        with pytest.raises(DrillError, match="pg_verifybackup of the copy failed.*pg_control"):
            drill.restore()


def test_a_recovery_that_replays_past_its_target_fails_writes_after_restore_point(stack_factory, history):
    """The restore point is recorded, but recovery is (wrongly) aimed 1 s of inserts later: the
    inserts invoked after the restore point survive, and the PITR check FAILs naming them, while
    nothing acknowledged before the point is lost (so only the right limit breaks)."""
    stack = stack_factory(PostgresPitrDrill.stack_options())
    with PostgresPitrDrill(stack, history) as drill:
        with PostgresInserts(history, **stack.postgres.conninfo, rate_hz=50):
            time.sleep(0.3)
            drill.backup()
            time.sleep(0.3)
            drill.mark_target()
            time.sleep(1.0)
            with stack.postgres.connect() as conn:   # the drill's bug: a later target than the one recorded
                drill.target = conn.execute("SELECT clock_timestamp()::text").fetchone()[0]
            time.sleep(0.3)
        drill.copy()
        drill.disaster()
        drill.restore()
        drill.verify()
        observed = read_back_postgres(**stack.postgres.conninfo)
    verdicts = {v.metric: v for v in check(objective(writes_after_restore_point="0 writes",
                                                      lost_before_restore_point="0 writes"),
                                           history, f="insert", observed=observed)}
    after = verdicts["writes_after_restore_point"]
    assert after.validity == "fail" and after.measured >= 30, after   # about 50/s for 1 s
    assert verdicts["lost_before_restore_point"].validity == "pass", verdicts["lost_before_restore_point"]


@pytest.mark.run_alone   # it reads the engine's dangling volumes: a sibling worker's cleanup passes through them
def test_drills_leave_no_dangling_volume(stack_factory, history, docker_client):
    """A whole PITR drill (which mounts volumes into tool, loader and restored containers) adds no
    dangling volume to the engine: anonymous volumes of images that declare VOLUME go with their
    containers, named ones with the drill."""
    before = {v.name for v in docker_client.volumes.list(filters={"dangling": True})}
    stack = stack_factory(PostgresPitrDrill.stack_options())
    with PostgresPitrDrill(stack, history) as drill:
        pitr_backed_up(stack, history, drill)
        drill.copy()
        drill.disaster()
        drill.restore()
        drill.verify()
    stack.close()                                   # idempotent; the fixture closes it again
    added = {v.name for v in docker_client.volumes.list(filters={"dangling": True})} - before
    assert added == set(), f"dangling volumes left: {sorted(added)}"


def test_a_pitr_drill_on_a_stack_without_its_archive_says_how_to_build_one(stack_factory, history, docker_client):
    """Bad input: a PITR drill on a default stack (no WAL archive) is one line naming the fix, and
    the drill made nothing."""
    stack = stack_factory()
    with pytest.raises(DrillError, match=r"no WAL archive volume at /var/lib/postgresql/wal-archive.*"
                                         r"PostgresPitrDrill\.stack_options\(\)") as err:
        PostgresPitrDrill(stack, history)
    assert "\n" not in str(err.value)
    mine = [DRILL_LABEL, f"{RUN_LABEL}={stack.run_id}", f"{WORKER_LABEL}={worker_id()}"]  # not a sibling worker's drills
    assert docker_client.volumes.list(filters={"label": mine}) == []
