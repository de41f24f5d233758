"""rq's scheduler as `ivr worker` runs it (workers/process.py): its queue locks live SCHEDULER_LOCK_S, never rq's
61 s, and a worker whose rq loop ended (a job finished while Redis was away, as in a Sentinel failover) takes
back the lock its last scheduler could not release, so the retries it owes run at once, not a lock's life later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from workers.process import SCHEDULER_LOCK_S, LineScheduler, LineWorker
from workers.queues import MAINTENANCE, queue

LOCK = f"rq:scheduler-lock:{MAINTENANCE}"


def scheduler(rq_conn: redis.Redis, redis_url: str, name: str) -> LineScheduler:
    s = LineScheduler([MAINTENANCE], connection=rq_conn, serializer=JSONSerializer, name=name)
    s.redis_url = redis_url
    return s


def test_locks_are_taken_and_refreshed_for_the_short_life_only(rq_conn: redis.Redis, redis_url: str) -> None:
    first = scheduler(rq_conn, redis_url, "first")
    assert first.acquire_locks() == {MAINTENANCE}
    assert rq_conn.get(LOCK) == b"first"
    assert 0 < rq_conn.ttl(LOCK) <= SCHEDULER_LOCK_S  # set so in the one command: no 61 s window
    rq_conn.expire(LOCK, 2)
    first.heartbeat()
    assert 2 < rq_conn.ttl(LOCK) <= SCHEDULER_LOCK_S
    assert rq_conn.ttl(first.key) > 0  # rq's own metadata hash is kept alive as rq keeps it

    other = scheduler(rq_conn, redis_url, "other")
    assert other.acquire_locks() == set()  # held by "first"
    assert rq_conn.get(LOCK) == b"first"


def test_the_same_name_takes_back_its_lock_and_another_loses_it(rq_conn: redis.Redis, redis_url: str) -> None:
    scheduler(rq_conn, redis_url, "w1").acquire_locks()  # then its process dies without releasing
    again = scheduler(rq_conn, redis_url, "w1")
    assert again.acquire_locks() == {MAINTENANCE}
    assert 0 < rq_conn.ttl(LOCK) <= SCHEDULER_LOCK_S

    rq_conn.set(LOCK, "w2", ex=SCHEDULER_LOCK_S)  # another worker's scheduler took the queue meanwhile
    again.heartbeat()
    assert again.acquired_locks == set()  # so the queue is scheduled once, by w2
    assert rq_conn.get(LOCK) == b"w2"


def due_job(rq_conn: redis.Redis, job_id: str) -> Job:
    return queue(MAINTENANCE, rq_conn).enqueue_at(datetime.now(UTC) - timedelta(seconds=1), "builtins.divmod",
                                                  17, 5, job_id=job_id)


def work_once(rq_conn: redis.Redis, redis_url: str, scheduler_name: str) -> None:
    worker = LineWorker([MAINTENANCE], connection=rq_conn)
    worker.redis_url = redis_url
    worker.scheduler_name = scheduler_name
    worker.work(burst=True, with_scheduler=True)


def test_a_workers_next_loop_runs_the_due_retries_at_once(rq_conn: redis.Redis, redis_url: str) -> None:
    """The lock left by the worker's own last loop does not hold its scheduled jobs back; one left by
    another worker's live scheduler does (that scheduler moves them)."""
    rq_conn.set(LOCK, "process-a", ex=SCHEDULER_LOCK_S)  # process a's scheduler stopped while Redis was away
    due_job(rq_conn, "t-due")

    work_once(rq_conn, redis_url, "process-b")  # another process: the queue is not its to schedule
    assert Job.fetch("t-due", connection=rq_conn, serializer=JSONSerializer).get_status() == "scheduled"
    assert ScheduledJobRegistry(MAINTENANCE, connection=rq_conn).get_job_ids() == ["t-due"]

    work_once(rq_conn, redis_url, "process-a")  # process a's next loop: its own lock, taken back
    done = Job.fetch("t-due", connection=rq_conn, serializer=JSONSerializer)
    assert done.get_status() == "finished" and done.return_value() == [3, 2]
    assert rq_conn.get(LOCK) is None  # a burst releases what it took
