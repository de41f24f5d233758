"""Per-app resources (Redis clients, the blocklist, RQ queues), built in the factory, used by views."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import Flask, current_app
from rq import Queue

from blocklist.rules import Blocklist, Policy, for_settings
from blocklist.store import connect
from ivr.config import Settings
from workers.queues import ALL_QUEUES, queue

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
    fast = connect(url, socket_timeout=settings.redis_timeout)
    store = connect(url, socket_timeout=10)
    rq_conn = connect(url, socket_timeout=30, decode=False)
    policy = Policy.from_settings(settings)
    res = Resources(
        settings=settings,
        fast=fast,
        store=store,
        rq_connection=rq_conn,
        blocklist=for_settings(store, settings),
        fast_blocklist=Blocklist(fast, policy, settings.default_region),
    )
    app.extensions["ivr"] = res
    assert ALL_QUEUES
    _index_prefix_lengths(res.blocklist)
    return res


def _index_prefix_lengths(bl: Blocklist) -> None:
    """Index the range rules' lengths once (the first start, or rules written before the index existed)."""
    try:
        bl.ensure_prefix_index()
    except (redis.RedisError, OSError, RuntimeError) as exc:  # Redis not up yet: calls are still screened right
        log.warning("range rule lengths not indexed (%s): the screen tries every prefix length until the "
                    "service restarts with Redis up", type(exc).__name__)


def resources() -> Resources:
    res: Any = current_app.extensions["ivr"]
    return res  # type: ignore[no-any-return]


def settings() -> Settings:
    return resources().settings
