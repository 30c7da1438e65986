"""Elasticsearch workloads: fixed-rate document indexing and searches through the official client.

Built on ``harness.workloads.base.Workload``. The client is made with ``max_retries=0`` so that it
never retries behind the workload's back. Requests are built by the pure functions
``index_request`` and ``search_request``; failed attempts are classified by
``classify_elasticsearch_error``:

    exception                                                      outcome
    -----------------------------------------------------------------------
    anything raised before the request was sent (sent=False)        fail
    connection refused / name not resolved (only at connect)        fail
    ApiError with a 4xx status (400 mapping, 404, 409 conflict,     fail
      401/403, 429 rejected execution), except 408
    ApiError 408 or 5xx (the server may have applied the write)     info
    ConnectionTimeout, a connection lost after sending, others      info

    with ElasticsearchIndexes(history, url=stack.elasticsearch.url, rate_hz=20):
        ...                                 # inject a fault, wait, heal
    survivors = read_back_elasticsearch(stack.elasticsearch.url)
"""

from __future__ import annotations

import socket
from typing import Any, Literal

from harness.history import History
from harness.workloads.base import Attempt, Workload

__all__ = ["ElasticsearchIndexes", "ElasticsearchSearches", "classify_elasticsearch_error",
           "index_request", "read_back_elasticsearch", "search_request"]

Outcome = Literal["fail", "info"]
DEFAULT_INDEX = "dr-docs"
_NEVER_CONNECTED = (ConnectionRefusedError, socket.gaierror)


def index_request(index: str, doc_id: int, payload_bytes: int = 0) -> dict[str, Any]:
    """The keyword arguments of ``client.index`` for document ``doc_id`` (refreshed at once)."""
    if not isinstance(doc_id, int) or doc_id < 0:
        raise ValueError(f"doc_id must be an integer >= 0, got {doc_id!r}")
    return {"index": index, "id": str(doc_id), "document": {"n": doc_id, "payload": "x" * payload_bytes},
            "refresh": "wait_for"}


def search_request(index: str, doc_id: int | None = None) -> dict[str, Any]:
    """The keyword arguments of ``client.search``: the document ``doc_id``, or any ten."""
    query = {"term": {"n": doc_id}} if doc_id is not None else {"match_all": {}}
    return {"index": index, "query": query, "size": 10, "ignore_unavailable": False}


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception, the errors it wraps (elastic_transport's ``errors``), and their causes."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        todo.extend([item.__cause__, item.__context__, *getattr(item, "errors", ())])
    return seen


def classify_elasticsearch_error(exc: BaseException, *, sent: bool = True) -> Outcome:
    """``fail`` if the Elasticsearch request definitely did not apply, else ``info`` (see table)."""
    if not sent:
        return "fail"
    status = getattr(getattr(exc, "meta", None), "status", None)
    if isinstance(status, int):
        return "fail" if 400 <= status < 500 and status != 408 else "info"
    causes = _causes(exc)
    if any(isinstance(c, _NEVER_CONNECTED) for c in causes):
        return "fail"
    if any(type(c).__name__ == "NewConnectionError" and "refused" in str(c).lower() for c in causes):
        return "fail"   # urllib3's wrapper around a refused connect
    return "info"


class _ElasticsearchWorkload(Workload):
    """Shared by the Elasticsearch workloads: one client without hidden retries."""

    def __init__(self, history: History, *, url: str, index: str, timeout_s: float, process: str,
                 rate_hz: float, max_ops: int, max_seconds: float) -> None:
        super().__init__(history, process=process, rate_hz=rate_hz, max_ops=max_ops,
                         max_seconds=max_seconds)
        self.url, self.index, self.timeout_s = url, index, timeout_s
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            from elasticsearch import Elasticsearch
            self._client = Elasticsearch(self.url, request_timeout=self.timeout_s, max_retries=0,
                                         retry_on_timeout=False)
        return self._client

    def classify(self, exc: BaseException, *, sent: bool) -> str:
        return classify_elasticsearch_error(exc, sent=sent)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
        super().close()


class ElasticsearchIndexes(_ElasticsearchWorkload):
    """Indexes documents 1, 2, 3... into ``index``; ok (value: the id) once acknowledged."""

    f = "index"

    def __init__(self, history: History, *, url: str, index: str = DEFAULT_INDEX, payload_bytes: int = 0,
                 timeout_s: float = 1.0, rate_hz: float = 20, process: str = "es-indexer",
                 max_ops: int = 10_000, max_seconds: float = 300.0) -> None:
        super().__init__(history, url=url, index=index, timeout_s=timeout_s, process=process,
                         rate_hz=rate_hz, max_ops=max_ops, max_seconds=max_seconds)
        self.payload_bytes = payload_bytes

    def value_for(self, number: int) -> int:
        return number

    def attempt(self, attempt: Attempt) -> Any:
        client = self.client()
        request = index_request(self.index, attempt.value, self.payload_bytes)
        attempt.sent = True
        client.index(**request)
        return None   # the ok value is the document's id


class ElasticsearchSearches(_ElasticsearchWorkload):
    """Searches ``index`` (any ten documents) per attempt; the ok value is the number of hits."""

    f = "search"

    def __init__(self, history: History, *, url: str, index: str = DEFAULT_INDEX, timeout_s: float = 1.0,
                 rate_hz: float = 20, process: str = "es-searcher", max_ops: int = 10_000,
                 max_seconds: float = 300.0) -> None:
        super().__init__(history, url=url, index=index, timeout_s=timeout_s, process=process,
                         rate_hz=rate_hz, max_ops=max_ops, max_seconds=max_seconds)

    def attempt(self, attempt: Attempt) -> Any:
        client = self.client()
        attempt.sent = True
        return int(client.search(**search_request(self.index))["hits"]["total"]["value"])


def read_back_elasticsearch(url: str, index: str = DEFAULT_INDEX, timeout_s: float = 10.0) -> set[int]:
    """Every document id in ``index`` (the writes that survived), after a refresh."""
    from elasticsearch import Elasticsearch
    client = Elasticsearch(url, request_timeout=timeout_s, max_retries=0)
    try:
        client.indices.refresh(index=index)
        found = client.search(index=index, query={"match_all": {}}, size=10_000, source=False)
        return {int(hit["_id"]) for hit in found["hits"]["hits"]}
    finally:
        client.close()
