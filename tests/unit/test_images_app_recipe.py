"""Unit tests for the app image's place in the image policy: always the recipe, hashed over app/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker.errors
import pytest

from harness.errors import ImageUnavailable
from harness.stack import images
from harness.stack.images import REPO_ROOT, SPECS, ImageSpec, recipe_hash, recipe_tag, resolve


class FakeImages:
    """Stands in for ``client.images``: knows a fixed set of refs, records every lookup."""

    def __init__(self, known: dict[str, str]) -> None:
        self.known = known
        self.asked: list[str] = []

    def get(self, ref: str) -> Any:
        self.asked.append(ref)
        if ref not in self.known:
            raise docker.errors.ImageNotFound(ref)
        return type("Image", (), {"id": self.known[ref]})()


class FakeClient:
    def __init__(self, known: dict[str, str]) -> None:
        self.images = FakeImages(known)


def _app_like(tmp_path: Path) -> ImageSpec:
    recipe, pkg = tmp_path / "recipe", tmp_path / "app"
    recipe.mkdir()
    pkg.mkdir()
    (recipe / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    (pkg / "web.py").write_text("ROUTES = []\n")
    (pkg / "requirements.txt").write_text("starlette==1.0\n")
    return ImageSpec("app", "dr-harness/app:0.1.0", "HARNESS_APP_IMAGE", recipe, "0.1.0", (pkg,), official=False)


def test_app_spec_is_a_recipe_over_the_app_package() -> None:
    """The app has no official image; its recipe's build context includes app/ and a wheel step."""
    spec = SPECS["app"]
    assert spec.official is False and spec.prepare is not None
    assert spec.extra_context == (REPO_ROOT / "app",)
    assert spec.recipe_dir is not None and (spec.recipe_dir / "Dockerfile").is_file()
    assert all(s.official for name, s in SPECS.items() if name != "app")


@pytest.mark.parametrize("edit", ["source", "requirements"])
def test_changing_app_sources_or_pins_changes_the_tag(tmp_path: Path, edit: str) -> None:
    """A code change or a new pin under app/ gives a new tag, so the image is rebuilt."""
    spec = _app_like(tmp_path)
    before = recipe_tag(spec)
    target = "web.py" if edit == "source" else "requirements.txt"
    (tmp_path / "app" / target).write_text("changed\n")
    assert recipe_tag(spec) != before
    assert recipe_tag(spec) == f"dr-harness/app:0.1.0-{recipe_hash(spec)}"


def test_default_ref_skips_present_and_pull_and_reuses_the_recipe_build(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """An image merely named like the default is never used: only the content-hashed recipe tag is."""
    spec = _app_like(tmp_path)
    tag = recipe_tag(spec)
    client = FakeClient({spec.default_ref: "sha256:stale", tag: "sha256:current"})
    monkeypatch.setattr(images, "try_pull", lambda *a, **k: pytest.fail("the app image is never pulled"))
    got = resolve(client, spec, progress=lambda _m: None, environ={})  # type: ignore[arg-type]
    assert (got.ref, got.id, got.source) == (tag, "sha256:current", "built")
    assert spec.default_ref not in client.images.asked


def test_an_override_is_used_as_given(tmp_path: Path) -> None:
    """HARNESS_APP_IMAGE names a team's own image: present locally, it is used and nothing is built."""
    spec = _app_like(tmp_path)
    client = FakeClient({"team/shop:2.3.1": "sha256:team"})
    got = resolve(client, spec, progress=lambda _m: None,  # type: ignore[arg-type]
                  environ={"HARNESS_APP_IMAGE": "team/shop:2.3.1"})
    assert (got.ref, got.source) == ("team/shop:2.3.1", "present")


def test_wheel_step_failure_is_one_line_with_pips_output_as_evidence(tmp_path: Path) -> None:
    """A requirements file pip cannot read stops the build with one line; pip's complaint is the
    evidence (a malformed line fails before pip asks any index)."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("starlette === = broken pin\n")
    with pytest.raises(ImageUnavailable) as caught:
        images.host_wheels(requirements, tmp_path / "wheels", timeout_s=120)
    assert "\n" not in str(caught.value) and "requirements.txt" in str(caught.value)
    assert "broken pin" in (caught.value.evidence or "")
