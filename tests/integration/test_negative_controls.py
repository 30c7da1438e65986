"""Negative controls: deliberately fragile configurations on which the harness must report a FAIL.

Each test runs a real workload against a real stack, injects a real fault, and asserts that the
checker the robust scenario relies on returns a "fail" verdict here. If one of these passes, the
corresponding scenario's PASS means nothing.
"""

import time

import pytest

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


def test_recovery_objective_tighter_than_measured_is_reported(stack, history, tmp_path):
    """An RTO limit of 1 ms is tighter than any real restart: the breach is reported."""
    path = tmp_path / "objectives.toml"
    path.write_text('[objectives.too-tight]\ndescription = "An impossible RTO."\n'
                    'owner = "tests"\n[objectives.too-tight.limits]\nrto = "1 ms"\n')
    with PostgresInserts(history, **stack.postgres.conninfo, rate_hz=50):
        time.sleep(1.0)
        with stack.postgres.kill():
            time.sleep(0.3)
        time.sleep(4.0)
    verdict = _failed(check(load_objectives(path)["too-tight"], history, f="insert"), "rto")
    assert verdict.validity == "fail", verdict
    assert "rto" in str(verdict)
