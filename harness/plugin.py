"""The pytest plugin: settings, objectives, the stack fixtures, verdicts and the run report.

Registered by entry point (``pytest11``), so ``pytest scenarios/`` needs no conftest import.

Fixtures a scenario uses:
    stack          the default stack (session-scoped, reset before each scenario)
    stack_factory  a stack variant for one scenario: ``stack_factory(StackOptions(...))``
    history        this scenario's History (faults, workloads and drills record into it)
    judge          ``judge("objective-id", f="insert", observed=ids)``: verdicts, recorded for the
                   report, and a failed assertion with the explanation when an objective is breached
    objectives     the validated objectives file
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

import pytest  # noqa: E402

from harness.errors import ConfigError, HarnessError, ImageUnavailable  # noqa: E402
from harness.history import History  # noqa: E402
from harness.objectives import Objectives, load_objectives  # noqa: E402
from harness.settings import Settings  # noqa: E402
from harness.verdicts import Verdict, assert_met  # noqa: E402


@dataclass
class ScenarioData:
    """What one scenario recorded: its history, faults and verdicts."""

    history: History = field(default_factory=History)
    fault_records: list[Any] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    used_stack: bool = False


@dataclass
class RunState:
    """Run-wide state kept on the pytest config."""

    settings: Settings
    objectives: Objectives
    started_at: str
    scenarios: list[Any] = field(default_factory=list)
    verdict_lines: list[str] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    client: Any = None
    report_dir: Path | None = None
    no_go: list[str] = field(default_factory=list)


RUN = pytest.StashKey[RunState]()
HARNESS_FIXTURES = {"stack", "stack_factory", "history", "judge", "docker_client", "images"}
DATA = pytest.StashKey[ScenarioData]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "disaster-recovery and chaos harness")
    group.addoption("--objectives", metavar="PATH", help="objectives file (default objectives.toml)")
    group.addoption("--seed", metavar="N|last", help="the run's seed; 'last' reuses the newest report's")
    group.addoption("--sign-off", action="store_true", default=False,
                    help="pre-release sign-off: any skip, breach or unknown verdict is a no-go")
    group.addoption("--reports-dir", metavar="DIR", help="where run reports go (default reports/)")
    group.addoption("--no-report", action="store_true", default=False, help="write no run report")


MARKERS = (
    "docker: needs a Docker engine (the slow lane)",
    "objectives(*ids): the objective ids a scenario checks",
    "elasticsearch: needs the Elasticsearch image, skipped where it cannot be had",
)


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    try:
        settings = Settings.resolve(
            rootdir=Path(config.rootpath), objectives=config.getoption("objectives"),
            seed=config.getoption("seed"), sign_off=config.getoption("sign_off"),
            reports_dir=config.getoption("reports_dir"))
        objectives = load_objectives(settings.objectives_path)
    except ConfigError as err:
        raise pytest.UsageError(str(err)) from None
    config.stash[RUN] = RunState(settings=settings, objectives=objectives,
                                 started_at=_iso_now())
    _CONFIG.append(config)
    if hasattr(signal, "SIGTERM") and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_report_header(config: pytest.Config) -> list[str]:
    run = config.stash[RUN]
    s = run.settings
    return [f"harness: run {s.run_id}, seed {s.seed}, objectives {s.objectives_path} "
            f"({len(run.objectives)} objectives){', SIGN-OFF mode' if s.sign_off else ''}"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run = config.stash[RUN]
    for item in items:
        for marker in item.iter_markers("objectives"):
            try:
                run.objectives.require(marker.args, where=item.nodeid)
            except ConfigError as err:
                raise pytest.UsageError(str(err)) from None


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Seed ``random`` per scenario from the run's seed and the node id (reproducible choices)."""
    random.seed(f"{item.config.stash[RUN].settings.seed}:{item.nodeid}")


# -- fixtures --------------------------------------------------------------------------------
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
    from harness.cleanup import remove_run, sweep_stale
    from harness.engine import connect, engine_info

    try:
        client = connect()
    except HarnessError as err:
        pytest.exit(str(err), returncode=3)
    harness_run.client = client
    harness_run.environment["engine"] = engine_info(client)
    sweep_stale(client, progress=_say)
    yield client
    remove_run(client, harness_run.settings.run_id)


