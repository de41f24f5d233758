"""Moves for difficult callers who are not harassers: escalate to a supervisor, set a limit, call back.

Shared by the phone menu after `*` and the desk/API. Nothing here ever blocklists a number; every
move is an event in the reports' log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from blocklist import abuse, events, exposure, keys, warnings
from blocklist.calls import Calls, is_gone
from blocklist.clock import now_ms
from blocklist.numbers import WITHHELD
from blocklist.text import clean_text
from ivr import urls
from ivr.resources import Resources
from workers.callbacks import enqueue_attempt
from workers.calls import enqueue_redirect

MOVES = ("escalate", "warn", "callback")


@dataclass(frozen=True)
class Move:
    kind: str  # escalate | warn | end | callback
    call: dict[str, str]
    detail: dict[str, Any]


def move_category(value: object) -> str:
    """A move's abuse category: empty when none is given (the phone keys give none: a limit set for an angry
    customer is not necessarily abuse), else a key of blocklist/abuse.py (ValueError naming the choices; a legacy
    reason is read as its category)."""
    if value is None or str(value).strip() == "":
        return ""
    return abuse.category(value)


def _event(pipe: Any, kind: str, call_sid: str, call: dict[str, str], **fields: Any) -> None:
    events.event(pipe, kind, call_sid=call_sid, number=call.get("number", ""), line=call.get("line", ""), **fields)
    exposure.record(pipe, call.get("agent", ""), call_sid)  # a difficult call of the agent it was bridged to


def _call(res: Resources, caller_sid: str) -> dict[str, str]:
    call = Calls(res.store).get(caller_sid)
    if not call:
        raise LookupError(f"no call {caller_sid} is known here; check the CallSid (calls are kept for 30 days)")
    return call


def escalate(res: Resources, caller_sid: str, *, agent: str, note: str = "", via: str = "key",
             category: str = "") -> Move:
    """Hand the caller to a supervisor with the context, so the caller need not start over."""
    category = move_category(category)
    call = _call(res, caller_sid)
    at = now_ms()
    record = {"call_sid": caller_sid, "agent": clean_text(agent or call.get("agent", "")), "note": clean_text(note, 2000),
              "via": via, "at": at, "number": call.get("number", ""), "line": call.get("line", "")}
    pipe = res.store.pipeline(transaction=True)
    pipe.hset(keys.escalation(caller_sid), mapping=record)
    pipe.expire(keys.escalation(caller_sid), 30 * 86400)
    pipe.zadd(keys.ESCALATIONS, {caller_sid: at})
    pipe.hset(keys.call(caller_sid), mapping={"escalated": at, **({"category": category} if category else {})})
    _event(pipe, "escalate", caller_sid, call, agent=record["agent"], note=record["note"], via=via, category=category)
    pipe.execute()
    return Move("escalate", call, record)


def warn(res: Resources, caller_sid: str, *, agent: str, note: str = "", via: str = "key", category: str = "") -> Move:
    """The polite limit; a second one on the same call may end it (IVR_SECOND_WARNING_ENDS). Each warning is also
    on the number's record (blocklist/warnings.py): counted across calls and written into its history."""
    category = move_category(category)
    call = _call(res, caller_sid)
    number = call.get("number", "")
    pipe = res.store.pipeline(transaction=True)
    pipe.hincrby(keys.call(caller_sid), "warnings", 1)
    if warnings.on_file(number):
        pipe.hincrby(keys.WARNINGS, number, 1)
    counted = pipe.execute()
    count = int(counted[0])
    on_record = int(counted[1]) if len(counted) > 1 else 0
    ends = count >= 2 and res.settings.second_warning_ends
    by, said = clean_text(agent or call.get("agent", "")), clean_text(note, 2000)
    pipe = res.store.pipeline(transaction=True)
    if category:
        pipe.hset(keys.call(caller_sid), "category", category)
    _event(pipe, "warn", caller_sid, call, agent=by, note=said, via=via, warning=count, ended="1" if ends else "0",
           category=category, on_record=on_record or "")
    if on_record:
        entry = {"at": now_ms(), "action": "warn", "by": by, "role": "agent", "via": via, "call_sid": caller_sid,
                 "line": call.get("line", ""), "note": said, "warning": count, "on_record": on_record,
                 **({"category": category} if category else {})}
        pipe.rpush(keys.history(number), json.dumps(entry, sort_keys=True))
    pipe.execute()
    return Move("end" if ends else "warn", call, {"warnings": count, "on_record": on_record})


def callback_id(caller_sid: str) -> str:
    return f"cb-{caller_sid}"


