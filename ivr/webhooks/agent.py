"""The agent's leg (and a supervisor's): take the next caller, the key menu after `*` or after a call
(9 flags; 1, 2, 3 move a difficult caller), back to the caller, the breather."""

from __future__ import annotations

import contextlib
import logging
import re

from flask import Response, request
from twilio.twiml.voice_response import VoiceResponse

from blocklist import events, exposure, keys, teams
from blocklist.calls import AGENT_GONE, AGENT_KEPT, Calls, is_gone, valid_sid
from blocklist.clock import now_ms
from blocklist.numbers import WITHHELD, normalize
from blocklist.text import clean_text
from ivr import urls
from ivr.accounts import identity_registered
from ivr.moves import difficult as routing
from ivr.moves.flag import flag_call
from ivr.resources import resources
from ivr.webhooks import media
from ivr.webhooks.blueprints import agent_bp, supervisor_bp
from ivr.webhooks.signature import twilio_webhook
from ivr.webhooks.twiml import REDIS_ERRORS, agent_lang, bad_request, dial_queue, next_caller, twiml
from workers.calls import enqueue_standing_queues

log = logging.getLogger("ivr.agent")


CLIENT_ID = re.compile(r"^client:[A-Za-z0-9_.@\-]{1,64}$")


REJOIN_ATTEMPTS = 10


FLAG_KEY = "9"


MOVE_KEYS = ("1", "2", "3")


def identity_of(raw: str | None, region: str) -> str | None:
    """An agent identity: E.164 or client:NAME; None for anything else."""
    text = (raw or "").strip()
    if text.startswith("client:"):
        return text if CLIENT_ID.match(text) else None
    try:
        number = normalize(text, region)
    except ValueError:
        return None
    return None if number == WITHHELD else number


def registered_agents() -> set[str]:
    s = resources().settings
    return {ident for ident in (identity_of(a, s.default_region) for a in s.agents) if ident}


def registered_supervisors() -> set[str]:
    s = resources().settings
    return {ident for ident in (identity_of(a, s.default_region) for a in s.supervisors) if ident}


@agent_bp.route("/connect", methods=["GET", "POST"])
@twilio_webhook
def connect() -> Response:
    """The URL an agent's phone or softphone leg runs to take the next caller."""
    return take_calls("agent")


@supervisor_bp.route("/connect", methods=["GET", "POST"])
@twilio_webhook
def supervisor_connect() -> Response:
    """Same as /agent/connect for supervisors (IVR_SUPERVISORS), on the supervisors' queue."""
    return take_calls("supervisor")


def take_calls(role: str) -> Response:
    res = resources()
    sid = request.form.get("CallSid", "")
    if not valid_sid(sid):
        return bad_request("CallSid missing or malformed")
    identity = identity_of(request.form.get("From"), res.settings.default_region)
    allowed = registered_supervisors() if role == "supervisor" else registered_agents()
    r = VoiceResponse()
    if identity is not None and identity not in allowed and role == "agent" and identity_registered(identity):
        allowed = {identity}  # a desk user's phone identity (managed on the desk's users page)
    if identity is None or identity not in allowed:
        res.count(f"{role}_refused")
        setting = "IVR_SUPERVISORS" if role == "supervisor" else "IVR_AGENTS"
        log.warning("refused %s connect from %r (not in %s; add it there to let it take calls)", role,
                    (request.form.get("From") or "")[:40], setting)
        media.play(r, "agent_refused", agent_lang())
        r.hangup()
        return twiml(r)
    state = wellbeing_state(identity) if role == "agent" else None
    if state is not None and state.on_break:
        return wellbeing_break(r, state)
    try:
        leg = Calls(res.fast).agent_dial(sid, identity, role=role)
    except REDIS_ERRORS:
        res.count("agent_state_lost")
        leg = {}
    now = now_ms()
    last_activity = max(int(leg.get("connected") or now), int(leg.get("bridged_at") or 0),
                        state.break_until if state is not None else 0)  # a wellbeing break is not idleness
    if now - last_activity > res.settings.agent_idle_seconds * 1000:
        media.play(r, "goodbye", agent_lang())
        r.hangup()
        return twiml(r)
    if role == "supervisor":
        dial_queue(r, res.settings.supervisors_queue)
    elif team := team_waiting_for(identity):
        dial_queue(r, res.settings.team_queue(team), team=team)
    else:
        dial_queue(r, res.settings.agents_queue)
    return twiml(r)


