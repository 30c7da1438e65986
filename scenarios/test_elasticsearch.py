"""Elasticsearch as a declared service: indexing fails fast while its proxy is down and resumes.

Runs only where the pinned Elasticsearch image can be had; elsewhere the stack skips the scenario
with one line naming the image and the setting to change.
"""

import time

import pytest

from harness import ElasticsearchIndexes, ElasticsearchSearches, StackOptions, read_back_elasticsearch
from harness.stack.catalog import elasticsearch


@pytest.mark.docker
@pytest.mark.elasticsearch
def test_elasticsearch_outage_fails_fast_and_loses_nothing(stack_factory, history):
    """While the proxy is down indexing fails; after the heal it resumes; no acknowledged doc is lost."""
    stack = stack_factory(StackOptions(services=(elasticsearch(),)))
    url = stack.elasticsearch.url
    with ElasticsearchIndexes(history, url=url, rate_hz=20), ElasticsearchSearches(history, url=url, rate_hz=10):
        time.sleep(1.0)
        with stack.elasticsearch.down():
            time.sleep(2.0)
        time.sleep(3.0)
    indexed = [op for op in history.ops if op.f == "index" and op.type != "invoke"]
    assert any(op.type == "fail" for op in indexed), "no index request failed while the proxy was down"
    assert indexed[-1].type == "ok", "indexing did not resume after the heal"
    acknowledged = {op.value for op in history.ops if op.f == "index" and op.type == "ok"}
    assert acknowledged <= read_back_elasticsearch(url)
