"""redact (harness/report/redact.py): generated passwords, URL credentials and password pairs become ***."""

from __future__ import annotations

import json

import pytest
from test_report import FAIL_V, _run, _scenario

from harness.report.redact import redact
from harness.report.writer import write_report


@pytest.mark.parametrize(("text", "expected"), [
    ("redis://:Zq3-9xYw_u@proxy-redis:16379/0 ok", "redis://:***@proxy-redis:16379/0 ok"),
    ("postgresql://harness:unknown1@h:5432/db", "postgresql://harness:***@h:5432/db"),
    ('{"password": "hunter22"}', '{"password": "***"}'),
    ("host=x password=hunter22 user=y", "host=x password=*** user=y"),
    ("PGPASSWORD=hunter22", "PGPASSWORD=***"),
    ("redis-server --requirepass hunter22 --port 1", "redis-server --requirepass *** --port 1"),
    ("generated Zq3-9xYw_u appears bare", "generated *** appears bare"),
])
def test_secrets_become_a_mask(text, expected):
    """Each kind of secret is masked wherever it sits."""
    assert redact(text, ["Zq3-9xYw_u"]) == expected


@pytest.mark.parametrize("text", ["http://127.0.0.1:8080/health", "no password given", "rto 1.5 s <= 2 s",
                                  "time 12:30:01 at host:5432"])
def test_ordinary_text_is_left_alone(text):
    """URLs without credentials, the word password, times and ports are not secrets."""
    assert redact(text, ["Zq3-9xYw_u"]) == text


def test_short_strings_are_never_treated_as_secrets():
    """A secret under 6 characters would blank out ordinary words: it is ignored, not matched."""
    assert redact("the ok op", ["ok"]) == "the ok op"


def test_write_report_masks_every_file(tmp_path):
    """The run's passwords given to the record appear in no file write_report writes."""
    secret = "S3cr3t-generated"
    v = dict(FAIL_V, explanation=f"login with {secret} refused")
    run = _run(scenarios=[_scenario(verdicts=[v], outcome="failed", error=f"redis://:{secret}@h:1/0 down")])
    run.redact = (secret,)
    run_dir = write_report(tmp_path, run)
    for path in run_dir.iterdir():
        assert secret not in path.read_text(encoding="utf-8"), path.name
    doc = json.loads((run_dir / "report.json").read_text())
    assert doc["scenarios"][0]["error"] == "redis://:***@h:1/0 down"
    assert "redact" not in doc
