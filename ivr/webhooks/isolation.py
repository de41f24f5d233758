"""The isolation queue: the caller-analysis recording, the signal tone, "analysis complete, please
hang up", then the end of the call."""

from __future__ import annotations

import contextlib

from flask import Response, request
from twilio.twiml.voice_response import VoiceResponse

from blocklist.calls import Calls
from ivr.resources import resources
from ivr.webhooks import media
from ivr.webhooks.blueprints import voice_bp
from ivr.webhooks.signature import twilio_webhook
from ivr.webhooks.twiml import REDIS_ERRORS, caller_sid, enqueue_isolation, lang_arg, twiml


@voice_bp.post("/isolation")
@twilio_webhook
def isolation() -> Response:
    """Entry of the isolation queue, where the REST redirect of a desk flag sends the caller."""
    sid = caller_sid()
    lang = lang_arg()
    if sid:
        with contextlib.suppress(*REDIS_ERRORS):
            Calls(resources().fast).isolation_started(sid)
    r = VoiceResponse()
    enqueue_isolation(r, lang)
    return twiml(r)


@voice_bp.post("/isolation/wait")
@twilio_webhook
def isolation_wait() -> Response:
    """Wait URL of the isolation queue: analysis start, signal tone, analysis complete, then leave."""
    r = VoiceResponse()
    media.isolation_sequence(r, lang_arg())
    r.leave()  # ends the wait: the Enqueue action learns QueueResult=leave (played to the end)
    return twiml(r)


@voice_bp.post("/isolation/done")
@twilio_webhook
def isolation_done() -> Response:
    """Enqueue action of the isolation queue: played to the end (leave) or abandoned (hangup)."""
    sid = caller_sid()
    result = request.form.get("QueueResult", "")
    outcome = "complete" if result == "leave" else "abandoned" if result == "hangup" else ""
    if sid and outcome:
        try:
            Calls(resources().fast).isolation_done(sid, outcome)
        except REDIS_ERRORS:
            resources().count("isolation_event_lost")
    r = VoiceResponse()
    r.hangup()
    return twiml(r)
