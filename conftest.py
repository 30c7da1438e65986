"""Root conftest. The harness plugin itself is loaded by entry point (see pyproject.toml);
this file only enables ``pytester`` so the plugin's own tests can run pytest inside pytest."""

pytest_plugins = ["pytester"]
