"""The figures of an evaluated month, from its outcomes alone (what each call was, and what happened to it),
so they can be checked on hand-built outcomes with known answers.

Words: a call is *stopped* when the screen treated it at the door (reject, isolation, line fault, hang up):
it never reached an agent. A call put on the review list went on to an agent. *Bad* calls are the
harassers', groups', campaigns' and robocallers'; customers' calls are good. Percentiles are nearest-rank
over every caller of the kind, a caller never stopped counting as "never" (infinitely late), so a p90 of
"never" means more than a tenth of them were never stopped at all.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

MINUTE_MS = 60_000
NEVER = math.inf

# The detection targets for the default policy, with the figure each is read from.
TARGET_CUSTOMER_CALLS = 10_000
TARGET_AFTER_FLAG = 0.55
TARGET_GROUP_LATER = 0.70
TARGET_CAMPAIGN_CALLS = 3
TARGET_CAMPAIGN_MINUTES = 5.0


@dataclass(frozen=True)
class Outcome:
    """One call of the month: the ground truth, and how the screen and the agent handled it."""

    at: int  # ms (virtual time)
    kind: str  # customer | harasser | group | campaign | robocall
    actor: str  # the caller as the ground truth knows it (a person, a group, a campaign)
    number: str
    stopped: bool  # treated at the door: never reached an agent
    rule: str = "none"  # the screen's rule
    agent_seconds: float = 0.0  # time an agent spent on it (until the flag, for a flagged call)
    flagged_at: int | None = None  # when the agent flagged it (ms)
    campaign_mark: bool = False  # the screen said this call is part of a campaign (rule, call field or event)

    @property
    def bad(self) -> bool:
        return self.kind != "customer"


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (share 0.5 = median, 0.9 = p90); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _by_actor(outcomes: Iterable[Outcome], kind: str) -> dict[str, list[Outcome]]:
    found: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        if o.kind == kind:
            found[o.actor].append(o)
    for calls in found.values():
        calls.sort(key=lambda o: o.at)
    return found


def _spread(values: list[float]) -> dict[str, Any]:
    """Median, p90 and worst of per-caller values (inf = never), written for JSON (None = never)."""
    def clean(v: float | None) -> float | None:
        return None if v is None or v == NEVER else round(v, 2)
    return {"median": clean(percentile(values, 0.5)), "p90": clean(percentile(values, 0.9)),
            "worst": clean(max(values) if values else None)}


def door(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Precision and recall of the stops at the door, and the stops of each kind of caller."""
    stopped = [o for o in outcomes if o.stopped]
    bad = [o for o in outcomes if o.bad]
    stopped_bad = sum(1 for o in stopped if o.bad)
    kinds = sorted({o.kind for o in outcomes})
    by_kind = {k: {"calls": sum(1 for o in outcomes if o.kind == k),
                   "stopped": sum(1 for o in stopped if o.kind == k)} for k in kinds}
    return {"stopped": len(stopped), "bad_calls": len(bad), "stopped_bad": stopped_bad,
            "precision": _ratio(stopped_bad, len(stopped)), "recall": _ratio(stopped_bad, len(bad)),
            "by_kind": by_kind}


