"""Plays Twilio against a running service, so the whole product works without a Twilio account.

The engine behind `ivr simulate`. Inbound calls come from realistic caller pools (repeat harassers, an
organisation's switchboard range, withheld callers, ordinary customers) on a day curve with night and
noon peaks of harassment. Every webhook is signed as Twilio signs it and sent in Twilio's order
(`tests/callflow.py` is the reference); queues behave as Twilio's do (waitUrl loops, oldest caller
first, the `<Queue url>` on the caller's leg before the bridge, Enqueue actions with QueueResult);
agents take callers and flag a share of them with `*` 9 or the desk API; status callbacks end every
call, agents' legs included. With the REST stand-in's listener, the app's call updates move the
simulated legs and its call creations (callbacks) become outbound legs. TwiML the simulator does not
model is followed generically (Say/Play/Pause take time, Redirect/Gather/Record/Dial actions are requested).

It plays Twilio's documented behaviour, the unkind parts included, and counts as an error what Twilio
would make go wrong:
- agents hang up ordinary calls (`agent_hangup_share`): the agent's Dial action comes with
  CallStatus=completed (its TwiML ignored, the leg over, then its status callback) and the caller's
  Enqueue action with QueueResult=bridged, in either order; a caller then parked in a private hold
  queue is an error. After `*` the Dial action says CallStatus=in-progress.
- a `<Dial><Queue>` into a queue that does not exist (queues exist once created through REST or by
  a first `<Enqueue>`; the stand-in keeps the registry) fails at once: DialCallStatus=failed with
  ErrorCode MISSING_QUEUE_ERROR. An agent's leg re-dialling a missing queue in a tight loop is an error.
- a waitUrl that fails (HTTP error, not TwiML, no answer) ends the wait with QueueResult=error; a verb
  Twilio does not allow in waitUrl TwiML (WAIT_VERBS) or in `<Queue url>` TwiML (QUEUE_URL_VERBS) is an error.
- QueueTime is the time the call has spent in that queue on its own (simulated) clock.
- the first request of every inbound leg (callers, agents, supervisors) says CallStatus=ringing, later
  ones in-progress; calls the app creates ring (stand-in status ringing) and request their Url answered
  (in-progress), with the status callbacks their StatusCallbackEvent asks for.
- status callbacks carry Twilio's fields (Timestamp in RFC 2822, CallbackSource, SequenceNumber per call).

Time: simulated seconds run `factor` times faster than real ones ("1d/60s" is a day in a minute).
HTTP latency is real time too, so it costs `factor` simulated seconds per real second. Loops (a
waitUrl polled again, a Redirect back to the same path) are throttled to one request per `poll_floor`
real seconds per leg: the skipped polls are those whose answer would not have changed, and a leg's
partner (the agent of its last bridge, or the caller) cuts the wait short whenever it acts. Two requests
Twilio sends at the same moment for the two sides of a bridge go one after the other, the second once the
first is answered (PARTNER_WAIT real seconds at most). Whether an agent's leg loops is judged on its own
TwiML clock (the Pause and Play time the app asked for), which the throttle does not stretch. After a
desk flag the caller stays until the app's REST redirect arrives (DESK_MOVE_WAIT real seconds at
least), since that round trip through RQ takes real time. The app itself stamps events with its own
clock, so its reports see the run's real minute, not the simulated day (unless IVR_SIMULATION_CLOCK=1).

Everything runs on one asyncio loop; HTTP goes through a bounded thread pool with `requests`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import secrets
import struct
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from twilio.request_validator import RequestValidator

from ivr.config import parse_duration

if TYPE_CHECKING:
    from ivr.twilio_standin import StandIn

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

# Relative call volume by hour of day. Customers call in business hours with a noon peak; harassment
# peaks at night and around noon (the field pattern the spec describes).
CUSTOMER_CURVE = (0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.45, 0.9, 1.5, 1.9, 2.0, 2.3,
                  2.7, 2.4, 1.9, 1.8, 1.7, 1.5, 1.1, 0.8, 0.6, 0.45, 0.3, 0.2)
HARASSER_CURVE = (2.6, 2.3, 1.6, 0.9, 0.4, 0.25, 0.25, 0.35, 0.5, 0.6, 0.8, 1.6,
                  2.4, 1.8, 0.8, 0.6, 0.6, 0.7, 0.9, 1.1, 1.4, 1.9, 2.4, 2.7)
DEFAULT_LINES = ("+18005551212", "+18885550100", "+18775550199")
LINE_WEIGHTS = (6, 3, 1)
# (area code, city, state, zip, weight) for US callers; numbers use the fictional 555-01xx block.
AREAS = (
    ("212", "NEW YORK", "NY", "10001", 9), ("415", "SAN FRANCISCO", "CA", "94105", 5),
    ("312", "CHICAGO", "IL", "60601", 6), ("713", "HOUSTON", "TX", "77002", 6), ("602", "PHOENIX", "AZ", "85004", 4),
    ("215", "PHILADELPHIA", "PA", "19103", 4), ("206", "SEATTLE", "WA", "98101", 3), ("305", "MIAMI", "FL", "33130", 4),
    ("404", "ATLANTA", "GA", "30303", 4), ("617", "BOSTON", "MA", "02108", 3), ("303", "DENVER", "CO", "80202", 3),
    ("503", "PORTLAND", "OR", "97204", 2),
)
ABROAD = (("GB", "+4420794601", 3), ("ZA", "+2721555012", 2), ("FI", "+3584055501", 1))
WITHHELD_FORMS = (("anonymous", 6), ("Restricted", 1), ("+266696687", 1), ("", 1), ("UNAVAILABLE", 1))


def parse_compress(text: str) -> float:
    """Simulated seconds per real second: '1d/60s' -> 1440.0; a bare number is the factor itself."""
    raw = text.strip()
    if "/" in raw:
        sim_text, real_text = raw.split("/", 1)
        sim, real = parse_duration(sim_text), parse_duration(real_text)
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
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone or os.environ.get("IVR_TIMEZONE", "UTC") or "UTC")
    latest = datetime.now(tz) - timedelta(seconds=span)
    start = latest.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(hours=start_hour)
    if start > latest:
        start -= timedelta(days=1)
    return int(start.timestamp() * 1000)


def parse_span(text: str) -> float:
    """Simulated span of traffic: '1d', '8h', '90m'."""
    seconds = parse_duration(text)
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
    from ivr.twilio_standin import StandIn

    return StandIn(account_sid=cfg.account_sid, auth_token=cfg.auth_token, numbers=tuple(cfg.lines),
                   adopt_unknown_calls=False)


# ---- callers and their plans --------------------------------------------------------------------

@dataclass(frozen=True)
class Caller:
    """Who calls: the From as Twilio sends it, Twilio's geography fields, and intent."""

    kind: str  # repeat | switchboard | withheld-harasser | customer | withheld-customer | abroad
    number: str
    harasses: bool
    withheld: bool = False
    city: str = ""
    state: str = ""
    zip: str = ""
    country: str = ""
    stir: str = ""


@dataclass
class Plan:
    """What happens once an agent answers: the caller talks `talk` seconds, the agent acts after `act_after`."""

    talk: float
    action: str | None = None  # key (* 9) | desk (API) | resume (* then back) | move (* then 1/2/3)
    act_after: float = 0.0
    patience: float = 300.0  # seconds the caller waits in a queue before hanging up
    digit: str = ""
    agent_ends: bool = False  # the agent hangs up after `talk` (else the caller does)


@dataclass(frozen=True)
class Arrival:
    at: float  # simulated seconds after the start
    caller: Caller
    line: str
    plan: Plan


