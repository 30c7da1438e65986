"""Root conftest. The harness plugin itself is loaded by entry point (see pyproject.toml);
this file enables ``pytester`` so the plugin's own tests can run pytest inside pytest."""

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _inner_runs_print_like_a_workstation(request: pytest.FixtureRequest,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner pytest runs print the same in CI as on a workstation.

    With CI set, pytest stops truncating its short test summary lines, so a message would
    appear twice in full; tests that count the lines naming an error must see what a user sees.
    """
    if "pytester" in request.fixturenames:
        monkeypatch.delenv("CI", raising=False)
        monkeypatch.delenv("BUILD_NUMBER", raising=False)
