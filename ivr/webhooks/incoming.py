"""The door: every call's first request. Screen in one round trip, treat a blocked caller, queue the
rest; the fallback URL and the degraded answers keep a caller in the flow it was in."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from flask import Response, current_app, request
from twilio.twiml.voice_response import VoiceResponse

from blocklist import teams
from blocklist.calls import valid_sid
from blocklist.clock import now_ms
from blocklist.numbers import WITHHELD, identify, normalize
from blocklist.restrictions import TEAM_ROUTE, voicemail_left
from blocklist.signals import Signals
from blocklist.text import clean_text
from ivr import urls
from ivr.resources import resources
from ivr.webhooks import media
from ivr.webhooks.blueprints import voice_bp
from ivr.webhooks.hold import carry_out
from ivr.webhooks.queue import overflow_menu
from ivr.webhooks.signature import twilio_webhook
from ivr.webhooks.twiml import (
    REDIS_ERRORS,
    bad_request,
    call_state,
    caller_sid,
    empty,
    enqueue_for_agents,
    enqueue_isolation,
    enqueue_to,
    goodbye,
    lang_arg,
    next_caller,
    park_in_private_hold,
    queue_of_route,
    twiml,
)

log = logging.getLogger("ivr.voice")


TWILIO_FIELDS = ("FromCity", "FromState", "FromZip", "FromCountry", "StirVerstat", "CallerName")
VOICEMAIL_MAX_SECONDS = 120  # a message, not a conversation: every minute of it is billed on a toll-free line
VOICEMAIL_SILENCE_SECONDS = 5  # Twilio ends the recording after this much silence


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
    elif treatment == "restricted":  # a contact restriction: the polite notice, then the call ends
        media.play(r, "restricted", lang)
        r.hangup()
    elif treatment == "voicemail":  # voicemail only: the caller may leave one message
        voicemail(r, lang)
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


@voice_bp.route("/incoming", methods=["GET", "POST"])
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
    # STIR/SHAKEN and the Marketplace add-ons' answer (AddOns JSON): bad or missing ones are no signal
    signals = Signals.from_twilio(form.get("StirVerstat"), form.get("AddOns"))
    started = time.monotonic()
    try:
        decision = res.fast_blocklist.screen(number, line, sid, extra=extra, languages=languages, facts=facts,
                                             signals=signals)
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
    if decision.route:  # a contact restriction: only the supervisors, or one team, take this caller
        return routed(decision.route, sid, lang)
    return Response(agents_queue_twiml(lang), mimetype="text/xml")


def routed(route: str, sid: str, lang: str) -> Response:
    """Queue a caller where its contact restriction sends it; a team's members are told someone waits for them.
    A route to a team since taken out of IVR_TEAMS goes to the agents (logged: a caller is never lost)."""
    r = VoiceResponse()
    queue_name = queue_of_route(route)
    if queue_name is None:
        log.warning("a contact restriction routes %s to %s, which IVR_TEAMS no longer has: queued for the agents; "
                    "add the team again or change the restriction", sid, route)
        enqueue_for_agents(r, lang)
        return twiml(r)
    if route.startswith(TEAM_ROUTE):
        try:
            teams.wait(resources().fast, route.removeprefix(TEAM_ROUTE), sid, now_ms())
        except REDIS_ERRORS:
            resources().count("state_lost")  # queued all the same; a member takes it once told of another
    enqueue_to(r, queue_name, lang)
    return twiml(r)


def voicemail(r: VoiceResponse, lang: str) -> None:
    """Voicemail only: the notice, one bounded <Record> (the recording's URL comes back on its status callback), and
    goodbye when the caller said nothing (Twilio then goes on to the next verb instead of the action)."""
    media.play(r, "voicemail_intro", lang)
    r.record(action=urls.external("voice.voicemail_done", lang=lang), method="POST",
             max_length=VOICEMAIL_MAX_SECONDS, timeout=VOICEMAIL_SILENCE_SECONDS, play_beep=True, finish_on_key="#",
             recording_status_callback=urls.external("voice.voicemail_recorded"),
             recording_status_callback_method="POST", recording_status_callback_event="completed")
    media.play(r, "goodbye", lang)
    r.hangup()


@voice_bp.route("/voicemail/done", methods=["GET", "POST"])
@twilio_webhook
def voicemail_done() -> Response:
    """The <Record> action: the message is recorded (its URL follows on the status callback); thank and end."""
    return goodbye("goodbye", lang_arg())


@voice_bp.route("/voicemail/recorded", methods=["GET", "POST"])
@twilio_webhook
def voicemail_recorded() -> Response:
    """Recording status callback: the message's URL goes on the call and into the number's history."""
    sid = caller_sid()
    if not sid:
        return bad_request("CallSid missing or malformed")
    form = request.form
    if form.get("RecordingStatus", "completed") != "completed" or not form.get("RecordingUrl"):
        return empty()
    try:
        known = voicemail_left(resources().store, sid, form.get("RecordingUrl", ""),
                               form.get("RecordingDuration", ""), form.get("RecordingSid", ""))
    except REDIS_ERRORS:
        resources().count("voicemail_lost")
        log.warning("voicemail of %s not recorded: Redis unreachable (the recording stays in Twilio's console)", sid)
        return empty()
    if not known:
        log.info("voicemail for unknown call %s ignored", sid)
    return empty()


def agents_queue_twiml(lang: str) -> str:
    """<Enqueue> into the agents' queue: the same for every call in `lang` under one mount prefix (its URLs carry
    the prefix, as urls.external's do), so built once per app, prefix and language."""
    cache: dict[tuple[str, str], str] = current_app.extensions.setdefault("ivr.agents_twiml", {})
    key = (request.script_root, lang)
    text = cache.get(key)
    if text is None:
        r = VoiceResponse()
        enqueue_for_agents(r, lang)
        text = str(r)
        if len(cache) < 64:  # languages x mount prefixes: a handful
            cache[key] = text
    return text


@voice_bp.route("/fallback", methods=["GET", "POST"])
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


CALLBACK_ROUTES = ("/voice/status", "/voice/callback/status", "/voice/voicemail/recorded")  # Twilio ignores the answer


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
    if route in ("/voice/isolation/done", "/voice/voicemail/done"):
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
    state = call_state(sid)
    if state.get("flagged") or state.get("decision") == "isolate":
        enqueue_isolation(r, lang)
    elif route.startswith("/voice/held") and sid:
        park_in_private_hold(r, sid, lang, again=True)
    elif route == "/voice/queue-exit" and (queue_name := queue_of_route(args.get("q", ""))) is not None:
        enqueue_to(r, queue_name, lang)  # an escalated caller stays escalated, a team's caller with the team
    else:
        enqueue_for_agents(r, lang)
    return twiml(r)
