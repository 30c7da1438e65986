"""Elasticsearch scenarios run only where its official image can be had; elsewhere they skip."""

import pytest

from harness.errors import ImageUnavailable
from harness.stack.images import SPECS, resolve


@pytest.mark.docker
@pytest.mark.elasticsearch
def test_elasticsearch_image_is_available_or_skipped(docker_client, harness_run):
    """The pinned Elasticsearch image resolves, or the scenario skips with one line naming it."""
    try:
        image = resolve(docker_client, SPECS["elasticsearch"], progress=lambda line: None)
    except ImageUnavailable as err:
        pytest.skip(str(err))
    harness_run.environment.setdefault("images", {})["elasticsearch"] = {
        "ref": image.ref, "id": image.id, "source": image.source}
    assert image.id.startswith("sha256:")
