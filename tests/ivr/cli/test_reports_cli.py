"""`ivr report ...` in the terminal: tables, files, fold/rebuild/retention, evidence, erasure, clear errors."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from ivr.cli.report import group
from tests.support.events import DAY, T0, Events

CALLER = "+14155550123"
RANGE = ["--from", "2025-03-01", "--to", "2025-03-31"]


@pytest.fixture
def cli(redis_url: str, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("IVR_TIMEZONE", "UTC")
    runner = CliRunner()

    def run(*args: str, code: int = 0, input: str | None = None) -> Any:
        result = runner.invoke(group, list(args), input=input, catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result

    return run


@pytest.fixture
def world(redis_conn: redis.Redis) -> Events:
    ev = Events(redis_conn)
    ev.call(T0, CALLER, sid="CA1")
    ev.flag(T0 + 20_000, CALLER, "CA1", agent="client:alice")
    ev.add("status", T0 + 60_000, call_sid="CA1", number="", line="", status="completed", duration="58")
    ev.call(T0 + DAY, CALLER, sid="CA2", decision="treat", rule="number", treatment="reject")
    ev.flag(T0 + 2 * DAY, CALLER, "CA3", agent="client:bob")
    return ev


def test_fold_then_print_reports(cli: Any, world: Events, tmp_path: Path) -> None:
    assert "folded 5 events" in cli("fold").output
    out = cli("offenders", *RANGE).output
    assert "offenders: repeat" in out and CALLER in out
    assert "+1415555****" in cli("offenders", *RANGE, "--mask").output
    data = json.loads(cli("frequency", *RANGE, "--json").output)
    assert data["frequency"]["totals"]["flags"] == 2 and data["meta"]["timezone"] == "UTC"
    result = cli("agents", *RANGE, "--out", str(tmp_path / "agents"))
    assert "client:alice" in result.output
    assert {p.name for p in (tmp_path / "agents").iterdir()} == {"agents-agents.csv", "agents-shifts.csv",
                                                                  "agents.json"}
    cli("summary", *RANGE, "--out", str(tmp_path / "all"))
    assert (tmp_path / "all" / "report.html").read_text().count("<svg") >= 6
    assert "folded 0 events" in cli("fold").output


def test_rebuild_retention_evidence_and_erase(cli: Any, world: Events, tmp_path: Path,
                                              redis_conn: redis.Redis) -> None:
    cli("fold")
    assert "rebuilt 5 events" in cli("rebuild").output
    out = cli("evidence", CALLER, "--out", str(tmp_path)).output
    assert "3 calls of" in out
    folder = next(tmp_path.iterdir())
    sums = (folder / "SHA256SUMS").read_text().splitlines()
    assert [line.split("  ")[1] for line in sums] == ["calls.csv", "history.csv", "audit.csv", "calls.json",
                                                      "ftc_complaint.csv", "traceback_request.csv",
                                                      "traceback_request.txt", "warning_letter.txt"]
    for line in sums:
        digest, name = line.split("  ")
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    # March 2025 is long past the 90-day retention: screened calls go, flags and their call ends stay.
    assert "trimmed 4 events" in cli("retention").output  # the last folded event stays as the trim's mark
    assert "2 calls of" in cli("evidence", CALLER, "--out", str(tmp_path / "later")).output
    cli("erase", CALLER, "--by", "dpo", "--reason", "request 9", input="n\n", code=1)  # asked, refused
    assert redis_conn.xlen("ivr:events:kept") == 3
    assert "3 events deleted" in cli("erase", CALLER, "--by", "dpo", "--reason", "request 9", "--yes").output
    assert redis_conn.xlen("ivr:events:kept") == 0
    assert CALLER not in cli("sources", *RANGE).output and CALLER not in cli("offenders", *RANGE).output
    assert "flags" in cli("frequency", *RANGE).output


def test_bad_input_is_one_error_line(cli: Any, world: Events, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "YYYY-MM-DD" in cli("frequency", "--from", "March", code=2).output
    assert "withheld" in cli("evidence", "anonymous", "--out", "/tmp/x", code=2).output
    assert "--by" in cli("erase", CALLER, "--by", " ", "--reason", "x", "--yes", code=2).output
    monkeypatch.setenv("IVR_TIMEZONE", "Nowhere/Else")
    assert "IVR_TIMEZONE" in cli("fold", code=2).output
    monkeypatch.delenv("REDIS_URL")
    monkeypatch.setenv("IVR_TIMEZONE", "UTC")
    assert "REDIS_URL" in cli("fold", code=2).output


def test_times_in_the_terminal_are_read_in_the_reports_zone_once(cli: Any, redis_conn: redis.Redis, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A withheld call's time shows once, in IVR_TIMEZONE, the zone named in the heading (the JSON keeps ISO)."""
    monkeypatch.setenv("IVR_TIMEZONE", "Europe/Helsinki")
    ev = Events(redis_conn)
    ev.call(T0 + 2 * DAY, "anonymous", sid="CA4")
    ev.flag(T0 + 2 * DAY + 5000, "anonymous", "CA4", agent="client:bob")  # 5 Mar 2025, 00:00:05 UTC
    assert "reports include events up to 5 Mar 2025, 02:00 EET" in cli("fold").output
    out = cli("withheld", *RANGE).output
    heading, row = [line.split() for line in out.splitlines()[2:4]]
    assert heading[:2] == ["time", "(Europe/Helsinki)"] and "utc" not in heading
    assert " ".join(row[:4]) == "5 Mar 2025, 02:00:05" and "CA4" in row
    assert not re.search(r"\d{4}-\d\d-\d\dT", out)
    data = json.loads(cli("withheld", *RANGE, "--json").output)
    assert data["withheld"]["calls"][0]["time"] == "2025-03-05T02:00:05+02:00"
    ev.call(T0 + DAY, CALLER, sid="CA2")  # 4 Mar 2025, 00:00 UTC
    pack = cli("evidence", CALLER, "--out", str(tmp_path)).output
    assert "time (Europe/Helsinki)" in pack and "4 Mar 2025, 02:00:00" in pack and not re.search(r"\d{4}-\d\d-\d\dT", pack)
