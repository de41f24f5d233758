"""The blocklist, allowlist, prefix rules and the screen, on Redis.

Screening and flagging are read-decide-write, so each runs as one Lua script (one round trip);
every other multi-key write is one MULTI/EXEC pipeline. History is append-only.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

import redis

from blocklist import events, keys
from blocklist.clock import now_ms
from blocklist.numbers import WITHHELD, describe, normalize, normalize_prefix
from blocklist.policy import TREATMENTS
from blocklist.store import AckPipeline, FastScript, ack_pipeline
from blocklist.text import clean_text

log = logging.getLogger("ivr.blocklist")
CALL_TTL_MS = 30 * 86400 * 1000
FLAG_ONCE_TTL_S = 30 * 86400
# A block's end must be a time Redis can expire at and an export can write (9999-12-31T23:59:59.999Z).
MAX_UNTIL_MS = 253402300799999
LINE_SETTINGS = ("blocked_treatment", "withheld_policy", "burst_calls", "burst_minutes", "burst_action", "language")
GLOBAL_SETTINGS = ("sanction_ladder", "breather_seconds")  # for all lines only (scope '*')
WATCH_RETRIES = 5
# Inside, a caller is E.164 or WITHHELD: the last guard before anything is keyed on it.
_INSIDE_NUMBER = re.compile(r"^(?:\+[1-9][0-9]{1,14}|anonymous)$")


@dataclass(frozen=True)
class Policy:
    """Defaults the screen uses when neither the line nor a manager override says otherwise."""

    blocked_treatment: str = "reject"
    withheld_policy: str = "allow"
    burst_calls: int = 5
    burst_minutes: int = 10
    burst_action: str = "review"
    ladder: tuple[int | None, ...] = (86400, 604800, None)

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        return cls(
            blocked_treatment=settings.blocked_treatment,
            withheld_policy=settings.withheld_policy,
            burst_calls=settings.burst_calls,
            burst_minutes=settings.burst_minutes,
            burst_action=settings.burst_action,
            ladder=tuple(settings.sanction_ladder),
        )


@dataclass(frozen=True)
class Decision:
    """What the screen decided for one call, and which rule decided it."""

    decision: str  # allow | treat
    rule: str  # none | allowlist | number | prefix | withheld | burst
    treatment: str  # '' when allowed
    detail: str
    replay: bool = False
    language: str = ""

    @property
    def blocked(self) -> bool:
        return self.decision == "treat"

    def explain(self) -> str:
        """One line a person can read: what happens and why."""
        if self.rule == "allowlist":
            return f"allow: on the allowlist ({self.detail})"
        if self.rule == "burst" and not self.blocked:
            return f"allow, and put on the review list: burst rule, {self.detail}"
        if not self.blocked:
            return "allow: no rule matches"
        return f"{self.treatment}: {self.rule} rule ({self.detail})"


@dataclass(frozen=True)
class FlagResult:
    """Outcome of a flag: duplicate flags of one call report `duplicate`."""

    status: str  # flagged | duplicate
    blocked: bool
    until_ms: int | None
    step: int
    via: str = ""


@dataclass
class Entry:
    """One active block as stored."""

    number: str
    scope: str
    treatment: str
    reason: str
    by: str
    at: int
    until_ms: int | None
    step: int = 0
    via: str = ""
    call_sid: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["permanent"] = self.until_ms is None
        return data


def for_settings(connection: redis.Redis, settings: Any) -> Blocklist:
    """A Blocklist configured from the service's Settings (policy, region, replica acknowledgement)."""
    return Blocklist(connection, Policy.from_settings(settings), settings.default_region,
                     wait_replicas=settings.wait_replicas, wait_timeout_ms=settings.wait_timeout_ms)


def _script(name: str) -> str:
    return resources.files("blocklist").joinpath(name).read_text()


# Remove one member of a shared hash (allowlist, range rules) and record it, in one step: a WATCH on the
# shared hash would make parallel removals of different members retry each other until they give up.
# KEYS: hash, audit stream[, index zset[, history list]]; ARGV: member, history entry ('' for none), audit
# field/value pairs. Returns 1 when it was there (and is recorded), 0 when nothing was written.
# Build the prefix-lengths index from every rule in one step: a WATCH on the rules' hash would give up
# while parallel adds keep changing it. KEYS rules hash, lengths set; ARGV the "complete" marker.
_INDEX_PREFIX_LENGTHS = """
local seen, lengths = {}, {}
for _, member in ipairs(redis.call('HKEYS', KEYS[1])) do
  local bar = string.find(member, '|', 1, true)
  local n = tostring(string.len(member) - (bar or 0))
  if not seen[n] then seen[n] = true; lengths[#lengths + 1] = n end
end
redis.call('DEL', KEYS[2])
redis.call('SADD', KEYS[2], ARGV[1], unpack(lengths))
return #lengths
"""

