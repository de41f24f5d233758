"""Waiting for an agent (or a supervisor): the hold music's loop, the bridge, how the caller leaves the
queue (every QueueResult Twilio documents), and the overflow offer of a call back."""

from __future__ import annotations

import contextlib
import logging

from flask import Response, request
from twilio.twiml.voice_response import VoiceResponse

from blocklist import events, teams
from blocklist.calls import AGENT_GONE, AGENT_KEPT, Calls, valid_sid
from blocklist.clock import now_ms
from blocklist.numbers import WITHHELD, normalize
from blocklist.restrictions import TEAM_ROUTE
from ivr import urls
from ivr.moves.difficult import schedule_callback
from ivr.resources import resources
from ivr.webhooks import media
from ivr.webhooks.blueprints import voice_bp
from ivr.webhooks.signature import twilio_webhook
from ivr.webhooks.twiml import (
    REDIS_ERRORS,
    bad_request,
    caller_sid,
    empty,
    enqueue_to,
    goodbye,
    lang_arg,
    park_in_private_hold,
    queue_of_route,
    queue_seconds,
    twiml,
)

log = logging.getLogger("ivr.voice")


OVERFLOW_REASONS = ("long_wait", "closed", "no_agent")


AGENT_SEEN_GRACE_SECONDS = 90  # an idle agent re-dials every Dial timeout; allow for that plus slack


BRIDGE_END_CHECKS = 3  # a caller whose bridge ended waits up to this many 1 s pauses for the agent's side


# Every QueueResult Twilio documents for an <Enqueue> action (TwiML <Enqueue>, "QueueResult values"), and
# what a caller leaving the agents' or supervisors' queue, or its private hold, is given. One table, so a
# value Twilio adds shows up in the test against the documented list, not as a silent default.
QUEUE_RESULTS: dict[str, str] = {
    "bridged": "the bridge ended: the caller is thanked and let go if the agent hung up, held if the agent "
               "pressed `*` (the agent's Dial action says which)",
    "bridging-in-process": "the caller left while being bridged: marked gone if the call is over, else queued again",
    "hangup": "the caller hung up while waiting: marked gone for the agent side",
    "leave": "our waitUrl said <Leave>: a long wait or no agent (offered a call back), or a held caller's move",
    "redirected": "moved by our REST redirect (a desk move): the call is elsewhere now",
    "redirected-from-bridged": "moved by our REST redirect during a bridge (a desk flag): the call is elsewhere",
    "queue-full": "the queue is full: offered a call back",
    "error": "Twilio could not run our waitUrl: queued (held) once more, then offered a call back",
    "system-error": "Twilio failed: as error",
}


# Every CallStatus Twilio documents for a call (Call resource, "Call Status values").
CALL_STATUSES: dict[str, str] = {
    "queued": "not yet dialled", "ringing": "ringing", "in-progress": "answered, going on",
    "completed": "over after an answer", "busy": "over: busy", "failed": "over: could not be placed",
    "no-answer": "over: nobody answered", "canceled": "over: cancelled before an answer",
}


FINAL_CALL_STATUSES = ("completed", "busy", "failed", "no-answer", "canceled")


@voice_bp.post("/hold")
@twilio_webhook
def hold() -> Response:
    """Wait URL of the agents' queue: hold message and position, never past the longest wait."""
    lang = lang_arg()
    res = resources()
    r = VoiceResponse()
    waited = queue_seconds()
    sid = caller_sid()
    reason = ""
    if waited >= res.settings.max_wait_seconds:
        reason = "long_wait"
    elif waited >= res.settings.no_agent_seconds and sid:
        try:
            window = (res.settings.dial_timeout + AGENT_SEEN_GRACE_SECONDS) * 1000
            if Calls(res.fast).agents_online(window) == 0:
                reason = "no_agent"
        except REDIS_ERRORS:
            pass  # cannot tell: keep the caller waiting (bounded by the longest wait)
    if reason:
        if sid:
            with contextlib.suppress(*REDIS_ERRORS):
                Calls(res.fast).update(sid, overflow=reason)
        r.leave()  # the Enqueue action offers a call back: nobody waits without end
        return twiml(r)
    media.play(r, "hold_agents", lang)
    try:
        position = int(request.form.get("QueuePosition", "0"))
    except ValueError:
        position = 0
    if position > 1:
        media.play(r, "queue_position", lang, position=position)
    r.pause(length=8)
    return twiml(r)


