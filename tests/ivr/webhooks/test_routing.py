"""Difficult callers and overflow, played as Twilio plays them: keys 1/2/3 after `*`, desk moves,
scheduled callbacks through a real RQ worker, and the three overflow causes. Nothing here blocklists."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from blocklist import keys
from tests.support import callflow as cf
from tests.support.app import change_settings
from tests.support.callflow import events, star, worker_with_scheduler
from tests.support.constants import AGENT, BASE_URL, CUSTOMER, LINE
from tests.support.twilio_player import call_sid

SUPERVISOR = "client:sam"


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    return {**app_env, "IVR_SUPERVISORS": SUPERVISOR, "IVR_CALLBACK_HOURS": "", "IVR_CALLBACK_DELAY_SECONDS": "1",
            "IVR_CALLBACK_RETRY_SECONDS": "0", "IVR_CALLBACK_ATTEMPTS": "2"}


def no_blocks(r: redis.Redis) -> bool:
    return not list(r.scan_iter(match="ivr:block:*")) and not r.hlen(keys.STRIKES)


def test_key_1_escalates_to_the_supervisors_queue(twilio: Any, api: Any, redis_conn: redis.Redis) -> None:
    caller, agent, after = star(twilio)
    menu = cf.press(twilio, agent, after, "1")
    assert menu.first("Redirect").text.strip() == BASE_URL + "/agent/connect"  # the agent: next caller
    assert cf.held_poll(twilio, caller, 1).verbs() == ["Leave"]
    moved = cf.leave(twilio, caller)
    assert moved.first("Enqueue").text == "supervisors"
    assert any("supervisor_connecting" in (p.text or "") for p in moved.all("Play")) or moved.all("Say")
    # the supervisor takes it, and sees who escalated and the history
    view = api.get("/api/supervisors/queue").get_json()["escalations"]
    assert view[0]["escalation"]["agent"] == AGENT and view[0]["call"]["number"] == CUSTOMER
    assert cf.agent_connects(twilio, identity=SUPERVISOR).dial is None  # not an agent
    sup_leg = twilio.post("/supervisor/connect", {"CallSid": call_sid(), "From": SUPERVISOR})
    assert sup_leg.first("Dial").find("Queue").text == "supervisors"
    refused = twilio.post("/supervisor/connect", {"CallSid": call_sid(), "From": AGENT})
    assert refused.verbs()[-1] == "Hangup"
    (event,) = events(redis_conn, "escalate")
    assert event["agent"] == AGENT and event["call_sid"] == caller.sid
    assert no_blocks(redis_conn)


def test_key_2_warns_then_rebridges_and_a_second_warning_ends(twilio: Any, redis_conn: redis.Redis) -> None:
    caller, agent, after = star(twilio)
    menu = cf.press(twilio, agent, after, "2")
    rejoin = menu.first("Redirect")
    assert "/agent/rejoin" in rejoin.text
    assert cf.held_poll(twilio, caller, 1).verbs() == ["Leave"]
    warned = cf.leave(twilio, caller)
    plays = [p.text for p in warned.all("Play")]
    assert any("limit_warning" in u for u in plays) or warned.all("Say")
    assert warned.first("Enqueue").text == f"hold-{caller.sid}"  # back in its private hold
    # the agent waits until the caller is held again, then is bridged back to the same caller
    waiting = twilio.follow(rejoin, {"CallSid": agent.sid}, attr="text")
    assert waiting.verbs() == ["Pause", "Redirect"]
    assert cf.held_poll(twilio, caller, 0).verbs()[-1] == "Pause"
    back = twilio.follow(waiting.first("Redirect"), {"CallSid": agent.sid}, attr="text")
    agent.dial = back.first("Dial")
    assert agent.dial.find("Queue").text == f"hold-{caller.sid}"
    cf.bridge(twilio, agent, caller)
    # second warning on the same call: a polite goodbye
    after2 = cf.bridge_ends(twilio, agent, caller)
    cf.held_poll(twilio, caller)
    menu2 = cf.press(twilio, agent, after2, "2")
    assert menu2.verbs()[-1] == "Redirect" and "/agent/connect" in menu2.first("Redirect").text
    assert cf.held_poll(twilio, caller, 1).verbs() == ["Leave"]
    bye = cf.leave(twilio, caller)
    assert bye.verbs()[-1] == "Hangup"
    warns = events(redis_conn, "warn")
    assert [w["warning"] for w in warns] == ["1", "2"] and warns[1]["ended"] == "1"
    assert no_blocks(redis_conn)


def test_key_3_schedules_a_callback_that_a_real_worker_places(twilio: Any, redis_conn: redis.Redis, app: Any,
                                                              run_jobs: Any, standin: Any) -> None:
    caller, agent, after = star(twilio)
    menu = cf.press(twilio, agent, after, "3")
    assert "/agent/connect" in menu.first("Redirect").text
    assert cf.held_poll(twilio, caller, 1).verbs() == ["Leave"]
    bye = cf.leave(twilio, caller)
    assert bye.verbs()[-1] == "Hangup"
    cb_id = f"cb-{caller.sid}"
    record = redis_conn.hgetall(keys.callback(cb_id))
    assert record["status"] == "scheduled" and record["number"] == CUSTOMER
    rq_conn = app.extensions["ivr"].rq_connection
    registry = ScheduledJobRegistry("calls", connection=rq_conn, serializer=JSONSerializer)
    assert f"{cb_id}-1" in registry.get_job_ids()
    run_jobs()  # not due yet: nothing is placed
    assert standin.state.matching("POST", "/Calls.json") == []
    time.sleep(1.2)
    worker_with_scheduler(rq_conn)
    (created,) = standin.state.matching("POST", "/Calls.json")
    assert created.form["To"] == CUSTOMER and created.form["From"] == LINE
    assert created.form["MachineDetection"] == "Enable"
    assert created.form["Url"].startswith(BASE_URL + "/voice/callback/answer?cb=" + cb_id)
    assert redis_conn.hget(keys.callback(cb_id), "status") == "ringing"
    # a person answers: hears the intro and joins the agents' queue
    out_sid = call_sid()
    answer = twilio.post(created.form["Url"], {"CallSid": out_sid, "AnsweredBy": "human", "To": CUSTOMER})
    assert answer.first("Enqueue").text == "agents"
    twilio.post(created.form["StatusCallback"], {"CallSid": out_sid, "CallStatus": "completed"})
    assert redis_conn.hget(keys.callback(cb_id), "status") == "done"
    assert no_blocks(redis_conn)


def test_callback_nobody_answers_is_retried_then_failed(twilio: Any, api: Any, redis_conn: redis.Redis, app: Any,
                                                        standin: Any) -> None:
    caller = cf.place_call(twilio, CUSTOMER)
    resp = api.post(f"/api/calls/{caller.sid}/callback", json={"delay_seconds": 0, "note": "billing question"})
    assert resp.status_code == 202, resp.get_json()
    cb_id = f"cb-{caller.sid}"
    rq_conn = app.extensions["ivr"].rq_connection
    worker_with_scheduler(rq_conn)
    first = standin.state.matching("POST", "/Calls.json")
    assert len(first) == 1
    # a machine answers: not a person, retried
    machine = twilio.post(first[0].form["Url"], {"CallSid": call_sid(), "AnsweredBy": "machine_start"})
    assert machine.verbs() == ["Hangup"]
    assert redis_conn.hget(keys.callback(cb_id), "status") == "retrying"
    time.sleep(0.2)
    worker_with_scheduler(rq_conn)
    second = standin.state.matching("POST", "/Calls.json")
    assert len(second) == 2
    twilio.post(second[1].form["StatusCallback"], {"CallSid": call_sid(), "CallStatus": "no-answer"})
    assert redis_conn.hget(keys.callback(cb_id), "status") == "failed"
    statuses = [e["status"] for e in events(redis_conn, "callback_result")]
    assert statuses[-1] == "failed"
    listed = api.get("/api/callbacks").get_json()["callbacks"]
    assert listed[0]["status"] == "failed" and listed[0]["note"] == "billing question"


def test_callback_rest_failure_is_retried_then_marked_failed(twilio: Any, api: Any, redis_conn: redis.Redis,
                                                             app: Any, standin: Any) -> None:
    caller = cf.place_call(twilio, CUSTOMER)
    standin.state.fail("POST /2010-04-01/Accounts/", times=10, status=400, code=21211)  # invalid 'To'
    assert api.post(f"/api/calls/{caller.sid}/callback", json={"delay_seconds": 0}).status_code == 202
    worker_with_scheduler(app.extensions["ivr"].rq_connection)
    assert redis_conn.hget(keys.callback(f"cb-{caller.sid}"), "status") == "failed"


def test_callback_is_never_for_withheld_callers(twilio: Any, api: Any, redis_conn: redis.Redis) -> None:
    caller, agent, after = star(twilio, number="anonymous")
    menu = cf.press(twilio, agent, after, "3")
    assert "/agent/rejoin" in menu.first("Redirect").text  # refused: back to the caller
    assert not list(redis_conn.scan_iter(match="ivr:callback:*"))
    anon = cf.place_call(twilio, "anonymous")
    resp = api.post(f"/api/calls/{anon.sid}/callback", json={})
    assert resp.status_code == 400 and "withheld" in resp.get_json()["detail"]


def test_callback_outside_calling_hours_waits_for_the_next_window(twilio: Any, api: Any, redis_conn: redis.Redis,
                                                                   app: Any) -> None:
    now = datetime.now(app.config["SETTINGS"].tz())
    start = (now + timedelta(hours=2)).strftime("%H:00")
    end_hour = (now + timedelta(hours=3)).hour
    if end_hour <= int(start[:2]):
        pytest.skip("window would wrap midnight at this hour of the test run")
    change_settings(app, callback_hours=f"{start}-{end_hour:02d}:00")
    caller = cf.place_call(twilio, CUSTOMER)
    assert api.post(f"/api/calls/{caller.sid}/callback", json={"delay_seconds": 0}).status_code == 202
    due = int(redis_conn.hget(keys.callback(f"cb-{caller.sid}"), "due"))
    due_local = datetime.fromtimestamp(due / 1000, UTC).astimezone(app.config["SETTINGS"].tz())
    assert due_local.strftime("%H:%M") == start


def test_desk_moves_redirect_the_live_leg(twilio: Any, api: Any, run_jobs: Any, standin: Any,
                                          redis_conn: redis.Redis) -> None:
    caller = cf.place_call(twilio, CUSTOMER)
    agent = cf.agent_connects(twilio)
    cf.bridge(twilio, agent, caller)
    resp = api.post(f"/api/calls/{caller.sid}/escalate", json={"note": "wants a refund over the limit"})
    assert resp.status_code == 202 and resp.get_json()["redirect"] == "queued"
    run_jobs()
    (update,) = standin.state.matching("POST", f"/Calls/{caller.sid}.json")
    assert update.form["Url"].startswith(BASE_URL + "/voice/moves/escalate")
    landed = twilio.post(update.form["Url"], {"CallSid": caller.sid})
    assert landed.first("Enqueue").text == "supervisors"
    # the agent's bridge broke: no flag window, next caller
    after = cf.bridge_ends(twilio, agent, None)
    assert not after.all("Gather") and "/agent/connect" in after.first("Redirect").text
    note = api.get("/api/supervisors/queue").get_json()["escalations"][0]["escalation"]["note"]
    assert note == "wants a refund over the limit"
    # warn from the desk: the caller hears it and is held for the same agent
    caller2 = cf.place_call(twilio, "+14155550188")
    agent2 = cf.agent_connects(twilio)
    cf.bridge(twilio, agent2, caller2)
    assert api.post(f"/api/calls/{caller2.sid}/warn", json={}).status_code == 202
    run_jobs()
    (update2,) = standin.state.matching("POST", f"/Calls/{caller2.sid}.json")
    warned = twilio.post(update2.form["Url"], {"CallSid": caller2.sid})
    assert warned.first("Enqueue").text == f"hold-{caller2.sid}"
    after2 = cf.bridge_ends(twilio, agent2, None)
    assert "/agent/rejoin" in after2.first("Redirect").text
    assert api.post(f"/api/calls/{caller2.sid}/teleport", json={}).status_code == 404
    assert no_blocks(redis_conn)


def test_overflow_long_wait_offers_a_callback(twilio: Any, redis_conn: redis.Redis) -> None:
    cf.agent_connects(twilio)  # an agent is online, just busy
    caller = cf.place_call(twilio, CUSTOMER)
    assert cf.wait_in_queue(twilio, caller, queue_time=10_000).verbs() == ["Leave"]
    menu = cf.leave(twilio, caller)
    gather = menu.first("Gather")
    assert any("overflow_long_wait" in (p.text or "") for p in gather.iter("Play")) or list(gather.iter("Say"))
    confirmed = twilio.follow(gather, {"CallSid": caller.sid, "Digits": "1"})
    assert confirmed.verbs()[-1] == "Hangup"
    assert redis_conn.hget(keys.callback(f"cb-{caller.sid}"), "status") == "scheduled"
    (ev,) = events(redis_conn, "overflow")
    assert ev["reason"] == "long_wait"


def test_overflow_when_no_agent_is_connected(twilio: Any, redis_conn: redis.Redis, app: Any) -> None:
    caller = cf.place_call(twilio, CUSTOMER)
    assert cf.wait_in_queue(twilio, caller, queue_time=1).verbs()[-1] == "Pause"  # give agents a moment
    limit = app.config["SETTINGS"].no_agent_seconds
    assert cf.wait_in_queue(twilio, caller, queue_time=limit).verbs() == ["Leave"]
    menu = cf.leave(twilio, caller)
    assert any("overflow_no_agent" in (p.text or "") for p in menu.all("Play")) or menu.all("Say")
    bye = twilio.follow(menu.first("Gather"), {"CallSid": caller.sid, "Digits": ""})
    assert bye.verbs()[-1] == "Hangup"
    assert events(redis_conn, "overflow")[0]["reason"] == "no_agent"


def test_overflow_outside_opening_hours(twilio: Any, app: Any, redis_conn: redis.Redis) -> None:
    res = app.extensions["ivr"]
    now = datetime.now(res.settings.tz())
    closed_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][(now.weekday() + 1) % 7]
    change_settings(app, open_hours=f"{closed_day.title()} 00:00-24:00")
    caller = cf.place_call(twilio, CUSTOMER)
    gather = caller.reply.first("Gather")
    assert not caller.reply.all("Enqueue")
    assert any("overflow_closed" in (p.text or "") for p in gather.iter("Play")) or list(gather.iter("Say"))
    (ev,) = events(redis_conn, "call")
    assert ev["overflow"] == "closed"
    # a blocked caller is still treated at the door, closed or not
    res.blocklist.block("+14155550123", by="m", reason="x")
    assert cf.place_call(twilio, "+14155550123").reply.verbs() == ["Reject"]
