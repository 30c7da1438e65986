"""toxiproxy_compat's merged upstream lookups and abandoned dials (issue 14), with a blocking fake
resolver: in-process, and again on TOXIPROXY_COMPAT_PYTHON when that names another interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import resolver_cases
from compat_server import SERVER_PYTHON_ENV

pytestmark = pytest.mark.compat_only


@pytest.mark.parametrize("case", resolver_cases.CASES, ids=lambda c: c.__name__[len("case_"):])
def test_resolver_case(case) -> None:
    case()


def test_resolver_cases_on_the_server_python() -> None:
    python = os.environ.get(SERVER_PYTHON_ENV)
    if not python or os.path.realpath(python) == os.path.realpath(sys.executable):
        pytest.skip(f"{SERVER_PYTHON_ENV} names no other interpreter; the cases ran in-process")
    script = Path(resolver_cases.__file__)
    done = subprocess.run([python, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{python} {script.name}:\n{done.stdout}\n{done.stderr[-3000:]}"
