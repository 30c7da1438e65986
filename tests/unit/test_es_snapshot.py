"""The pure parts of the Elasticsearch snapshot drill: the fingerprint, its comparison, and
reading a snapshot response (the drill itself runs only where the image can be had)."""

from harness.drills.es_snapshot import fingerprint_of, fingerprint_problem, snapshot_failure

DOCS = [{"_index": "dr-docs", "_id": str(n), "_source": {"id": n, "body": f"doc {n}"}} for n in range(5)]


def test_the_fingerprint_counts_and_does_not_depend_on_order():
    fp = fingerprint_of(DOCS)
    assert fp["documents"] == 5 and len(fp["sha256"]) == 64
    assert fingerprint_of(list(reversed(DOCS))) == fp
    assert fingerprint_problem(fp, fingerprint_of(reversed(DOCS))) is None


def test_a_missing_changed_or_moved_document_is_named():
    fp = fingerprint_of(DOCS)
    assert fingerprint_problem(fp, fingerprint_of(DOCS[:4])) == "4 documents where the snapshot held 5"
    changed = DOCS[:4] + [{**DOCS[4], "_source": {"id": 4, "body": "tampered"}}]
    assert "content differs" in fingerprint_problem(fp, fingerprint_of(changed))
    moved = DOCS[:4] + [{**DOCS[4], "_index": "elsewhere"}]
    assert "content differs" in fingerprint_problem(fp, fingerprint_of(moved))


def test_an_empty_snapshot_is_never_verified():
    empty = fingerprint_of([])
    assert fingerprint_problem(empty, empty) == "the snapshot held no document"


def test_only_a_whole_successful_snapshot_passes():
    ok = {"snapshot": {"state": "SUCCESS", "shards": {"total": 1, "failed": 0, "successful": 1}}}
    assert snapshot_failure(ok) is None
    partial = {"snapshot": {"state": "PARTIAL", "failures": [{"reason": "disk full"}],
                            "shards": {"total": 2, "failed": 1}}}
    assert snapshot_failure(partial) == "snapshot state PARTIAL: disk full"
    failed_shard = {"snapshot": {"state": "SUCCESS", "shards": {"total": 2, "failed": 1}}}
    assert snapshot_failure(failed_shard) == "1 of 2 shards failed"
    assert snapshot_failure({}) == "snapshot state None"
