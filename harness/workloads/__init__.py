"""Workloads: open-loop fixed-rate clients that record every attempt into the history.

    base.py      the open-loop scheduler (Workload, Attempt) shared by every workload
    postgres.py  PostgresInserts, PostgresReads
    redis.py     RedisWrites, RedisReads
    http.py      HttpProbe, HttpWrites (status and X-Degraded recorded per response)
    clients.py   client adapters: endpoints, error classification (ok/fail/info), read-backs
"""

from harness.workloads.base import Workload
from harness.workloads.clients import read_back_postgres, read_back_redis
from harness.workloads.http import HttpProbe, HttpWrites
from harness.workloads.postgres import PostgresInserts, PostgresReads
from harness.workloads.redis import RedisReads, RedisWrites

__all__ = ["HttpProbe", "HttpWrites", "PostgresInserts", "PostgresReads", "RedisReads", "RedisWrites", "Workload",
           "read_back_postgres", "read_back_redis"]