_REMOVE_MEMBER = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
if KEYS[3] then redis.call('ZREM', KEYS[3], ARGV[1]) end
if KEYS[4] and ARGV[2] ~= '' then redis.call('RPUSH', KEYS[4], ARGV[2]) end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3))
return 1
"""


class Blocklist:
    """All screening data of one Redis database."""

    def __init__(self, connection: redis.Redis, policy: Policy | None = None, default_region: str = "US",
                 wait_replicas: int = 0, wait_timeout_ms: int = 500) -> None:
        self.r = connection
        self.policy = policy or Policy()
        self.default_region = default_region
        self._screen = FastScript(connection.register_script(_script("screen.lua")))
        self._flag = connection.register_script(_script("flag.lua"))
        self._remove_member = connection.register_script(_REMOVE_MEMBER)
        self._index_prefix_lengths = connection.register_script(_INDEX_PREFIX_LENGTHS)
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self.last_acknowledged: int | None = None

    def _pipeline(self) -> AckPipeline:
        """A MULTI/EXEC pipeline whose writes wait for IVR_WAIT_REPLICAS replicas where there are replicas."""
        return ack_pipeline(self.r, self.wait_replicas, self.wait_timeout_ms)

    def _acked(self, pipe: AckPipeline) -> None:
        self.last_acknowledged = pipe.acknowledged
        if pipe.aof_ok is False:
            log.warning("Redis had not written its AOF within %ss of a flag: the flag is in memory and will be "
                        "in the AOF shortly, but a Redis crash right now could lose it", 3)
        if self.wait_replicas and (pipe.acknowledged or 0) < self.wait_replicas:
            log.warning("write acknowledged by %s of %s replicas within %s ms: it is on the primary (AOF) but "
                        "a failover now could lose it", pipe.acknowledged, self.wait_replicas, self.wait_timeout_ms)

    # ---- normalisation -------------------------------------------------------------------
    def number(self, raw: str) -> str:
        """E.164 or WITHHELD; ValueError with the reason for garbage."""
        return normalize(raw, self.default_region)

    def _identity(self, raw: str) -> str:
        number = self.number(raw)
        if number == WITHHELD:
            raise ValueError("a withheld caller ID is not an identity and cannot be listed; block it by policy instead")
        return number

    def line_scope(self, raw: str | None) -> str:
        """A scope as stored: '*' for all lines (empty or '*'), else the line's E.164; ValueError otherwise."""
        return self._scope(raw, self.default_region)

    @staticmethod
    def _inside(number: str) -> str:
        if not isinstance(number, str) or not _INSIDE_NUMBER.match(number):
            raise ValueError(f"{str(number)[:32]!r} is not a normalised number (E.164 or {WITHHELD!r}); "
                             "normalise it with blocklist.numbers.normalize first")
        return number

    @staticmethod
    def _scope(scope: str | None, region: str = "US") -> str:
        if not scope or scope == keys.GLOBAL:
            return keys.GLOBAL
        number = normalize(scope, region)
        if number == WITHHELD:
            raise ValueError("a line is a phone number (the To number), not a withheld ID")
        return number

    @staticmethod
    def _treatment(treatment: str | None) -> str:
        if not treatment:
            return ""
        if treatment not in TREATMENTS:
            raise ValueError(f"treatment {treatment!r} unknown: use one of {', '.join(TREATMENTS)}")
        return treatment

    # ---- the screen --------------------------------------------------------------------------
    def _screen_args(self, number: str, line: str, call_sid: str, at: int, write: bool,
                     facts: tuple[str, str, str], extra: dict[str, str],
                     languages: tuple[str, str, str] = ("", "", "")) -> tuple[list[str], list[Any]]:
        withheld = number == WITHHELD
        burst_scope = line if withheld else keys.GLOBAL
        script_keys = [
            keys.ALLOW,
            keys.block(keys.GLOBAL, number),
            keys.block(line, number),
            keys.PREFIXES,
            keys.SETTINGS,
            keys.line(line),
            keys.burst(burst_scope, number),
            keys.EVENTS,
            keys.call(call_sid or "-"),
            keys.REVIEW,
            keys.REVIEW_INFO,
            keys.PREFIX_LENGTHS,
        ]
        p = self.policy
        args: list[Any] = [
            number, line, at, call_sid, "1" if write else "0", p.blocked_treatment, p.withheld_policy,
            p.burst_calls, p.burst_minutes, p.burst_action, CALL_TTL_MS, *languages, *facts,
        ]
        for name, value in extra.items():
            args.extend((name, clean_text(value)))
        return script_keys, args

    def screen(self, number: str, line: str, call_sid: str, extra: dict[str, str] | None = None,
               at: int | None = None, write: bool = True, languages: tuple[str, str, str] = ("", "", ""),
               facts: tuple[str, str, str] | None = None) -> Decision:
        """Decide for one call (number already normalised) and record it with its event.

        `languages` = (configured line language, caller-country language, default): the script
        picks the call's prompt language with the managers' overrides in the same round trip.
        `facts` = describe(number) when the caller already has it (numbers.identify()).
        """
        self._inside(number)
        script_keys, args = self._screen_args(number, line, call_sid, at or now_ms(), write, facts or describe(number),
                                              extra or {}, languages)
        d, rule, treatment, detail, origin, lang = self._screen(keys=script_keys, args=args)
        return Decision(d, rule, treatment, detail, replay=origin == "replay", language=lang)

    def check(self, raw_number: str, line: str) -> Decision:
        """The decision the screen would take for a call now, without recording anything."""
        number = self.number(raw_number)
        line_number = self._scope(line, self.default_region)
        return self.screen(number, line_number, "", write=False)

    # ---- flags -------------------------------------------------------------------------------
    def flag(self, number: str, *, call_sid: str, line: str, via: str, agent: str, reason: str = "",
             note: str = "", extra: dict[str, str] | None = None, at: int | None = None) -> FlagResult:
        """Flag one call: idempotent per CallSid; blocks the number on the sanction ladder."""
        self._inside(number)
        if not call_sid:
            raise ValueError("a flag names the call it is about: pass its CallSid")
        ladder = ladder_text(self.policy.ladder)
        region, kind, carrier_name = describe(number)
        fields = {"region": region, "line_type": kind, "carrier": carrier_name, **(extra or {})}
        args: list[Any] = [
            number, at or now_ms(), via, clean_text(agent), clean_text(reason), clean_text(note, 2000),
            call_sid, ladder, line, FLAG_ONCE_TTL_S,
        ]
        for name, value in fields.items():
            args.extend((name, clean_text(value)))
        pipe = ack_pipeline(self.r, self.wait_replicas, self.wait_timeout_ms, transaction=False)
        self._flag(
            keys=[keys.flag_once(call_sid), keys.block(keys.GLOBAL, number), keys.history(number), keys.STRIKES,
                  keys.EVENTS, keys.call(call_sid), keys.BLOCK_INDEX, keys.SETTINGS],
            args=args,
            client=pipe,
        )
        status, blocked, until, step = pipe.execute()[0]
        self._acked(pipe)
        if status == "duplicate":
            return FlagResult("duplicate", False, None, 0, via=blocked)
        return FlagResult(status, blocked == "1", int(until) if until else None, int(step), via=via)

    # ---- manager operations on blocks -----------------------------------------------------------
    def _history_entry(self, pipe: Any, number: str, **entry: Any) -> None:
        pipe.rpush(keys.history(number), json.dumps(entry, sort_keys=True))


    def block(self, raw_number: str, *, by: str, reason: str, scope: str | None = None, treatment: str = "",
              duration: int | None = None, role: str = "manager", at: int | None = None,
              until_ms: int | None = None) -> Entry:
        """Add or replace a block by hand; duration in seconds (or an absolute until_ms), None for permanent."""
        number = self._identity(raw_number)
        scope_ = self._scope(scope, self.default_region)
        treatment = self._treatment(treatment)
        if duration is not None and until_ms is not None:
            raise ValueError("give the block a duration or an end time, not both")
        if duration is not None and duration <= 0:
            raise ValueError("a block's duration must be positive; leave it out for a permanent block")
        at = at or now_ms()
        until = until_ms if duration is None else at + duration * 1000
        if until is not None and until <= at:
            raise ValueError("the block's end time is in the past; give a later time or make it permanent")
        _check_until(until)
        entry = Entry(number, scope_, treatment, clean_text(reason), clean_text(by), at, until)
        pipe = self._pipeline()
        self._block_ops(pipe, entry, role)
        pipe.execute()
        return entry

    def _block_ops(self, pipe: Any, entry: Entry, role: str, source: str = "") -> None:
        """Queue the writes of one manual block (replacing any in its scope) on a MULTI pipeline."""
        number, scope_, at, until = entry.number, entry.scope, entry.at, entry.until_ms
        key = keys.block(scope_, number)
        pipe.delete(key)
        pipe.hset(key, mapping={"treatment": entry.treatment, "reason": entry.reason, "by": entry.by, "via": role,
                                "call_sid": "", "at": at, "step": 0, "until": "" if until is None else until,
                                "line": "" if scope_ == keys.GLOBAL else scope_})
        if until is not None:
            pipe.pexpireat(key, until)
        pipe.zadd(keys.BLOCK_INDEX, {f"{scope_}|{number}": at})
        self._history_entry(pipe, number, at=at, action="block", by=entry.by, role=role, reason=entry.reason,
                            scope=scope_, treatment=entry.treatment, until=until, permanent=until is None,
                            **({"source": source} if source else {}))
        events.event(pipe, "block", ts=at, number=number, line="" if scope_ == keys.GLOBAL else scope_,
                    by=entry.by, reason=entry.reason, until=until)
        events.audit(pipe, ts=at, by=entry.by, role=role, action="block", number=number, scope=scope_,
                    reason=entry.reason)

    def entry(self, raw_number: str, scope: str | None = None) -> Entry | None:
        """The active block of a number in a scope, or None."""
        number = self._identity(raw_number)
        scope_ = self._scope(scope, self.default_region)
        data = self.r.hgetall(keys.block(scope_, number))
        return _entry_from(number, scope_, data) if data else None

    def entries(self, raw_number: str) -> list[Entry]:
        """Active blocks of a number in every scope."""
        number = self._identity(raw_number)
        found = []
        for member in self._index_members_for(number):
            scope_ = member.split("|", 1)[0]
            data = self.r.hgetall(keys.block(scope_, number))
            if data:
                found.append(_entry_from(number, scope_, data))
        return found

    def _index_members_for(self, number: str) -> list[str]:
        members = {f"{keys.GLOBAL}|{number}"}
        for member, _score in self.r.zscan_iter(keys.BLOCK_INDEX, match=f"*|{number}"):
            members.add(member)
        return sorted(members)

    def _watched(self, key: str, work: Any) -> Any:
        """Run read-then-MULTI `work(pipe)` under WATCH on `key`, retrying if a flag or expiry raced it."""
        for _attempt in range(WATCH_RETRIES):
            with self._pipeline() as pipe:
                try:
                    pipe.watch(key)
                    return work(pipe)
                except redis.WatchError:
                    continue
        raise RuntimeError(f"{key} kept changing while being updated; try again")

    def _update(self, number: str, scope_: str, action: str, by: str, reason: str, role: str,
                mapping: dict[str, Any], expire: int | None | str, at: int) -> Entry:
        key = keys.block(scope_, number)

        def work(pipe: Any) -> Entry:
            current = pipe.hgetall(key)
            if not current:
                raise LookupError(f"{number} is not blocked{'' if scope_ == keys.GLOBAL else ' on line ' + scope_}; "
                                  "nothing to change (see `ivr blocklist show`)")
            merged = {**current, **{k: str(v) for k, v in mapping.items()}}
            pipe.multi()
            # The whole entry is written, and its old end time re-applied, so a block that expires
            # during the update is removed again instead of coming back half-written and endless.
            pipe.hset(key, mapping=merged)
            if expire == "persist":
                pipe.persist(key)
            elif isinstance(expire, int):
                pipe.pexpireat(key, expire)
            elif current.get("until"):
                pipe.pexpireat(key, int(current["until"]))
            self._history_entry(pipe, number, at=at, action=action, by=clean_text(by), role=role,
                                reason=clean_text(reason), scope=scope_,
                                **{k: v for k, v in mapping.items() if k != "reason"})
            events.audit(pipe, ts=at, by=clean_text(by), role=role, action=action, number=number, scope=scope_,
                        reason=clean_text(reason))
            pipe.execute()
            return _entry_from(number, scope_, merged)

        result: Entry = self._watched(key, work)
        return result

    def make_permanent(self, raw_number: str, *, by: str, reason: str, scope: str | None = None,
                       role: str = "manager", at: int | None = None) -> Entry:
        number = self._identity(raw_number)
        return self._update(number, self._scope(scope, self.default_region), "permanent", by, reason, role,
                            {"until": ""}, "persist", at or now_ms())

    def make_temporary(self, raw_number: str, *, seconds: int, by: str, reason: str, scope: str | None = None,
                       role: str = "manager", at: int | None = None) -> Entry:
        if seconds <= 0:
            raise ValueError("the remaining block time must be positive")
        number = self._identity(raw_number)
        at = at or now_ms()
        until = at + seconds * 1000
        _check_until(until)
        return self._update(number, self._scope(scope, self.default_region), "temporary", by, reason, role,
                            {"until": until}, until, at)

    def edit_reason(self, raw_number: str, *, reason: str, by: str, scope: str | None = None,
                    role: str = "manager", at: int | None = None) -> Entry:
        number = self._identity(raw_number)
        return self._update(number, self._scope(scope, self.default_region), "edit", by, reason, role,
                            {"reason": clean_text(reason)}, None, at or now_ms())

    def unblock(self, raw_number: str, *, by: str, reason: str, scope: str | None = None, role: str = "manager",
                forgive: bool = False, at: int | None = None) -> bool:
        """Lift a block (appeal). History keeps it; `forgive` also steps the ladder back once.

        False, and nothing written, when the number is not blocked in that scope.
        """
        number = self._identity(raw_number)
        scope_ = self._scope(scope, self.default_region)
        if not reason.strip():
            raise ValueError("say why the number is unblocked (the appeal's outcome); it goes into its history")
        at = at or now_ms()
        key = keys.block(scope_, number)

        def work(pipe: Any) -> bool:
            if not pipe.exists(key):
                return False
            strikes = int(pipe.hget(keys.STRIKES, number) or 0)
            pipe.multi()
            pipe.delete(key)
            pipe.zrem(keys.BLOCK_INDEX, f"{scope_}|{number}")
            if forgive and strikes > 0:
                pipe.hincrby(keys.STRIKES, number, -1)
            self._history_entry(pipe, number, at=at, action="unblock", by=clean_text(by), role=role,
                                reason=clean_text(reason), scope=scope_, forgive=forgive)
            events.event(pipe, "unblock", ts=at, number=number, line="" if scope_ == keys.GLOBAL else scope_,
                        by=clean_text(by), reason=clean_text(reason))
            events.audit(pipe, ts=at, by=clean_text(by), role=role, action="unblock", number=number, scope=scope_,
                        reason=clean_text(reason))
            return bool(pipe.execute()[0])

        return bool(self._watched(key, work))

    def erase(self, raw_number: str) -> dict[str, int]:
        """Remove a number's blocklist memory (history, strikes, blocks and allow entries in every scope,
        review entries): the blocklist half of an audited erasure (the caller audits it)."""
        number = self._identity(raw_number)
        blocks = [m for m in self._index_members_for(number)]
        allows = [m for m in self.r.hscan_iter(keys.ALLOW, match=f"*|{number}")]
        reviews = [m for m, _s in self.r.zscan_iter(keys.REVIEW, match=f"*|{number}")]
        pipe = self._pipeline()
        pipe.delete(keys.history(number))
        pipe.hdel(keys.STRIKES, number)
        for member in blocks:
            scope_ = member.split("|", 1)[0]
            pipe.delete(keys.block(scope_, number))
            pipe.zrem(keys.BLOCK_INDEX, member)
        for member, _meta in allows:
            pipe.hdel(keys.ALLOW, member)
            pipe.zrem(keys.ALLOW_INDEX, member)
        for member in reviews:
            pipe.zrem(keys.REVIEW, member)
            pipe.hdel(keys.REVIEW_INFO, member)
        results = pipe.execute()
        return {"history_entries": 1 if results[0] else 0, "blocks": sum(1 for m in blocks), "allow": len(allows),
                "review": len(reviews)}

    def strikes(self, raw_number: str) -> int:
        return int(self.r.hget(keys.STRIKES, self._identity(raw_number)) or 0)

    def history(self, raw_number: str, at: int | None = None) -> list[dict[str, Any]]:
        """Every flag, block, edit, expiry and unblock of a number, oldest first."""
        number = self._identity(raw_number)
        raw = self.r.lrange(keys.history(number), 0, -1)
        return with_expiries([json.loads(item) for item in raw], at or now_ms())

    def list_blocks(self, scope: str | None = None, start: int = 0, count: int = 100) -> list[Entry]:
        """Active blocks, newest first; stale index members (expired) are skipped."""
        out: list[Entry] = []
        offset = start
        while len(out) < count:
            members = self.r.zrevrange(keys.BLOCK_INDEX, offset, offset + count * 2 - 1)
            if not members:
                break
            offset += len(members)
            pipe = self.r.pipeline(transaction=False)
            for member in members:
                scope_, number = member.split("|", 1)
                pipe.hgetall(keys.block(scope_, number))
            for member, data in zip(members, pipe.execute(), strict=True):
                scope_, number = member.split("|", 1)
                if data and (scope is None or scope_ == scope):
                    out.append(_entry_from(number, scope_, data))
        return out[:count]

    def iter_blocks(self, batch: int = 500) -> list[Entry]:
        """Every active block, sorted by scope then number (exports); expired ones are skipped."""
        out: list[Entry] = []
        members = [member for member, _score in self.r.zscan_iter(keys.BLOCK_INDEX, count=1000)]
        for i in range(0, len(members), batch):
            chunk = members[i:i + batch]
            pipe = self.r.pipeline(transaction=False)
            for member in chunk:
                scope_, number = member.split("|", 1)
                pipe.hgetall(keys.block(scope_, number))
            for member, data in zip(chunk, pipe.execute(), strict=True):
                if data:
                    scope_, number = member.split("|", 1)
                    out.append(_entry_from(number, scope_, data))
        return sorted(out, key=lambda e: (e.scope, e.number))

    def prune_index(self) -> int:
        """Drop index members whose block has expired (cosmetic: expiry itself needs no job)."""
        removed = 0
        for member, _score in self.r.zscan_iter(keys.BLOCK_INDEX, count=1000):
            scope_, number = member.split("|", 1)
            if not self.r.exists(keys.block(scope_, number)):
                removed += self.r.zrem(keys.BLOCK_INDEX, member)
        return removed

    # ---- allowlist -----------------------------------------------------------------------------
    def allow(self, raw_number: str, *, by: str, reason: str, scope: str | None = None, role: str = "manager",
              at: int | None = None) -> None:
        """Put a number on the allowlist (all lines, or one line): the screen always lets it through."""
        number = self._identity(raw_number)
        scope_ = self._scope(scope, self.default_region)
        pipe = self._pipeline()
        self._allow_ops(pipe, number, scope_, by=by, reason=reason, role=role, at=at or now_ms())
        pipe.execute()

    def _allow_ops(self, pipe: Any, number: str, scope_: str, *, by: str, reason: str, role: str, at: int,
                   source: str = "") -> None:
        member = f"{scope_}|{number}"
        pipe.hset(keys.ALLOW, member, json.dumps({"by": clean_text(by), "reason": clean_text(reason), "at": at}))
        pipe.zadd(keys.ALLOW_INDEX, {member: at})
        self._history_entry(pipe, number, at=at, action="allow", by=clean_text(by), role=role,
                            reason=clean_text(reason), scope=scope_, **({"source": source} if source else {}))
        events.audit(pipe, ts=at, by=clean_text(by), role=role, action="allow", number=number, scope=scope_,
                    reason=clean_text(reason))

    def disallow(self, raw_number: str, *, by: str, reason: str, scope: str | None = None, role: str = "manager",
                 at: int | None = None) -> bool:
        """Take a number off the allowlist; False, and nothing written, when it was not on it."""
        number = self._identity(raw_number)
        scope_ = self._scope(scope, self.default_region)
        at = at or now_ms()
        member = f"{scope_}|{number}"
        history = json.dumps({"at": at, "action": "disallow", "by": clean_text(by), "role": role,
                              "reason": clean_text(reason), "scope": scope_}, sort_keys=True)
        audit = {"ts": at, "by": clean_text(by), "role": role, "action": "disallow", "number": number,
                 "scope": scope_, "reason": clean_text(reason)}
        return self._remove(keys.ALLOW, member, audit, index=keys.ALLOW_INDEX, history=(keys.history(number), history))

    def _remove(self, hash_key: str, member: str, audit: dict[str, Any], index: str = "",
                history: tuple[str, str] | None = None) -> bool:
        """Remove `member` from a shared hash and record it (see _REMOVE_MEMBER); False when it was not there."""
        script_keys = [hash_key, keys.AUDIT, *([index] if index else []), *([history[0]] if history else [])]
        if history and not index:
            raise ValueError("a history entry needs the index key before it")
        args: list[Any] = [member, history[1] if history else ""]
        for name, value in audit.items():
            args.extend((name, "" if value is None else str(value)))
        pipe = self._pipeline()
        self._remove_member(keys=script_keys, args=args, client=pipe)
        removed = bool(pipe.execute()[0])
        self._acked(pipe)
        return removed

    def allowed(self, raw_number: str, scope: str | None = None) -> dict[str, Any] | None:
        number = self._identity(raw_number)
        raw = self.r.hget(keys.ALLOW, f"{self._scope(scope, self.default_region)}|{number}")
        return json.loads(raw) if raw else None

    def list_allowed(self, start: int = 0, count: int = 100) -> list[dict[str, Any]]:
        """Allowlist entries, newest first."""
        members = self.r.zrevrange(keys.ALLOW_INDEX, start, start + count - 1)
        values = self.r.hmget(keys.ALLOW, members) if members else []
        out = []
        for member, raw in zip(members, values, strict=True):
            if raw:
                scope_, number = member.split("|", 1)
                out.append({"number": number, "scope": scope_, **json.loads(raw)})
        return out

    def iter_allowed(self) -> list[dict[str, Any]]:
        """Every allowlist entry, sorted by scope then number (exports)."""
        out = []
        for member, raw in self.r.hscan_iter(keys.ALLOW, count=1000):
            scope_, number = member.split("|", 1)
            out.append({"number": number, "scope": scope_, **json.loads(raw)})
        return sorted(out, key=lambda item: (item["scope"], item["number"]))

    def allow_entries(self, raw_number: str) -> list[dict[str, Any]]:
        """The allowlist entries of one number, in every scope."""
        number = self._identity(raw_number)
        out = []
        for member, raw in self.r.hscan_iter(keys.ALLOW, match=f"*|{number}", count=1000):
            scope_, _ = member.split("|", 1)
            out.append({"number": number, "scope": scope_, **json.loads(raw)})
        return sorted(out, key=lambda item: item["scope"])

    # ---- prefix (range) rules -------------------------------------------------------------------
    def add_prefix(self, raw_prefix: str, *, by: str, reason: str, scope: str | None = None, treatment: str = "",
                   role: str = "manager", at: int | None = None) -> str:
        """Add or replace a range rule: every number starting with the prefix (longest prefix wins)."""
        prefix = normalize_prefix(raw_prefix)
        scope_ = self._scope(scope, self.default_region)
        treatment = self._treatment(treatment)
        pipe = self._pipeline()
        self._prefix_ops(pipe, prefix, scope_, treatment=treatment, by=by, reason=reason, role=role,
                         at=at or now_ms())
        pipe.execute()
        self.ensure_prefix_index()
        return prefix

    def _prefix_ops(self, pipe: Any, prefix: str, scope_: str, *, treatment: str, by: str, reason: str, role: str,
                    at: int) -> None:
        meta = {"treatment": treatment, "by": clean_text(by), "reason": clean_text(reason), "at": at}
        pipe.hset(keys.PREFIXES, f"{scope_}|{prefix}", json.dumps(meta))
        pipe.sadd(keys.PREFIX_LENGTHS, len(prefix))
        events.audit(pipe, ts=at, by=clean_text(by), role=role, action="add_prefix", number=prefix, scope=scope_,
                    reason=clean_text(reason))

    def prefix_rule(self, raw_prefix: str, scope: str | None = None) -> dict[str, Any] | None:
        """One range rule as stored, or None."""
        prefix = normalize_prefix(raw_prefix)
        scope_ = self._scope(scope, self.default_region)
        raw = self.r.hget(keys.PREFIXES, f"{scope_}|{prefix}")
        return {"prefix": prefix, "scope": scope_, **json.loads(raw)} if raw else None

    def remove_prefix(self, raw_prefix: str, *, by: str, reason: str, scope: str | None = None,
                      role: str = "manager", at: int | None = None) -> bool:
        """Drop a range rule; False, and nothing written, when there was none."""
        prefix = normalize_prefix(raw_prefix)
        scope_ = self._scope(scope, self.default_region)
        member = f"{scope_}|{prefix}"

        audit = {"ts": at or now_ms(), "by": clean_text(by), "role": role, "action": "remove_prefix",
                 "number": prefix, "scope": scope_, "reason": clean_text(reason)}
        return self._remove(keys.PREFIXES, member, audit)

    def index_prefix_lengths(self) -> int:
        """Build the set of prefix lengths from every rule and mark it complete; until then the screen tries
        every length (right, only slower). Returns how many lengths the rules have."""

        return int(self._index_prefix_lengths(keys=[keys.PREFIXES, keys.PREFIX_LENGTHS],
                                              args=[keys.PREFIX_LENGTHS_COMPLETE]))

    def ensure_prefix_index(self) -> None:
        """Index the rules' lengths if some rule exists and the index was never built (first rule, or rules
        older than the index); cheap when it was."""
        if not self.r.sismember(keys.PREFIX_LENGTHS, keys.PREFIX_LENGTHS_COMPLETE) and self.r.exists(keys.PREFIXES):
            log.info("indexed the lengths of the range rules: %d", self.index_prefix_lengths())

    def list_prefixes(self) -> list[dict[str, Any]]:
        out = []
        for member, raw in self.r.hscan_iter(keys.PREFIXES, count=1000):
            scope_, prefix = member.split("|", 1)
            out.append({"prefix": prefix, "scope": scope_, **json.loads(raw)})
        return sorted(out, key=lambda item: (item["scope"], item["prefix"]))

    # ---- policy set by managers ----------------------------------------------------------------
    def set_line_setting(self, line: str, name: str, value: str, *, by: str, role: str = "manager") -> None:
        """Override one setting for one line (or globally with line '*')."""
        scope_ = self._scope(line, self.default_region)
        if name in GLOBAL_SETTINGS:
            if scope_ != keys.GLOBAL:
                raise ValueError(f"{name} applies to all lines: set it with line '*'")
            value = normalize_global_setting(name, value)
        else:
            validate_line_setting(name, value)
        key = keys.SETTINGS if scope_ == keys.GLOBAL else keys.line(scope_)
        pipe = self._pipeline()
        if value == "":
            pipe.hdel(key, name)
        else:
            pipe.hset(key, name, value)
        events.audit(pipe, ts=now_ms(), by=clean_text(by), role=role, action="setting", number="", scope=scope_,
                    reason=f"{name}={value}")
        pipe.execute()

    def line_settings(self, line: str) -> dict[str, str]:
        """The overrides stored for one line ('*': the managers' global overrides)."""
        scope_ = self._scope(line, self.default_region)
        return dict(self.r.hgetall(keys.SETTINGS if scope_ == keys.GLOBAL else keys.line(scope_)))

    def effective_settings(self, line: str) -> dict[str, str]:
        """What the screen uses on a line: line override, else global override, else the policy default."""
        scope_ = self._scope(line, self.default_region)
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(keys.SETTINGS)
        pipe.hgetall(keys.line(scope_))
        global_cfg, line_cfg = pipe.execute()
        if scope_ == keys.GLOBAL:
            line_cfg = {}
        p = self.policy
        defaults = {"blocked_treatment": p.blocked_treatment, "withheld_policy": p.withheld_policy,
                    "burst_calls": str(p.burst_calls), "burst_minutes": str(p.burst_minutes),
                    "burst_action": p.burst_action, "language": ""}
        found = {name: line_cfg.get(name) or global_cfg.get(name) or defaults[name] for name in LINE_SETTINGS}
        if scope_ == keys.GLOBAL:
            found["sanction_ladder"] = global_cfg.get("sanction_ladder") or ladder_text(p.ladder)
            found["breather_seconds"] = global_cfg.get("breather_seconds") or ""
        return found

    def review_list(self, count: int = 100) -> list[dict[str, Any]]:
        members = self.r.zrevrange(keys.REVIEW, 0, count - 1)
        values = self.r.hmget(keys.REVIEW_INFO, members) if members else []
        return [json.loads(v) for v in values if v]

    def dismiss_review(self, number: str, line: str | None = None) -> bool:
        subject = f"{line or keys.GLOBAL}|{number}"
        pipe = self._pipeline()
        pipe.zrem(keys.REVIEW, subject)
        pipe.hdel(keys.REVIEW_INFO, subject)
        return bool(pipe.execute()[0])


