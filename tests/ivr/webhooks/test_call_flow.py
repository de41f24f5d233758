"""The phone line end to end, played as Twilio plays it: answer, screen, queue, bridge, flag, isolate."""

from __future__ import annotations

from typing import Any

import redis

from blocklist import exposure, keys
from tests.support import callflow as cf
from tests.support.constants import AGENT, BASE_URL, HARASSER, LINE

CUSTOMER = "+14155550177"


def events(r: redis.Redis, kind: str) -> list[dict[str, str]]:
    return [fields for _id, fields in r.xrange(keys.EVENTS) if fields.get("type") == kind]


def test_caller_is_queued_with_absolute_urls(twilio: Any, redis_conn: redis.Redis) -> None:
    caller = cf.place_call(twilio, CUSTOMER)
    assert caller.reply.verbs() == ["Enqueue"]
    enq = caller.enqueue
    assert enq.text == "agents"
    assert enq.get("action").startswith(BASE_URL + "/voice/queue-exit")
    assert enq.get("waitUrl").startswith(BASE_URL + "/voice/hold")
    assert enq.get("waitUrlMethod") == "POST" and enq.get("method") == "POST"
    hold = cf.wait_in_queue(twilio, caller, queue_time=5, position=3)
    assert hold.verbs()[-1] == "Pause"
    assert hold.all("Play") or hold.all("Say")
    call = redis_conn.hgetall(keys.call(caller.sid))
    assert call["number"] == CUSTOMER and call["line"] == LINE and call["decision"] == "allow"
    assert call["FromCity"] == "SAN FRANCISCO"
    assert "region" not in call  # phonenumbers' facts ride on the event, which the reports fold
    (event,) = events(redis_conn, "call")
    assert event["call_sid"] == caller.sid and event["region"] == "US" and event["FromCity"] == "SAN FRANCISCO"
    assert event["line_type"] == "fixed_or_mobile"


def test_long_wait_leaves_the_queue_and_says_goodbye(twilio: Any) -> None:
    caller = cf.place_call(twilio, CUSTOMER)
    hold = cf.wait_in_queue(twilio, caller, queue_time=10_000)
    assert hold.verbs() == ["Leave"]
    overflow = cf.leave(twilio, caller)
    gather = overflow.first("Gather")  # offers a call back; no key = a polite goodbye
    bye = twilio.follow(gather, {"CallSid": caller.sid, "Digits": ""})
    assert bye.verbs()[-1] == "Hangup"


def test_unknown_agent_is_refused_and_logged(twilio: Any, app: Any) -> None:
    agent = cf.agent_connects(twilio, identity="+15559998888")
    assert agent.dial is None
    assert agent.reply.verbs()[-1] == "Hangup"
    assert app.extensions["ivr"].counters["agent_refused"] == 1
    assert cf.agent_connects(twilio, identity="client:mallory").reply.verbs()[-1] == "Hangup"


def test_agent_bridge_records_pairing_and_says_nothing_of_flags(twilio: Any, api: Any, redis_conn: redis.Redis) -> None:
    caller = cf.place_call(twilio, CUSTOMER)
    agent = cf.agent_connects(twilio)
    dial = agent.dial
    assert dial.get("hangupOnStar") == "true"
    assert dial.get("action").startswith(BASE_URL + "/agent/after-dial")
    assert dial.find("Queue").text == "agents"
    at_bridge = cf.bridge(twilio, agent, caller)
    assert "flag" not in at_bridge.text.lower() and "harass" not in at_bridge.text.lower()
    assert at_bridge.all("Play") or at_bridge.all("Say")
    call = redis_conn.hgetall(keys.call(caller.sid))
    assert call["agent_leg"] == agent.sid and call["agent"] == AGENT
    view = api.get(f"/api/agents/{agent.sid}/call").get_json()
    assert view["agent"] == AGENT
    assert view["caller"]["call_sid"] == caller.sid and view["caller"]["number"] == CUSTOMER
    assert view["caller"]["current"] is True and view["caller"]["previous_flags"] == 0


def _flag_by_key(twilio: Any, number: str = HARASSER) -> tuple[cf.Caller, cf.AgentLeg, Any]:
    caller = cf.place_call(twilio, number)
    agent = cf.agent_connects(twilio)
    cf.bridge(twilio, agent, caller)
    after = cf.bridge_ends(twilio, agent, caller)
    gather = after.first("Gather")
    assert gather.get("numDigits") == "1" and gather.get("actionOnEmptyResult") == "true"
    assert int(gather.get("timeout")) <= 10
    first_poll = cf.held_poll(twilio, caller, queue_time=0)
    assert first_poll.verbs()[-1] == "Pause"  # held, waiting for the agent's decision
    menu = cf.press(twilio, agent, after, "9")
    return caller, agent, menu


