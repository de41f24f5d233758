"""A simulated call leg and what moves it: jumps to a URL, interrupts from outside, queues, bridges."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ivr.simulate.callers import Caller, Plan
from ivr.webhooks.twiml import fail_safe


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


def wake_leg(leg: Leg) -> None:
    if leg.waiter is not None and not leg.waiter.done():
        leg.waiter.set_result(None)


def num(value: str | None, default: float) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except ValueError:
        return default


def settle(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


def same_twiml(a: ET.Element, b: ET.Element) -> bool:
    if a.tag != b.tag or (a.text or "").strip() != (b.text or "").strip() or len(a) != len(b):
        return False
    return all(same_twiml(x, y) for x, y in zip(a, b, strict=True))


def failsafe_body() -> ET.Element | None:
    """The TwiML the app answers when it hit an unexpected error (valid TwiML, but an error all the same)."""
    try:
        return ET.fromstring(fail_safe().get_data())
    except Exception:  # another version of the app: nothing to compare with
        return None


async def wait_tasks(tasks: list[asyncio.Task[Any]], timeout: float) -> None:
    pending = [t for t in tasks if not t.done()]
    if not pending:
        return
    _done, still = await asyncio.wait(pending, timeout=timeout)
    for task in still:
        task.cancel()
    if still:
        await asyncio.wait(still, timeout=2.0)
