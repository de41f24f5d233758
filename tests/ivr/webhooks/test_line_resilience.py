"""A waiting caller is never cut off by one failure: Twilio's error results re-queue or re-park, the
fallback URL keeps a caller in the flow it was in (ErrorUrl), a Redis failure inside a webhook gives the
same degraded answer, and a call back is screened again before it rings. Played as Twilio plays them."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis

from blocklist import keys
from ivr.cli.embedded import free_port
from tests.support import callflow as cf
from tests.support.callflow import events, star, worker_with_scheduler
from tests.support.constants import AUTH_TOKEN, BASE_URL, CUSTOMER
from tests.support.desk import login, make_user
from tests.support.twilio_player import TwilioPlayer, call_sid


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    return {**app_env, "IVR_SUPERVISORS": "client:sam", "IVR_CALLBACK_HOURS": "", "IVR_CALLBACK_DELAY_SECONDS": "1"}


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# ---- Twilio's error results --------------------------------------------------------------------------------
def test_a_failed_wait_url_requeues_the_caller_once_then_offers_a_call_back(twilio: Any) -> None:
    caller = cf.place_call(twilio, CUSTOMER)
    again = cf.leave(twilio, caller, result="error")  # Twilio could not fetch our waitUrl
    assert again.verbs() == ["Enqueue"] and again.first("Enqueue").text == "agents"
    assert query(again.first("Enqueue").get("action"))["again"] == "1"
    last = cf.leave(twilio, caller, result="system-error")
    assert last.verbs() == ["Gather"]  # not a hang-up: the call back offer
    assert "/voice/overflow-choice" in last.first("Gather").get("action")


def test_queue_full_offers_a_call_back(twilio: Any) -> None:
    caller = cf.place_call(twilio, CUSTOMER)
    assert cf.leave(twilio, caller, result="queue-full").verbs() == ["Gather"]


def test_a_held_caller_whose_hold_failed_is_parked_again_then_given_to_the_agents(twilio: Any) -> None:
    caller, _agent, _after = star(twilio)
    hold_name = caller.enqueue.text
    assert hold_name.startswith("hold-")
    again = cf.leave(twilio, caller, result="error")
    assert again.verbs() == ["Enqueue"] and again.first("Enqueue").text == hold_name
    last = cf.leave(twilio, caller, result="error")
    assert last.verbs() == ["Enqueue"] and last.first("Enqueue").text == "agents"


def test_an_escalated_caller_whose_wait_failed_stays_in_the_supervisors_queue(twilio: Any) -> None:
    caller = cf.place_call(twilio, CUSTOMER)
    moved = twilio.post("/voice/moves/escalate?lang=en", {"CallSid": caller.sid, "AccountSid": twilio.account_sid})
    caller.enqueue = moved.first("Enqueue")
    assert caller.enqueue.text == "supervisors"
    again = cf.leave(twilio, caller, result="error")
    assert again.verbs() == ["Enqueue"] and again.first("Enqueue").text == "supervisors"
    reply = fallback(twilio, caller.sid, again.first("Enqueue").get("action"))
    assert reply.verbs() == ["Enqueue"] and reply.first("Enqueue").text == "supervisors", reply.text


def test_a_flagged_held_caller_whose_hold_failed_goes_to_isolation_not_the_agents(twilio: Any,
                                                                                       api: Any) -> None:
    caller, _agent, _after = star(twilio)
    assert api.post(f"/api/calls/{caller.sid}/flag", json={"reason": "abuse"}).status_code == 202
    reply = cf.leave(twilio, caller, result="error")
    assert reply.verbs() == ["Enqueue"] and reply.first("Enqueue").text == "isolation", reply.text


# ---- the fallback URL follows ErrorUrl --------------------------------------------------------------------
def fallback(twilio: Any, sid: str, error_url: str) -> Any:
    return twilio.post("/voice/fallback", {"CallSid": sid, "AccountSid": twilio.account_sid,
                                           "ErrorCode": "11200", "ErrorUrl": error_url, "CallStatus": "in-progress"})


def flagged_caller(twilio: Any, api: Any) -> cf.Caller:
    caller = cf.place_call(twilio, "+14155550188")
    assert api.post(f"/api/calls/{caller.sid}/flag", json={"reason": "abuse"}).status_code == 202
    return caller


def test_fallback_keeps_the_caller_in_the_flow_it_was_in(twilio: Any, api: Any, redis_conn: redis.Redis) -> None:
    plain = cf.place_call(twilio, CUSTOMER)
    harasser = flagged_caller(twilio, api)
    cases = [  # (caller, the URL that failed, what Twilio must be told to do next)
        (plain.sid, f"{BASE_URL}/voice/incoming", ["Enqueue"], "agents"),
        (plain.sid, "", ["Enqueue"], "agents"),  # no ErrorUrl: the Voice URL itself
        (plain.sid, "https://elsewhere.example/x", ["Enqueue"], "agents"),
        (plain.sid, f"{BASE_URL}/voice/queue-exit?lang=en", ["Enqueue"], "agents"),
        (harasser.sid, f"{BASE_URL}/voice/queue-exit?lang=en", ["Enqueue"], "isolation"),  # never back to agents
        (harasser.sid, f"{BASE_URL}/voice/held-exit?lang=en", ["Enqueue"], "isolation"),
        (plain.sid, f"{BASE_URL}/voice/held-exit?lang=en", ["Enqueue"], f"hold-{plain.sid}"),
        (plain.sid, f"{BASE_URL}/voice/isolation?lang=fi", ["Enqueue"], "isolation"),
        (plain.sid, f"{BASE_URL}/voice/isolation/done?lang=en", ["Hangup"], None),
        (plain.sid, f"{BASE_URL}/voice/moves/escalate?lang=en", ["Play", "Enqueue"], "supervisors"),
        (plain.sid, f"{BASE_URL}/voice/overflow-choice?lang=en&reason=long_wait", ["Play", "Hangup"], None),
    ]
    for sid, error_url, verbs, queue in cases:
        reply = fallback(twilio, sid, error_url)
        assert reply.status == 200 and reply.verbs() == verbs, (error_url, reply.text)
        if queue:
            assert reply.first("Enqueue").text == queue, (error_url, reply.text)
    isolated = fallback(twilio, plain.sid, f"{BASE_URL}/voice/isolation?lang=fi")
    assert query(isolated.first("Enqueue").get("waitUrl"))["lang"] == "fi"


def test_fallback_gives_an_agent_leg_back_its_queue(twilio: Any) -> None:
    for failed, endpoint in (("/agent/after-dial", "/agent/connect"), ("/agent/menu?caller=x", "/agent/connect"),
                             ("/supervisor/connect", "/supervisor/connect")):
        reply = fallback(twilio, call_sid(), BASE_URL + failed)
        assert reply.verbs() == ["Play", "Pause", "Redirect"], reply.text
        assert reply.first("Redirect").text.strip() == BASE_URL + endpoint


# ---- Redis failing inside a webhook -----------------------------------------------------------------------
def down_app(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, TwilioPlayer]:
    from ivr import create_app
    for name, value in {**app_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}.items():
        monkeypatch.setenv(name, value)
    app = create_app()
    return app, TwilioPlayer(app.test_client(), AUTH_TOKEN, BASE_URL, app_env["TWILIO_ACCOUNT_SID"])


def test_with_redis_down_a_held_caller_keeps_holding_then_goes_to_the_agents(
        app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    _app, tw = down_app(app_env, monkeypatch)
    sid = call_sid()
    params = {"CallSid": sid, "QueueTime": "2", "AccountSid": tw.account_sid}
    early = tw.post("/voice/held-wait?lang=en", params)
    assert early.verbs() == ["Pause"]  # one failed poll does not end the hold
    late = tw.post("/voice/held-wait?lang=en", {**params, "QueueTime": "60"})
    assert late.verbs() == ["Leave"]
    exit_ = tw.post("/voice/held-exit?lang=en", {"CallSid": sid, "QueueResult": "leave", "AccountSid": tw.account_sid})
    assert exit_.verbs() == ["Enqueue"] and exit_.first("Enqueue").text == "agents"  # never a hang-up


def test_a_caller_whose_bridge_was_never_recorded_is_let_go_not_held(twilio: Any, redis_conn: redis.Redis) -> None:
    # Redis was away for the <Queue url> (the pairing was not recorded), back for the rest: the agent hangs up.
    caller = cf.place_call(twilio, CUSTOMER)
    agent = cf.agent_connects(twilio)
    after = twilio.follow(agent.dial, {"CallSid": agent.sid, "CallStatus": "completed", "DialCallStatus": "completed",
                                       "DialCallDuration": "42", "AccountSid": twilio.account_sid})
    assert after.verbs() == [], after.text  # a leg that is over: nothing to say, nothing learnt of its caller
    exit_ = twilio.follow(caller.enqueue, {"CallSid": caller.sid, "QueueResult": "bridged", "QueueTime": "4",
                                           "AccountSid": twilio.account_sid})
    assert "Enqueue" not in exit_.verbs() and exit_.verbs()[-1] == "Hangup", exit_.text  # thanked, not parked
    assert redis_conn.hget(keys.call(caller.sid), "decision")  # its record was there all along


def test_with_redis_down_a_callback_leg_still_reaches_the_agents(app_env: dict[str, str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _app, tw = down_app(app_env, monkeypatch)
    reply = tw.post("/voice/callback/answer?cb=cb-" + call_sid() + "&lang=en",
                    {"CallSid": call_sid(), "AnsweredBy": "human", "AccountSid": tw.account_sid})
    assert reply.status == 200 and reply.verbs() == ["Play", "Enqueue"], reply.text


# ---- call backs are screened again before they ring -------------------------------------------------------
def test_a_call_back_to_a_number_blocked_since_is_not_placed(twilio: Any, api: Any, app: Any, client: Any,
                                                              redis_conn: redis.Redis, standin: Any,
                                                              run_jobs: Any) -> None:
    caller = cf.place_call(twilio, CUSTOMER)
    assert api.post(f"/api/calls/{caller.sid}/callback", json={"delay_seconds": 1}).status_code == 202
    block = {"number": CUSTOMER, "reason": "threats", "duration": "permanent"}
    assert api.post("/api/blocklist", json=block).status_code == 201
    time.sleep(1.2)
    worker_with_scheduler(app.extensions["ivr"].rq_connection)
    assert standin.state.matching("POST", "/Calls.json") == []  # nobody was dialled
    record = redis_conn.hgetall(keys.callback(f"cb-{caller.sid}"))
    assert record["status"] == "cancelled" and "blocked" in record["cancel_reason"]
    assert events(redis_conn, "callback_result")[-1]["status"] == "cancelled"
    assert api.post("/api/reports/fold").status_code in (200, 202)
    run_jobs()
    totals = api.get("/api/reports/difficult").get_json()["difficult"]["totals"]
    assert totals["callback_cancelled"] == 1
    make_user(app, "mia", role="manager")
    login(client, "mia")
    page = client.get("/desk/review").get_data(as_text=True)
    assert "cancelled" in page and "the number is blocked" in page


def test_erasing_a_number_cancels_its_call_back(twilio: Any, api: Any, app: Any, redis_conn: redis.Redis,
                                                standin: Any) -> None:
    caller = cf.place_call(twilio, CUSTOMER)
    assert api.post(f"/api/calls/{caller.sid}/callback", json={"delay_seconds": 1}).status_code == 202
    resp = api.post("/api/reports/erase", json={"number": CUSTOMER, "reason": "erasure request 17"})
    assert resp.status_code == 200, resp.get_json()
    time.sleep(1.2)
    worker_with_scheduler(app.extensions["ivr"].rq_connection)
    assert standin.state.matching("POST", "/Calls.json") == []
    record = redis_conn.hgetall(keys.callback(f"cb-{caller.sid}"))
    assert record["status"] == "cancelled" and "number" not in record
    assert all(e.get("number") != CUSTOMER for e in events(redis_conn, "callback_result"))  # erased means erased
