"""What a job needs from its process: settings from the environment and Redis clients.

Jobs take plain values; everything else they build here, once per process.
"""

from __future__ import annotations

from functools import lru_cache

import redis

from blocklist.rules import Blocklist, for_settings
from blocklist.settings import Settings
from blocklist.store import connect


def settings() -> Settings:
    return Settings.from_env()


@lru_cache(maxsize=8)
def _store(url: str) -> redis.Redis:
    return connect(url, socket_timeout=30)


def store() -> redis.Redis:
    """A decoded Redis client for the job's domain writes."""
    return _store(settings().redis_url)


def blocklist() -> Blocklist:
    return for_settings(store(), settings())


def reset() -> None:
    """Forget cached clients (tests switch databases between runs)."""
    _store.cache_clear()
