"""The public API of ``harness`` is exactly what ``__all__`` says, and every name resolves."""

import harness


def test_every_exported_name_resolves():
    """Each name in ``harness.__all__`` is an attribute of the package."""
    missing = [name for name in harness.__all__ if not hasattr(harness, name)]
    assert missing == []


def test_public_names_are_all_exported():
    """Every public attribute defined by the package's own modules is listed in ``__all__``."""
    public = {name for name, value in vars(harness).items()
              if not name.startswith("_") and getattr(value, "__module__", "").startswith("harness.")}
    assert public <= set(harness.__all__), sorted(public - set(harness.__all__))
    assert sorted(harness.__all__) == harness.__all__
