"""Agents' exposure to difficult calls, and the wellbeing break that follows too many of them.

Helplines protect agents with more than a fixed pause: they count each agent's difficult calls in a shift and
in a week against limits managers set, and when one is crossed the agent gets a longer break and a supervisor
checks in. This module keeps those counts in Redis, cheap enough for the agent's webhook:

- A difficult call is one the agent flagged or made a difficult-caller move on (escalate, warn, call back).
  `record` adds it (on the caller's own pipeline: no round trip of its own) to a sorted set per agent phone,
  member the caller's CallSid (a call flagged after a warning counts once), score its time, trimmed to 7 days.
- An agent is the desk user their phone belongs to (every phone of theirs counts), else the phone itself.
- A shift starts when the agent takes calls again after at least IVR_SHIFT_GAP_HOURS (8 h) away from the
  queue; an agent's phone asks for a caller at least every IVR_DIAL_TIMEOUT seconds while they work, so
  "away" is time the phone was not connected. A night shift past midnight stays one shift.
- `on_duty` (the agent's phone asks for a caller, or has just flagged one) keeps the shift and, when the shift
  count reaches a multiple of IVR_EXPOSURE_SHIFT_LIMIT or the week count reaches IVR_EXPOSURE_WEEK_LIMIT,
  starts a break of IVR_WELLBEING_BREAK_SECONDS, logs a `wellbeing_break` event and opens a check-in for a
  supervisor; all in one script (wellbeing.lua). `look` reads the same without writing (the desk).
- The breather after each flag scales with the flag's category (abuse.weight): a threat gets more than a prank.

Everything here is kept in Redis with AOF like the blocklist: a restart keeps the counts, shifts and breaks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import redis

from blocklist import abuse, events, keys, scripts
from blocklist.clock import now_ms
from blocklist.keys import Desk as dk
from blocklist.text import clean_text

WEEK_MS = 7 * 86400 * 1000
KEEP_MS = 30 * 86400 * 1000  # the agents' shift state and the check-ins
CHECKINS_SHOWN = 50


@dataclass(frozen=True)
class Limits:
    """The server's limits (settings); the managers' desk overrides win inside the script."""

    shift: int = 3
    week: int = 12
    break_seconds: int = 900
    shift_gap_hours: int = 8

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        return cls(shift=settings.exposure_shift_limit, week=settings.exposure_week_limit,
                   break_seconds=settings.wellbeing_break_seconds, shift_gap_hours=settings.shift_gap_hours)


@dataclass(frozen=True)
class Exposure:
    """One agent's counts and break, as the script found them."""

    status: str  # ok | started | break
    agent: str  # the desk user, else the phone identity
    shift: int  # difficult calls in the current shift
    week: int  # ... in the last 7 days
    shift_start: int  # ms; 0 when the agent is off shift
    break_until: int  # ms; in the past when no break is on
    shift_limit: int
    week_limit: int
    reason: str  # shift | week: the limit the latest break was for
    breather_override: str  # the managers' breather setting ('' for none)
    at: int  # when this was read

    @property
    def on_break(self) -> bool:
        return self.status in ("started", "break")

    @property
    def break_left_seconds(self) -> int:
        return max(0, math.ceil((self.break_until - self.at) / 1000))

    def to_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "shift": self.shift, "week": self.week, "shift_start": self.shift_start or None,
                "shift_limit": self.shift_limit, "week_limit": self.week_limit, "on_break": self.on_break,
                "break_until": self.break_until if self.on_break else None, "reason": self.reason or None}


def record(pipe: Any, identity: str, call_sid: str, at: int | None = None) -> None:
    """Count the call `call_sid` as a difficult call of the agent phone `identity`, on `pipe` (queued with the
    flag's or the move's own writes). The first flag or move of a call sets its time."""
    if not identity or not call_sid:
        return
    at = at or now_ms()
    key = keys.exposure(identity)
    pipe.zadd(key, {call_sid: at}, nx=True)
    pipe.zremrangebyscore(key, "-inf", f"({at - WEEK_MS}")
    pipe.pexpire(key, WEEK_MS + 86400 * 1000)


