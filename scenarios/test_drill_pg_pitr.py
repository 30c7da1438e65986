"""PostgreSQL point-in-time recovery: base backup, WAL archive, recovery to a time between two writes."""

import time

import pytest

from harness import PostgresInserts, PostgresPitrDrill, read_back_postgres


@pytest.mark.docker
@pytest.mark.objectives("pg-pitr-drill")
def test_recovery_to_a_target_time_keeps_exactly_what_came_before(stack_factory, history, judge):
    """Every insert acknowledged before the target is back, none invoked after it; the server promoted."""
    stack = stack_factory(PostgresPitrDrill.stack_options())
    with PostgresPitrDrill(stack, history) as drill:
        with PostgresInserts(history, **stack.postgres.conninfo, rate_hz=50):
            time.sleep(0.5)
            drill.backup()                 # pg_basebackup while inserts continue
            time.sleep(1.0)
            drill.mark_target()            # the server's clock: the recovery target
            time.sleep(1.0)
        drill.copy()                       # WAL switched and archived, then both copied with a manifest
        drill.disaster()
        drill.restore()                    # pg_verifybackup, base backup + recovery.signal, replay, promote
        drill.verify()
        observed = read_back_postgres(**stack.postgres.conninfo)
    judge("pg-pitr-drill", f="insert", observed=observed)
