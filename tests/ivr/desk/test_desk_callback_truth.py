"""The agent's page tells the truth about a call back: "On a call" while the callee talks to the agent, and
not a moment after Twilio's status callbacks say the call is over, whoever hangs up first. Also for a callee
(or a caller) of whom the screen kept no record, because Redis was away when the call was answered.

Played as Twilio plays it: the call back is placed by a real RQ worker through the REST stand-in; the
callee's leg uses the CallSid, answer URL and StatusCallback the app gave the stand-in; the agent's leg
dials the queue; the desk is read the way its page polls it (GET /desk/call/panel)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis

from blocklist import keys
from ivr.cli.embedded import free_port
from tests.support import callflow as cf
from tests.support.callflow import worker_with_scheduler
from tests.support.constants import ACCOUNT_SID, AGENT, AUTH_TOKEN, BASE_URL, CUSTOMER, LINE
from tests.support.desk import login, make_user
from tests.support.twilio_player import Reply, TwilioPlayer, call_sid

ON_A_CALL = "On a call"
ENDED = "Call ended"
OFFLINE = "Your phone is not connected"
WAITING = "Waiting for the next caller"


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    return {**app_env, "IVR_CALLBACK_HOURS": "", "IVR_CALLBACK_DELAY_SECONDS": "1"}


@pytest.fixture
def desk(app: Any) -> Any:
    """The agent's browser session: a desk user whose phone is AGENT, logged in through the form."""
    make_user(app, "ann", "agent", phones=AGENT)
    browser = app.test_client()
    assert login(browser, "ann").status_code == 302
    return browser


def panel(desk: Any) -> str:
    """The live-call panel as the agent's page polls it."""
    resp = desk.get("/desk/call/panel")
    assert resp.status_code == 200
    return str(resp.get_data(as_text=True))


def status_of(desk: Any) -> str:
    """The panel's status line (one of the labels above)."""
    html = panel(desk)
    for label in (ON_A_CALL, ENDED, OFFLINE, WAITING, "Caller on hold"):
        if label in html:
            return label
    raise AssertionError(f"no status label in the panel:\n{html}")


@dataclass
class Callee:
    """The outbound leg of a call back, with the URLs the app gave Twilio when it created the call."""

    sid: str
    url: str
    status_callback: str
    enqueue: Any = None

    def params(self, **more: str) -> dict[str, str]:
        """What Twilio sends on every request of this leg: an outbound-api call From the line To the callee."""
        return {"CallSid": self.sid, "AccountSid": ACCOUNT_SID, "From": LINE, "To": CUSTOMER,
                "Direction": "outbound-api", "ApiVersion": "2010-04-01", "CallStatus": "in-progress", **more}


def call_back_placed(twilio: Any, api: Any, app: Any, redis_conn: redis.Redis, standin: Any) -> Callee:
    """A customer's call gets a call back agreed; the worker places it through the REST stand-in."""
    caller = cf.place_call(twilio, CUSTOMER)
    resp = api.post(f"/api/calls/{caller.sid}/callback", json={"delay_seconds": 0, "note": "invoice"})
    assert resp.status_code == 202, resp.get_json()
    worker_with_scheduler(app.extensions["ivr"].rq_connection)
    (created,) = standin.state.matching("POST", "/Calls.json")
    outbound_sid = redis_conn.hget(keys.callback(f"cb-{caller.sid}"), "outbound_sid")
    assert outbound_sid and created.form["To"] == CUSTOMER
    return Callee(outbound_sid, created.form["Url"], created.form["StatusCallback"])


def answered(player: TwilioPlayer, callee: Callee) -> Reply:
    """A person picks up: Twilio requests the call's Url (machine detection says human)."""
    reply = player.post(callee.url, callee.params(AnsweredBy="human"))
    assert reply.status == 200 and reply.verbs()[-1] == "Enqueue", reply.text
    callee.enqueue = reply.first("Enqueue")
    return reply


def bridged(twilio: Any, agent: Any, callee: Callee) -> None:
    """The agent's Dial dequeues the callee: the <Queue url> runs on the callee's leg."""
    queue = agent.dial.find("Queue")
    reply = twilio.follow(queue, callee.params(DequeingCallSid=agent.sid, QueueSid="QU" + "2" * 32, QueueTime="3"),
                          attr="url")
    assert reply.status == 200, reply.text