def schedule_callback(res: Resources, caller_sid: str, *, agent: str, note: str = "", via: str = "key",
                      delay_seconds: int | None = None, at: datetime | None = None, category: str = "") -> Move:
    """Agree a time to call back, inside the line's calling hours; ValueError for withheld callers."""
    category = move_category(category)
    call = _call(res, caller_sid)
    number = call.get("number", WITHHELD)
    if number == WITHHELD or not number.startswith("+"):
        raise ValueError("a withheld caller cannot be called back: there is no number to call")
    s = res.settings
    if at is None:
        delay = s.callback_delay_seconds if delay_seconds is None else delay_seconds
        if delay < 0 or delay > 30 * 86400:
            raise ValueError("delay_seconds must be between 0 and 2592000 (30 days)")
        at = datetime.now(UTC) + timedelta(seconds=delay)
    elif at.tzinfo is None:
        raise ValueError("give the callback time with its time zone, e.g. 2026-11-25T09:30:00+02:00")
    line = call.get("line", "")
    due = s.line_hours(line, "callback").next_open(at.astimezone(s.tz())).astimezone(UTC)
    cb_id = callback_id(caller_sid)
    record = {"id": cb_id, "call_sid": caller_sid, "number": number, "line": line, "due": int(due.timestamp() * 1000),
              "attempts": 0, "status": "scheduled", "agent": clean_text(agent or call.get("agent", "")),
              "note": clean_text(note, 2000), "via": via, "created": now_ms()}
    existing = res.store.hget(keys.callback(cb_id), "status")
    if existing and existing not in ("failed", "cancelled"):
        return Move("callback", call, {**res.store.hgetall(keys.callback(cb_id)), "duplicate": True})
    pipe = res.store.pipeline(transaction=True)
    pipe.hset(keys.callback(cb_id), mapping=record)
    pipe.expire(keys.callback(cb_id), 90 * 86400)
    pipe.zadd(keys.CALLBACKS, {cb_id: record["due"]})
    pipe.hset(keys.call(caller_sid), mapping={"callback": cb_id, **({"category": category} if category else {})})
    _event(pipe, "callback", caller_sid, call, agent=record["agent"], note=record["note"], via=via,
           status="scheduled", due=record["due"], category=category)
    pipe.execute()

    enqueue_attempt(res.rq_connection, cb_id, due, attempt=1)
    return Move("callback", call, record)


def escalations(res: Resources, count: int = 50) -> list[dict[str, Any]]:
    """The supervisors' queue view: escalated callers still on the line, oldest first."""
    sids = res.store.zrange(keys.ESCALATIONS, 0, count - 1)
    pipe = res.store.pipeline(transaction=False)
    for sid in sids:
        pipe.hgetall(keys.escalation(sid))
        pipe.hmget(keys.call(sid), "ended", "hung_up")
    rows = pipe.execute()
    out = []
    for i in range(len(sids)):
        record, (ended, hung_up) = rows[2 * i], rows[2 * i + 1]
        if not record:
            continue
        out.append({**record, "waiting": not (ended or hung_up)})
    return out


def callbacks(res: Resources, count: int = 100) -> list[dict[str, Any]]:
    """Scheduled callbacks with their outcome, soonest due first."""
    ids = res.store.zrange(keys.CALLBACKS, 0, count - 1)
    pipe = res.store.pipeline(transaction=False)
    for cb in ids:
        pipe.hgetall(keys.callback(cb))
    return [json.loads(json.dumps(row)) for row in pipe.execute() if row]


@dataclass(frozen=True)
class DeskMove:
    """A move made from the desk or the API: what happened and what to tell the agent."""

    kind: str  # escalate | warn | end | callback
    redirect: str  # queued | not needed
    detail: dict[str, Any]

    @property
    def message(self) -> str:
        return {
            "escalate": "Escalated: a supervisor takes the caller, with your note.",
            "warn": "The caller hears the polite limit, then comes back to you.",
            "end": "Second warning: the call ends politely.",
            "callback": "Callback agreed: the caller hears when, and the call ends.",
        }[self.kind]


# The caller's side of each move; the agent's Dial action reads the same decision.
_DECISION = {"escalate": "escalate", "warn": "resume", "end": "end", "callback": "callback"}


def desk_move(res: Resources, sid: str, move: str, *, agent: str, note: str = "", via: str = "desk",
              delay_seconds: int | None = None, at: datetime | None = None, category: str = "") -> DeskMove:
    """Escalate, warn or call back a live call from the desk/API: record it, then move the caller's leg
    through Twilio's REST API (retried). LookupError: unknown call; ValueError: not possible (or an unknown
    category: nothing written)."""
    if move not in MOVES:
        raise ValueError(f"moves are {', '.join(MOVES)}")
    if move == "escalate":
        result = escalate(res, sid, agent=agent, note=note, via=via, category=category)
    elif move == "warn":
        result = warn(res, sid, agent=agent, note=note, via=via, category=category)
    else:
        result = schedule_callback(res, sid, agent=agent, note=note, via=via, delay_seconds=delay_seconds, at=at,
                                   category=category)
    redirect = "not needed"
    if not is_gone(result.call):

        Calls(res.store).decide(sid, _DECISION[result.kind])
        enqueue_redirect(res.rq_connection, res.settings, sid,
                         urls.external("voice.moves", move=result.kind, lang=result.call.get("lang", "")),
                         tag=result.kind)
        redirect = "queued"
    return DeskMove(result.kind, redirect, {k: v for k, v in result.detail.items() if k != "note"})
