"""The caller's side of the line: screen at the door, the agents' queue, the private hold after `*`,
isolation, status callbacks. Every route is a signed Twilio webhook and answers TwiML, never a 500."""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import redis
from flask import Blueprint, Response, current_app, request
from twilio.twiml.voice_response import VoiceResponse

from blocklist import events, keys
from blocklist.calls import AGENT_GONE, AGENT_KEPT, Calls, HoldState, valid_sid
from blocklist.clock import now_ms
from blocklist.numbers import WITHHELD, identify, normalize
from blocklist.text import clean_text
from ivr import media, urls
from ivr.agent import HOLD_GRACE_SECONDS, agent_lang, next_caller
from ivr.extensions import resources
from ivr.security import twilio_webhook
from ivr.twiml import empty, twiml

bp = Blueprint("voice", __name__, url_prefix="/voice")
log = logging.getLogger("ivr.voice")

REDIS_ERRORS = (redis.RedisError, OSError)
TWILIO_FIELDS = ("FromCity", "FromState", "FromZip", "FromCountry", "StirVerstat", "CallerName")
OVERFLOW_REASONS = ("long_wait", "closed", "no_agent")
LEAVING_DECISIONS = ("isolate", "end", "escalate", "warn", "callback")
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


def lang_arg() -> str:
    """The prompt language carried in our own URLs (signed by Twilio as part of the URL)."""
    lang = request.args.get("lang", "")
    return lang if lang in media.LANGUAGES else resources().settings.default_language


def bad_request(message: str) -> Response:
    return Response(f"Bad request: {message}\n", status=400, mimetype="text/plain")


def caller_sid() -> str | None:
    sid = request.form.get("CallSid", "")
    return sid if valid_sid(sid) else None


def queue_seconds() -> int:
    try:
        return max(0, int(request.form.get("QueueTime", "0")))
    except ValueError:
        return 0


def enqueue_for_agents(r: VoiceResponse, lang: str) -> None:
    enqueue_to(r, resources().settings.agents_queue, lang)


def enqueue_to(r: VoiceResponse, queue_name: str, lang: str, again: bool = False) -> None:
    """Wait for an agent (or supervisor) in `queue_name`, with the hold message and bounded wait
    (`again`: queued a second time after Twilio reported an error; a second error ends the wait)."""
    args: dict[str, object] = {"lang": lang}
    if queue_name == resources().settings.supervisors_queue:
        args["q"] = "supervisors"  # the exit (and the fallback) must put an escalated caller back there
    if again:
        args["again"] = 1
    action = urls.external("voice.queue_exit", **args)
    r.enqueue(
        queue_name,
        action=action,
        method="POST",
        wait_url=urls.external("voice.hold", lang=lang),
        wait_url_method="POST",
    )


def enqueue_isolation(r: VoiceResponse, lang: str) -> None:
    s = resources().settings
    r.enqueue(
        s.isolation_queue,
        action=urls.external("voice.isolation_done", lang=lang),
        method="POST",
        wait_url=urls.external("voice.isolation_wait", lang=lang),
        wait_url_method="POST",
    )


def treatment_twiml(treatment: str, lang: str) -> VoiceResponse:
    """What a screened-out caller gets; every treatment ends within a bounded time."""
    r = VoiceResponse()
    if treatment == "reject":
        r.reject(reason="busy")  # first verb: the call is refused unanswered and unbilled
    elif treatment == "isolation":
        enqueue_isolation(r, lang)
    elif treatment == "linefault":
        for _ in range(max(1, resources().settings.linefault_repeats)):
            media.play(r, "line_fault", lang)
            r.pause(length=1)
        r.hangup()
    else:
        r.hangup()
    return r


def fail_open(reason: str, exc: BaseException | None = None, lang: str = "") -> Response:
    """Redis is down or hung: let the caller through to the agents (counted; logged once per outage)."""
    res = resources()
    res.count("fail_open")
    res.redis_watch.during += 1  # the watch (fed by the Redis clients) says when it went and came back
    log.debug("fail-open on %s: %s (%s)", request.path, reason, type(exc).__name__ if exc else "-")
    r = VoiceResponse()
    enqueue_for_agents(r, lang or res.settings.default_language)
    return twiml(r)


