"""Per-app resources (Redis clients, the blocklist, RQ queues), built in the factory, used by views."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import redis
from flask import Flask, current_app, has_request_context, request
from rq import Queue

from blocklist.rules import Blocklist, Policy, for_settings
from blocklist.settings import Settings
from blocklist.store import Breaker, RedisWatch, connect
from workers.queues import queue

log = logging.getLogger("ivr.extensions")


@dataclass
class Resources:
    settings: Settings
    fast: redis.Redis  # webhook path: short timeouts, fail open
    store: redis.Redis  # API, desk, CLI: normal timeouts
    rq_connection: redis.Redis  # RQ wants bytes, its own client (as redash does)
    blocklist: Blocklist
    fast_blocklist: Blocklist
    counters: dict[str, int] = field(default_factory=dict)
    # Redis going away and coming back, as this process's clients see it: logged once per change.
    redis_watch: RedisWatch = field(default_factory=lambda: RedisWatch("web"))
    # What Twilio's routes use instead: the same resources on clients with short timeouts and a
    # breaker of their own, so a webhook never waits on Redis behind the desk (see init_app).
    twilio: Resources | None = None

    def queue(self, name: str) -> Queue:
        return queue(name, self.rq_connection)

    def count(self, name: str, n: int = 1) -> None:
        """In-process operational counter (shown on /metrics)."""
        self.counters[name] = self.counters.get(name, 0) + n


def init_app(app: Flask, settings: Settings) -> Resources:
    url = settings.redis_url
    if not url:
        raise ValueError("REDIS_URL is not set: start the service with `ivr serve`, which runs an embedded Redis, "
                         "or set REDIS_URL=redis://host:6379/0")
    # Two sets of clients, each behind its own breaker. Twilio's routes: the screen's timeout
    # (IVR_REDIS_TIMEOUT), writes allowed the replica wait on top. Desk, API and CLI: normal timeouts.
    watch = RedisWatch("web", "calls are let through to the agents unscreened (fail-open) and the desk and API "
                              "answer 503, until it is back", after="screening calls again")
    webhook_breaker = Breaker("webhook", open_seconds=1.0, watch=watch)
    desk_breaker = Breaker("desk", open_seconds=2.0, watch=watch)
    write_timeout = settings.redis_timeout + settings.wait_timeout_ms / 1000
    fast = connect(url, socket_timeout=settings.redis_timeout, breaker=webhook_breaker)
    webhook_store = connect(url, socket_timeout=write_timeout, breaker=webhook_breaker)
    webhook_rq = connect(url, socket_timeout=write_timeout, decode=False, breaker=webhook_breaker)
    store = connect(url, socket_timeout=10, breaker=desk_breaker)
    rq_conn = connect(url, socket_timeout=30, decode=False, breaker=desk_breaker)
    policy = Policy.from_settings(settings)
    res = Resources(
        settings=settings,
        fast=fast,
        store=store,
        rq_connection=rq_conn,
        blocklist=for_settings(store, settings),
        fast_blocklist=Blocklist(fast, policy, settings.default_region),
        redis_watch=watch,
    )
    res.twilio = replace(res, store=webhook_store, rq_connection=webhook_rq,
                         blocklist=for_settings(webhook_store, settings), counters=res.counters,
                         redis_watch=res.redis_watch)
    app.extensions["ivr"] = res
    _index_prefix_lengths(res.blocklist)
    return res


def _index_prefix_lengths(bl: Blocklist) -> None:
    """Index the range rules' lengths once (the first start, or rules written before the index existed)."""
    try:
        bl.ensure_prefix_index()
    except (redis.RedisError, OSError, RuntimeError) as exc:  # Redis not up yet: calls are still screened right
        log.warning("range rule lengths not indexed (%s): the screen tries every prefix length until the "
                    "service restarts with Redis up", type(exc).__name__)


TWILIO_VIEW = "ivr.twilio_resources"  # request.environ key set by the Twilio webhook decorator


def resources() -> Resources:
    """The app's resources; inside a Twilio webhook, their short-timeout twin (Resources.twilio)."""
    if has_request_context():
        view = request.environ.get(TWILIO_VIEW)
        if view is not None:
            return view  # type: ignore[no-any-return]
    res: Any = current_app.extensions["ivr"]
    return res  # type: ignore[no-any-return]



def blocklist() -> Blocklist:
    """This app's blocklist (the desk's and the API's; the webhooks use Resources.fast_blocklist)."""
    return resources().blocklist

def settings() -> Settings:
    return resources().settings
