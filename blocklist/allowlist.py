"""The allowlist: numbers always let through, on every line or one."""

from __future__ import annotations

import json
from typing import Any

from blocklist import events, keys
from blocklist.base import BlocklistBase
from blocklist.clock import now_ms
from blocklist.text import clean_text


class AllowlistMixin(BlocklistBase):
    """Numbers always let through."""

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
