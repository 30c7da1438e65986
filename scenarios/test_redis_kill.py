"""Redis with append-only persistence (fsync always) is killed: every acknowledged write survives."""

import time

import pytest

from harness import RedisWrites, StackOptions, read_back_redis


@pytest.mark.docker
@pytest.mark.objectives("redis-kill-persistence")
def test_acknowledged_redis_writes_survive_a_kill(stack_factory, history, judge):
    """After SIGKILL and restart, every acknowledged RPUSH is in the list."""
    stack = stack_factory(StackOptions(redis_args=("--appendonly", "yes", "--appendfsync", "always")))
    with RedisWrites(history, **stack.redis.conninfo, rate_hz=50):
        time.sleep(1.5)
        with stack.redis.kill():
            time.sleep(0.5)
        time.sleep(3.0)
    judge("redis-kill-persistence", f="write", observed=read_back_redis(**stack.redis.conninfo))
