"""PostgreSQL, the source of truth: the schema, and one method per query, each under the guard.

Reads and the keyed order insert are idempotent and may be retried; creating an item is not (a
retry after a lost answer would create a second item), so it is tried once. The schema is created
at start-up under an advisory lock, so several workers (or replicas) may start at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import asyncpg
from tenacity import AsyncRetrying, retry_if_exception_type, wait_random_exponential

from app.resilience import DependencyUnavailable, Guard

log = logging.getLogger("app.store")

SCHEMA_LOCK = 80_08_2024
SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS orders (
    id              BIGSERIAL PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    fingerprint     TEXT NOT NULL,
    item_id         BIGINT NOT NULL REFERENCES items (id),
    quantity        INTEGER NOT NULL CHECK (quantity > 0),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""
ITEM_COLUMNS = "id, name, description, price_cents, created_at"
ORDER_COLUMNS = "id, idempotency_key, fingerprint, item_id, quantity, created_at"
PUBLIC_ORDER_COLUMNS = "id, idempotency_key, item_id, quantity, created_at"  # what clients see

# What a failing PostgreSQL looks like from asyncpg: refused or reset connections, a server that is
# starting up, shutting down or out of resources. SQL errors (constraints, syntax) are not in here.
FAILURES: tuple[type[BaseException], ...] = (
    OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError, asyncpg.exceptions.InsufficientResourcesError)


class UnknownItem(Exception):
    """An order names an item that does not exist."""


@dataclass(frozen=True)
class PlacedOrder:
    """An order row and whether this call inserted it (False: the key was already used)."""

    order: dict[str, Any]
    fingerprint: str
    created: bool


def _row(record: asyncpg.Record | None) -> dict[str, Any] | None:
    if record is None:
        return None
    row = dict(record)
    if "created_at" in row:
        row["created_at"] = row["created_at"].isoformat()
    return row


class Store:
    """PostgreSQL through an asyncpg pool; every method goes through ``guard``."""

    def __init__(self, dsn: str, guard: Guard, *, pool_max: int, connect_timeout_s: float | None) -> None:
        self.dsn = dsn
        self.guard = guard
        self.pool_max = pool_max
        # asyncpg needs a number; "no timeout" in fragile mode is an hour.
        self.connect_timeout_s = connect_timeout_s if connect_timeout_s is not None else 3600.0
        self.pool: asyncpg.Pool | None = None
        self.schema_ready = asyncio.Event()

    async def open(self) -> None:
        """Create the pool without connecting (min_size=0): the service starts even if PostgreSQL is down."""
        self.pool = await asyncpg.create_pool(self.dsn, min_size=0, max_size=self.pool_max,
                                              timeout=self.connect_timeout_s, command_timeout=None,
                                              max_inactive_connection_lifetime=60.0)

    async def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()

    async def ensure_schema(self, *, wait_max_s: float = 2.0) -> None:
        """Create the tables (idempotently), retrying with jittered waits until PostgreSQL answers."""
        async for attempt in AsyncRetrying(wait=wait_random_exponential(multiplier=0.2, max=wait_max_s),
                                           retry=retry_if_exception_type(Exception), reraise=True):
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    log.info("creating the schema, attempt %d", attempt.retry_state.attempt_number)
                await asyncio.wait_for(self._create_schema(), timeout=max(5.0, self.connect_timeout_s))
        self.schema_ready.set()
        log.info("schema ready")

    async def _create_schema(self) -> None:
        assert self.pool is not None
        conn = await self.pool.acquire()
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
                await conn.execute(SCHEMA)
        except BaseException:
            conn.terminate()  # see _run: never wait for a server that may not answer
            raise
        finally:
            await self.pool.release(conn)

    async def _run(self, query: str, args: tuple[Any, ...], *, many: bool = False, value: bool = False) -> Any:
        """One query on a pooled connection. A connection interrupted by anything but an SQL error
        (a timeout's cancellation, a reset) is terminated at once rather than handed back: asyncpg
        would otherwise wait for the server to confirm the cancellation, which a paused or
        unreachable server never does, and the call would outlive its timeout."""
        assert self.pool is not None
        conn = await self.pool.acquire()
        try:
            if value:
                return await conn.fetchval(query, *args)
            return await (conn.fetch(query, *args) if many else conn.fetchrow(query, *args))
        except asyncpg.PostgresError as exc:
            if isinstance(exc, FAILURES):
                conn.terminate()
            raise
        except BaseException:
            conn.terminate()
            raise
        finally:
            await self.pool.release(conn)

    async def _fetch(self, query: str, *args: Any, many: bool = False) -> Any:
        if not self.schema_ready.is_set():
            raise DependencyUnavailable("postgres", "schema not created yet")
        return await self._run(query, args, many=many)

    async def ping(self) -> None:
        """One round trip (for /ready), bounded by the guard's timeout but not counted by its breaker."""
        if self.guard.timeout_s is None:
            await self._run("SELECT 1", (), value=True)
        else:
            await asyncio.wait_for(self._run("SELECT 1", (), value=True), self.guard.timeout_s)

    async def get_item(self, item_id: int) -> dict[str, Any] | None:
        query = f"SELECT {ITEM_COLUMNS} FROM items WHERE id = $1"
        return _row(await self.guard.call(lambda: self._fetch(query, item_id), idempotent=True))

    async def create_item(self, name: str, description: str, price_cents: int) -> dict[str, Any]:
        query = f"INSERT INTO items (name, description, price_cents) VALUES ($1, $2, $3) RETURNING {ITEM_COLUMNS}"
        row = await self.guard.call(lambda: self._fetch(query, name, description, price_cents), idempotent=False)
        return _row(row)  # type: ignore[return-value]

    async def get_order(self, order_id: int) -> dict[str, Any] | None:
        query = f"SELECT {PUBLIC_ORDER_COLUMNS} FROM orders WHERE id = $1"
        return _row(await self.guard.call(lambda: self._fetch(query, order_id), idempotent=True))

    async def search_items(self, text: str, limit: int) -> list[dict[str, Any]]:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = (f"SELECT {ITEM_COLUMNS} FROM items WHERE name ILIKE $1 OR description ILIKE $1 "
                 f"ORDER BY id LIMIT $2")
        rows = await self.guard.call(lambda: self._fetch(query, pattern, limit, many=True), idempotent=True)
        return [_row(r) for r in rows]  # type: ignore[misc]

    async def place_order(self, key: str, fingerprint: str, item_id: int, quantity: int) -> PlacedOrder:
        """Insert the order unless its key exists; either way return the key's order. Idempotent."""
        return await self.guard.call(lambda: self._place(key, fingerprint, item_id, quantity), idempotent=True)

    async def _place(self, key: str, fingerprint: str, item_id: int, quantity: int) -> PlacedOrder:
        insert = (f"INSERT INTO orders (idempotency_key, fingerprint, item_id, quantity) VALUES ($1, $2, $3, $4) "
                  f"ON CONFLICT (idempotency_key) DO NOTHING RETURNING {ORDER_COLUMNS}")
        try:
            row = await self._fetch(insert, key, fingerprint, item_id, quantity)
        except asyncpg.ForeignKeyViolationError:
            raise UnknownItem(item_id) from None
        created = row is not None
        if row is None:  # the key was used before: a new statement sees the committed row
            row = await self._fetch(f"SELECT {ORDER_COLUMNS} FROM orders WHERE idempotency_key = $1", key)
        order = _row(row)
        assert order is not None, f"order with key {key!r} vanished"
        return PlacedOrder(order, order.pop("fingerprint"), created)
