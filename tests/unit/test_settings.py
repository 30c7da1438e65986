"""Settings (harness/plugin/settings.py): the runs kept and the commit recorded, validated once."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.plugin.settings import Settings


def _resolve(tmp_path, env, keep_runs=None, repeat=None):
    return Settings.resolve(rootdir=tmp_path, objectives=None, seed="1", sign_off=False, reports_dir=None,
                            env=env, keep_runs=keep_runs, repeat=repeat)


def test_keep_runs_defaults_to_30_and_the_option_beats_the_environment(tmp_path):
    """30 by default; HARNESS_KEEP_RUNS sets it; --keep-runs wins over the environment."""
    assert _resolve(tmp_path, {}).keep_runs == 30
    assert _resolve(tmp_path, {"HARNESS_KEEP_RUNS": "7"}).keep_runs == 7
    assert _resolve(tmp_path, {"HARNESS_KEEP_RUNS": "7"}, keep_runs="2").keep_runs == 2


@pytest.mark.parametrize("bad", ["0", "-1", "many"])
def test_a_bad_keep_runs_is_one_line(tmp_path, bad):
    """A count under 1 or not a number stops the run with what, where and the fix."""
    with pytest.raises(ConfigError, match=f"'{bad}' is not a whole number of 1 or more.*HARNESS_KEEP_RUNS"):
        _resolve(tmp_path, {"HARNESS_KEEP_RUNS": bad})


def test_commit_from_the_environment_or_unknown_outside_a_repository(tmp_path):
    """HARNESS_COMMIT or GITHUB_SHA name the commit; a folder that is no git checkout gives None."""
    assert _resolve(tmp_path, {"GITHUB_SHA": "a" * 40}).commit == "a" * 40
    assert _resolve(tmp_path, {"HARNESS_COMMIT": "b" * 40, "GITHUB_SHA": "a" * 40}).commit == "b" * 40
    assert _resolve(tmp_path, {}).commit is None


def test_repeat_is_1_by_default_3_in_sign_off_and_the_option_wins(tmp_path):
    """A sign-off repeats each scenario 3 times unless --repeat or HARNESS_REPEAT says otherwise."""
    assert _resolve(tmp_path, {}).repeat == 1
    assert _resolve(tmp_path, {"HARNESS_SIGN_OFF": "1"}).repeat == 3
    assert _resolve(tmp_path, {"HARNESS_SIGN_OFF": "1", "HARNESS_REPEAT": "5"}).repeat == 5
    assert _resolve(tmp_path, {"HARNESS_REPEAT": "5"}, repeat="2").repeat == 2
    with pytest.raises(ConfigError, match="'0' is not a whole number of 1 or more.*--repeat"):
        _resolve(tmp_path, {}, repeat="0")
