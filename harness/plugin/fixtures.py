"""The fixtures a scenario uses: the engine, images, the stack, its history and the judge.

    stack          the declared stack (session-scoped, reset before each scenario)
    stack_factory  a stack variant for one scenario: ``stack_factory(StackOptions(...))``
    stack_services the services a project adds to every stack: override it in conftest.py
                   (``return [ServiceSpec("web", build="services/web", ...)]``; see the README)
    history        this scenario's History (faults, workloads and drills record into it)
    judge          ``judge("objective-id", f="insert", observed=ids)``: verdicts, recorded for the
                   report, and a failed assertion with the explanation when an objective is breached
    objectives     the validated objectives file
    docker_client  the engine (sweeps leftovers of dead runs; removes this run's objects at the end)
    images         PostgreSQL, Redis and Toxiproxy images, resolved once per run
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import pytest

from harness.errors import ConfigError, HarnessError, ImageUnavailable
from harness.history import History
from harness.judging.checkers import check
from harness.judging.objectives import Objectives
from harness.judging.verdicts import Verdict, assert_met
from harness.plugin.parallel import worker_index
from harness.plugin.session import RUN, RunState, data_of, say
from harness.stack.cleanup import remove_run, sweep_stale
from harness.stack.core import Stack, StackOptions
from harness.stack.declare import ServiceSpec
from harness.stack.engine import connect, engine_info
from harness.stack.images import SPECS, resolve
from harness.stack.labels import worker_id


class ObjectiveBreached(AssertionError):
    """An objective's limit failed (or, in sign-off, is unknown): pytest prints the verdict lines, the
    owner and the runbook and the scenario line that judged, never a traceback into the harness."""


@pytest.fixture(scope="session")
def harness_run(request: pytest.FixtureRequest) -> RunState:
    """The run's settings, objectives and environment."""
    return request.config.stash[RUN]


@pytest.fixture(scope="session")
def objectives(harness_run: RunState) -> Objectives:
    """The validated objectives file of this run."""
    return harness_run.objectives


@pytest.fixture(scope="session")
def docker_client(harness_run: RunState) -> Iterator[Any]:
    """A Docker client for the engine at DOCKER_HOST or the default socket; sweeps dead runs."""

    try:
        client = connect()
    except HarnessError as err:
        pytest.exit(str(err), returncode=3)
    harness_run.client = client
    harness_run.environment["engine"] = engine_info(client)
    sweep_stale(client, progress=say)
    yield client
    remove_run(client, harness_run.settings.run_id, worker=worker_id())


@pytest.fixture(scope="session")
def images(docker_client: Any, harness_run: RunState) -> dict[str, Any]:
    """PostgreSQL, Redis and Toxiproxy images: present, pulled or built from compose/images/."""
    from concurrent.futures import ThreadPoolExecutor


    wanted = ("postgres", "redis", "toxiproxy")
    try:
        with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
            futures = {name: pool.submit(resolve, docker_client, SPECS[name], progress=say)
                       for name in wanted}
            resolved = {name: fut.result() for name, fut in futures.items()}
    except HarnessError as err:
        pytest.exit(str(err), returncode=3)
    harness_run.environment.setdefault("images", {}).update(
        {name: _image_dict(image) for name, image in resolved.items()})
    return resolved


@pytest.fixture(scope="session")
def stack_services() -> Sequence[ServiceSpec]:
    """The services a project adds to PostgreSQL and Redis in every stack (none by default).

    Override this fixture in conftest.py, session-scoped, returning ``ServiceSpec`` values.
    """
    return ()


@pytest.fixture(scope="session")
def _session_stack(docker_client: Any, images: dict[str, Any], harness_run: RunState,
                   stack_services: Sequence[ServiceSpec], request: pytest.FixtureRequest) -> Iterator[Any]:

    settings = harness_run.settings
    port = settings.toxiproxy_api_port   # a fixed API port: worker gwN of pytest -n takes port + N
    options = StackOptions(toxiproxy_api_port=port + worker_index(request.config) if port else None,
                           services=tuple(stack_services))
    stack = _start_stack(lambda: Stack(docker_client, settings.run_id, images, options,
                                       ready_timeout_s=settings.ready_timeout_s, progress=say),
                         harness_run)
    holder = {"stack": stack}
    yield holder
    holder["stack"].close()


@pytest.fixture
def harness_repeat(request: pytest.FixtureRequest) -> int:
    """Which repeat this is (1..N) under ``--repeat N``; parametrised by the plugin, 1 otherwise."""
    return int(getattr(request, "param", 1))


