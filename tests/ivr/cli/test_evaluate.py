"""`ivr evaluate` on a small month: every figure in its JSON, the same seed giving the same figures, a dry run
of a stricter policy moving them the expected way, the live store untouched, and bad input refused in one line
with exit status 2."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from click.testing import CliRunner, Result

from ivr.cli import main
from tests.support.store import snapshot

SMALL = ("--days", "2", "--customers-per-day", "150")


@pytest.fixture
def evaluate(redis_url: str, redis_conn: redis.Redis) -> Any:
    """Runs `ivr evaluate` with REDIS_URL on the test database (which it must never touch)."""
    redis_conn.set("ivr:live-marker", "the live store")

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, ["evaluate", *args], env={"REDIS_URL": redis_url}, catch_exceptions=False)

    return invoke


def as_json(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output + result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def refused(result: Result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert all(word in result.stderr for word in words), result.stderr


def test_json_has_every_figure_with_the_seed_and_the_policy(evaluate: Any, redis_conn: redis.Redis) -> None:
    before = snapshot(redis_conn)
    data = as_json(evaluate(*SMALL, "--seed", "7", "--json"))
    assert snapshot(redis_conn) == before  # the evaluation ran on a Redis of its own
    assert data["seed"] == 7 and data["days"] == 2
    assert data["population"]["calls"]["customer"] > 0
    current = data["current"]
    assert current["policy"]["all_lines"]["campaign_action"] and current["policy"]["all_lines"]["sanction_ladder"]
    f = current["figures"]
    for path in (("door", "precision"), ("door", "recall"), ("false_blocks", "calls"), ("false_blocks", "customers"),
                 ("false_blocks", "customer_calls"), ("time_to_block", "calls", "median"),
                 ("time_to_block", "calls", "p90"), ("time_to_block", "minutes", "median"),
                 ("time_to_block", "minutes", "p90"), ("harassers_after_first_flag", "share"),
                 ("groups_after_first_flag", "share"), ("campaigns", "caught"), ("campaigns", "calls", "median"),
                 ("campaigns", "minutes", "median"), ("agent_minutes", "bad")):
        node: Any = f
        for part in path:
            assert part in node, f"{'.'.join(path)} missing"
            node = node[part]
    assert f["false_blocks"]["customer_calls"] == data["population"]["calls"]["customer"]
    assert f["door"]["bad_calls"] == sum(v for k, v in data["population"]["calls"].items() if k != "customer")
    assert len(current["targets"]) == 4
    assert {t["status"] for t in current["targets"]} <= {"PASS", "MISS", "n/a"}
    assert "changed" not in data


def test_the_same_seed_gives_the_same_figures(evaluate: Any) -> None:
    first = as_json(evaluate(*SMALL, "--seed", "3", "--json"))
    again = as_json(evaluate(*SMALL, "--seed", "3", "--json"))
    other = as_json(evaluate(*SMALL, "--seed", "4", "--json"))
    assert first["current"]["figures"] == again["current"]["figures"]
    assert first["population"] == again["population"]
    assert other["population"] != first["population"]


def test_a_stricter_policy_stops_more_and_blocks_withheld_customers(evaluate: Any) -> None:
    data = as_json(evaluate(*SMALL, "--seed", "11", "--set", "withheld_policy=reject",
                            "--set", "campaign_action=reject", "--json"))
    current, changed, diff = data["current"]["figures"], data["changed"]["figures"], data["difference"]
    withheld_calls = data["population"]["customer_calls_by_tag"]["withheld"]
    assert withheld_calls > 0
    # every withheld customer call is now rejected at the door (nothing stopped them before)
    assert changed["false_blocks"]["calls"] >= current["false_blocks"]["calls"] + withheld_calls
    assert changed["false_blocks"]["rules"].get("withheld") == withheld_calls
    # a campaign's calls after its detection are stopped now
    assert changed["door"]["by_kind"]["campaign"]["stopped"] > current["door"]["by_kind"]["campaign"]["stopped"]
    assert changed["door"]["recall"] > current["door"]["recall"]
    assert changed["agent_minutes"]["by_kind"]["campaign"] < current["agent_minutes"]["by_kind"]["campaign"]
    assert diff["false_blocks"]["calls"] == changed["false_blocks"]["calls"] - current["false_blocks"]["calls"]
    assert data["changed"]["changes"] == {"withheld_policy": "reject", "campaign_action": "reject"}
    assert data["changed"]["policy"]["all_lines"]["withheld_policy"] == "reject"
    assert data["current"]["policy"]["all_lines"]["withheld_policy"] == "allow"
    # the same month both times
    assert changed["false_blocks"]["customer_calls"] == current["false_blocks"]["customer_calls"]


def test_the_table_shows_both_policies_their_difference_and_the_targets(evaluate: Any) -> None:
    result = evaluate(*SMALL, "--seed", "2", "--set", "burst_calls=1", "--set", "burst_action=reject",
                      "--line", "+18005551212")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "seed 2" in out and "Policy used (current):" in out and "sanction_ladder=" in out
    assert "Changed policy: burst_calls=1, burst_action=reject on line +18005551212" in out
    assert "current" in out and "changed" in out and "difference" in out
    assert "Precision of the stops" in out and "Customers falsely blocked" in out
    assert "Targets for the default policy:" in out
    assert sum(out.count(word) for word in ("PASS", "MISS", "n/a")) >= 8  # 4 targets, both policies
    assert "evaluated" in result.stderr


@pytest.mark.parametrize(("args", "words"), [
    (("--set", "nosuch=1"), ("unknown line setting 'nosuch'",)),
    (("--set", "campaign_action"), ("NAME=VALUE",)),
    (("--set", "campaign_action=sometimes"), ("campaign_action must be one of",)),
    (("--days", "0"), ("--days must be from 1 to 366",)),
    (("--customers-per-day", "0"), ("--customers-per-day",)),
    (("--set", "burst_calls=2", "--line", "+15550009999"), ("gets no calls",)),
    (("--set", "burst_calls=2", "--line", "not a line"), ("not a line",)),
    (("--line", "+18005551212"), ("give --set",)),
])
def test_bad_input_is_one_error_line_and_exit_2(evaluate: Any, args: tuple[str, ...], words: tuple[str, ...]) -> None:
    refused(evaluate(*SMALL, *args), *words)
