"""The wellbeing break, played by Twilio: an agent crosses the shift limit of difficult calls (a flag by key, an
escalation), and the queue offers them no caller until the break ends; the breather scales with the category."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from blocklist import exposure, keys
from tests.support import callflow as cf
from tests.support.constants import AGENT
from tests.support.twilio_player import Reply

BREAK_SECONDS = 3


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    return {**app_env, "IVR_EXPOSURE_SHIFT_LIMIT": "2", "IVR_EXPOSURE_WEEK_LIMIT": "12",
            "IVR_WELLBEING_BREAK_SECONDS": str(BREAK_SECONDS)}


def ask_for_caller(twilio: Any, agent: cf.AgentLeg) -> Reply:
    """The agent's leg runs /agent/connect again (the Redirect at the end of every agent document)."""
    reply = twilio.post("/agent/connect", {"CallSid": agent.sid, "From": agent.identity, "To": "+15557770000",
                                           "AccountSid": twilio.account_sid, "CallStatus": "in-progress"})
    assert reply.status == 200, reply.text
    agent.dial = reply.root.find("Dial")
    return reply


def offers_callers(reply: Reply) -> bool:
    dial = reply.root.find("Dial")
    return dial is not None and dial.find("Queue") is not None


def handled_call(twilio: Any, agent: cf.AgentLeg, number: str, key: str) -> Reply:
    """A caller bridged to the agent, `*`, then `key`; the agent's menu answer."""
    caller = cf.place_call(twilio, number)
    cf.bridge(twilio, agent, caller)
    after = cf.bridge_ends(twilio, agent, caller)
    cf.held_poll(twilio, caller)
    return cf.press(twilio, agent, after, key)


def test_crossing_the_shift_limit_stops_the_queue_until_the_break_ends(app: Any, twilio: Any,
                                                                       redis_conn: redis.Redis) -> None:
    agent = cf.agent_connects(twilio)
    assert offers_callers(agent.reply)
    flagged = handled_call(twilio, agent, "+14155550123", "9")
    # the breather: the line's breather times the weight of the call's category (none recorded: 1)
    category = redis_conn.hget(keys.call(redis_conn.zrange(keys.exposure(AGENT), 0, 0)[0]), "category")
    breather = int(flagged.first("Pause").get("length"))
    assert breather == exposure.breather_seconds(app.config["SETTINGS"].breather_seconds, category)
    assert offers_callers(ask_for_caller(twilio, agent))  # one difficult call: below the limit of 2

    moved = handled_call(twilio, agent, "+14155550177", "1")  # escalated: the second difficult call
    assert moved.first("Redirect").text.endswith("/agent/connect")
    started = ask_for_caller(twilio, agent)
    assert not offers_callers(started), started.text  # the queue offers this agent no caller
    assert started.first("Play") is not None and 1 <= int(started.first("Pause").get("length")) <= BREAK_SECONDS
    (event,) = cf.events(redis_conn, "wellbeing_break")
    assert event["agent"] == AGENT and event["reason"] == "shift" and event["shift"] == "2" and event["limit"] == "2"
    (checkin,) = exposure.checkins(redis_conn)
    assert checkin["agent"] == AGENT and checkin["id"] == event["checkin"]

    waiting = cf.place_call(twilio, "+14155550166")  # a caller waits meanwhile
    again = ask_for_caller(twilio, agent)
    assert not offers_callers(again) and again.root.find(".//Play") is None  # the break goes on, silently
    assert len(cf.events(redis_conn, "wellbeing_break")) == 1

    time.sleep(BREAK_SECONDS + 0.2)
    back = ask_for_caller(twilio, agent)
    assert offers_callers(back), back.text
    assert cf.bridge(twilio, agent, waiting).status == 200  # the waiting caller reaches the agent after the break

    # a third difficult call in the same shift is no new crossing (the next is at 4)
    after = cf.bridge_ends(twilio, agent, waiting)
    cf.held_poll(twilio, waiting)
    assert cf.press(twilio, agent, after, "1").first("Redirect") is not None
    assert offers_callers(ask_for_caller(twilio, agent))
    assert len(cf.events(redis_conn, "wellbeing_break")) == 1


def test_crossing_the_week_limit_gives_a_break_at_the_next_connect(app: Any, twilio: Any,
                                                                   redis_conn: redis.Redis) -> None:
    """Twelve difficult calls over the last days (earlier shifts): the next time the agent asks, a break."""
    now = int(time.time() * 1000)
    redis_conn.zadd(keys.exposure(AGENT), {f"CA{n:032x}": now - (n + 1) * 3600_000 * 9 for n in range(12)})
    agent = cf.agent_connects(twilio)
    assert not offers_callers(agent.reply), agent.reply.text
    (event,) = cf.events(redis_conn, "wellbeing_break")
    assert event["reason"] == "week" and event["week"] == "12" and event["shift"] == "0"