@pytest.fixture
def history(request: pytest.FixtureRequest) -> History:
    """This scenario's History."""
    return data_of(request.node).history


@pytest.fixture
def stack(_session_stack: dict[str, Any], harness_run: RunState, request: pytest.FixtureRequest,
          stack_services: Sequence[ServiceSpec]) -> Any:
    """The default stack, healed and reset before the scenario (rebuilt if it cannot be made clean).

    One session may hold folders whose conftest.py declare different ``stack_services`` (a
    project's tests/ and scenarios/ in one run): the stack follows the scenario's declaration,
    rebuilt when it changes.
    """
    data = data_of(request.node)
    current = _session_stack["stack"]
    wanted = tuple(stack_services)

    def rebuild(options: StackOptions) -> Any:
        current.close()
        made = _start_stack(lambda: Stack(current.client, current.run_id, current.images, options,
                                          current.ready_timeout_s, progress=say), harness_run)
        _session_stack["stack"] = made
        return made

    began = time.monotonic()
    if tuple(current.options.services) != wanted:
        names = ", ".join(s.name for s in wanted) or "none"
        say(f"[harness] {request.node.nodeid}: declared services differ from the running stack's "
            f"(here: {names}); rebuilding")
        current, elapsed = rebuild(replace(current.options, services=wanted)), 0.0
    else:
        try:
            elapsed = current.reset()
        except Exception as exc:  # noqa: BLE001 - any failure to clean means: rebuild
            say(f"[harness] stack could not be made clean ({type(exc).__name__}: {exc}); rebuilding")
            current, elapsed = rebuild(current.options), 0.0
    request.node.user_properties.append(("stack_reset_s", f"{elapsed:.3f}"))
    data.harness_s["reset_s"] = round(time.monotonic() - began, 3)
    current.bind(data.history, data.fault_records)
    data.used_stack = True
    data.stacks.append(current)
    yield current
    current.bind(None, None)


@pytest.fixture
def stack_factory(docker_client: Any, images: dict[str, Any], harness_run: RunState,
                  stack_services: Sequence[ServiceSpec], request: pytest.FixtureRequest) -> Iterator[Any]:
    """Build a stack variant for this scenario only; it is removed when the scenario ends.

    The variant holds the project's ``stack_services`` too, plus any ``options.services``.
    """

    data = data_of(request.node)
    made: list[Any] = []

    def make(options: StackOptions | None = None) -> Any:
        options = options or StackOptions()
        options = replace(options, services=(*stack_services, *options.services))
        built = _start_stack(lambda: Stack(docker_client, harness_run.settings.run_id, images,
                                           options,
                                           ready_timeout_s=harness_run.settings.ready_timeout_s,
                                           progress=say), harness_run)
        built.bind(data.history, data.fault_records)
        data.used_stack = True
        data.stacks.append(built)
        made.append(built)
        return built

    yield make
    for built in made:
        built.close()


@pytest.fixture
def judge(request: pytest.FixtureRequest, harness_run: RunState) -> Any:
    """Judge the scenario's history against a named objective; a breach fails the scenario."""

    data = data_of(request.node)

    def judge_(objective_id: str, **kwargs: Any) -> list[Verdict]:
        try:
            objective = harness_run.objectives.require([objective_id], where=request.node.nodeid)[0]
        except ConfigError as err:
            pytest.fail(str(err), pytrace=False)
        verdicts = check(objective, data.history, **kwargs)
        data.verdicts.extend(verdicts)
        try:
            assert_met(verdicts, strict=harness_run.settings.sign_off)
        except AssertionError as breach:
            runbook = f"; runbook: {objective.runbook}" if objective.runbook else ""
            raise ObjectiveBreached(f"{breach}\n  owner: {objective.owner}{runbook}") from None
        return verdicts

    return judge_


def _start_stack(build: Any, harness_run: RunState) -> Any:
    try:
        built = build().start()
    except HarnessError as err:
        error = err   # fail/skip outside the except: no chained exception printed twice
    else:
        harness_run.secrets.update(built.secrets())
        harness_run.environment.setdefault("images", {}).update(
            {name: _image_dict(image) for name, image in built.resolved.items()})
        return built
    if isinstance(error, ImageUnavailable):
        pytest.skip(str(error))
    pytest.fail(str(error), pytrace=False)


def _image_dict(image: Any) -> dict[str, Any]:
    return {"ref": image.ref, "id": image.id, "source": image.source,
            "equivalent_of": getattr(image, "equivalent_of", None)}
