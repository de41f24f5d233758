"""Live call state in Redis: the caller/agent pairing recorded at the bridge, the private hold, the
agent's decision after `*`, call ends. Every method is one round trip (a pipeline or a small script)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from blocklist import keys, scripts
from blocklist.clock import now_ms
from blocklist.screen import CALL_TTL_MS
from blocklist.text import clean_text

CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
LEG_TTL_S = 86400
DECISIONS = ("isolate", "resume", "end", "escalate", "warn", "callback")
DECISION_TTL_S = 600  # the agent's choice waits this long for the held caller's next poll
# What a caller's record made at the bridge (Calls.pair: the screen never saw the call) may hold.
UNSCREENED_FIELDS = ("number", "line", "lang")


# How the bridge between a caller and an agent ended, as the agent's Dial action says (CallStatus):
AGENT_GONE = "agent_gone"  # the agent's leg is over (hung up): the caller is thanked and the call ends
AGENT_KEPT = "agent_kept"  # the agent is still on the line (`*`, or the caller hung up): the caller is held


def text(value: Any) -> str:
    """A reply item as text, whichever client (decoded or bytes) read it."""
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_legs(raw: Any) -> list[tuple[str, dict[str, str]]]:
    """agent_legs.lua's answer as (leg CallSid, leg fields) pairs."""
    out = []
    for sid, flat in raw or []:
        fields = [text(v) for v in flat]
        out.append((text(sid), dict(zip(fields[::2], fields[1::2], strict=True))))
    return out


def legs_script_call(identities: Iterable[str]) -> tuple[list[str], list[str]]:
    """KEYS and ARGV of agent_legs.lua for these phone identities."""
    return [keys.agent_current_leg(i) for i in identities], [keys.agent_leg("")]


def valid_sid(sid: str | None) -> bool:
    return bool(sid) and bool(CALL_SID.match(sid or ""))


def is_gone(call: dict[str, str]) -> bool:
    """The caller's leg is over (status callback, or hung up while queued or held)."""
    return not call or bool(call.get("ended") or call.get("hung_up"))


@dataclass(frozen=True)
class HoldState:
    decision: str  # '' | isolate | resume | end
    flagged: bool
    ended: bool
    agent_gone: bool = False  # the agent's leg ended while the caller waited for its decision
    deadline_ms: int = 0  # when the held caller stops waiting for a decision (0: not known yet)