def agent_dial_action(twilio: Any, agent: Any, agent_hung_up: bool) -> Reply:
    """The agent's Dial action: CallStatus completed when the agent hung up, in-progress when still there."""
    return twilio.follow(agent.dial, {"CallSid": agent.sid, "CallStatus": "completed" if agent_hung_up else
                                      "in-progress", "DialCallStatus": "completed", "DialCallDuration": "95",
                                      "AccountSid": twilio.account_sid, "From": AGENT, "Direction": "inbound"})


def callee_status_callback(twilio: Any, callee: Callee) -> None:
    """Twilio's status callback of the callee's leg, to the StatusCallback the app gave when it created it."""
    reply = twilio.post(callee.status_callback, callee.params(CallStatus="completed", CallDuration="97"))
    assert reply.status == 200


def agent_leg_status_callback(twilio: Any, agent: Any) -> None:
    """The agents' TwiML App's status callback: the agent's own leg is over."""
    reply = twilio.post("/voice/status", {"CallSid": agent.sid, "CallStatus": "completed", "CallDuration": "300",
                                          "From": AGENT, "Direction": "inbound", "AccountSid": twilio.account_sid})
    assert reply.status == 200


def test_a_call_back_the_callee_ends_leaves_on_a_call(twilio: Any, api: Any, app: Any, redis_conn: redis.Redis,
                                                      standin: Any, desk: Any) -> None:
    callee = call_back_placed(twilio, api, app, redis_conn, standin)
    agent = cf.agent_connects(twilio, AGENT)
    assert status_of(desk) == WAITING
    answered(twilio, callee)
    bridged(twilio, agent, callee)
    assert status_of(desk) == ON_A_CALL and CUSTOMER in panel(desk)
    # The callee hangs up: the agent's Dial action (the agent stays on the line), the callee's status callback.
    after = agent_dial_action(twilio, agent, agent_hung_up=False)
    assert after.first("Gather") is not None  # the agent's short window after every call
    callee_status_callback(twilio, callee)
    assert status_of(desk) == ENDED and CUSTOMER in panel(desk)  # the last caller stays shown
    # Then the agent hangs up their phone too.
    agent_leg_status_callback(twilio, agent)
    assert status_of(desk) == OFFLINE


def test_a_call_back_the_agent_ends_leaves_on_a_call_and_lets_the_callee_go(
        twilio: Any, api: Any, app: Any, redis_conn: redis.Redis, standin: Any, desk: Any) -> None:
    callee = call_back_placed(twilio, api, app, redis_conn, standin)
    agent = cf.agent_connects(twilio, AGENT)
    answered(twilio, callee)
    bridged(twilio, agent, callee)
    assert status_of(desk) == ON_A_CALL
    # The agent hangs up: the callee's Enqueue action (bridged) comes first, then the agent's Dial action.
    exit_ = twilio.follow(callee.enqueue, callee.params(QueueResult="bridged", QueueTime="3"))
    assert exit_.verbs() == ["Pause", "Redirect"]  # a second for the agent's side to say how the bridge ended
    agent_dial_action(twilio, agent, agent_hung_up=True)
    bye = twilio.follow(exit_.first("Redirect"), callee.params(), attr="text")
    assert bye.verbs()[-1] == "Hangup" and not bye.all("Enqueue"), bye.text  # thanked, never parked
    callee_status_callback(twilio, callee)
    assert status_of(desk) == ENDED
    agent_leg_status_callback(twilio, agent)
    assert status_of(desk) == OFFLINE
    assert redis_conn.hget(keys.call(callee.sid), "status") == "completed"


# ---- a callee or caller the screen kept no record of ---------------------------------------------------
@pytest.fixture
def down_twilio(app_env: dict[str, str]) -> Iterator[TwilioPlayer]:
    """The same service while its Redis is away (nothing listens on the port): it answers without recording.
    The environment is the live one again once the app is built, so the worker and the rest use the live Redis."""
    from ivr import create_app

    with pytest.MonkeyPatch.context() as env:
        for name, value in {**app_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}.items():
            env.setenv(name, value)
        down = create_app()
    yield TwilioPlayer(down.test_client(), AUTH_TOKEN, BASE_URL, app_env["TWILIO_ACCOUNT_SID"])


