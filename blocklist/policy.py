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
SIGNAL_ACTIONS = ("allow", "review", *TREATMENTS)  # what a caller signal's rule may do: let through, list, treat
# The caller signals' rules: STIR/SHAKEN attestation, add-on reputation tiers, line types, and
# campaigns (many numbers of one exchange on one line in a window). Not environment settings: managers set
# them per line or for all lines; these are the defaults when nobody has.
SIGNAL_DEFAULTS = {
    "attest_failed": "review",  # verification failed: listed for a manager, not stopped (customers' carriers fail too)
    "attest_unsigned": "allow",  # unsigned (international, old networks): allowed and counted
    "reputation_high": "90",  # add-on score 0-100 at or above which ...
    "reputation_high_action": "reject",
    "reputation_medium": "60",
    "reputation_medium_action": "review",
    "line_types": "",  # e.g. premium,voip: callers on these line types get line_types_action
    "line_types_action": "review",
    "campaign_numbers": "5",  # more than this many different numbers of one exchange on one line ...
    "campaign_minutes": "10",  # ... within this many minutes is a campaign
    "campaign_action": "review",  # review puts the exchange on the review list
}
SIGNAL_SETTINGS = tuple(SIGNAL_DEFAULTS)
# the line types as blocklist.numbers.describe() names them (recorded on every call event)
LINE_TYPES = ("fixed", "mobile", "fixed_or_mobile", "toll_free", "premium", "shared_cost", "voip", "personal",
              "pager", "uan", "voicemail", "unknown")
LINE_SETTINGS = ("blocked_treatment", "withheld_policy", "burst_calls", "burst_minutes", "burst_action", "language",
                 *SIGNAL_SETTINGS)
GLOBAL_SETTINGS = ("sanction_ladder", "breather_seconds",  # for all lines only (scope '*')
                   "exposure_shift_limit", "exposure_week_limit")  # agents' wellbeing (blocklist/exposure.py)


@dataclass(frozen=True)
class Policy:
    """Defaults the screen uses when neither the line nor a manager override says otherwise."""

    blocked_treatment: str = "reject"
    withheld_policy: str = "allow"
    burst_calls: int = 5
    burst_minutes: int = 10
    burst_action: str = "review"
    ladder: tuple[int | None, ...] = (86400, 604800, None)
    campaign_digits: int = 7
    timezone: str = "UTC"  # IVR_TIMEZONE: contact restrictions' hours and their day and week (blocklist/restrictions.py)
    teams: tuple[str, ...] = ()  # IVR_TEAMS' names: where a contact restriction may route a number's calls

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        return cls(
            blocked_treatment=settings.blocked_treatment,
            withheld_policy=settings.withheld_policy,
            burst_calls=settings.burst_calls,
            burst_minutes=settings.burst_minutes,
            burst_action=settings.burst_action,
            ladder=tuple(settings.sanction_ladder),
            campaign_digits=settings.campaign_prefix_digits,
            timezone=settings.timezone,
            teams=tuple(sorted(settings.teams)),
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
    if name in ("exposure_shift_limit", "exposure_week_limit"):
        if not value.isdigit() or not 0 <= int(value) <= 500:
            raise ValueError(f"{name} must be a whole number of difficult calls from 0 (off) to 500")
        return str(int(value))
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
    signal_action = name.endswith("_action") and name != "burst_action" or name.startswith("attest_")
    if signal_action and value not in SIGNAL_ACTIONS:
        raise ValueError(f"{name} must be one of {', '.join(SIGNAL_ACTIONS)} (review: listed for a manager, "
                         "the call goes on)")
    if name in ("reputation_high", "reputation_medium") and not (value.isdigit() and 0 <= int(value) <= 101):
        raise ValueError(f"{name} must be a score from 0 to 100 (101 turns the tier off)")
    if name in ("campaign_numbers", "campaign_minutes") and not (value.isdigit() and int(value) <= 10_000):
        raise ValueError(f"{name} must be a whole number up to 10000 (campaign_numbers 0 turns detection off)")
    if name == "line_types":
        unknown = [t for t in (part.strip() for part in value.split(",")) if t and t not in LINE_TYPES]
        if unknown:
            raise ValueError(f"line_types: {', '.join(unknown)} unknown; use a comma list of {', '.join(LINE_TYPES)}")
