"""Negative controls of the service degradation scenarios: each scenario's body
(scenarios/degradation.py) run against the reference service with ``APP_FRAGILE=1`` (no timeouts,
no fallbacks, no breakers, no retries; deployed without a restart policy) must make the harness
report the breach: a FAIL verdict naming the objective, the limit and the measured value.

They live here, not in scenarios/, so that ``make scenarios`` and the sign-off judge only the sound
service; each builds its own stack (stack_factory) holding the fragile service as ``app``.
"""

import pytest

from harness.judging.checkers import check
from harness.stack.catalog import reference_app
from harness.stack.core import StackOptions
from scenarios import degradation as body

pytestmark = pytest.mark.docker


@pytest.fixture
def fragile(stack_factory):
    """A stack whose ``app`` is the reference service in fragile mode."""
    return stack_factory(StackOptions(services=(reference_app(fragile=True),)))


def breach(verdicts, metric):
    """The FAIL verdict on ``metric``, with a measured value; the test fails loudly otherwise."""
    found = [v for v in verdicts if v.metric == metric]
    assert found, f"no verdict for {metric}: {verdicts}"
    verdict = found[0]
    assert verdict.validity == "fail" and verdict.measured is not None, str(verdict)
    print(f"\n[control] {verdict}")
    return verdict


def test_fragile_app_answers_5xx_when_redis_is_down(fragile, history, objectives):
    """Redis down: the fragile service fails every read that touches the cache with a 500."""
    body.redis_down(fragile, history)
    verdict = breach(check(objectives["app-redis-down"], history, f="probe"), "max_5xx_rate_during_fault")
    assert verdict.measured > 50


def test_fragile_app_queues_behind_a_slow_postgres(fragile, history, objectives):
    """PostgreSQL 500 ms late: without a deadline or pool bound the fragile service's answers pile up."""
    body.postgres_latency(fragile, history)
    breach(check(objectives["app-pg-latency"], history, f="probe"), "latency_p99_during_fault")


def test_fragile_app_fails_reads_while_postgres_is_killed(fragile, history, objectives):
    """PostgreSQL killed: the fragile service has no stale copy to serve, reads answer 5xx."""
    keys = body.postgres_kill(fragile, history)
    breach(check(objectives["app-pg-kill-reads"], history, f="probe"), "max_5xx_rate_during_fault")
    assert keys, "no order was read back: the writes never reached PostgreSQL"


def test_fragile_app_without_restart_policy_stays_down_after_a_crash(fragile, history, objectives):
    """The process crashes: with no restart policy the service never answers again (RTO breached)."""
    body.app_crash(fragile, history)
    breach(check(objectives["app-crash-restart"], history, f="probe"), "rto_from_inject")


def test_fragile_app_hangs_on_crawling_postgres_responses(fragile, history, objectives):
    """Bandwidth and slicer toxics: the fragile service waits for the whole crawl; clients time out."""
    body.postgres_slow_responses(fragile, history)
    breach(check(objectives["app-pg-slow-responses"], history, f="probe"), "max_unclean_error_rate_during_fault")


def test_fragile_app_fails_reads_on_partial_redis_resets(fragile, history, objectives):
    """70 % of Redis's connections reset: the fragile service turns each reset into a 500."""
    body.redis_partial_reset(fragile, history)
    breach(check(objectives["app-redis-partial-reset"], history, f="probe"), "max_error_rate_during_fault")


def test_breaker_that_stays_open_keeps_serving_degraded_after_the_heal(stack_factory, history, objectives):
    """The sound service with a 30 s breaker reset: PostgreSQL is fast again, but reads stay stale-cache."""
    slow_breaker = reference_app(environment={"APP_BREAKER_RESET_S": "30"})
    stack = stack_factory(StackOptions(services=(slow_breaker,)))
    body.postgres_latency(stack, history)
    verdict = breach(check(objectives["app-pg-latency"], history, f="probe"), "max_degraded_rate_after_fault")
    assert verdict.measured > 80


def test_a_client_too_small_for_the_asked_rate_is_caught(stack_factory, history, objectives):
    """Two lanes cannot drive 30 reads/s at 1 s answers: the achieved-rate check FAILs, not the service."""
    sound = stack_factory(StackOptions(services=(reference_app(),)))
    body.postgres_latency(sound, history, max_in_flight=2)
    breach(check(objectives["app-pg-latency"], history, f="probe"), "min_achieved_rate_during_fault")


@pytest.mark.elasticsearch
def test_fragile_app_fails_search_when_elasticsearch_is_down(stack_factory, history, objectives):
    """Elasticsearch down: the fragile service does not fall back to PostgreSQL (skips without its image)."""
    stack = body.search_stack(stack_factory, fragile=True)
    body.elasticsearch_down(stack, history)
    breach(check(objectives["app-search-fallback"], history, f="probe"), "max_5xx_rate_during_fault")
