"""A stack that cannot be made clean before a scenario is rebuilt, and the scenario still runs."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

OBJECTIVES = Path(__file__).resolve().parents[2] / "objectives.toml"
SCENARIOS = '''
import pytest

SEEN = {}


def test_a_breaks_the_stack(stack):
    SEEN["first"] = id(stack)
    stack.postgres.container.remove(force=True, v=True)   # beyond any heal: the container is gone


def test_b_gets_a_working_stack(stack):
    assert id(stack) != SEEN["first"], "the broken stack was handed out again"
    stack.postgres.probe()
    stack.redis.probe()
'''


def test_a_stack_that_cannot_be_reset_is_rebuilt(pytester: pytest.Pytester) -> None:
    """After a scenario destroys a container, the next scenario gets a rebuilt, working stack."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    pytester.makepyfile(test_order=SCENARIOS)
    result = pytester.runpytest_subprocess(f"--objectives={OBJECTIVES}",
                                           f"--reports-dir={pytester.path / 'reports'}", "-s",
                                           timeout=600)
    result.assert_outcomes(passed=2)
    assert [line for line in result.outlines if "could not be made clean" in line
            and "rebuilding" in line], "\n".join(result.outlines)