def test_star_nine_sends_caller_to_isolation_which_plays_and_ends(twilio: Any, redis_conn: redis.Redis,
                                                                  app: Any) -> None:
    caller, agent, menu = _flag_by_key(twilio)
    # the agent: confirmation, breather, then back to the queue
    assert menu.verbs()[-2:] == ["Pause", "Redirect"]
    assert menu.first("Redirect").text.strip() == BASE_URL + "/agent/connect"
    settings = app.config["SETTINGS"]  # the breather scales with the category `*` 9 records
    assert int(menu.first("Pause").get("length")) == exposure.breather_seconds(settings.breather_seconds,
                                                                               settings.flag_category)
    # the caller's next poll leaves the private hold; its action puts it into isolation
    assert cf.held_poll(twilio, caller, queue_time=2).verbs() == ["Leave"]
    to_isolation = cf.leave(twilio, caller)
    assert to_isolation.first("Enqueue").text == "isolation"
    wait = cf.wait_in_queue(twilio, caller)
    verbs = wait.verbs()
    assert verbs[-1] == "Leave"
    played = [v for v in verbs if v in ("Play", "Say")]
    assert len(played) == 3, wait.text
    urls = [p.text for p in wait.all("Play")]
    assert any("analysis_start" in u for u in urls) or wait.all("Say")
    done = cf.leave(twilio, caller, "leave")
    assert done.verbs() == ["Hangup"]
    # blocklisted, flag event, isolation event
    entry = redis_conn.hgetall(keys.block("*", HARASSER))
    assert entry["via"] == "key" and entry["by"] == AGENT and entry["call_sid"] == caller.sid
    (flag,) = events(redis_conn, "flag")
    assert flag["number"] == HARASSER and flag["agent"] == AGENT and flag["FromCity"] == "SAN FRANCISCO"
    (iso,) = events(redis_conn, "isolation")
    assert iso["outcome"] == "complete" and iso["call_sid"] == caller.sid


def test_isolation_abandoned_early_is_recorded(twilio: Any, redis_conn: redis.Redis) -> None:
    caller, _agent, _menu = _flag_by_key(twilio)
    cf.held_poll(twilio, caller, queue_time=2)
    cf.leave(twilio, caller)
    cf.leave(twilio, caller, "hangup")
    (iso,) = events(redis_conn, "isolation")
    assert iso["outcome"] == "abandoned"


def test_star_then_other_key_rebridges_the_same_caller(twilio: Any, redis_conn: redis.Redis) -> None:
    caller = cf.place_call(twilio, CUSTOMER)
    agent = cf.agent_connects(twilio)
    cf.bridge(twilio, agent, caller)
    after = cf.bridge_ends(twilio, agent, caller)
    menu = cf.press(twilio, agent, after, "5")
    rejoin_url = menu.first("Redirect")
    # the caller is not held yet: the agent's leg pauses and tries again
    waiting = twilio.follow(rejoin_url, {"CallSid": agent.sid}, attr="text")
    assert waiting.verbs() == ["Pause", "Redirect"]
    # Twilio fetches the private hold's wait URL: now the caller is held, and keeps waiting (resume)
    assert cf.held_poll(twilio, caller).verbs()[-1] == "Pause"
    again = twilio.follow(waiting.first("Redirect"), {"CallSid": agent.sid}, attr="text")
    dial = again.first("Dial")
    assert dial.get("hangupOnStar") == "true"
    assert dial.find("Queue").text == f"hold-{caller.sid}"
    agent.dial = dial
    cf.bridge(twilio, agent, caller)
    assert redis_conn.hget(keys.call(caller.sid), "bridges") == "2"
    assert not redis_conn.exists(keys.block("*", CUSTOMER))


def test_no_key_goes_back_to_the_caller(twilio: Any) -> None:
    caller = cf.place_call(twilio, CUSTOMER)
    agent = cf.agent_connects(twilio)
    cf.bridge(twilio, agent, caller)
    after = cf.bridge_ends(twilio, agent, caller)
    menu = cf.press(twilio, agent, after, "")
    assert "/agent/rejoin" in menu.first("Redirect").text


def test_idle_agent_dial_timeout_gets_no_flag_window(twilio: Any) -> None:
    agent = cf.agent_connects(twilio)
    after = cf.bridge_ends(twilio, agent, None)
    assert not after.all("Gather")
    assert after.first("Redirect").text.strip() == BASE_URL + "/agent/connect"


