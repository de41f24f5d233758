"""A desk flag of a live call costs at most three Redis round trips, and loses nothing on the way:
the flag, the block on the sanction ladder, the history, the event, the caller's move to isolation (the RQ
redirect job with its deterministic id and retries), the report fold, and the permission rules.

Round trips are counted by the Redis server: each write of one or more commands the client sent at once (a
pipeline, a MULTI or a script) is one read in its `total_reads_processed` (what bench/ measures), and its MONITOR
says which commands they were. The AOF check's own polls, made only while Redis runs a background fsync, are
counted apart (see round_trips).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from blocklist import keys
from blocklist.flags import FlagTransaction
from blocklist.store import aof_written_before_reply, parse_aof_info
from ivr.accounts import Users
from tests.support import callflow as cf
from tests.support.constants import AGENT, AGENT2, API_TOKEN, BASE_URL, HARASSER, LINE
from tests.support.store import ServerLog
from workers.queues import CALLS, FOLD_JOB_ID, REPORTS, queue, redirect_job_id

MAX_ROUND_TRIPS = 3
AOF_POLL = "INFO PERSISTENCE"  # aof_written's own round trip
HEALTH_CHECK = "PING"  # redis-py's check of a pooled connection idle for 30 s (store.connect)
OTHER_HARASSER = "+14155550166"


@contextlib.contextmanager
def round_trips(server: redis.Redis) -> Iterator[dict[str, Any]]:
    """Count the round trips the app makes inside the block, as the Redis server saw them (tests.support.store
    ServerLog: its MONITOR for what was sent, its count of reads for the round trips)."""
    seen: dict[str, Any] = {}
    with ServerLog(server) as log:
        yield seen
    seen["writes"] = log.sent
    # Redis in the middle of a background fsync postpones its AOF write: then, and only then, the flag waits for it
    # with INFO polls of its own (aof_written), as every acknowledged write always did. The flag's own batch ends
    # with an INFO persistence too: a poll is one that follows another on the same connection.
    last: dict[str, str] = {}
    polls = 0
    for client, command in log.by_client:
        polls += command.upper() == AOF_POLL == last.get(client)
        last[client] = command.upper()
    seen["aof_polls"] = polls
    # A connection the pool has not used for 30 s is PINGed before it is reused (a vanished primary is noticed):
    # the connection's upkeep, not the flag's; on a slow run the gap between the warm-up and the flag passes 30 s
    seen["health_checks"] = sum(1 for command in log.sent if command.upper() == HEALTH_CHECK)
    seen["count"] = log.reads - seen["aof_polls"] - seen["health_checks"]  # each is a read of its own


def live_call(twilio: Any, number: str = HARASSER, identity: str = AGENT) -> cf.Caller:
    """A caller bridged to an agent's phone, as Twilio plays it."""
    caller = cf.place_call(twilio, number)
    agent = cf.agent_connects(twilio, identity=identity)
    cf.bridge(twilio, agent, caller)
    return caller


