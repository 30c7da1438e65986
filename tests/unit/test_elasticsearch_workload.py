"""The pure parts of the Elasticsearch workload: requests it builds and how it classifies errors."""

import socket

import elastic_transport
import elasticsearch
import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig

from harness.workloads.elasticsearch import (classify_elasticsearch_error, index_request,
                                             search_request)


def api_error(status: int) -> elasticsearch.ApiError:
    meta = ApiResponseMeta(status=status, http_version="1.1", headers=HttpHeaders(), duration=0.01,
                           node=NodeConfig("http", "127.0.0.1", 9200))
    return elasticsearch.ApiError(f"status {status}", meta=meta, body={"error": "x"})


def test_index_request_names_the_document_and_waits_for_refresh():
    """Indexing document 7 writes id "7" with field n=7 and a payload of the asked size."""
    request = index_request("dr-docs", 7, payload_bytes=5)
    assert request == {"index": "dr-docs", "id": "7", "document": {"n": 7, "payload": "xxxxx"},
                       "refresh": "wait_for"}
    with pytest.raises(ValueError, match="doc_id must be an integer >= 0"):
        index_request("dr-docs", -1)


def test_search_request_finds_one_document_or_any():
    """A search for a document is a term query on n; without one it matches all, ten at most."""
    assert search_request("dr-docs", 3)["query"] == {"term": {"n": 3}}
    assert search_request("dr-docs") == {"index": "dr-docs", "query": {"match_all": {}}, "size": 10,
                                         "ignore_unavailable": False}


@pytest.mark.parametrize("status, outcome", [
    (400, "fail"), (401, "fail"), (404, "fail"), (409, "fail"), (429, "fail"),
    (408, "info"), (500, "info"), (503, "info"), (504, "info"),
])
def test_server_replies_are_fail_for_4xx_and_info_otherwise(status, outcome):
    """A 4xx reply means the request was refused; a 408 or 5xx may hide an applied write."""
    assert classify_elasticsearch_error(api_error(status)) == outcome


def test_a_refused_connection_is_fail_and_a_lost_one_info():
    """A refused connect never sent anything; a timeout or a dropped connection may have."""
    refused = elastic_transport.ConnectionError("refused", errors=(ConnectionRefusedError(111, "refused"),))
    assert classify_elasticsearch_error(refused) == "fail"
    unresolved = elastic_transport.ConnectionError("dns", errors=(socket.gaierror(-2, "Name unknown"),))
    assert classify_elasticsearch_error(unresolved) == "fail"
    lost = elastic_transport.ConnectionError("Connection reset by peer", errors=(ConnectionResetError(),))
    assert classify_elasticsearch_error(lost) == "info"
    assert classify_elasticsearch_error(elastic_transport.ConnectionTimeout("timed out")) == "info"
    assert classify_elasticsearch_error(RuntimeError("anything else")) == "info"


def test_nothing_sent_is_always_fail():
    """Whatever the error, an attempt that never sent its request did not apply."""
    assert classify_elasticsearch_error(elastic_transport.ConnectionTimeout("t"), sent=False) == "fail"
    assert classify_elasticsearch_error(api_error(503), sent=False) == "fail"
