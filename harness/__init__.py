"""dr-harness: disaster-recovery and chaos scenarios on real Docker stacks, judged against
documented objectives.

The public API, re-exported here (guarded by tests/unit/test_exported_members.py):

    stack      Stack, StackOptions                          PostgreSQL + Redis behind Toxiproxy
    faults     Down, Latency, Timeout, ResetPeer, Bandwidth, Slicer, LimitData, SlowClose,
               Kill, Stop, Pause, Restart, Partition, MemoryLimit, CpuQuota, DiskFull
    workloads  Workload (base), PostgresInserts, PostgresReads, RedisWrites, RedisReads,
               HttpProbe, read_back_postgres, read_back_redis
    history    History, Op, now
    judging    check, load_objectives, Objectives, Objective, Verdict, assert_met
    errors     HarnessError and its subclasses
"""

from harness.checkers import check
from harness.clients import read_back_postgres, read_back_redis
from harness.errors import (ConfigError, DrillError, EngineUnavailable, FaultError, HarnessError,
                            ImageUnavailable, PortInUse, ServiceNotReady)
from harness.faults import (Bandwidth, CpuQuota, DiskFull, Down, Fault, FaultRecord, Kill, Latency,
                            LimitData, MemoryLimit, Partition, Pause, ResetPeer, Restart, Slicer,
                            SlowClose, Stop, Timeout)
from harness.history import History, Op, now
from harness.http_probe import HttpProbe
from harness.objectives import Objective, Objectives, load_objectives
from harness.postgres_workload import PostgresInserts, PostgresReads
from harness.redis_workload import RedisReads, RedisWrites
from harness.stack import Stack, StackOptions
from harness.verdicts import Verdict, assert_met
from harness.workload import Workload

__all__ = [
    "Bandwidth", "ConfigError", "CpuQuota", "DiskFull", "Down", "DrillError", "EngineUnavailable",
    "Fault", "FaultError", "FaultRecord", "HarnessError", "History", "HttpProbe", "ImageUnavailable",
    "Kill", "Latency", "LimitData", "MemoryLimit", "Objective", "Objectives", "Op", "Partition",
    "Pause", "PortInUse", "PostgresInserts", "PostgresReads", "RedisReads", "RedisWrites",
    "ResetPeer", "Restart", "ServiceNotReady", "Slicer", "SlowClose", "Stack", "StackOptions",
    "Stop", "Timeout", "Verdict", "Workload", "assert_met", "check", "load_objectives", "now",
    "read_back_postgres", "read_back_redis",
]
