"""Lengths of time as people write them, always with their unit: a bare number is refused with the
accepted forms listed, 'permanent' is a word and never the meaning of an empty text, the settings' own
compatibility parser still reads seconds, and a block's audit record says how long it lasts."""

from __future__ import annotations

import pytest
import redis

from blocklist import keys, parse, policy
from blocklist.clock import now_ms
from blocklist.parse import format_duration, parse_duration, parse_duration_or_seconds
from blocklist.rules import Blocklist, Policy
from blocklist.settings import Settings

CALLER = "+14155550123"
FORMS = ("90s", "15m", "24h", "7d", "2w", "permanent")


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("15m", 900), ("24h", 86400), ("7d", 604800), ("2w", 1209600),
    ("1h30m", 5400), ("1.5h", 5400), ("2 weeks", 1209600), ("36 hours", 129600), (" 7D ", 604800),
    ("1d12h", 129600), ("45 min", 2700),
])
def test_a_length_with_its_unit_is_read(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["permanent", "Permanent", " PERMANENT ", "forever"])
def test_permanent_is_a_word_and_gives_no_end(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize("text", ["3", "0", "3600", "1.5", "+3", "-3", ".5"])
def test_a_bare_number_is_refused_with_the_forms_it_could_be(text: str) -> None:
    with pytest.raises(ValueError, match="no unit") as refused:
        parse_duration(text)
    assert all(form in str(refused.value) for form in FORMS), refused.value


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_length_is_refused_never_read_as_permanent(text: str) -> None:
    with pytest.raises(ValueError, match="no length given") as refused:
        parse_duration(text)
    assert all(form in str(refused.value) for form in FORMS), refused.value


@pytest.mark.parametrize(("text", "words"), [
    ("soon", "not a duration"), ("1e400d", "not a duration"), ("1h 2h", "not a duration"),
    ("1:30", "more than one way"), ("2h/4s", "more than one way"),  # pytimeparse would say 90 s and 2h4s
    ("1 month", "months and years"), ("2y", "months and years"),
    ("0s", "longer than zero"), ("-1h", "longer than zero"), ("0.5s", "shorter than a second"),
    ("99999999999999999999d", "longer than 100 years"), ("1" * 50 + "d", "too long"),
])
def test_what_is_not_a_length_says_how_to_write_one(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_duration(text)


def test_settings_documented_in_seconds_keep_reading_a_bare_number_as_seconds() -> None:
    assert parse_duration_or_seconds("3600") == 3600
    assert parse_duration_or_seconds("7d") == 604800 and parse_duration_or_seconds("permanent") is None
    with pytest.raises(ValueError, match="longer than zero"):
        parse_duration_or_seconds("0")
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration_or_seconds("soon")
    assert parse.ladder("3600,7d,permanent") == (3600, 604800, None)
    settings = Settings.from_env(environ={"IVR_SANCTION_LADDER": "86400,2w,permanent"})
    assert settings.sanction_ladder == (86400, 1209600, None)
    assert Settings.from_env(environ={}).sanction_ladder == (86400, 604800, None)


def test_the_ladder_a_manager_sets_needs_units() -> None:
    assert policy.normalize_global_setting("sanction_ladder", "1h,7d,permanent") == "3600,604800,p"
    with pytest.raises(ValueError, match="sanction_ladder: '3600' has no unit"):
        policy.normalize_global_setting("sanction_ladder", "3600,permanent")


@pytest.mark.parametrize("seconds", [1, 90, 3600, 5400, 86400, 604800, 90061, 30 * 86400])
def test_a_length_written_out_reads_back_the_same(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_written_out_lengths_are_the_ones_people_use() -> None:
    assert [format_duration(s) for s in (90, 5400, 86400, 604800, 90061)] == ["1m30s", "1h30m", "1d", "7d",
                                                                             "1d1h1m1s"]


def test_the_audit_record_of_a_block_says_how_long_it_lasts_and_until_when(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    at = now_ms()
    bl.block(CALLER, by="mia", reason="threats", duration=parse_duration("7d"), at=at)
    bl.make_permanent(CALLER, by="mia", reason="police report", at=at + 1000)
    bl.make_temporary(CALLER, seconds=parse_duration("24h") or 0, by="tom", reason="case closed", at=at + 2000)
    audit = [fields for _id, fields in redis_conn.xrange(keys.AUDIT)]
    assert [(a["action"], a["lasts"], a["until"]) for a in audit] == [
        ("block", "7d", str(at + 604800 * 1000)),
        ("permanent", "permanent", ""),
        ("temporary", "1d", str(at + 2000 + 86400 * 1000)),
    ]
    history = bl.history(CALLER)
    assert [h.get("lasts") for h in history] == ["7d", "permanent", "1d"]


def test_a_permanent_block_and_one_with_an_end_time_say_so_in_the_audit(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    at = now_ms()
    bl.block(CALLER, by="mia", reason="threats", at=at)
    bl.block("+14155550199", by="mia", reason="pranks", until_ms=at + 90 * 60 * 1000, at=at)
    audit = [fields for _id, fields in redis_conn.xrange(keys.AUDIT)]
    assert [(a["number"], a["lasts"], a["until"]) for a in audit] == [
        (CALLER, "permanent", ""), ("+14155550199", "1h30m", str(at + 90 * 60 * 1000))]
