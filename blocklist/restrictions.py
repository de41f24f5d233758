"""Graduated contact restrictions: steps short of a block that a manager sets on one caller's number.

Ombudsmen's unreasonable-conduct policies and helpline codes restrict an abusive caller before (or instead of)
refusing them: calls only at agreed times, at most so many calls a day or a week, only to a named person or team,
or messages only. Each restriction here is one of four kinds:

- `hours`: calls only within the agreed days and hours ("Mon-Fri 09:00-12:00", blocklist/hours.py);
- `max_calls`: at most N calls a day or a week (days and weeks of IVR_TIMEZONE; a week starts on Monday);
- `route`: calls go to a named queue instead of the agents (`supervisor`: the supervisors' queue);
- `voicemail`: the caller can leave a message, and is not put through.

Every restriction has a start, an optional end, a review date (required, in the future), a reason and who made
it; all lines or one line, like a block. A refused call hears the `restricted` notice and is hung up on.

Stored so the screen reads it in its one round trip (blocklist/lua/screen.lua):
- `ivr:restrict:n:<number>` (keys.restriction): id -> "kind|scope|start_ms|until_ms|rule|words", one HGETALL per
  call, empty (nothing else read) for the numbers nobody restricted. `rule` is what the script checks: the hours
  windows as "1111100:540:720" (days Mon..Sun, minutes), "3:day" for max calls, the route's name; `words` is what
  the decision says of it ("Mon-Fri 09:00-12:00").
- `ivr:restrict:info` (keys.RESTRICT_INFO): "<number>|<id>" -> the restriction as people see it (JSON).
- `ivr:restrict:index` (keys.RESTRICT_INDEX): "<number>|<id>" by review time, for the review sweep.
- `ivr:restrict:calls:<number>` (keys.restriction_calls): the calls counted under `max_calls`, by CallSid.

A restriction ends by itself at its end: the screen compares the end with the call's time, to the millisecond.
On its review date it comes up for review: the cron's sweep (workers/restrictions.py) puts it on the managers'
review list and into the number's history, and writes the end of the ones that ended; nothing is renewed
silently: a manager keeps it (with a new review date) or removes it. Every change is audited and written to the
number's history, which the evidence pack's history.csv reads.

Order in the screen: the allowlist, then a manager's block of the number, then its restrictions. A restriction is
a manager's decision about that one number, made after looking at it, so an allowlisted number is restricted
too (the allowlist still spares it the range rules, feeds and signals); a block is stricter and wins.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from blocklist import events, keys
from blocklist.base import BlocklistBase
from blocklist.clock import as_datetime, now_ms
from blocklist.entries import MAX_UNTIL_MS
from blocklist.hours import DAYS, Window, parse_hours
from blocklist.text import clean_text

KINDS = ("hours", "max_calls", "route", "voicemail")
KIND_WORDS = {"hours": "calls only at agreed times", "max_calls": "a limited number of calls",
              "route": "calls only to a named queue", "voicemail": "messages only (voicemail)"}
PERIODS = ("day", "week")
# Where a `route` restriction may send a caller: the name people write -> what the screen hands the webhook.
# Besides the supervisors, any team of IVR_TEAMS: 'team:<name>' (written 'billing' or 'team:billing').
ROUTES = {"supervisor": "supervisor", "supervisors": "supervisor"}
ROUTE_WORDS = {"supervisor": "the supervisors' queue"}
TEAM_ROUTE = "team:"


def route_target(route: str, teams: tuple[str, ...]) -> str:
    """What a `route` restriction stores for what a manager wrote; ValueError naming the choices."""
    text = (route or "").strip().lower()
    if text in ROUTES:
        return ROUTES[text]
    name = text.removeprefix(TEAM_ROUTE)
    if name in teams:
        return TEAM_ROUTE + name
    choices = "supervisor (the supervisors' queue)" + (
        f", or a team: {', '.join(teams)}" if teams else " (name teams in IVR_TEAMS to route to a team)")
    raise ValueError(f"route {route[:30]!r} unknown: use {choices}")


def route_words(target: str) -> str:
    """'the supervisors' queue', 'team billing'."""
    if target.startswith(TEAM_ROUTE):
        return f"team {target.removeprefix(TEAM_ROUTE)}"
    return ROUTE_WORDS.get(target, target)
