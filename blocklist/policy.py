"""The words a blocklist decision is made of, in one place: treatments, the withheld-caller policies,
the burst rule's actions, the defaults the screen uses, and which settings a line (or all lines) may
change, with their checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import prompts
from blocklist.parse import parse_duration

TREATMENTS = ("reject", "isolation", "linefault", "hangup")
WITHHELD_POLICIES = ("allow", "linefault", "isolation", "reject")
BURST_ACTIONS = ("review", *TREATMENTS)
LINE_SETTINGS = ("blocked_treatment", "withheld_policy", "burst_calls", "burst_minutes", "burst_action", "language")
GLOBAL_SETTINGS = ("sanction_ladder", "breather_seconds")  # for all lines only (scope '*')


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


def ladder_text(ladder: tuple[int | None, ...]) -> str:
    """The sanction ladder as stored and read by flag.lua: seconds per step, 'p' for permanent."""
    return ",".join("p" if step is None else str(int(step)) for step in ladder)


def normalize_global_setting(name: str, value: str) -> str:
    """ValueError naming the fix, else the value as stored ('' removes the override)."""
    value = value.strip()
    if value == "":
        return ""
    if name == "sanction_ladder":
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
    if name == "withheld_policy" and value not in WITHHELD_POLICIES:
        raise ValueError(f"withheld_policy must be one of {', '.join(WITHHELD_POLICIES)}")
    if name == "burst_action" and value not in BURST_ACTIONS:
        raise ValueError(f"burst_action must be review or one of {', '.join(TREATMENTS)}")
    if name in ("burst_calls", "burst_minutes") and not value.isdigit():
        raise ValueError(f"{name} must be a whole number (0 turns the burst rule off)")
    if name == "language" and value not in prompts.LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(prompts.LANGUAGES)}")
