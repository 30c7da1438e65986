"""Unit tests for harness.judging.objectives: the seed file loads, and every mistake is one clear line."""

import re
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.judging.objectives import DEFAULT_PATH, load_objectives, parse_limit

GOOD = '''
[objectives.pg-kill]
description = "No acknowledged insert is lost."
owner = "team-data"
runbook = "docs/runbooks/pg.md"

[objectives.pg-kill.limits]
rto = "5 s"
rpo_lost_writes = "0 writes"
'''


def write(tmp_path, text):
    path = tmp_path / "objectives.toml"
    path.write_text(text)
    return path


def error_of(tmp_path, text):
    with pytest.raises(ConfigError) as err:
        load_objectives(write(tmp_path, text))
    message = str(err.value)
    assert "\n" not in message
    return message


def test_seed_file_names_every_scenario_objective():
    """The repo's objectives.toml loads and holds every objective a scenario marker names."""
    objectives = load_objectives()
    scenario_dir = Path(__file__).resolve().parents[2] / "scenarios"
    named = {m for f in scenario_dir.glob("test_*.py")
             for m in re.findall(r'mark\.objectives\("([^"]+)"', f.read_text())}
    named |= {"redis-kill-persistence", "outage-accuracy"}
    assert objectives.path == DEFAULT_PATH
    assert named <= set(objectives)
    assert all(o.owner and o.description and o.limits for o in objectives.values())


def test_good_file_loads_with_canonical_units(tmp_path):
    """Limits are converted to their canonical unit and keep the text as written."""
    objectives = load_objectives(write(tmp_path, GOOD))
    pg = objectives["pg-kill"]
    assert (pg.owner, pg.runbook) == ("team-data", "docs/runbooks/pg.md")
    assert [(x.name, x.value, x.unit, x.bound, x.text) for x in pg.limits] == [
        ("rto", 5.0, "s", "max", "5 s"), ("rpo_lost_writes", 0.0, "writes", "max", "0 writes")]


@pytest.mark.parametrize(("name", "raw", "value", "unit", "bound", "phase", "quantile"), [
    ("rto", "1.5 min", 90.0, "s", "max", None, None),
    ("rto", "250ms", 0.25, "s", "max", None, None),
    ("latency_p99_during_fault", "1.5 s", 1500.0, "ms", "max", "during", 0.99),
    ("latency_p999_after_fault", "20 ms", 20.0, "ms", "max", "after", 0.999),
    ("latency_p50_during_fault_min", "250 ms", 250.0, "ms", "min", "during", 0.5),
    ("max_error_rate_during_fault", "100 %", 100.0, "%", "max", "during", None),
    ("min_availability_after_fault", "99.9 %", 99.9, "%", "min", "after", None),
    ("outage_accuracy", "100 ms", 0.1, "s", "max", None, None),
])
def test_limit_names_and_units(name, raw, value, unit, bound, phase, quantile):
    """Each supported limit parses to its metric, bound, phase, quantile and canonical unit."""
    limit = parse_limit(name, raw)
    assert (limit.value, limit.unit, limit.bound, limit.phase, limit.quantile) == (value, unit, bound, phase, quantile)


def test_syntax_error_names_line_and_column(tmp_path):
    """A TOML syntax error gives file:line:column from tomllib."""
    message = error_of(tmp_path, GOOD.replace('owner = "team-data"', "owner team-data"))
    assert re.search(r"objectives\.toml:4:7: TOML syntax error: ", message), message
    assert "fix that line" in message


def test_unknown_unit_is_one_line_with_the_fix(tmp_path):
    """An unknown unit names the file, line, table, key and value, and lists the units to use."""
    message = error_of(tmp_path, GOOD.replace('rto = "5 s"', 'rto = "5 parsecs"'))
    assert message.endswith('objectives.toml:8: [objectives.pg-kill.limits] rto = "5 parsecs": '
                            'unknown unit "parsecs"; use ms, s or min')


def test_unit_of_the_wrong_kind(tmp_path):
    """A count unit on a duration is refused with the units that fit."""
    message = error_of(tmp_path, GOOD.replace('rto = "5 s"', 'rto = "5 writes"'))
    assert 'rto = "5 writes": unit "writes" does not fit this limit; use ms, s or min' in message