@bp.route("/incoming", methods=["GET", "POST"])
@twilio_webhook
def incoming() -> Response:
    """The number's Voice URL: screen, then treat at the door or queue for an agent."""
    res = resources()
    settings = res.settings
    form = request.form  # one context lookup, not one per field
    sid = form.get("CallSid", "")
    if not valid_sid(sid):
        return bad_request("CallSid missing or malformed; this URL is for Twilio's incoming-call webhook")
    raw_from = form.get("From")
    try:
        number, facts = identify(raw_from, settings.default_region)
    except ValueError:
        # An unparseable caller ID is no identity either: treat it like a withheld one.
        number, facts = WITHHELD, ("", "", "")
    to_raw = form.get("To", "")
    try:
        line = normalize(to_raw, settings.default_region) if to_raw else "unknown"
    except ValueError:
        line = "unknown"
    if line == WITHHELD:  # a withheld form in To names none of our lines: never key a line on it
        line = "unknown"
    country = (form.get("FromCountry") or "").strip().upper()
    languages = (settings.line_languages.get(line, ""), settings.country_languages.get(country, ""),
                 settings.default_language)
    lang = next(choice for choice in (*languages, "en") if choice in media.LANGUAGES)  # until Redis says more
    extra = {name: value for name in TWILIO_FIELDS if (value := form.get(name, ""))}
    if number == WITHHELD and raw_from:
        extra["from_raw"] = raw_from
    hours = settings.line_hours(line, "open")
    closed = bool(hours.windows) and not hours.is_open(datetime.now(settings.tz()))
    if closed:
        extra["overflow"] = "closed"  # recorded with the call's own event, no extra write
    started = time.monotonic()
    try:
        decision = res.fast_blocklist.screen(number, line, sid, extra=extra, languages=languages, facts=facts)
    except REDIS_ERRORS as exc:
        return fail_open("Redis unreachable", exc, lang)
    lang = decision.language or lang
    elapsed = time.monotonic() - started
    if elapsed > 0.5:
        log.warning("screen took %.0f ms", elapsed * 1000)
    if decision.blocked:
        return twiml(treatment_twiml(decision.treatment, lang))
    if closed:
        return overflow_menu("closed", lang)
    return Response(agents_queue_twiml(lang), mimetype="text/xml")


def agents_queue_twiml(lang: str) -> str:
    """<Enqueue> into the agents' queue: the same for every call in `lang`, so built once per app."""
    cache: dict[str, str] = current_app.extensions.setdefault("ivr.agents_twiml", {})
    text = cache.get(lang)
    if text is None:
        r = VoiceResponse()
        enqueue_for_agents(r, lang)
        text = cache[lang] = str(r)
    return text


@bp.route("/fallback", methods=["GET", "POST"])
@twilio_webhook
def fallback() -> Response:
    """The Voice Fallback URL of the numbers and of the agents' TwiML App: Twilio requests it when a
    document of ours failed (ErrorUrl names which). The caller stays in the flow it was in: a flagged
    harasser never goes back to the agents; only a failed front door falls back to the agents' queue."""
    res = resources()
    res.count("fallback")
    form = request.form
    sid = caller_sid()
    error_url = form.get("ErrorUrl", "")
    route, args = fallback_route(error_url, res.settings.base_url)
    lang = args.get("lang", "")
    lang = lang if lang in media.LANGUAGES else res.settings.default_language
    log.warning("fallback for %s after %s failed (ErrorCode %s)", sid or "?", route or "the Voice URL",
                clean_text(form.get("ErrorCode"), 12) or "?")
    return fallback_twiml(route, args, sid, lang)


def fallback_route(error_url: str, base_url: str) -> tuple[str, dict[str, str]]:
    """The path of ours (below PUBLIC_BASE_URL's own path) that failed, and its query."""
    parts = urlsplit(clean_text(error_url, 2000))
    base_path = urlsplit(base_url).path.rstrip("/")
    path = parts.path
    if base_path and path.startswith(base_path + "/"):
        path = path[len(base_path):]
    return path, {k: v[0] for k, v in parse_qs(parts.query).items() if v}


WAIT_ROUTES = ("/voice/hold", "/voice/held-wait")  # Enqueue waitUrl documents: no Enqueue, Dial... inside
CALLBACK_ROUTES = ("/voice/status", "/voice/callback/status")  # status callbacks: Twilio ignores the answer


def degraded() -> Response:
    """What a webhook answers when it failed inside us (Redis gone mid-request, a bug): the caller stays in
    the flow this URL belongs to, exactly as the fallback URL would keep them."""
    return fallback_twiml(request.path, {k: v for k, v in request.args.items()}, caller_sid(), lang_arg())


