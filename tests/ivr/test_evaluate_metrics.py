"""`ivr evaluate`'s figures on hand-built outcomes whose answers are worked out by hand in each test."""

from __future__ import annotations

import math
from typing import Any

from ivr.evaluate.metrics import (
    MINUTE_MS,
    Outcome,
    after_flag,
    agent_minutes,
    campaigns,
    difference,
    door,
    false_blocks,
    figures,
    percentile,
    targets,
    time_to_block,
)

T0 = 4_000_000_000_000


def call(minute: float, kind: str, actor: str, stopped: bool, number: str = "+14155550100", **kw: Any) -> Outcome:
    """One outcome `minute` minutes into the month."""
    return Outcome(at=T0 + round(minute * MINUTE_MS), kind=kind, actor=actor, number=number, stopped=stopped, **kw)


def test_precision_and_recall_of_the_stops_at_the_door() -> None:
    outcomes = [call(1, "harasser", "h", True), call(2, "group", "g", True), call(3, "robocall", "r", True),
                call(4, "customer", "c", True),
                call(5, "harasser", "h", False), call(6, "campaign", "k", False),
                *[call(7 + i, "customer", f"c{i}", False) for i in range(4)]]
    d = door(outcomes)
    assert (d["stopped"], d["bad_calls"], d["stopped_bad"]) == (4, 5, 3)
    assert d["precision"] == 3 / 4
    assert d["recall"] == 3 / 5
    assert d["by_kind"]["harasser"] == {"calls": 2, "stopped": 1}
    assert d["by_kind"]["customer"] == {"calls": 5, "stopped": 1}


def test_no_stops_and_no_bad_calls_give_no_ratio_rather_than_a_division_by_zero() -> None:
    d = door([call(1, "customer", "c", False)])
    assert d["precision"] is None and d["recall"] is None


def test_customers_falsely_blocked_counts_calls_and_distinct_customers() -> None:
    outcomes = [call(1, "customer", "c1", True, rule="withheld"), call(2, "customer", "c1", True, rule="withheld"),
                call(3, "customer", "c2", False), call(4, "customer", "c3", True, rule="campaign"),
                call(5, "customer", "c3", False), call(6, "harasser", "h", True)]
    fb = false_blocks(outcomes)
    assert fb == {"calls": 3, "customers": 2, "customer_calls": 5, "distinct_customers": 3,
                  "rules": {"campaign": 1, "withheld": 2}}


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([4, 1, 3, 2], 0.5) == 2
    assert percentile([4, 1, 3, 2], 0.9) == 4
    assert percentile([7], 0.9) == 7
    assert percentile([], 0.5) is None
    assert percentile([1, math.inf], 0.9) == math.inf


def test_time_to_block_counts_the_calls_that_got_through_and_the_minutes_to_the_first_stop() -> None:
    outcomes = [
        # h1: two calls through, stopped at minute 30 -> 2 calls, 30 min
        call(0, "harasser", "h1", False), call(10, "harasser", "h1", False, number="+14155550101"),
        call(30, "harasser", "h1", True), call(40, "harasser", "h1", False),
        # h2: one through, stopped an hour later -> 1 call, 60 min
        call(100, "harasser", "h2", False), call(160, "harasser", "h2", True),
        # h3: never stopped
        call(5, "harasser", "h3", False), call(6, "harasser", "h3", False),
    ]
    ttb = time_to_block(outcomes)
    assert ttb["callers"] == 3 and ttb["never_stopped"] == 1
    # nearest rank over [1, 2, never]: median the 2nd, p90 the 3rd (never), worst never
    assert ttb["calls"] == {"median": 2.0, "p90": None, "worst": None}
    assert ttb["minutes"] == {"median": 60.0, "p90": None, "worst": None}
    only_blocked = time_to_block(outcomes[:6])
    assert only_blocked["calls"] == {"median": 1.0, "p90": 2.0, "worst": 2.0}
    assert only_blocked["minutes"] == {"median": 30.0, "p90": 60.0, "worst": 60.0}


def test_attempts_after_the_first_flag_of_any_of_the_callers_numbers() -> None:
    outcomes = [
        call(0, "harasser", "h1", False, flagged_at=T0 + 1 * MINUTE_MS),  # flagged at minute 1
        call(0.5, "harasser", "h1", False, number="+14155550199"),  # before the flag: not counted
        call(10, "harasser", "h1", True), call(20, "harasser", "h1", False, number="+14155550199"),
        call(30, "harasser", "h1", True),
        call(0, "harasser", "h2", False), call(5, "harasser", "h2", False),  # never flagged: nothing counted
        call(0, "group", "g1", False, flagged_at=T0 + 2 * MINUTE_MS), call(1, "group", "g1", False),
        call(3, "group", "g1", True),
    ]
    assert after_flag(outcomes) == {"calls": 3, "stopped": 2, "share": 2 / 3}
    assert after_flag(outcomes, "group") == {"calls": 1, "stopped": 1, "share": 1.0}
    assert after_flag([call(0, "harasser", "h", False)])["share"] is None