@pytest.mark.parametrize(("line", "problem"), [
    ('rto = "5"', 'rto = "5": missing unit; add one: ms, s or min'),
    ("rto = 5", 'rto = 5: missing unit; write it as a string with a unit, e.g. rto = "5 s"'),
    ('rto = "-5 s"', 'rto = "-5 s": negative limit; limits are 0 or more'),
    ('rto = "fast"', 'rto = "fast": "fast" is not a number with a unit; write e.g. rto = "5 s"'),
    ('rto = "nan s"', '"nan s" is not a number with a unit'),
    ('rto = true', "rto = True: bool is not a limit"),
])
def test_bad_limit_values(tmp_path, line, problem):
    """Missing units, negative and non-numeric limits are refused naming the key."""
    message = error_of(tmp_path, GOOD.replace('rto = "5 s"', line))
    assert "objectives.toml:8: [objectives.pg-kill.limits] " in message
    assert problem in message


def test_rate_above_100_percent(tmp_path):
    """A percentage above 100 is refused."""
    message = error_of(tmp_path, GOOD + 'max_error_rate_during_fault = "150 %"\n')
    assert 'max_error_rate_during_fault = "150 %": rate above 100 %' in message


def test_unknown_limit_suggests_the_near_name(tmp_path):
    """A misspelt limit is refused with a did-you-mean and the supported names."""
    message = error_of(tmp_path, GOOD.replace('rto = "5 s"', 'rtoo = "5 s"'))
    assert 'rtoo = "5 s": unknown limit "rtoo"; did you mean "rto"? supported: rto, rto_from_inject' in message


def test_unknown_objective_key(tmp_path):
    """A key other than description/owner/runbook/limits is refused with the allowed keys."""
    message = error_of(tmp_path, GOOD.replace('runbook =', 'runbok ='))
    assert ('objectives.toml:5: [objectives.pg-kill] runbok: unknown key "runbok"; '
            "allowed keys: description, owner, runbook, limits") in message


def test_unknown_top_level_key(tmp_path):
    """Only [objectives.*] tables may appear at the top level."""
    message = error_of(tmp_path, 'title = "x"\n' + GOOD)
    assert 'objectives.toml: unknown top-level key "title"; put every objective under [objectives.<id>]' in message


@pytest.mark.parametrize("key", ["description", "owner"])
def test_missing_description_or_owner(tmp_path, key):
    """An objective without a description or owner is refused, naming its table line."""
    text = "\n".join(line for line in GOOD.splitlines() if not line.startswith(key))
    message = error_of(tmp_path, text)
    assert f'objectives.toml:2: [objectives.pg-kill]: missing "{key}"; add {key} = "..."' in message


def test_objective_without_limits(tmp_path):
    """An objective must state at least one limit."""
    message = error_of(tmp_path, GOOD.split("[objectives.pg-kill.limits]")[0])
    assert "[objectives.pg-kill]: has no limits; add [objectives.pg-kill.limits]" in message


def test_empty_file(tmp_path):
    """A file without objectives is refused."""
    assert "objectives.toml: no objectives" in error_of(tmp_path, "# nothing yet\n")


def test_minimum_above_maximum(tmp_path):
    """A latency minimum above its maximum could never pass and is refused."""
    message = error_of(tmp_path, GOOD + 'latency_p50_during_fault = "200 ms"\nlatency_p50_during_fault_min = "250 ms"\n')
    assert 'minimum "250 ms" is above the maximum latency_p50_during_fault = "200 ms"' in message


def test_missing_file(tmp_path):
    """A missing file says where it was looked for and how to create one."""
    with pytest.raises(ConfigError) as caught:
        load_objectives(tmp_path / "nope.toml")
    message = str(caught.value)
    assert f"objectives file not found (looked for {tmp_path / 'nope.toml'})" in message
    assert "create one with `dr-harness init`" in message and "\n" not in message


def test_require_returns_named_objectives(tmp_path):
    """require gives back the objectives a scenario names, in order."""
    objectives = load_objectives(write(tmp_path, GOOD))
    assert [o.id for o in objectives.require(["pg-kill"], where="scenarios/test_y.py::test_z")] == ["pg-kill"]


def test_require_unknown_id_names_the_scenario(tmp_path):
    """An id the file lacks is one line naming the scenario, the file and the fix."""
    objectives = load_objectives(write(tmp_path, GOOD))
    with pytest.raises(ConfigError) as err:
        objectives.require(["x"], where="scenarios/test_y.py::test_z")
    assert str(err.value) == ("objective 'x' named by scenarios/test_y.py::test_z is not in objectives.toml; "
                              "add it or fix the name")
    with pytest.raises(ConfigError, match="did you mean 'pg-kill'"):
        objectives.require("pg-kil", where="scenarios/test_y.py::test_z")


