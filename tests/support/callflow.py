"""Scenario steps shared by the call-flow tests: each step makes the requests Twilio would make, in
Twilio's order, following the URLs in the TwiML it got."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from blocklist import keys
from tests.support.constants import AGENT, CUSTOMER, HARASSER, LINE
from tests.support.twilio_player import Reply, TwilioPlayer, call_sid
from workers.queues import ALL_QUEUES


@dataclass
class Caller:
    sid: str
    number: str
    reply: Reply
    enqueue: Any = None  # the <Enqueue> the caller currently waits in
    log: list[Reply] = field(default_factory=list)


@dataclass
class AgentLeg:
    sid: str
    identity: str
    reply: Reply
    dial: Any = None


def place_call(tw: TwilioPlayer, number: str, line: str = LINE, **extra: str) -> Caller:
    sid = call_sid()
    reply = tw.incoming(sid, number, line, **extra)
    assert reply.status == 200, reply.text
    enqueue = reply.root.find("Enqueue") if reply.root is not None else None
    return Caller(sid, number, reply, enqueue)


def wait_in_queue(tw: TwilioPlayer, caller: Caller, queue_time: int = 0, position: int = 1) -> Reply:
    """Twilio fetches the Enqueue's waitUrl with the queue parameters."""
    params = {"CallSid": caller.sid, "QueueSid": "QU" + "1" * 32, "QueuePosition": str(position),
              "QueueTime": str(queue_time), "AvgQueueTime": "0", "CurrentQueueSize": str(position),
              "AccountSid": tw.account_sid}
    return tw.follow(caller.enqueue, params, attr="waitUrl", method_attr="waitUrlMethod")


def agent_connects(tw: TwilioPlayer, identity: str = AGENT) -> AgentLeg:
    sid = call_sid()
    reply = tw.post("/agent/connect", {"CallSid": sid, "From": identity, "To": "+15557770000",
                                       "AccountSid": tw.account_sid, "Direction": "inbound", "CallStatus": "in-progress"})
    assert reply.status == 200, reply.text
    dial = reply.root.find("Dial") if reply.root is not None else None
    return AgentLeg(sid, identity, reply, dial)


def bridge(tw: TwilioPlayer, agent: AgentLeg, caller: Caller) -> Reply:
    """Twilio dequeues the caller for the agent: the <Queue url> runs on the caller's leg."""
    queue = agent.dial.find("Queue")
    assert queue is not None, "agent's Dial has no <Queue>"
    return tw.follow(queue, {"CallSid": caller.sid, "DequeingCallSid": agent.sid, "QueueSid": "QU" + "2" * 32,
                             "QueueTime": "4", "AccountSid": tw.account_sid}, attr="url")


def bridge_ends(tw: TwilioPlayer, agent: AgentLeg, caller: Caller | None, caller_hung_up: bool = False) -> Reply:
    """`*` (or the caller hanging up) ends the bridge: the agent's Dial action, the caller's Enqueue action."""
    # The agent is still on the line (`*`, or the caller hung up): Twilio says CallStatus=in-progress.
    after = tw.follow(agent.dial, {"CallSid": agent.sid, "CallStatus": "in-progress", "DialCallStatus": "completed",
                                   "DialCallDuration": "42", "AccountSid": tw.account_sid})
    if caller is not None:
        if caller_hung_up:
            tw.post("/voice/status", {"CallSid": caller.sid, "CallStatus": "completed", "CallDuration": "47",
                                      "AccountSid": tw.account_sid})
        else:
            exit_reply = tw.follow(caller.enqueue, {"CallSid": caller.sid, "QueueResult": "bridged",
                                                    "QueueTime": "4", "AccountSid": tw.account_sid})
            caller.log.append(exit_reply)
            held = exit_reply.root.find("Enqueue")
            assert held is not None, f"caller not parked after the bridge:\n{exit_reply.text}"
            caller.enqueue = held
    return after


def press(tw: TwilioPlayer, agent: AgentLeg, after_dial: Reply, digits: str) -> Reply:
    gather = after_dial.first("Gather")
    return tw.follow(gather, {"CallSid": agent.sid, "Digits": digits, "AccountSid": tw.account_sid})


def held_poll(tw: TwilioPlayer, caller: Caller, queue_time: int = 0) -> Reply:
    return wait_in_queue(tw, caller, queue_time)


def leave(tw: TwilioPlayer, caller: Caller, result: str = "leave") -> Reply:
    """The caller leaves its current queue (after <Leave/> or a hang-up): Twilio calls the Enqueue action."""
    reply = tw.follow(caller.enqueue, {"CallSid": caller.sid, "QueueResult": result, "QueueTime": "3",
                                       "AccountSid": tw.account_sid})
    caller.log.append(reply)
    new = reply.root.find("Enqueue") if reply.root is not None else None
    if new is not None:
        caller.enqueue = new
    return reply


# ---- steps the move tests share ----

def events(r: redis.Redis, kind: str) -> list[dict[str, str]]:
    """The events of one type in the stream, oldest first."""
    return [f for _id, f in r.xrange(keys.EVENTS) if f.get("type") == kind]


def star(twilio: Any, number: str = CUSTOMER) -> tuple[Caller, AgentLeg, Any]:
    """A caller bridged to the agent, who presses `*`: the caller waits in its private hold."""
    caller = place_call(twilio, number)
    agent = agent_connects(twilio)
    bridge(twilio, agent, caller)
    after = bridge_ends(twilio, agent, caller)
    held_poll(twilio, caller)  # the caller sits in its private hold
    return caller, agent, after


def worker_with_scheduler(rq_conn: Any) -> None:
    """Every queued job, with rq's scheduler (so jobs scheduled for now run too)."""
    w = SimpleWorker(list(ALL_QUEUES), connection=rq_conn, serializer=JSONSerializer)
    w.work(burst=True, with_scheduler=True)


def bridged_caller(twilio: Any, number: str = HARASSER, identity: str = AGENT, **extra: str) -> tuple[Any, Any]:
    """A caller bridged to an agent's leg (the desk shows it as the agent's live call)."""
    caller = place_call(twilio, number, **extra)
    agent = agent_connects(twilio, identity)
    assert bridge(twilio, agent, caller).status == 200
    return caller, agent
