"""Jobs enqueued from a checked recipe (workers/prepared.py) are RQ's own jobs: the same commands RQ's enqueue
queues (its timestamps aside, its data compared decompressed), run by a plain RQ worker. A recipe RQ does not
confirm is not used."""

from __future__ import annotations

import operator
import secrets
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rq import Retry, SimpleWorker
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.utils import utcparse

from workers.calls import redirect_call
from workers.prepared import TIMES, Prepared, _readable
from workers.queues import CALLS, MAINTENANCE, JsonJob, queue

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=120)
OPTIONS = [
    {"retry": Retry(max=3, interval=[2, 10, 60]), "job_timeout": 30, "result_ttl": 86400, "failure_ttl": 604800},
    {"retry": None, "job_timeout": 30, "result_ttl": 86400, "failure_ttl": 604800},
    {"job_timeout": 300, "result_ttl": 0, "failure_ttl": 600},
]


def queued(rq_conn: redis.Redis, enqueue: Any) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """The commands `enqueue(pipe)` queues on a pipeline that is never sent."""
    pipe = rq_conn.pipeline(transaction=True)
    try:
        enqueue(pipe)
        return [(tuple(args), dict(opts)) for args, opts in pipe.command_stack]
    finally:
        pipe.reset()


def timeless(commands: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """The commands with each timestamp checked as RQ reads it (within a minute of now), then left out."""
    out = []
    for args, opts in _readable(commands):
        parts = list(args)
        for i in range(2, len(parts) - 1, 2):
            if parts[0] == "HSET" and parts[i] in TIMES:
                assert abs(utcparse(parts[i + 1]) - datetime.now(UTC)) < timedelta(minutes=1)
                parts[i + 1] = "<time>"
        out.append((tuple(parts), opts))
    return out


@pytest.mark.parametrize("options", OPTIONS, ids=["retries", "no-retry", "fold-like"])
def test_a_prepared_job_is_queued_exactly_as_rq_queues_it(rq_conn: redis.Redis, options: dict[str, Any]) -> None:
    calls = queue(CALLS, rq_conn)
    prepared = Prepared(calls, redirect_call, **options)
    assert prepared.recipe is not None

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(texts, texts, st.one_of(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1), texts))
    def same(call_sid: str, url: str, job_id: str) -> None:
        try:
            theirs = queued(rq_conn, lambda pipe: calls.enqueue(redirect_call, call_sid, url, job_id=job_id,
                                                               pipeline=pipe, **options))
        except (ValueError, TypeError) as refused:  # an id RQ refuses: refused alike, nothing queued
            with pytest.raises(type(refused)):
                queued(rq_conn, lambda pipe: prepared.enqueue(call_sid, url, job_id=job_id, pipeline=pipe))
            return
        ours = queued(rq_conn, lambda pipe: prepared.enqueue(call_sid, url, job_id=job_id, pipeline=pipe))
        assert timeless(ours) == timeless(theirs)

    same()


def test_a_prepared_job_runs_in_a_plain_rq_worker(rq_conn: redis.Redis) -> None:
    maintenance = queue(MAINTENANCE, rq_conn)
    prepared = Prepared(maintenance, operator.concat, job_timeout=60, result_ttl=600)
    assert not rq_conn.keys("rq:*")  # RQ's probes went into pipelines never sent
    pipe = rq_conn.pipeline(transaction=True)
    assert prepared.enqueue("caf\u00e9 ", "au lait", job_id="t-concat", pipeline=pipe) == "t-concat"
    assert not Job.exists("t-concat", connection=rq_conn)  # nothing before the pipeline runs
    pipe.execute()
    raw = rq_conn.hget("rq:job:t-concat", "data")
    assert JSONSerializer.loads(zlib.decompress(raw)) == ["_operator.concat", None, ["caf\u00e9 ", "au lait"], {}]
    SimpleWorker([MAINTENANCE], connection=rq_conn, serializer=JSONSerializer).work(burst=True)
    done = Job.fetch("t-concat", connection=rq_conn, serializer=JSONSerializer)
    assert done.get_status() == "finished" and done.return_value() == "caf\u00e9 au lait"
    assert done.description == "_operator.concat('caf\u00e9 ', 'au lait')" and done.timeout == 60


def test_arguments_the_recipe_was_not_checked_with_go_through_rq(rq_conn: redis.Redis) -> None:
    maintenance = queue(MAINTENANCE, rq_conn)
    prepared = Prepared(maintenance, operator.add, job_timeout=60)
    pipe = rq_conn.pipeline(transaction=True)
    prepared.enqueue(2, 3, job_id="t-add", pipeline=pipe)
    pipe.execute()
    SimpleWorker([MAINTENANCE], connection=rq_conn, serializer=JSONSerializer).work(burst=True)
    assert Job.fetch("t-add", connection=rq_conn, serializer=JSONSerializer).return_value() == 5


class NoncedJob(JsonJob):
    """A job class writing a field of its own on every job: no recipe can make it."""

    def to_dict(self, include_meta: bool = True, include_result: bool = True) -> dict[str, Any]:
        return {**super().to_dict(include_meta, include_result), "nonce": secrets.token_hex(8)}


def test_a_recipe_rq_does_not_confirm_is_not_used(rq_conn: redis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    from rq import Queue

    odd = Queue(MAINTENANCE, connection=rq_conn, serializer=JSONSerializer, job_class=NoncedJob)
    with caplog.at_level("WARNING", logger="ivr.jobs"):
        prepared = Prepared(odd, operator.concat, job_timeout=60)
    assert prepared.recipe is None
    assert "every such job goes through RQ's enqueue" in caplog.text
    pipe = rq_conn.pipeline(transaction=True)
    prepared.enqueue("a", "b", job_id="t-odd", pipeline=pipe)
    pipe.execute()
    assert rq_conn.hget("rq:job:t-odd", "nonce")  # RQ's own enqueue, with the job class's own field
    SimpleWorker([MAINTENANCE], connection=rq_conn, serializer=JSONSerializer).work(burst=True)
    assert Job.fetch("t-odd", connection=rq_conn, serializer=JSONSerializer).return_value() == "ab"


def test_only_json_queues_take_prepared_jobs(rq_conn: redis.Redis) -> None:
    from rq import Queue

    with pytest.raises(ValueError, match="prepared jobs are JSON"):
        Prepared(Queue(MAINTENANCE, connection=rq_conn), operator.concat)


def test_an_empty_job_id_is_refused_not_replaced(rq_conn: redis.Redis) -> None:
    prepared = Prepared(queue(CALLS, rq_conn), redirect_call, job_timeout=30)
    with pytest.raises(ValueError):
        queued(rq_conn, lambda pipe: prepared.enqueue("CA1", "http://x", job_id="", pipeline=pipe))
