"""Unit tests for harness.drills.manifest: the SHA-256 manifest a backup's second copy is checked against."""

import hashlib

import pytest

from harness.drills.manifest import MANIFEST_NAME, Manifest, parse_sha256sum, parse_sizes


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


FILES = {"db.dump": b"PGDMP custom format", "wal/000000010000000000000003": b"\x00" * 64}
SUMS = "".join(f"{digest(data)}  ./{path}\n" for path, data in FILES.items())
SIZES = "".join(f"{len(data)} {path}\n" for path, data in FILES.items())


def test_reads_sha256sum_and_find_output_with_paths_relative_to_the_root():
    """``./`` prefixes are dropped; sizes add up to the backup's size."""
    manifest = Manifest.from_listing(SUMS, SIZES)
    assert set(manifest.digests) == set(FILES)
    assert manifest.total_bytes == sum(len(d) for d in FILES.values())


def test_an_identical_copy_has_no_problems_and_the_text_round_trips():
    """A copy hashing to the same digests passes; ``text()`` is sha256sum -c format, read back by ``parse``."""
    manifest = Manifest.from_listing(SUMS, SIZES)
    assert manifest.problems(parse_sha256sum(SUMS)) == []
    assert Manifest.parse(manifest.text()).digests == manifest.digests


def test_one_flipped_byte_is_named_by_path():
    """A file whose bytes differ in one place fails, naming the file and both digests' prefixes."""
    manifest = Manifest.from_listing(SUMS, SIZES)
    damaged = bytearray(FILES["db.dump"])
    damaged[3] ^= 0xFF
    found = dict(manifest.digests) | {"db.dump": digest(bytes(damaged))}
    problems = manifest.problems(found)
    assert len(problems) == 1 and problems[0].startswith("db.dump: sha256 ")
    assert manifest.digests["db.dump"][:12] in problems[0]


def test_missing_and_extra_files_are_problems_and_the_manifest_itself_is_ignored():
    """A copy lacking a file or holding one more fails; MANIFEST.sha256 in the copy is not a file of the backup."""
    manifest = Manifest.from_listing(SUMS, SIZES)
    found = {"db.dump": manifest.digests["db.dump"], "stray": "0" * 64, MANIFEST_NAME: "1" * 64}
    assert manifest.problems(found) == ["wal/000000010000000000000003: missing", "stray: not in the manifest"]


def test_an_empty_manifest_is_never_a_pass():
    """A backup with no files cannot be shown intact."""
    assert Manifest({}).problems({}) == ["the manifest lists no files: the backup is empty"]


@pytest.mark.parametrize("bad", ["not a digest  file", "abc  file"])
def test_a_malformed_line_is_an_error_naming_its_line(bad):
    """Garbage from the checksum tool is an error, never an empty (passing) manifest."""
    with pytest.raises(ValueError, match="line 2"):
        parse_sha256sum(SUMS.splitlines()[0] + "\n" + bad + "\n")
    with pytest.raises(ValueError, match="line 1"):
        parse_sizes("twelve db.dump\n")
