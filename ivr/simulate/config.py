"""What a simulation is asked to do (SimConfig, parsed from `ivr simulate`'s options) and the facts of
Twilio it plays by: the verbs allowed where, the fields it traces, its error codes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from blocklist.parse import parse_duration
from ivr.simulate.standin import StandIn

DEFAULT_LINES = ("+18005551212", "+18885550100", "+18775550199")  # the simulated lines (numbers callers dial)
API_VERSION = "2010-04-01"


AGENT_ACCESS_LINE = "+15557770000"  # the number agents' phones dial to take calls (To of their legs)


FLAG_KEY = "9"


RESUME_KEY = "0"  # any key the flag menu does not use: "back to the caller"


MOVE_KEYS = {"1": "escalate", "2": "warn", "3": "callback"}


LATENCY_SAMPLE = 100_000


MAX_DOCUMENTS = 300  # TwiML documents per caller leg; more is a loop in the app


PLAY_SECONDS_UNKNOWN = 3.0


# After a desk flag the caller stays on until the app's REST redirect moves it, for at least this many
# REAL seconds: the redirect goes through an RQ job and takes real time (about 0.1-0.3 s with `ivr serve`,
# ~1 s in production), which compressed time would otherwise turn into minutes in which the caller hangs up.
DESK_MOVE_WAIT = 2.0


# An agent's Dial on an empty queue lasts at least this many REAL seconds. Twilio would time out and the
# agent re-dial every Dial timeout (60 s), answers that never change; compressed, that loop would be most
# of the load. The agent takes a caller the moment one arrives either way.
IDLE_DIAL_FLOOR = 2.0


TOP_VERBS = frozenset({"Say", "Play", "Pause", "Gather", "Redirect", "Hangup", "Reject", "Enqueue", "Leave", "Dial",
                       "Record", "Sms", "Message", "Refer", "Connect", "Pay", "Prompt", "Start", "Stop", "Echo"})


DIAL_NOUNS = frozenset({"Number", "Client", "Queue", "Sip", "Conference", "Application"})


SOUND_VERBS = frozenset({"Say", "Play", "Pause"})


# What Twilio allows in the TwiML of an <Enqueue waitUrl> (TwiML <Enqueue>, waitUrl) and of a <Queue url>
# (TwiML <Queue>, url: "The allowed verbs in this TwiML document are Play, Say, Pause, and Redirect").
WAIT_VERBS = frozenset({"Play", "Say", "Pause", "Hangup", "Redirect", "Leave", "Gather"})


QUEUE_URL_VERBS = frozenset({"Play", "Say", "Pause", "Redirect"})


# Twilio's <Queue> page says only that a Dial into a queue that does not exist "will post an error status
# to its action URL"; it names no code. DialCallStatus=failed with this ErrorCode is the simulator's choice
# (the one the app's own tests use), NOT confirmed against a live account.
MISSING_QUEUE_ERROR = "13225"


# An agent's leg re-dialling a missing queue more often than this in any minute of its own TwiML clock is
# a tight loop. A backoff from 5 s (5, 10, 20, 30 s) re-dials 3 times in its first minute, then twice.
MISSING_QUEUE_REDIALS_PER_MINUTE = 3


# Real seconds the second of two simultaneous requests (the two sides of a bridge) waits for the first.
PARTNER_WAIT = 5.0


TRACED = ("CallStatus", "QueueResult", "QueueTime", "QueuePosition", "Digits", "DialCallStatus", "DequeingCallSid",
          "ErrorCode", "AnsweredBy")


# A caller who hung up while bridged: no Enqueue action is requested, only the status callback (as
# tests/callflow.py plays it). Flip if a live account shows Twilio requesting it with QueueResult=bridged.
ACTION_AFTER_BRIDGED_HANGUP = False


def parse_compress(text: str) -> float:
    """Simulated seconds per real second: '1d/60s' -> 1440.0; a bare number is the factor itself."""
    raw = text.strip()
    if "/" in raw:
        sim_text, real_text = raw.split("/", 1)
        try:  # each side carries its unit, as every length does: '1d/60' would be a day in a minute or in 60 days
            sim, real = parse_duration(sim_text), parse_duration(real_text)
        except ValueError as exc:
            raise ValueError(f"--compress {text!r}: {exc}; the whole is SIMULATED/REAL, e.g. 1d/60s") from None
        if sim is None or real is None:
            raise ValueError(f"--compress {text!r}: write SIMULATED/REAL, e.g. 1d/60s (a day in a minute)")
        return sim / real
    try:
        factor = float(raw)
    except ValueError:
        raise ValueError(f"--compress {text!r}: write SIMULATED/REAL such as 1d/60s, or a factor such as 1440") from None
    if not 0 < factor <= 1_000_000:
        raise ValueError(f"--compress {text!r}: the factor must be above 0 (1 = real time)")
    return factor


def simulated_start_ms(span: float, start_hour: float, zone: str | None = None) -> int:
    """Where the simulated day starts on the service's clock: the last `start_hour` o'clock (in
    IVR_TIMEZONE) at least `span` ago, so the whole simulated span lies in the past and fills the
    reports' recent days, with its night and noon peaks at the right hours."""

    tz = ZoneInfo(zone or os.environ.get("IVR_TIMEZONE", "UTC") or "UTC")
    latest = datetime.now(tz) - timedelta(seconds=span)
    start = latest.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(hours=start_hour)
    if start > latest:
        start -= timedelta(days=1)
    return int(start.timestamp() * 1000)