MAX_CALLS_LIMIT = 1000
COUNT_KEEP_MS = 8 * 86400 * 1000  # a week and a day: the counted calls of the longest period, whatever the zone
DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ID = re.compile(r"^[0-9a-f]{6}$")
# Kinds that cannot hold at once for one number (on overlapping lines and periods): two of a kind would leave the
# caller guessing which one counts, and voicemail-only with a route says two different things.
CONFLICTS = {("route", "voicemail"), ("voicemail", "route")}


@dataclass(frozen=True)
class Restriction:
    """One contact restriction of a number, as people see it."""

    id: str
    number: str
    scope: str  # '*' all lines, else the line's E.164
    kind: str
    start_ms: int
    until_ms: int | None  # None: until a manager removes it
    review_ms: int  # when it comes up for review
    reason: str
    by: str
    at: int  # when it was made
    hours: str = ""  # `hours`: the windows as written
    max_calls: int = 0  # `max_calls`
    period: str = ""  # `max_calls`: day | week
    route: str = ""  # `route`: supervisor
    review_due: bool = False  # its review date passed and the sweep listed it for review

    def words(self) -> str:
        """What it allows, in plain words: 'hours Mon-Fri 09:00-12:00', 'at most 3 calls a day'."""
        if self.kind == "hours":
            return f"hours {self.hours}"
        if self.kind == "max_calls":
            return f"at most {self.max_calls} call{'s' if self.max_calls != 1 else ''} a {self.period}"
        if self.kind == "route":
            return f"only to {route_words(self.route)}"
        return "voicemail only"

    def active(self, at: int) -> bool:
        """In force at `at` (started, not ended)."""
        return self.start_ms <= at and (self.until_ms is None or at < self.until_ms)

    def ended(self, at: int) -> bool:
        return self.until_ms is not None and self.until_ms <= at

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "words": self.words()}

    @classmethod
    def from_json(cls, raw: str) -> Restriction:
        data = json.loads(raw)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def screen_value(self) -> str:
        """What screen.lua reads of it: "kind|scope|start|until|rule|words" ('' until: no end)."""
        if self.kind == "hours":
            rule = ",".join(_window_rule(w) for w in parse_hours(self.hours).windows)
        elif self.kind == "max_calls":
            rule = f"{self.max_calls}:{self.period}"
        elif self.kind == "route":
            rule = self.route
        else:
            rule = ""
        until = "" if self.until_ms is None else str(self.until_ms)
        return f"{self.kind}|{self.scope}|{self.start_ms}|{until}|{rule}|{self.words()}"


def _window_rule(w: Window) -> str:
    return "".join("1" if d in w.days else "0" for d in range(7)) + f":{w.start}:{w.end}"


def check_hours(text: str) -> str:
    """The hours as stored ('Mon-Fri 09:00-12:00|Sat 10:00-12:00'); ValueError for a window that is not one, for
    none at all, and for windows that overlap (each time must be said once: which one would a caller keep to?)."""
    parts = [p.strip() for p in (text or "").split("|") if p.strip()]
    if not parts:
        raise ValueError("say which hours calls are allowed in, e.g. 'Mon-Fri 09:00-12:00' (several: "
                         "'Mon-Fri 09:00-12:00|Sat 10:00-12:00')")
    windows = [(part, parse_hours(part).windows[0]) for part in parts]
    for i, (text_a, a) in enumerate(windows):
        for text_b, b in windows[i + 1:]:
            days = sorted(a.days & b.days)
            if days and a.start < b.end and b.start < a.end:
                raise ValueError(f"the windows {text_a!r} and {text_b!r} overlap on {DAYS[days[0]].title()}: "
                                 "write each time once; nothing was changed")
    return "|".join(parts)