def test_caller_who_hung_up_can_still_be_flagged_in_the_window(twilio: Any, redis_conn: redis.Redis,
                                                                standin: Any) -> None:
    caller = cf.place_call(twilio, HARASSER)
    agent = cf.agent_connects(twilio)
    cf.bridge(twilio, agent, caller)
    after = cf.bridge_ends(twilio, agent, caller, caller_hung_up=True)
    menu = cf.press(twilio, agent, after, "9")
    assert menu.first("Redirect").text.strip().endswith("/agent/connect")
    assert redis_conn.exists(keys.block("*", HARASSER))
    assert redis_conn.hget(keys.call(caller.sid), "redirect") == "caller_gone"
    assert standin.state.matching("POST", "/Calls/") == []  # nothing to move
    status = [e for e in events(redis_conn, "status") if e["call_sid"] == caller.sid]
    assert status and status[0]["duration"] == "47"


def test_same_number_calling_again_is_treated_at_the_door(twilio: Any) -> None:
    _flag_by_key(twilio)
    again = cf.place_call(twilio, HARASSER)
    assert again.reply.verbs() == ["Reject"]
    assert again.reply.first("Reject").get("reason") == "busy"
    # a different line: the block is global
    assert cf.place_call(twilio, HARASSER, line="+18005550000").reply.verbs() == ["Reject"]


def test_desk_flag_and_key_flag_of_one_call_make_one_flag(twilio: Any, api: Any, redis_conn: redis.Redis,
                                                          run_jobs: Any, standin: Any) -> None:
    caller = cf.place_call(twilio, HARASSER)
    agent = cf.agent_connects(twilio)
    cf.bridge(twilio, agent, caller)
    first = api.post(f"/api/calls/{caller.sid}/flag", json={"reason": "obscene", "note": "third time today"})
    assert first.status_code == 202, first.get_json()
    assert first.get_json()["status"] == "flagged" and first.get_json()["redirect"] == "queued"
    second = api.post(f"/api/calls/{caller.sid}/flag", json={"reason": "again"})
    assert second.status_code == 200 and second.get_json()["status"] == "already_flagged"
    run_jobs()
    updates = standin.state.matching("POST", f"/Calls/{caller.sid}.json")
    assert len(updates) == 1 and updates[0].form["Url"].startswith(BASE_URL + "/voice/isolation")
    # the bridge breaks because of the redirect; the agent's Dial action: the call was flagged -> breather
    after = cf.bridge_ends(twilio, agent, None)
    assert not after.all("Gather")
    # and the agent pressing * 9 as well does not make a second flag
    assert len(events(redis_conn, "flag")) == 1
    assert redis_conn.hget(keys.STRIKES, HARASSER) == "1"
    history = [h for h in api.get(f"/api/calls/{caller.sid}").get_json()["history"] if h["action"] == "flag"]
    assert len(history) == 1 and history[0]["note"] == "third time today"
    # the REST redirect lands on the isolation entry, which enqueues into isolation
    iso = twilio.post(updates[0].form["Url"], {"CallSid": caller.sid})
    assert iso.first("Enqueue").text == "isolation"


def test_rest_failing_twice_then_succeeding(twilio: Any, api: Any, run_jobs: Any, standin: Any,
                                            redis_conn: redis.Redis) -> None:
    caller = cf.place_call(twilio, HARASSER)
    agent = cf.agent_connects(twilio)
    cf.bridge(twilio, agent, caller)
    standin.state.fail(f"/Calls/{caller.sid}.json", times=2, status=503)
    resp = api.post(f"/api/calls/{caller.sid}/flag", json={"reason": "nonsense"})
    assert resp.status_code == 202
    # the flag and block exist at once, before any REST attempt
    assert redis_conn.exists(keys.block("*", HARASSER))
    for _ in range(4):  # retries are re-enqueued immediately (backoff 0 in tests)
        run_jobs()
    updates = standin.state.matching("POST", f"/Calls/{caller.sid}.json")
    assert len(updates) == 3
    assert redis_conn.hget(keys.call(caller.sid), "redirect") == "done"
    assert api.get(f"/api/calls/{caller.sid}").get_json()["redirect"] == "done"


def test_rest_redirect_of_a_call_that_ended_is_caller_gone(twilio: Any, api: Any, run_jobs: Any, standin: Any,
                                                         redis_conn: redis.Redis) -> None:
    caller = cf.place_call(twilio, HARASSER)
    standin.state.end_call(caller.sid)
    assert api.post(f"/api/calls/{caller.sid}/flag", json={}).status_code == 202
    run_jobs()
    assert len(standin.state.matching("POST", f"/Calls/{caller.sid}.json")) == 1  # not retried
    assert redis_conn.hget(keys.call(caller.sid), "redirect") == "caller_gone"