def teams_of(identity: str) -> list[str]:
    """The teams of IVR_TEAMS this agent identity belongs to, by name."""
    s = resources().settings
    return sorted(name for name, members in s.teams.items()
                  if identity in {identity_of(m, s.default_region) for m in members})


def team_waiting_for(identity: str) -> str:
    """A team of the agent's with a caller waiting for it ('' for none, or when Redis cannot say): that caller was
    sent to the team by a contact restriction, and only the team's members take it."""
    mine = teams_of(identity)
    if not mine:
        return ""
    res = resources()
    try:
        found = teams.with_callers(res.fast, mine, now_ms(), (res.settings.max_wait_seconds + 60) * 1000)
    except REDIS_ERRORS:
        return ""
    return found[0] if found else ""


BREAK_POLL_SECONDS = 60  # during a wellbeing break the agent's leg asks again this often (a break can be ended early)


def wellbeing_state(identity: str) -> exposure.Exposure | None:
    """The agent's shift and wellbeing break (blocklist/exposure.py), one round trip; None when Redis cannot say
    (the agent then takes callers as before: a break is never worth a stuck agent)."""
    res = resources()
    try:
        return exposure.on_duty(res.fast, identity, exposure.Limits.from_settings(res.settings))
    except REDIS_ERRORS:
        res.count("wellbeing_state_lost")
        return None


def wellbeing_break(r: VoiceResponse, state: exposure.Exposure) -> Response:
    """The queue offers this agent no caller until the break ends: a pause, then ask again."""
    if state.status == "started":
        resources().count("wellbeing_break")
        log.info("agent %s crossed the %s limit (%d this shift, %d in 7 days): a wellbeing break of %d s",
                 state.agent, state.reason, state.shift, state.week, state.break_left_seconds)
        media.play(r, "agent_breather", agent_lang())
    next_caller(r, pause=max(1, min(BREAK_POLL_SECONDS, state.break_left_seconds)))
    return twiml(r)


DIAL_FAILED_PAUSE_CAP_S = 30  # an agent whose queue dial keeps failing retries at most this often


@agent_bp.post("/after-dial")
@twilio_webhook
def after_dial() -> Response:
    """Dial action: the bridge ended (`*`, the agent or the caller hung up), or no caller came (empty
    queue, timeout), or the dial failed (the queue does not exist at Twilio)."""
    res = resources()
    form = request.form
    sid = form.get("CallSid", "")
    r = VoiceResponse()
    if not valid_sid(sid):
        return bad_request("CallSid missing or malformed")
    agent_gone = form.get("CallStatus", "") in AGENT_LEG_OVER  # the agent hung up: TwiML is ignored
    try:
        calls = Calls(res.fast)
        leg = calls.agent_leg(sid)
        caller = leg.get("caller", "")
        had_caller = bool(caller) and int(leg.get("bridged_at") or 0) >= int(leg.get("dial_started") or 0)
        role = leg.get("role", "agent")
        if had_caller:
            # The caller's Enqueue action (QueueResult=bridged) reads this: thanked and let go, or held.
            calls.bridge_ended(caller, AGENT_GONE if agent_gone else AGENT_KEPT)
        call = calls.get(caller) if had_caller else {}
        decision = calls.decision(caller) if had_caller else ""
    except REDIS_ERRORS:
        next_caller(r, pause=2)
        return twiml(r)
    if agent_gone:
        return twiml(r)
    if not had_caller:
        if form.get("DialCallStatus") == "failed" or form.get("ErrorCode"):
            return dial_failed(r, sid, role)
        # Not a call: no flag window, just wait for the next caller.
        with contextlib.suppress(*REDIS_ERRORS):
            res.fast.hdel(keys.agent_leg(sid), "dial_failures")  # the queue answers again
        media.play(r, "agent_waiting", agent_lang())
        next_caller(r, pause=2, role=role)
        return twiml(r)
    if call.get("flagged"):
        return breather(r, role, caller)  # flagged from the desk during the call
    if decision == "resume":  # the desk played the warning: back to the same caller
        return back_to_caller(r, caller)
    if decision in ("escalate", "callback", "end"):  # moved from the desk: next caller
        next_caller(r, pause=1, role=role)
        return twiml(r)
    window = res.settings.flag_window_seconds
    gather = r.gather(num_digits=1, timeout=window, action_on_empty_result=True,
                      action=urls.external("agent.menu", caller=caller), method="POST")
    media.play(gather, "agent_flag_menu", agent_lang())
    # Gather's timeout starts after its prompt: the held caller waits for the prompt, the window and a
    # grace (a manager's own 60 s recording included), never a fixed guess.
    hold_until(caller, media.seconds("agent_flag_menu", agent_lang()) + window + HOLD_GRACE_SECONDS)
    return twiml(r)