HEAD = '[objectives.a]\ndescription = "d"\nowner = "o"\n[objectives.a.limits]\n'
SUPPORTED = ("supported: rto, rto_from_inject, rpo, rpo_lost_writes, unexpected_writes, steady_state_after_heal, "
             "outage_accuracy, drill_rto, lost_before_restore_point, writes_after_restore_point, "
             "max_error_rate_<phase>, min_availability_<phase>, max_5xx_rate_<phase>, max_degraded_rate_<phase>, "
             "max_unclean_error_rate_<phase>, min_achieved_rate_<phase>, latency_p<NN>_<phase>[_min]")


@pytest.mark.parametrize(("text", "expected"), [
    ('objectives = 3\n', ": no objectives; add at least one [objectives.<id>] table with description, owner "
                         "and limits"),
    ('[objectives]\npg = 3\n', ":2: [objectives] pg: is not a table; write it as [objectives.pg] with "
                               "description, owner and limits"),
    (HEAD + 'rto = 5\n', ':5: [objectives.a.limits] rto = 5: missing unit; write it as a string with a unit, '
                         'e.g. rto = "5 s"'),
    (HEAD + 'rto = [5]\n', ':5: [objectives.a.limits] rto = [5]: list is not a limit; write it as a string '
                           'with a unit, e.g. rto = "5 s"'),
    (HEAD + 'max_error_rate_during_fault = "101 %"\n',
     ':5: [objectives.a.limits] max_error_rate_during_fault = "101 %": rate above 100 %; use a percentage '
     'from 0 to 100'),
    (HEAD + 'latency_p0_during_fault = "1 ms"\n',
     ':5: [objectives.a.limits] latency_p0_during_fault = "1 ms": quantile "p0" is out of range; use p50, '
     'p90, p99, p999 or similar'),
    (HEAD + 'rtoo = "1 s"\n', f':5: [objectives.a.limits] rtoo = "1 s": unknown limit "rtoo"; did you mean '
                              f'"rto"? {SUPPORTED}'),
    (HEAD + 'zzzzzz = "1 s"\n', f':5: [objectives.a.limits] zzzzzz = "1 s": unknown limit "zzzzzz"; {SUPPORTED}'),
    ('[objectives.a\n', ':1:14: TOML syntax error: Expected \']\' at the end of a table declaration; fix that '
                        'line (keys look like rto = "5 s", tables like [objectives.<id>])'),
    ('[objectives.a]\ndescription = "d"\nowner = "o"\nrunbook = 3\n[objectives.a.limits]\nrto = "1 s"\n',
     ':4: [objectives.a] runbook: is not a string; write runbook = "path or URL"'),
    ('[objectives.a]\ndescription = "d"\nowner = "o"\nlimits = "x"\n',
     ':1: [objectives.a]: has no limits; add [objectives.a.limits] with at least one limit, e.g. rto = "5 s"'),
    ('[objectives.a]\ndescription = ""\nowner = "o"\n[objectives.a.limits]\nrto = "1 s"\n',
     ':1: [objectives.a]: missing "description"; add description = "..." (a non-empty string)'),
])
def test_every_mistake_reads_as_one_exact_line(tmp_path, text, expected):
    """The whole message: file (and line), the offending text, the problem and the fix."""
    assert error_of(tmp_path, text) == f"{tmp_path / 'objectives.toml'}{expected}"


def test_an_unreadable_file_says_so_with_the_fix(tmp_path):
    """Bytes that are not UTF-8: one line naming the file, the decoder's complaint and the fix."""
    path = tmp_path / "objectives.toml"
    path.write_bytes(b'[objectives.a]\ndescription = "\xff"\n')
    with pytest.raises(ConfigError) as err:
        load_objectives(path)
    assert str(err.value) == (f"{path}: cannot read the objectives file ('utf-8' codec can't decode byte 0xff "
                              "in position 30: invalid start byte); fix its permissions or encoding")


def test_limit_values_are_kept_to_nine_decimals():
    """A limit keeps nine decimals (no float noise in reports); 100 % and p100 are accepted."""
    assert parse_limit("rto", "1.0000000004 s").value == 1.0
    assert parse_limit("rto", "1.000000004 s").value == 1.000000004
    assert parse_limit("max_error_rate_during_fault", "100 %").value == 100.0
    assert parse_limit("latency_p100_during_fault", "5 ms").quantile == 1.0
    assert parse_limit("latency_p999_during_fault", "5 ms").quantile == 0.999
    assert parse_limit("latency_p9999_during_fault", "5 ms").quantile == 0.9999
