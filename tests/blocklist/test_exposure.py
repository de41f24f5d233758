"""Agents' exposure (blocklist/exposure.py): difficult calls per desk user over their phones, the shift that starts
after a gap, the limits (the managers' overrides win), the wellbeing break and its check-in, the breather by
category; on a real Redis."""

from __future__ import annotations

import pytest
import redis

from blocklist import abuse, events, exposure, keys
from ivr.accounts import Users

HOUR = 3600_000
T0 = 1_780_000_000_000  # a fixed moment; every step below is relative to it
LIMITS = exposure.Limits(shift=3, week=12, break_seconds=900, shift_gap_hours=8)
PHONE, SOFTPHONE, OTHER = "+15550001111", "client:ann", "+15550002222"


def sid(n: int) -> str:
    return f"CA{n:032x}"


def difficult(r: redis.Redis, identity: str, n: int, at: int) -> None:
    pipe = r.pipeline(transaction=True)
    exposure.record(pipe, identity, sid(n), at)
    pipe.execute()


@pytest.fixture
def ann(redis_conn: redis.Redis) -> str:
    Users(redis_conn, "US").create("ann", "correct horse battery", "agent", identities=f"{PHONE},{SOFTPHONE}", by="t")
    return "ann"


def test_a_desk_user_is_counted_over_all_her_phones_and_a_call_once(redis_conn: redis.Redis, ann: str) -> None:
    start = exposure.on_duty(redis_conn, PHONE, LIMITS, at=T0)
    assert (start.agent, start.shift, start.shift_start, start.status) == ("ann", 0, T0, "ok")
    difficult(redis_conn, PHONE, 1, T0 + 1000)
    difficult(redis_conn, PHONE, 1, T0 + 5000)  # the same call flagged after a warning: still one call
    difficult(redis_conn, SOFTPHONE, 2, T0 + 6000)
    difficult(redis_conn, OTHER, 3, T0 + 7000)  # someone else's phone
    seen = exposure.look(redis_conn, SOFTPHONE, LIMITS, at=T0 + 8000)
    assert (seen.agent, seen.shift, seen.week, seen.status) == ("ann", 2, 2, "ok")
    assert redis_conn.zscore(keys.exposure(PHONE), sid(1)) == T0 + 1000
    other = exposure.look(redis_conn, OTHER, LIMITS, at=T0 + 8000)
    assert (other.agent, other.week, other.shift) == (OTHER, 1, 0)  # not on duty yet: no shift


def test_the_shift_limit_starts_one_break_with_its_event_and_check_in(redis_conn: redis.Redis, ann: str) -> None:
    exposure.on_duty(redis_conn, PHONE, LIMITS, at=T0)
    for n in range(1, 3):
        difficult(redis_conn, PHONE, n, T0 + n * 60_000)
        assert exposure.on_duty(redis_conn, PHONE, LIMITS, at=T0 + n * 60_000 + 1).status == "ok"
    difficult(redis_conn, SOFTPHONE, 3, T0 + HOUR)
    crossed = exposure.on_duty(redis_conn, PHONE, LIMITS, at=T0 + HOUR + 1)
    assert (crossed.status, crossed.reason, crossed.shift) == ("started", "shift", 3)
    assert crossed.break_until == T0 + HOUR + 1 + 900_000 and crossed.break_left_seconds == 900
    on_break = exposure.on_duty(redis_conn, SOFTPHONE, LIMITS, at=T0 + HOUR + 60_000)
    assert on_break.status == "break" and on_break.on_break
    assert exposure.on_duty(redis_conn, PHONE, LIMITS, at=T0 + HOUR + 901_000).status == "ok"  # over
    (event,) = [f for _id, f in redis_conn.xrange(keys.EVENTS) if f["type"] == "wellbeing_break"]
    assert {k: event[k] for k in ("agent", "reason", "shift", "limit", "shift_start")} == {
        "agent": "ann", "reason": "shift", "shift": "3", "limit": "3", "shift_start": str(T0)}
    assert set(event) - {"type", "ts"} <= set(events.EVENT_FIELDS["wellbeing_break"])
    (checkin,) = exposure.checkins(redis_conn)
    assert checkin["agent"] == "ann" and checkin["shift"] == "3" and checkin["id"] == event["checkin"]