def _run(r: redis.Redis, identity: str, limits: Limits, mode: str, at: int) -> Exposure:
    script = scripts.register(r, "wellbeing")
    raw = script(keys=[dk.IDENTITIES, keys.SETTINGS, keys.EVENTS, keys.WELLBEING_CHECKINS],
                 args=[identity, at, mode, limits.shift_gap_hours * 3600 * 1000, limits.shift, limits.week,
                       limits.break_seconds * 1000, WEEK_MS, keys.exposure(""), keys.wellbeing(""), dk.user(""),
                       keys.wellbeing_checkin(""), KEEP_MS])
    status, agent, shift, week, start, until, shift_limit, week_limit, reason, breather = (
        str(v) if isinstance(v, (str, bytes)) else v for v in raw)
    return Exposure(str(status), str(agent), int(shift), int(week), int(start or 0), int(until or 0),
                    int(shift_limit), int(week_limit), str(reason or ""), str(breather or ""), at)


def on_duty(r: redis.Redis, identity: str, limits: Limits, at: int | None = None) -> Exposure:
    """The agent's phone asks for a caller (or has just flagged one): one round trip that keeps the shift and
    starts the wellbeing break when a limit was crossed since the last time."""
    return _run(r, identity, limits, "duty", at or now_ms())


def look(r: redis.Redis, identity: str, limits: Limits, at: int | None = None) -> Exposure:
    """The same counts and break, read only (the desk)."""
    return _run(r, identity, limits, "look", at or now_ms())


def breather_seconds(base: int, category: str | None) -> int:
    """The breather after a flag of this category: the line's breather times the category's weight, rounded up
    (a call recorded before categories, or with none, weighs 1)."""
    key = abuse.category(category, default="other") if category else "other"
    return max(1, math.ceil(base * abuse.weight(key)))


# ---- the supervisor's check-ins ----------------------------------------------------------------------------
def checkins(r: redis.Redis, *, open_only: bool = True, count: int = CHECKINS_SHOWN) -> list[dict[str, str]]:
    """Check-ins newest first: an agent who crossed a limit, for a supervisor to check in with."""
    ids = r.zrevrange(keys.WELLBEING_CHECKINS, 0, max(count * 4, 200) - 1)
    pipe = r.pipeline(transaction=False)
    for checkin_id in ids:
        pipe.hgetall(keys.wellbeing_checkin(checkin_id))
    out = []
    for row in pipe.execute() if ids else []:
        if row and not (open_only and row.get("acknowledged_by")):
            out.append(dict(row))
        if len(out) >= count:
            break
    return out


def acknowledge(r: redis.Redis, checkin_id: str, *, by: str, role: str, at: int | None = None) -> dict[str, str]:
    """A supervisor checked in with the agent: record who and when (audited). LookupError: no such check-in
    (or it is older than 30 days); an acknowledged one stays as it was."""
    checkin_id = clean_text(checkin_id, 200)
    key = keys.wellbeing_checkin(checkin_id)
    at = at or now_ms()
    with r.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(key)
                row = dict(pipe.hgetall(key))
                if not row:
                    raise LookupError(f"no check-in {checkin_id!r}: it may be older than 30 days; reload the page")
                if row.get("acknowledged_by"):
                    pipe.unwatch()
                    return row
                pipe.multi()
                pipe.hset(key, mapping={"acknowledged_by": clean_text(by), "acknowledged_at": at})
                events.audit(pipe, ts=at, by=by, role=role, action="wellbeing_checkin", subject=row.get("agent", ""),
                             reason=f"checked in after the {row.get('reason', '')} limit: {row.get('shift', '')} "
                                    f"difficult calls this shift, {row.get('week', '')} in 7 days")
                pipe.execute()
                return {**row, "acknowledged_by": clean_text(by), "acknowledged_at": str(at)}
            except redis.WatchError:
                continue
