"""What every webhook answers with: TwiML built once here (the content type, the queues a caller waits in,
the agent's next caller), the request fields every route reads, and the fail-safe document."""

from __future__ import annotations

import logging

import redis
from flask import Response, request
from twilio.twiml.voice_response import VoiceResponse

import prompts
from blocklist.calls import Calls, valid_sid
from blocklist.restrictions import TEAM_ROUTE
from ivr import urls
from ivr.resources import resources
from ivr.webhooks import media

log = logging.getLogger("ivr.voice")


REDIS_ERRORS = (redis.RedisError, OSError)


def twiml(response: VoiceResponse, status: int = 200) -> Response:
    """A Flask response carrying TwiML."""
    return Response(str(response), status=status, mimetype="text/xml")


def empty() -> Response:
    """Valid TwiML that does nothing (for callbacks whose answer Twilio ignores)."""
    return twiml(VoiceResponse())


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
    settings = resources().settings
    if queue_name == settings.supervisors_queue:
        args["q"] = "supervisors"  # the exit (and the fallback) must put an escalated caller back there
    elif (team := team_of_queue(queue_name)) is not None:
        args["q"] = TEAM_ROUTE + team  # likewise a caller a contact restriction sends to one team
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


def agent_lang() -> str:
    return resources().settings.default_language


TEAM_DIAL_TIMEOUT = 5  # a member dials the team's queue only while someone waits there: a short wait if taken


def dial_queue(r: VoiceResponse, queue_name: str, team: str = "") -> None:
    """Take the next caller from `queue_name` (a `team`'s queue: briefly); `*` breaks the bridge and runs the Dial
    action."""
    s = resources().settings
    dial = r.dial(hangup_on_star=True, timeout=min(TEAM_DIAL_TIMEOUT, s.dial_timeout) if team else s.dial_timeout,
                  action=urls.external("agent.after_dial"), method="POST")
    dial.queue(queue_name, url=urls.external("voice.bridge", **({"team": team} if team else {})), method="POST")


def team_of_queue(queue_name: str) -> str | None:
    """The team of IVR_TEAMS whose queue this is, else None."""
    teams = resources().settings.teams
    name = queue_name.removeprefix("team-")
    return name if name != queue_name and name in teams else None


def queue_of_route(route: str) -> str | None:
    """The queue a contact restriction's route names ('supervisor', 'team:<name>'), None when this service has no
    such queue (a team taken out of IVR_TEAMS since: the caller then goes to the agents)."""
    s = resources().settings
    if route == "supervisor" or route == "supervisors":
        return s.supervisors_queue
    if route.startswith(TEAM_ROUTE) and route.removeprefix(TEAM_ROUTE) in s.teams:
        return s.team_queue(route.removeprefix(TEAM_ROUTE))
    return None


def next_caller(r: VoiceResponse, pause: int = 0, role: str = "agent") -> None:
    if pause:
        r.pause(length=pause)
    endpoint = "supervisor.supervisor_connect" if role == "supervisor" else "agent.connect"
    r.redirect(urls.external(endpoint), method="POST")


def fail_safe() -> Response:
    """What a caller hears when something inside us broke: never Twilio's application-error message."""
    r = VoiceResponse()
    try:
        r.say(prompts.text("service_unavailable", prompts.DEFAULT_LANGUAGE))
    except Exception:  # the words could not be read: the call still ends cleanly
        log.exception("the fail-safe prompt could not be read")
    r.hangup()
    return Response(str(r), status=200, mimetype="text/xml")


def call_state(sid: str | None) -> dict[str, str]:
    """What we know of a call (and the agent's decision), or nothing when Redis cannot say."""
    if not sid:
        return {}
    try:
        calls = Calls(resources().fast)
        return {**calls.get(sid), "decision": calls.decision(sid)}
    except REDIS_ERRORS:
        return {}

