"""`ivr blocklist add --for` and `temporary` with lengths that carry their unit: `--for 3` and an
empty `--for` are refused with the forms accepted, `permanent` is said by name, and what the command prints
and the audit log records say how long the block lasts and until when."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from click.testing import CliRunner, Result

from blocklist import keys
from blocklist.clock import format_time, human_time, now_ms
from blocklist.parse import parse_duration
from blocklist.rules import Blocklist, Policy
from ivr.cli.blocklist import blocklist_group
from ivr.simulate import parse_compress, parse_span
from tests.support.store import snapshot

CALLER = "+14155550123"
FORMS = ("90s", "15m", "24h", "7d", "2w", "permanent")


@pytest.fixture
def run(redis_url: str, redis_conn: redis.Redis) -> Any:
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(blocklist_group, list(args), env={"REDIS_URL": redis_url}, catch_exceptions=False)

    return invoke


def refused(result: Result, *words: str) -> str:
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("error: ") == 1, result.stderr
    assert all(word in result.stderr for word in words), result.stderr
    return result.stderr


def audit_of(redis_conn: redis.Redis, action: str) -> list[dict[str, str]]:
    return [fields for _id, fields in redis_conn.xrange(keys.AUDIT) if fields["action"] == action]


def test_for_3_is_refused_with_the_forms_accepted_and_blocks_nothing(run: Any, redis_conn: redis.Redis) -> None:
    before = snapshot(redis_conn)
    refused(run("add", CALLER, "-r", "threats", "--for", "3"), "'3' has no unit", *FORMS)
    refused(run("add", CALLER, "-r", "threats", "--for", "3600"), "no unit")
    assert snapshot(redis_conn) == before


@pytest.mark.parametrize("empty", ["", "   "])
def test_an_empty_for_is_refused_not_read_as_permanent(run: Any, redis_conn: redis.Redis, empty: str) -> None:
    before = snapshot(redis_conn)
    refused(run("add", CALLER, "-r", "threats", "--for", empty), "--for is empty", *FORMS)
    assert snapshot(redis_conn) == before


def test_for_permanent_blocks_with_no_end_and_says_so(run: Any, redis_conn: redis.Redis) -> None:
    result = run("add", CALLER, "-r", "threats", "--for", "permanent", "--by", "mia")
    assert result.exit_code == 0, result.output
    assert "  permanent  " in result.stdout and "lasts permanent" in result.stdout
    assert Blocklist(redis_conn, Policy()).entries(CALLER)[0].until_ms is None
    (audit,) = audit_of(redis_conn, "block")
    assert (audit["by"], audit["lasts"], audit["until"]) == ("mia", "permanent", "")


def test_for_7d_prints_and_audits_the_length_and_the_end(run: Any, redis_conn: redis.Redis) -> None:
    result = run("add", CALLER, "-r", "threats", "--for", "7d", "--by", "mia")
    assert result.exit_code == 0, result.output
    entry = Blocklist(redis_conn, Policy()).entries(CALLER)[0]
    assert entry.until_ms is not None and entry.until_ms - entry.at == 7 * 86400 * 1000
    assert f"lasts 7d, until {human_time(entry.until_ms)}" in result.stdout
    (audit,) = audit_of(redis_conn, "block")
    assert (audit["number"], audit["lasts"], audit["until"]) == (CALLER, "7d", str(entry.until_ms))
    assert "lasts 7d" in run("history", CALLER).stdout


def test_an_end_time_is_audited_with_the_length_it_gives(run: Any, redis_conn: redis.Redis) -> None:
    end = format_time((now_ms() // 1000 + 5400) * 1000)  # an hour and a half from now, to the second
    result = run("add", CALLER, "-r", "threats", "--until", end)
    assert result.exit_code == 0, result.output
    (audit,) = audit_of(redis_conn, "block")
    entry = Blocklist(redis_conn, Policy()).entries(CALLER)[0]
    assert entry.until_ms is not None and audit["until"] == str(entry.until_ms)
    assert abs((parse_duration(audit["lasts"]) or 0) - (entry.until_ms - entry.at) / 1000) <= 1, audit["lasts"]
    assert f"lasts {audit['lasts']}, until {human_time(entry.until_ms)}" in result.stdout


def test_temporary_needs_a_unit_and_audits_the_new_length(run: Any, redis_conn: redis.Redis) -> None:
    assert run("add", CALLER, "-r", "threats", "--for", "permanent").exit_code == 0
    before = snapshot(redis_conn)
    refused(run("temporary", CALLER, "36", "-r", "case closed"), "'36' has no unit", *FORMS)
    assert snapshot(redis_conn) == before
    result = run("temporary", CALLER, "36h", "-r", "case closed", "--by", "tom")
    assert result.exit_code == 0, result.output
    entry = Blocklist(redis_conn, Policy()).entries(CALLER)[0]
    assert f"lasts 1d12h, until {human_time(entry.until_ms)}" in result.stdout
    (audit,) = audit_of(redis_conn, "temporary")
    assert (audit["by"], audit["lasts"], audit["until"]) == ("tom", "1d12h", str(entry.until_ms))


def test_the_help_lists_the_forms(run: Any) -> None:
    shown = " ".join(run("add", "--help").stdout.split())
    assert "90s, 15m, 24h, 7d, 2w or permanent" in shown and "bare number is refused" in shown


def test_the_simulators_lengths_keep_their_units() -> None:
    assert parse_span("2h") == 7200 and parse_compress("2h/4s") == 1800 and parse_compress("1d/60s") == 1440
    assert parse_compress("1440") == 1440  # a factor, not a length
    with pytest.raises(ValueError, match="--duration '3': '3' has no unit"):
        parse_span("3")
    with pytest.raises(ValueError, match="--compress '1d/60': '60' has no unit"):
        parse_compress("1d/60")
