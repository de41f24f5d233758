"""The call's end: its status callback (callers, call backs and agents' legs)."""

from __future__ import annotations

import logging

from flask import Response, request

from blocklist.calls import Calls
from ivr.resources import resources
from ivr.webhooks.blueprints import voice_bp
from ivr.webhooks.queue import FINAL_CALL_STATUSES
from ivr.webhooks.signature import twilio_webhook
from ivr.webhooks.twiml import REDIS_ERRORS, bad_request, caller_sid, empty

log = logging.getLogger("ivr.voice")


@voice_bp.route("/status", methods=["GET", "POST"])
@twilio_webhook
def status() -> Response:
    """Status callback: call end and duration against the CallSid."""
    sid = caller_sid()
    if not sid:
        return bad_request("CallSid missing or malformed")
    call_status = request.form.get("CallStatus", "")
    if call_status in FINAL_CALL_STATUSES:
        try:
            calls = Calls(resources().fast)
            known = calls.ended(sid, call_status, request.form.get("CallDuration", "0"))
            # An agent's leg (the agents' TwiML App's status callback): its held caller stops waiting.
            agent_leg = not known and bool(calls.agent_leg_ended(sid))
        except REDIS_ERRORS:
            resources().count("status_lost")
            return empty()
        if not known and not agent_leg:
            log.info("status callback for unknown call %s ignored", sid)
    return empty()