def local_day(ms: int, zone: tzinfo) -> date:
    return as_datetime(ms, zone).date()


def _day_start_ms(day: date, zone: tzinfo) -> int:
    return int(datetime.combine(day, time(0), tzinfo=zone).timestamp() * 1000)


def parse_when(text: str, zone: tzinfo, what: str) -> int:
    """A date (the start of that day in `zone`) or an ISO 8601 time with its zone, as ms; ValueError saying how
    to write it."""
    value = (text or "").strip()
    example = "2027-01-15, or a time with its zone like 2027-01-15T09:00:00+02:00"
    if not value:
        raise ValueError(f"{what} is empty: write a date, e.g. {example}")
    try:
        if DATE_ONLY.match(value):
            return _day_start_ms(date.fromisoformat(value), zone)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what} {value[:40]!r} is not a date: write it like {example}") from None
    if moment.tzinfo is None:
        raise ValueError(f"{what} {value[:40]!r} has no time zone: add Z for UTC or an offset like +02:00, or "
                         "give a date only")
    return int(moment.timestamp() * 1000)


def screen_clock(at: int, zone: tzinfo) -> tuple[int, int, int, int]:
    """What screen.lua needs of the local time: (weekday Mon=0, minute of the day, the day's start ms, the week's
    start ms (Monday 00:00)) in `zone`, so hours and a day's or week's calls follow IVR_TIMEZONE, DST included."""
    local = as_datetime(at, zone)
    day = local.date()
    monday = day - timedelta(days=day.weekday())
    return day.weekday(), local.hour * 60 + local.minute, _day_start_ms(day, zone), _day_start_ms(monday, zone)


