"""A 300 ms latency toxic on PostgreSQL's proxy is what the client sees."""

import time

import pytest

from harness import PostgresReads


@pytest.mark.docker
@pytest.mark.objectives("pg-latency-visible")
def test_latency_toxic_is_seen_by_the_client(stack, history, judge):
    """With 300 ms of downstream latency the client's median query time is 300 ms +-50."""
    with PostgresReads(history, **stack.postgres.conninfo, rate_hz=10):
        time.sleep(1.0)
        with stack.postgres.latency(latency_ms=300):
            time.sleep(3.0)
        time.sleep(1.0)
    judge("pg-latency-visible", f="read")
