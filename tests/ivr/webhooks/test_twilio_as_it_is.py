"""Twilio as it really is, played the unkind way: an agent who just hangs up, a flag-menu prompt longer
than a fixed grace, a queue that does not exist at Twilio, a call-back callee who hangs up, signatures
made with a SharedKey, a secondary token or for a GET, and every documented QueueResult.

Signatures in the signature tests are computed here with hmac/hashlib, independently of the app's code
and of twilio-python, from Twilio's published rule: the full URL, then each POST field name and value in
sorted order, HMAC keyed with the secret, base64.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from rq import SimpleWorker
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from blocklist import keys
from ivr.webhooks import media
from tests.support import callflow as cf
from tests.support.callflow import star, worker_with_scheduler
from tests.support.constants import ACCOUNT_SID, AUTH_TOKEN, BASE_URL, CUSTOMER, LINE
from tests.support.twilio_player import call_sid
from workers.queues import STANDING_QUEUES_JOB_ID

# Twilio's documented values (TwiML <Enqueue>, "QueueResult values"; Call resource, "Call Status values").
DOCUMENTED_QUEUE_RESULTS = {"bridged", "bridging-in-process", "error", "hangup", "leave", "redirected",
                            "redirected-from-bridged", "queue-full", "system-error"}
DOCUMENTED_CALL_STATUSES = {"queued", "ringing", "in-progress", "completed", "busy", "failed", "no-answer",
                            "canceled"}


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    return {**app_env, "IVR_SUPERVISORS": "client:sam", "IVR_CALLBACK_HOURS": "", "IVR_CALLBACK_DELAY_SECONDS": "1"}


def bridged(twilio: Any, number: str = CUSTOMER) -> tuple[cf.Caller, cf.AgentLeg]:
    caller = cf.place_call(twilio, number)
    agent = cf.agent_connects(twilio)
    cf.bridge(twilio, agent, caller)
    return caller, agent


def agent_dial_action(twilio: Any, agent: cf.AgentLeg, call_status: str) -> Any:
    return twilio.follow(agent.dial, {"CallSid": agent.sid, "CallStatus": call_status, "DialCallStatus": "completed",
                                      "DialCallDuration": "42", "AccountSid": ACCOUNT_SID})


def caller_enqueue_action(twilio: Any, caller: cf.Caller, result: str = "bridged") -> Any:
    return twilio.follow(caller.enqueue, {"CallSid": caller.sid, "QueueResult": result, "QueueTime": "4",
                                          "CallStatus": "in-progress", "AccountSid": ACCOUNT_SID})


def is_goodbye(reply: Any) -> bool:
    """A short closing message and the end of the call: never a queue, never silence."""
    return reply.verbs()[-1:] == ["Hangup"] and "Enqueue" not in reply.verbs() and len(reply.verbs()) == 2


# ---- 1. an agent who hangs up is not `*` -------------------------------------------------------------------
def test_an_agent_hang_up_thanks_the_caller_at_once_and_never_parks_them(twilio: Any) -> None:
    caller, agent = bridged(twilio)
    assert agent_dial_action(twilio, agent, "completed").verbs() == []  # the agent's leg is gone
    reply = caller_enqueue_action(twilio, caller)
    assert is_goodbye(reply), reply.text


def test_when_the_callers_side_comes_first_it_waits_a_second_then_hears_the_goodbye(twilio: Any) -> None:
    caller, agent = bridged(twilio)
    first = caller_enqueue_action(twilio, caller)
    assert first.verbs() == ["Pause", "Redirect"] and first.first("Pause").get("length") == "1"
    agent_dial_action(twilio, agent, "completed")
    later = twilio.follow(first.first("Redirect"), {"CallSid": caller.sid, "AccountSid": ACCOUNT_SID}, attr="text")
    assert is_goodbye(later), later.text


def test_the_agent_legs_status_callback_also_lets_the_caller_go(twilio: Any, redis_conn: redis.Redis) -> None:
    caller, agent = bridged(twilio)
    first = caller_enqueue_action(twilio, caller)
    # no Dial action at all (Twilio skips it when the parent leg is gone); its status callback says so
    twilio.post("/voice/status", {"CallSid": agent.sid, "CallStatus": "completed", "CallDuration": "61",
                                  "AccountSid": ACCOUNT_SID})
    later = twilio.follow(first.first("Redirect"), {"CallSid": caller.sid, "AccountSid": ACCOUNT_SID}, attr="text")
    assert is_goodbye(later), later.text
    assert redis_conn.hget(keys.agent_leg(agent.sid), "ended")


def test_a_held_caller_whose_agent_then_hangs_up_leaves_at_the_next_poll(twilio: Any) -> None:
    caller, agent, _after = star(twilio)
    assert cf.held_poll(twilio, caller, 1).verbs() == ["Pause"]
    twilio.post("/voice/status", {"CallSid": agent.sid, "CallStatus": "completed", "CallDuration": "70",
                                  "AccountSid": ACCOUNT_SID})
    assert cf.held_poll(twilio, caller, 2).verbs() == ["Leave"]
    assert is_goodbye(cf.leave(twilio, caller))


def test_star_still_holds_the_caller_for_the_agents_decision(twilio: Any) -> None:
    caller, agent = bridged(twilio)
    after = agent_dial_action(twilio, agent, "in-progress")
    assert after.verbs() == ["Gather"]
    held = caller_enqueue_action(twilio, caller)
    assert held.verbs() == ["Enqueue"] and held.first("Enqueue").text == f"hold-{caller.sid}"


def test_with_no_word_from_the_agent_side_the_caller_is_held_after_three_seconds(twilio: Any) -> None:
    caller, _agent = bridged(twilio)
    reply = caller_enqueue_action(twilio, caller)
    for _ in range(3):
        assert reply.verbs() == ["Pause", "Redirect"]
        reply = twilio.follow(reply.first("Redirect"), {"CallSid": caller.sid, "AccountSid": ACCOUNT_SID},
                              attr="text")
    assert reply.verbs() == ["Enqueue"] and reply.first("Enqueue").text == f"hold-{caller.sid}"


# ---- 2. the hold deadline counts the agent's real prompt ---------------------------------------------------
@pytest.mark.parametrize("lang", ["fi", "en"])
def test_the_held_callers_deadline_counts_the_flag_menu_prompt(app: Any, twilio: Any, redis_conn: redis.Redis,
                                                               lang: str) -> None:
    from tests.support.app import change_settings

    change_settings(app, default_language=lang)
    before = int(time.time() * 1000)
    caller, _agent, _after = star(twilio)
    with app.app_context():
        prompt = media.seconds("agent_flag_menu", lang)
    window = app.extensions["ivr"].settings.flag_window_seconds
    deadline = int(redis_conn.hget(keys.call(caller.sid), "hold_deadline") or 0)
    expected = (prompt + window + 15) * 1000
    assert before + expected - 100 <= deadline <= int(time.time() * 1000) + expected + 100
    if lang == "fi":
        assert prompt > 14  # the Finnish menu alone nearly fills the old fixed 15 s grace
        # 25 s after the window opened the old rule (window + 15 s) had let the caller go: now held still
        assert cf.held_poll(twilio, caller, window + 20).verbs() == ["Pause"]


def test_a_managers_own_long_menu_recording_moves_the_deadline(app: Any, client: Any, twilio: Any, api: Any,
                                                               redis_conn: redis.Redis) -> None:
    from tests.support.audio import pcm_wav

    resp = client.put("/api/prompts/en/agent_flag_menu", data=pcm_wav(60.0),
                          headers={**api.headers, "Content-Type": "audio/wav"})
    assert resp.status_code == 201, resp.get_json()
    before = int(time.time() * 1000)
    caller, agent, after = star(twilio)
    deadline = int(redis_conn.hget(keys.call(caller.sid), "hold_deadline") or 0)
    assert deadline - before >= (60 + 5 + 15) * 1000 - 200
    assert cf.held_poll(twilio, caller, 75).verbs() == ["Pause"]  # 75 s in: the agent still hears the menu
    back = cf.press(twilio, agent, after, "0")  # "back to caller" after the whole recording
    assert back.first("Redirect").text.strip().startswith(BASE_URL + "/agent/rejoin")
    resumed = int(redis_conn.hget(keys.call(caller.sid), "hold_deadline") or 0)
    assert resumed >= int(time.time() * 1000) + 30_000 - 200  # the resume prompt and the re-dial's grace


# ---- 3. every queue an agent or supervisor dials exists ----------------------------------------------------
def test_standing_queues_include_the_supervisors(app: Any, standin: Any) -> None:
    from workers import calls as call_jobs

    assert sorted(call_jobs.ensure_standing_queues()) == ["agents", "isolation", "supervisors"]
    assert standin.state.queue_by_name("supervisors") is not None


def test_a_failed_queue_dial_backs_off_and_makes_the_queues_again(app: Any, twilio: Any, standin: Any,
                                                                  rq_conn: Any) -> None:
    agent = cf.agent_connects(twilio)
    pauses = []
    for _ in range(5):
        after = twilio.follow(agent.dial, {"CallSid": agent.sid, "CallStatus": "in-progress",
                                           "DialCallStatus": "failed", "ErrorCode": "13225", "AccountSid": ACCOUNT_SID})
        assert after.verbs()[-2:] == ["Pause", "Redirect"], after.text
        pauses.append(int(after.first("Pause").get("length")))
        again = twilio.follow(after.first("Redirect"), {"CallSid": agent.sid, "From": agent.identity,
                                                        "AccountSid": ACCOUNT_SID}, attr="text")
        agent.dial = again.first("Dial")
    assert pauses == [5, 10, 20, 30, 30]  # not a tight loop
    SimpleWorker(["maintenance"], connection=rq_conn, serializer=JSONSerializer).work(burst=True)
    assert {"agents", "supervisors", "isolation"} <= {q["friendly_name"] for q in standin.state.queues.values()}


def test_a_failed_dial_runs_a_standing_queues_retry_at_once(app: Any, twilio: Any, standin: Any, rq_conn: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Twilio's REST API was unreachable when the service started (the newcomer's order: the service, then the
    # simulator's stand-in), so the job waits out rq's retry backoff: 10 s, then 60 s, then 5 minutes. An agent's
    # failed dial says the queues are missing: the retry runs at once, not minutes later.
    from workers import calls as call_jobs

    def unreachable(*_: Any) -> list[str]:
        raise ConnectionError("Twilio's REST API refused the connection")

    def work() -> None:  # no scheduler: a job runs only if it is in the queue now
        SimpleWorker(["maintenance"], connection=rq_conn, serializer=JSONSerializer).work(burst=True)

    with monkeypatch.context() as patched:
        patched.setattr(call_jobs.twilio_rest, "ensure_queues", unreachable)
        call_jobs.enqueue_standing_queues(rq_conn)
        work()
    job = Job.fetch(STANDING_QUEUES_JOB_ID, connection=rq_conn, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.SCHEDULED and job.retries_left == 2
    call_jobs.enqueue_standing_queues(rq_conn)  # a process starting: no news, so the backoff stands
    work()
    assert standin.state.queue_by_name("supervisors") is None

    agent = cf.agent_connects(twilio)
    after = twilio.follow(agent.dial, {"CallSid": agent.sid, "CallStatus": "in-progress", "DialCallStatus": "failed",
                                       "ErrorCode": "13225", "AccountSid": ACCOUNT_SID})
    assert after.verbs()[-2:] == ["Pause", "Redirect"], after.text
    assert job.get_status() == JobStatus.QUEUED
    work()
    assert {"agents", "supervisors", "isolation"} <= {q["friendly_name"] for q in standin.state.queues.values()}
    assert not Job.exists(job.id, connection=rq_conn)  # done, and not scheduled again (result_ttl=0)


def test_the_cron_keeps_the_queues_and_deletes_the_holds(rq_conn: Any) -> None:
    from rq.cron import CronScheduler

    cron = CronScheduler(connection=rq_conn)
    cron.load_config_from_file("workers.cron")
    registered = {job.func_name for job in cron.get_jobs()}
    assert {"workers.calls.cleanup_hold_queues", "workers.calls.ensure_standing_queues",
            "workers.calls.prune_block_index"} <= registered


# ---- 5. a call-back callee who hangs up ends the call record -----------------------------------------------
def test_a_call_back_callee_hanging_up_ends_its_call(twilio: Any, api: Any, app: Any, standin: Any,
                                                     redis_conn: redis.Redis) -> None:
    caller = cf.place_call(twilio, CUSTOMER)
    assert api.post(f"/api/calls/{caller.sid}/callback", json={"delay_seconds": 0}).status_code == 202
    worker_with_scheduler(app.extensions["ivr"].rq_connection)
    (created,) = standin.state.matching("POST", "/Calls.json")
    out_sid = call_sid()
    answered = twilio.post(created.form["Url"], {"CallSid": out_sid, "AnsweredBy": "human", "AccountSid": ACCOUNT_SID,
                                                 "CallStatus": "in-progress"})
    assert "Enqueue" in answered.verbs()
    callee = cf.Caller(out_sid, CUSTOMER, answered, answered.first("Enqueue"))
    agent = cf.agent_connects(twilio)
    cf.bridge(twilio, agent, callee)
    after = cf.bridge_ends(twilio, agent, callee)  # `*`: the agent may still flag after the call
    twilio.post(created.form["StatusCallback"], {"CallSid": out_sid, "CallStatus": "completed",
                                                 "CallDuration": "30", "AccountSid": ACCOUNT_SID})
    assert redis_conn.hget(keys.call(out_sid), "ended")
    reply = cf.press(twilio, agent, after, "9")
    assert any("agent_caller_gone_flagged" in (p.text or "") for p in reply.all("Play")), reply.text
    rejoin = twilio.post("/agent/rejoin?caller=" + out_sid + "&n=0", {"CallSid": agent.sid, "AccountSid": ACCOUNT_SID})
    assert rejoin.first("Redirect").text.strip() == BASE_URL + "/agent/connect"  # no wait for a gone callee


# ---- 6. signatures as Twilio may send them ------------------------------------------------------------------
def independent_signature(secret: str, url: str, params: dict[str, str], digest: Any = hashlib.sha1) -> str:
    data = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    return base64.b64encode(hmac.new(secret.encode(), data.encode(), digest).digest()).decode()


SHARED_KEY = "whsk_" + "k3y" * 12


def post_signed(client: Any, path: str, params: dict[str, str], signature: str, **headers: str) -> Any:
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature, **headers})


def test_the_published_vector_still_holds() -> None:
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234", "From": "+12349013030",
              "To": "+18005551212"}
    assert independent_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params) == \
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


@pytest.mark.parametrize(("algorithm", "digest"), [("HMAC_SHA256", hashlib.sha256), ("HMAC_SHA1", hashlib.sha1)])
def test_a_shared_key_signature_is_checked_with_the_headers_algorithm(app: Any, client: Any, algorithm: str,
                                                                      digest: Any) -> None:
    from tests.support.app import change_settings

    change_settings(app, webhook_shared_key=SHARED_KEY)
    params = twilio_params()
    header = {"X-Twilio-Webhooks-Signature-Settings": f"key=whsk_1,algorithm={algorithm}"}
    good = independent_signature(SHARED_KEY, BASE_URL + "/voice/incoming", params, digest)
    assert post_signed(client, "/voice/incoming", params, good, **header).status_code == 200
    # the auth token's signature does not pass where the header names the SharedKey, nor the wrong hash
    with_token = independent_signature(AUTH_TOKEN, BASE_URL + "/voice/incoming", params, digest)
    assert post_signed(client, "/voice/incoming", params, with_token, **header).status_code == 403
    other = hashlib.sha1 if digest is hashlib.sha256 else hashlib.sha256
    wrong_hash = independent_signature(SHARED_KEY, BASE_URL + "/voice/incoming", params, other)
    assert post_signed(client, "/voice/incoming", params, wrong_hash, **header).status_code == 403


def test_a_shared_key_signature_without_the_key_configured_is_refused(client: Any) -> None:
    params = twilio_params()
    sig = independent_signature(SHARED_KEY, BASE_URL + "/voice/incoming", params, hashlib.sha256)
    resp = post_signed(client, "/voice/incoming", params, sig,
                       **{"X-Twilio-Webhooks-Signature-Settings": "key=whsk_1,algorithm=HMAC_SHA256"})
    assert resp.status_code == 403


def test_during_a_token_rotation_both_tokens_sign(app: Any, client: Any) -> None:
    from tests.support.app import change_settings

    secondary = "rotated-auth-token-" + "9" * 20
    params = twilio_params()
    url = BASE_URL + "/voice/incoming"
    assert post_signed(client, "/voice/incoming", params, independent_signature(secondary, url, params)).status_code \
        == 403
    change_settings(app, twilio_secondary_auth_token=secondary)
    for token in (AUTH_TOKEN, secondary):
        params = twilio_params()
        assert post_signed(client, "/voice/incoming", params, independent_signature(token, url, params)).status_code \
            == 200
    params = twilio_params()
    assert post_signed(client, "/voice/incoming", params,
                       independent_signature("a-third-token-" + "0" * 20, url, params)).status_code == 403


@pytest.mark.parametrize("path", ["/voice/incoming", "/voice/status", "/agent/connect"])
def test_a_number_set_to_get_is_answered(client: Any, redis_conn: redis.Redis, path: str) -> None:
    params = twilio_params()
    if path == "/agent/connect":
        params["From"] = "+15550001111"
    if path == "/voice/status":
        params["CallStatus"] = "completed"
    url = BASE_URL + path + "?" + urlencode(params)
    resp = client.get(url[len(BASE_URL):], headers={"X-Twilio-Signature": independent_signature(AUTH_TOKEN, url, {})})
    assert resp.status_code == 200 and resp.mimetype == "text/xml", resp.get_data(as_text=True)
    if path == "/voice/incoming":
        assert b"<Enqueue" in resp.get_data() and redis_conn.exists(keys.call(params["CallSid"]))
    # the same GET signed as if the fields were POST fields is refused
    forged = client.get(url[len(BASE_URL):], headers={"X-Twilio-Signature": independent_signature(
        AUTH_TOKEN, BASE_URL + path, params)})
    assert forged.status_code == 403


def twilio_params() -> dict[str, str]:
    return {"CallSid": call_sid(), "AccountSid": ACCOUNT_SID, "From": CUSTOMER, "To": LINE, "CallStatus": "ringing",
            "Direction": "inbound", "ApiVersion": "2010-04-01"}


# ---- 7. every documented QueueResult and CallStatus has a deliberate answer -----------------------------
def test_the_tables_name_exactly_twilios_documented_values() -> None:
    from ivr.webhooks import queue as voice

    assert set(voice.QUEUE_RESULTS) == DOCUMENTED_QUEUE_RESULTS
    assert set(voice.CALL_STATUSES) == DOCUMENTED_CALL_STATUSES
    assert set(voice.FINAL_CALL_STATUSES) <= set(voice.CALL_STATUSES)


@pytest.mark.parametrize("result", sorted(DOCUMENTED_QUEUE_RESULTS))
def test_every_queue_result_gets_twiml_in_every_queue(twilio: Any, api: Any, result: str) -> None:
    waiting = cf.place_call(twilio, CUSTOMER)
    held, _agent, _after = star(twilio, "+14155550166")
    moved = twilio.post("/voice/moves/escalate?lang=en", {"CallSid": call_sid(), "AccountSid": ACCOUNT_SID})
    escalated = cf.place_call(twilio, "+14155550155")
    escalated.enqueue = moved.first("Enqueue")
    for caller in (waiting, held, escalated):
        reply = caller_enqueue_action(twilio, caller, result)
        assert reply.status == 200 and reply.root is not None, (result, reply.status, reply.text)
        if result == "bridged":  # held, or waiting to learn how the bridge ended; let go when none was recorded
            paired = (["Pause", "Redirect"], ["Enqueue"])
            assert reply.verbs() in (paired if caller is held else (["Play", "Hangup"],)), reply.text
        if result in ("error", "system-error", "bridging-in-process") and caller is not held:
            assert reply.verbs() == ["Enqueue"] and reply.first("Enqueue").text == caller.enqueue.text
        if result in ("redirected", "redirected-from-bridged", "hangup"):
            assert reply.verbs() == []  # the call is elsewhere or gone: nothing to say
