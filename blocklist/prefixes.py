"""Range rules: every number starting with a prefix (the longest prefix wins), and the index of their
lengths the screen reads."""

from __future__ import annotations

import json
from typing import Any

from blocklist import events, keys
from blocklist.base import BlocklistBase, log
from blocklist.clock import now_ms
from blocklist.numbers import normalize_prefix
from blocklist.text import clean_text


class PrefixMixin(BlocklistBase):
    """Rules for ranges of numbers."""

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