@pytest.fixture(scope="session")
def images(docker_client: Any, harness_run: RunState) -> dict[str, Any]:
    """PostgreSQL, Redis and Toxiproxy images: present, pulled or built from compose/images/."""
    from concurrent.futures import ThreadPoolExecutor

    from harness.images import SPECS, resolve

    wanted = ("postgres", "redis", "toxiproxy")
    try:
        with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
            futures = {name: pool.submit(resolve, docker_client, SPECS[name], progress=_say)
                       for name in wanted}
            resolved = {name: fut.result() for name, fut in futures.items()}
    except HarnessError as err:
        pytest.exit(str(err), returncode=3)
    harness_run.environment.setdefault("images", {}).update(
        {name: _image_dict(image) for name, image in resolved.items()})
    return resolved


@pytest.fixture(scope="session")
def _session_stack(docker_client: Any, images: dict[str, Any], harness_run: RunState) -> Iterator[Any]:
    from harness.stack import Stack, StackOptions

    settings = harness_run.settings
    stack = _start_stack(lambda: Stack(docker_client, settings.run_id, images,
                                       StackOptions(toxiproxy_api_port=settings.toxiproxy_api_port),
                                       ready_timeout_s=settings.ready_timeout_s, progress=_say))
    holder = {"stack": stack}
    yield holder
    holder["stack"].close()


@pytest.fixture
def history(request: pytest.FixtureRequest) -> History:
    """This scenario's History."""
    return _data(request.node).history


@pytest.fixture
def stack(_session_stack: dict[str, Any], request: pytest.FixtureRequest) -> Any:
    """The default stack, healed and reset before the scenario (rebuilt if it cannot be made clean)."""
    data = _data(request.node)
    current = _session_stack["stack"]
    try:
        elapsed = current.reset()
    except Exception as exc:  # noqa: BLE001 - any failure to clean means: rebuild
        _say(f"[harness] stack could not be made clean ({type(exc).__name__}: {exc}); rebuilding")
        current.close()
        from harness.stack import Stack
        current = _start_stack(lambda: Stack(current.client, current.run_id, current.images,
                                             current.options, current.ready_timeout_s,
                                             progress=_say))
        _session_stack["stack"] = current
        elapsed = 0.0
    request.node.user_properties.append(("stack_reset_s", f"{elapsed:.3f}"))
    current.bind(data.history, data.fault_records)
    data.used_stack = True
    yield current
    current.bind(None, None)


@pytest.fixture
def stack_factory(docker_client: Any, images: dict[str, Any], harness_run: RunState,
                  request: pytest.FixtureRequest) -> Iterator[Any]:
    """Build a stack variant for this scenario only; it is removed when the scenario ends."""
    from harness.stack import Stack, StackOptions

    data = _data(request.node)
    made: list[Any] = []

    def make(options: StackOptions | None = None) -> Any:
        built = _start_stack(lambda: Stack(docker_client, harness_run.settings.run_id, images,
                                           options or StackOptions(),
                                           ready_timeout_s=harness_run.settings.ready_timeout_s,
                                           progress=_say))
        built.bind(data.history, data.fault_records)
        data.used_stack = True
        made.append(built)
        return built

    yield make
    for built in made:
        built.close()


@pytest.fixture
def judge(request: pytest.FixtureRequest, harness_run: RunState) -> Any:
    """Judge the scenario's history against a named objective; a breach fails the scenario."""
    from harness.checkers import check

    data = _data(request.node)

    def judge_(objective_id: str, **kwargs: Any) -> list[Verdict]:
        try:
            objective = harness_run.objectives.require([objective_id], where=request.node.nodeid)[0]
        except ConfigError as err:
            pytest.fail(str(err), pytrace=False)
        verdicts = check(objective, data.history, **kwargs)
        data.verdicts.extend(verdicts)
        assert_met(verdicts, strict=harness_run.settings.sign_off)
        return verdicts

    return judge_


def _start_stack(build: Any) -> Any:
    try:
        return build().start()
    except HarnessError as err:
        error = err   # fail/skip outside the except: no chained exception printed twice
    if isinstance(error, ImageUnavailable):
        pytest.skip(str(error))
    pytest.fail(str(error), pytrace=False)


# -- results and the report ----------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    data = item.stash.get(DATA, None)
    if report.when == "call" and not report.skipped:
        data = _data(item)
        data.verdicts.extend(_unjudged(item, data))
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _record(item, report, data)
    return report


