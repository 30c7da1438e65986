"""Elasticsearch, the search index (optional): index an item, search items, over its REST API.

Spoken with httpx rather than the elasticsearch client, whose async transport needs aiohttp: three
requests do not justify it. A missing index is an empty result, not a failure; any other error
status, timeout or connection error is a dependency failure and the service falls back to
PostgreSQL.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from app.resilience import Guard

FAILURES: tuple[type[BaseException], ...] = (httpx.HTTPError, OSError)


def search_body(text: str, limit: int) -> dict[str, Any]:
    """The query: words of ``text`` in the name (boosted) or the description."""
    return {"size": limit, "query": {"multi_match": {"query": text, "fields": ["name^2", "description"]}}}


def hits(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The documents of a search response, in the order Elasticsearch ranked them."""
    return [hit["_source"] for hit in response.get("hits", {}).get("hits", [])]


class SearchIndex:
    """One Elasticsearch index over HTTP; every method goes through ``guard``."""

    def __init__(self, url: str, index: str, guard: Guard, *, transport: httpx.AsyncBaseTransport | None = None):
        self.guard = guard
        self.index = index
        timeout = httpx.Timeout(guard.timeout_s)  # None in fragile mode
        self.client = httpx.AsyncClient(base_url=url.rstrip("/"), timeout=timeout, transport=transport)

    async def close(self) -> None:
        await self.client.aclose()

    async def ping(self) -> None:
        async def once() -> None:
            (await self.client.get("/_cluster/health")).raise_for_status()
        if self.guard.timeout_s is None:
            await once()
        else:
            await asyncio.wait_for(once(), self.guard.timeout_s)

    async def put(self, item: dict[str, Any]) -> None:
        async def once() -> None:
            (await self.client.put(f"/{self.index}/_doc/{item['id']}", json=item)).raise_for_status()
        await self.guard.call(once, idempotent=True)  # a PUT by id: the same document again

    async def search(self, text: str, limit: int) -> list[dict[str, Any]]:
        async def once() -> list[dict[str, Any]]:
            response = await self.client.post(f"/{self.index}/_search", json=search_body(text, limit))
            if response.status_code == 404:
                return []  # nothing indexed yet
            response.raise_for_status()
            return hits(response.json())
        return await self.guard.call(once, idempotent=True)
