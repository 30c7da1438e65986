"""The reference service under test: a small shop API that shows what good degradation looks like.

PostgreSQL is the source of truth (items; orders keyed by an idempotency key), Redis a cache-aside
layer and the fast path of the idempotency store, Elasticsearch the search index when configured
(PostgreSQL answers searches otherwise). Every dependency call has a timeout and a circuit breaker;
idempotent calls are retried, bounded and jittered; reads fall back to stale cache entries marked
``X-Degraded``; writes fail fast with 503. ``APP_FRAGILE=1`` turns all of that off: that is the
service the harness's negative controls must catch.

Rooms: ``config`` (environment -> Settings), ``resilience`` (timeout + breaker + retry per
dependency), ``store`` / ``cache`` / ``search`` (one per dependency), ``service`` (the degradation
decisions, no I/O of its own), ``web`` (routes, deadlines, headers, /health and /ready),
``__main__`` (uvicorn). Nothing here imports the harness: the image contains only this package.
"""
