"""dr-harness: disaster-recovery and chaos scenarios on real Docker stacks, judged against
documented objectives.

The public API, re-exported here (guarded by tests/unit/test_exported_members.py):

    stack      Stack, StackOptions, ServiceSpec, Ready      declared services behind Toxiproxy
    faults     Down, Latency, Timeout, ResetPeer, Bandwidth, Slicer, LimitData, SlowClose,
               Kill, Stop, Pause, Restart, Crash, Partition, MemoryLimit, CpuQuota, DiskFull
    workloads  Workload (base), PostgresInserts, PostgresReads, RedisWrites, RedisReads,
               HttpProbe, HttpWrites, read_back_postgres, read_back_redis, ElasticsearchIndexes,
               ElasticsearchSearches, read_back_elasticsearch
    drills     Drill, PostgresLogicalDrill, PostgresPitrDrill, RedisRdbDrill, RedisAofDrill,
               ElasticsearchSnapshotDrill
    history    History, Op, now
    judging    check, load_objectives, Objectives, Objective, Verdict, assert_met
    errors     HarnessError and its subclasses

Each noun of the model has one folder: ``stack/``, ``faults/``, ``workloads/``, ``drills/``, ``judging/``,
``report/`` and ``plugin/`` (the pytest plugin, which nothing else imports); ``history.py``,
``errors.py`` and the Toxiproxy client ``toxiproxy.py`` are the ground floor that every folder may
use. ``tests/unit/test_layout.py`` keeps the arrows one way.
"""

from harness.drills import (Drill, ElasticsearchSnapshotDrill, PostgresLogicalDrill, PostgresPitrDrill, RedisAofDrill,
                            RedisRdbDrill)
from harness.errors import (ConfigError, DrillError, EngineUnavailable, FaultError, HarnessError,
                            ImageUnavailable, PortInUse, ServiceNotReady)
from harness.faults import (Bandwidth, CpuQuota, Crash, DiskFull, Down, Fault, FaultRecord, Kill, Latency, LimitData,
                            MemoryLimit, Partition, Pause, ResetPeer, Restart, Slicer, SlowClose, Stop,
                            Timeout)
from harness.history import History, Op, now
from harness.judging import Objective, Objectives, Verdict, assert_met, check, load_objectives
from harness.stack import Ready, ServiceSpec, Stack, StackOptions
from harness.workloads.elasticsearch import (ElasticsearchIndexes, ElasticsearchSearches,
                                             read_back_elasticsearch)
from harness.workloads import (HttpProbe, HttpWrites, PostgresInserts, PostgresReads, RedisReads, RedisWrites, Workload,
                               read_back_postgres, read_back_redis)

__all__ = [
    "Bandwidth", "ConfigError", "CpuQuota", "Crash", "DiskFull", "Down", "Drill", "DrillError",
    "ElasticsearchIndexes", "ElasticsearchSearches", "ElasticsearchSnapshotDrill", "EngineUnavailable",
    "Fault", "FaultError", "FaultRecord", "HarnessError", "History", "HttpProbe", "HttpWrites", "ImageUnavailable",
    "Kill", "Latency", "LimitData", "MemoryLimit", "Objective", "Objectives", "Op", "Partition",
    "Pause", "PortInUse", "PostgresInserts", "PostgresLogicalDrill", "PostgresPitrDrill", "PostgresReads",
    "Ready", "RedisAofDrill", "RedisRdbDrill", "RedisReads", "RedisWrites", "ResetPeer", "Restart",
    "ServiceNotReady", "ServiceSpec", "Slicer", "SlowClose", "Stack", "StackOptions",
    "Stop", "Timeout", "Verdict", "Workload", "assert_met", "check", "load_objectives", "now",
    "read_back_elasticsearch", "read_back_postgres", "read_back_redis",
]