def _unjudged(item: pytest.Item, data: ScenarioData) -> list[Verdict]:
    """An "unknown" verdict for each limit of an objective the scenario names but never judged.

    A scenario that says it checks an objective and then measures nothing must not read as a pass.
    """
    run = item.config.stash[RUN]
    judged = {v.objective for v in data.verdicts}
    named = [oid for marker in item.iter_markers("objectives") for oid in marker.args]
    missing: list[Verdict] = []
    for oid in dict.fromkeys(named):
        if oid in judged or oid not in run.objectives:
            continue
        missing += [Verdict(oid, limit.name, limit.value, None, limit.unit, "unknown",
                            "the scenario names this objective but never judged it, so nothing "
                            "was measured") for limit in run.objectives[oid].limits]
    return missing


def _record(item: pytest.Item, report: pytest.TestReport, data: ScenarioData | None) -> None:
    from harness.report import ScenarioRecord, junit_properties, verdict_line

    run = item.config.stash[RUN]
    if report.skipped:
        outcome, reason = "skipped", _skip_reason(report)
    elif report.failed:
        outcome, reason = ("failed" if report.when == "call" else "error"), None
    else:
        outcome, reason = "passed", None
    data = data or ScenarioData()
    record = ScenarioRecord(
        id=item.nodeid, outcome=outcome, skip_reason=reason, duration_s=round(report.duration, 3),
        faults=[r.to_dict() for r in data.fault_records],
        verdicts=[v.to_dict() for v in data.verdicts],
        ops=[op.to_dict() for op in data.history.ops],
        error=_one_line(report) if report.failed else None)
    scenario_like = bool(HARNESS_FIXTURES & set(getattr(item, "fixturenames", ())))
    if data.used_stack or data.verdicts or (outcome == "skipped" and scenario_like):
        run.scenarios.append(record)
        for key, value in junit_properties(record):
            item.user_properties.append((key, value))
        run.verdict_lines += [verdict_line(v, item.nodeid) for v in record.verdicts]


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _one_line(report: pytest.TestReport) -> str:
    text = getattr(report.longrepr, "reprcrash", None)
    message = text.message if text is not None else str(report.longrepr)
    return " ".join(message.split())[:500]


def pytest_unconfigure(config: pytest.Config) -> None:
    if config in _CONFIG:
        _CONFIG.remove(config)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if RUN not in config.stash:
        return
    run = config.stash[RUN]
    if run.client is not None:
        from harness.cleanup import remove_run
        remove_run(run.client, run.settings.run_id)
    if hasattr(config, "workerinput"):
        return
    from harness.report import RunRecord, go_no_go, write_report

    record = RunRecord(run_id=run.settings.run_id, started_at=run.started_at,
                       finished_at=_iso_now(), seed=run.settings.seed,
                       environment=run.environment,
                       objectives_file=str(run.settings.objectives_path),
                       scenarios=run.scenarios, strict=run.settings.sign_off)
    if run.scenarios and not config.getoption("no_report"):
        run.report_dir = write_report(run.settings.reports_dir, record)
    go, reasons = go_no_go(record, strict=run.settings.sign_off)
    run.no_go = [] if go else reasons
    if run.settings.sign_off and not go and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if RUN not in config.stash:
        return
    run = config.stash[RUN]
    if run.verdict_lines:
        terminalreporter.section("verdicts")
        for line in run.verdict_lines:
            terminalreporter.write_line(line)
    if run.report_dir is not None:
        terminalreporter.write_line(f"harness report: {run.report_dir}/summary.md "
                                    f"(timeline: {run.report_dir}/timeline.html)")
    if run.settings.sign_off:
        verdict = "GO" if not run.no_go else "NO-GO: " + "; ".join(run.no_go)
        terminalreporter.write_line(f"sign-off: {verdict}")


# -- helpers -------------------------------------------------------------------------------
def _data(item: pytest.Item) -> ScenarioData:
    if DATA not in item.stash:
        item.stash[DATA] = ScenarioData()
    return item.stash[DATA]


def _image_dict(image: Any) -> dict[str, Any]:
    return {"ref": image.ref, "id": image.id, "source": image.source,
            "equivalent_of": getattr(image, "equivalent_of", None)}


_CONFIG: list[pytest.Config] = []


def _say(line: str) -> None:
    """Print a progress line past pytest's output capture, so long set-up steps are visible."""
    capman = _CONFIG[-1].pluginmanager.getplugin("capturemanager") if _CONFIG else None
    if capman is None:
        print(line, flush=True)
        return
    with capman.global_and_fixture_disabled():
        print("\n" + line, flush=True)


def _iso_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


