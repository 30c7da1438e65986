"""PostgreSQL is frozen (docker pause): clients with timeouts time out, then recover on unpause."""

import time

import pytest

from harness import PostgresReads


@pytest.mark.docker
@pytest.mark.objectives("pg-pause-timeouts")
def test_paused_postgres_times_out_then_recovers(stack, history, judge):
    """Reads with a 500 ms deadline fail in bounded time while paused and succeed soon after unpause."""
    with PostgresReads(history, **stack.postgres.conninfo, statement_timeout_ms=500, rate_hz=20):
        time.sleep(1.0)
        with stack.postgres.pause():
            time.sleep(2.0)
        time.sleep(3.0)
    judge("pg-pause-timeouts", f="read")
