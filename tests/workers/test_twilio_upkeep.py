"""Standing queues created at start, empty private hold queues deleted, REST failures recorded honestly."""

from __future__ import annotations

import time
from typing import Any

import redis

from blocklist import keys
from tests.support import callflow as cf
from workers import calls as call_jobs


def test_standing_queues_are_created_once(app: Any, standin: Any) -> None:
    assert sorted(call_jobs.ensure_standing_queues()) == ["agents", "isolation", "supervisors"]
    assert call_jobs.ensure_standing_queues() == []  # idempotent
    names = sorted(q["friendly_name"] for q in standin.state.queues.values())
    assert names == ["agents", "isolation", "supervisors"]


def test_cleanup_deletes_only_old_empty_hold_queues(app: Any, standin: Any) -> None:
    state = standin.state
    call_jobs.ensure_standing_queues()
    from workers.twilio_rest import client

    api = client(app.config["SETTINGS"])
    old_empty = api.queues.create(friendly_name="hold-CAold")
    busy = api.queues.create(friendly_name="hold-CAbusy")
    state.queues[busy.sid]["current_size"] = 1
    old_stamp = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(time.time() - 3600))
    for sid in (old_empty.sid, busy.sid):
        state.queues[sid]["date_created"] = old_stamp
    api.queues.create(friendly_name="hold-CAfresh")  # just created: its caller may still be arriving
    assert call_jobs.cleanup_hold_queues(min_age_seconds=300) == 1
    left = sorted(q["friendly_name"] for q in state.queues.values())
    assert left == ["agents", "hold-CAbusy", "hold-CAfresh", "isolation", "supervisors"]


def test_redirect_that_keeps_failing_is_marked_failed(twilio: Any, api: Any, run_jobs: Any, standin: Any,
                                                      redis_conn: redis.Redis) -> None:
    caller = cf.place_call(twilio, "+14155550123")
    standin.state.fail(f"/Calls/{caller.sid}.json", times=100, status=500)
    assert api.post(f"/api/calls/{caller.sid}/flag", json={}).status_code == 202
    for _ in range(8):
        run_jobs()
    attempts = standin.state.matching("POST", f"/Calls/{caller.sid}.json")
    assert len(attempts) == 1 + 5  # first try + IVR_REDIRECT_RETRIES
    assert redis_conn.hget(keys.call(caller.sid), "redirect") == "failed"
    assert api.get(f"/api/calls/{caller.sid}").get_json()["redirect"] == "failed"
    assert redis_conn.exists(keys.block("*", "+14155550123"))  # the flag itself was never in doubt
    assert int(redis_conn.hget(keys.COUNTERS, "rest_redirect_errors")) == 6


def test_client_error_is_not_retried(twilio: Any, api: Any, run_jobs: Any, standin: Any,
                                     redis_conn: redis.Redis) -> None:
    caller = cf.place_call(twilio, "+14155550123")
    standin.state.fail(f"/Calls/{caller.sid}.json", times=100, status=400, code=21205)
    api.post(f"/api/calls/{caller.sid}/flag", json={})
    for _ in range(3):
        run_jobs()
    assert len(standin.state.matching("POST", f"/Calls/{caller.sid}.json")) == 1
    assert redis_conn.hget(keys.call(caller.sid), "redirect") == "failed"


def test_a_redirect_run_again_after_it_went_through_does_not_move_the_caller_twice(
        twilio: Any, api: Any, run_jobs: Any, standin: Any, app: Any, redis_conn: redis.Redis) -> None:
    from rq.job import Job
    from rq.serializers import JSONSerializer

    from workers.queues import CALLS, queue

    caller = cf.place_call(twilio, "+14155550123")
    assert api.post(f"/api/calls/{caller.sid}/flag", json={}).status_code == 202
    run_jobs()
    assert len(standin.state.matching("POST", f"/Calls/{caller.sid}.json")) == 1
    # What rq does with a job whose worker died after Twilio took the redirect: it runs it again.
    rq_conn = app.extensions["ivr"].rq_connection
    job = Job.fetch(f"redirect-isolation-{caller.sid}", connection=rq_conn, serializer=JSONSerializer)
    queue(CALLS, rq_conn).enqueue_job(job)
    run_jobs()
    assert len(standin.state.matching("POST", f"/Calls/{caller.sid}.json")) == 1
    assert redis_conn.hget(keys.call(caller.sid), "redirect") == "done"
    # A new move of the same call is a new job, and it does move the caller.
    assert api.post(f"/api/calls/{caller.sid}/escalate", json={}).status_code == 202
    run_jobs()
    assert len(standin.state.matching("POST", f"/Calls/{caller.sid}.json")) == 2
