"""The scenario suite's stack: PostgreSQL and Redis, plus the service under test.

This is the one place a team declares its own service (see the README). Here it is the reference
service in app/, reaching PostgreSQL and Redis through their Toxiproxy proxies, so every fault a
scenario injects on them is seen by the service as it would be in production.
"""

import pytest

from harness.stack.catalog import reference_app


@pytest.fixture(scope="session")
def stack_services():
    """The reference service (app/), sound mode, restarted by Docker if its process crashes."""
    return [reference_app()]