def test_a_call_back_answered_while_redis_was_away_still_ends_on_the_desk(
        twilio: Any, down_twilio: TwilioPlayer, api: Any, app: Any, redis_conn: redis.Redis, standin: Any,
        desk: Any) -> None:
    callee = call_back_placed(twilio, api, app, redis_conn, standin)
    agent = cf.agent_connects(twilio, AGENT)
    answered(down_twilio, callee)  # Redis away: the callee still reaches the agents' queue, unrecorded
    assert not redis_conn.exists(keys.call(callee.sid))
    bridged(twilio, agent, callee)  # Redis is back: the bridge records the callee it never saw
    record = redis_conn.hgetall(keys.call(callee.sid))
    assert record["unscreened"] == "1" and record["number"] == CUSTOMER and record["line"] == LINE
    assert status_of(desk) == ON_A_CALL and CUSTOMER in panel(desk)
    # The agent hangs up; the callee is thanked and let go, not parked in a private hold.
    agent_dial_action(twilio, agent, agent_hung_up=True)
    bye = twilio.follow(callee.enqueue, callee.params(QueueResult="bridged", QueueTime="3"))
    assert bye.verbs()[-1] == "Hangup" and not bye.all("Enqueue"), bye.text
    assert status_of(desk) == ON_A_CALL  # Twilio has not said the callee's call is over yet
    callee_status_callback(twilio, callee)
    assert status_of(desk) == ENDED
    assert redis_conn.hget(keys.call(callee.sid), "status") == "completed"
    # The call back happened although its answer was never recorded: done, not left "ringing" for ever.
    cb_id = parse_qs(urlsplit(callee.status_callback).query)["cb"][0]
    assert redis_conn.hget(keys.callback(cb_id), "status") == "done"


def test_an_unscreened_caller_is_let_go_after_the_agent_hangs_up(twilio: Any, redis_conn: redis.Redis,
                                                                desk: Any) -> None:
    """The number's Voice URL failed and Twilio asked the fallback URL: the caller waits for an agent without
    a record. Bridged, its agent hangs up: the closing words, not the hold; the status callback ends it."""
    sid = call_sid()
    params = twilio.incoming_params(sid, CUSTOMER, LINE)
    door = twilio.post("/voice/fallback", {**params, "ErrorUrl": BASE_URL + "/voice/incoming", "ErrorCode": "11200"})
    assert door.verbs() == ["Enqueue"]
    assert not redis_conn.exists(keys.call(sid))
    caller = cf.Caller(sid, CUSTOMER, door, door.first("Enqueue"))
    agent = cf.agent_connects(twilio, AGENT)
    reply = twilio.follow(agent.dial.find("Queue"), {**params, "CallStatus": "in-progress", "DequeingCallSid": agent.sid,
                                                     "QueueSid": "QU" + "2" * 32, "QueueTime": "2"}, attr="url")
    assert reply.status == 200
    assert redis_conn.hget(keys.call(sid), "number") == CUSTOMER
    assert status_of(desk) == ON_A_CALL
    agent_dial_action(twilio, agent, agent_hung_up=True)
    bye = twilio.follow(caller.enqueue, {**params, "CallStatus": "in-progress", "QueueResult": "bridged",
                                         "QueueTime": "2"})
    assert bye.verbs()[-1] == "Hangup" and not bye.all("Enqueue"), bye.text
    twilio.post("/voice/status", {**params, "CallStatus": "completed", "CallDuration": "40"})
    assert status_of(desk) == ENDED


def test_a_bridged_caller_of_whom_nothing_is_recorded_hears_the_closing_words(twilio: Any,
                                                                              redis_conn: redis.Redis) -> None:
    """Even the bridge could not be recorded: no agent's decision can ever reach this caller, so it is not
    held waiting for one (before, it waited three seconds and was parked in a private hold)."""
    sid = call_sid()
    enqueue = twilio.post("/voice/fallback", twilio.incoming_params(sid, CUSTOMER, LINE)).first("Enqueue")
    bye = twilio.follow(enqueue, {"CallSid": sid, "QueueResult": "bridged", "QueueTime": "5",
                                  "AccountSid": twilio.account_sid})
    assert bye.verbs()[-1] == "Hangup" and not bye.all("Enqueue") and not bye.all("Redirect"), bye.text
    assert not redis_conn.exists(keys.call(sid))  # nothing made up for it