def fallback_twiml(route: str, args: dict[str, str], sid: str | None, lang: str) -> Response:
    r = VoiceResponse()
    if route in CALLBACK_ROUTES:
        return twiml(r)
    if route in WAIT_ROUTES:
        r.pause(length=1)  # keep waiting: the next poll may work
        return twiml(r)
    if route == "/voice/isolation/wait":
        media.isolation_sequence(r, lang)
        r.leave()
        return twiml(r)
    if route == "/voice/bridge":
        return twiml(r)  # the bridge goes ahead; the pairing is lost, the desk shows the call without it
    if route.startswith(("/agent/", "/supervisor/")):
        # An agent's or supervisor's own leg: back to taking callers after a short pause.
        media.play(r, "agent_waiting", resources().settings.default_language)
        next_caller(r, pause=2, role="supervisor" if route.startswith("/supervisor/") else "agent")
        return twiml(r)
    if route == "/voice/isolation/done":
        r.hangup()
        return twiml(r)
    if route.startswith("/voice/isolation"):
        enqueue_isolation(r, lang)
        return twiml(r)
    if route.startswith("/voice/moves/"):
        move = route.rsplit("/", 1)[-1]
        if sid and move in ("escalate", "warn", "end", "callback"):
            return carry_out(sid, move, lang)
    if route == "/voice/overflow-choice":
        return goodbye("busy_goodbye", lang)
    if route == "/voice/callback/answer":
        media.play(r, "callback_intro", lang)  # the number was screened again before it was dialled
        enqueue_for_agents(r, lang)
        return twiml(r)
    if route in ("", "/voice/incoming"):
        enqueue_for_agents(r, lang)  # the front door failed: let the caller through, as when Redis is down
        return twiml(r)
    # Anywhere else in the call (waiting, bridge, private hold): what we know of the call decides.
    state = _call_state(sid)
    if state.get("flagged") or state.get("decision") == "isolate":
        enqueue_isolation(r, lang)
    elif route.startswith("/voice/held") and sid:
        park_in_private_hold(r, sid, lang, again=True)
    elif route == "/voice/queue-exit" and args.get("q") == "supervisors":
        enqueue_to(r, resources().settings.supervisors_queue, lang)  # an escalated caller stays escalated
    else:
        enqueue_for_agents(r, lang)
    return twiml(r)


def _call_state(sid: str | None) -> dict[str, str]:
    if not sid:
        return {}
    try:
        calls = Calls(resources().fast)
        return {**calls.get(sid), "decision": calls.decision(sid)}
    except REDIS_ERRORS:
        return {}


@bp.post("/hold")
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


def park_in_private_hold(r: VoiceResponse, sid: str, lang: str, again: bool = False) -> None:
    """After `*` the caller waits alone in a queue of its own until the agent decides."""
    s = resources().settings
    action = urls.external("voice.held_exit", lang=lang, again=1) if again else urls.external("voice.held_exit",
                                                                                                lang=lang)
    r.enqueue(
        f"{s.hold_queue_prefix}{sid}",
        action=action,
        method="POST",
        wait_url=urls.external("voice.held_wait", lang=lang),
        wait_url_method="POST",
    )


def goodbye(prompt: str, lang: str) -> Response:
    r = VoiceResponse()
    media.play(r, prompt, lang)
    r.hangup()
    return twiml(r)


