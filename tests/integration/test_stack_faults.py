"""The stack's fault helpers act on the real services and heal them (the scenario-facing API)."""

import time

import psycopg
import pytest
import redis

pytestmark = pytest.mark.docker


def test_partition_cuts_the_service_off_its_proxy_then_heals(stack, history):
    """A partitioned PostgreSQL is unreachable through its proxy; after the heal it answers again."""
    with stack.postgres.partition() as fault:
        with pytest.raises(psycopg.OperationalError):
            stack.postgres.probe()
    assert fault.record.healed_at is not None
    stack.postgres.probe()
    steps = [(op.f, op.type) for op in history.ops if op.process == "nemesis" and op.type != "invoke"]
    assert steps == [("inject", "ok"), ("probe", "ok"), ("heal", "ok")]
    assert fault.record.in_effect and "no longer attached to network" in fault.record.evidence


def test_restart_and_resource_limits_leave_a_working_service(stack, history):
    """Restart, a memory limit and a CPU quota through the stack leave Redis answering."""
    with stack.redis.memory_limit(mem_bytes=256 * 1024 * 1024):
        stack.redis.probe()
    with stack.redis.cpu_quota(cpus=0.5):
        stack.redis.probe()
    with stack.redis.restart():
        pass
    deadline = time.monotonic() + 10
    while True:
        try:
            stack.redis.probe()
            break
        except redis.RedisError:
            assert time.monotonic() < deadline, "redis did not answer within 10 s of a restart"
            time.sleep(0.1)
    assert [r.target for r in stack.fault_records] == ["redis", "redis", "redis"]


def test_reset_heals_what_a_scenario_left_behind(stack):
    """A fault left injected (no heal) is healed by the next reset: proxy enabled, container unpaused."""
    stack.postgres.pause().inject()
    stack.redis.down().inject()
    elapsed = stack.reset()
    stack.postgres.probe()
    stack.redis.probe()
    assert elapsed < 30
