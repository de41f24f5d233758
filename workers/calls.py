"""Jobs that move live calls through Twilio's REST API, and the upkeep of Twilio queues."""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from rq import Retry, get_current_job
from rq.exceptions import InvalidJobOperation
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from blocklist import keys
from blocklist.calls import Calls
from blocklist.settings import Settings
from workers import context, twilio_rest
from workers.prepared import Prepared
from workers.queues import CALLS, MAINTENANCE, STANDING_QUEUES_JOB_ID, kept_on, queue, redirect_job_id

log = logging.getLogger("ivr.jobs")


def redirect_call(call_sid: str, url: str) -> str:
    """Move a live call to `url` (e.g. the isolation entry). Caller gone: recorded, not retried.

    A retry of a redirect that already went through (its worker died before rq heard of it) does not
    move the caller a second time: the caller would hear the isolation start over."""
    calls = Calls(context.store())
    job = get_current_job()
    this = f"{job.id}@{job.created_at.timestamp() if job.created_at else ''}" if job is not None else ""
    done = calls.get(call_sid)
    if this and done.get("redirect") == "done" and done.get("redirect_job") == this:
        return "done"
    calls.update(call_sid, redirect="in_progress")
    try:
        twilio_rest.client(context.settings()).calls(call_sid).update(url=url, method="POST")
    except Exception as exc:
        if twilio_rest.is_call_gone(exc):
            calls.update(call_sid, redirect="caller_gone")
            log.info("redirect of %s: the caller already hung up", call_sid)
            return "caller_gone"
        transient = twilio_rest.is_transient(exc)
        if job is not None and not transient:
            job.retries_left = 0  # a 4xx will not get better by retrying
            job.save()
        left = job.retries_left if job is not None else 0
        calls.update(call_sid, redirect="retrying" if transient and left else "failed", redirect_error=str(exc)[:200])
        context.store().hincrby(keys.COUNTERS, "rest_redirect_errors", 1)
        raise
    calls.update(call_sid, redirect="done", redirect_job=this)
    return "done"


def enqueue_redirect(rq_connection: Any, settings: Settings, call_sid: str, url: str, tag: str = "isolation",
                     pipeline: Any = None) -> str:
    """Queue the redirect with bounded retries and backoff; one job per call and move (deterministic id).

    With `pipeline` (one the caller runs, or records for the flag script to run after a new flag), the job's
    writes are queued on it and exist only once they run."""
    job_id = redirect_job_id(tag, call_sid)
    if pipeline is not None:  # the desk flag's path: RQ's job from a checked recipe (workers/prepared.py)
        return _prepared_redirects(rq_connection, settings).enqueue(call_sid, url, job_id=job_id, pipeline=pipeline)
    job = queue(CALLS, rq_connection).enqueue(redirect_call, call_sid, url, job_id=job_id,
                                              **_redirect_options(settings))
    return str(job.id)


def _redirect_options(settings: Settings) -> dict[str, Any]:
    retry = (Retry(max=settings.redirect_retries, interval=list(settings.redirect_backoff) or [0])
             if settings.redirect_retries > 0 else None)
    return {"retry": retry, "job_timeout": 30, "result_ttl": 86400, "failure_ttl": 7 * 86400}


def _prepared_redirects(rq_connection: Any, settings: Settings) -> Prepared:
    """One Prepared per connection and retry settings, kept on the connection as the queues are."""
    made: dict[Any, Prepared] = kept_on(rq_connection, "prepared_redirects")
    key = (settings.redirect_retries, tuple(settings.redirect_backoff))
    found = made.get(key)
    if found is None:
        found = made[key] = Prepared(queue(CALLS, rq_connection), redirect_call, **_redirect_options(settings))
    return found


def standing_queue_names(settings: Settings) -> list[str]:
    """Every queue agents, supervisors, teams (IVR_TEAMS) and the isolation treatment use (private holds come
    and go)."""
    return [settings.agents_queue, settings.supervisors_queue, settings.isolation_queue,
            *(settings.team_queue(name) for name in sorted(settings.teams))]


def ensure_standing_queues() -> list[str]:
    """Create the agents', supervisors' and isolation queues in Twilio if they are missing (idempotent).

    Twilio answers a <Dial><Queue> into a queue that does not exist with an error at once, so every
    process of the service makes sure of them when it starts, and the cron every few minutes."""
    s = context.settings()
    if not twilio_rest.configured(s):
        return []
    created = twilio_rest.ensure_queues(s, standing_queue_names(s))
    if created:
        log.info("created Twilio queues: %s", ", ".join(created))
    return created


def enqueue_standing_queues(rq_connection: Any, missing: bool = False) -> str:
    """Ask a worker to make the standing queues now: one job at a time (a deterministic id, and none
    while one waits or runs), so processes starting together never race to create the same queue.

    `missing`: Twilio has just failed a dial into one of them. A job waiting out its retry backoff (REST was
    unreachable when it last ran: up to 5 minutes) then runs at once instead, since agents cannot take
    callers until the queues exist. A job queued or running is left as it is.
    """
    existing = Job.fetch(STANDING_QUEUES_JOB_ID, connection=rq_connection, serializer=JSONSerializer) \
        if Job.exists(STANDING_QUEUES_JOB_ID, connection=rq_connection) else None
    status = existing.get_status(refresh=False) if existing is not None else None
    if existing is not None and status in (JobStatus.QUEUED, JobStatus.STARTED):
        return str(existing.id)
    if existing is not None and status in (JobStatus.SCHEDULED, JobStatus.DEFERRED):
        if missing and status == JobStatus.SCHEDULED:
            with contextlib.suppress(InvalidJobOperation):  # the scheduler moved it to the queue meanwhile
                ScheduledJobRegistry(queue=queue(MAINTENANCE, rq_connection)).requeue(existing)
                log.info("standing queues: a dial failed, so the job waiting to retry runs now")
        return str(existing.id)
    job = queue(MAINTENANCE, rq_connection).enqueue(
        ensure_standing_queues, job_id=STANDING_QUEUES_JOB_ID, job_timeout=60, result_ttl=0, failure_ttl=3600,
        retry=Retry(max=3, interval=[10, 60, 300]))
    return str(job.id)


def cleanup_hold_queues(min_age_seconds: int = 300) -> int:
    """Delete empty private hold queues older than `min_age_seconds` (Twilio keeps queues until deleted)."""
    s = context.settings()
    if not twilio_rest.configured(s):
        return 0
    api = twilio_rest.client(s)
    cutoff = datetime.now(UTC) - timedelta(seconds=min_age_seconds)
    deleted = 0
    for q in api.queues.list():
        if not (q.friendly_name or "").startswith(s.hold_queue_prefix) or q.current_size:
            continue
        created = q.date_created
        if isinstance(created, str):
            created = parsedate_to_datetime(created)
        if created and created > cutoff:
            continue
        try:
            api.queues(q.sid).delete()
            deleted += 1
        except Exception as exc:
            if not twilio_rest.is_call_gone(exc):
                raise
    return deleted


def prune_block_index() -> int:
    """Drop listing-index members of blocks that expired (expiry itself needs no job)."""
    return context.blocklist().prune_index()


def sweep_feeds() -> dict[str, int]:
    """Give back the memory of bulk-feed entries that aged out (the screen already ignores them from the second
    they age out) and of feed versions replaced or deleted whose buckets an interrupted import left behind."""
    removed = context.blocklist().sweep_feeds()
    if any(removed.values()):
        log.info("feeds swept: %s", ", ".join(f"{name} {n}" for name, n in removed.items() if n))
    return removed
