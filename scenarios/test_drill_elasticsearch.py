"""Elasticsearch snapshot drill: a snapshot to an fs repository taken under indexing, the node and
its data destroyed, the second copy restored into a fresh node and verified by document count and
a content checksum. Runs only where the pinned Elasticsearch image can be had; elsewhere the stack
skips it with one line naming the image and the setting to change."""

import time

import pytest

from harness import ElasticsearchIndexes, ElasticsearchSnapshotDrill, read_back_elasticsearch


@pytest.mark.docker
@pytest.mark.elasticsearch
@pytest.mark.objectives("es-snapshot-drill")
def test_elasticsearch_snapshot_restores_into_a_fresh_node(stack_factory, history, judge):
    """Indexing continues through the backup; every document acknowledged before the write block is back."""
    stack = stack_factory(ElasticsearchSnapshotDrill.stack_options())
    with ElasticsearchSnapshotDrill(stack, history) as drill:
        with ElasticsearchIndexes(history, url=stack.elasticsearch.url, rate_hz=20):
            time.sleep(1.0)
            drill.backup()                 # write block, fingerprint, snapshot, unblock
            time.sleep(0.5)
        drill.copy()
        drill.disaster()
        drill.restore()                    # manifest and layout checked, fresh node, restore
        drill.verify()
        observed = read_back_elasticsearch(stack.elasticsearch.url)
    judge("es-snapshot-drill", f="index", observed=observed)
