"""A flag: idempotent per CallSid, the number blocked on the sanction ladder, in one script."""

from __future__ import annotations

from typing import Any

from blocklist import keys
from blocklist.base import BlocklistBase
from blocklist.clock import now_ms
from blocklist.entries import FlagResult
from blocklist.numbers import describe
from blocklist.policy import ladder_text
from blocklist.store import ack_pipeline
from blocklist.text import clean_text

FLAG_ONCE_TTL_S = 30 * 86400


class FlagMixin(BlocklistBase):
    """Flags of calls by agents."""

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
