"""After `*`: the caller waits alone in a private hold queue for the agent's decision, then hears its
part of the move (isolation, a supervisor, the warning, a call back, goodbye)."""

from __future__ import annotations

import contextlib
import logging

from flask import Response, request
from twilio.twiml.voice_response import VoiceResponse

from blocklist.calls import Calls, HoldState
from blocklist.clock import now_ms
from ivr.resources import resources
from ivr.webhooks import media
from ivr.webhooks.agent import HOLD_GRACE_SECONDS
from ivr.webhooks.blueprints import voice_bp
from ivr.webhooks.queue import after_bridge_or_hangup
from ivr.webhooks.signature import twilio_webhook
from ivr.webhooks.twiml import (
    REDIS_ERRORS,
    agent_lang,
    bad_request,
    call_state,
    caller_sid,
    empty,
    enqueue_for_agents,
    enqueue_isolation,
    enqueue_to,
    goodbye,
    lang_arg,
    park_in_private_hold,
    queue_seconds,
    twiml,
)

log = logging.getLogger("ivr.voice")


LEAVING_DECISIONS = ("isolate", "end", "escalate", "warn", "callback")


@voice_bp.post("/held-wait")
@twilio_webhook
def held_wait() -> Response:
    """Wait URL of a private hold queue: polls the agent's decision about once a second."""
    sid = caller_sid()
    lang = lang_arg()
    s = resources().settings
    r = VoiceResponse()
    if not sid:
        r.leave()
        return twiml(r)
    waited = queue_seconds()
    try:
        state = Calls(resources().fast).hold_poll(sid)
    except REDIS_ERRORS:
        # Cannot learn the decision now: keep holding (the next poll may), up to the usual limit;
        # past it the exit sends the caller back to the agents (fail-open), never a hang-up.
        if waited > default_hold_seconds(s.flag_window_seconds):
            r.leave()
        else:
            r.pause(length=1)
        return twiml(r)
    if held_caller_leaves(state, waited, s.flag_window_seconds):
        r.leave()
        return twiml(r)
    if waited == 0 and not state.decision:
        media.play(r, "hold_private", lang)
    r.pause(length=1)
    return twiml(r)


def held_caller_leaves(state: HoldState, waited: int, window: int) -> bool:
    """Leave the private hold for a move, when the agent's leg is gone, or past the deadline the agent's
    side set (its prompt's real length, the window and a grace) without a decision or a re-bridge."""
    if state.decision in LEAVING_DECISIONS:
        return True
    if state.agent_gone:
        return True
    if state.deadline_ms:
        return now_ms() > state.deadline_ms
    return waited > default_hold_seconds(window)


def default_hold_seconds(window: int) -> float:
    """The hold's limit before the agent's side set one: its flag-menu prompt, the window and a grace."""
    return media.seconds("agent_flag_menu", agent_lang()) + window + HOLD_GRACE_SECONDS


@voice_bp.post("/held-exit")
@twilio_webhook
def held_exit() -> Response:
    """Enqueue action of a private hold queue: re-bridge over, or the agent's decision carried out."""
    sid = caller_sid()
    if not sid:
        return bad_request("CallSid missing or malformed")
    lang = lang_arg()
    result = request.form.get("QueueResult", "")
    if (parked := after_bridge_or_hangup(sid, result, lang)) is not None:
        return parked  # `*` again on the re-bridged call
    if result in ("error", "system-error", "queue-full", "bridging-in-process"):
        # The hold loop itself failed: park the caller again once, then let the agents take them.
        resources().count(f"hold_{result}")
        log.warning("private hold answered %s for %s", result, sid)
        r = VoiceResponse()
        state = call_state(sid)
        if state.get("flagged") or state.get("decision") == "isolate":
            enqueue_isolation(r, lang)  # a flagged caller never goes back to the agents
        elif request.args.get("again") != "1":
            park_in_private_hold(r, sid, lang, again=True)
        else:
            enqueue_for_agents(r, lang)
        return twiml(r)
    if result != "leave":
        return empty()
    try:
        decision = Calls(resources().fast).decision(sid)
    except REDIS_ERRORS:
        # The agent's decision is out of reach: never a hang-up on a caller we cannot see; the agents'
        # queue takes them, as the front door does when Redis is down.
        resources().count("fail_open")
        r = VoiceResponse()
        enqueue_for_agents(r, lang)
        return twiml(r)
    if decision == "isolate":
        r = VoiceResponse()
        enqueue_isolation(r, lang)
        with contextlib.suppress(*REDIS_ERRORS):
            Calls(resources().fast).isolation_started(sid)
        return twiml(r)
    return carry_out(sid, decision, lang)


def carry_out(sid: str, decision: str, lang: str) -> Response:
    """The caller's side of a move chosen by the agent (phone menu or desk)."""
    r = VoiceResponse()
    if decision == "end":
        return goodbye("limit_goodbye", lang)
    if decision == "escalate":
        media.play(r, "supervisor_connecting", lang)
        enqueue_to(r, resources().settings.supervisors_queue, lang)
        return twiml(r)
    if decision == "warn":
        media.play(r, "limit_warning", lang)
        with contextlib.suppress(*REDIS_ERRORS):
            Calls(resources().fast).decide(sid, "resume")  # then back to the same agent
        park_in_private_hold(r, sid, lang)
        return twiml(r)
    if decision == "callback":
        return goodbye("callback_confirm", lang)
    return goodbye("goodbye", lang)


@voice_bp.post("/moves/<move>")
@twilio_webhook
def moves(move: str) -> Response:
    """Where a desk move redirects the caller's live leg (escalate, warn, end, callback)."""
    sid = caller_sid()
    if not sid or move not in ("escalate", "warn", "end", "callback"):
        return bad_request("unknown move or CallSid")
    return carry_out(sid, move, lang_arg())
