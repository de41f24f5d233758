"""The rq cron schedule: what `rq cron workers.cron` registers, and that its jobs run on our JSON workers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis
from rq.cron import CronScheduler
from rq.job import Job
from rq.serializers import JSONSerializer

from tests.support.events import T0, Events, work
from workers import reports
from workers.queues import MAINTENANCE, REPORTS, queue


def test_cron_config_registers_the_schedule(rq_conn: redis.Redis) -> None:
    scheduler = CronScheduler(connection=rq_conn)
    scheduler.load_config_from_file("workers.cron")
    jobs = {job.name: job for job in scheduler.get_jobs()}
    assert {name: (job.func, job.queue_name, job.interval, job.cron) for name, job in jobs.items()
            if name.startswith("reports.")} == {
        "reports.fold": (reports.fold_job, REPORTS, 10, None),
        "reports.daily": (reports.build_daily_report, REPORTS, None, "20 0 * * *"),
        "reports.weekly": (reports.build_weekly_report, REPORTS, None, "40 0 * * 1"),
        "reports.retention": (reports.retention_job, MAINTENANCE, None, "30 3 * * *"),
    }
    assert jobs["reports.fold"].job_options["ttl"] == 10  # a tick nobody started in time is dropped, not piled up
    assert all(job.job_options.get("job_timeout") for job in jobs.values())
    scheduler.load_config_from_file("workers.cron")  # loading twice (rq reloads the module) is fine
    assert len([j for j in scheduler.get_jobs() if j.name == "reports.fold"]) == 2


def test_cron_enqueues_json_jobs_our_workers_run(rq_conn: redis.Redis, redis_conn: redis.Redis) -> None:
    Events(redis_conn).flag(T0, "+14155550123", "CA1")
    scheduler = CronScheduler(connection=rq_conn)
    scheduler.load_config_from_file("workers.cron")
    enqueued = scheduler.enqueue_jobs()  # interval jobs are due at once; the cron ones at their time
    # the interval jobs: the fold, and the Twilio upkeep (a no-op here: no account is set up)
    assert [job.name for job in enqueued] == ["reports.fold", "twilio.hold_queues", "twilio.standing_queues"]
    job_id = queue(REPORTS, rq_conn).get_job_ids()[0]
    # rq 3.0 cron would pickle it; workers/cron.py makes it JSON, which our workers read
    assert Job.fetch(job_id, connection=rq_conn, serializer=JSONSerializer).func_name == "workers.reports.jobs.fold_job"
    work(rq_conn)
    assert reports.fold(redis_conn).folded == 0
    assert redis_conn.hget("ivr:agg:state", "cursor")


def test_daily_and_weekly_builds_write_files(rq_conn: redis.Redis, redis_conn: redis.Redis, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_DATA_DIR", str(tmp_path))
    ev = Events(redis_conn)
    ev.call(T0 + 3_600_000, "+14155550123", sid="CA1", decision="treat", rule="number", treatment="reject")
    ev.flag(T0 + 7_200_000, "+14155550124", "CA2", agent="client:alice")
    q = queue(REPORTS, rq_conn)
    q.enqueue(reports.build_daily_report, kwargs={"day": "2025-03-03"})
    q.enqueue(reports.build_weekly_report, kwargs={"week_start": "2025-03-05"})
    work(rq_conn)
    daily = tmp_path / "reports" / "daily" / "2025-03-03"
    weekly = tmp_path / "reports" / "weekly" / "2025-W10"
    for folder in (daily, weekly):
        names = {p.name for p in folder.iterdir()}
        assert {"report.json", "report.html", "frequency-daily.csv", "sources-numbers.csv", "agents-agents.csv",
                "withheld-calls.csv", "deterrence-deterrence.csv", "offenders-repeat.csv"} <= names
    data: dict[str, Any] = json.loads((daily / "report.json").read_text())
    assert data["meta"]["from"] == data["meta"]["to"] == "2025-03-03"
    assert data["frequency"]["totals"]["flags"] == 1 and data["frequency"]["totals"]["treated"] == 1
    assert json.loads((weekly / "report.json").read_text())["meta"]["from"] == "2025-03-03"
    assert "<svg" in (daily / "report.html").read_text()
    q2 = queue(MAINTENANCE, rq_conn)
    q2.enqueue(reports.retention_job)
    work(rq_conn, (MAINTENANCE,))
    assert redis_conn.hget("ivr:agg:state", "frozen_before")


# Jobs already queued name their function by the dotted path it had when they were enqueued (a call back
# days ahead, say): every path a deployed version ever stored must still import, and still run.
STORED_JOB_PATHS = ("workers.calls.redirect_call", "workers.calls.ensure_standing_queues",
                    "workers.calls.cleanup_hold_queues", "workers.callbacks.place_callback",
                    "workers.reports.fold_job", "workers.reports.rebuild_job", "workers.reports.retention_job",
                    "workers.reports.build_daily_report", "workers.reports.build_weekly_report")


def test_job_paths_stored_by_earlier_versions_still_run(rq_conn: redis.Redis, redis_conn: redis.Redis) -> None:
    from rq.utils import import_attribute

    for path in STORED_JOB_PATHS:
        assert callable(import_attribute(path)), path
    Events(redis_conn).flag(T0, "+14155550123", "CA1")
    job = queue(REPORTS, rq_conn).enqueue("workers.reports.fold_job")  # as an older version stored it
    work(rq_conn)
    assert Job.fetch(job.id, connection=rq_conn, serializer=JSONSerializer).get_status() == "finished"
    assert redis_conn.hget("ivr:agg:state", "cursor")
