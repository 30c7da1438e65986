"""PostgreSQL pieces every PostgreSQL drill needs: a fresh server, a way to wait for it, and the
fingerprint of a database (row count and content checksum per table) to compare a restore with.

The fingerprint of a table is ``count(*)`` and the sum of the first 60 bits of each row's ``md5``
(rows rendered as text with TimeZone UTC): independent of row order, changed by any missing, extra
or altered row. It is taken on the source inside the backup's own snapshot and on the restored
server through its Toxiproxy proxy, so equal fingerprints mean the restore holds what the backup
held.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from docker.models.containers import Container
from psycopg import sql

from harness.drills.containers import Resources
from harness.errors import DrillError

Fingerprint = dict[str, tuple[int, int]]   # "schema.table" -> (rows, checksum)
READY_TIMEOUT_S = 120.0
_TABLES = ("SELECT schemaname, tablename FROM pg_tables "
           "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2")


def connect(conninfo: dict[str, Any], *, autocommit: bool = True, timeout_s: int = 5) -> psycopg.Connection:
    """A connection with TimeZone UTC, so that rows render the same on every server."""
    return psycopg.connect(**conninfo, connect_timeout=timeout_s, autocommit=autocommit,
                           options="-c TimeZone=UTC")


def fingerprint(conn: psycopg.Connection) -> Fingerprint:
    """Rows and content checksum of every user table, read in the connection's current snapshot."""
    out: Fingerprint = {}
    for schema, table in conn.execute(_TABLES).fetchall():
        query = sql.SQL("SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint), 0) "
                        "FROM {}.{} AS t").format(sql.Identifier(schema), sql.Identifier(table))
        rows, checksum = conn.execute(query).fetchone()
        out[f"{schema}.{table}"] = (int(rows), int(checksum))
    return out


def compare(expected: Fingerprint, found: Fingerprint) -> list[str]:
    """Why ``found`` (the restore) is not ``expected`` (the backup); empty when they agree."""
    problems = []
    for table in sorted(expected):
        if table not in found:
            problems.append(f"table {table} is missing ({expected[table][0]} rows in the backup)")
        elif found[table] != expected[table]:
            problems.append(f"table {table} has {found[table][0]} rows, checksum {found[table][1]:x}; "
                            f"the backup had {expected[table][0]} rows, checksum {expected[table][1]:x}")
    problems += [f"table {t} was not in the backup" for t in sorted(set(found) - set(expected))]
    return problems


def fresh_server(resources: Resources, image: str, service: Any, *, volume: str,
                 command: list[str] | None = None) -> Container:
    """A new PostgreSQL container with the service's credentials and network alias on ``volume``."""
    env = {"POSTGRES_USER": service.user, "POSTGRES_PASSWORD": service.password, "POSTGRES_DB": service.dbname}
    return resources.container(image, name="restored", command=command,
                               volumes={volume: f"{service.spec.data_dir}:rw"}, environment=env,
                               aliases=(service.spec.name,), port=service.spec.port)


def wait_ready(box: Container, conninfo: dict[str, Any], *, timeout_s: float = READY_TIMEOUT_S,
               until: str = "SELECT 1") -> float:
    """Poll until ``until`` answers a true value on the server (bounded); returns the seconds waited."""
    began = time.monotonic()
    last = "no attempt"
    while time.monotonic() - began < timeout_s:
        box.reload()
        if box.status not in ("running", "created"):
            break
        try:
            with connect(conninfo, timeout_s=2) as conn:
                row = conn.execute(until).fetchone()
                if row and row[0]:
                    return time.monotonic() - began
                last = f"{until!r} answered {row!r}"
        except psycopg.Error as exc:
            last = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        time.sleep(0.05)
    tail = box.logs(tail=8).decode("utf-8", "replace").strip().replace("\n", " | ")
    raise DrillError(f"the restored PostgreSQL did not answer within {timeout_s:g} s (status {box.status}; "
                     f"last: {last}); last log lines: {tail}", where=f"container {box.name}",
                     fix="read the container's log for why the restored server does not start")


def direct_conninfo(box: Container, service: Any) -> dict[str, Any]:
    """How the host reaches ``box`` directly on its 127.0.0.1 port (bypassing Toxiproxy)."""
    box.reload()
    port = int(box.ports[f"{service.spec.port}/tcp"][0]["HostPort"])
    return service.conninfo | {"port": port}
