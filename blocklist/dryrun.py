"""Dry run: what a candidate rule would have done over the recorded calls of the last N days.

Reads the `type=call` events of the event stream (stream IDs are milliseconds, so XRANGE by time)
and never writes. Precedence is taken from what the screen recorded: an allowlisted call stays
allowed, a call some rule already treated counts as already treated.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import redis

from blocklist import keys
from blocklist.clock import format_time, now_ms
from blocklist.numbers import WITHHELD, normalize, normalize_prefix
from blocklist.policy import TREATMENTS

KINDS = ("number", "prefix", "withheld", "burst")
WITHHELD_POLICIES = ("allow", "linefault", "isolation", "reject")
MAX_DAYS = 400
BATCH = 1000
TOP = 10
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Candidate:
    """A rule as a manager would add it, not yet in force."""

    kind: str  # number | prefix | withheld | burst
    value: str = ""  # E.164 (number), prefix (prefix), policy (withheld)
    line: str = keys.GLOBAL  # the line it would apply to; '*' all lines
    treatment: str = ""  # number/prefix: '' = the line's default treatment
    calls: int = 0  # burst: more than this many calls ...
    minutes: int = 0  # ... within this many minutes
    action: str = "review"  # burst: review or a treatment

    def effect(self) -> str:
        """What the rule does to a call it catches, in words."""
        if self.kind == "burst":
            return "put on the review list" if self.action == "review" else f"treated: {self.action}"
        if self.kind == "withheld":
            return f"treated: {self.value}"
        return "treated: " + (self.treatment or "the line's default treatment")


def candidate(data: Mapping[str, Any], default_region: str = "US") -> Candidate:
    """A Candidate from plain values (API body, CLI options); ValueError saying what to fix."""
    kind = str(data.get("kind") or "").strip().lower()
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} unknown: the rule to try is one of {', '.join(KINDS)}")
    line_raw = str(data.get("line") or "").strip()
    line = keys.GLOBAL
    if line_raw and line_raw != keys.GLOBAL:
        line = normalize(line_raw, default_region)
        if line == WITHHELD:
            raise ValueError("line is the called number (the To number), not a withheld ID")
    treatment = str(data.get("treatment") or "").strip().lower()
    if treatment and treatment not in TREATMENTS:
        raise ValueError(f"treatment {treatment!r} unknown: use one of {', '.join(TREATMENTS)}")
    if kind == "number":
        number = normalize(str(data.get("number") or ""), default_region)
        if number == WITHHELD:
            raise ValueError("number is empty or a withheld ID: give a phone number, or try kind withheld")
        return Candidate(kind, number, line, treatment)
    if kind == "prefix":
        return Candidate(kind, normalize_prefix(str(data.get("prefix") or "")), line, treatment)
    if kind == "withheld":
        policy = str(data.get("policy") or "").strip().lower()
        if policy not in WITHHELD_POLICIES:
            raise ValueError(f"policy {policy!r} unknown: use one of {', '.join(WITHHELD_POLICIES)}")
        return Candidate(kind, policy, line)
    calls, minutes = _whole(data.get("calls"), "calls"), _whole(data.get("minutes"), "minutes")
    action = str(data.get("action") or "review").strip().lower()
    if action not in ("review", *TREATMENTS):
        raise ValueError(f"action {action!r} unknown: use review or one of {', '.join(TREATMENTS)}")
    return Candidate(kind, "", line, "", calls, minutes, action)


def _whole(value: Any, name: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{name} must be a whole number above zero, e.g. 5") from None
    if number <= 0:
        raise ValueError(f"{name} must be a whole number above zero, e.g. 5")
    return number


def days_of(value: Any) -> int:
    """The look-back in days, 1..MAX_DAYS; ValueError otherwise."""
    try:
        days = int(str(value).strip())
    except ValueError:
        raise ValueError(f"days must be a whole number from 1 to {MAX_DAYS}") from None
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be a whole number from 1 to {MAX_DAYS}")
    return days


class _Tally:
    def __init__(self) -> None:
        self.calls = 0
        self.newly = 0
        self.already = 0
        self.numbers: set[str] = set()
        self.newly_numbers: set[str] = set()

    def add(self, number: str, was_allowed: bool) -> None:
        self.calls += 1
        self.numbers.add(number)
        if was_allowed:
            self.newly += 1
            self.newly_numbers.add(number)
        else:
            self.already += 1

    def to_dict(self) -> dict[str, int]:
        return {"calls": self.calls, "numbers": len(self.numbers), "newly_affected_calls": self.newly,
                "newly_affected_numbers": len(self.newly_numbers), "already_treated_calls": self.already}


def _events(conn: redis.Redis, start_ms: int, end_ms: int) -> Iterator[tuple[str, dict[str, str]]]:
    start = f"{start_ms}-0"
    while True:
        batch: list[tuple[str, dict[str, str]]] = conn.xrange(  # type: ignore[assignment]
            keys.EVENTS, min=start, max=f"{end_ms}-18446744073709551615", count=BATCH)
        if not batch:
            return
        yield from batch
        if len(batch) < BATCH:
            return
        start = "(" + batch[-1][0]


def dry_run(conn: redis.Redis, rule: Candidate, days: int, at: int | None = None) -> dict[str, Any]:
    """Replay the last `days` of recorded calls against `rule`; counts per line, nothing written."""
    days = days_of(days)
    end = at or now_ms()
    start = end - days * DAY_MS
    total = _Tally()
    by_line: dict[str, _Tally] = defaultdict(_Tally)
    seen = spared = 0
    per_number: dict[str, int] = defaultdict(int)
    windows: dict[tuple[str, str], deque[int]] = defaultdict(deque)
    window_ms = rule.minutes * 60_000
    for event_id, fields in _events(conn, start, end):
        if fields.get("type") != "call":
            continue
        seen += 1
        number, line = fields.get("number", ""), fields.get("line", "")
        recorded_rule, recorded = fields.get("rule", "none"), fields.get("decision", "allow")
        ts = int(fields.get("ts") or event_id.split("-", 1)[0])
        in_scope = rule.line == keys.GLOBAL or rule.line == line
        if rule.kind == "burst":
            # The screen counts a caller's window only for calls that got past every earlier rule.
            if recorded_rule not in ("none", "burst"):
                continue
            subject = (line if number == WITHHELD else keys.GLOBAL, number)
            window = windows[subject]
            window.append(ts)
            while window and window[0] < ts - window_ms:
                window.popleft()
            hit = in_scope and len(window) > rule.calls
            was_allowed = not (recorded_rule == "burst" and recorded == "treat")
        else:
            hit = in_scope and _matches(rule, number)
            if hit and recorded_rule == "allowlist":
                spared += 1
                continue
            was_allowed = recorded != "treat"
        if hit:
            total.add(number, was_allowed)
            by_line[line].add(number, was_allowed)
            per_number[number] += 1
    top = sorted(per_number.items(), key=lambda item: (-item[1], item[0]))[:TOP]
    return {
        "rule": {k: v for k, v in asdict(rule).items() if v not in ("", 0) or k == "kind"},
        "effect": rule.effect(),
        "days": days,
        "from": format_time(start),
        "to": format_time(end),
        "calls_seen": seen,
        "spared_by_allowlist": spared,
        **total.to_dict(),
        "per_line": [{"line": line, **tally.to_dict()}
                     for line, tally in sorted(by_line.items(), key=lambda item: (-item[1].calls, item[0]))],
        "top_numbers": [{"number": number, "calls": calls} for number, calls in top],
    }


def _matches(rule: Candidate, number: str) -> bool:
    if rule.kind == "withheld":
        return number == WITHHELD and rule.value != "allow"
    if number == WITHHELD:
        return False
    if rule.kind == "number":
        return number == rule.value
    return number.startswith(rule.value)