def test_a_new_shift_starts_after_the_gap_and_the_week_limit_counts_across_shifts(redis_conn: redis.Redis,
                                                                                  ann: str) -> None:
    limits = exposure.Limits(shift=0, week=4, break_seconds=60, shift_gap_hours=8)  # the shift limit off
    at = T0
    for n in range(3):  # three days, one difficult call each
        at = T0 + n * 24 * HOUR
        assert exposure.on_duty(redis_conn, PHONE, limits, at=at).shift_start == at  # away > 8 h: a new shift
        difficult(redis_conn, PHONE, n, at + 1000)
        same = exposure.on_duty(redis_conn, PHONE, limits, at=at + 7 * HOUR)  # under 8 h later: same shift
        assert (same.shift_start, same.shift, same.week) == (at, 1, n + 1)
    difficult(redis_conn, PHONE, 9, at + 7 * HOUR + 1)
    crossed = exposure.on_duty(redis_conn, PHONE, limits, at=at + 7 * HOUR + 2)
    assert (crossed.status, crossed.reason, crossed.week, crossed.shift) == ("started", "week", 4, 2)
    later = T0 + 10 * 24 * HOUR  # a week after the last call, the old calls are out of the count
    assert exposure.on_duty(redis_conn, PHONE, limits, at=later).week == 0


def test_a_clock_ahead_never_holds_the_agent_off_the_queue_on_an_earlier_one(redis_conn: redis.Redis,
                                                                            ann: str) -> None:
    # A web host whose clock runs a day ahead (or `ivr simulate` playing a day it played before) puts the agent's
    # shift, difficult calls and break after the other hosts' now. For them none of it has happened yet.
    ahead = T0 + 24 * HOUR
    exposure.on_duty(redis_conn, PHONE, LIMITS, at=ahead)
    for n in range(3):
        difficult(redis_conn, PHONE, n, ahead + 1000 + n)
    assert exposure.on_duty(redis_conn, PHONE, LIMITS, at=ahead + 5000).status == "started"
    now = exposure.on_duty(redis_conn, SOFTPHONE, LIMITS, at=T0)
    assert (now.status, now.on_break, now.shift_start, now.shift, now.week) == ("ok", False, T0, 0, 0)
    assert exposure.look(redis_conn, PHONE, LIMITS, at=T0 + 60_000).status == "ok"
    # The break is kept: from the moment it started, it holds as before (and once it is over, it is over).
    assert exposure.look(redis_conn, PHONE, LIMITS, at=ahead + 60_000).status == "break"
    assert exposure.look(redis_conn, PHONE, LIMITS, at=ahead + 5000 + 900_000).status == "ok"
    # The difficult calls count from their own time on.
    assert exposure.look(redis_conn, PHONE, LIMITS, at=ahead + 1001).week == 2


def test_the_managers_overrides_win_over_the_settings(redis_conn: redis.Redis, ann: str) -> None:
    redis_conn.hset(keys.SETTINGS, mapping={"exposure_shift_limit": "1", "breather_seconds": "7"})
    exposure.on_duty(redis_conn, PHONE, LIMITS, at=T0)
    difficult(redis_conn, PHONE, 1, T0 + 1000)
    crossed = exposure.on_duty(redis_conn, PHONE, LIMITS, at=T0 + 2000)
    assert (crossed.status, crossed.shift_limit, crossed.week_limit) == ("started", 1, 12)
    assert crossed.breather_override == "7"


def test_the_breather_scales_with_the_category() -> None:
    assert exposure.breather_seconds(20, None) == 20  # a call recorded before categories
    assert exposure.breather_seconds(20, "threats") == 20 * abuse.weight("threats") > 20
    assert exposure.breather_seconds(20, "robocall") < exposure.breather_seconds(20, "nonsense")
    assert exposure.breather_seconds(20, "no such thing") == 20  # unknown: weight 1, never an error
    assert exposure.breather_seconds(1, "robocall") == 1


def test_a_check_in_is_acknowledged_once_and_audited(redis_conn: redis.Redis, ann: str) -> None:
    exposure.on_duty(redis_conn, PHONE, LIMITS, at=T0)
    for n in range(3):
        difficult(redis_conn, PHONE, n, T0 + 1000 + n)
    exposure.on_duty(redis_conn, PHONE, LIMITS, at=T0 + 5000)
    (checkin,) = exposure.checkins(redis_conn)
    done = exposure.acknowledge(redis_conn, checkin["id"], by="max", role="manager", at=T0 + 9000)
    assert done["acknowledged_by"] == "max" and exposure.checkins(redis_conn) == []
    again = exposure.acknowledge(redis_conn, checkin["id"], by="sam", role="manager")
    assert again["acknowledged_by"] == "max"  # the first acknowledgement stays
    (row,) = exposure.checkins(redis_conn, open_only=False)
    assert row["acknowledged_at"] == str(T0 + 9000)
    audits = [f for _id, f in redis_conn.xrange(keys.AUDIT) if f["action"] == "wellbeing_checkin"]
    assert len(audits) == 1 and audits[0]["by"] == "max" and audits[0]["subject"] == "ann"
    assert "wellbeing_checkin" in events.ACTION_WORDS
    with pytest.raises(LookupError, match="reload the page"):
        exposure.acknowledge(redis_conn, "nobody|1", by="max", role="manager")
