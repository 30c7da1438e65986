"""Negative controls: deliberately fragile configurations on which the harness must report a FAIL.

Each test runs a real workload against a real stack, injects a real fault, and asserts that the
checker the robust scenario relies on returns a "fail" verdict here. If one of these passes, the
corresponding scenario's PASS means nothing.
"""

import time

import pytest

from harness.history import History, now
from harness.judging.checkers import check
from harness.judging.objectives import load_objectives
from harness.stack.core import StackOptions
from harness.workloads.clients import read_back_postgres, read_back_redis
from harness.workloads.postgres import PostgresInserts
from harness.workloads.redis import RedisReads, RedisWrites

pytestmark = pytest.mark.docker


def _failed(verdicts, metric):
    """The verdict for ``metric``; the test fails loudly if the checker produced none."""
    found = [v for v in verdicts if v.metric == metric]
    assert found, f"no verdict for {metric}: {verdicts}"
    return found[0]


def test_async_commit_postgres_loses_acknowledged_inserts_on_sigkill(stack_factory, history, objectives):
    """synchronous_commit=off with a 10 s WAL writer delay, SIGKILLed: lost acknowledged writes FAIL."""
    stack = stack_factory(StackOptions(postgres_args=("-c", "synchronous_commit=off",
                                                      "-c", "wal_writer_delay=10000")))
    with PostgresInserts(history, **stack.postgres.conninfo, rate_hz=100):
        time.sleep(2.0)
        with stack.postgres.kill():
            time.sleep(0.3)
        time.sleep(4.0)
    observed = read_back_postgres(**stack.postgres.conninfo)
    verdict = _failed(check(objectives["pg-kill-durability"], history, f="insert",
                            observed=observed), "rpo_lost_writes")
    assert verdict.validity == "fail", verdict
    assert verdict.measured and verdict.measured > 0


def test_redis_without_persistence_loses_writes_on_kill(stack_factory, history, objectives):
    """Redis with persistence off (--save "" --appendonly no), killed: lost writes FAIL."""
    stack = stack_factory(StackOptions(redis_args=("--save", "", "--appendonly", "no")))
    with RedisWrites(history, **stack.redis.conninfo, rate_hz=50):
        time.sleep(1.5)
        with stack.redis.kill():
            time.sleep(0.3)
        time.sleep(3.0)
    observed = read_back_redis(**stack.redis.conninfo)
    verdict = _failed(check(objectives["redis-kill-persistence"], history, f="write",
                            observed=observed), "rpo_lost_writes")
    assert verdict.validity == "fail", verdict


def test_client_without_timeouts_breaches_latency_under_a_timeout_toxic(stack, history, objectives):
    """A Redis client with no timeouts, blackholed by a timeout toxic, breaches the p99 objective."""
    with RedisReads(history, **stack.redis.conninfo, socket_timeout_s=None,
                    connect_timeout_s=None, rate_hz=20):
        time.sleep(1.0)
        with stack.redis.timeout(timeout_ms=0):
            time.sleep(2.0)
        time.sleep(2.0)
    verdict = _failed(check(objectives["redis-outage-fail-fast"], history, f="read"),
                      "latency_p99_during_fault")
    assert verdict.validity == "fail", verdict
    assert verdict.measured > 1000


def _objective(tmp_path, **limits):
    """A scratch objective ``control`` with exactly ``limits``."""
    path = tmp_path / "objectives.toml"
    body = "".join(f'{name} = "{value}"\n' for name, value in limits.items())
    path.write_text('[objectives.control]\ndescription = "A negative control."\nowner = "tests"\n'
                    f"[objectives.control.limits]\n{body}")
    return load_objectives(path)["control"]


RECOVERY_LIMITS = dict(rto="0.5 s", rto_from_inject="1.2 s", steady_state_after_heal="0.5 s",
                       outage_accuracy="0.3 s", max_error_rate_after_fault="2 %",
                       min_availability_after_fault="98 %")


