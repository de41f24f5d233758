"""`ivr evaluate`'s month: the ground truth it builds, and its calls played through the real screen and flag in
virtual time (blocks end when their virtual time is up), on the test database."""

from __future__ import annotations

import re

import pytest
import redis

from blocklist import keys
from blocklist.policy import SIGNAL_DEFAULTS, Policy
from blocklist.rules import Blocklist
from ivr.evaluate import population, run
from ivr.evaluate.population import DAY_MS, MINUTE_MS, Call, Population, Scale

HARASSER = "+17135550142"
LINE = "+18005551212"
HOUR_MS = 3_600_000


def month(calls: list[Call]) -> Population:
    return Population(seed=0, scale=Scale(days=30, lines=(LINE,)), calls=sorted(calls, key=lambda c: c.at))


def harassing(at: int, flag_after: float | None = 20.0, number: str = HARASSER) -> Call:
    return Call(at=at, kind="harasser", actor="h", number=number, line=LINE, stir="TN-Validation-Passed-A",
                flag_after=flag_after, talk=60.0)


def test_flags_block_on_the_ladder_and_blocks_end_in_virtual_time(redis_conn: redis.Redis) -> None:
    policy = Policy()
    day, week = (policy.ladder[0] or 0) * 1000, (policy.ladder[1] or 0) * 1000
    calls = [
        harassing(0),  # through, flagged 20 s in: blocked for the first rung (a day)
        harassing(day - HOUR_MS),  # inside the day: stopped
        harassing(day + HOUR_MS),  # the day is over: through again, flagged: the second rung (a week)
        harassing(day + 2 * HOUR_MS),  # stopped
        harassing(day + HOUR_MS + week - HOUR_MS),  # an hour before the week ends: stopped
        harassing(day + 2 * HOUR_MS + week),  # after the week: through, flagged: permanent
        harassing(20 * DAY_MS),  # stopped for good
    ]
    bl = Blocklist(redis_conn, policy)
    played = run.play(bl, month(calls))
    assert [o.stopped for o in played.outcomes] == [False, True, False, True, True, False, True]
    assert [o.rule for o in played.outcomes if o.stopped] == ["number"] * 4
    assert played.flags == 3 and played.blocks_expired == 2
    block = bl.entry(HARASSER)
    assert block is not None and block.until_ms is None and block.step == 3
    # the flagged calls took the agent until the flag; stopped ones took nobody
    assert [o.agent_seconds for o in played.outcomes] == [20.0, 0.0, 20.0, 0.0, 0.0, 20.0, 0.0]


def test_a_block_extended_by_hand_does_not_end_at_the_flags_time(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    calls = [harassing(0), harassing(2 * DAY_MS)]
    played = run.play(bl, month(calls[:1]))
    assert played.flags == 1
    # a manager makes the flag's block permanent before it ends: the runner's expiry must leave it alone
    bl.block(HARASSER, by="manager", reason="threats", at=run.START_MS + MINUTE_MS)
    assert run._expire_block(redis_conn, HARASSER, run.START_MS + 2 * DAY_MS) == 0
    assert redis_conn.exists(keys.block(keys.GLOBAL, HARASSER))


def test_a_call_nobody_flags_leaves_its_number_free(redis_conn: redis.Redis) -> None:
    played = run.play(Blocklist(redis_conn, Policy()), month([harassing(0, None), harassing(HOUR_MS, None)]))
    assert [o.stopped for o in played.outcomes] == [False, False]
    assert played.flags == 0
    assert [o.agent_seconds for o in played.outcomes] == [60.0, 60.0]


def test_a_rotating_campaign_is_marked_from_the_call_that_crosses_the_line_setting(redis_conn: redis.Redis) -> None:
    limit = int(SIGNAL_DEFAULTS["campaign_numbers"])
    calls = [Call(at=i * 30_000, kind="campaign", actor="k", number=f"+1415737{i:04d}", line=LINE,
                  stir="TN-Validation-Passed-C", talk=30.0) for i in range(limit + 4)]
    played = run.play(Blocklist(redis_conn, Policy()), month(calls))
    marks = [o.campaign_mark for o in played.outcomes]
    assert marks.index(True) == limit  # the (limit + 1)th different number of the exchange
    assert all(marks[limit:])


def test_evaluate_applies_the_changes_like_a_manager_and_reports_them(redis_conn: redis.Redis) -> None:
    calls = [Call(at=i * HOUR_MS, kind="customer", actor=f"c{i}", number="anonymous", line=LINE, talk=100.0,
                  tag="withheld") for i in range(3)]
    current = run.evaluate(redis_conn, month(calls), Policy())
    changed = run.evaluate(redis_conn, month(calls), Policy(), {"withheld_policy": "reject"}, LINE)
    assert current["figures"]["false_blocks"]["calls"] == 0
    assert changed["figures"]["false_blocks"]["calls"] == 3
    assert changed["policy"]["lines"] == {LINE: {"withheld_policy": "reject"}}
    assert changed["changes"] == {"withheld_policy": "reject"} and changed["changes_line"] == LINE


def test_check_changes_refuses_unknown_settings_and_lines_without_calls(redis_conn: redis.Redis) -> None:
    lines = (LINE,)
    assert run.check_changes(redis_conn, Policy(), {"campaign_action": "reject"}, "*", lines) == keys.GLOBAL
    for changes, line, words in (({"nosuch": "1"}, "*", "unknown line setting 'nosuch'"),
                                 ({"campaign_action": "maybe"}, "*", "campaign_action must be one of"),
                                 ({"burst_calls": "2"}, "+15550009999", "gets no calls")):
        with pytest.raises(ValueError, match=re.escape(words)):
            run.check_changes(redis_conn, Policy(), changes, line, lines)
    assert redis_conn.dbsize() == 0  # tried on the emptied database, and emptied again


def test_the_default_month_has_every_kind_of_caller_and_enough_customers() -> None:
    m = population.build(1)
    summary = m.summary()
    assert summary["calls"]["customer"] >= 10_000
    assert all(summary["calls"][k] > 0 for k in population.BAD_KINDS)
    assert all(summary["customer_calls_by_tag"][t] > 0 for t in ("withheld", "abroad", "range"))
    # customers in a harasser's switchboard range share its exchange (7 digits after the +)
    harasser_exchanges = {c.number[:8] for c in m.calls if c.kind == "harasser"}
    assert {c.number[:8] for c in m.calls if c.tag == "range"} <= harasser_exchanges
    # a campaign's numbers are all different and all in its exchange
    for actor, (line, exchange) in m.campaigns.items():
        numbers = [c.number for c in m.calls if c.actor == actor]
        assert len(set(numbers)) == len(numbers) and all(n.startswith(exchange) for n in numbers)
        assert {c.line for c in m.calls if c.actor == actor} == {line}
    # robocallers carry bad attestation or add-on answers the screen can read
    robo = [c for c in m.calls if c.kind == "robocall"]
    assert any(c.addons for c in robo) and any("Failed" in c.stir for c in robo)


def test_the_same_seed_gives_the_same_month_and_another_seed_another() -> None:
    scale = Scale(days=3, customers_per_day=50)
    assert population.build(5, scale).calls == population.build(5, scale).calls
    assert population.build(5, scale).calls != population.build(6, scale).calls


def test_scale_refuses_an_empty_month() -> None:
    with pytest.raises(ValueError, match="--days must be from 1 to 366"):
        Scale(days=0)
    with pytest.raises(ValueError, match="--customers-per-day must be from 1"):
        Scale(customers_per_day=0)
