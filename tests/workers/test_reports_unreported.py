"""The unreported-abuse hint (workers/reports/unreported.py): calls played the way Twilio sends them, then the
three counts from the function, the API and `ivr report unreported`; it never flags or blocks anything."""

from __future__ import annotations

import json
from typing import Any

import redis
from click.testing import CliRunner

from blocklist import keys
from ivr.cli.report import group as report_group
from tests.support import callflow as cf
from tests.support.desk import logged_in
from tests.support.store import snapshot
from workers.reports import unreported

SHORT = "+14155550101"  # the agent hangs up on it at once
STAR = "+14155550102"  # `*`, then no move
REPEAT = "+14155550103"  # reaches agents three times, never flagged
FLAGGED = "+14155550104"  # three times too, but flagged on the third


def caller_hangs_up(twilio: Any, number: str) -> None:
    caller, agent = cf.bridged_caller(twilio, number)
    cf.bridge_ends(twilio, agent, caller, caller_hung_up=True)


def agent_hangs_up(twilio: Any, number: str) -> None:
    caller, agent = cf.bridged_caller(twilio, number)
    twilio.follow(agent.dial, {"CallSid": agent.sid, "CallStatus": "completed", "DialCallStatus": "completed",
                               "DialCallDuration": "4", "AccountSid": twilio.account_sid})
    twilio.post("/voice/status", {"CallSid": caller.sid, "CallStatus": "completed", "CallDuration": "9",
                                  "AccountSid": twilio.account_sid})


def star_then(twilio: Any, number: str, key: str) -> None:
    caller, agent, after = cf.star(twilio, number)
    cf.press(twilio, agent, after, key)
    twilio.post("/voice/status", {"CallSid": caller.sid, "CallStatus": "completed", "CallDuration": "30",
                                  "AccountSid": twilio.account_sid})


def test_the_three_hints_count_unreported_calls_only(app: Any, twilio: Any, api: Any, redis_conn: redis.Redis,
                                                      redis_url: str) -> None:
    agent_hangs_up(twilio, SHORT)
    caller_hangs_up(twilio, "+14155550105")  # short too, but the caller ended it: not the agent's choice
    star_then(twilio, STAR, "5")  # `*`, then a key that is no move: back to the caller
    for _ in range(3):
        caller_hangs_up(twilio, REPEAT)
    caller_hangs_up(twilio, FLAGGED)
    caller_hangs_up(twilio, FLAGGED)
    star_then(twilio, FLAGGED, "9")
    (menu_open,) = cf.events(redis_conn, "menu_open")
    assert menu_open["number"] == STAR and menu_open["digits"] == "5"

    raw = redis.Redis.from_url(redis_url)  # bytes: the snapshot dumps every key as it is
    before = snapshot(raw)
    data = unreported.unreported(redis_conn, short_seconds=20)
    assert snapshot(raw) == before  # a hint changes nothing
    assert data["hint"] == "a hint, never a flag: look at these calls"
    assert data["counts"] == {"short_agent_ended": 1, "star_no_move": 1, "repeat_unflagged": 1}
    assert data["short_agent_ended"][0]["number"] == SHORT and data["short_agent_ended"][0]["seconds"] <= 20
    assert data["star_no_move"][0]["number"] == STAR
    assert data["repeat_unflagged"][0] == {**data["repeat_unflagged"][0], "number": REPEAT, "calls": 3}
    assert redis_conn.hget(keys.STRIKES, REPEAT) is None  # nothing was flagged or blocked by the hint

    answer = api.get("/api/reports/unreported?days=7&mask=1")
    assert answer.status_code == 200 and answer.get_json()["counts"] == data["counts"]
    assert answer.get_json()["repeat_unflagged"][0]["number"] != REPEAT  # masked
    bad = api.get("/api/reports/unreported?days=90")
    assert bad.status_code == 400 and "days is 1 to 30" in bad.get_json()["detail"]

    result = CliRunner().invoke(report_group, ["unreported", "--json"], env={"REDIS_URL": redis_url})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["counts"] == data["counts"]
    table = CliRunner().invoke(report_group, ["unreported"], env={"REDIS_URL": redis_url})
    assert table.exit_code == 0 and "never a flag" in table.output and SHORT in table.output
    wrong = CliRunner().invoke(report_group, ["unreported", "--days", "0"], env={"REDIS_URL": redis_url})
    assert wrong.exit_code != 0 and "--days is 1 to 30" in wrong.output


def test_the_dashboard_shows_the_hint_and_keeps_it_a_few_minutes(app: Any, twilio: Any,
                                                                 redis_conn: redis.Redis) -> None:
    agent_hangs_up(twilio, SHORT)
    page = logged_in(app).get("/desk/dashboard").get_data(as_text=True)
    assert "Abuse that may not have been reported" in page and "A hint, never a flag: look at these calls." in page
    assert unreported.cached(redis_conn, short_seconds=20)["counts"]["short_agent_ended"] == 1
    agent_hangs_up(twilio, "+14155550106")  # kept 5 minutes: the card does not rescan on every page
    assert unreported.cached(redis_conn, short_seconds=20)["counts"]["short_agent_ended"] == 1
    assert unreported.unreported(redis_conn, short_seconds=20)["counts"]["short_agent_ended"] == 2