HOLD_GRACE_SECONDS = 15  # after the agent's window (or "back to caller"), for the network and the agent


AGENT_LEG_OVER = ("completed", "busy", "failed", "no-answer", "canceled")


def hold_until(caller: str, seconds: float) -> None:
    """The held caller's deadline for the agent's decision: this many seconds from now."""
    with contextlib.suppress(*REDIS_ERRORS):
        Calls(resources().fast).update(caller, hold_deadline=now_ms() + int(seconds * 1000))


def dial_failed(r: VoiceResponse, agent_sid: str, role: str) -> Response:
    """Twilio could not dial the queue (it does not exist there): make the standing queues again, and
    retry with a growing pause instead of a tight loop on "no callers are waiting"."""
    res = resources()
    res.count("dial_failed")
    try:
        failures = int(res.fast.hincrby(keys.agent_leg(agent_sid), "dial_failures", 1))
    except REDIS_ERRORS:
        failures = 1
    if failures == 1:
        log.error("an agent's queue dial failed (%s %s): creating the standing queues at Twilio again",
                  clean_text(request.form.get("ErrorCode"), 12) or "-", clean_text(request.form.get("ErrorMessage"), 80))
        with contextlib.suppress(Exception):  # the retry below does not depend on it
            enqueue_standing_queues(res.rq_connection, missing=True)
        media.play(r, "agent_waiting", agent_lang())
    next_caller(r, pause=min(DIAL_FAILED_PAUSE_CAP_S, 5 * 2 ** (failures - 1)), role=role)
    return twiml(r)


def breather(r: VoiceResponse, role: str = "agent", caller: str = "") -> Response:
    """A short pause for the agent after a harassing call, then the next caller."""
    media.play(r, "agent_breather", agent_lang())
    next_caller(r, pause=breather_seconds(caller), role=role)
    return twiml(r)


def breather_seconds(caller: str = "") -> int:
    """The breather after a flag: the managers' desk setting, else IVR_BREATHER_SECONDS, times the weight of the
    call's abuse category (a threat gets more than a prank; a call with no category weighs 1)."""
    res = resources()
    try:
        pipe = res.fast.pipeline(transaction=False)  # one round trip, as before categories
        pipe.hget(keys.SETTINGS, "breather_seconds")
        pipe.hget(keys.call(caller) if caller else keys.SETTINGS, "category")
        override, category = pipe.execute()
    except REDIS_ERRORS:
        override, category = None, None
    base = max(1, int(override) if override and str(override).isdigit() else res.settings.breather_seconds)
    return exposure.breather_seconds(base, category)


def back_to_caller(r: VoiceResponse, caller: str, extra_seconds: float = 0.0) -> Response:
    """The agent goes back to the held caller; the caller waits for the agent's prompt and the rejoin."""
    hold_until(caller, extra_seconds + media.seconds("agent_resume", agent_lang()) + RESUME_GRACE_SECONDS)
    r.redirect(urls.external("agent.rejoin", caller=caller, n=0), method="POST")
    return twiml(r)