class RestrictionsMixin(BlocklistBase):
    """Contact restrictions of numbers: add, review (keep), remove, list, and the sweep that lists the ones due for
    review and records the ones that ended."""

    _clock_cache: tuple[int, tuple[int, int, int, int]] | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.policy.timezone or "UTC")

    def screen_clock(self, at: int) -> tuple[int, int, int, int]:
        """screen_clock() for the screen's every call, worked out once a minute."""
        minute = at // 60000
        cached = self._clock_cache
        if cached is not None and cached[0] == minute:
            return cached[1]
        found = screen_clock(minute * 60000, self.zone)
        self._clock_cache = (minute, found)
        return found

    # ---- writing -------------------------------------------------------------------------------------------
    def restrict(self, raw_number: str, *, kind: str, review: str, reason: str, by: str, scope: str | None = None,
                 hours: str = "", max_calls: int | str | None = None, period: str = "", route: str = "",
                 start: str = "", until: str = "", role: str = "manager", at: int | None = None) -> Restriction:
        """Restrict a number's calls; ValueError (nothing written) for bad input, a review date that is not in the
        future, or a restriction that overlaps or contradicts one the number has."""
        number = self._identity(raw_number)
        scope_ = self._scope(scope, self.default_region)
        at = at or now_ms()
        zone = self.zone
        kind = (kind or "").strip().lower()
        if kind not in KINDS:
            raise ValueError(f"kind {kind[:20]!r} unknown: use one of {', '.join(KINDS)}")
        reason = clean_text(reason).strip()
        if not reason:
            raise ValueError("say why the calls are restricted (--reason); it goes into the number's history")
        fields: dict[str, Any] = {}
        if kind == "hours":
            fields["hours"] = check_hours(hours)
        elif hours:
            raise ValueError("hours are only for --kind hours")
        if kind == "max_calls":
            text = str(max_calls if max_calls is not None else "").strip()
            if not text.isdigit() or not 1 <= int(text) <= MAX_CALLS_LIMIT:
                raise ValueError(f"say how many calls are allowed: a whole number from 1 to {MAX_CALLS_LIMIT} "
                                 "(--max-calls 3)")
            period = (period or "").strip().lower()
            if period not in PERIODS:
                raise ValueError("say per what the calls are counted: --per day or --per week")
            fields.update(max_calls=int(text), period=period)
        if kind == "route":
            fields["route"] = route_target(route, self.policy.teams)
        start_ms = parse_when(start, zone, "start") if start else at
        until_ms = parse_when(until, zone, "until") if until else None
        if until_ms is not None:
            if until_ms <= max(at, start_ms):
                raise ValueError("the end is not after the start (or is past): give a later end, or none")
            if until_ms > MAX_UNTIL_MS:
                raise ValueError("the end is past the year 9999: leave it out instead")
        review_ms = parse_when(review, zone, "review date")
        if review_ms <= at or (DATE_ONLY.match(review.strip()) and local_day(review_ms, zone) <= local_day(at, zone)):
            raise ValueError(f"the review date {review.strip()[:40]} is not in the future: give a later date, e.g. "
                             f"{(local_day(at, zone) + timedelta(days=90)).isoformat()}; nothing was changed")
        if until_ms is not None and review_ms >= until_ms:
            raise ValueError("the review date is not before the end: the restriction would end by itself first; "
                             "give an earlier review date, or a later end (or none)")
        made = Restriction(id=secrets.token_hex(3), number=number, scope=scope_, kind=kind, start_ms=start_ms,
                           until_ms=until_ms, review_ms=review_ms, reason=reason, by=clean_text(by), at=at, **fields)
        key = keys.restriction(number)

        def work(pipe: Any) -> Restriction:
            existing = self._restrictions_of(number, pipe)
            clash = next((r for r in existing if not r.ended(at) and _clash(made, r)), None)
            if clash is not None:
                where = "all lines" if clash.scope == keys.GLOBAL else f"line {clash.scope}"
                raise ValueError(f"{number} already has a restriction that overlaps this one: {clash.words()} on "
                                 f"{where} (id {clash.id}); remove it first (`ivr restrict remove {number} --id "
                                 f"{clash.id}`) or choose times that do not overlap; nothing was changed")
            pipe.multi()
            self._write(pipe, made)
            self._history_entry(pipe, number, at=at, action="restrict", by=made.by, role=role, reason=reason,
                                scope=scope_, restriction=made.words(), kind=kind, id=made.id, start=start_ms,
                                until=until_ms, review=review_ms)
            events.audit(pipe, ts=at, by=made.by, role=role, action="restrict", number=number, scope=scope_,
                         reason=reason, restriction=made.words(), until="" if until_ms is None else until_ms,
                         review=review_ms)
            pipe.execute()
            return made

        result: Restriction = self._watched(key, work)
        return result

    def _write(self, pipe: Any, r: Restriction) -> None:
        member = f"{r.number}|{r.id}"
        pipe.hset(keys.restriction(r.number), r.id, r.screen_value())
        pipe.hset(keys.RESTRICT_INFO, member, json.dumps(asdict(r), sort_keys=True))
        pipe.zadd(keys.RESTRICT_INDEX, {member: r.review_ms})

    def _drop(self, pipe: Any, r: Restriction) -> None:
        member = f"{r.number}|{r.id}"
        pipe.hdel(keys.restriction(r.number), r.id)
        pipe.hdel(keys.RESTRICT_INFO, member)
        pipe.zrem(keys.RESTRICT_INDEX, member)

    def keep_restriction(self, raw_number: str, restriction_id: str, *, review: str, reason: str, by: str,
                         role: str = "manager", at: int | None = None) -> Restriction:
        """A manager reviewed a restriction and keeps it until a new review date (never renewed by itself)."""
        number = self._identity(raw_number)
        at = at or now_ms()
        reason = clean_text(reason).strip()
        if not reason:
            raise ValueError("say why the restriction is kept (the review's outcome); it goes into the history")
        current = self._one(number, restriction_id)
        review_ms = parse_when(review, self.zone, "review date")
        if review_ms <= at or (DATE_ONLY.match(review.strip()) and
                               local_day(review_ms, self.zone) <= local_day(at, self.zone)):
            raise ValueError(f"the review date {review.strip()[:40]} is not in the future: give a later date; "
                             "nothing was changed")
        if current.until_ms is not None and review_ms >= current.until_ms:
            raise ValueError("the review date is not before the restriction's end: it ends by itself first")
        kept = Restriction(**{**asdict(current), "review_ms": review_ms, "review_due": False})
        pipe = self._pipeline()
        self._write(pipe, kept)
        pipe.zrem(keys.REVIEW, f"{keys.GLOBAL}|{number}")
        pipe.hdel(keys.REVIEW_INFO, f"{keys.GLOBAL}|{number}")
        self._history_entry(pipe, number, at=at, action="restrict_kept", by=clean_text(by), role=role, reason=reason,
                            scope=kept.scope, restriction=kept.words(), kind=kept.kind, id=kept.id,
                            until=kept.until_ms, review=review_ms)
        events.audit(pipe, ts=at, by=clean_text(by), role=role, action="restrict_kept", number=number,
                     scope=kept.scope, reason=reason, restriction=kept.words(),
                     until="" if kept.until_ms is None else kept.until_ms, review=review_ms)
        pipe.execute()
        return kept

    def unrestrict(self, raw_number: str, *, reason: str, by: str, restriction_id: str = "", role: str = "manager",
                   at: int | None = None) -> list[Restriction]:
        """Remove one restriction (by id) or every restriction of a number; the ones removed ([] when none was
        there: nothing written)."""
        number = self._identity(raw_number)
        at = at or now_ms()
        reason = clean_text(reason).strip()
        if not reason:
            raise ValueError("say why the restriction is removed; it goes into the number's history")
        every = self.restrictions(number)
        found = [self._one(number, restriction_id)] if restriction_id else every
        if not found:
            return []
        pipe = self._pipeline()
        for r in found:
            self._drop(pipe, r)
            self._history_entry(pipe, number, at=at, action="unrestrict", by=clean_text(by), role=role,
                                reason=reason, scope=r.scope, restriction=r.words(), kind=r.kind, id=r.id)
            events.audit(pipe, ts=at, by=clean_text(by), role=role, action="unrestrict", number=number,
                         scope=r.scope, reason=reason, restriction=r.words(),
                         until="" if r.until_ms is None else r.until_ms, review=r.review_ms)
        gone = {r.id for r in found}
        if not any(r.kind == "max_calls" and r.id not in gone for r in every):
            pipe.delete(keys.restriction_calls(number))  # counted calls mean nothing without a max-calls restriction
        pipe.execute()
        return found

    # ---- reading -------------------------------------------------------------------------------------------
    def _restrictions_of(self, number: str, client: Any = None) -> list[Restriction]:
        ids = list((client or self.r).hkeys(keys.restriction(number)))
        if not ids:
            return []
        raws = (client or self.r).hmget(keys.RESTRICT_INFO, [f"{number}|{i}" for i in ids])
        found = [Restriction.from_json(raw) for raw in raws if raw]
        return sorted(found, key=lambda r: (r.start_ms, r.at))

    def restrictions(self, raw_number: str) -> list[Restriction]:
        """A number's restrictions (in force, to come, and ended ones the sweep has not recorded yet)."""
        return self._restrictions_of(self._identity(raw_number))

    def _one(self, number: str, restriction_id: str) -> Restriction:
        rid = (restriction_id or "").strip().lower()
        if not ID.match(rid):
            raise ValueError(f"restriction id {rid[:20]!r}: write the 6 letters and digits `ivr restrict show` gives")
        raw = self.r.hget(keys.RESTRICT_INFO, f"{number}|{rid}")
        if not raw:
            raise LookupError(f"{number} has no restriction {rid}; `ivr restrict show {number}` lists them")
        return Restriction.from_json(raw)

    def list_restrictions(self) -> list[Restriction]:
        """Every restriction, soonest review first."""
        members = [m for m, _s in self.r.zscan_iter(keys.RESTRICT_INDEX, count=1000)]
        raws = self.r.hmget(keys.RESTRICT_INFO, members) if members else []
        found = [Restriction.from_json(raw) for raw in raws if raw]
        return sorted(found, key=lambda r: (r.review_ms, r.number))

    # ---- the sweep (cron) ----------------------------------------------------------------------------------
    def sweep_restrictions(self, at: int | None = None) -> dict[str, int]:
        """Record the restrictions that ended (history at their end; their screen fields removed) and put the ones
        whose review date passed on the review list, once each (the restriction stays in force: a manager keeps
        or removes it)."""
        at = at or now_ms()
        ended = due = 0
        for r in self.list_restrictions():
            if r.ended(at):
                pipe = self._pipeline()
                self._drop(pipe, r)
                self._history_entry(pipe, r.number, at=r.until_ms, action="restrict_end", by="system", role="system",
                                    reason="restriction period ended", scope=r.scope, restriction=r.words(),
                                    kind=r.kind, id=r.id)
                pipe.execute()
                ended += 1
            elif r.review_ms <= at and not r.review_due:
                subject = f"{keys.GLOBAL}|{r.number}"
                detail = (f"contact restriction up for review: {r.words()} "
                          f"({'all lines' if r.scope == keys.GLOBAL else 'line ' + r.scope}), made by {r.by}: "
                          f"{r.reason}")
                pipe = self._pipeline()
                self._write(pipe, Restriction(**{**asdict(r), "review_due": True}))
                pipe.zadd(keys.REVIEW, {subject: r.review_ms})
                pipe.hset(keys.REVIEW_INFO, subject, json.dumps({
                    "number": r.number, "line": "all lines" if r.scope == keys.GLOBAL else r.scope,
                    "at": r.review_ms, "rule": "restriction", "detail": detail, "restriction": r.id}))
                self._history_entry(pipe, r.number, at=r.review_ms, action="restrict_review", by="system",
                                    role="system", reason="review date reached: keep it (new review date) or remove "
                                    "it", scope=r.scope, restriction=r.words(), kind=r.kind, id=r.id)
                pipe.execute()
                due += 1
        return {"ended": ended, "review": due}


