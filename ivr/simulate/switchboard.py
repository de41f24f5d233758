"""Twilio's queues, played: joining, waiting (the waitUrl loop), the oldest caller first, the bridge."""

from __future__ import annotations

import math
import secrets
import xml.etree.ElementTree as ET
from urllib.parse import urljoin, urlsplit

from ivr.simulate.base import SimulatorBase
from ivr.simulate.callers import Plan
from ivr.simulate.config import ACTION_AFTER_BRIDGED_HANGUP, QUEUE_URL_VERBS, WAIT_VERBS
from ivr.simulate.legs import (
    DONE,
    LEAVE,
    Bridge,
    End,
    Interrupt,
    Jump,
    Leg,
    QueueCtx,
    SimQueue,
    Step,
    settle,
)


class SwitchboardMixin(SimulatorBase):
    """Queues and bridges."""

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
                settle(bridge.caller_said)  # no action of the caller's to wait for
            if ACTION_AFTER_BRIDGED_HANGUP and action:
                await self._fetch(leg, Jump(action, method, {"QueueResult": "bridged", "QueueSid": ctx.sid,
                                                             "QueueTime": str(ctx.queue_time(self.now()))}),
                                  throttle=False)
            return End("completed")
        leg.agent_hung_up = ending == "agent-hangup"
        if action is None:
            if bridge is not None:
                settle(bridge.caller_said)
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
            jump.after = lambda: settle(said)
            return
        agent_said = bridge.agent_said

        def after() -> None:
            settle(said)
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
