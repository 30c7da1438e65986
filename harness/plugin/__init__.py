"""The pytest plugin: options and settings, fixtures, the state kept between hooks, sign-off.

    hooks.py     the hooks pytest calls (registered by entry point ``pytest11``)
    fixtures.py  stack, history, judge and the session-wide engine, images and stack
    session.py   run and scenario state kept in pytest's stash
    settings.py  one typed settings object, precedence written down

Nothing else in ``harness`` imports this folder.
"""
