"""Accuracy: an outage the harness injects is the outage it measures."""

import time

import pytest

from harness.history import History
from harness.judging.checkers import check
from harness.workloads.redis import RedisReads

pytestmark = pytest.mark.docker


def test_two_second_outage_measures_two_seconds_five_times_out_of_five(stack, objectives):
    """A proxy disabled for 2.0 s measures as a 2.0 s +-0.1 s outage in each of five runs."""
    measured = []
    for _ in range(5):
        history = History()
        stack.bind(history, [])
        with RedisReads(history, **stack.redis.conninfo, socket_timeout_s=0.1,
                        connect_timeout_s=0.1, rate_hz=100):
            time.sleep(0.5)
            with stack.redis.down():
                time.sleep(2.0)
            time.sleep(1.0)
        verdicts = {v.metric: v for v in check(objectives["outage-accuracy"], history, f="read")}
        measured.append(verdicts["outage_accuracy"])
    assert [v.validity for v in measured] == ["pass"] * 5, [str(v) for v in measured]
