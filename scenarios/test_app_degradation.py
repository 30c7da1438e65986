"""The reference service (app/) degrades gracefully when its dependencies or its own process fail.

Each scenario's body is in scenarios/degradation.py, shared with its negative control
(tests/integration/test_app_degradation_controls.py: the same body against APP_FRAGILE=1 must FAIL).
Every objective also holds the HTTP workload to within 5 % of its asked rate (min_achieved_rate).
"""

import pytest

from scenarios import degradation as body

pytestmark = pytest.mark.docker


@pytest.mark.objectives("app-redis-down")
def test_redis_down_reads_are_served_from_postgres(stack, history, judge):
    """Redis unreachable: every read is answered from PostgreSQL, no 5xx, p99 within bound."""
    body.redis_down(stack, history)
    judge("app-redis-down", f="probe")


@pytest.mark.objectives("app-pg-latency")
def test_postgres_latency_answers_within_the_deadline(stack, history, judge):
    """PostgreSQL 500 ms late: every request is answered within its deadline (503 where it cannot)."""
    body.postgres_latency(stack, history)
    judge("app-pg-latency", f="probe")


@pytest.mark.objectives("app-pg-kill-reads", "app-pg-kill-orders")
def test_postgres_kill_serves_stale_reads_and_loses_no_order(stack, history, judge):
    """PostgreSQL killed and restarted: reads served stale, orders fail fast, none acknowledged lost."""
    keys = body.postgres_kill(stack, history)
    judge("app-pg-kill-reads", f="probe")
    judge("app-pg-kill-orders", f="write", observed=keys)


@pytest.mark.objectives("app-crash-restart")
def test_crashed_process_is_restarted_by_its_policy(stack, history, judge):
    """The service's process killed inside its container: Docker's restart policy brings it back."""
    body.app_crash(stack, history)
    judge("app-crash-restart", f="probe")


@pytest.mark.objectives("app-pg-slow-responses")
def test_large_responses_complete_or_fail_cleanly(stack, history, judge):
    """Bandwidth and slicer toxics on PostgreSQL's answers: searches succeed or get a clean 503."""
    body.postgres_slow_responses(stack, history)
    judge("app-pg-slow-responses", f="probe")


@pytest.mark.objectives("app-redis-partial-reset")
def test_partial_redis_resets_stay_within_the_error_bound(stack, history, judge):
    """70 % of Redis's connections reset: the error rate stays within its bound."""
    body.redis_partial_reset(stack, history)
    judge("app-redis-partial-reset", f="probe")


@pytest.mark.elasticsearch
@pytest.mark.objectives("app-search-fallback")
def test_elasticsearch_down_search_falls_back_to_postgres(stack_factory, history, judge):
    """Elasticsearch unreachable: search answers from PostgreSQL, no 5xx (skips without its image)."""
    stack = body.search_stack(stack_factory)
    body.elasticsearch_down(stack, history)
    judge("app-search-fallback", f="probe")