def false_blocks(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Customers stopped at the door: calls and distinct customers, out of all customer calls."""
    customers = [o for o in outcomes if o.kind == "customer"]
    stopped = [o for o in customers if o.stopped]
    return {"calls": len(stopped), "customers": len({o.actor for o in stopped}), "customer_calls": len(customers),
            "distinct_customers": len({o.actor for o in customers}),
            "rules": dict(sorted(_count(o.rule for o in stopped).items()))}


def _count(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for item in items:
        out[item] += 1
    return out


def time_to_block(outcomes: Sequence[Outcome], kind: str = "harasser") -> dict[str, Any]:
    """Per caller of `kind`: calls that got through before the first stop at the door, and minutes from the
    first call to that stop."""
    calls: list[float] = []
    minutes: list[float] = []
    never = 0
    for seq in _by_actor(outcomes, kind).values():
        first_stop = next((i for i, o in enumerate(seq) if o.stopped), None)
        if first_stop is None:
            never += 1
            calls.append(NEVER)
            minutes.append(NEVER)
        else:
            calls.append(float(first_stop))
            minutes.append((seq[first_stop].at - seq[0].at) / MINUTE_MS)
    return {"callers": len(calls), "never_stopped": never, "calls": _spread(calls), "minutes": _spread(minutes)}


def _after_first_flag(seq: list[Outcome]) -> list[Outcome]:
    flags = [o.flagged_at for o in seq if o.flagged_at is not None]
    if not flags:
        return []
    first = min(flags)
    return [o for o in seq if o.at > first]


def after_flag(outcomes: Sequence[Outcome], kind: str = "harasser") -> dict[str, Any]:
    """Calls of each caller of `kind` made after that caller's first flag (of any of its numbers), and how
    many of them were stopped at the door."""
    later = [o for seq in _by_actor(outcomes, kind).values() for o in _after_first_flag(seq)]
    stopped = sum(1 for o in later if o.stopped)
    return {"calls": len(later), "stopped": stopped, "share": _ratio(stopped, len(later))}


def campaigns(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Each campaign: calls (the detecting call's place, 1 = its first) and minutes from its first call until
    the screen first marked one of its calls as a campaign."""
    rows: list[dict[str, Any]] = []
    calls: list[float] = []
    minutes: list[float] = []
    in_time = 0
    for actor, seq in sorted(_by_actor(outcomes, "campaign").items()):
        hit = next((i for i, o in enumerate(seq) if o.campaign_mark), None)
        took = NEVER if hit is None else (seq[hit].at - seq[0].at) / MINUTE_MS
        calls.append(NEVER if hit is None else float(hit + 1))
        minutes.append(took)
        if hit is not None and (hit + 1 <= TARGET_CAMPAIGN_CALLS or took <= TARGET_CAMPAIGN_MINUTES):
            in_time += 1
        rows.append({"campaign": actor, "calls": len(seq), "caught": hit is not None,
                     "calls_to_detect": None if hit is None else hit + 1,
                     "minutes_to_detect": None if hit is None else round(took, 2),
                     "stopped": sum(1 for o in seq if o.stopped)})
    return {"campaigns": len(rows), "caught": sum(1 for r in rows if r["caught"]), "caught_in_time": in_time,
            "calls": _spread(calls), "minutes": _spread(minutes), "each": rows}


def agent_minutes(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Agent-minutes by kind of caller, and the total spent on bad calls."""
    by_kind: dict[str, float] = defaultdict(float)
    for o in outcomes:
        by_kind[o.kind] += o.agent_seconds
    bad = sum(v for k, v in by_kind.items() if k != "customer")
    return {"bad": round(bad / 60, 1), "by_kind": {k: round(v / 60, 1) for k, v in sorted(by_kind.items())}}


def figures(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Every figure of the month."""
    return {
        "door": door(outcomes),
        "false_blocks": false_blocks(outcomes),
        "time_to_block": time_to_block(outcomes, "harasser"),
        "harassers_after_first_flag": after_flag(outcomes, "harasser"),
        "groups_after_first_flag": after_flag(outcomes, "group"),
        "campaigns": campaigns(outcomes),
        "agent_minutes": agent_minutes(outcomes),
    }


def targets(fig: dict[str, Any]) -> list[dict[str, Any]]:
    """The detection targets for the default policy, each with the figure measured and PASS, MISS or n/a (the
    month is too small or has none of those callers)."""
    fb = fig["false_blocks"]
    harass, groups, camp = fig["harassers_after_first_flag"], fig["groups_after_first_flag"], fig["campaigns"]

    def status(ok: bool | None) -> str:
        return "n/a" if ok is None else "PASS" if ok else "MISS"

    enough = fb["customer_calls"] >= TARGET_CUSTOMER_CALLS
    return [
        {"target": f"0 customers falsely blocked in >= {TARGET_CUSTOMER_CALLS:,} customer calls",
         "measured": f"{fb['customers']} customers ({fb['calls']} calls) in {fb['customer_calls']:,} customer calls",
         "status": status((fb["customers"] == 0) if enough else (False if fb["customers"] else None))},
        {"target": f">= {TARGET_AFTER_FLAG:.0%} of harassing attempts after the first flag stopped at the door",
         "measured": _share_text(harass), "status": status(None if harass["share"] is None
                                                             else harass["share"] >= TARGET_AFTER_FLAG)},
        {"target": f">= {TARGET_GROUP_LATER:.0%} of a repeat group's later calls never reach an agent",
         "measured": _share_text(groups), "status": status(None if groups["share"] is None
                                                            else groups["share"] >= TARGET_GROUP_LATER)},
        {"target": f"campaigns caught within {TARGET_CAMPAIGN_CALLS} calls or {TARGET_CAMPAIGN_MINUTES:g} minutes",
         "measured": f"{camp['caught_in_time']} of {camp['campaigns']} campaigns in time ({camp['caught']} caught)",
         "status": status(None if not camp["campaigns"] else camp["caught_in_time"] == camp["campaigns"])},
    ]


def _share_text(part: dict[str, Any]) -> str:
    if part["share"] is None:
        return "no calls after a flag"
    return f"{part['share']:.1%} ({part['stopped']:,} of {part['calls']:,})"


def difference(current: Any, changed: Any) -> Any:
    """changed - current for every number in the figures (same shape; other values left out)."""
    if isinstance(current, dict) and isinstance(changed, dict):
        out = {}
        for key in current.keys() & changed.keys():
            d = difference(current[key], changed[key])
            if d is not None and d != {}:
                out[key] = d
        return dict(sorted(out.items()))
    if isinstance(current, bool) or isinstance(changed, bool):
        return None
    if isinstance(current, int | float) and isinstance(changed, int | float):
        d = changed - current
        return round(d, 4) if isinstance(d, float) else d
    return None
