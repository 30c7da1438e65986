"""Redis goes away behind its proxy: clients with 100 ms timeouts fail fast, then recover."""

import time

import pytest

from harness import RedisReads


@pytest.mark.docker
@pytest.mark.objectives("redis-outage-fail-fast")
def test_redis_outage_fails_fast_and_recovers(stack, history, judge):
    """During a Redis outage reads fail within 250 ms (p99) and succeed again within 1 s of the heal."""
    with RedisReads(history, **stack.redis.conninfo, socket_timeout_s=0.1, rate_hz=50):
        time.sleep(1.0)                      # steady state
        with stack.redis.down():
            time.sleep(2.0)                  # the outage
        time.sleep(2.0)                      # recovery
    judge("redis-outage-fail-fast", f="read")
