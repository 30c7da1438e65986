"""PostgreSQL logical drill: pg_dump under inserts, the server and its data destroyed, pg_restore -j."""

import time

import pytest

from harness import PostgresInserts, PostgresLogicalDrill, read_back_postgres


@pytest.mark.docker
@pytest.mark.objectives("pg-logical-drill")
def test_pg_dump_restores_what_its_snapshot_held(stack_factory, history, judge):
    """Everything acknowledged before the dump's snapshot comes back; RTO and RPO are measured."""
    stack = stack_factory()
    with PostgresLogicalDrill(stack, history, jobs=2) as drill:
        with PostgresInserts(history, **stack.postgres.conninfo, rate_hz=50):
            time.sleep(1.0)
            drill.backup()                 # while the inserts continue
            time.sleep(0.5)
        drill.copy()                       # second copy + SHA-256 manifest
        drill.disaster()                   # container and data volume gone
        drill.restore()                    # manifest check, fresh server, pg_restore -j 2
        drill.verify()                     # row counts and checksums through the proxy
        observed = read_back_postgres(**stack.postgres.conninfo)
    judge("pg-logical-drill", f="insert", observed=observed)
