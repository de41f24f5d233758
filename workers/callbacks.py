"""Scheduled callbacks: at the agreed time, place an outbound call that joins the caller to the agents'
queue; retried when nobody (or a machine) answers, then marked failed."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from rq import Retry, get_current_job

from blocklist import events, keys
from blocklist.clock import now_ms
from blocklist.store import connect
from workers import context, twilio_rest
from workers.queues import CALLS, callback_job_id, queue

log = logging.getLogger("ivr.callbacks")
FINAL = ("done", "failed", "cancelled")


def enqueue_attempt(rq_connection: Any, callback_id: str, when: datetime, attempt: int) -> str:
    """Schedule attempt N of a callback (deterministic id: a duplicate schedule replaces, never doubles)."""
    q = queue(CALLS, rq_connection)
    job = q.enqueue_at(when, place_callback, callback_id, job_id=callback_job_id(callback_id, attempt),
                       retry=Retry(max=3, interval=[2, 30, 90]), job_timeout=30, result_ttl=7 * 86400,
                       failure_ttl=30 * 86400)
    return str(job.id)


def _event(r: Any, cb: dict[str, str], callback_id: str, status: str, **fields: Any) -> None:
    events.event(r, "callback_result", call_sid=cb.get("call_sid", ""), number=cb.get("number", ""),
                 line=cb.get("line", ""), callback=callback_id, status=status, attempts=cb.get("attempts", "0"),
                 **fields)


def place_callback(callback_id: str) -> str:
    """Ring the caller back now, unless outside the line's calling hours (then move to the next window)."""
    s = context.settings()
    r = context.store()
    cb = r.hgetall(keys.callback(callback_id))
    if not cb:
        log.warning("callback %s is unknown (erased?); nothing to do", callback_id)
        return "unknown"
    if cb.get("status") in FINAL or cb.get("status") == "ringing":
        return str(cb["status"])
    line = cb.get("line", "")
    # Screened again before it rings: a number blocked since the call back was agreed is not called.
    decision = context.blocklist().check(cb.get("number", ""), line or "*")
    if decision.blocked:
        cancel(r, callback_id, f"the number is blocked ({decision.rule} rule: {decision.detail or 'no detail'}); "
                               "it was not called")
        return "cancelled"
    now = datetime.now(UTC)
    opens = s.line_hours(line, "callback").next_open(now.astimezone(s.tz())).astimezone(UTC)
    if opens > now + timedelta(seconds=1):

        attempt = int(cb.get("attempts", "0")) + 1
        r.hset(keys.callback(callback_id), mapping={"due": int(opens.timestamp() * 1000)})
        enqueue_attempt(connect(s.redis_url, socket_timeout=30, decode=False), callback_id, opens, attempt)
        return "rescheduled"
    attempts = int(r.hincrby(keys.callback(callback_id), "attempts", 1))
    base = s.base_url
    try:
        call = twilio_rest.client(s).calls.create(
            to=cb["number"], from_=line, url=f"{base}/voice/callback/answer?cb={callback_id}", method="POST",
            machine_detection="Enable", timeout=30,
            status_callback=f"{base}/voice/callback/status?cb={callback_id}", status_callback_method="POST",
        )
    except Exception as exc:
        r.hincrby(keys.callback(callback_id), "attempts", -1)  # the call never rang
        job = get_current_job()
        if job is not None and not twilio_rest.is_transient(exc):
            job.retries_left = 0
            job.save()
        if job is None or not job.retries_left:
            r.hset(keys.callback(callback_id), mapping={"status": "failed", "error": str(exc)[:200]})
            _event(r, cb, callback_id, "failed", error=str(exc)[:120])
        raise
    r.hset(keys.callback(callback_id), mapping={"status": "ringing", "outbound_sid": call.sid, "last_attempt": now_ms()})
    _event(r, {**cb, "attempts": str(attempts)}, callback_id, "ringing")
    return "ringing"


def cancel(r: Any, callback_id: str, reason: str, forget_number: bool = False) -> bool:
    """Mark a call back cancelled with its reason (shown on the desk and counted in the reports);
    `forget_number` (an erasure): the record and its event keep no trace of the number."""
    cb = r.hgetall(keys.callback(callback_id))
    if not cb or cb.get("status") in FINAL:
        return False
    r.hset(keys.callback(callback_id), mapping={"status": "cancelled", "cancel_reason": reason[:300],
                                                "cancelled_at": now_ms()})
    if forget_number:
        r.hdel(keys.callback(callback_id), "number")
        cb.pop("number", None)
    _event(r, cb, callback_id, "cancelled", reason=reason[:120])
    log.info("callback %s cancelled: %s", callback_id, reason)
    return True


def cancel_for_number(r: Any, number: str, reason: str) -> int:
    """Cancel every call back still to be placed to `number` (an erasure: the number is forgotten too)."""
    cancelled = 0
    for cb_id, _due in r.zscan_iter(keys.CALLBACKS):
        if r.hget(keys.callback(cb_id), "number") == number and cancel(r, cb_id, reason, forget_number=True):
            cancelled += 1
    return cancelled


def attempt_ended(callback_id: str, outcome: str) -> str:
    """An attempt ended without a person (no-answer, busy, failed, machine): retry or mark failed."""
    s = context.settings()
    r = context.store()
    cb = r.hgetall(keys.callback(callback_id))
    if not cb or cb.get("status") in FINAL:
        return cb.get("status", "unknown") if cb else "unknown"
    attempts = int(cb.get("attempts", "0"))
    if attempts >= s.callback_attempts:
        r.hset(keys.callback(callback_id), mapping={"status": "failed", "last_outcome": outcome})
        _event(r, cb, callback_id, "failed", outcome=outcome)
        return "failed"
    r.hset(keys.callback(callback_id), mapping={"status": "retrying", "last_outcome": outcome})
    _event(r, cb, callback_id, "retrying", outcome=outcome)

    when = datetime.now(UTC) + timedelta(seconds=s.callback_retry_seconds)
    enqueue_attempt(connect(s.redis_url, socket_timeout=30, decode=False), callback_id, when, attempts + 1)
    return "retrying"