class Pools:
    """The callers of a simulated line. Repeat harassers call from a few numbers again and again."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        harass_areas = [a for a in AREAS if a[0] in ("713", "305", "602")]
        self.repeat = [Caller("repeat", f"+1{a[0]}55501{i:02d}", True, city=a[1], state=a[2], zip=a[3], country="US",
                              stir=rng.choice(("TN-Validation-Passed-C", "No-TN-Validation", "TN-Validation-Passed-B")))
                       for i in range(4) for a in harass_areas]
        rng.shuffle(self.repeat)
        self.repeat_weights = [1 / (rank + 1) for rank in range(len(self.repeat))]  # Zipf: a few call most
        self.switchboard = [Caller("switchboard", f"+131255501{50 + i:02d}", True, city="CHICAGO", state="IL",
                                   zip="60601", country="US", stir="TN-Validation-Passed-B") for i in range(20)]
        taken = {c.number for c in self.repeat + self.switchboard}
        self.customers: list[Caller] = []
        weights = [a[4] for a in AREAS]
        while len(self.customers) < 800:
            a = rng.choices(AREAS, weights)[0]
            number = f"+1{a[0]}55501{rng.randrange(100):02d}"
            if number in taken:
                continue
            taken.add(number)
            self.customers.append(Caller("customer", number, False, city=a[1], state=a[2], zip=a[3], country="US",
                                         stir="TN-Validation-Passed-A"))
        self.abroad = [Caller("abroad", f"{prefix}{i}", False, country=country)
                       for country, prefix, _w in ABROAD for i in range(10)]
        self.abroad_weights = [w for _c, _p, w in ABROAD for _i in range(10)]

    def withheld(self, harasses: bool) -> Caller:
        form = self.rng.choices([f for f, _w in WITHHELD_FORMS], [w for _f, w in WITHHELD_FORMS])[0]
        return Caller("withheld-harasser" if harasses else "withheld-customer", form, harasses, withheld=True)

    def harasser(self) -> Caller:
        kind = self.rng.choices(("repeat", "switchboard", "withheld"), (0.5, 0.25, 0.25))[0]
        if kind == "repeat":
            return self.rng.choices(self.repeat, self.repeat_weights)[0]
        if kind == "switchboard":
            return self.rng.choice(self.switchboard)
        return self.withheld(True)

    def customer(self) -> Caller:
        roll = self.rng.random()
        if roll < 0.08:
            return self.withheld(False)
        if roll < 0.11:
            return self.rng.choices(self.abroad, self.abroad_weights)[0]
        return self.rng.choice(self.customers)

    def by_number(self, number: str) -> Caller | None:
        return next((c for c in (*self.customers, *self.abroad, *self.repeat, *self.switchboard) if c.number == number),
                    None)


def plan_for(caller: Caller, cfg: SimConfig, rng: random.Random) -> Plan:
    """How this call goes once answered."""
    if caller.harasses:
        act_after = rng.uniform(8, 45)  # nonsense or drift; the agent recognises it
        # now and then the caller hangs up before the agent acts (flagged in the window after the call);
        # else the caller would go on wasting the agent's time long after the agent has seen enough
        talk = rng.uniform(3, act_after) if rng.random() < 0.15 else act_after + rng.uniform(45, 240)
        action = "desk" if rng.random() < cfg.desk_share else "key"
        return Plan(talk, action, act_after, patience=20 + rng.expovariate(1 / 150))
    talk = min(1200.0, max(20.0, rng.lognormvariate(math.log(150), 0.6)))
    patience = 30 + rng.expovariate(1 / 300)
    roll = rng.random()
    if roll < cfg.moves_share:
        digits = ["1", "2"] if caller.withheld else ["1", "2", "3"]  # no call back without a number
        return Plan(talk, "move", rng.uniform(0.2, 0.6) * talk, patience, digit=rng.choice(digits))
    if roll < cfg.moves_share + 0.04:
        return Plan(talk, "resume", rng.uniform(0.2, 0.7) * talk, patience)
    return Plan(talk, None, 0.0, patience, agent_ends=rng.random() < cfg.agent_hangup_share)


def _hour_weights(curve: tuple[float, ...], span: float, start_hour: float) -> list[tuple[float, float, float]]:
    """(start, length, weight) of each simulated hour in the span."""
    out = []
    t = 0.0
    while t < span:
        length = min(3600.0, span - t)
        hour = int((start_hour + t / 3600) % 24)
        out.append((t, length, curve[hour] * length / 3600))
        t += length
    return out


def build_schedule(cfg: SimConfig, rng: random.Random, pools: Pools) -> list[Arrival]:
    """`cfg.calls` arrivals over the span; harassers come in groups now and then."""
    bins = {name: _hour_weights(curve, cfg.span, cfg.start_hour)
            for name, curve in (("customer", CUSTOMER_CURVE), ("harasser", HARASSER_CURVE))}

    def moment(kind: str) -> float:
        hours = bins[kind]
        start, length, _w = rng.choices(hours, [w for _s, _l, w in hours])[0]
        return start + rng.uniform(0, length)

    def line() -> str:
        weights = LINE_WEIGHTS[: len(cfg.lines)] if len(cfg.lines) <= len(LINE_WEIGHTS) else None
        return rng.choices(cfg.lines, weights)[0]

    out: list[Arrival] = []
    while len(out) < cfg.calls:
        if rng.random() < cfg.flag_share:
            caller = pools.harasser()
            at = moment("harasser")
            to = line()
            out.append(Arrival(at, caller, to, plan_for(caller, cfg, rng)))
            if caller.kind in ("repeat", "switchboard") and rng.random() < 0.3:
                # a group calling together: the same number (or the next extension) again within minutes
                for _ in range(rng.randint(1, 3)):
                    again = caller if caller.kind == "repeat" else rng.choice(pools.switchboard)
                    out.append(Arrival(min(cfg.span * 0.9999, at + rng.uniform(60, 900)), again, to,
                                       plan_for(again, cfg, rng)))
        else:
            caller = pools.customer()
            out.append(Arrival(moment("customer"), caller, line(), plan_for(caller, cfg, rng)))
    out = out[: cfg.calls]
    out.sort(key=lambda a: a.at)
    return out


# ---- results --------------------------------------------------------------------------------------

@dataclass
class Counts:
    """What the simulator saw; each line is checkable against what the app stored."""

    placed: int = 0
    door: int = 0  # treated at the door: reject, line fault, hang-up, isolation
    queued: int = 0
    answered: int = 0
    flagged_key: int = 0
    flagged_desk: int = 0
    moves: Counter[str] = field(default_factory=Counter)  # escalate / warn / callback, by key
    abandoned: int = 0  # hung up waiting for an agent
    let_go: int = 0  # left the agents' queue by the app's Leave (longest wait, no agent)
    isolation_complete: int = 0
    isolation_abandoned: int = 0
    redirects: int = 0  # REST call updates from the app that moved a live leg
    callbacks: int = 0  # outbound calls the app created through REST
    status_callbacks: int = 0  # inbound callers' status callbacks the app accepted
    agent_hangups: int = 0  # bridges the agent ended by hanging up
    missing_queue_dials: int = 0  # agents' dials into a queue that did not exist (Twilio: failed at once)
    fallbacks: int = 0
    requests: int = 0
    errors: int = 0

    @property
    def flagged(self) -> int:
        return self.flagged_key + self.flagged_desk


@dataclass
class Report:
    counts: Counts
    blocked: set[str]
    flagged_calls: set[str]
    errors: Counter[str]
    by_hour: list[int]
    flags_by_hour: list[int]
    waits: list[float]
    latencies: list[float]
    real_seconds: float
    sim_seconds: float
    factor: float
    start_hour: float
    planned: int
    seed: int | None
    stopped: bool = False

    @property
    def exit_code(self) -> int:
        """1 when any webhook answered an error or invalid TwiML (or could not be reached)."""
        return 1 if self.counts.errors else 0

    def table(self) -> str:
        """The summary printed at the end of a run."""
        c = self.counts
        real = max(self.real_seconds, 1e-9)
        rows: list[tuple[str, str, str]] = [
            ("calls placed", f"{c.placed}", f"{c.placed / real:.1f}/s real" + (" (stopped early)" if self.stopped else "")),
            ("treated at the door", f"{c.door}", "reject, line fault, hang-up or isolation before any agent"),
            ("queued for an agent", f"{c.queued}", ""),
            ("answered by an agent", f"{c.answered}", self._wait_note()),
            ("flagged", f"{c.flagged}", f"* 9: {c.flagged_key}, desk: {c.flagged_desk}"
             + (f"; {c.flagged / c.answered:.0%} of answered" if c.answered else "")),
            ("numbers blocklisted", f"{len(self.blocked)}", "flagged callers with a caller ID"),
            ("isolation played / left early", f"{c.isolation_complete} / {c.isolation_abandoned}", ""),
            ("difficult-caller moves", f"{sum(c.moves.values())}",
             ", ".join(f"{k}: {v}" for k, v in sorted(c.moves.items())) or "escalate, warn, callback"),
            ("hung up waiting", f"{c.abandoned}", ""),
            ("let go by the app", f"{c.let_go}", "longest wait or no agent: offered a call back"),
            ("ended by the agent hanging up", f"{c.agent_hangups}", "Dial action CallStatus=completed"),
            ("dials of a missing queue", f"{c.missing_queue_dials}",
             "Twilio fails a Dial into a queue nobody created" if c.missing_queue_dials else ""),
            ("moved by the app (REST)", f"{c.redirects}", "call updates through the stand-in"),
            ("calls created by the app", f"{c.callbacks}", "callbacks through the stand-in"),
            ("status callbacks", f"{c.status_callbacks}", ""),
            ("webhook and API requests", f"{c.requests}", f"{c.requests / real:.0f}/s; {self._latency_note()}"),
            ("errors", f"{c.errors}", "" if not c.errors else "see below; exit code 1"),
        ]
        width = max(len(r[0]) for r in rows)
        span = timedelta(seconds=round(self.sim_seconds))
        lines = [f"Simulated {span} from {int(self.start_hour):02d}:00 in {self.real_seconds:.1f} s real "
                 f"(x{self.factor:g}), {c.placed} of {self.planned} calls, seed {self.seed}"]
        lines += [f"  {name:<{width}}  {value:>9}  {note}".rstrip() for name, value, note in rows]
        lines.append(f"  {'calls by hour':<{width}}  {_bars(self.by_hour)}")
        lines.append(f"  {'flags by hour':<{width}}  {_bars(self.flags_by_hour)}")
        if self.errors:
            lines.append("Errors (first kinds, with counts):")
            lines += [f"  {n:>5}  {kind}" for kind, n in self.errors.most_common(12)]
        return "\n".join(lines)

    def _latency_note(self) -> str:
        if not self.latencies:
            return "no webhook answered"
        ordered = sorted(self.latencies)
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        return (f"webhook latency median {ordered[len(ordered) // 2] * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
                f"max {ordered[-1] * 1000:.0f} ms")

    def _wait_note(self) -> str:
        if not self.waits:
            return ""
        ordered = sorted(self.waits)
        return f"waited median {ordered[len(ordered) // 2]:.0f} s, longest {ordered[-1]:.0f} s (simulated)"


def _bars(values: list[int]) -> str:
    top = max(values) if values else 0
    if not top:
        return "(none)"
    marks = " ▁▂▃▄▅▆▇█"
    return "".join(marks[min(8, math.ceil(v * 8 / top))] for v in values) + f"  (00-23 h, peak {top})"


# ---- HTTP ------------------------------------------------------------------------------------------

@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes
    error: str = ""
    seconds: float = 0.0


class Http:
    """Signed webhooks, API calls and media fetches to the target, on a bounded thread pool."""

    def __init__(self, cfg: SimConfig) -> None:
        self.public = cfg.public_base_url.rstrip("/")
        self.target = cfg.target.rstrip("/")
        self.validator = RequestValidator(cfg.auth_token)
        self.api_token = cfg.api_token
        self.timeout = cfg.request_timeout
        self.pool = ThreadPoolExecutor(max_workers=cfg.concurrency, thread_name_prefix="ivr-simulate")
        self.local = threading.local()
        self.pool_size = cfg.concurrency
        # Simulated wall clock (ms since the epoch), sent as X-Ivr-Sim-Time; the service honours it
        # only with IVR_SIMULATION_CLOCK=1, so the reports show the simulated day's hours.
        self.clock_ms: Any = None

    def sim_headers(self, headers: dict[str, str]) -> dict[str, str]:
        if self.clock_ms is not None:
            headers["X-Ivr-Sim-Time"] = str(int(self.clock_ms()))
        return headers

    def public_url(self, path: str) -> str:
        return self.public + path

    def under_public(self, url: str) -> bool:
        return url == self.public or url.startswith((self.public + "/", self.public + "?"))

    def to_target(self, url: str) -> str:
        """The URL Twilio would call (under PUBLIC_BASE_URL) rewritten to where the service listens."""
        if not self.under_public(url):
            raise ValueError(f"{url} is not under PUBLIC_BASE_URL {self.public}: the simulator cannot reach it")
        return self.target + url[len(self.public):]

    def session(self) -> requests.Session:
        found: requests.Session | None = getattr(self.local, "session", None)
        if found is None:
            found = requests.Session()
            adapter = HTTPAdapter(pool_connections=2, pool_maxsize=2, max_retries=0)
            found.mount("http://", adapter)
            found.mount("https://", adapter)
            self.local.session = found
        return found

    async def webhook(self, url: str, method: str, params: dict[str, str]) -> Answer:
        return await asyncio.get_running_loop().run_in_executor(self.pool, self._webhook, url, method, params)

    async def api(self, path: str, body: dict[str, Any]) -> Answer:
        return await asyncio.get_running_loop().run_in_executor(self.pool, self._api, path, body)

    async def media(self, url: str) -> Answer:
        return await asyncio.get_running_loop().run_in_executor(self.pool, self._media, url)

    def _webhook(self, url: str, method: str, params: dict[str, str]) -> Answer:
        try:
            dest = self.to_target(url)
        except ValueError as exc:
            return Answer(0, "", b"", str(exc))
        headers = self.sim_headers({"User-Agent": "TwilioProxy/1.1 (ivr simulate)"})
        started = time.perf_counter()
        try:
            if method == "GET":
                # Twilio appends the parameters to the URL and signs the result with no body parameters.
                query = urlencode(params)
                sep = "&" if "?" in url else "?"
                headers["X-Twilio-Signature"] = str(self.validator.compute_signature(url + sep + query, {}))
                resp = self.session().get(dest + sep + query, headers=headers, timeout=self.timeout)
            else:
                headers["X-Twilio-Signature"] = str(self.validator.compute_signature(url, params))
                resp = self.session().post(dest, data=params, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            return Answer(0, "", b"", _transport_error(exc, self.target))
        return Answer(resp.status_code, resp.headers.get("Content-Type", ""), resp.content,
                      seconds=time.perf_counter() - started)

    def _api(self, path: str, body: dict[str, Any]) -> Answer:
        try:
            resp = self.session().post(self.target + path, json=body, timeout=self.timeout,
                                       headers=self.sim_headers({"Authorization": f"Bearer {self.api_token}"}))
        except requests.RequestException as exc:
            return Answer(0, "", b"", _transport_error(exc, self.target))
        return Answer(resp.status_code, resp.headers.get("Content-Type", ""), resp.content)

    def _media(self, url: str) -> Answer:
        try:
            resp = self.session().get(self.to_target(url), timeout=self.timeout)
        except (requests.RequestException, ValueError) as exc:
            return Answer(0, "", b"", _transport_error(exc, self.target) if isinstance(exc, requests.RequestException)
                          else str(exc))
        return Answer(resp.status_code, resp.headers.get("Content-Type", ""), resp.content)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _transport_error(exc: BaseException, target: str) -> str:
    if isinstance(exc, requests.Timeout):
        return "no answer within 15 s (Twilio gives up there and tries the fallback URL)"
    if isinstance(exc, requests.ConnectionError):
        return f"cannot connect to {target} (is the service running? `ivr serve`)"
    return f"{type(exc).__name__}: {str(exc)[:120]}"


def wav_seconds(body: bytes) -> float | None:
    """Length of a RIFF/WAVE recording from its header; None when it is not one."""
    if len(body) < 12 or body[:4] != b"RIFF" or body[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, 0
    while pos + 8 <= len(body):
        chunk, size = body[pos:pos + 4], struct.unpack("<I", body[pos + 4:pos + 8])[0]
        if chunk == b"fmt " and size >= 12:
            byte_rate = struct.unpack("<I", body[pos + 16:pos + 20])[0]
        elif chunk == b"data":
            return size / byte_rate if byte_rate else None
        pos += 8 + size + (size & 1)
    return None


# ---- call legs, queues, bridges --------------------------------------------------------------------

class Interrupt(Exception):
    """Something outside the leg's own TwiML happened to it: dequeued, moved by REST, hung up."""

    def __init__(self, kind: str, *, url: str = "", method: str = "POST", twiml: str | None = None,
                 bridge: Bridge | None = None, reason: str = "") -> None:
        super().__init__(f"{kind} {reason}".strip())
        self.kind = kind  # dequeue | redirect | hangup
        self.url = url
        self.method = method
        self.twiml = twiml
        self.bridge = bridge
        self.reason = reason


