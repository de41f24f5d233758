"""Blocks made and changed by hand: add, make permanent or temporary, edit, unblock, history, listing,
erasure."""

from __future__ import annotations

import json
from typing import Any

from blocklist import events, keys
from blocklist.base import BlocklistBase
from blocklist.clock import now_ms
from blocklist.entries import Entry, check_until, with_expiries
from blocklist.parse import format_duration
from blocklist.text import clean_text


def block_length(at: int, until: int | None) -> dict[str, str]:
    """How long a block lasts, as its audit record and history say it: {'lasts': '7d', 'until': ms} or
    permanent (the audit log is read by people asking "for how long?", not only "until when?")."""
    if until is None:
        return {"lasts": "permanent", "until": ""}
    return {"lasts": format_duration(max(1, round((until - at) / 1000))), "until": str(until)}


class BlockMixin(BlocklistBase):
    """Blocks by hand, and every number's history."""

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
        check_until(until)
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
                            lasts=block_length(at, until)["lasts"], **({"source": source} if source else {}))
        events.event(pipe, "block", ts=at, number=number, line="" if scope_ == keys.GLOBAL else scope_,
                    by=entry.by, reason=entry.reason, until=until)
        events.audit(pipe, ts=at, by=entry.by, role=role, action="block", number=number, scope=scope_,
                    reason=entry.reason, **block_length(at, until))

    def entry(self, raw_number: str, scope: str | None = None) -> Entry | None:
        """The active block of a number in a scope, or None."""
        number = self._identity(raw_number)
        scope_ = self._scope(scope, self.default_region)
        data = self.r.hgetall(keys.block(scope_, number))
        return Entry.from_hash(number, scope_, data) if data else None

    def entries(self, raw_number: str) -> list[Entry]:
        """Active blocks of a number in every scope."""
        number = self._identity(raw_number)
        found = []
        for member in self._index_members_for(number):
            scope_ = member.split("|", 1)[0]
            data = self.r.hgetall(keys.block(scope_, number))
            if data:
                found.append(Entry.from_hash(number, scope_, data))
        return found

    def _index_members_for(self, number: str) -> list[str]:
        members = {f"{keys.GLOBAL}|{number}"}
        for member, _score in self.r.zscan_iter(keys.BLOCK_INDEX, match=f"*|{number}"):
            members.add(member)
        return sorted(members)

    def _update(self, number: str, scope_: str, action: str, by: str, reason: str, role: str,
                mapping: dict[str, Any], expire: int | None | str, at: int,
                length: dict[str, str] | None = None) -> Entry:
        """Rewrite one block; `length` (block_length) goes into the history and the audit record of a change
        of the block's end."""
        key = keys.block(scope_, number)
        length = length or {}

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
                                **{k: v for k, v in mapping.items() if k != "reason"},
                                **({"lasts": length["lasts"]} if length else {}))
            events.audit(pipe, ts=at, by=clean_text(by), role=role, action=action, number=number, scope=scope_,
                        reason=clean_text(reason), **length)
            pipe.execute()
            return Entry.from_hash(number, scope_, merged)

        result: Entry = self._watched(key, work)
        return result

    def make_permanent(self, raw_number: str, *, by: str, reason: str, scope: str | None = None,
                       role: str = "manager", at: int | None = None) -> Entry:
        number = self._identity(raw_number)
        at = at or now_ms()
        return self._update(number, self._scope(scope, self.default_region), "permanent", by, reason, role,
                            {"until": ""}, "persist", at, block_length(at, None))

    def make_temporary(self, raw_number: str, *, seconds: int, by: str, reason: str, scope: str | None = None,
                       role: str = "manager", at: int | None = None) -> Entry:
        if seconds <= 0:
            raise ValueError("the remaining block time must be positive")
        number = self._identity(raw_number)
        at = at or now_ms()
        until = at + seconds * 1000
        check_until(until)
        return self._update(number, self._scope(scope, self.default_region), "temporary", by, reason, role,
                            {"until": until}, until, at, block_length(at, until))

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
        pipe.hdel(keys.WARNINGS, number)  # the warnings on record go with the history they are part of
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
                    out.append(Entry.from_hash(number, scope_, data))
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
                    out.append(Entry.from_hash(number, scope_, data))
        return sorted(out, key=lambda e: (e.scope, e.number))

    def prune_index(self) -> int:
        """Drop index members whose block has expired (cosmetic: expiry itself needs no job)."""
        removed = 0
        for member, _score in self.r.zscan_iter(keys.BLOCK_INDEX, count=1000):
            scope_, number = member.split("|", 1)
            if not self.r.exists(keys.block(scope_, number)):
                removed += self.r.zrem(keys.BLOCK_INDEX, member)
        return removed