def _check_until(until: int | None) -> None:
    """ValueError for an end time past the year 9999 (PEXPIREAT would refuse it after the other writes ran)."""
    if until is not None and until > MAX_UNTIL_MS:
        raise ValueError("the block would last past the year 9999; make it permanent instead")


def ladder_text(ladder: tuple[int | None, ...]) -> str:
    """The sanction ladder as stored and read by flag.lua: seconds per step, 'p' for permanent."""
    return ",".join("p" if step is None else str(int(step)) for step in ladder)


def normalize_global_setting(name: str, value: str) -> str:
    """ValueError naming the fix, else the value as stored ('' removes the override)."""
    value = value.strip()
    if value == "":
        return ""
    if name == "sanction_ladder":
        from blocklist.parse import parse_duration

        steps = [part.strip() for part in value.split(",") if part.strip()]
        if not steps or len(steps) > 10:
            raise ValueError("sanction_ladder: write 1 to 10 block lengths, e.g. 24h,7d,permanent")
        try:
            return ladder_text(tuple(None if s == "p" else parse_duration(s) for s in steps))
        except ValueError as exc:
            raise ValueError(f"sanction_ladder: {exc}") from None
    if name == "breather_seconds":
        if not value.isdigit() or not 1 <= int(value) <= 600:
            raise ValueError("breather_seconds must be a whole number of seconds from 1 to 600")
        return value
    raise ValueError(f"unknown setting {name!r}")