def test_anonymous_caller_flagged_is_recorded_not_blocklisted(twilio: Any, redis_conn: redis.Redis) -> None:
    caller, _agent, menu = _flag_by_key(twilio, number="anonymous")
    assert menu.verbs()[-1] == "Redirect"
    (flag,) = events(redis_conn, "flag")
    assert flag["number"] == "anonymous" and flag["blocked"] == "0"
    assert not list(redis_conn.scan_iter(match="ivr:block:*"))
    assert redis_conn.hget(keys.STRIKES, "anonymous") is None
    # a withheld caller still gets through next time (policy allow by default)
    assert cf.place_call(twilio, "anonymous").reply.verbs() == ["Enqueue"]


def test_withheld_forms_are_never_identities(twilio: Any, redis_conn: redis.Redis) -> None:
    for raw in ("", "anonymous", "Restricted", "+266696687", "+7378742833", "UNAVAILABLE", "garbage!!"):
        caller = cf.place_call(twilio, raw)
        assert caller.reply.verbs() == ["Enqueue"]
        assert redis_conn.hget(keys.call(caller.sid), "number") == "anonymous"


def test_unknown_callsid_on_callbacks_changes_nothing(twilio: Any, redis_conn: redis.Redis) -> None:
    from tests.support.twilio_player import call_sid

    before = redis_conn.dbsize()
    assert twilio.post("/voice/status", {"CallSid": call_sid(), "CallStatus": "completed"}).status == 200
    assert twilio.post("/voice/isolation/done", {"CallSid": call_sid(), "QueueResult": "leave"}).verbs() == ["Hangup"]
    assert redis_conn.dbsize() == before
    assert twilio.post("/voice/status", {"CallSid": "nonsense"}).status == 400
    assert twilio.post("/voice/incoming", {"From": CUSTOMER}).status == 400


def test_desk_flag_of_unknown_call_is_404_and_bad_body_400(api: Any, redis_conn: redis.Redis) -> None:
    from tests.support.twilio_player import call_sid

    assert api.post(f"/api/calls/{call_sid()}/flag", json={}).status_code == 404
    assert api.post("/api/calls/CAnothex/flag", json={}).status_code == 400
    assert redis_conn.dbsize() == 0


def test_api_requires_the_bearer_token(client: Any) -> None:
    from tests.support.twilio_player import call_sid

    assert client.post(f"/api/calls/{call_sid()}/flag", json={}).status_code == 401
    wrong = client.get(f"/api/agents/{call_sid()}/call", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "IVR_API_TOKEN" in wrong.get_json()["detail"]


def test_fallback_url_queues_the_caller(twilio: Any) -> None:
    from tests.support.twilio_player import call_sid

    reply = twilio.post("/voice/fallback", {"CallSid": call_sid(), "From": CUSTOMER, "ErrorCode": "11200"})
    assert reply.first("Enqueue").text == "agents"


def test_linefault_treatment_is_bounded(twilio: Any, app_env: dict[str, str], redis_conn: redis.Redis,
                                        app: Any) -> None:
    app.extensions["ivr"].blocklist.block(HARASSER, by="manager", reason="test", treatment="linefault")
    reply = cf.place_call(twilio, HARASSER).reply
    assert reply.verbs()[-1] == "Hangup"
    assert reply.verbs().count("Pause") == app.config["SETTINGS"].linefault_repeats
    assert "Redirect" not in reply.verbs()


def test_isolation_treatment_at_the_door(twilio: Any, app: Any) -> None:
    app.extensions["ivr"].blocklist.block(HARASSER, by="manager", reason="test", treatment="isolation")
    caller = cf.place_call(twilio, HARASSER)
    assert caller.enqueue.text == "isolation"
    assert cf.wait_in_queue(twilio, caller).verbs()[-1] == "Leave"


def test_isolation_plays_the_three_prompts_in_order_in_each_line_language(twilio: Any, app: Any,
                                                                          redis_conn: redis.Redis) -> None:
    from ivr.webhooks.media import LANGUAGES
    bl = app.extensions["ivr"].blocklist
    for i, lang in enumerate(LANGUAGES):
        line = f"+1800555{1300 + i:04d}"
        bl.set_line_setting(line, "language", lang, by="manager")
        bl.block(HARASSER, by="manager", reason="test", treatment="isolation", scope=line)
        caller = cf.place_call(twilio, HARASSER, line=line)
        assert redis_conn.hget(keys.call(caller.sid), "lang") == lang
        wait = cf.wait_in_queue(twilio, caller)
        urls = [p.text for p in wait.all("Play")]
        names = [u.rsplit("/", 1)[1].split(".", 1)[0] for u in urls]
        assert names == ["analysis_start", "signal_tone", "analysis_complete"], (lang, urls)
        assert all(f"/media/{lang}/" in u for u in urls)
        assert wait.verbs()[-1] == "Leave"
