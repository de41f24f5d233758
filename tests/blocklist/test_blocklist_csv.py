"""CSV import/export on a real Redis: round trip, bad rows (all or nothing, or partial), idempotent re-import."""

from __future__ import annotations

import csv
import io

import pytest
import redis

from blocklist import csvio, keys
from blocklist.clock import format_time, now_ms
from blocklist.rules import Blocklist, Policy
from tests.support.store import snapshot
from tests.support.twilio_player import call_sid

LINE = "+18005551212"


def export(bl: Blocklist) -> str:
    out = io.StringIO()
    csvio.export_blocklist(bl, out)
    return out.getvalue()


def core(text: str) -> list[tuple[str, ...]]:
    """The columns import reads (by/added_at/step are for people and change with who imported)."""
    rows = list(csv.DictReader(io.StringIO(text)))
    return sorted(tuple(row[name] for name in csvio.BLOCK_COLUMNS) for row in rows)


def populate(bl: Blocklist) -> None:
    bl.block("+14155550123", by="mia", reason="obscene, repeatedly", treatment="isolation")
    bl.block("+14155550124", by="mia", reason='said "fault" on purpose', scope=LINE, duration=3600)
    bl.block("+442079460958", by="mia", reason="=HYPERLINK(\"http://x\")", treatment="hangup", duration=86400)
    bl.block("+358405551234", by="mia", reason="Häirintää – ääni", treatment="linefault")
    bl.flag("+14155550125", call_sid=call_sid(), line=LINE, via="key", agent="+15550001111", reason="laughter")
    bl.add_prefix("+1900", by="mia", reason="premium range", treatment="reject")
    bl.add_prefix("+4420794", by="mia", reason="a switchboard block", scope=LINE)


