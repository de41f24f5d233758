"""RQ queues (workers/queues.py): one Queue per connection and name, shared by a web process's threads, and
jobs that are always JSON (JsonJob), read by any RQ worker as RQ's own."""

from __future__ import annotations

import json
import threading
import zlib

import pytest
import redis
from rq import SimpleWorker
from rq.job import Job
from rq.serializers import DefaultSerializer, JSONSerializer

from workers.queues import ALL_QUEUES, CALLS, MAINTENANCE, JsonJob, queue


def test_one_queue_per_connection_and_name(rq_conn: redis.Redis, redis_url: str) -> None:
    assert queue(CALLS, rq_conn) is queue(CALLS, rq_conn)
    assert queue(CALLS, rq_conn) is not queue(MAINTENANCE, rq_conn)
    other = redis.Redis.from_url(redis_url)
    try:
        assert queue(CALLS, other) is not queue(CALLS, rq_conn)
        assert queue(CALLS, other).connection is other
    finally:
        other.close()
    with pytest.raises(ValueError, match="unknown queue 'nope': one of calls, reports, maintenance"):
        queue("nope", rq_conn)
    assert tuple(ALL_QUEUES) == ("calls", "reports", "maintenance")


def test_jobs_are_json_on_the_wire_and_run_by_a_plain_rq_worker(rq_conn: redis.Redis) -> None:
    job = queue(MAINTENANCE, rq_conn).enqueue("builtins.divmod", 17, 5, job_id="t-divmod")
    assert type(job) is JsonJob and job.serializer is JSONSerializer
    raw = rq_conn.hget("rq:job:t-divmod", "data")
    assert json.loads(zlib.decompress(raw)) == ["builtins.divmod", None, [17, 5], {}]  # not a pickle
    SimpleWorker([MAINTENANCE], connection=rq_conn, serializer=JSONSerializer).work(burst=True)
    done = Job.fetch("t-divmod", connection=rq_conn, serializer=JSONSerializer)  # RQ's own Job reads it
    assert done.get_status() == "finished" and done.return_value() == [3, 2]


def test_a_job_takes_no_other_serializer(rq_conn: redis.Redis) -> None:
    assert JsonJob("t-one", connection=rq_conn, serializer=JSONSerializer).serializer is JSONSerializer
    with pytest.raises(ValueError, match="jobs here are JSON"):
        JsonJob("t-two", connection=rq_conn, serializer=DefaultSerializer)


def test_threads_sharing_one_queue_each_get_their_own_jobs(rq_conn: redis.Redis) -> None:
    shared = queue(MAINTENANCE, rq_conn)
    start = threading.Barrier(8)
    failures: list[BaseException] = []

    def enqueue(worker: int) -> None:
        try:
            start.wait()
            for n in range(50):
                pipe = rq_conn.pipeline()
                queue(MAINTENANCE, rq_conn).enqueue("builtins.divmod", worker, n + 1, job_id=f"t-{worker}-{n}",
                                                    pipeline=pipe)
                pipe.execute()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=enqueue, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert shared.count == 400 and len(set(shared.job_ids)) == 400
    for worker, n in ((0, 0), (3, 17), (7, 49)):
        job = Job.fetch(f"t-{worker}-{n}", connection=rq_conn, serializer=JSONSerializer)
        assert job.args == [worker, n + 1] and job.origin == MAINTENANCE