@agent_bp.post("/menu")
@twilio_webhook
def menu() -> Response:
    """Gather action of the flag window: 9 sends the caller to analysis; anything else back to the caller."""
    res = resources()
    agent_sid = request.form.get("CallSid", "")
    caller = request.args.get("caller", "")
    if not valid_sid(agent_sid) or not valid_sid(caller):
        return bad_request("CallSid or caller missing or malformed")
    digits = (request.form.get("Digits") or "")[:1]
    r = VoiceResponse()
    calls = Calls(res.store)
    try:
        leg = calls.agent_leg(agent_sid)
        call = calls.get(caller)
    except REDIS_ERRORS:
        next_caller(r, pause=1)
        return twiml(r)
    alive = not is_gone(call)
    role = leg.get("role", "agent")
    identity = leg.get("identity", "")
    if alive and digits in MOVE_KEYS:
        return difficult_caller_move(r, digits, caller, identity, role)
    if digits == FLAG_KEY:
        try:
            # `*` then 9 records the line's default category (IVR_FLAG_CATEGORY); the desk and the API pick one
            flagged = flag_call(res, caller, via="key", agent=leg.get("identity", ""), move_caller="decision",
                                category=res.settings.flag_category)
        except (LookupError, *REDIS_ERRORS) as exc:
            log.error("flag by key failed for %s: %s", caller, exc)
            res.count("flag_failed")
            next_caller(r, pause=1)
            return twiml(r)
        media.play(r, "agent_flag_confirmed" if flagged.caller_alive else "agent_caller_gone_flagged", agent_lang())
        return breather(r, role, caller)
    if alive:
        with contextlib.suppress(*REDIS_ERRORS):  # `*` with no move: the managers' unreported-abuse hint
            events.event(res.store, "menu_open", call_sid=caller, number=call.get("number", ""),
                         line=call.get("line", ""), agent=identity, digits=clean_text(digits, 1))
        calls.decide(caller, "resume")
        return back_to_caller(r, caller)
    next_caller(r, role=role)
    return twiml(r)


RESUME_GRACE_SECONDS = 30  # "back to caller": the agent hears its prompt, then re-dials the caller's hold


def difficult_caller_move(r: VoiceResponse, digit: str, caller: str, identity: str, role: str) -> Response:
    """1 escalate, 2 set a limit, 3 call back: the caller (held) hears its part when it polls. The keys record no
    abuse category (a limit set for an angry customer is not necessarily abuse); the desk and the API may give one.
    Key 2's warning counts on the number's record all the same (blocklist/warnings.py)."""
    res = resources()
    calls = Calls(res.store)
    try:
        if digit == "1":
            routing.escalate(res, caller, agent=identity, via="key")
            calls.decide(caller, "escalate")
            media.play(r, "agent_escalated", agent_lang())
            next_caller(r, pause=1, role=role)
            return twiml(r)
        if digit == "2":
            move = routing.warn(res, caller, agent=identity, via="key")
            if move.kind == "end":
                calls.decide(caller, "end")
                return breather(r, role, caller)
            calls.update(caller, held="0")  # it leaves the hold to hear the warning, then comes back
            calls.decide(caller, "warn")
            return back_to_caller(r, caller, media.seconds("limit_warning", calls.get(caller).get("lang", "")))
        try:
            routing.schedule_callback(res, caller, agent=identity, via="key")
        except ValueError:
            media.play(r, "agent_callback_refused", agent_lang())
            calls.decide(caller, "resume")
            return back_to_caller(r, caller)
        calls.decide(caller, "callback")
        media.play(r, "agent_callback_scheduled", agent_lang())
        next_caller(r, pause=1, role=role)
        return twiml(r)
    except (LookupError, *REDIS_ERRORS) as exc:
        log.error("move %s failed for %s: %s", digit, caller, exc)
        res.count("move_failed")
        calls.decide(caller, "resume")
        return back_to_caller(r, caller)


@agent_bp.post("/rejoin")
@twilio_webhook
def rejoin() -> Response:
    """Back to the caller: bridge again once the caller really sits in its private hold queue."""
    res = resources()
    agent_sid = request.form.get("CallSid", "")
    caller = request.args.get("caller", "")
    try:
        attempt = int(request.args.get("n", "0"))
    except ValueError:
        attempt = REJOIN_ATTEMPTS
    r = VoiceResponse()
    if not valid_sid(agent_sid) or not valid_sid(caller):
        return bad_request("CallSid or caller missing or malformed")
    try:
        calls = Calls(res.fast)
        call = calls.get(caller)
    except REDIS_ERRORS:
        next_caller(r, pause=1)
        return twiml(r)
    leg = calls.agent_leg(agent_sid)
    role = leg.get("role", "agent")
    if is_gone(call) or attempt >= REJOIN_ATTEMPTS:
        next_caller(r, role=role)
        return twiml(r)
    if call.get("held") != "1":
        r.pause(length=1)
        r.redirect(urls.external("agent.rejoin", caller=caller, n=attempt + 1), method="POST")
        return twiml(r)
    calls.agent_dial(agent_sid, leg.get("identity", ""), role=role)
    media.play(r, "agent_resume", agent_lang())
    dial_queue(r, f"{res.settings.hold_queue_prefix}{caller}")
    return twiml(r)
