"""The pytest plugin: settings, objectives, the stack fixtures, verdicts and the run report.

Registered by entry point (``pytest11``), so ``pytest scenarios/`` needs no conftest import.

The fixtures live in ``harness/plugin/fixtures.py`` (imported here so pytest registers them); the state
kept between hooks is in ``harness/plugin/session.py``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

import pytest  # noqa: E402

from harness.errors import ConfigError  # noqa: E402
from harness.judging.objectives import Objectives, load_objectives  # noqa: E402
from harness.judging.rates import rates_by_process  # noqa: E402
from harness.judging.verdicts import Verdict  # noqa: E402
from harness.plugin.fixtures import (ObjectiveBreached, _session_stack, docker_client,  # noqa: E402,F401
                                     harness_repeat, harness_run, history, images, judge, objectives,
                                     stack, stack_factory, stack_services)
from harness.plugin.parallel import (RUN_ALONE, RUN_ALONE_MARKER, ControllerHooks,  # noqa: E402
                                     from_controller, is_worker, received, remove_lock_files, send_home,
                                     slot)
from harness.plugin.session import (CONFIGS, DATA, HARNESS_FIXTURES, RUN, RunState,  # noqa: E402
                                    ScenarioData, data_of, iso_now)
from harness.plugin.settings import Settings  # noqa: E402
from harness.plugin.shard import OPTION_HELP as SHARD_HELP, ShardPlugin, shard_of  # noqa: E402
from harness.report import (NO_EVIDENCE, RunRecord, ScenarioRecord, empty_share, go_no_go,  # noqa: E402
                            junit_properties, shown_outcome, verdict_line, write_report)
from harness.stack.cleanup import remove_run  # noqa: E402
from harness.stack.engine import connect  # noqa: E402
from harness.stack.labels import worker_id  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "disaster-recovery and chaos harness")
    group.addoption("--objectives", metavar="PATH", help="objectives file (default objectives.toml)")
    group.addoption("--seed", metavar="N|last", help="the run's seed; 'last' reuses the newest report's")
    group.addoption("--sign-off", action="store_true", default=False,
                    help="pre-release sign-off: any skip, breach or unknown verdict is a no-go")
    group.addoption("--reports-dir", metavar="DIR", help="where run reports go (default reports/)")
    group.addoption("--no-report", action="store_true", default=False, help="write no run report")
    group.addoption("--repeat", metavar="N", default=None,
                    help="run each scenario N times, each on a reset stack with its own seed "
                         "(default 1; 3 with --sign-off)")
    group.addoption("--keep-runs", metavar="N", default=None,
                    help="run folders kept under the reports dir, older ones pruned (default 30)")
    group.addoption("--shard", metavar="I/N", default=None, help=SHARD_HELP)


MARKERS = (
    "docker: needs a Docker engine (the slow lane)",
    "objectives(*ids): the objective ids a scenario checks",
    "elasticsearch: needs the Elasticsearch image, skipped where it cannot be had",
    RUN_ALONE_MARKER,
)


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    handed = from_controller(config)  # a pytest-xdist worker runs under its controller's id and seed
    try:
        settings = Settings.resolve(
            rootdir=Path(config.rootpath), objectives=config.getoption("objectives"),
            seed=handed.get("seed") or config.getoption("seed"), sign_off=config.getoption("sign_off"),
            reports_dir=config.getoption("reports_dir"), keep_runs=config.getoption("keep_runs"),
            repeat=config.getoption("repeat"), run_id=handed.get("run_id"))
        missing = _missing_default_objectives(config, settings)
        objectives = Objectives(settings.objectives_path, {}) if missing else load_objectives(settings.objectives_path)
        shard = shard_of(config.getoption("shard"))
    except ConfigError as err:
        raise pytest.UsageError(str(err)) from None
    config.stash[RUN] = RunState(settings=settings, objectives=objectives,
                                 started_at=iso_now(), objectives_missing=missing)
    config.pluginmanager.register(ShardPlugin(shard, settings.reports_dir, config.stash[RUN].environment))
    if not is_worker(config) and config.pluginmanager.hasplugin("xdist"):
        config.stash[RUN].controller = ControllerHooks(settings.run_id, settings.seed)
        config.pluginmanager.register(config.stash[RUN].controller, "harness-xdist-controller")
    CONFIGS.append(config)
    if hasattr(signal, "SIGTERM") and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _interrupt)


def _missing_default_objectives(config: pytest.Config, settings: Settings) -> str | None:
    """The one-line error for an absent objectives file that nobody named, or None.

    A project that installed the harness runs its plain unit tests with the plugin loaded too:
    those must not need objectives.toml. The error is kept for the first scenario (a test using
    the harness's fixtures or naming objectives); a path given by option or environment that does
    not exist stays an error at once.
    """
    if config.getoption("objectives") or os.environ.get("HARNESS_OBJECTIVES") or settings.objectives_path.exists():
        return None
    try:
        load_objectives(settings.objectives_path)
    except ConfigError as err:
        return str(err)
    return None


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_report_header(config: pytest.Config) -> list[str]:
    run = config.stash[RUN]
    s = run.settings
    workers = getattr(config.option, "numprocesses", None)
    return [f"harness: run {s.run_id}, seed {s.seed}, objectives {s.objectives_path} "
            f"({len(run.objectives)} objectives){', SIGN-OFF mode' if s.sign_off else ''}"
            f"{f', each scenario x{s.repeat}' if s.repeat > 1 else ''}"
            f"{f', {workers} workers with a stack each (one report)' if workers else ''}"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Under ``--repeat N`` every scenario (a test using the harness's fixtures) runs N times."""
    n = metafunc.config.stash[RUN].settings.repeat if RUN in metafunc.config.stash else 1
    if n > 1 and HARNESS_FIXTURES & set(metafunc.fixturenames):
        if "harness_repeat" not in metafunc.fixturenames:
            metafunc.fixturenames.append("harness_repeat")
        metafunc.parametrize("harness_repeat", range(1, n + 1), indirect=True,
                             ids=[f"repeat{k}of{n}" for k in range(1, n + 1)])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run = config.stash[RUN]
    if run.objectives_missing and any(HARNESS_FIXTURES & set(getattr(item, "fixturenames", ()))
                                      or item.get_closest_marker("objectives") for item in items):
        raise pytest.UsageError(run.objectives_missing)
    for item in items:
        for marker in item.iter_markers("objectives"):
            try:
                run.objectives.require(marker.args, where=item.nodeid)
            except ConfigError as err:
                raise pytest.UsageError(str(err)) from None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """On a pytest-xdist worker: a ``run_alone`` test waits until it is the only test running."""
    if not is_worker(item.config):
        return (yield)
    with slot(item.config.stash[RUN].settings.run_id, alone=item.get_closest_marker(RUN_ALONE) is not None):
        return (yield)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Seed ``random`` per scenario from the run's seed and the node id (reproducible choices; each
    repeat has its own node id, so its own seed)."""
    random.seed(_seed_of(item))


def _seed_of(item: pytest.Item) -> str:
    return f"{item.config.stash[RUN].settings.seed}:{item.nodeid}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "setup":
        item.stash[SETUP_S] = report.duration
    if report.failed and call.excinfo is not None and call.excinfo.errisinstance(ObjectiveBreached):
        report.longrepr = _breach_repr(call.excinfo)
    data = item.stash.get(DATA, None)
    if report.when == "call" and not report.skipped:
        data = data_of(item)
        data.verdicts.extend(_unjudged(item, data))
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _record(item, report, data)
    return report


def _breach_repr(excinfo: pytest.ExceptionInfo[BaseException]) -> Any:
    """The verdict lines, owner and runbook, and where the scenario judged: no harness frames."""
    harness_dir = str(Path(__file__).resolve().parents[1])
    scenario = [e for e in excinfo.traceback if not str(e.path).startswith(harness_dir)]
    where = (f"\n  judged at {os.path.relpath(scenario[-1].path)}:{scenario[-1].lineno + 1}"
             if scenario else "")
    excinfo.value.args = (f"{excinfo.value}{where}",)
    longrepr = excinfo.getrepr(style="value")
    first = next((line.strip() for line in str(excinfo.value).splitlines()
                  if line.strip().startswith(("FAIL ", "UNKNOWN "))), None)
    crash = getattr(longrepr, "reprcrash", None)
    if first and crash is not None:   # the short summary line: the first breached verdict
        crash.message = first
    return longrepr


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


SETUP_S = pytest.StashKey[float]()


def _record(item: pytest.Item, report: pytest.TestReport, data: ScenarioData | None) -> None:
    run = item.config.stash[RUN]
    began = time.monotonic()
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
        error=_one_line(report) if report.failed else None, rates=_rates(data),
        logs=_logs(data) if report.failed or any(v.validity == "fail" for v in data.verdicts) else {},
        repeat=_repeat_of(item), seed=_seed_of(item), worker=worker_id(),
        harness_s={"setup_s": round(item.stash.get(SETUP_S, 0.0), 3)} | data.harness_s)
    scenario_like = bool(HARNESS_FIXTURES & set(getattr(item, "fixturenames", ())))
    if data.used_stack or data.verdicts or (outcome == "skipped" and scenario_like):
        for key, value in junit_properties(record):
            item.user_properties.append((key, value))
        record.harness_s["record_s"] = round(time.monotonic() - began, 3)
        if is_worker(item.config):   # the controller keeps it (pytest_runtest_logreport)
            send_home(report, record.to_dict(), run.secrets, run.environment)
        else:
            _keep(run, record)


def _keep(run: RunState, record: ScenarioRecord) -> None:
    run.scenarios.append(record)
    run.verdict_lines += [verdict_line(v, record.id) for v in record.verdicts]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Where the run's records come together: a worker's scenario on the controller; and the
    tear-down's seconds on the scenario it belongs to."""
    config = CONFIGS[-1] if CONFIGS else None
    if config is None or RUN not in config.stash or is_worker(config):
        return
    run = config.stash[RUN]
    got = received(report)
    if got is not None:
        record, secrets, environment = got
        run.secrets.update(secrets)
        for key, value in environment.items():
            if isinstance(value, dict) and isinstance(run.environment.get(key), dict):
                run.environment[key] |= value
            else:
                run.environment.setdefault(key, value)
        _keep(run, ScenarioRecord.from_dict(record))
    elif report.when == "teardown":
        mine = next((s for s in reversed(run.scenarios) if s.id == report.nodeid), None)
        if mine is not None and "teardown_s" not in mine.harness_s:
            mine.harness_s["teardown_s"] = round(report.duration, 3)


