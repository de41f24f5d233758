"""What managers set per line (or for every line), and the review list the burst rule fills."""

from __future__ import annotations

import json
from typing import Any

from blocklist import events, keys
from blocklist.base import BlocklistBase
from blocklist.clock import now_ms
from blocklist.numbers import normalize_prefix
from blocklist.parse import format_ladder
from blocklist.policy import (
    GLOBAL_SETTINGS,
    LINE_SETTINGS,
    SIGNAL_DEFAULTS,
    ladder_text,
    normalize_global_setting,
    validate_line_setting,
)
from blocklist.text import clean_text


class LineSettingsMixin(BlocklistBase):
    """Managers' settings per line, and the review list."""

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
        shown = format_ladder(value) if name == "sanction_ladder" else value  # as people write it, not as stored
        events.audit(pipe, ts=now_ms(), by=clean_text(by), role=role, action="setting", number="", scope=scope_,
                    reason=f"{name}={shown}")
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
                    "burst_action": p.burst_action, "language": "", **SIGNAL_DEFAULTS}
        found = {name: line_cfg.get(name) or global_cfg.get(name) or defaults[name] for name in LINE_SETTINGS}
        if scope_ == keys.GLOBAL:
            found["sanction_ladder"] = global_cfg.get("sanction_ladder") or ladder_text(p.ladder)
            found["breather_seconds"] = global_cfg.get("breather_seconds") or ""
            for name in ("exposure_shift_limit", "exposure_week_limit"):  # read by blocklist/lua/wellbeing.lua
                found[name] = global_cfg.get(name) or ""
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


def review_subject(bl: BlocklistBase, raw: str) -> tuple[str, bool]:
    """What a manager names to take off the review list: a caller's number, else a campaign's exchange
    (+ and its leading digits). (subject, is_exchange); ValueError saying what to write."""
    try:
        return bl.number(raw), False
    except ValueError:
        try:
            return normalize_prefix(raw), True
        except ValueError:
            raise ValueError(f"{raw[:32]!r} is neither a number nor an exchange: write +14155550123 or +1415555") from None