def validate_line_setting(name: str, value: str) -> None:
    """ValueError naming the fix when `name=value` is not a setting a line (or '*') can carry."""
    if name not in LINE_SETTINGS:
        raise ValueError(f"unknown line setting {name!r}: use one of {', '.join(LINE_SETTINGS)}")
    _validate_setting(name, value)


def _validate_setting(name: str, value: str) -> None:
    if value == "":
        return
    if name == "blocked_treatment" and value not in TREATMENTS:
        raise ValueError(f"blocked_treatment must be one of {', '.join(TREATMENTS)}")
    if name == "withheld_policy" and value not in ("allow", "linefault", "isolation", "reject"):
        raise ValueError("withheld_policy must be allow, linefault, isolation or reject")
    if name == "burst_action" and value not in ("review", *TREATMENTS):
        raise ValueError(f"burst_action must be review or one of {', '.join(TREATMENTS)}")
    if name in ("burst_calls", "burst_minutes") and not value.isdigit():
        raise ValueError(f"{name} must be a whole number (0 turns the burst rule off)")
    if name == "language" and value not in ("en", "af", "zh", "pt", "vi", "fi"):
        raise ValueError("language must be one of en, af, zh, pt, vi, fi")


def _entry_from(number: str, scope_: str, data: dict[str, str]) -> Entry:
    """An Entry from a stored block hash."""
    until = data.get("until") or ""
    return Entry(
        number=number,
        scope=scope_,
        treatment=data.get("treatment", ""),
        reason=data.get("reason", ""),
        by=data.get("by", ""),
        at=int(data.get("at") or 0),
        until_ms=int(until) if until else None,
        step=int(data.get("step") or 0),
        via=data.get("via", ""),
        call_sid=data.get("call_sid", ""),
    )


def with_expiries(items: list[dict[str, Any]], at: int) -> list[dict[str, Any]]:
    """Insert the expiries Redis carried out by itself (key TTL) into a number's history."""
    out: list[dict[str, Any]] = []
    active: dict[str, dict[str, Any]] = {}  # scope -> block entry in force

    def expire_until(moment: int) -> None:
        for scope_, block in list(active.items()):
            until = block.get("until")
            if until and int(until) <= moment:
                out.append({"at": int(until), "action": "expire", "by": "system", "role": "system",
                            "reason": "block period ended", "scope": scope_})
                del active[scope_]

    for item in items:
        expire_until(int(item.get("at", 0)))
        out.append(item)
        scope_ = item.get("scope", keys.GLOBAL)
        if item.get("action") == "block":
            active[scope_] = item
        elif item.get("action") == "unblock":
            active.pop(scope_, None)
        elif item.get("action") in ("permanent", "temporary") and scope_ in active:
            active[scope_] = {**active[scope_], "until": item.get("until") or None}
    expire_until(at)
    return out