def test_export_imports_back_to_the_same_state(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    populate(bl)
    first = export(bl)
    assert first.splitlines()[0] == "number,scope,treatment,reason,until,permanent,by,added_at,step"
    assert "'=HYPERLINK" in first  # a formula-like reason cannot run in a spreadsheet
    redis_conn.flushdb()

    result = csvio.import_blocklist(bl, first, by="restore")
    assert (result.rows, result.added, result.changed, result.unchanged, result.errors) == (7, 7, 0, 0, [])
    second = export(bl)
    assert core(second) == core(first)
    entry = bl.entry("+442079460958")
    assert entry is not None and entry.reason == '=HYPERLINK("http://x")' and entry.treatment == "hangup"
    history = bl.history("+14155550123")
    assert history[-1]["action"] == "block" and history[-1]["by"] == "restore" and history[-1]["source"] == "import"
    assert bl.check("+14155550124", LINE).blocked and not bl.check("+14155550124", "+18005550000").blocked
    assert bl.check("+19005550100", LINE).rule == "prefix"


def test_reimporting_the_same_file_changes_nothing(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    populate(bl)
    text = export(bl)
    before = snapshot(redis_conn)
    result = csvio.import_blocklist(bl, text, by="mia")
    assert (result.added, result.changed, result.unchanged) == (0, 0, 7)
    assert snapshot(redis_conn) == before  # not even a history line or an event


def test_a_changed_row_is_replaced_and_recorded(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    text = "number,reason\n+14155550123,abuse\n+14155550124,abuse\n"
    csvio.import_blocklist(bl, text, by="mia")
    result = csvio.import_blocklist(bl, text.replace("+14155550124,abuse", "+14155550124,threats"), by="tom")
    assert (result.added, result.changed, result.unchanged) == (0, 1, 1)
    assert bl.entry("+14155550124").reason == "threats"  # type: ignore[union-attr]
    assert [h["by"] for h in bl.history("+14155550124")] == ["mia", "tom"]


def test_numbers_in_common_formats_are_normalised_with_the_default_region(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy(), default_region="US")
    text = ("number,reason\n(415) 555-0123,a\n415.555.0124,b\n+1 415 555 0125,c\n0044 20 7946 0958,d\n"
            "14155550126,e\n")
    assert csvio.import_blocklist(bl, text, by="m").added == 5
    assert sorted(e.number for e in bl.iter_blocks()) == [
        "+14155550123", "+14155550124", "+14155550125", "+14155550126", "+442079460958"]
    uk = Blocklist(redis_conn, Policy(), default_region="GB")
    assert csvio.import_blocklist(uk, "number\n020 7946 0959\n", by="m").added == 1
    assert uk.entry("+442079460959") is not None


def test_a_file_with_bad_rows_imports_nothing_and_names_every_bad_row(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    text = (
        "number,scope,treatment,reason,until,permanent\n"  # line 1
        "+14155550123,,,fine,,\n"  # 2
        "hello,,,bad number,,\n"  # 3
        "\n"  # 4 (blank lines are skipped)
        "+14155550124,,shout,bad treatment,,\n"  # 5
        "+14155550125,,,no zone,2030-01-31 18:00,\n"  # 6
        "+14155550126,,,both,2030-01-31T18:00:00Z,yes\n"  # 7
        "anonymous,,,withheld,,\n"  # 8
        "+14155550123,*,,duplicate,,\n"  # 9
        "+14155550127,,,,,,extra\n"  # 10
        "+1415*,,,range with an end,2030-01-31T18:00:00Z,\n"  # 11
        "+14155550128,not-a-line,,bad scope,,\n"  # 12
        "+14155550129,,,x,,maybe\n"  # 13
        "+14155550130,,,"+ "r" * 201 + ",,\n"  # 14
    )
    before = snapshot(redis_conn)
    result = csvio.import_blocklist(bl, text, by="m")
    assert not result.written and result.rows == 12
    assert snapshot(redis_conn) == before
    reasons = {e.line: e.reason for e in result.errors}
    assert sorted(reasons) == [3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    assert "number:" in reasons[3] and "+14155550123" in reasons[3]
    assert "treatment 'shout' unknown" in reasons[5]
    assert "no time zone" in reasons[6]
    assert "keep one of them" in reasons[7]
    assert "withheld" in reasons[8]
    assert "already on line 2" in reasons[9]
    assert "fields" in reasons[10]
    assert "does not expire" in reasons[11]
    assert reasons[12].startswith("scope:")
    assert "yes or no" in reasons[13]
    assert "at most 200" in reasons[14]
    assert "nothing imported" in result.summary()


def test_partial_mode_imports_the_good_rows_and_reports_the_rest(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    text = "number,reason\n+14155550123,ok\nnot a number,bad\n+14155550124,ok\n"
    result = csvio.import_blocklist(bl, text, by="m", partial=True)
    assert result.written and result.added == 2
    assert [(e.line, "number" in e.reason) for e in result.errors] == [(3, True)]
    assert sorted(e.number for e in bl.iter_blocks()) == ["+14155550123", "+14155550124"]
    again = csvio.import_blocklist(bl, text, by="m", partial=True)
    assert (again.added, again.unchanged, len(again.errors)) == (0, 2, 1)


def test_blocks_already_over_are_skipped_not_errors(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    text = "number,until\n+14155550123,2001-01-01T00:00:00Z\n+14155550124,2099-01-01T00:00:00+02:00\n"
    result = csvio.import_blocklist(bl, text, by="m")
    assert result.ok and result.added == 1 and [s.line for s in result.skipped] == [2]
    entry = bl.entry("+14155550124")
    assert entry is not None and entry.until_ms == csvio.parse_time("2098-12-31T22:00:00Z")


def test_semicolons_bom_and_header_case_are_understood(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    data = "\ufeffNumber;Reason;Treatment\n+14155550123;abuse, with a comma;isolation\n".encode()
    result = csvio.import_blocklist(bl, data, by="m")
    assert result.added == 1
    assert bl.entry("+14155550123").treatment == "isolation"  # type: ignore[union-attr]


@pytest.mark.parametrize(("data", "words"), [
    ("", "empty"),
    ("phone,reason\n+14155550123,x\n", "unknown column"),
    ("reason\nx\n", "no 'number' column"),
    ("number,number\n+14155550123,+14155550124\n", "named twice"),
    (b"number\n\xff\xfe+1415\n", "not UTF-8"),
])
def test_file_level_problems_raise_and_write_nothing(redis_conn: redis.Redis, data: str | bytes,
                                                     words: str) -> None:
    bl = Blocklist(redis_conn, Policy())
    with pytest.raises(ValueError, match=words):
        csvio.import_blocklist(bl, data, by="m")
    assert redis_conn.dbsize() == 0


def test_check_only_writes_nothing(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    result = csvio.import_blocklist(bl, "number\n+14155550123\n", by="m", write=False)
    assert result.ok and not result.written and redis_conn.dbsize() == 0


def test_progress_is_reported_for_both_phases(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    text = "number,reason\n" + "".join(f"+1415555{i:04d},bulk\n" for i in range(1200))
    seen: list[tuple[str, int, int]] = []
    result = csvio.import_blocklist(bl, text, by="m", progress=lambda *a: seen.append(a))
    assert result.added == 1200
    assert ("checking", 1000, 1200) in seen and ("checking", 1200, 1200) in seen
    assert [s for s in seen if s[0] == "writing"] == [("writing", 500, 1200), ("writing", 1000, 1200),
                                                       ("writing", 1200, 1200)]
    assert redis_conn.zcard(keys.BLOCK_INDEX) == 1200


def test_allowlist_round_trip_and_bad_rows(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    bl.allow("+14155550123", by="mia", reason="VIP")
    bl.allow("+14155550124", by="mia", reason="head office", scope=LINE)
    out = io.StringIO()
    assert csvio.export_allowlist(bl, out) == 2
    text = out.getvalue()
    redis_conn.flushdb()
    assert csvio.import_allowlist(bl, text, by="restore").added == 2
    assert bl.check("+14155550124", LINE).rule == "allowlist"
    before = snapshot(redis_conn)
    assert csvio.import_allowlist(bl, text, by="restore").unchanged == 2
    assert snapshot(redis_conn) == before
    bad = csvio.import_allowlist(bl, "number,reason\n+1415*,range\n+14155550125,ok\n", by="m")
    assert not bad.written and [(e.line, "not ranges" in e.reason) for e in bad.errors] == [(2, True)]
    with pytest.raises(ValueError, match="unknown column"):
        csvio.import_allowlist(bl, "number,treatment\n+14155550125,reject\n", by="m")
    assert snapshot(redis_conn) == before


def test_time_format_round_trips_to_the_millisecond() -> None:
    moment = now_ms()
    assert csvio.parse_time(format_time(moment)) == moment
    assert format_time(0) == "1970-01-01T00:00:00.000Z"