def _outage_with_late_recovery(stack, history, extra_s: float) -> float:
    """Redis's proxy down for 0.5 s; Redis itself then stays frozen ``extra_s`` more seconds after
    the heal (a paused container, behind the harness's back: no fault record), so the service
    comes back a known time after the heal. Returns that known time, heal to unpause."""
    container = stack.redis.container
    with RedisReads(history, **stack.redis.conninfo, socket_timeout_s=0.1, connect_timeout_s=0.1,
                    rate_hz=100):
        time.sleep(1.0)
        with stack.redis.down() as fault:
            time.sleep(0.5)
            if extra_s:
                container.pause()
        if extra_s:
            time.sleep(extra_s)
            container.unpause()
        back_at = now()
        time.sleep(1.5)
    return back_at - fault.record.healed_at if extra_s else 0.0


def test_a_late_recovery_of_known_length_fails_every_recovery_limit(stack, history, tmp_path):
    """A service that returns 1 s after the heal breaches rto (measured within 0.1 s of the known
    1 s), rto_from_inject, steady state, outage accuracy, error rate and availability after the
    fault; the same outage without the late return passes all six."""
    objective = _objective(tmp_path, **RECOVERY_LIMITS)
    known_s = _outage_with_late_recovery(stack, history, extra_s=1.0)
    late = {v.metric: v for v in check(objective, history, f="read")}
    assert {m: v.validity for m, v in late.items()} == {m: "fail" for m in RECOVERY_LIMITS}, \
        "\n".join(map(str, late.values()))
    assert abs(late["rto"].measured - known_s) <= 0.1, (late["rto"], known_s)

    sound = History()
    stack.bind(sound, [])
    _outage_with_late_recovery(stack, sound, extra_s=0.0)
    prompt = {v.metric: v for v in check(objective, sound, f="read")}
    assert {m: v.validity for m, v in prompt.items()} == {m: "pass" for m in RECOVERY_LIMITS}, \
        "\n".join(map(str, prompt.values()))


def test_async_commit_loses_a_span_of_acknowledged_work_and_sync_commit_none(stack_factory, history,
                                                                              objectives):
    """rpo in seconds: FAIL (> 0 s) with synchronous_commit=off under SIGKILL, PASS (0 s) with the default."""
    spans = {}
    for name, args in (("fragile", ("-c", "synchronous_commit=off", "-c", "wal_writer_delay=10000")),
                       ("sound", ())):
        run = History()
        stack = stack_factory(StackOptions(postgres_args=args))
        stack.bind(run, [])
        with PostgresInserts(run, **stack.postgres.conninfo, rate_hz=100):
            time.sleep(2.0)
            with stack.postgres.kill():
                time.sleep(0.3)
            time.sleep(4.0)
        observed = read_back_postgres(**stack.postgres.conninfo)
        spans[name] = _failed(check(objectives["pg-kill-durability"], run, f="insert", observed=observed), "rpo")
    assert spans["fragile"].validity == "fail" and spans["fragile"].measured > 0, spans["fragile"]
    assert spans["sound"].validity == "pass" and spans["sound"].measured == 0, spans["sound"]


class TimeoutsAreFailures(RedisWrites):
    """A fragile client: it calls every error "definitely not applied", even a timeout after sending."""

    def classify(self, exc: BaseException, *, sent: bool) -> str:
        return "fail"


def test_calling_a_timeout_a_failure_shows_up_as_unexpected_writes(stack, history, tmp_path):
    """Writes whose replies a latency toxic delays past the client's timeout were applied: a client
    that records them as failed gets unexpected_writes FAIL; the honest client (info) gets PASS."""
    objective = _objective(tmp_path, unexpected_writes="0 writes")
    verdicts = {}
    for name, cls in (("fragile", TimeoutsAreFailures), ("sound", RedisWrites)):
        run = History()
        stack.bind(run, [])
        key = f"dr:{name}"
        with cls(run, **stack.redis.conninfo, key=key, socket_timeout_s=0.1, rate_hz=20):
            time.sleep(0.5)
            with stack.redis.latency(300):
                time.sleep(1.5)
            time.sleep(1.0)
        time.sleep(0.5)  # the delayed writes have long been applied
        observed = read_back_redis(**stack.redis.conninfo, key=key)
        verdicts[name] = _failed(check(objective, run, f="write", observed=observed), "unexpected_writes")
    assert verdicts["fragile"].validity == "fail" and verdicts["fragile"].measured > 0, verdicts["fragile"]
    assert verdicts["sound"].validity == "pass", verdicts["sound"]