def parse_span(text: str) -> float:
    """Simulated span of traffic: '1d', '8h', '90m' (with the unit; a bare number is refused)."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise ValueError(f"--duration {text!r}: {exc}") from None
    if seconds is None:
        raise ValueError(f"--duration {text!r}: give a length such as 1d, 8h or 90m")
    return float(seconds)


@dataclass(frozen=True)
class SimConfig:
    """What to simulate and where the service is. Settings mirror the service's (same env names)."""

    public_base_url: str
    auth_token: str
    target: str = "http://127.0.0.1:8000"
    account_sid: str = "AC" + "5" * 32
    api_token: str = ""
    agents: tuple[str, ...] = ()
    supervisors: tuple[str, ...] = ()
    calls: int = 400
    span: float = 86400.0
    factor: float = 1440.0
    flag_share: float = 0.3
    desk_share: float = 0.5
    moves_share: float = 0.05
    # of the bridged calls nobody flags or moves, those the agent ends by hanging up (else the caller does)
    agent_hangup_share: float = 0.3
    no_answer_share: float = 0.1  # calls the app places (callbacks) that nobody picks up
    seed: int | None = None
    start_hour: float = 0.0
    lines: tuple[str, ...] = DEFAULT_LINES
    agents_queue: str = "agents"
    isolation_queue: str = "isolation"
    hold_prefix: str = "hold-"
    poll_floor: float = 0.2
    concurrency: int = 32
    drain: float | None = None
    request_timeout: float = 15.0
    check_media: bool = True
    incoming_path: str = "/voice/incoming"
    fallback_path: str = "/voice/fallback"
    status_path: str = "/voice/status"
    agent_path: str = "/agent/connect"
    supervisor_path: str = "/supervisor/connect"

    def validate(self) -> None:
        """ValueError naming what to fix."""
        if not self.auth_token:
            raise ValueError("TWILIO_AUTH_TOKEN is empty: set the same value the service has, or it refuses every webhook")
        for name, url in (("PUBLIC_BASE_URL", self.public_base_url), ("--target", self.target)):
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{name} {url!r} must start with http:// or https://")
        if not self.agents:
            raise ValueError("no agents: set IVR_AGENTS to the same identities the service has (e.g. +15550001001,client:alice)")
        if self.calls < 0:
            raise ValueError("--calls must be 0 or more")
        if self.span <= 0 or self.factor <= 0:
            raise ValueError("--duration and --compress must be above zero")
        for name, share in (("--flag-share", self.flag_share), ("--desk-share", self.desk_share),
                            ("--moves-share", self.moves_share), ("--agent-hangup-share", self.agent_hangup_share)):
            if not 0 <= share <= 1:
                raise ValueError(f"{name} is a share between 0 and 1, got {share}")
        if self.flag_share and self.desk_share and not self.api_token:
            raise ValueError("IVR_API_TOKEN is empty, so desk flags would be refused: set it as for the service, "
                             "or use --desk-share 0 (every flag by * 9)")
        if self.concurrency < 1 or self.poll_floor < 0:
            raise ValueError("--concurrency must be 1 or more and --poll-floor 0 or more")
        if not self.lines:
            raise ValueError("give at least one line (To number)")


def standin_for(cfg: SimConfig) -> StandIn:
    """The REST stand-in's state for this run, as strict as Twilio: it takes only the account the simulator
    signs for (HTTP Basic with TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN), lets calls be created only From the
    simulated lines, and knows only the calls the simulator reports (no adopting of unknown CallSids)."""
    return StandIn(account_sid=cfg.account_sid, auth_token=cfg.auth_token, numbers=tuple(cfg.lines),
                   adopt_unknown_calls=False)