@dataclass
class Jump:
    """Fetch this URL next (Redirect, an action), or run inline TwiML (a REST update with Twiml)."""

    url: str
    method: str = "POST"
    extra: dict[str, str] = field(default_factory=dict)
    twiml: str | None = None
    on_ok: Callable[[], None] | None = None
    # parameters read when the request leaves (after any throttle wait): QueueTime must be the time then
    late: Callable[[], dict[str, str]] | None = None
    after: Callable[[], None] | None = None  # once the request is over, answered or not


@dataclass
class End:
    status: str = "completed"


LEAVE = "leave"
DONE = "done"
Step = Jump | End | str


@dataclass(eq=False)
class AgentPerson:
    identity: str
    role: str = "agent"  # agent | supervisor
    legs: int = 0


@dataclass(eq=False)
class SimQueue:
    name: str
    sid: str
    max_size: int = 1000
    members: list[Leg] = field(default_factory=list)
    waiters: deque[asyncio.Future[Leg]] = field(default_factory=deque)
    waited_total: float = 0.0
    dequeued: int = 0

    def position(self, leg: Leg) -> int:
        return self.members.index(leg) + 1 if leg in self.members else 1

    def average_wait(self) -> float:
        return self.waited_total / self.dequeued if self.dequeued else 0.0


@dataclass(eq=False)
class QueueCtx:
    """A caller's stay in one queue, from Enqueue until its action is requested."""

    queue: SimQueue
    sid: str
    action: str | None
    method: str
    entered: float
    dequeued_at: float | None = None

    def queue_time(self, now: float) -> int:
        """Twilio's QueueTime: seconds in this queue on the call's own clock, until dequeued."""
        until = self.dequeued_at if self.dequeued_at is not None else now
        return int(max(0.0, until - self.entered))


@dataclass(eq=False)
class Bridge:
    caller: Leg
    agent: Leg
    queue: SimQueue
    url: str | None
    method: str
    ready: asyncio.Future[bool]
    done: asyncio.Future[str]
    queue_time: int = 0
    connected_at: float = 0.0
    # When both legs go on after the bridge (`*`, the agent hanging up), Twilio requests the agent's Dial
    # action and the caller's Enqueue action at the same moment, in no set order: played both ways.
    agent_first: bool = True
    agent_said: asyncio.Future[None] | None = None  # the agent's Dial action is over
    caller_said: asyncio.Future[None] | None = None  # the caller's Enqueue action is over

    def connect(self, at: float) -> None:
        self.connected_at = at
        if not self.ready.done():
            self.ready.set_result(True)

    def finish(self, reason: str) -> None:
        """End the bridge: caller-hangup | agent-hangup | star | caller-moved | caller-gone | agent-gone."""
        if not self.done.done():
            self.done.set_result(reason)
        if not self.ready.done():
            self.ready.set_result(False)


@dataclass(eq=False)
class Leg:
    sid: str
    role: str  # caller | agent | outbound | child
    params: dict[str, str]
    caller: Caller | None = None
    plan: Plan | None = None
    person: AgentPerson | None = None
    status_callback: tuple[str, str] | None = None
    started: float = 0.0
    answered: bool = False
    answered_at: float = 0.0
    classified: bool = False
    ended: bool = False
    failed: bool = False
    pending: list[Interrupt] = field(default_factory=list)
    waiter: asyncio.Future[None] | None = None  # resolved to wake the leg from _idle
    nudged: bool = False
    hangup_at: float | None = None
    queue_ctx: QueueCtx | None = None
    bridge: Bridge | None = None
    partner: Leg | None = None
    last_hit: dict[str, float] = field(default_factory=dict)
    documents: int = 0
    scripted: float = 0.0
    fallback_used: bool = False
    queued: bool = False
    taken: bool = False
    next_digits: str | None = None
    dialed: bool = False
    error_code: str = ""
    wait_for: asyncio.Future[None] | None = None  # the partner's request to let go first (PARTNER_WAIT)
    agent_hung_up: bool = False  # its last bridge ended by the agent hanging up: never to be parked now
    missing_dials: deque[float] = field(default_factory=deque)  # leg.scripted at each failed queue dial
    looped: bool = False  # a tight loop on a missing queue was reported for this leg
    sequence: int = 0  # the next status callback's SequenceNumber


# ---- the engine -------------------------------------------------------------------------------------