@bp.post("/queue-exit")
@twilio_webhook
def queue_exit() -> Response:
    """Enqueue action of the agents' queue: the caller left it (bridge over, hung up, gave up, moved)."""
    sid = caller_sid()
    if not sid:
        return bad_request("CallSid missing or malformed")
    lang = lang_arg()
    result = request.form.get("QueueResult", "")
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
    """The queue a caller at the agents' or supervisors' Enqueue action was waiting in (from our own URL)."""
    s = resources().settings
    return s.supervisors_queue if request.args.get("q") == "supervisors" else s.agents_queue


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
    caller waits a second at a time for it (silence, no queue), and is held if it never says."""
    r = VoiceResponse()
    try:
        how = Calls(resources().fast).get(sid).get("bridge_end", "")
    except REDIS_ERRORS:
        how = AGENT_KEPT  # cannot tell: hold, as before; the hold's own deadline ends it
    if how == AGENT_GONE:
        return goodbye("goodbye", lang)
    if how == AGENT_KEPT or checks >= BRIDGE_END_CHECKS:
        park_in_private_hold(r, sid, lang)
        return twiml(r)
    r.pause(length=1)
    r.redirect(urls.external("voice.bridge_end", lang=lang, n=checks + 1), method="POST")
    return twiml(r)


@bp.post("/bridge-end")
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


def mark_hung_up(sid: str) -> None:
    """The caller hung up while queued or held: the agent side must not wait for it."""
    try:
        Calls(resources().fast).update(sid, hung_up=now_ms())
    except REDIS_ERRORS:
        resources().count("state_lost")


@bp.post("/bridge")
@twilio_webhook
def bridge() -> Response:
    """<Queue url> of the agent's Dial: runs on the CALLER's leg just before the bridge.

    Records who talks to whom. The caller hears this, so it never mentions flags.
    """
    sid = caller_sid()
    agent_sid = request.form.get("DequeingCallSid", "")
    lang = lang_arg()
    if sid and valid_sid(agent_sid):
        try:
            call = Calls(resources().fast).pair(sid, agent_sid)
            lang = call.get("lang") or lang
        except REDIS_ERRORS as exc:
            resources().count("pairing_lost")
            log.warning("could not record the pairing %s <-> %s (%s)", sid, agent_sid, type(exc).__name__)
    r = VoiceResponse()
    media.play(r, "connecting", lang if lang in media.LANGUAGES else resources().settings.default_language)
    return twiml(r)


@bp.post("/held-wait")
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


@bp.post("/held-exit")
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
        state = _call_state(sid)
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


@bp.post("/moves/<move>")
@twilio_webhook
def moves(move: str) -> Response:
    """Where a desk move redirects the caller's live leg (escalate, warn, end, callback)."""
    sid = caller_sid()
    if not sid or move not in ("escalate", "warn", "end", "callback"):
        return bad_request("unknown move or CallSid")
    return carry_out(sid, move, lang_arg())


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


@bp.post("/overflow-choice")
@twilio_webhook
def overflow_choice() -> Response:
    """Gather action of the overflow message: 1 = call me back; anything else = goodbye."""
    sid = caller_sid()
    lang = lang_arg()
    if sid and (request.form.get("Digits") or "")[:1] == "1":
        from ivr.routing import schedule_callback

        try:
            schedule_callback(resources(), sid, agent="", via="overflow")
            return goodbye("callback_confirm", lang)
        except (ValueError, LookupError) as exc:
            log.info("overflow call back not possible for %s: %s", sid, exc)
        except REDIS_ERRORS:
            resources().count("callback_lost")
    return goodbye("busy_goodbye", lang)


@bp.post("/callback/answer")
@twilio_webhook
def callback_answer() -> Response:
    """The outbound call of a scheduled callback was answered: a person joins the agents' queue."""
    from workers.callbacks import attempt_ended

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


@bp.post("/callback/status")
@twilio_webhook
def callback_status() -> Response:
    """Status callback of a callback's outbound call: retry when nobody answered."""
    from workers.callbacks import attempt_ended

    cb_id = request.args.get("cb", "")
    status_ = request.form.get("CallStatus", "")
    sid = caller_sid()
    if sid and status_ in FINAL_CALL_STATUSES:
        # The callee hung up: its call record ends now, so an agent's side stops waiting for it.
        try:
            Calls(resources().fast).ended(sid, status_, request.form.get("CallDuration", "0"))
        except REDIS_ERRORS:
            resources().count("status_lost")
    if cb_id.startswith("cb-") and resources().store.exists(keys.callback(cb_id)):
        current = resources().store.hget(keys.callback(cb_id), "status")
        if status_ in ("no-answer", "busy", "failed", "canceled"):
            attempt_ended(cb_id, status_)
        elif status_ == "completed" and current == "connected":
            resources().store.hset(keys.callback(cb_id), "status", "done")
            cb = resources().store.hgetall(keys.callback(cb_id))
            events.event(resources().store, "callback_result", call_sid=cb.get("call_sid", ""),
                         number=cb.get("number", ""), line=cb.get("line", ""), callback=cb_id, status="done",
                         attempts=cb.get("attempts", "0"))
    return empty()


@bp.post("/isolation")
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


@bp.post("/isolation/wait")
@twilio_webhook
def isolation_wait() -> Response:
    """Wait URL of the isolation queue: analysis start, signal tone, analysis complete, then leave."""
    r = VoiceResponse()
    media.isolation_sequence(r, lang_arg())
    r.leave()  # ends the wait: the Enqueue action learns QueueResult=leave (played to the end)
    return twiml(r)


@bp.post("/isolation/done")
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


@bp.route("/status", methods=["GET", "POST"])
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

