"""PostgreSQL's data directory fills up: writes are refused cleanly and resume when space returns."""

import time

import pytest

from harness import PostgresInserts, StackOptions, read_back_postgres


@pytest.mark.docker
@pytest.mark.objectives("pg-disk-full")
def test_disk_full_refuses_writes_then_recovers(stack_factory, history, judge):
    """While the disk is full inserts fail (none acknowledged is lost) and succeed again after."""
    stack = stack_factory(StackOptions(postgres_data_tmpfs_mb=160))
    with PostgresInserts(history, **stack.postgres.conninfo, rate_hz=20, payload_bytes=100_000):
        time.sleep(1.0)
        with stack.postgres.disk_full():
            time.sleep(3.0)
        time.sleep(5.0)
    refused = [op for op in history.ops if op.f == "insert" and op.type == "fail"]
    assert refused, "no insert was refused while the disk was full: the fault did not bite"
    judge("pg-disk-full", f="insert", observed=read_back_postgres(**stack.postgres.conninfo))
