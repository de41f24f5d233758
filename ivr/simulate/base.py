"""The simulator's state and its plumbing: the clock, running and stopping, legs, waiting, requests."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import secrets
import signal
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from ivr.simulate.callers import Arrival, Caller, Pools, build_schedule
from ivr.simulate.config import (
    AGENT_ACCESS_LINE,
    API_VERSION,
    DIAL_NOUNS,
    LATENCY_SAMPLE,
    PARTNER_WAIT,
    SOUND_VERBS,
    TOP_VERBS,
    TRACED,
    SimConfig,
    simulated_start_ms,
)
from ivr.simulate.http import Answer, Http
from ivr.simulate.legs import (
    AgentPerson,
    Interrupt,
    Jump,
    Leg,
    SimQueue,
    Step,
    failsafe_body,
    same_twiml,
    wait_tasks,
    wake_leg,
)
from ivr.simulate.report import Counts, Report
from ivr.simulate.standin import CallListener, StandIn


class SimulatorBase:
    """The simulator's state and its plumbing: the clock, running and stopping, legs, waiting, requests."""
    """Plays Twilio (callers, queues, agents, REST moves) against the service at `cfg.target`."""

    if TYPE_CHECKING:  # what the other parts of the Simulator (ivr/simulate/engine.py) bring
        async def _drive(self, leg: Leg, step: Step) -> None: ...
        async def _perform(self, leg: Leg, root: ET.Element, doc_url: str, mode: str = "call") -> Step: ...
        async def _sound_seconds(self, verb: ET.Element, doc_url: str) -> float: ...
        async def _status_event(self, leg: Leg, status: str, duration: int | None = None) -> bool: ...
        async def _finish(self, leg: Leg, status: str) -> None: ...
        async def _enqueue(self, leg: Leg, verb: ET.Element, doc_url: str) -> Step: ...
        async def _dial(self, leg: Leg, verb: ET.Element, doc_url: str) -> Step: ...
        def _drop_dequeues(self, leg: Leg) -> None: ...
        def _leave(self, q: SimQueue, leg: Leg) -> None: ...
        def _queue_outcome(self, leg: Leg, q: SimQueue, result: str) -> None: ...
        def _queue(self, name: str) -> SimQueue: ...
        def _pop(self, q: SimQueue) -> Leg | None: ...
        def _requeue(self, q: SimQueue, leg: Leg) -> None: ...
        def _count_flag(self, caller: Leg, via: str) -> None: ...

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
        # the callers' signals (attestation, add-ons, robocalls) draw apart: the rest of a seed's run stays as it was
        self.pools = Pools(self.rng, random.Random(None if cfg.seed is None else f"signals:{cfg.seed}"))
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
        self._failsafe = failsafe_body()

    # ---- clock
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

    # ---- running
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

            with contextlib.suppress(NotImplementedError, RuntimeError):
                self.loop.add_signal_handler(signal.SIGINT, self._stop_now)
        self._t0 = self.loop.time()
        self.epoch0_ms = simulated_start_ms(self.cfg.span, self.cfg.start_hour)
        self.http.clock_ms = lambda: self.epoch0_ms + self.now() * 1000
        started = time.monotonic()
        if self.standin is not None:
            self.standin.listener = cast(CallListener, self)  # the Simulator: RestMixin listens
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
            await wait_tasks(agent_tasks, 10.0)
            await wait_tasks(list(self.side_tasks), 10.0)
            await wait_tasks(list(self.tasks), 5.0)
            if reporter is not None:
                reporter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reporter
            if self.standin is not None:
                self.standin.listener = None
            self.http.close()
        self.counts.busy_retries = self.http.busy_retries
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
        await wait_tasks(list(self.tasks), 10.0)

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

    # ---- legs
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
        """The full parameter set of Twilio's incoming-call webhook (AddOns and CallToken: see _first_request)."""
        p = self._base_params(sid, caller.number, line, "inbound", "ringing")
        geo = {"City": caller.city, "State": caller.state, "Zip": caller.zip, "Country": caller.country}
        for prefix in ("From", "Caller"):
            p.update({f"{prefix}{k}": v for k, v in geo.items()})
        for prefix in ("To", "Called"):
            p.update({f"{prefix}City": "", f"{prefix}State": "", f"{prefix}Zip": "", f"{prefix}Country": "US"})
        if caller.stir:
            p["StirVerstat"] = caller.stir
        return p

    def _first_request(self, arrival: Arrival) -> dict[str, str]:
        """What only the incoming-call request carries: the CallToken and, when an add-on answered, the AddOns JSON
        ("Add-on results are contained in the AddOns parameter in the Incoming Voice TwiML callback")."""
        extra = {"CallToken": secrets.token_urlsafe(48)}
        if arrival.addons:
            extra["AddOns"] = arrival.addons
        return extra

    async def _inbound_call(self, arrival: Arrival) -> None:
        sid = "CA" + secrets.token_hex(16)
        leg = self._new_leg("caller", self._incoming_params(sid, arrival.caller, arrival.line), caller=arrival.caller,
                            plan=replace(arrival.plan), status_callback=(self.http.public_url(self.cfg.status_path), "POST"))
        self.counts.placed += 1
        self.by_hour[self.hour()] += 1
        self.live_callers.add(leg)
        first = Jump(self.http.public_url(self.cfg.incoming_path), "POST", self._first_request(arrival))
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
        wake_leg(leg)

    def _nudge(self, leg: Leg | None) -> None:
        if leg is not None and not leg.ended:
            leg.nudged = True
            wake_leg(leg)

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
            wake_leg(leg)

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
                # one future per wait, resolved by a timer or by wake_leg: far cheaper than wait_for's task
                leg.waiter = loop.create_future()
                timer = None if math.isinf(end) else loop.call_at(end, wake_leg, leg)
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

    # ---- requests
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
        if self._failsafe is not None and same_twiml(root, self._failsafe):
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
