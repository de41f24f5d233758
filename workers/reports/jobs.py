"""The RQ jobs of the reports (`reports` queue; the schedule is in workers/cron.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import redis
from rq import get_current_job
from rq.exceptions import DuplicateJobError
from rq.job import Job

from workers import context, queues
from workers.queues import FOLD_JOB_ID, REBUILD_JOB_ID
from workers.reports.clock import Clock
from workers.reports.common import DEFAULT_BATCH
from workers.reports.fold import fold
from workers.reports.queries import Query, _parse_day
from workers.reports.rebuild import rebuild
from workers.reports.retention import apply_retention
from workers.reports.settings import ReportSettings
from workers.reports.tables import write_report_files


def _store() -> redis.Redis:
    return context.store()


def fold_job(batch: int = DEFAULT_BATCH, budget_seconds: float = 50.0) -> dict[str, Any]:
    """Fold new events into the aggregates (exactly once, however often it runs)."""
    result = fold(_store(), batch=batch, budget_seconds=budget_seconds)
    if result.rebuild_needed:
        job = get_current_job()
        if job is not None:
            schedule_rebuild(job.connection)
    return result.as_dict()


def rebuild_job() -> dict[str, Any]:
    """Recompute the retained window from the raw events and swap it in."""
    return rebuild(_store())


def retention_job() -> dict[str, Any]:
    """Trim expired screened-call events and freeze their days' aggregates."""
    return apply_retention(_store())


def build_daily_report(day: str = "") -> dict[str, Any]:
    """Write yesterday's (or `day`'s) report files under IVR_DATA_DIR/reports/daily/<day>/."""
    rs = ReportSettings.from_env()
    target = _parse_day(day, "day") if day else Clock(rs.tz).today() - timedelta(days=1)
    q = Query.build(start=target, end=target, settings=rs)
    folder = rs.data_dir / "reports" / "daily" / target.isoformat()
    fold(_store(), settings=rs)
    return {"folder": str(folder), "files": [p.name for p in write_report_files(_store(), q, folder)]}


def build_weekly_report(week_start: str = "") -> dict[str, Any]:
    """Write last week's (Monday to Sunday) report files under IVR_DATA_DIR/reports/weekly/<YYYY-Www>/."""
    rs = ReportSettings.from_env()
    if week_start:
        monday = _parse_day(week_start, "week_start")
        monday -= timedelta(days=monday.weekday())
    else:
        today = Clock(rs.tz).today()
        monday = today - timedelta(days=today.weekday() + 7)
    q = Query.build(start=monday, end=monday + timedelta(days=6), settings=rs)
    iso_year, iso_week, _ = monday.isocalendar()
    folder = rs.data_dir / "reports" / "weekly" / f"{iso_year}-W{iso_week:02d}"
    fold(_store(), settings=rs)
    return {"folder": str(folder), "files": [p.name for p in write_report_files(_store(), q, folder)]}


def _enqueue_once(rq_connection: redis.Redis, func: Callable[..., Any], job_id: str, timeout: int) -> str | None:
    try:
        job = queues.queue(queues.REPORTS, rq_connection).enqueue(func, job_id=job_id, unique=True, job_timeout=timeout,
                                                    result_ttl=0, failure_ttl=600)
    except DuplicateJobError:
        return None  # one is already pending or running: it will see our events
    return str(job.id)


def schedule_fold(rq_connection: redis.Redis, pipeline: Any = None) -> None:
    """Enqueue a fold unless one is already pending (deterministic job id): call it after a flag.

    With `pipeline` (one the caller runs, e.g. the flag's, recorded for its script), the job is queued on it: the
    caller has read `fold_pending_key()` in the same request and seen none. Two flags racing past that read
    queue the same id twice: one job, run once (the second queue entry finds no job and is skipped; a flag
    the running fold missed waits for the next fold, as it does when a fold is running anyway)."""
    if pipeline is None:
        _enqueue_once(rq_connection, fold_job, FOLD_JOB_ID, 300)
        return
    queues.queue(queues.REPORTS, rq_connection).enqueue(fold_job, job_id=FOLD_JOB_ID, job_timeout=300,
                                                        result_ttl=0, failure_ttl=600, pipeline=pipeline)


def fold_pending_key() -> str:
    """The key that exists while a fold is queued, running, or failed a moment ago (rq's job hash): where
    it exists, schedule_fold would not enqueue another."""
    return Job.key_for(FOLD_JOB_ID)


def schedule_rebuild(rq_connection: redis.Redis) -> str | None:
    """Enqueue a rebuild unless one is already pending; returns the job id when enqueued."""
    return _enqueue_once(rq_connection, rebuild_job, REBUILD_JOB_ID, 3600)