class Calls:
    """Caller and agent legs."""

    def __init__(self, connection: redis.Redis) -> None:
        self.r = connection
        self._update = scripts.register(connection, "call_update")  # only calls we know: no key from a forged sid
        self._ended = scripts.register(connection, "call_ended")
        self._isolation_done = scripts.register(connection, "isolation_done")
        self._agent_gone = scripts.register(connection, "agent_gone")
        self._agent_legs = scripts.register(connection, "agent_legs")

    def get(self, sid: str) -> dict[str, str]:
        return dict(self.r.hgetall(keys.call(sid)))

    def update(self, sid: str, **fields: Any) -> bool:
        """Set fields on a known call; False (and no write) for an unknown CallSid."""
        args: list[Any] = []
        for name, value in fields.items():
            args.extend((name, "" if value is None else str(value)))
        return bool(self._update(keys=[keys.call(sid)], args=args))

    # ---- agents ---------------------------------------------------------------------------------
    def agent_dial(self, agent_sid: str, identity: str, at: int | None = None, role: str = "agent") -> dict[str, str]:
        """An agent leg starts (another) Dial to the queue; returns the leg as it was before."""
        at = at or now_ms()
        key = keys.agent_leg(agent_sid)
        pipe = self.r.pipeline(transaction=True)
        pipe.hgetall(key)
        pipe.hsetnx(key, "connected", at)
        pipe.hset(key, mapping={"identity": identity, "dial_started": at, "role": role})
        pipe.expire(key, LEG_TTL_S)
        if identity:
            pipe.set(keys.agent_current_leg(identity), agent_sid, ex=LEG_TTL_S)
            pipe.zadd(keys.AGENTS_ONLINE, {identity: at})
        return dict(pipe.execute()[0])

    def agents_online(self, within_ms: int, at: int | None = None) -> int:
        """How many agent identities asked for a caller recently (an idle agent re-dials every Dial timeout)."""
        return int(self.r.zcount(keys.AGENTS_ONLINE, (at or now_ms()) - within_ms, "+inf"))

    def agent_leg(self, agent_sid: str) -> dict[str, str]:
        return dict(self.r.hgetall(keys.agent_leg(agent_sid)))

    def current_legs(self, identities: Iterable[str]) -> list[tuple[str, dict[str, str]]]:
        """The latest leg of each of these phone identities that is still known, with its fields."""
        pointers, args = legs_script_call(identities)
        return parse_legs(self._agent_legs(keys=pointers, args=args)) if pointers else []

    def pair(self, caller_sid: str, agent_sid: str, at: int | None = None,
             unscreened: Mapping[str, str] | None = None) -> dict[str, str]:
        """Record the bridge (caller leg <-> agent leg); clears any earlier decision. Returns the caller's call.

        A caller the screen never recorded (the door failed open, a call back's answer failed while Redis was
        away) gets its record here, from `unscreened` (number, line as Twilio's request gave them): without one,
        how its bridge ended, its status callback and the agent's desk would all be lost on it, and the desk
        would show the agent "On a call" after the call was over. Only a signed bridge request gets here, so a
        forged CallSid makes no key.
        """
        at = at or now_ms()
        call_key, leg_key = keys.call(caller_sid), keys.agent_leg(agent_sid)
        pipe = self.r.pipeline(transaction=True)
        pipe.hgetall(leg_key)
        pipe.hgetall(call_key)
        pipe.hset(leg_key, mapping={"caller": caller_sid, "bridged_at": at})
        pipe.expire(leg_key, LEG_TTL_S)
        pipe.delete(keys.decision(caller_sid))
        leg, call = pipe.execute()[:2]
        bridged = {"agent_leg": agent_sid, "agent": leg.get("identity", ""), "bridged_at": at, "held": "0",
                   "bridges": int(call.get("bridges", 0)) + 1}
        writes = self.r.pipeline(transaction=True)
        if call:
            writes.hset(call_key, mapping=bridged)
            writes.hdel(call_key, "bridge_end", "bridge_end_at", "hold_deadline")
        else:
            first = {"kind": "caller", "unscreened": "1", "started": at,
                     **{k: clean_text(v, 64) for k, v in (unscreened or {}).items() if k in UNSCREENED_FIELDS}}
            writes.hset(call_key, mapping={**first, **bridged})
            writes.pexpire(call_key, CALL_TTL_MS)
        writes.execute()
        return dict(call)

    def bridge_ended(self, caller_sid: str, how: str, at: int | None = None) -> bool:
        """The agent's Dial action said how the bridge ended (AGENT_GONE or AGENT_KEPT)."""
        return self.update(caller_sid, bridge_end=how, bridge_end_at=at or now_ms())

    def agent_leg_ended(self, agent_sid: str, at: int | None = None) -> str:
        """An agent leg's status callback: mark the leg over; returns the caller it was last bridged to."""
        at = at or now_ms()
        pipe = self.r.pipeline(transaction=True)
        pipe.exists(keys.agent_leg(agent_sid))
        pipe.hget(keys.agent_leg(agent_sid), "caller")
        exists, caller = pipe.execute()
        if not exists:
            return ""
        self.r.hsetnx(keys.agent_leg(agent_sid), "ended", at)
        if caller:
            self._agent_gone(keys=[keys.call(caller)], args=[at, agent_sid])
        return str(caller or "")

    # ---- the private hold after `*` ----------------------------------------------------------------
    def hold_poll(self, caller_sid: str, at: int | None = None) -> HoldState:
        """The held caller's wait URL: mark them held and read the agent's decision, in one trip."""
        at = at or now_ms()
        pipe = self.r.pipeline(transaction=True)
        pipe.get(keys.decision(caller_sid))
        pipe.hmget(keys.call(caller_sid), "flagged", "ended", "bridge_end", "hold_deadline")
        pipe.exists(keys.call(caller_sid))
        decision, (flagged, ended, bridge_end, deadline), exists = pipe.execute()
        if exists and (decision or "") in ("", "resume"):  # a caller about to leave is not "held"
            marks = self.r.pipeline(transaction=False)
            marks.hsetnx(keys.call(caller_sid), "held_at", at)
            marks.hset(keys.call(caller_sid), "held", "1")
            marks.execute()
        return HoldState(decision or "", bool(flagged), bool(ended), bridge_end == AGENT_GONE,
                         int(deadline) if deadline and str(deadline).isdigit() else 0)

    def decide(self, caller_sid: str, decision: str, ttl: int = DECISION_TTL_S) -> None:
        """The agent's choice after `*`, read by the held caller's next poll."""
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}")
        self.r.set(keys.decision(caller_sid), decision, ex=ttl)

    def decision(self, caller_sid: str) -> str:
        return str(self.r.get(keys.decision(caller_sid)) or "")

    # ---- call ends -------------------------------------------------------------------------------
    def ended(self, sid: str, status: str, duration: str, at: int | None = None) -> bool:
        """Status callback: record the end once (plus a status event); False for an unknown CallSid."""
        return bool(self._ended(keys=[keys.call(sid), keys.EVENTS],
                                args=[at or now_ms(), clean_text(status, 32), clean_text(duration, 12), sid]))

    def isolation_started(self, sid: str, at: int | None = None) -> bool:
        return self.update(sid, isolation_started=at or now_ms())

    def isolation_done(self, sid: str, outcome: str, at: int | None = None) -> bool:
        """Isolation played to the end (complete) or the caller hung up (abandoned): one event per call."""
        if not self.r.exists(keys.call(sid)):
            return False
        return bool(self._isolation_done(keys=[keys.call(sid), keys.EVENTS], args=[at or now_ms(), outcome, sid]))
