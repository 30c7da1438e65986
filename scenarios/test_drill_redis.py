"""Redis drills: an RDB snapshot and the append-only directory, each backed up under writes,
destroyed with the server, restored into a fresh Redis and verified key by key."""

import time

import pytest

from harness import RedisAofDrill, RedisRdbDrill, RedisWrites, read_back_redis


def drill_under_writes(stack, history, drill):
    """Backup while RPUSHes continue; then copy, disaster, restore (checked first), verify."""
    with RedisWrites(history, **stack.redis.conninfo, rate_hz=50):
        time.sleep(1.0)
        drill.backup()                     # CLIENT PAUSE WRITE is the restore point
        time.sleep(0.5)
    drill.copy()
    drill.disaster()
    drill.restore()
    drill.verify()
    return read_back_redis(**stack.redis.conninfo)


@pytest.mark.docker
@pytest.mark.objectives("redis-rdb-drill")
def test_an_rdb_snapshot_restores_what_it_held(stack_factory, history, judge):
    """BGSAVE, redis-check-rdb, restored with appendonly no and AOF turned back on afterwards."""
    stack = stack_factory()
    with RedisRdbDrill(stack, history) as drill:
        observed = drill_under_writes(stack, history, drill)
    judge("redis-rdb-drill", f="write", observed=observed)


@pytest.mark.docker
@pytest.mark.objectives("redis-aof-drill")
def test_an_aof_copy_restores_what_it_held(stack_factory, history, judge):
    """appendfsync everysec; the multi-part AOF directory copied, redis-check-aof, restored with appendonly yes."""
    stack = stack_factory()
    with RedisAofDrill(stack, history) as drill:
        observed = drill_under_writes(stack, history, drill)
    judge("redis-aof-drill", f="write", observed=observed)