def _clash(new: Restriction, old: Restriction) -> bool:
    """True when two restrictions of one number would hold on one line at one time and say different things."""
    if new.scope != old.scope and keys.GLOBAL not in (new.scope, old.scope):
        return False
    if old.until_ms is not None and old.until_ms <= new.start_ms:
        return False
    if new.until_ms is not None and new.until_ms <= old.start_ms:
        return False
    if (new.kind, old.kind) in CONFLICTS:
        return True
    if new.kind != old.kind:
        return False
    return new.kind != "max_calls" or new.period == old.period


VOICEMAIL_URL_CHARS = 300


def voicemail_left(connection: Any, call_sid: str, url: str, seconds: str, recording_sid: str,
                   at: int | None = None) -> bool:
    """A caller under a voicemail-only restriction left a message (Twilio's recording status callback): its
    recording's URL goes on the call and into the number's history (so the desk and the evidence pack show it).
    False, and nothing written, for a call we do not know."""
    at = at or now_ms()
    number = connection.hget(keys.call(call_sid), "number")
    if not number:
        return False
    url = clean_text(url, VOICEMAIL_URL_CHARS)
    seconds = seconds if str(seconds).isdigit() else ""
    recording_sid = clean_text(recording_sid, 40)
    pipe = connection.pipeline(transaction=True)
    pipe.hset(keys.call(call_sid), mapping={"voicemail_url": url, "voicemail_seconds": seconds,
                                             "voicemail_sid": recording_sid})
    if number.startswith("+"):
        pipe.rpush(keys.history(number), json.dumps({
            "at": at, "action": "voicemail", "by": "caller", "role": "caller", "call_sid": call_sid,
            "reason": f"message of {seconds or '?'} s", "recording": url}, sort_keys=True))
    pipe.execute()
    return True