@voice_bp.post("/queue-exit")
@twilio_webhook
def queue_exit() -> Response:
    """Enqueue action of the agents' queue: the caller left it (bridge over, hung up, gave up, moved)."""
    sid = caller_sid()
    if not sid:
        return bad_request("CallSid missing or malformed")
    lang = lang_arg()
    result = request.form.get("QueueResult", "")
    if (team := team_of_exit()) and result not in ("error", "system-error", "bridging-in-process"):
        team_left(team, sid)  # its members no longer look for this caller (a failed poll re-queues it)
    if (parked := after_bridge_or_hangup(sid, result, lang)) is not None:
        return parked
    if result == "leave":
        reason = "long_wait"
        try:
            calls = Calls(resources().fast)
            reason = calls.get(sid).get("overflow") or reason
            overflow_event(sid, reason)
        except REDIS_ERRORS:
            pass
        return overflow_menu(reason, lang)
    if result in ("error", "system-error", "bridging-in-process") and request.args.get("again") != "1":
        # Twilio's answer when a wait URL fetch failed: one failed poll must not cut a caller off.
        resources().count(f"queue_{result}")
        log.warning("agents' queue answered %s for %s; queueing the caller again", result, sid)
        r = VoiceResponse()
        enqueue_to(r, queue_of_exit(), lang, again=True)
        return twiml(r)
    if result in ("queue-full", "error", "system-error", "bridging-in-process"):
        resources().count(f"queue_{result}")
        log.error("agents' queue answered %s for %s; offering a call back", result, sid)
        return overflow_menu("no_agent", lang)
    return empty()  # hangup, redirected, redirected-from-bridged: the call is elsewhere now


def queue_of_exit() -> str:
    """The queue a caller at the agents', supervisors' or a team's Enqueue action was waiting in (from our own URL;
    a team no longer in IVR_TEAMS: the agents')."""
    return queue_of_route(request.args.get("q", "")) or resources().settings.agents_queue


def team_of_exit() -> str:
    """The team whose queue the caller at this Enqueue action waited in ('' for none)."""
    q = request.args.get("q", "")
    return q.removeprefix(TEAM_ROUTE) if q.startswith(TEAM_ROUTE) else ""


def after_bridge_or_hangup(sid: str, result: str, lang: str) -> Response | None:
    """What every queue's Enqueue action does first: after a bridge, the caller is thanked and let go
    when the agent hung up, or held privately for the agent's decision after `*`; a hang-up is noted."""
    if result == "bridged":
        return after_bridge(sid, lang, 0)
    if result == "hangup" or (result == "bridging-in-process" and request.form.get("CallStatus") in
                              FINAL_CALL_STATUSES):
        mark_hung_up(sid)
        return empty()
    return None


def after_bridge(sid: str, lang: str, checks: int) -> Response:
    """Twilio reports `bridged` to the caller whoever ended the bridge. The agent's Dial action says who:
    CallStatus completed (the agent hung up) or in-progress (`*`). It may arrive a moment later, so the
    caller waits a second at a time for it (silence, no queue), and is held if it never says. A caller no agent
    leg was ever paired with (its bridge could not be recorded) is let go: no decision could ever reach its hold."""
    r = VoiceResponse()
    try:
        call = Calls(resources().fast).get(sid)
        how, paired = call.get("bridge_end", ""), bool(call.get("agent_leg"))
    except REDIS_ERRORS:
        how, paired = AGENT_KEPT, True  # cannot tell: hold, as before; the hold's own deadline ends it
    if how == AGENT_GONE:
        return goodbye("goodbye", lang)
    if not paired:
        # Redis was away at the <Queue url>, so neither side knows the other: the agent's Dial action cannot say
        # how the bridge ended, and neither `*` nor the desk can reach this caller. A hold would keep it waiting for
        # nothing, then queue it for another agent. It hears the closing words instead.
        resources().count("bridge_end_unknown_call")
        return goodbye("goodbye", lang)
    if how == AGENT_KEPT or checks >= BRIDGE_END_CHECKS:
        park_in_private_hold(r, sid, lang)
        return twiml(r)
    r.pause(length=1)
    r.redirect(urls.external("voice.bridge_end", lang=lang, n=checks + 1), method="POST")
    return twiml(r)


