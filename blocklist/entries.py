"""What the blocklist hands out: the screen's decision, a flag's outcome, one block as stored."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from blocklist import keys

# A block's end must be a time Redis can expire at and an export can write (9999-12-31T23:59:59.999Z).
MAX_UNTIL_MS = 253402300799999


# the rules that can let a call through and list the caller (or the exchange) for a manager's review
REVIEW_RULES = ("burst", "reputation", "attestation", "line_type", "campaign")
RULE_WORDS = {"number": "number rule", "feed": "bulk feed", "prefix": "prefix rule", "withheld": "withheld rule", "burst": "burst rule",
              "reputation": "caller reputation (add-on)", "attestation": "caller ID attestation (STIR/SHAKEN)",
              "line_type": "line type rule", "campaign": "campaign (many numbers of one exchange)",
              "restriction": "contact restriction"}
ROUTE_PREFIX = "route:"  # an allowed call's treatment when a contact restriction routes it (blocklist/restrictions.py)


@dataclass(frozen=True)
class Decision:
    """What the screen decided for one call, and which rule decided it."""

    decision: str  # allow | treat
    rule: str  # none | allowlist | number | restriction | feed | prefix | withheld | reputation | attestation | line_type | burst | campaign
    treatment: str  # '' when allowed ('route:<queue>' when a contact restriction routes the call)
    detail: str
    replay: bool = False
    language: str = ""

    @property
    def blocked(self) -> bool:
        return self.decision == "treat"

    @property
    def route(self) -> str:
        """The queue a contact restriction sends this allowed call to ('supervisor', 'team:<name>'), else ''."""
        if self.blocked or not self.treatment.startswith(ROUTE_PREFIX):
            return ""
        return self.treatment[len(ROUTE_PREFIX):]

    def explain(self) -> str:
        """One line a person can read: what happens and why."""
        if self.rule == "restriction" and not self.blocked:
            return f"allow, within the contact restriction ({self.detail})"
        if self.rule == "allowlist":
            return f"allow: on the allowlist ({self.detail})"
        if self.rule in REVIEW_RULES and not self.blocked:
            return f"allow, and put on the review list: {RULE_WORDS[self.rule]}, {self.detail}"
        if not self.blocked:
            return "allow: no rule matches"
        return f"{self.treatment}: {RULE_WORDS.get(self.rule, self.rule + ' rule')} ({self.detail})"


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

    @classmethod
    def from_hash(cls, number: str, scope_: str, data: dict[str, str]) -> Entry:
        """An Entry from a stored block hash."""
        until = data.get("until") or ""
        return cls(
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


def check_until(until: int | None) -> None:
    """ValueError for an end time past the year 9999 (PEXPIREAT would refuse it after the other writes ran)."""
    if until is not None and until > MAX_UNTIL_MS:
        raise ValueError("the block would last past the year 9999; make it permanent instead")


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
        elif item.get("action") in ("unblock", "feed_adopt"):  # a block moved into a feed ends there as a block
            active.pop(scope_, None)
        elif item.get("action") in ("permanent", "temporary") and scope_ in active:
            active[scope_] = {**active[scope_], "until": item.get("until") or None}
    expire_until(at)
    return out
