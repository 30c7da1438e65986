"""Backup-restore drills: backup, copy, disaster, restore, verify, each step recorded in the history.

    base.py        the contract (steps as ``drill`` ops, two copies, cleanup on any exit)
    manifest.py    the SHA-256 manifest a copy is checked against (pure)
    containers.py  labelled volumes, fresh containers and commands inside them
    pg_server.py   a fresh PostgreSQL, waiting for it, the fingerprint of a database
    pg_logical.py  PostgresLogicalDrill: pg_dump -Fc / pg_restore -j
    pg_pitr.py     PostgresPitrDrill: pg_basebackup, WAL archive, recovery to a target time
    redis_files.py RedisRdbDrill (BGSAVE, dump.rdb) and RedisAofDrill (appendonlydir)
    es_snapshot.py ElasticsearchSnapshotDrill: fs repository snapshot, restored into a fresh node
"""

from harness.drills.base import Drill
from harness.drills.es_snapshot import ElasticsearchSnapshotDrill
from harness.drills.manifest import Manifest
from harness.drills.pg_logical import PostgresLogicalDrill
from harness.drills.pg_pitr import PostgresPitrDrill
from harness.drills.redis_files import RedisAofDrill, RedisRdbDrill

__all__ = ["Drill", "ElasticsearchSnapshotDrill", "Manifest", "PostgresLogicalDrill", "PostgresPitrDrill", "RedisAofDrill", "RedisRdbDrill"]