@voice_bp.post("/bridge-end")
@twilio_webhook
def bridge_end() -> Response:
    """Where a caller whose bridge ended waits (a second at a time) to learn how it ended."""
    sid = caller_sid()
    if not sid:
        return bad_request("CallSid missing or malformed")
    try:
        checks = max(1, min(BRIDGE_END_CHECKS, int(request.args.get("n", "1"))))
    except ValueError:
        checks = BRIDGE_END_CHECKS
    return after_bridge(sid, lang_arg(), checks)


def team_left(team: str, sid: str) -> None:
    if team not in resources().settings.teams:
        return
    try:
        teams.left(resources().fast, team, sid)
    except REDIS_ERRORS:
        resources().count("state_lost")  # the entry ages out after the longest wait


def mark_hung_up(sid: str) -> None:
    """The caller hung up while queued or held: the agent side must not wait for it."""
    try:
        Calls(resources().fast).update(sid, hung_up=now_ms())
    except REDIS_ERRORS:
        resources().count("state_lost")


@voice_bp.post("/bridge")
@twilio_webhook
def bridge() -> Response:
    """<Queue url> of the agent's Dial: runs on the CALLER's leg just before the bridge.

    Records who talks to whom. The caller hears this, so it never mentions flags.
    """
    sid = caller_sid()
    agent_sid = request.form.get("DequeingCallSid", "")
    lang = lang_arg()
    if sid and (team := request.args.get("team", "")):
        team_left(team, sid)  # bridged to a member: the team's other members take the agents' callers again
    if sid and valid_sid(agent_sid):
        try:
            call = Calls(resources().fast).pair(sid, agent_sid, unscreened=unscreened_caller(lang))
            lang = call.get("lang") or lang
        except REDIS_ERRORS as exc:
            resources().count("pairing_lost")
            log.warning("could not record the pairing %s <-> %s (%s)", sid, agent_sid, type(exc).__name__)
    r = VoiceResponse()
    media.play(r, "connecting", lang if lang in media.LANGUAGES else resources().settings.default_language)
    return twiml(r)


def unscreened_caller(lang: str) -> dict[str, str]:
    """Who the caller on this bridge request is, from the call's own fields (Twilio sends From, To and
    Direction with every request): the record Calls.pair makes for a caller the screen never saw. On a
    call back's leg (Direction outbound-api) the person is the To and the line the From."""
    form = request.form
    region = resources().settings.default_region
    person, line = form.get("From", ""), form.get("To", "")
    if form.get("Direction", "").startswith("outbound"):
        person, line = line, person
    try:
        number = normalize(person, region)
    except ValueError:
        number = WITHHELD  # no identity: never a blocklist key
    try:
        line_number = normalize(line, region) if line else "unknown"
    except ValueError:
        line_number = "unknown"
    return {"number": number, "line": "unknown" if line_number == WITHHELD else line_number, "lang": lang}


def overflow_event(sid: str, reason: str) -> None:
    call = Calls(resources().fast).get(sid)
    events.event(resources().fast, "overflow", call_sid=sid, number=call.get("number", ""),
                 line=call.get("line", ""), reason=reason)


def overflow_menu(reason: str, lang: str) -> Response:
    """Long wait, closed, or no agent: offer a call back (key 1), else a polite goodbye."""
    if reason not in OVERFLOW_REASONS:
        reason = "long_wait"
    r = VoiceResponse()
    gather = r.gather(num_digits=1, timeout=6, action=urls.external("voice.overflow_choice", lang=lang, reason=reason),
                      method="POST", action_on_empty_result=True)
    media.play(gather, f"overflow_{reason}", lang)
    return twiml(r)


@voice_bp.post("/overflow-choice")
@twilio_webhook
def overflow_choice() -> Response:
    """Gather action of the overflow message: 1 = call me back; anything else = goodbye."""
    sid = caller_sid()
    lang = lang_arg()
    if sid and (request.form.get("Digits") or "")[:1] == "1":
        try:
            schedule_callback(resources(), sid, agent="", via="overflow")
            return goodbye("callback_confirm", lang)
        except (ValueError, LookupError) as exc:
            log.info("overflow call back not possible for %s: %s", sid, exc)
        except REDIS_ERRORS:
            resources().count("callback_lost")
    return goodbye("busy_goodbye", lang)