class Simulator:
    """Plays Twilio (callers, queues, agents, REST moves) against the service at `cfg.target`."""

    def __init__(self, cfg: SimConfig, standin: StandIn | None = None,
                 progress: Callable[[str], None] | None = None, progress_interval: float = 0.5,
                 trace: Callable[[str], None] | None = None) -> None:
        cfg.validate()
        self.cfg = cfg
        self.trace = trace
        self.standin = standin
        self.progress = progress
        self.progress_interval = progress_interval
        self.factor = cfg.factor
        self.rng = random.Random(cfg.seed)
        self.pools = Pools(self.rng)
        self.schedule = build_schedule(cfg, self.rng, self.pools)
        self.counts = Counts()
        self.errors: Counter[str] = Counter()
        self.blocked: set[str] = set()
        self.flagged_calls: set[str] = set()
        self.by_hour = [0] * 24
        self.flags_by_hour = [0] * 24
        self.waits: list[float] = []
        self.latencies: list[float] = []
        self._latency_seen = 0
        self.http = Http(cfg)
        self.queues: dict[str, SimQueue] = {}
        self.legs: dict[str, Leg] = {}
        self.live_callers: set[Leg] = set()
        self.agent_legs: set[Leg] = set()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.side_tasks: set[asyncio.Task[Any]] = set()
        self.media_cache: dict[str, asyncio.Future[float]] = {}
        self.closing = False
        self.stopped = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self.agent_tasks: list[asyncio.Task[Any]] = []
        self._t0 = 0.0
        self._failsafe = _failsafe_body()

    # ---- clock ----------------------------------------------------------------------------------
    def now(self) -> float:
        """Simulated seconds since the start of the run."""
        assert self.loop is not None
        return (self.loop.time() - self._t0) * self.factor

    def real_at(self, sim: float) -> float:
        return self._t0 + sim / self.factor

    def clock(self) -> str:
        moment = datetime(2000, 1, 1) + timedelta(hours=self.cfg.start_hour, seconds=self.now())
        return moment.strftime("%H:%M")

    def hour(self) -> int:
        return int((self.cfg.start_hour + self.now() / 3600) % 24)

    # ---- running ----------------------------------------------------------------------------------
    def run_blocking(self, handle_signals: bool = False) -> Report:
        """Run to the end (or until `request_stop`) and return the report."""
        return asyncio.run(self.run(handle_signals))

    def request_stop(self) -> None:
        """Stop placing calls, hang up the live ones, finish (thread-safe; Ctrl-C in the CLI)."""
        loop, event = self.loop, self._stop_event
        if loop is not None and event is not None:
            loop.call_soon_threadsafe(self._stop_now)

    def _stop_now(self) -> None:
        if self.stopped:  # asked twice: stop the calls where they are, without their last requests
            for task in [*self.tasks, *self.side_tasks, *self.agent_tasks]:
                task.cancel()
            return
        self.stopped = True
        if self._stop_event is not None:
            self._stop_event.set()

    async def run(self, handle_signals: bool = False) -> Report:
        self.loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        if handle_signals:
            import signal

            with contextlib.suppress(NotImplementedError, RuntimeError):
                self.loop.add_signal_handler(signal.SIGINT, self._stop_now)
        self._t0 = self.loop.time()
        self.epoch0_ms = simulated_start_ms(self.cfg.span, self.cfg.start_hour)
        self.http.clock_ms = lambda: self.epoch0_ms + self.now() * 1000
        started = time.monotonic()
        if self.standin is not None:
            self.standin.listener = self
        people = [AgentPerson(a, "agent") for a in self.cfg.agents]
        people += [AgentPerson(s, "supervisor") for s in self.cfg.supervisors]
        self.agent_tasks = agent_tasks = [self.loop.create_task(self._agent_loop(p)) for p in people]
        reporter = self.loop.create_task(self._report_progress()) if self.progress else None
        try:
            await self._place_calls()
            await self._drain()
        finally:
            self.closing = True
            for leg in list(self.agent_legs):
                self._signal(leg, Interrupt("hangup", reason="end of run"))
            await _wait_tasks(agent_tasks, 10.0)
            await _wait_tasks(list(self.side_tasks), 10.0)
            await _wait_tasks(list(self.tasks), 5.0)
            if reporter is not None:
                reporter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reporter
            if self.standin is not None:
                self.standin.listener = None
            self.http.close()
        sim_seconds = self.now() if self.stopped else min(self.now(), self.cfg.span)
        if self.progress:
            self.progress(self.progress_line())
        return Report(self.counts, set(self.blocked), set(self.flagged_calls), Counter(self.errors), self.by_hour,
                      self.flags_by_hour, list(self.waits), list(self.latencies), time.monotonic() - started,
                      sim_seconds, self.factor,
                      self.cfg.start_hour, len(self.schedule), self.cfg.seed, self.stopped)

    async def _place_calls(self) -> None:
        assert self.loop is not None and self._stop_event is not None
        for arrival in self.schedule:
            delay = self.real_at(arrival.at) - self.loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_event.wait(), delay)
            if self.stopped:
                return
            self._spawn(self._inbound_call(arrival))

    async def _drain(self) -> None:
        """Let the live calls finish (bounded), then hang up whoever is left."""
        assert self.loop is not None
        limit = self.cfg.drain if self.cfg.drain is not None else min(120.0, max(10.0, 1800 / self.factor))
        deadline = self.loop.time() + (0.0 if self.stopped else limit)
        while self.live_callers and self.loop.time() < deadline and not self.stopped:
            await asyncio.sleep(0.05)
        for leg in list(self.live_callers):
            self._signal(leg, Interrupt("hangup", reason="end of run"))
        await _wait_tasks(list(self.tasks), 10.0)

    def _spawn(self, coro: Any, side: bool = False) -> None:
        assert self.loop is not None
        task = self.loop.create_task(coro)
        bucket = self.side_tasks if side else self.tasks
        bucket.add(task)
        task.add_done_callback(bucket.discard)

    async def _report_progress(self) -> None:
        assert self.progress is not None
        while True:
            self.progress(self.progress_line())
            await asyncio.sleep(self.progress_interval)

    def progress_line(self) -> str:
        c = self.counts
        return (f"[{self.clock()}] placed {c.placed}/{len(self.schedule)}  queued {c.queued}  answered {c.answered}  "
                f"flagged {c.flagged}  rejected at door {c.door}  live {len(self.live_callers)}  errors {c.errors}")

    # ---- legs --------------------------------------------------------------------------------------
    def _new_leg(self, role: str, params: dict[str, str], **kw: Any) -> Leg:
        leg = Leg(params["CallSid"], role, params, started=self.now(), **kw)
        self.legs[leg.sid] = leg
        if self.standin is not None and role != "child":
            # ringing until its first TwiML answers it (an outbound call was "queued" at creation)
            self.standin.set_call(leg.sid, status="ringing", direction=params.get("Direction", "inbound"),
                                  **{"from": params.get("From", ""), "to": params.get("To", "")})
        return leg

    def _base_params(self, sid: str, from_: str, to: str, direction: str, status: str) -> dict[str, str]:
        return {"CallSid": sid, "AccountSid": self.cfg.account_sid, "From": from_, "To": to, "Caller": from_,
                "Called": to, "CallStatus": status, "Direction": direction, "ApiVersion": API_VERSION}

    def _incoming_params(self, sid: str, caller: Caller, line: str) -> dict[str, str]:
        """The full parameter set of Twilio's incoming-call webhook."""
        p = self._base_params(sid, caller.number, line, "inbound", "ringing")
        geo = {"City": caller.city, "State": caller.state, "Zip": caller.zip, "Country": caller.country}
        for prefix in ("From", "Caller"):
            p.update({f"{prefix}{k}": v for k, v in geo.items()})
        for prefix in ("To", "Called"):
            p.update({f"{prefix}City": "", f"{prefix}State": "", f"{prefix}Zip": "", f"{prefix}Country": "US"})
        if caller.stir:
            p["StirVerstat"] = caller.stir
        return p

    async def _inbound_call(self, arrival: Arrival) -> None:
        sid = "CA" + secrets.token_hex(16)
        leg = self._new_leg("caller", self._incoming_params(sid, arrival.caller, arrival.line), caller=arrival.caller,
                            plan=replace(arrival.plan), status_callback=(self.http.public_url(self.cfg.status_path), "POST"))
        self.counts.placed += 1
        self.by_hour[self.hour()] += 1
        self.live_callers.add(leg)
        first = Jump(self.http.public_url(self.cfg.incoming_path), "POST",
                     {"CallToken": secrets.token_urlsafe(48)})
        await self._drive(leg, first)

    async def _agent_loop(self, person: AgentPerson) -> None:
        """An agent (or supervisor) at the phone: a leg that takes calls; a new one if it ends."""
        assert self.loop is not None
        path = self.cfg.supervisor_path if person.role == "supervisor" else self.cfg.agent_path
        while not self.closing:
            sid = "CA" + secrets.token_hex(16)
            # the agents' TwiML App has the status callback too: the app learns when an agent's leg is over
            leg = self._new_leg("agent", self._base_params(sid, person.identity, AGENT_ACCESS_LINE, "inbound",
                                                           "ringing"), person=person,
                                status_callback=(self.http.public_url(self.cfg.status_path), "POST"))
            person.legs += 1
            self.agent_legs.add(leg)
            try:
                await self._drive(leg, Jump(self.http.public_url(path)))
            finally:
                self.agent_legs.discard(leg)
            if self.closing:
                return
            if not leg.dialed and not leg.failed:
                self._error(f"POST {path}", f"agent {person.identity} was sent away without taking calls "
                                            f"(is it in the service's {'IVR_SUPERVISORS' if person.role == 'supervisor' else 'IVR_AGENTS'}?)")
                leg.failed = True
            # a moment before the phone dials in again; longer after failures (do not hammer a broken target)
            await asyncio.sleep(1.0 if leg.failed else max(0.02, 30 / self.factor))

    def _signal(self, leg: Leg, interrupt: Interrupt) -> None:
        if leg.ended:
            if interrupt.bridge is not None:
                interrupt.bridge.finish("caller-gone")
            return
        leg.pending.append(interrupt)
        _wake(leg)

    def _nudge(self, leg: Leg | None) -> None:
        if leg is not None and not leg.ended:
            leg.nudged = True
            _wake(leg)

    def _checkpoint(self, leg: Leg) -> None:
        if leg.pending:
            raise leg.pending.pop(0)

    async def _idle(self, leg: Leg, seconds: float, until: Iterable[asyncio.Future[Any]] = (),
                    scripted: bool = True, nudge: bool = False) -> bool:
        """Let `seconds` of simulated time pass on this leg. True early when one of `until` is done (or a
        nudge arrives, with nudge=True); raises Interrupt for what happens to the leg meanwhile."""
        assert self.loop is not None
        loop = self.loop
        futures = list(until)
        if scripted and math.isfinite(seconds):
            leg.scripted += max(0.0, seconds)
        deadline = loop.time() + max(0.0, seconds) / self.factor if math.isfinite(seconds) else math.inf

        def wake(_: Any) -> None:
            _wake(leg)

        for f in futures:
            f.add_done_callback(wake)
        try:
            while True:
                if leg.pending:
                    raise leg.pending.pop(0)
                if any(f.done() for f in futures):
                    return True
                if nudge and leg.nudged:
                    leg.nudged = False
                    return True
                now = loop.time()
                if leg.hangup_at is not None and now >= self.real_at(leg.hangup_at):
                    leg.hangup_at = None
                    raise Interrupt("hangup", reason="the caller gave up")
                if now >= deadline:
                    return False
                end = deadline if leg.hangup_at is None else min(deadline, self.real_at(leg.hangup_at))
                # one future per wait, resolved by a timer or by _wake: far cheaper than wait_for's task
                leg.waiter = loop.create_future()
                timer = None if math.isinf(end) else loop.call_at(end, _wake, leg)
                try:
                    await leg.waiter
                finally:
                    leg.waiter = None
                    if timer is not None:
                        timer.cancel()
        finally:
            for f in futures:
                f.remove_done_callback(wake)

    async def _throttle(self, leg: Leg, url: str) -> None:
        """At most one request per `poll_floor` real seconds to one path on one leg (loops only)."""
        assert self.loop is not None
        path = urlsplit(url).path
        last = leg.last_hit.get(path)
        now = self.loop.time()
        if last is not None and self.cfg.poll_floor > 0:
            wait = last + self.cfg.poll_floor - now
            if wait > 0:
                leg.nudged = False
                await self._idle(leg, wait * self.factor, scripted=False, nudge=True)
        leg.last_hit[path] = self.loop.time()

    # ---- requests ------------------------------------------------------------------------------------
    def _error(self, where: str, problem: str) -> None:
        self.counts.errors += 1
        self.errors[f"{where}: {problem}"] += 1

    def _parse(self, answer: Answer) -> tuple[ET.Element | None, str, str]:
        """(TwiML root, problem, Twilio error code)."""
        if answer.error:
            return None, answer.error, "11205" if "15 s" in answer.error else "11200"
        if answer.status != 200:
            hint = ""
            if answer.status == 403:
                hint = " (signature refused: TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL must match the service's)"
            snippet = answer.body[:80].decode("utf-8", "replace").strip().replace("\n", " ")
            return None, f"HTTP {answer.status}{hint} {snippet}".rstrip(), "11200"
        ctype = answer.content_type.split(";")[0].strip().lower()
        if ctype not in ("text/xml", "application/xml"):
            return None, f"Content-Type {ctype or 'missing'}: TwiML must be text/xml", "12300"
        try:
            root = ET.fromstring(answer.body)
        except ET.ParseError as exc:
            return None, f"invalid XML ({exc})", "12100"
        if root.tag != "Response":
            return None, f"root element <{root.tag}>, not <Response>", "12100"
        for verb in root:
            if verb.tag not in TOP_VERBS:
                return None, f"unknown TwiML verb <{verb.tag}>", "12200"
            if verb.tag == "Dial":
                bad = [n.tag for n in verb if n.tag not in DIAL_NOUNS]
                if bad:
                    return None, f"<Dial> cannot hold <{bad[0]}>", "12200"
            if verb.tag == "Gather":
                bad = [n.tag for n in verb if n.tag not in SOUND_VERBS]
                if bad:
                    return None, f"<Gather> cannot hold <{bad[0]}>", "12200"
        if self._failsafe is not None and _same_twiml(root, self._failsafe):
            return None, "the app's fail-safe TwiML (it hit an unexpected error: see the service log)", "12100"
        return root, "", ""

    async def _fetch(self, leg: Leg, jump: Jump, throttle: bool = True) -> ET.Element | None:
        """Request a TwiML URL as Twilio would; None (error counted) when the answer is unusable."""
        try:
            await self._partner_first(leg)
            if jump.twiml is not None:
                root, problem, _code = self._parse(Answer(200, "text/xml", jump.twiml.encode()))
                if root is None:
                    self._error("inline TwiML of a REST update", problem)
                return root
            if throttle:
                await self._throttle(leg, jump.url)
            params = {**leg.params, **jump.extra, **(jump.late() if jump.late is not None else {})}
            answer = await self.http.webhook(jump.url, jump.method, params)
        finally:
            if jump.after is not None:
                jump.after()
        self.counts.requests += 1
        if not answer.error:
            self._sample_latency(answer.seconds)
        self._nudge(leg.partner)
        root, problem, code = self._parse(answer)
        if self.trace is not None:
            self._trace(leg, jump, root, problem, params)
        if root is None:
            self._error(f"{jump.method} {urlsplit(jump.url).path}", problem)
            leg.error_code = code
            return None
        if jump.on_ok is not None:
            jump.on_ok()
        return root

    async def _partner_first(self, leg: Leg) -> None:
        """Let the other side's simultaneous request go first (the two actions at a bridge's end)."""
        first, leg.wait_for = leg.wait_for, None
        if first is not None and not first.done():
            await self._idle(leg, PARTNER_WAIT * self.factor, until=(first,), scripted=False)

    def _sample_latency(self, seconds: float) -> None:
        """A bounded sample (reservoir) of webhook latencies, so a soak run's memory stays flat."""
        self._latency_seen += 1
        if len(self.latencies) < LATENCY_SAMPLE:
            self.latencies.append(seconds)
        else:
            slot = self.rng.randrange(self._latency_seen)
            if slot < LATENCY_SAMPLE:
                self.latencies[slot] = seconds

    def _trace(self, leg: Leg, jump: Jump, root: ET.Element | None, problem: str, params: dict[str, str]) -> None:
        assert self.trace is not None
        shown = {k: v for k, v in params.items() if k in TRACED}
        if root is None:
            answer = f"ERROR {problem}"
        else:
            answer = " ".join(v.tag + (f"({(v.text or '').strip()})" if v.tag in ("Enqueue", "Dial") else "")
                              for v in root) or "(empty)"
        who = leg.person.identity if leg.person else (leg.caller.number if leg.caller else "")
        self.trace(f"{self.clock()} {self.now():9.0f} {leg.role:8} ..{leg.sid[-6:]} {who:14} {jump.method} "
                   f"{urlsplit(jump.url).path} {shown or ''} -> {answer}")

    async def _post_callback(self, url: str, method: str, params: dict[str, str]) -> bool:
        answer = await self.http.webhook(url, method, params)
        self.counts.requests += 1
        if answer.error or not 200 <= answer.status < 300:
            problem = answer.error or f"HTTP {answer.status}"
            self._error(f"{method} {urlsplit(url).path} (status callback)", problem)
            return False
        return True

    # ---- driving a leg through its TwiML -------------------------------------------------------------
    async def _drive(self, leg: Leg, step: Step) -> None:
        status = "completed"
        try:
            while isinstance(step, Jump):
                try:
                    leg.documents += 1
                    if leg.role != "agent" and leg.documents > MAX_DOCUMENTS:
                        self._error(urlsplit(step.url).path, f"more than {MAX_DOCUMENTS} TwiML documents in one call "
                                                             "(a Redirect loop?)")
                        break
                    root = await self._fetch(leg, step)
                    if root is None:
                        leg.failed = True
                        step = self._after_failure(leg, step)
                        continue
                    self._classify(leg, root)
                    step = await self._perform(leg, root, step.url)
                except Interrupt as interrupt:
                    step = await self._on_interrupt(leg, interrupt)
            if isinstance(step, End):
                status = step.status
        except asyncio.CancelledError:
            leg.ended = True
            self.live_callers.discard(leg)
            raise
        await self._finish(leg, status)

    def _after_failure(self, leg: Leg, step: Jump) -> Step:
        """Twilio requests the number's fallback URL once, with ErrorCode and ErrorUrl; else the call ends."""
        if leg.role == "caller" and not leg.fallback_used and step.twiml is None:
            leg.fallback_used = True
            self.counts.fallbacks += 1
            return Jump(self.http.public_url(self.cfg.fallback_path), "POST",
                        {"ErrorCode": leg.error_code or "11200", "ErrorUrl": step.url})
        return End("completed")

    def _classify(self, leg: Leg, root: ET.Element) -> None:
        """The answer to the incoming webhook: answered or not, treated at the door or routed on."""
        if leg.classified:
            return
        leg.classified = True
        leg.params["CallStatus"] = "in-progress"  # the first request said ringing; every later one this
        verbs = [v.tag for v in root]
        leg.answered = not verbs or verbs[0] != "Reject"
        leg.answered_at = self.now()
        if leg.answered and self.standin is not None and leg.role != "child":
            self.standin.set_call(leg.sid, status="in-progress")
        if leg.role != "caller":
            return
        enqueues = [(v.text or "").strip() for v in root if v.tag == "Enqueue"]
        if "Reject" in verbs:
            at_door = True
        elif enqueues:
            at_door = all(name == self.cfg.isolation_queue for name in enqueues)
        else:
            at_door = not any(t in ("Gather", "Redirect", "Dial") for t in verbs)
        if at_door:
            self.counts.door += 1

    async def _perform(self, leg: Leg, root: ET.Element, doc_url: str, mode: str = "call") -> Step:
        """Execute one TwiML document. mode: call | wait (a waitUrl) | whisper (the <Queue url>)."""
        for verb in root:
            tag = verb.tag
            if tag in SOUND_VERBS:
                await self._idle(leg, await self._sound_seconds(verb, doc_url))
            elif mode == "whisper":
                continue
            elif tag == "Redirect":
                target = (verb.text or "").strip()
                if not target:
                    self._error(urlsplit(doc_url).path, "<Redirect> without a URL")
                    return End("completed")
                return Jump(urljoin(doc_url, target), verb.get("method", "POST").upper())
            elif tag == "Hangup":
                return End("completed")
            elif tag == "Reject":
                return End("busy" if verb.get("reason") == "busy" else "no-answer")
            elif tag == "Leave":
                if mode == "wait":
                    return LEAVE
            elif tag == "Gather":
                jump = await self._gather(leg, verb, doc_url)
                if jump is not None:
                    return jump
            elif mode == "wait":
                continue  # Twilio allows only Play, Say, Pause, Hangup, Redirect, Leave and Gather here
            elif tag == "Enqueue":
                step = await self._enqueue(leg, verb, doc_url)
                if step != DONE:
                    return step
            elif tag == "Dial":
                step = await self._dial(leg, verb, doc_url)
                if step != DONE:
                    return step
            elif tag == "Record":
                seconds = min(_num(verb.get("maxLength"), 3600.0), self.rng.uniform(5, 30))
                await self._idle(leg, seconds)
                rec = "RE" + secrets.token_hex(16)
                return Jump(urljoin(doc_url, verb.get("action") or doc_url), verb.get("method", "POST").upper(),
                            {"RecordingSid": rec, "RecordingDuration": str(int(seconds)), "Digits": "hangup",
                             "RecordingUrl": f"https://api.twilio.com/{API_VERSION}/Accounts/{self.cfg.account_sid}"
                                             f"/Recordings/{rec}"})
            elif tag in ("Connect", "Refer"):
                await self._idle(leg, 60)
                return End("completed")
            elif tag == "Echo":
                await self._idle(leg, 10)
        return DONE

    async def _sound_seconds(self, verb: ET.Element, doc_url: str) -> float:
        if verb.tag == "Pause":
            return _num(verb.get("length"), 1.0)
        loops = int(_num(verb.get("loop"), 1.0))
        loops = 3 if loops == 0 else max(1, min(loops, 10))  # loop=0 repeats until something happens
        if verb.tag == "Say":
            return loops * max(1.0, len((verb.text or "").strip()) / 15)
        if verb.get("digits"):
            return 1.0
        url = (verb.text or "").strip()
        if not url:
            self._error(urlsplit(doc_url).path, "<Play> without a URL")
            return 0.0
        return loops * await self._media_seconds(urljoin(doc_url, url))

    async def _media_seconds(self, url: str) -> float:
        """How long a recording plays; fetched once per URL, checked for an audio Content-Type."""
        assert self.loop is not None
        if not self.cfg.check_media or not self.http.under_public(url):
            return PLAY_SECONDS_UNKNOWN
        found = self.media_cache.get(url)
        if found is None:
            found = self.loop.create_future()
            self.media_cache[url] = found
            seconds = PLAY_SECONDS_UNKNOWN
            try:
                answer = await self.http.media(url)
                self.counts.requests += 1
                ctype = answer.content_type.split(";")[0].strip().lower()
                if answer.error or answer.status != 200:
                    self._error(f"GET {urlsplit(url).path}", answer.error or f"HTTP {answer.status} for a <Play> recording")
                elif not ctype.startswith("audio/"):
                    self._error(f"GET {urlsplit(url).path}", f"a <Play> recording served as {ctype or 'no type'}; "
                                                             "Twilio needs audio/wav, audio/mpeg...")
                else:
                    seconds = wav_seconds(answer.body) or PLAY_SECONDS_UNKNOWN
            finally:
                found.set_result(seconds)
        return await asyncio.shield(found)

    async def _gather(self, leg: Leg, verb: ET.Element, doc_url: str) -> Jump | None:
        digits, delay = self._choose_digits(leg)
        if digits:
            await self._idle(leg, delay)  # a key press interrupts the prompts
        else:
            for child in verb:
                if child.tag in SOUND_VERBS:
                    await self._idle(leg, await self._sound_seconds(child, doc_url))
            await self._idle(leg, _num(verb.get("timeout"), 5.0))
        if not digits and verb.get("actionOnEmptyResult") != "true":
            return None  # no input: Twilio carries on with the next verb
        jump = Jump(urljoin(doc_url, verb.get("action") or doc_url), verb.get("method", "POST").upper(),
                    {"Digits": digits})
        partner = leg.partner
        if leg.role == "agent" and partner is not None and digits:
            if digits == FLAG_KEY:
                jump.on_ok = lambda: self._count_flag(partner, "key")
            elif digits in MOVE_KEYS:
                move = MOVE_KEYS[digits]
                jump.on_ok = lambda: self.counts.moves.update([move])
        return jump

    def _choose_digits(self, leg: Leg) -> tuple[str, float]:
        if leg.role == "agent":
            digits, leg.next_digits = leg.next_digits or "", None
            return digits, self.rng.uniform(0.8, 2.5)
        if self.rng.random() < 0.4:  # a caller offered a choice now and then presses 1
            return "1", self.rng.uniform(1.5, 4)
        return "", 0.0

    def _count_flag(self, caller: Leg, via: str) -> None:
        if caller.sid in self.flagged_calls:
            return
        self.flagged_calls.add(caller.sid)
        if via == "key":
            self.counts.flagged_key += 1
        else:
            self.counts.flagged_desk += 1
        self.flags_by_hour[self.hour()] += 1
        if caller.caller is not None and not caller.caller.withheld:
            self.blocked.add(caller.caller.number)

    # ---- queues ------------------------------------------------------------------------------------
    def _queue(self, name: str) -> SimQueue:
        q = self.queues.get(name)
        if q is None:
            q = self.queues[name] = SimQueue(name, "QU" + secrets.token_hex(16))
        return q

    def _join(self, q: SimQueue, leg: Leg) -> None:
        if self.standin is not None:
            info = self.standin.queue_member(q.name, +1)
            q.sid, q.max_size = info["sid"], int(info.get("max_size") or 1000)
        q.members.append(leg)
        self._match(q)

    def _leave(self, q: SimQueue, leg: Leg) -> None:
        if leg in q.members:
            q.members.remove(leg)
            if self.standin is not None:
                self.standin.queue_member(q.name, -1)

    def _pop(self, q: SimQueue) -> Leg | None:
        while q.members:
            leg = q.members[0]
            self._leave(q, leg)
            if not leg.ended:
                return leg
        return None

    def _requeue(self, q: SimQueue, leg: Leg) -> None:
        if leg.ended:
            return
        q.members.insert(0, leg)
        if self.standin is not None:
            self.standin.queue_member(q.name, +1)
        self._match(q)

    def _match(self, q: SimQueue) -> None:
        """An agent waiting on this queue takes the oldest caller."""
        while q.waiters and q.members:
            waiter = q.waiters.popleft()
            if waiter.done():
                continue
            caller = self._pop(q)
            if caller is None:
                q.waiters.appendleft(waiter)
                return
            waiter.set_result(caller)

    def _entered_queue(self, leg: Leg, q: SimQueue) -> None:
        plan = leg.plan or Plan(120)
        if q.name == self.cfg.agents_queue:
            if not leg.queued and leg.role == "caller":
                leg.queued = True
                self.counts.queued += 1
            leg.hangup_at = self.now() + plan.patience
        elif q.name == self.cfg.isolation_queue:
            # some harassers hang up during the analysis message
            leg.hangup_at = self.now() + self.rng.uniform(2, 12) if self.rng.random() < 0.3 else None
        elif q.name.startswith(self.cfg.hold_prefix):
            leg.hangup_at = None  # on hold after `*`: waiting for the agent
        else:
            leg.hangup_at = self.now() + plan.patience

    def _queue_outcome(self, leg: Leg, q: SimQueue, result: str) -> None:
        if q.name == self.cfg.agents_queue and leg.role == "caller":
            if result == "hangup":
                self.counts.abandoned += 1
            elif result == "leave":
                self.counts.let_go += 1
        elif q.name == self.cfg.isolation_queue:
            if result == "leave":
                self.counts.isolation_complete += 1
            elif result == "hangup":
                self.counts.isolation_abandoned += 1

    def _drop_dequeues(self, leg: Leg) -> None:
        for interrupt in [i for i in leg.pending if i.kind == "dequeue"]:
            leg.pending.remove(interrupt)
            if interrupt.bridge is not None:
                interrupt.bridge.finish("caller-gone")

    async def _enqueue(self, leg: Leg, verb: ET.Element, doc_url: str) -> Step:
        name = (verb.text or "").strip() or ("taskrouter" if verb.get("workflowSid") else "")
        if not name:
            self._error(urlsplit(doc_url).path, "<Enqueue> without a queue name")
            return End("completed")
        if leg.agent_hung_up and name.startswith(self.cfg.hold_prefix):
            self._error(f"POST {urlsplit(doc_url).path}", "caller parked after the agent hung up (a private hold "
                                                          "for a decision no agent can make)")
        leg.agent_hung_up = False
        q = self._queue(name)
        action = urljoin(doc_url, verb.get("action") or "") if verb.get("action") else None
        method = verb.get("method", "POST").upper()
        wait_url = urljoin(doc_url, verb.get("waitUrl") or "") if verb.get("waitUrl") else None
        wait_method = verb.get("waitUrlMethod", "POST").upper()
        ctx = QueueCtx(q, q.sid, action, method, self.now())
        bridge: Bridge | None = None
        if len(q.members) >= q.max_size:
            result = "queue-full"
        else:
            leg.queue_ctx = ctx
            self._entered_queue(leg, q)
            self._join(q, leg)
            ctx.sid = q.sid
            try:
                try:
                    result = await self._wait_in_queue(leg, ctx, wait_url, wait_method)
                    dequeued = next((i for i in leg.pending if i.kind == "dequeue"), None)
                    if dequeued is not None:  # an agent took the caller as it was leaving: the bridge wins
                        leg.pending.remove(dequeued)
                        raise dequeued
                except Interrupt as interrupt:
                    if interrupt.kind != "dequeue" or interrupt.bridge is None:
                        raise
                    bridge = interrupt.bridge
                    result = await self._bridged(leg, ctx, bridge)
            finally:
                self._leave(q, leg)
                self._drop_dequeues(leg)
            leg.queue_ctx = None
            leg.hangup_at = None
        self._queue_outcome(leg, q, result)
        ending = bridge.done.result() if bridge is not None and bridge.done.done() else ""
        if result == "ended":  # the caller hung up while bridged
            if bridge is not None:
                _settle(bridge.caller_said)  # no action of the caller's to wait for
            if ACTION_AFTER_BRIDGED_HANGUP and action:
                await self._fetch(leg, Jump(action, method, {"QueueResult": "bridged", "QueueSid": ctx.sid,
                                                             "QueueTime": str(ctx.queue_time(self.now()))}),
                                  throttle=False)
            return End("completed")
        leg.agent_hung_up = ending == "agent-hangup"
        if action is None:
            if bridge is not None:
                _settle(bridge.caller_said)
            return DONE  # no action: Twilio carries on with the next verb
        jump = Jump(action, method, late=lambda: {"QueueResult": result, "QueueSid": ctx.sid,
                                                  "QueueTime": str(ctx.queue_time(self.now()))})
        if bridge is not None and ending in ("star", "agent-hangup"):
            self._after_bridge_order(leg, bridge, jump)
        return jump

    def _after_bridge_order(self, leg: Leg, bridge: Bridge, jump: Jump) -> None:
        """The caller's Enqueue action and the agent's Dial action leave together at Twilio. Agent first: the
        caller's waits for it. Caller first: the agent's waits for this one, and the caller's NEXT request
        (after a 1 s Pause at Twilio) waits for the agent's, which Twilio would have sent long before."""
        said = bridge.caller_said
        if bridge.agent_first:
            leg.wait_for = bridge.agent_said
            jump.after = lambda: _settle(said)
            return
        agent_said = bridge.agent_said

        def after() -> None:
            _settle(said)
            leg.wait_for = agent_said

        jump.after = after

    async def _wait_in_queue(self, leg: Leg, ctx: QueueCtx, wait_url: str | None, wait_method: str) -> str:
        """Play the waitUrl over and over until Leave; dequeue, hang-up and moves arrive as Interrupts. A waitUrl
        that fails, or answers a verb Twilio does not allow there, ends the wait: QueueResult=error."""
        q = ctx.queue
        url, method = wait_url, wait_method
        extra: dict[str, str] = {}
        while True:
            if url is None:
                await self._idle(leg, 30.0)  # Twilio's own hold music
                continue
            await self._throttle(leg, url)  # first: the parameters below are those of the moment it leaves

            def now_params() -> dict[str, str]:
                return {"QueueSid": ctx.sid, "QueuePosition": str(q.position(leg)),
                        "QueueTime": str(ctx.queue_time(self.now())), "AvgQueueTime": str(int(q.average_wait())),
                        "CurrentQueueSize": str(len(q.members))}

            root = await self._fetch(leg, Jump(url, method, extra, late=now_params), throttle=False)
            self._checkpoint(leg)
            if root is None:
                return "error"  # the failure is counted; Twilio ends the wait and tells the Enqueue action
            banned = [v.tag for v in root if v.tag not in WAIT_VERBS]
            if banned:
                self._error(f"{method} {urlsplit(url).path}", f"<{banned[0]}> in waitUrl TwiML (Twilio allows only "
                                                              f"{', '.join(sorted(WAIT_VERBS))})")
                return "error"
            step = await self._perform(leg, root, url, mode="wait")
            if step == LEAVE:
                return "leave"
            if isinstance(step, End):
                raise Interrupt("hangup", reason="the wait TwiML hung up")
            if isinstance(step, Jump):
                url, method, extra = step.url, step.method, step.extra
                continue
            url, method, extra = wait_url, wait_method, {}

    async def _bridged(self, leg: Leg, ctx: QueueCtx, bridge: Bridge) -> str:
        """The caller's side of a bridge: the <Queue url> first, then talk until someone ends it."""
        q = ctx.queue
        now = self.now()
        bridge.queue_time = ctx.queue_time(now)
        ctx.dequeued_at = now
        q.waited_total += now - ctx.entered
        q.dequeued += 1
        leg.hangup_at = None
        leg.bridge = bridge
        leg.partner, bridge.agent.partner = bridge.agent, leg
        if q.name == self.cfg.agents_queue and leg.role in ("caller", "outbound") and not leg.taken:
            leg.taken = True
            if leg.role == "caller":
                self.counts.answered += 1
                self.waits.append(now - ctx.entered)
        if bridge.url:
            await self._queue_url(leg, Jump(bridge.url, bridge.method, {
                "DequeingCallSid": bridge.agent.sid, "QueueSid": ctx.sid, "QueueTime": str(bridge.queue_time)}))
        bridge.connect(self.now())
        await self._idle(leg, math.inf, until=(bridge.done,), scripted=False)
        leg.bridge = None
        return "ended" if bridge.done.result() == "caller-hangup" else "bridged"

    async def _queue_url(self, leg: Leg, jump: Jump | None) -> None:
        """The <Queue url> TwiML on the caller's leg before the bridge: Play, Say, Pause and Redirect only."""
        for _hop in range(10):
            if jump is None:
                return
            root = await self._fetch(leg, jump, throttle=False)
            if root is None:
                return  # counted; the bridge goes ahead
            banned = [v.tag for v in root if v.tag not in QUEUE_URL_VERBS]
            if banned:
                self._error(f"{jump.method} {urlsplit(jump.url).path}",
                            f"<{banned[0]}> in <Queue url> TwiML (Twilio allows only Play, Say, Pause and Redirect)")
                return
            url, jump = jump.url, None
            for verb in root:
                if verb.tag == "Redirect":
                    jump = Jump(urljoin(url, (verb.text or "").strip()), verb.get("method", "POST").upper())
                    break
                await self._idle(leg, await self._sound_seconds(verb, url))
        if jump is not None:
            self._error(f"{jump.method} {urlsplit(jump.url).path}", "more than 10 Redirects in <Queue url> TwiML")

    # ---- the agent's side -------------------------------------------------------------------------
    async def _dial(self, leg: Leg, verb: ET.Element, doc_url: str) -> Step:
        action = verb.get("action")
        method = verb.get("method", "POST").upper()
        timeout = _num(verb.get("timeout"), 30.0)
        queue_noun = verb.find("Queue")
        bridge: Bridge | None = None
        if queue_noun is not None:
            extra, bridge = await self._dial_queue(leg, queue_noun, timeout, doc_url)
        else:
            extra = await self._dial_party(leg, verb, timeout, doc_url)
        ending = bridge.done.result() if bridge is not None and bridge.done.done() else ""
        jump = Jump(urljoin(doc_url, action), method, extra) if action else None
        if bridge is not None and ending in ("star", "agent-hangup"):
            if not bridge.agent_first:
                leg.wait_for = bridge.caller_said
            said = bridge.agent_said
            if jump is None:
                _settle(said)
            else:
                jump.after = lambda: _settle(said)
        if ending == "agent-hangup":
            # Twilio still requests the Dial action of the leg that hung up, its TwiML ignored; then the leg is
            # over and its status callback follows (in _finish).
            leg.params["CallStatus"] = "completed"
            if jump is not None:
                jump.extra["CallStatus"] = "completed"
                await self._fetch(leg, jump, throttle=False)
            return End("completed")
        if jump is None:
            return DONE
        return jump

    def _queue_exists(self, name: str) -> bool:
        """A queue exists at Twilio once created (REST, or a first <Enqueue>): the stand-in's registry says.
        Without a stand-in the app's REST requests go unseen, so every queue is taken to exist."""
        return self.standin is None or self.standin.queue_by_name(name) is not None

    def _missing_queue_dial(self, leg: Leg, name: str, doc_url: str) -> None:
        """Twilio fails the Dial at once; a leg that re-dials without backing off is a tight loop."""
        self.counts.missing_queue_dials += 1
        stamps = leg.missing_dials
        stamps.append(leg.scripted)
        while stamps and stamps[0] <= leg.scripted - 60:
            stamps.popleft()
        if len(stamps) > MISSING_QUEUE_REDIALS_PER_MINUTE + 1 and not leg.looped:
            leg.looped = True
            shown = self.cfg.hold_prefix + "…" if name.startswith(self.cfg.hold_prefix) else name
            self._error(f"POST {urlsplit(doc_url).path}",
                        f"an agent's leg dialled the missing queue {shown!r} {len(stamps)} times in a minute of its "
                        "own TwiML time (a tight loop: Twilio fails each such Dial at once)")

    async def _dial_queue(self, leg: Leg, noun: ET.Element, timeout: float,
                          doc_url: str) -> tuple[dict[str, str], Bridge | None]:
        """<Dial><Queue>: take the oldest caller (waiting up to `timeout`), bridge, talk. A queue that does not
        exist fails at once (DialCallStatus=failed), as Twilio's <Queue> page says."""
        assert self.loop is not None
        name = (noun.text or "").strip()
        leg.dialed = True
        if not self._queue_exists(name):
            self._missing_queue_dial(leg, name, doc_url)
            return {"DialCallStatus": "failed", "DialCallDuration": "0", "ErrorCode": MISSING_QUEUE_ERROR}, None
        q = self._queue(name)
        if self.standin is not None:
            found = self.standin.queue_by_name(name)
            if found is not None:
                q.sid = str(found["sid"])
        url = urljoin(doc_url, noun.get("url") or "") if noun.get("url") else None
        method = noun.get("method", "POST").upper()
        started = self.now()
        budget = max(timeout, max(IDLE_DIAL_FLOOR, self.cfg.poll_floor) * self.factor)
        while True:
            caller = self._pop(q)
            if caller is None:
                remaining = budget - (self.now() - started)
                if remaining <= 0:
                    return {"DialCallStatus": "no-answer", "DialCallDuration": "0", "QueueSid": q.sid}, None
                waiter: asyncio.Future[Leg] = self.loop.create_future()
                q.waiters.append(waiter)
                try:
                    got = await self._idle(leg, remaining, until=(waiter,))
                except Interrupt:
                    if waiter.done() and not waiter.cancelled():
                        self._requeue(q, waiter.result())  # taken as the agent went: back to the head
                    raise
                finally:
                    if not waiter.done():
                        waiter.cancel()
                if not got:
                    continue
                caller = waiter.result()
            bridge = Bridge(caller, leg, q, url, method, self.loop.create_future(), self.loop.create_future(),
                            agent_first=self.rng.random() < 0.5, agent_said=self.loop.create_future(),
                            caller_said=self.loop.create_future())
            leg.next_digits = None
            self._signal(caller, Interrupt("dequeue", bridge=bridge))
            try:
                await self._idle(leg, math.inf, until=(bridge.ready,), scripted=False)
            except Interrupt:
                bridge.finish("agent-gone")
                raise
            if bridge.ready.result():
                break  # else the caller went before the bridge: take the next one
        try:
            await self._converse(leg, bridge)
        except Interrupt:
            bridge.finish("agent-gone")
            raise
        talk = str(int(self.now() - bridge.connected_at))
        # CallStatus: the agent's own leg; still on the line after `*` or the caller's hang-up (in-progress)
        return {"DialCallStatus": "completed", "DialCallDuration": talk, "QueueSid": q.sid,
                "DequeuedCallSid": caller.sid, "DequeuedCallQueueTime": str(bridge.queue_time),
                "DequeuedCallDuration": talk, "CallStatus": leg.params.get("CallStatus", "in-progress")}, bridge

    async def _converse(self, agent: Leg, bridge: Bridge) -> None:
        """The conversation, played on the agent's leg: who ends it, and how."""
        caller = bridge.caller
        plan = caller.plan or Plan(self.rng.uniform(30, 180))
        acts = plan.action is not None and plan.act_after < plan.talk
        if acts:
            if await self._idle(agent, plan.act_after, until=(bridge.done,)):
                return
            if plan.action == "desk":
                self._spawn(self._desk_flag(agent, caller), side=True)
                caller.plan = replace(plan, action=None)
                stay = max(plan.talk - plan.act_after, DESK_MOVE_WAIT * self.factor)
                if not await self._idle(agent, stay, until=(bridge.done,)):
                    bridge.finish("caller-hangup")
                return
            # `*` on the agent's phone (hangupOnStar), then a key in the window that follows
            remaining = plan.talk - plan.act_after
            if plan.action == "key":
                agent.next_digits = FLAG_KEY
            elif plan.action == "resume":
                agent.next_digits = RESUME_KEY
                caller.plan = Plan(remaining, patience=plan.patience)
            elif plan.action == "move":
                agent.next_digits = plan.digit
                talk = self.rng.uniform(60, 240) if plan.digit == "1" else remaining  # 1: a supervisor talks
                caller.plan = Plan(talk, patience=plan.patience)
            bridge.finish("star")
            return
        if not await self._idle(agent, plan.talk, until=(bridge.done,)):
            if plan.agent_ends and plan.action is None:
                self.counts.agent_hangups += 1
                bridge.finish("agent-hangup")
            else:
                bridge.finish("caller-hangup")
        caller.plan = replace(plan, action=None)
        if plan.action == "key":
            agent.next_digits = FLAG_KEY  # "block last caller": the flag window after the caller hung up
        elif plan.action == "desk":
            self._spawn(self._desk_flag(agent, caller), side=True)

    async def _desk_flag(self, agent: Leg, caller: Leg) -> None:
        """The agent presses the desk's flag button: the JSON API, as the desk calls it."""
        identity = agent.person.identity if agent.person else ""
        answer = await self.http.api(f"/api/calls/{caller.sid}/flag",
                                     {"reason": "harassment", "note": "simulated call"})
        self.counts.requests += 1
        if self.trace is not None:
            self.trace(f"{self.clock()} {self.now():9.0f} desk     ..{caller.sid[-6:]} {identity:14} POST "
                       f"/api/calls/<sid>/flag -> HTTP {answer.status or answer.error}")
        self._nudge(caller)
        if answer.status == 202:
            self._count_flag(caller, "desk")
        elif answer.status != 200:
            snippet = answer.body[:100].decode("utf-8", "replace").strip()
            self._error("POST /api/calls/<sid>/flag", answer.error or f"HTTP {answer.status} {snippet}")

    async def _dial_party(self, leg: Leg, verb: ET.Element, timeout: float, doc_url: str) -> dict[str, str]:
        """<Dial> to a number, client or conference: ring, maybe a whisper on the answering leg, talk."""
        ring = self.rng.uniform(3, 12)
        if ring >= timeout or self.rng.random() < 0.1:
            await self._idle(leg, min(ring, timeout) if ring < timeout else timeout)
            return {"DialCallStatus": "no-answer", "DialCallDuration": "0"}
        await self._idle(leg, ring)
        child_sid = "CA" + secrets.token_hex(16)
        for noun in verb:
            if noun.get("url"):
                to = (noun.text or "").strip()
                child = self._new_leg("child", {**self._base_params(child_sid, leg.params.get("To", ""), to,
                                                                     "outbound-dial", "in-progress"),
                                                "ParentCallSid": leg.sid})
                whisper_url = urljoin(doc_url, noun.get("url") or "")
                root = await self._fetch(child, Jump(whisper_url, noun.get("method", "POST").upper()), throttle=False)
                if root is not None:
                    await self._perform(child, root, whisper_url, mode="whisper")
                break
        talk = self.rng.uniform(30, 180)
        await self._idle(leg, talk)
        return {"DialCallStatus": "completed", "DialCallSid": child_sid, "DialCallDuration": str(int(talk))}

    # ---- what happens to a leg from outside ------------------------------------------------------------
    async def _on_interrupt(self, leg: Leg, interrupt: Interrupt) -> Step:
        self._drop_dequeues(leg)
        if interrupt.kind == "dequeue":
            if interrupt.bridge is not None:
                interrupt.bridge.finish("caller-gone")
            self._error("simulator", "a caller was dequeued outside any queue (please report)")
            return End("completed")
        ctx, bridge = leg.queue_ctx, leg.bridge
        leg.queue_ctx, leg.bridge = None, None
        leg.hangup_at = None
        moved = interrupt.kind == "redirect"
        if ctx is not None:
            self._leave(ctx.queue, leg)
        if bridge is not None:
            bridge.finish("caller-moved" if moved else "caller-gone")
        if ctx is not None:
            if moved:
                result: str | None = "redirected-from-bridged" if bridge is not None else "redirected"
            elif bridge is None:
                result = "hangup"
            else:
                result = "bridged" if ACTION_AFTER_BRIDGED_HANGUP else None
            if result is not None:
                self._queue_outcome(leg, ctx.queue, result)
                if ctx.action:
                    await self._fetch(leg, Jump(ctx.action, ctx.method, {
                        "QueueResult": result, "QueueSid": ctx.sid, "QueueTime": str(ctx.queue_time(self.now()))}),
                        throttle=False)
        if moved:
            return Jump(interrupt.url, interrupt.method, twiml=interrupt.twiml)
        return End("completed")

    async def _finish(self, leg: Leg, status: str) -> None:
        if leg.ended:
            return
        leg.ended = True
        self._drop_dequeues(leg)
        leg.pending.clear()
        self.live_callers.discard(leg)
        self.legs.pop(leg.sid, None)  # REST updates of it now get Twilio's "not in progress"
        if self.standin is not None and leg.role != "child":
            self.standin.set_call(leg.sid, status=status)
            self.standin.end_call(leg.sid)
        duration = int(self.now() - leg.answered_at) if leg.answered else 0
        if await self._status_event(leg, status, duration) and leg.role == "caller":
            self.counts.status_callbacks += 1

    async def _status_event(self, leg: Leg, status: str, duration: int | None = None) -> bool:
        """One status callback as Twilio posts it: the call's parameters, then CallStatus, Timestamp (RFC 2822,
        on the simulated clock), CallbackSource and SequenceNumber (0, 1, ... per call); CallDuration on the
        final one only. False when there is no status callback or it failed (counted)."""
        if leg.status_callback is None:
            return False
        url, method = leg.status_callback
        params = {**leg.params, "CallStatus": status, "Timestamp": self.timestamp(),
                  "CallbackSource": "call-progress-events", "SequenceNumber": str(leg.sequence)}
        leg.sequence += 1
        if duration is not None:
            params["CallDuration"] = str(duration)
        if self.trace is not None:
            self.trace(f"{self.clock()} {self.now():9.0f} {leg.role:8} ..{leg.sid[-6:]} status callback {status}"
                       + (f" after {duration} s" if duration is not None else ""))
        return await self._post_callback(url, method, params)

    def timestamp(self) -> str:
        """Now on the simulated wall clock, as Twilio writes a callback's Timestamp (RFC 2822, +0000)."""
        return format_datetime(datetime.fromtimestamp(self.http.clock_ms() / 1000, UTC))

    # ---- the REST stand-in's listener (called on its request threads) --------------------------------
    def call_updated(self, sid: str, form: dict[str, str]) -> bool:
        """The app updated a call through the REST API: move or end the simulated leg."""
        leg, loop = self.legs.get(sid), self.loop
        if leg is None or leg.ended or loop is None:
            return False
        loop.call_soon_threadsafe(self._rest_update, leg, dict(form))
        return True

    def call_created(self, call: dict[str, Any], form: dict[str, str]) -> None:
        """The app created an outbound call (a callback): ring the callee and run the call's TwiML."""
        loop = self.loop
        if loop is not None and not self.closing:
            loop.call_soon_threadsafe(self._spawn, self._outbound_call(dict(call), dict(form)))

    def _rest_update(self, leg: Leg, form: dict[str, str]) -> None:
        status = form.get("Status", "")
        if self.trace is not None:
            self.trace(f"{self.clock()} {self.now():9.0f} REST     ..{leg.sid[-6:]} update {form}")
        if status in ("completed", "canceled"):
            self._signal(leg, Interrupt("hangup", reason=f"ended by REST ({status})"))
            return
        if form.get("Twiml") or form.get("Url"):
            self.counts.redirects += 1
            self._signal(leg, Interrupt("redirect", url=form.get("Url", ""), method=form.get("Method", "POST").upper(),
                                        twiml=form.get("Twiml") or None))

    async def _outbound_call(self, call: dict[str, Any], form: dict[str, str]) -> None:
        """An outbound-api call, as Twilio places it: queued (the stand-in's answer), initiated, ringing, then
        answered (its Url requested with CallStatus=in-progress) or not (no-answer after Timeout). Status
        callbacks for the StatusCallbackEvent values asked for; `completed` (any final status) always."""
        sid = str(call["sid"])
        to, from_ = form.get("To", ""), form.get("From", "")
        self.counts.callbacks += 1
        callee = self.pools.by_number(to) or Caller("customer", to, False, country="US")
        status_cb = (form["StatusCallback"], form.get("StatusCallbackMethod", "POST").upper()) \
            if form.get("StatusCallback") else None
        events = set(form.get("StatusCallbackEvent", "").replace(",", " ").split())
        leg = self._new_leg("outbound", self._base_params(sid, from_, to, "outbound-api", "in-progress"),
                            caller=callee, plan=plan_for(callee, self.cfg, self.rng), status_callback=status_cb)
        self.live_callers.add(leg)
        ring = self.rng.uniform(4, 20)
        try:
            for event in ("initiated", "ringing"):
                if event in events:
                    await self._status_event(leg, event)
            await self._idle(leg, ring)
            if self.rng.random() < self.cfg.no_answer_share:
                await self._idle(leg, max(0.0, _num(form.get("Timeout"), 60.0) - ring))
                await self._finish(leg, "no-answer")
                return
        except Interrupt:  # ended or moved by REST while ringing
            await self._finish(leg, "canceled")
            return
        if "answered" in events:
            await self._status_event(leg, "in-progress")
        extra: dict[str, str] = {}
        if form.get("MachineDetection"):
            extra["AnsweredBy"] = self.rng.choices(("human", "machine_start", "unknown"), (0.82, 0.13, 0.05))[0]
        if form.get("Twiml"):
            first = Jump(form.get("Url", ""), twiml=form["Twiml"], extra=extra)
        else:
            first = Jump(form.get("Url", ""), form.get("Method", "POST").upper(), extra)
        await self._drive(leg, first)


# ---- helpers -------------------------------------------------------------------------------------------

def _wake(leg: Leg) -> None:
    if leg.waiter is not None and not leg.waiter.done():
        leg.waiter.set_result(None)


def _num(value: str | None, default: float) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except ValueError:
        return default


def _settle(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


def _same_twiml(a: ET.Element, b: ET.Element) -> bool:
    if a.tag != b.tag or (a.text or "").strip() != (b.text or "").strip() or len(a) != len(b):
        return False
    return all(_same_twiml(x, y) for x, y in zip(a, b, strict=True))


def _failsafe_body() -> ET.Element | None:
    """The TwiML the app answers when it hit an unexpected error (valid TwiML, but an error all the same)."""
    try:
        from ivr.app import _fail_safe_twiml

        return ET.fromstring(_fail_safe_twiml().get_data())
    except Exception:  # another version of the app: nothing to compare with
        return None


async def _wait_tasks(tasks: list[asyncio.Task[Any]], timeout: float) -> None:
    pending = [t for t in tasks if not t.done()]
    if not pending:
        return
    _done, still = await asyncio.wait(pending, timeout=timeout)
    for task in still:
        task.cancel()
    if still:
        await asyncio.wait(still, timeout=2.0)
