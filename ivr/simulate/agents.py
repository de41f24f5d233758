"""The agent's side: <Dial><Queue>, talking, `*` and the key menu, desk flags, dialled parties."""

from __future__ import annotations

import asyncio
import math
import secrets
import xml.etree.ElementTree as ET
from dataclasses import replace
from urllib.parse import urljoin, urlsplit

from ivr.simulate.base import SimulatorBase
from ivr.simulate.callers import Plan, desk_category
from ivr.simulate.config import (
    DESK_MOVE_WAIT,
    FLAG_KEY,
    IDLE_DIAL_FLOOR,
    MISSING_QUEUE_ERROR,
    MISSING_QUEUE_REDIALS_PER_MINUTE,
    RESUME_KEY,
)
from ivr.simulate.legs import DONE, Bridge, End, Interrupt, Jump, Leg, Step, num, settle


class AgentsMixin(SimulatorBase):
    """What agents do."""

    async def _dial(self, leg: Leg, verb: ET.Element, doc_url: str) -> Step:
        action = verb.get("action")
        method = verb.get("method", "POST").upper()
        timeout = num(verb.get("timeout"), 30.0)
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
                settle(said)
            else:
                jump.after = lambda: settle(said)
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
        """The agent presses the desk's flag button with the kind of abuse picked: the JSON API, as the desk calls it."""
        identity = agent.person.identity if agent.person else ""
        answer = await self.http.api(f"/api/calls/{caller.sid}/flag",
                                     {"category": desk_category(caller.caller, self.cfg.seed), "note": "simulated call"})
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
