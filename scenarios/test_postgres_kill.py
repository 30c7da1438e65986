"""PostgreSQL is SIGKILLed under acknowledged inserts: nothing acknowledged is lost."""

import time

import pytest

from harness import PostgresInserts, read_back_postgres


@pytest.mark.docker
@pytest.mark.objectives("pg-kill-durability")
def test_acknowledged_inserts_survive_sigkill(stack, history, judge):
    """After a SIGKILL and restart every acknowledged insert is there; recovery time is measured."""
    with PostgresInserts(history, **stack.postgres.conninfo, rate_hz=50):
        time.sleep(1.5)
        with stack.postgres.kill():          # SIGKILL; the heal starts the container again
            time.sleep(0.5)
        time.sleep(6.0)
    judge("pg-kill-durability", f="insert", observed=read_back_postgres(**stack.postgres.conninfo))
