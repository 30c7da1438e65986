"""Unit tests for the image policy in harness/stack/images.py: pins, overrides, recipe hashes, apt sources."""

from __future__ import annotations

from pathlib import Path

import docker.utils
import pytest

from harness.stack.images import (SPECS, AptSource, ImageSpec, _unavailable, base_tag, parse_apt_sources,
                                  recipe_hash, recipe_tag)


def _is_exact_pin(ref: str) -> bool:
    _repo, tag = docker.utils.parse_repository_tag(ref)
    return bool(tag) and "latest" not in tag and tag.split("-")[0].count(".") >= 1


@pytest.mark.parametrize("service", sorted(SPECS))
def test_default_refs_are_exact_pins(service: str) -> None:
    """Every default ref names an explicit tag that is neither `latest` nor a bare major version."""
    assert _is_exact_pin(SPECS[service].default_ref), SPECS[service].default_ref


@pytest.mark.parametrize("ref", ["postgres:latest", "postgres", "postgres:15-bookworm", "redis:7"])
def test_pin_checker_rejects_floating_tags(ref: str) -> None:
    """Negative control: the pin check fails for `latest`, an untagged ref and a major-only tag."""
    assert not _is_exact_pin(ref)


def test_env_var_overrides_default_and_blank_is_ignored() -> None:
    """A set env var replaces the default ref; an empty one leaves the default in place."""
    spec = SPECS["postgres"]
    assert spec.ref({}) == spec.default_ref
    assert spec.ref({"HARNESS_POSTGRES_IMAGE": "mine/pg:1.2"}) == "mine/pg:1.2"
    assert spec.ref({"HARNESS_POSTGRES_IMAGE": "  "}) == spec.default_ref
    assert {s.env_var for s in SPECS.values()} == {
        "HARNESS_POSTGRES_IMAGE", "HARNESS_REDIS_IMAGE", "HARNESS_TOXIPROXY_IMAGE",
        "HARNESS_ELASTICSEARCH_IMAGE", "HARNESS_APP_IMAGE"}


def test_only_elasticsearch_lacks_a_recipe_and_recipes_exist() -> None:
    """Postgres, Redis and Toxiproxy have a Dockerfile in compose/images/; Elasticsearch has none."""
    for service, spec in SPECS.items():
        if service == "elasticsearch":
            assert spec.recipe_dir is None
        else:
            assert spec.recipe_dir is not None and (spec.recipe_dir / "Dockerfile").is_file()


def _copy_spec(tmp_path: Path) -> ImageSpec:
    recipe = tmp_path / "recipe"
    extra = tmp_path / "pkg"
    recipe.mkdir()
    extra.mkdir()
    (recipe / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    (recipe / "entry.sh").write_text("#!/bin/sh\nexec \"$@\"\n")
    (extra / "__init__.py").write_text("")
    return ImageSpec("thing", "thing:1.0", "HARNESS_THING_IMAGE", recipe, "1", (extra,))


def test_recipe_hash_is_stable_when_nothing_changes(tmp_path: Path) -> None:
    """Hashing twice, or after adding only bytecode caches, gives the same hash and tag."""
    spec = _copy_spec(tmp_path)
    first = recipe_hash(spec)
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"junk")
    assert recipe_hash(spec) == first
    assert recipe_tag(spec) == f"dr-harness/thing:1-{first}"
    assert len(first) == 12


@pytest.mark.parametrize("change", ["edit", "add", "chmod", "extra"])
def test_recipe_hash_changes_when_a_file_changes(tmp_path: Path, change: str) -> None:
    """Editing, adding or chmod-ing a recipe file, or editing the extra context, changes the hash."""
    spec = _copy_spec(tmp_path)
    before = recipe_hash(spec)
    if change == "edit":
        (tmp_path / "recipe" / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nUSER 999\n")
    elif change == "add":
        (tmp_path / "recipe" / "extra.conf").write_text("x")
    elif change == "chmod":
        (tmp_path / "recipe" / "entry.sh").chmod(0o755)
    else:
        (tmp_path / "pkg" / "__init__.py").write_text("VERSION = 2\n")
    assert recipe_hash(spec) != before


def test_real_recipe_tags_are_local_names(tmp_path: Path) -> None:
    """Recipe builds are tagged under dr-harness/, never with the official image name."""
    for spec in SPECS.values():
        if spec.recipe_dir is not None:
            tag = recipe_tag(spec)
            assert tag.startswith(f"dr-harness/{spec.service}:")
            if spec.official:
                assert docker.utils.parse_repository_tag(tag)[0] != \
                    docker.utils.parse_repository_tag(spec.default_ref)[0]
            else:  # no official name exists: the default is the recipe's own name, with its content hash
                assert tag.startswith(spec.default_ref + "-")


def test_no_recipe_error_is_one_line_naming_the_env_var() -> None:
    """The no-recipe error names the service, the ref and the env var to set, on one line."""
    err = _unavailable(SPECS["elasticsearch"], "nonexistent/thing:1.0")
    text = str(err)
    assert "\n" not in text
    assert text == ("elasticsearch image nonexistent/thing:1.0 is not present and cannot be pulled; "
                    "no local recipe exists; set HARNESS_ELASTICSEARCH_IMAGE to an image you have")


def test_parse_apt_sources_reads_deb822_and_one_line_files(tmp_path: Path) -> None:
    """Debian archive entries come from both formats; disabled files, deb-src and other repos are left out."""
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    (apt / "sources.list").write_text(
        "# comment\ndeb [arch=amd64] http://mirror.example/debian/ bookworm-updates main contrib\n"
        "deb-src http://mirror.example/debian bookworm main\n")
    (apt / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian\nSuites: bookworm\n"
        "Components: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n\nTypes: deb\nEnabled: no\n"
        "URIs: http://other.example/debian\nSuites: bookworm\nComponents: main\n")
    (apt / "sources.list.d" / "thirdparty.list").write_text("deb http://vendor.example/apt bookworm main\n")
    (apt / "sources.list.d" / "off.list.disabled").write_text("deb http://off.example/debian bookworm main\n")
    found = parse_apt_sources(apt)
    assert found == [
        AptSource("http://mirror.example/debian", "bookworm-updates", ("main", "contrib")),
        AptSource("http://mirror.example/debian", "bookworm", ("main",)),
        AptSource("http://mirror.example/debian-security", "bookworm-security", ("main",)),
    ]
    assert base_tag(found).startswith("dr-harness/debian:bookworm-")
    assert base_tag(found) != base_tag(found[:1])


def test_shipped_recipes_take_the_base_as_a_build_arg() -> None:
    """Each recipe starts with ARG BASE_IMAGE / FROM ${BASE_IMAGE}, so the base is chosen at build time."""
    for spec in SPECS.values():
        if spec.recipe_dir is not None:
            text = (spec.recipe_dir / "Dockerfile").read_text()
            assert "ARG BASE_IMAGE" in text and "FROM ${BASE_IMAGE}" in text, spec.service