def test_campaigns_caught_in_calls_or_minutes() -> None:
    def campaign(actor: str, spacing_s: float, n: int, marked_from: int | None) -> list[Outcome]:
        return [call(i * spacing_s / 60, "campaign", actor, False, number=f"+1415555{i:04d}",
                     campaign_mark=marked_from is not None and i >= marked_from) for i in range(n)]

    outcomes = [*campaign("fast", 30, 10, 3),  # 4th call, 1.5 min: in time (minutes)
                *campaign("early", 600, 5, 2),  # 3rd call, 20 min: in time (calls)
                *campaign("slow", 60, 10, 6),  # 7th call, 6 min: late
                *campaign("missed", 30, 10, None)]
    c = campaigns(outcomes)
    assert (c["campaigns"], c["caught"], c["caught_in_time"]) == (4, 3, 2)
    each = {row["campaign"]: row for row in c["each"]}
    assert (each["fast"]["calls_to_detect"], each["fast"]["minutes_to_detect"]) == (4, 1.5)
    assert (each["early"]["calls_to_detect"], each["early"]["minutes_to_detect"]) == (3, 20.0)
    assert (each["slow"]["calls_to_detect"], each["slow"]["minutes_to_detect"]) == (7, 6.0)
    assert not each["missed"]["caught"] and each["missed"]["calls_to_detect"] is None
    # calls over [3, 4, 7, never] (sorted by campaign name: early, fast, missed, slow)
    assert c["calls"] == {"median": 4.0, "p90": None, "worst": None}


def test_agent_minutes_by_kind() -> None:
    outcomes = [call(0, "harasser", "h", False, agent_seconds=30), call(1, "group", "g", False, agent_seconds=90),
                call(2, "customer", "c", False, agent_seconds=600), call(3, "harasser", "h", True)]
    assert agent_minutes(outcomes) == {"bad": 2.0, "by_kind": {"customer": 10.0, "group": 1.5, "harasser": 0.5}}


def _month(customers: int, blocked_customer: bool) -> list[Outcome]:
    out = [call(i, "customer", f"c{i}", blocked_customer and i == 0) for i in range(customers)]
    out += [call(0, "harasser", "h", False, flagged_at=T0 + MINUTE_MS), call(5, "harasser", "h", True),
            call(0, "group", "g", False, flagged_at=T0 + MINUTE_MS), call(5, "group", "g", True),
            call(0, "campaign", "k", False, campaign_mark=True)]
    return out


def test_targets_pass_miss_and_not_applicable() -> None:
    big = targets(figures(_month(10_000, False)))
    assert [t["status"] for t in big] == ["PASS", "PASS", "PASS", "PASS"]
    assert [t["status"] for t in targets(figures(_month(10_000, True)))][0] == "MISS"
    small = targets(figures(_month(50, False)))
    assert small[0]["status"] == "n/a"  # too few customer calls to claim the target either way
    assert targets(figures(_month(50, True)))[0]["status"] == "MISS"  # a false block is a miss at any size
    nothing_after = targets(figures([call(0, "customer", "c", False)]))
    assert [t["status"] for t in nothing_after[1:]] == ["n/a", "n/a", "n/a"]


def test_targets_read_the_shares_against_their_thresholds() -> None:
    # harasser: 1 of 2 calls after the flag stopped (50% < 55%); group: 3 of 4 (75% >= 70%)
    outcomes = [call(0, "harasser", "h", False, flagged_at=T0 + MINUTE_MS), call(5, "harasser", "h", True),
                call(6, "harasser", "h", False),
                call(0, "group", "g", False, flagged_at=T0 + MINUTE_MS),
                *[call(5 + i, "group", "g", i < 3) for i in range(4)]]
    statuses = [t["status"] for t in targets(figures(outcomes))]
    assert statuses[1:3] == ["MISS", "PASS"]


def test_difference_is_changed_minus_current_for_numbers_only() -> None:
    current = {"a": 3, "b": {"c": 0.5, "d": None, "e": True, "f": "x"}, "g": 1}
    changed = {"a": 5, "b": {"c": 0.25, "d": 2, "e": False, "f": "y"}, "h": 2}
    assert difference(current, changed) == {"a": 2, "b": {"c": -0.25}}
