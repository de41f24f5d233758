"""A call back's outbound leg: answered by a person (joins the agents' queue), a machine, or nobody."""

from __future__ import annotations

from flask import Response, request
from twilio.twiml.voice_response import VoiceResponse

from blocklist import events, keys
from blocklist.calls import Calls
from blocklist.text import clean_text
from ivr.resources import resources
from ivr.webhooks import media
from ivr.webhooks.blueprints import voice_bp
from ivr.webhooks.queue import FINAL_CALL_STATUSES
from ivr.webhooks.signature import twilio_webhook
from ivr.webhooks.twiml import REDIS_ERRORS, caller_sid, empty, enqueue_for_agents, lang_arg, twiml
from workers.callbacks import attempt_ended


@voice_bp.post("/callback/answer")
@twilio_webhook
def callback_answer() -> Response:
    """The outbound call of a scheduled callback was answered: a person joins the agents' queue."""

    cb_id = request.args.get("cb", "")
    answered_by = clean_text(request.form.get("AnsweredBy"), 40) or "unknown"  # stored: Twilio's words only
    r = VoiceResponse()
    sid = caller_sid()
    if not cb_id.startswith("cb-") or not resources().store.exists(keys.callback(cb_id)):
        r.hangup()
        return twiml(r)
    if answered_by.startswith("machine") or answered_by == "fax":
        resources().store.hset(keys.callback(cb_id), "status", "machine")
        attempt_ended(cb_id, answered_by)
        r.hangup()
        return twiml(r)
    record = resources().store.hgetall(keys.callback(cb_id))
    resources().store.hset(keys.callback(cb_id), mapping={"status": "connected", "answered_by": answered_by})
    lang = lang_arg()
    if sid:
        # The outbound leg is a caller like any other from here on: screenable, flaggable.
        decision = resources().fast_blocklist.screen(record.get("number", ""), record.get("line", ""), sid,
                                                     extra={"lang": lang, "callback": cb_id})
        if decision.blocked:  # blocked since the callback was agreed: do not connect
            r.hangup()
            return twiml(r)
    media.play(r, "callback_intro", lang)
    enqueue_for_agents(r, lang)
    return twiml(r)


@voice_bp.post("/callback/status")
@twilio_webhook
def callback_status() -> Response:
    """Status callback of a callback's outbound call: retry when nobody answered."""

    cb_id = request.args.get("cb", "")
    status_ = request.form.get("CallStatus", "")
    sid = caller_sid()
    talked = False  # the callee was bridged to an agent (its record, made at the answer or at the bridge, says so)
    if sid and status_ in FINAL_CALL_STATUSES:
        # The callee hung up: its call record ends now, so an agent's side (and its desk) stops showing it.
        try:
            calls = Calls(resources().fast)
            calls.ended(sid, status_, request.form.get("CallDuration", "0"))
            talked = bool(calls.get(sid).get("bridged_at"))
        except REDIS_ERRORS:
            resources().count("status_lost")
    if cb_id.startswith("cb-") and resources().store.exists(keys.callback(cb_id)):
        current = resources().store.hget(keys.callback(cb_id), "status")
        if status_ in ("no-answer", "busy", "failed", "canceled"):
            attempt_ended(cb_id, status_)
        elif status_ == "completed" and (current == "connected" or (current == "ringing" and talked)):
            # 'ringing' and talked: the answer came while Redis was away (the callee reached the agents
            # unrecorded); the call back still happened, so it is done, not left ringing for ever.
            resources().store.hset(keys.callback(cb_id), "status", "done")
            cb = resources().store.hgetall(keys.callback(cb_id))
            events.event(resources().store, "callback_result", call_sid=cb.get("call_sid", ""),
                         number=cb.get("number", ""), line=cb.get("line", ""), callback=cb_id, status="done",
                         attempts=cb.get("attempts", "0"))
    return empty()
