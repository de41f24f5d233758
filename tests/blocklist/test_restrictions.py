"""Graduated contact restrictions on a real Redis, through the real screen script: hours in IVR_TIMEZONE, calls
counted per day and week, routes, voicemail-only, start and end to the millisecond, the order against the allowlist
and blocks, bad input that changes nothing, history and audit, and the cron's review and end sweep."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from blocklist import keys
from blocklist.restrictions import Restriction, check_hours, screen_clock
from blocklist.rules import Blocklist, Policy
from tests.support.store import snapshot
from tests.support.twilio_player import call_sid

ZONE = ZoneInfo("Africa/Johannesburg")  # UTC+2, no DST: 09:00 here is 07:00 UTC
LINE = "+18005551212"
LINE2 = "+18005550000"
CALLER = "+14155550123"
OTHER = "+14155550199"


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, zone: Any = ZONE) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=zone).timestamp() * 1000)


MONDAY = datetime(2030, 1, 7, tzinfo=ZONE)
assert MONDAY.weekday() == 0
MADE = ms(2030, 1, 7, 7, 0)  # Monday 07:00 local
REVIEW = "2030-03-01"


@pytest.fixture
def bl(redis_conn: redis.Redis) -> Blocklist:
    return Blocklist(redis_conn, Policy(timezone="Africa/Johannesburg"))


def screen(bl: Blocklist, at: int, number: str = CALLER, line: str = LINE, sid: str | None = None) -> Any:
    return bl.screen(number, line, sid or call_sid(), at=at)


def restrict(bl: Blocklist, **kw: Any) -> Restriction:
    args: dict[str, Any] = {"review": REVIEW, "reason": "abusive calls, agreed by letter", "by": "mgr", "at": MADE}
    return bl.restrict(kw.pop("number", CALLER), **{**args, **kw})


# ---- hours ----------------------------------------------------------------------------------------------
def test_hours_refuse_calls_outside_the_agreed_times_in_the_service_time_zone(bl: Blocklist) -> None:
    restrict(bl, kind="hours", hours="Mon-Fri 09:00-12:00")
    early = screen(bl, ms(2030, 1, 7, 8, 59))
    assert (early.decision, early.rule, early.treatment) == ("treat", "restriction", "restricted")
    assert early.detail == "outside the agreed hours Mon-Fri 09:00-12:00"
    assert early.explain() == "restricted: contact restriction (outside the agreed hours Mon-Fri 09:00-12:00)"
    assert not screen(bl, ms(2030, 1, 7, 9, 0)).blocked  # 07:00 UTC: the zone decides, not UTC
    assert not screen(bl, ms(2030, 1, 11, 11, 59)).blocked  # Friday
    assert screen(bl, ms(2030, 1, 7, 12, 0)).blocked  # the end is exclusive
    assert screen(bl, ms(2030, 1, 12, 10, 0)).blocked  # Saturday
    assert not screen(bl, ms(2030, 1, 7, 8, 59), number=OTHER).blocked  # only that number


def test_the_call_record_and_event_explain_the_restriction(bl: Blocklist, redis_conn: redis.Redis) -> None:
    restrict(bl, kind="hours", hours="Mon-Fri 09:00-12:00|Sat 10:00-11:00")
    sid = call_sid()
    screen(bl, ms(2030, 1, 12, 12, 0), sid=sid)
    call = redis_conn.hgetall(keys.call(sid))
    assert (call["rule"], call["treatment"]) == ("restriction", "restricted")
    assert call["detail"] == "outside the agreed hours Mon-Fri 09:00-12:00|Sat 10:00-11:00"
    event = redis_conn.xrange(keys.EVENTS)[-1][1]
    assert (event["rule"], event["treatment"], event["detail"]) == ("restriction", "restricted", call["detail"])


# ---- max calls -------------------------------------------------------------------------------------------
def test_max_calls_a_day_counts_exactly_and_starts_again_the_next_local_day(bl: Blocklist,
                                                                              redis_conn: redis.Redis) -> None:
    restrict(bl, kind="max_calls", max_calls=2, period="day")
    first_sid = call_sid()
    assert not screen(bl, ms(2030, 1, 7, 9, 0), sid=first_sid).blocked
    assert not screen(bl, ms(2030, 1, 7, 9, 0), sid=first_sid).blocked  # Twilio's retry: a replay, not a call
    assert not bl.check(CALLER, LINE).blocked  # asking changes no count
    assert not screen(bl, ms(2030, 1, 7, 10, 0)).blocked
    third = screen(bl, ms(2030, 1, 7, 23, 59))
    assert (third.rule, third.treatment) == ("restriction", "restricted")
    assert third.detail == "call 3 today, over the limit: at most 2 calls a day"
    assert screen(bl, ms(2030, 1, 7, 23, 59, 30)).blocked  # a refused call is not counted, still refused
    assert redis_conn.zcard(keys.restriction_calls(CALLER)) == 2
    assert not screen(bl, ms(2030, 1, 8, 0, 0)).blocked  # local midnight (22:00 UTC): a new day


def test_max_calls_a_week_counts_from_monday(bl: Blocklist) -> None:
    restrict(bl, kind="max_calls", max_calls=1, period="week")
    assert not screen(bl, ms(2030, 1, 9, 10, 0)).blocked  # Wednesday
    refused = screen(bl, ms(2030, 1, 13, 23, 0))  # Sunday
    assert refused.detail == "call 2 this week, over the limit: at most 1 call a week"
    assert not screen(bl, ms(2030, 1, 14, 0, 1)).blocked  # Monday


def test_day_and_week_boundaries_follow_the_zone() -> None:
    weekday, minute, day_start, week_start = screen_clock(ms(2030, 1, 9, 1, 30), ZONE)
    assert (weekday, minute) == (2, 90)
    assert day_start == ms(2030, 1, 9) and week_start == ms(2030, 1, 7)
    assert screen_clock(ms(2030, 1, 9, 1, 30), ZoneInfo("UTC"))[0] == 1  # still Tuesday in UTC


# ---- route and voicemail ---------------------------------------------------------------------------------
def test_route_sends_the_call_to_the_supervisors_and_voicemail_takes_a_message(bl: Blocklist) -> None:
    restrict(bl, kind="route", route="supervisor")
    routed = screen(bl, ms(2030, 1, 7, 10, 0))
    assert (routed.decision, routed.rule, routed.route) == ("allow", "restriction", "supervisor")
    assert routed.explain() == "allow, within the contact restriction (only to the supervisors' queue)"
    restrict(bl, kind="voicemail", number=OTHER)
    message = screen(bl, ms(2030, 1, 7, 10, 0), number=OTHER)
    assert (message.decision, message.rule, message.treatment) == ("treat", "restriction", "voicemail")


def test_hours_refuse_before_voicemail_and_count_the_messages(bl: Blocklist) -> None:
    restrict(bl, kind="hours", hours="Mon-Fri 09:00-12:00")
    restrict(bl, kind="voicemail")
    restrict(bl, kind="max_calls", max_calls=1, period="day")
    assert screen(bl, ms(2030, 1, 7, 8, 0)).treatment == "restricted"
    assert screen(bl, ms(2030, 1, 7, 9, 0)).treatment == "voicemail"
    assert screen(bl, ms(2030, 1, 7, 9, 30)).treatment == "restricted"  # one message a day


# ---- order, scope, start and end ---------------------------------------------------------------------------
def test_an_allowlisted_number_is_restricted_and_a_block_wins(bl: Blocklist) -> None:
    restrict(bl, kind="hours", hours="09:00-12:00")
    bl.allow(CALLER, by="mgr", reason="long-standing customer")
    assert screen(bl, ms(2030, 1, 7, 13, 0)).rule == "restriction"
    allowed = screen(bl, ms(2030, 1, 7, 10, 0))
    assert (allowed.decision, allowed.rule) == ("allow", "allowlist")
    bl.block(CALLER, by="mgr", reason="threats", at=ms(2030, 1, 7, 10, 0), until_ms=ms(2030, 1, 7, 10, 0) + 10**13)
    assert screen(bl, ms(2030, 1, 7, 10, 0)).rule == "allowlist"  # the allowlist still goes first for blocks
    bl.disallow(CALLER, by="mgr", reason="no longer")
    assert screen(bl, ms(2030, 1, 7, 10, 0)).rule == "number"


def test_a_line_restriction_holds_on_its_line_only(bl: Blocklist) -> None:
    restrict(bl, kind="voicemail", scope=LINE2)
    assert screen(bl, MADE, line=LINE2).treatment == "voicemail"
    assert not screen(bl, MADE, line=LINE).blocked


def test_start_and_end_are_exact_to_the_millisecond(bl: Blocklist) -> None:
    r = restrict(bl, kind="voicemail", start="2030-01-08T09:00:00+02:00", until="2030-01-09T09:00:00+02:00",
                 review="2030-01-08T12:00:00+02:00")
    assert r.start_ms == ms(2030, 1, 8, 9) and r.until_ms == ms(2030, 1, 9, 9)
    assert not screen(bl, r.start_ms - 1).blocked
    assert screen(bl, r.start_ms).treatment == "voicemail"
    assert screen(bl, r.until_ms - 1).treatment == "voicemail"
    assert not screen(bl, r.until_ms).blocked  # ended by itself, before any sweep


def test_an_unrestricted_number_costs_no_write_of_its_own(bl: Blocklist, redis_conn: redis.Redis) -> None:
    screen(bl, MADE)
    assert not [k for k in redis_conn.scan_iter(match="ivr:restrict*")]


# ---- bad input changes nothing ---------------------------------------------------------------------------
@pytest.mark.parametrize(("kw", "words"), [
    ({"kind": "hours", "hours": "Mon-Fri 09:00-12:00", "review": "2030-01-07"}, "is not in the future"),
    ({"kind": "hours", "hours": "Mon-Fri 09:00-12:00", "review": "2029-12-01"}, "is not in the future"),
    ({"kind": "hours", "hours": "Mon-Fri 09:00-12:00|Mon 11:00-13:00"}, "overlap on Mon"),
    ({"kind": "hours", "hours": "9 to 5"}, "is not an hours window"),
    ({"kind": "hours", "hours": ""}, "say which hours"),
    ({"kind": "curfew"}, "kind 'curfew' unknown"),
    ({"kind": "max_calls", "max_calls": 0, "period": "day"}, "from 1 to"),
    ({"kind": "max_calls", "max_calls": 3, "period": "month"}, "--per day or --per week"),
    ({"kind": "route", "route": "the boss"}, "route 'the boss' unknown"),
    ({"kind": "voicemail", "reason": "  "}, "say why"),
    ({"kind": "voicemail", "until": "2030-02-01"}, "review date is not before the end"),
    ({"kind": "voicemail", "until": "2030-01-01"}, "not after the start"),
    ({"kind": "voicemail", "review": "next month"}, "is not a date"),
    ({"kind": "voicemail", "number": "anonymous"}, "withheld"),
])
def test_bad_input_is_refused_with_what_to_write_and_nothing_written(bl: Blocklist, redis_conn: redis.Redis,
                                                                    kw: dict[str, Any], words: str) -> None:
    before = snapshot(redis_conn)
    with pytest.raises(ValueError, match=words):
        restrict(bl, **kw)
    assert snapshot(redis_conn) == before


def test_overlapping_or_contradictory_restrictions_are_refused(bl: Blocklist, redis_conn: redis.Redis) -> None:
    first = restrict(bl, kind="hours", hours="Mon-Fri 09:00-12:00", until="2030-06-01")
    before = snapshot(redis_conn)
    with pytest.raises(ValueError, match=f"overlaps this one: hours Mon-Fri 09:00-12:00 on all lines \\(id {first.id}\\)"):
        restrict(bl, kind="hours", hours="Sat 10:00-12:00", scope=LINE)
    restrict(bl, kind="route", route="supervisor")
    with pytest.raises(ValueError, match="overlaps"):
        restrict(bl, kind="voicemail", scope=LINE2)
    assert len(bl.restrictions(CALLER)) == 2
    del before
    # after the first one ends, new hours may follow; a day limit and a week limit hold together
    restrict(bl, kind="hours", hours="Sat 10:00-12:00", start="2030-06-01", review="2030-07-01")
    restrict(bl, kind="max_calls", max_calls=1, period="day")
    restrict(bl, kind="max_calls", max_calls=3, period="week")
    with pytest.raises(ValueError, match="overlaps"):
        restrict(bl, kind="max_calls", max_calls=2, period="day")


def test_check_hours_keeps_the_windows_as_written() -> None:
    assert check_hours(" Mon-Fri 09:00-12:00 | Sat 10:00-12:00 ") == "Mon-Fri 09:00-12:00|Sat 10:00-12:00"
    assert check_hours("Mon 09:00-10:00|Mon 10:00-11:00")  # touching is not overlapping


# ---- history, audit, review, end ---------------------------------------------------------------------------
def test_add_keep_and_remove_are_audited_and_in_the_history(bl: Blocklist, redis_conn: redis.Redis) -> None:
    r = restrict(bl, kind="hours", hours="Mon-Fri 09:00-12:00")
    kept = bl.keep_restriction(CALLER, r.id, review="2030-06-01", reason="still calling at night", by="boss",
                               at=ms(2030, 3, 2))
    assert kept.review_ms == ms(2030, 6, 1)
    removed = bl.unrestrict(CALLER, reason="apologised in writing", by="boss", at=ms(2030, 4, 1))
    assert [x.id for x in removed] == [r.id] and bl.restrictions(CALLER) == []
    assert not screen(bl, ms(2030, 4, 1, 20, 0)).blocked
    history = bl.history(CALLER, at=ms(2030, 4, 2))
    assert [h["action"] for h in history] == ["restrict", "restrict_kept", "unrestrict"]
    assert history[0]["restriction"] == "hours Mon-Fri 09:00-12:00" and history[0]["review"] == ms(2030, 3, 1)
    assert history[2]["reason"] == "apologised in writing"
    audit = [rec for _id, rec in redis_conn.xrange(keys.AUDIT)]
    assert [(a["action"], a["by"]) for a in audit] == [("restrict", "mgr"), ("restrict_kept", "boss"),
                                                        ("unrestrict", "boss")]
    assert audit[0]["restriction"] == "hours Mon-Fri 09:00-12:00" and audit[0]["review"] == str(ms(2030, 3, 1))
    assert bl.unrestrict(CALLER, reason="again", by="boss") == []
    with pytest.raises(LookupError):
        bl.unrestrict(CALLER, reason="again", by="boss", restriction_id="abcdef")


def test_the_sweep_lists_a_due_review_once_and_records_the_end(bl: Blocklist, redis_conn: redis.Redis) -> None:
    due = restrict(bl, kind="hours", hours="Mon-Fri 09:00-12:00", review="2030-01-09")
    ends = restrict(bl, kind="max_calls", max_calls=3, period="day", number=OTHER, review="2030-01-08",
                    until="2030-01-10T12:00:00+02:00")
    assert bl.sweep_restrictions(at=ms(2030, 1, 7, 12)) == {"ended": 0, "review": 0}
    assert bl.sweep_restrictions(at=ms(2030, 1, 9, 0, 5)) == {"ended": 0, "review": 2}
    assert bl.sweep_restrictions(at=ms(2030, 1, 9, 0, 10)) == {"ended": 0, "review": 0}  # once
    listed = {item["number"]: item for item in bl.review_list()}
    assert listed[CALLER]["rule"] == "restriction" and "hours Mon-Fri 09:00-12:00" in listed[CALLER]["detail"]
    assert bl.restrictions(CALLER)[0].review_due  # never renewed, never ended by its review: still in force
    assert screen(bl, ms(2030, 1, 9, 20)).rule == "restriction"
    assert bl.sweep_restrictions(at=ms(2030, 1, 11)) == {"ended": 1, "review": 0}
    history = bl.history(OTHER, at=ms(2030, 1, 11))
    assert [h["action"] for h in history] == ["restrict", "restrict_review", "restrict_end"]
    assert history[-1]["at"] == ends.until_ms and history[-1]["by"] == "system"
    assert bl.restrictions(OTHER) == [] and not redis_conn.exists(keys.restriction(OTHER))
    kept = bl.keep_restriction(CALLER, due.id, review="2030-02-01", reason="reviewed", by="boss", at=ms(2030, 1, 11))
    assert not kept.review_due and CALLER not in {i["number"] for i in bl.review_list()}
    stored = json.loads(redis_conn.hget(keys.RESTRICT_INFO, f"{CALLER}|{due.id}") or "{}")
    assert stored["review_ms"] == ms(2030, 2, 1)


def test_keep_needs_a_future_review_date(bl: Blocklist, redis_conn: redis.Redis) -> None:
    r = restrict(bl, kind="voicemail")
    before = snapshot(redis_conn)
    with pytest.raises(ValueError, match="not in the future"):
        bl.keep_restriction(CALLER, r.id, review="2030-01-07", reason="x", by="boss", at=MADE)
    assert snapshot(redis_conn) == before
    assert (datetime.fromtimestamp(MADE / 1000, ZONE) + timedelta(days=1)).date().isoformat() == "2030-01-08"


def test_the_cron_runs_the_sweep_as_a_job(rq_conn: redis.Redis, redis_conn: redis.Redis) -> None:
    from rq import Queue, SimpleWorker
    from rq.cron import CronScheduler
    from rq.serializers import JSONSerializer

    from workers import restrictions as restriction_jobs
    from workers.queues import MAINTENANCE

    scheduler = CronScheduler(connection=rq_conn)
    scheduler.load_config_from_file("workers.cron")
    (job,) = [j for j in scheduler.get_jobs() if j.name == "restrictions.sweep"]
    assert (job.func, job.queue_name, job.cron) == (restriction_jobs.sweep_restrictions, MAINTENANCE, "*/10 * * * *")
    bl = Blocklist(redis_conn, Policy())
    made = int(datetime.now(ZONE).timestamp() * 1000) - 3 * 86400 * 1000
    bl.restrict(CALLER, kind="voicemail", review=datetime.fromtimestamp((made + 86400000) / 1000, ZONE).isoformat(),
                reason="threats", by="mgr", at=made)
    queued = Queue(MAINTENANCE, connection=rq_conn, serializer=JSONSerializer).enqueue(
        restriction_jobs.sweep_restrictions)
    SimpleWorker([MAINTENANCE], connection=rq_conn, serializer=JSONSerializer).work(burst=True, with_scheduler=False)
    queued.refresh()
    assert queued.return_value() == {"ended": 0, "review": 1}
    assert [i["number"] for i in bl.review_list()] == [CALLER]