def _repeat_of(item: pytest.Item) -> int | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("harness_repeat") if callspec is not None else None


LOG_LINES = 200  # the last lines of each container's log kept for a failed or breached scenario


def _logs(data: ScenarioData) -> dict[str, str]:
    """Every container log of the scenario's stacks; a crash here never costs the report."""
    logs: dict[str, str] = {}
    for n, one in enumerate(data.stacks):
        try:
            found = one.container_logs(LOG_LINES)
        except Exception as exc:  # noqa: BLE001
            found = {"stack": f"(logs unavailable: {type(exc).__name__}: {exc})"}
        logs |= {(name if n == 0 else f"{name}-stack{n + 1}"): text for name, text in found.items()}
    return logs


def _rates(data: ScenarioData) -> dict:
    """Asked and achieved rate per workload and phase; a crash here never costs the report."""
    try:
        return rates_by_process(data.history)
    except Exception as exc:  # noqa: BLE001
        return {"error": f"{type(exc).__name__}: {exc}"}


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
    if config in CONFIGS:
        CONFIGS.remove(config)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if RUN not in config.stash:
        return
    run = config.stash[RUN]
    if run.client is not None:
        remove_run(run.client, run.settings.run_id, worker=worker_id())
    if is_worker(config):
        return
    if run.controller is not None and run.controller.workers:
        _remove_whole_run(run)
    record = RunRecord(run_id=run.settings.run_id, started_at=run.started_at,
                       finished_at=iso_now(), seed=run.settings.seed,
                       environment=run.environment,
                       objectives_file=str(run.settings.objectives_path),
                       scenarios=run.scenarios, strict=run.settings.sign_off,
                       redact=tuple(run.secrets), commit=run.settings.commit)
    empty = empty_share(record)   # more shards than tests: an empty report, so the merge finds all N
    if (run.scenarios or empty) and not config.getoption("no_report"):
        run.report_dir = write_report(run.settings.reports_dir, record, keep_runs=run.settings.keep_runs)
    if empty and session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.OK
    go, reasons = go_no_go(record, strict=run.settings.sign_off)
    run.no_go = [] if go else reasons
    if run.settings.sign_off and not go and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _remove_whole_run(run: RunState) -> None:
    """After a parallel run: whatever of the run is still there (a worker killed before its own
    teardown) is removed by the controller."""
    remove_lock_files(run.settings.run_id)
    try:
        removed = remove_run(connect(), run.settings.run_id)
    except Exception as exc:  # noqa: BLE001 - the engine may be gone; the next run's sweep takes over
        print(f"[harness] could not check the run's leftovers ({type(exc).__name__}: {exc}); "
              "the next run sweeps them")
        return
    if removed.total:
        print(f"[harness] removed what workers left: {removed.containers} container(s), "
              f"{removed.networks} network(s), {removed.volumes} volume(s)")


