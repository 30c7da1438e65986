"""The data services, declared like any other service (see ``declare.py``).

Each follows its official image's contract; credentials are generated per stack and reach the
server through the ``{password}`` placeholder::

    postgres(args=("-c", "synchronous_commit=off"))    # PostgreSQL 15, data on a named volume
    redis(args=("--appendonly", "yes"))                # Redis 7.0, requirepass, protected mode off
    elasticsearch(heap_mb=512)                         # single node, security off, path.repo set
    reference_app()                                    # app/, the reference service under test
    reference_app(fragile=True)                        # its fragile mode: the negative controls' target
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from harness.stack.declare import Ready, ServiceSpec
from harness.stack.images import SPECS

POSTGRES_DATA = "/var/lib/postgresql/data"
REDIS_DATA = "/data"
ELASTICSEARCH_DATA = "/usr/share/elasticsearch/data"
ELASTICSEARCH_REPO = "/usr/share/elasticsearch/snapshots"   # path.repo: snapshot drills write here

# PostgreSQL answers an SSLRequest (length 8, code 80877103) with one byte, S or N, before any
# authentication: how the fault probes see the path. Redis answers PING (PONG, or NOAUTH).
POSTGRES_HELLO = struct.pack("!ii", 8, 80877103)
# The image's default. Tried 400 (room for the connects queued while a paused server was frozen):
# on thaw the server then forks a backend for each of them, which on 2 cores made recovery later,
# not sooner, than refusing the excess ("too many clients"). Drills restore with the same value.
MAX_CONNECTIONS = 100


def postgres(args: Sequence[str] = (), *, data_tmpfs_mb: int | None = None,
             extra_volumes: Sequence[str] = ()) -> ServiceSpec:
    """PostgreSQL 15 (official image contract: POSTGRES_USER/PASSWORD/DB, PGDATA, port 5432);
    ``extra_volumes``: more paths that get a named volume each (a drill's WAL archive)."""
    extra = {f"extra{number}": path for number, path in enumerate(extra_volumes)}
    return ServiceSpec(
        "postgres", 5432, image=SPECS["postgres"], kind="postgres", user="harness", dbname="harness",
        environment={"POSTGRES_USER": "harness", "POSTGRES_DB": "harness",
                     "POSTGRES_PASSWORD": "{password}"},
        command=("postgres", "-c", f"max_connections={MAX_CONNECTIONS}", *args),
        volumes=({} if data_tmpfs_mb else {"data": POSTGRES_DATA}) | extra,
        tmpfs={POSTGRES_DATA: f"{data_tmpfs_mb}m"} if data_tmpfs_mb else {},
        ready=Ready.sql("SELECT 1"), data_dir=POSTGRES_DATA, hello=POSTGRES_HELLO, proxy_port=15432,
        url="postgresql://{user}:{password}@{host}:{port}/{dbname}")


def redis(args: Sequence[str] = ()) -> ServiceSpec:
    """Redis 7.0 with a password; ``--protected-mode no`` as the official image does."""
    return ServiceSpec(
        "redis", 6379, image=SPECS["redis"], kind="redis",
        command=("redis-server", "--protected-mode", "no", "--requirepass", "{password}", *args),
        volumes={"data": REDIS_DATA}, ready=Ready.ping(), data_dir=REDIS_DATA, proxy_port=16379,
        url="redis://:{password}@{host}:{port}/0")


def elasticsearch(*, heap_mb: int = 512) -> ServiceSpec:
    """Elasticsearch 8, single node, security off (tests only), heap fixed, ``path.repo`` set.

    ``action.destructive_requires_name=false`` lets ``reset()`` delete every index between
    scenarios; the disk threshold is off so that a nearly full test disk does not block writes.
    """
    return ServiceSpec(
        "elasticsearch", 9200, image=SPECS["elasticsearch"], kind="elasticsearch",
        environment={"discovery.type": "single-node", "xpack.security.enabled": "false",
                     "ES_JAVA_OPTS": f"-Xms{heap_mb}m -Xmx{heap_mb}m", "path.repo": ELASTICSEARCH_REPO,
                     "action.destructive_requires_name": "false",
                     "cluster.routing.allocation.disk.threshold_enabled": "false"},
        volumes={"data": ELASTICSEARCH_DATA, "snapshots": ELASTICSEARCH_REPO},
        ready=Ready.http("/_cluster/health?wait_for_status=yellow&timeout=1s"),
        data_dir=ELASTICSEARCH_DATA, hello=b"GET / HTTP/1.0\r\n\r\n", proxy_port=19200,
        ready_timeout_s=180.0)


APP_PID_FILE = "/tmp/app.pid"   # where the app's image writes its server's PID (Crash kills it)
# The reference service's settings in a scenario stack: a short request deadline and breaker reset
# so a scenario sees a whole fault and recovery in seconds; cached copies go stale after 0.5 s, so
# reads ask PostgreSQL (and a failing PostgreSQL is seen as stale reads, not fresh cache hits).
APP_ENVIRONMENT = {"APP_REQUEST_DEADLINE_S": "2.0", "APP_PG_TIMEOUT_S": "0.5", "APP_REDIS_TIMEOUT_S": "0.2",
                   "APP_BREAKER_RESET_S": "1.0", "APP_CACHE_FRESH_S": "0.5", "APP_LOG_LEVEL": "warning"}


def reference_app(*, fragile: bool = False, name: str = "app", search: str | None = None,
                  environment: dict[str, str] | None = None) -> ServiceSpec:
    """The reference service in app/ (its image from harness/stack/recipes/app), reaching PostgreSQL and
    Redis (and Elasticsearch when ``search`` names that service) through their proxies.

    Sound: restarted by Docker when its process crashes (``on-failure``). ``fragile=True`` is
    ``APP_FRAGILE=1`` (no timeouts, fallbacks, breakers or retries) deployed without a restart
    policy: what the negative controls must catch.
    """
    env = {"DATABASE_URL": "{postgres.url}", "REDIS_URL": "{redis.url}", **APP_ENVIRONMENT,
           "APP_FRAGILE": "1" if fragile else "0", **(environment or {})}
    if search:
        env["ELASTICSEARCH_URL"] = "{" + search + ".url}"
    return ServiceSpec(name, 8080, image=SPECS["app"], environment=env, ready=Ready.http("/ready"),
                       restart="no" if fragile else "on-failure", depends_on=("postgres", "redis"))