def warm_up(twilio: Any, client: Any, run_jobs: Any, token: str = API_TOKEN, identity: str = AGENT) -> None:
    """One flag first, with the same kind of token: connections made, scripts loaded, rq's server version
    read (each once per process or Redis start). Its fold then runs, so the measured flag has to enqueue
    a fold of its own (the dearer case)."""
    warm = live_call(twilio, OTHER_HARASSER, identity)
    resp = client.post(f"/api/calls/{warm.sid}/flag", json={"reason": "obscene"},
                       headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 202, resp.get_json()
    run_jobs((REPORTS,))


def assert_flag_kept(app: Any, r: redis.Redis, rq_conn: redis.Redis, sid: str, agent: str) -> None:
    """Everything a new desk flag of a live caller leaves behind."""
    settings = app.extensions["ivr"].settings
    assert r.exists(keys.flag_once(sid))
    block = r.hgetall(keys.block(keys.GLOBAL, HARASSER))
    assert block["step"] == "1" and block["call_sid"] == sid and block["by"] == agent and block["via"] == "desk"
    history = [json.loads(h) for h in r.lrange(keys.history(HARASSER), 0, -1)]
    assert [(h["action"], h["call_sid"], h["by"]) for h in history] == [("flag", sid, agent), ("block", sid, agent)]
    assert history[0]["reason"] == "obscene" and history[0]["note"] == "laughing"
    flags = [f for _id, f in r.xrange(keys.EVENTS) if f.get("type") == "flag" and f.get("call_sid") == sid]
    assert len(flags) == 1 and flags[0]["agent"] == agent and flags[0]["blocked"] == "1"
    assert flags[0]["FromCity"] == "SAN FRANCISCO" and flags[0]["region"] == "US"
    assert r.hget(keys.STRIKES, HARASSER) == "1"
    call = r.hgetall(keys.call(sid))
    assert call["redirect"] == "queued" and call["flag_via"] == "desk" and call["flagged"]
    assert r.get(keys.decision(sid)) == "isolate"
    job = Job.fetch(redirect_job_id("isolation", sid), connection=rq_conn, serializer=JSONSerializer)
    assert job.id in queue(CALLS, rq_conn).get_job_ids()
    assert job.args[0] == sid and job.args[1].startswith(BASE_URL + "/voice/isolation")
    assert job.retries_left == settings.redirect_retries and job.retry_intervals == list(settings.redirect_backoff)
    assert queue(REPORTS, rq_conn).get_job_ids() == [FOLD_JOB_ID]


def test_a_desk_flag_with_the_service_token_costs_at_most_three_round_trips(
        app: Any, twilio: Any, api: Any, client: Any, redis_conn: redis.Redis, rq_conn: redis.Redis, run_jobs: Any,
        standin: Any) -> None:
    warm_up(twilio, client, run_jobs)
    caller = live_call(twilio)
    with round_trips(redis_conn) as trips:
        resp = api.post(f"/api/calls/{caller.sid}/flag", json={"reason": "obscene", "note": "laughing"})
    assert resp.status_code == 202, resp.get_json()
    body = resp.get_json()
    assert (body["status"], body["blocked"], body["step"], body["caller"], body["redirect"]) == \
        ("flagged", True, 1, "in call", "queued")
    assert trips["count"] <= MAX_ROUND_TRIPS, trips["writes"]
    assert_flag_kept(app, redis_conn, rq_conn, caller.sid, AGENT)  # the service token records the bridged agent
    # the job moves the caller, once
    run_jobs()
    updates = standin.state.matching("POST", f"/Calls/{caller.sid}.json")
    assert len(updates) == 1 and updates[0].form["Url"].startswith(BASE_URL + "/voice/isolation")
    assert redis_conn.hget(keys.call(caller.sid), "redirect") == "done"


def test_the_aof_check_rides_in_the_flags_own_round_trip(
        app: Any, twilio: Any, client: Any, redis_conn: redis.Redis, run_jobs: Any) -> None:
    warm_up(twilio, client, run_jobs)
    polls = []
    for number in ("+14155550101", "+14155550102", "+14155550103"):
        caller = live_call(twilio, number)
        with round_trips(redis_conn) as trips:
            assert client.post(f"/api/calls/{caller.sid}/flag", json={},
                               headers={"Authorization": f"Bearer {API_TOKEN}"}).status_code == 202
        polls.append(trips["aof_polls"])
    assert min(polls) == 0, polls  # three background fsyncs in a row would be needed to poll every time


def test_a_second_flag_of_the_call_changes_nothing_in_two_round_trips(
        app: Any, twilio: Any, api: Any, client: Any, redis_conn: redis.Redis, rq_conn: redis.Redis, run_jobs: Any) -> None:
    warm_up(twilio, client, run_jobs)
    caller = live_call(twilio)
    assert api.post(f"/api/calls/{caller.sid}/flag", json={"reason": "obscene"}).status_code == 202
    job_before = rq_conn.hgetall(Job.key_for(redirect_job_id("isolation", caller.sid)))
    with round_trips(redis_conn) as trips:
        again = api.post(f"/api/calls/{caller.sid}/flag", json={"reason": "again"})
    assert again.status_code == 200 and again.get_json()["status"] == "already_flagged"
    assert trips["count"] <= 2  # the read, and the UNWATCH that gives the connection back clean
    assert redis_conn.hget(keys.STRIKES, HARASSER) == "1"
    assert rq_conn.hgetall(Job.key_for(redirect_job_id("isolation", caller.sid))) == job_before
    assert queue(CALLS, rq_conn).get_job_ids().count(redirect_job_id("isolation", caller.sid)) == 1


def test_a_desk_flag_with_a_managers_token_costs_at_most_three_round_trips(
        app: Any, twilio: Any, api: Any, client: Any, redis_conn: redis.Redis, rq_conn: redis.Redis,
        run_jobs: Any) -> None:
    users = Users(redis_conn)
    users.create("boss", "correct horse battery", "manager", identities=[AGENT2], by="test")
    _id, token = users.create_token("boss", "script", by="test", by_role="admin")
    cf.agent_connects(twilio, identity=AGENT2)  # the manager's own phone has a leg: the flag is recorded by it
    warm_up(twilio, client, run_jobs, token)
    caller = live_call(twilio)  # bridged to another agent's phone
    headers = {"Authorization": f"Bearer {token}"}
    with round_trips(redis_conn) as trips:
        resp = client.post(f"/api/calls/{caller.sid}/flag", json={"reason": "obscene", "note": "laughing"},
                           headers=headers)
    assert resp.status_code == 202, resp.get_json()
    assert resp.get_json()["redirect"] == "queued"
    assert trips["count"] <= MAX_ROUND_TRIPS, trips["writes"]
    assert_flag_kept(app, redis_conn, rq_conn, caller.sid, AGENT2)
    # the token checks stand: a revoked token or a disabled user is refused, before anything is read
    users.set_disabled("boss", True, by="test")
    other = live_call(twilio, OTHER_HARASSER)
    refused = client.post(f"/api/calls/{other.sid}/flag", json={}, headers=headers)
    assert refused.status_code == 401
    assert not redis_conn.exists(keys.flag_once(other.sid))


def test_an_agents_token_flags_only_their_own_caller(
        app: Any, twilio: Any, api: Any, client: Any, redis_conn: redis.Redis, rq_conn: redis.Redis,
        run_jobs: Any) -> None:
    users = Users(redis_conn)
    users.create("ann", "correct horse battery", "agent", identities=[AGENT2], by="test")
    _id, token = users.create_token("ann", "script", by="test", by_role="admin")
    headers = {"Authorization": f"Bearer {token}"}
    warm_up(twilio, client, run_jobs, token, identity=AGENT2)
    someone_elses = live_call(twilio)  # bridged to AGENT, not to ann's phone
    refused = client.post(f"/api/calls/{someone_elses.sid}/flag", json={"reason": "obscene"}, headers=headers)
    assert refused.status_code == 403 and refused.get_json()["error"] == "not_your_caller"
    assert not redis_conn.exists(keys.flag_once(someone_elses.sid))
    assert redis_conn.hget(keys.STRIKES, HARASSER) is None
    assert redirect_job_id("isolation", someone_elses.sid) not in queue(CALLS, rq_conn).get_job_ids()
    mine = live_call(twilio, identity=AGENT2)
    with round_trips(redis_conn) as trips:
        resp = client.post(f"/api/calls/{mine.sid}/flag", json={"reason": "obscene", "note": "laughing"},
                           headers=headers)
    assert resp.status_code == 202, resp.get_json()
    assert trips["count"] <= MAX_ROUND_TRIPS, trips["writes"]
    assert_flag_kept(app, redis_conn, rq_conn, mine.sid, AGENT2)


def test_the_phone_key_flag_saves_and_holds_in_few_round_trips(
        app: Any, twilio: Any, api: Any, client: Any, redis_conn: redis.Redis, rq_conn: redis.Redis, run_jobs: Any) -> None:
    def held(number: str) -> tuple[cf.Caller, cf.AgentLeg, Any]:
        caller = cf.place_call(twilio, number)
        agent = cf.agent_connects(twilio)
        cf.bridge(twilio, agent, caller)
        after = cf.bridge_ends(twilio, agent, caller)  # `*`: the caller is held, the agent hears the flag window
        cf.held_poll(twilio, caller)
        return caller, agent, after

    warm, warm_agent, warm_after = held(OTHER_HARASSER)  # the webhooks' own clients warm up
    assert cf.press(twilio, warm_agent, warm_after, "9").status == 200
    run_jobs((REPORTS,))
    caller, agent, after = held(HARASSER)
    with round_trips(redis_conn) as trips:
        menu = cf.press(twilio, agent, after, "9")
    assert menu.status == 200
    # the menu's own reads (the agent leg, the call), the flag's two, the breather's settings
    assert trips["count"] <= 5, b" | ".join(b" ".join(w.split(b"\r\n")[2:5:2]) for w in trips["writes"])
    assert redis_conn.get(keys.decision(caller.sid)) == "isolate"
    assert redis_conn.hget(keys.call(caller.sid), "flag_via") == "key"
    assert redis_conn.hget(keys.STRIKES, HARASSER) == "1"
    assert redirect_job_id("isolation", caller.sid) not in queue(CALLS, rq_conn).get_job_ids()
    assert queue(REPORTS, rq_conn).get_job_ids() == [FOLD_JOB_ID]
    # the held caller's next poll leaves the private hold, and its action puts it into isolation
    assert cf.held_poll(twilio, caller, queue_time=2).verbs() == ["Leave"]
    assert cf.leave(twilio, caller).first("Enqueue").text == "isolation"


def test_a_flag_made_between_the_read_and_the_write_makes_the_write_a_duplicate(
        app: Any, twilio: Any, redis_conn: redis.Redis) -> None:
    caller = live_call(twilio)
    bl = app.extensions["ivr"].blocklist
    with FlagTransaction(bl, caller.sid) as tx:
        seen = tx.read()
        assert seen.call["number"] == HARASSER and seen.flagged_via is None
        # the agent presses * 9 at the same moment
        assert bl.flag(HARASSER, call_sid=caller.sid, line=LINE, via="key", agent=AGENT).status == "flagged"
        result = tx.commit(HARASSER, line=LINE, via="desk", agent=AGENT,
                           also=lambda pipe: pipe.set("ivr:test:after-flag", "1"))
    assert result.status == "duplicate" and result.via == "key"
    assert not redis_conn.exists("ivr:test:after-flag")  # what follows only a new flag was not written
    assert redis_conn.hget(keys.STRIKES, HARASSER) == "1"
    assert redis_conn.hget(keys.call(caller.sid), "flag_via") == "key"
    with FlagTransaction(bl, caller.sid) as tx:
        assert tx.read().flagged_via == "key"


def test_what_follows_a_new_flag_runs_after_it_even_past_a_failing_command(
        app: Any, twilio: Any, redis_conn: redis.Redis, rq_conn: redis.Redis) -> None:
    """The script runs each recorded command as a MULTI would: one that fails does not stop the others, and
    the failure is raised once all ran (the flag itself is saved). Binary values arrive byte for byte."""
    caller = live_call(twilio)
    bl = app.extensions["ivr"].blocklist
    redis_conn.set("ivr:test:a-string", "x")
    payload = bytes(range(256))

    def also(pipe: Any) -> None:
        pipe.set("ivr:test:first", "1", ex=60)
        pipe.hincrby("ivr:test:a-string", "n", 1)  # WRONGTYPE
        pipe.execute_command("SET", "ivr:test:binary", payload)
        pipe.zadd("ivr:test:z", {"m": 5}, nx=True)

    with FlagTransaction(bl, caller.sid) as tx:
        tx.read()
        with pytest.raises(redis.ResponseError, match="WRONGTYPE") as failed:
            tx.commit(HARASSER, line=LINE, via="desk", agent=AGENT, also=also)
    assert "is flagged, but 1 of the writes" in str(failed.value)
    assert redis_conn.hget(keys.call(caller.sid), "flag_via") == "desk"
    assert redis_conn.get("ivr:test:first") == "1" and 0 < redis_conn.ttl("ivr:test:first") <= 60
    assert rq_conn.get("ivr:test:binary") == payload  # a client that does not decode
    assert redis_conn.zscore("ivr:test:z", "m") == 5


def test_the_aof_check_is_settled_in_the_batch_only_when_redis_writes_before_it_answers() -> None:
    settled = {"aof_enabled": 1, "aof_rewrite_in_progress": 0, "aof_rewrite_scheduled": 0,
               "aof_pending_bio_fsync": 0, "aof_last_write_status": "ok"}
    assert aof_written_before_reply(settled)
    assert aof_written_before_reply({"aof_enabled": 0})
    for name, value in (("aof_pending_bio_fsync", 1), ("aof_rewrite_in_progress", 1), ("aof_rewrite_scheduled", 1),
                        ("aof_last_write_status", "err")):
        assert not aof_written_before_reply({**settled, name: value}), name
    assert not aof_written_before_reply({"aof_enabled": 1})  # fields missing: not sure, so check as before


def test_the_flags_own_info_parser_reads_a_real_redis_as_redis_py_does(redis_conn: redis.Redis) -> None:
    """FlagTransaction reads INFO persistence with parse_aof_info (text, aof_* only): same fields, same verdict."""
    raw_client = redis.Redis(connection_pool=redis_conn.connection_pool)
    raw_client.set_response_callback("INFO", lambda response, **_: response)
    raw = raw_client.execute_command("INFO", "persistence")
    assert isinstance(raw, str) and "aof_enabled:" in raw
    # Both parsers read the same reply: a second INFO could differ (the AOF's size, its buffer, a pending fsync).
    ours, theirs = parse_aof_info(raw), redis_conn.response_callbacks["INFO"](raw)  # redis-py's own, as info() uses
    assert ours and set(ours) == {name for name in theirs if name.startswith("aof_")}
    assert all(str(theirs[name]) == value for name, value in ours.items() if not isinstance(theirs[name], float))
    assert aof_written_before_reply(ours) == aof_written_before_reply(theirs)
    assert parse_aof_info(raw.encode()) == ours


def test_the_desk_flag_button_costs_at_most_three_round_trips(
        app: Any, twilio: Any, client: Any, redis_conn: redis.Redis, rq_conn: redis.Redis, run_jobs: Any) -> None:
    """The desk's own button (a logged-in agent's form post): the session's user, then the flag's two."""
    from tests.support.desk import login, make_user, post_form

    make_user(app, "ann", "agent", phones=AGENT)
    desk = app.test_client()
    assert login(desk, "ann").status_code == 302
    warm = live_call(twilio, OTHER_HARASSER)
    assert post_form(desk, f"/desk/call/{warm.sid}/flag", {"reason": "obscene"}).status_code == 302
    run_jobs((REPORTS,))
    caller = live_call(twilio)
    with round_trips(redis_conn) as trips:
        resp = post_form(desk, f"/desk/call/{caller.sid}/flag", {"reason": "obscene", "note": "laughing"})
    assert resp.status_code == 302 and "/desk/breather" in resp.headers["Location"]
    assert trips["count"] <= MAX_ROUND_TRIPS, trips["writes"]
    assert_flag_kept(app, redis_conn, rq_conn, caller.sid, AGENT)
    someone_elses = live_call(twilio, "+14155550177", identity=AGENT2)
    assert post_form(desk, f"/desk/call/{someone_elses.sid}/flag", {"reason": "obscene"}).status_code == 403
    assert not redis_conn.exists(keys.flag_once(someone_elses.sid))