def _regression_lines(report_dir: Path) -> list[str]:
    try:
        doc = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
        return [str(r["line"]) for r in doc.get("regressions", [])]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if RUN not in config.stash:
        return
    run = config.stash[RUN]
    if run.verdict_lines:
        terminalreporter.section("verdicts")
        for line in run.verdict_lines:
            terminalreporter.write_line(line)
    for scenario in run.scenarios:
        if shown_outcome(scenario) == NO_EVIDENCE:
            terminalreporter.write_line(f"NO EVIDENCE {scenario.id}: all {len(scenario.verdicts)} verdicts "
                                        f"unknown, nothing was measured; this is not a pass", yellow=True)
    if run.report_dir is not None:
        terminalreporter.write_line(f"harness report: {run.report_dir}/summary.md "
                                    f"(timeline: {run.report_dir}/timeline.html)")
        for line in _regression_lines(run.report_dir):
            terminalreporter.write_line(line, yellow=True)
        terminalreporter.write_line(f"trends: {run.report_dir.parent / 'trends.html'}")
    if run.settings.sign_off:
        page = run.report_dir / "signoff.md" if run.report_dir is not None else None
        if page is not None and page.is_file():
            terminalreporter.section("sign-off (go/no-go)")
            for line in page.read_text(encoding="utf-8").splitlines():
                terminalreporter.write_line(line)
            terminalreporter.write_line(f"(this page: {page})")
        verdict = "GO" if not run.no_go else "NO-GO: " + "; ".join(run.no_go)
        terminalreporter.write_line(f"sign-off: {verdict}")
