"""Redis connections: one place decides timeouts and client options."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def connect(url: str, socket_timeout: float | None = None, decode: bool = True) -> redis.Redis:
    """A client for `url`; short timeouts on the call path so a hung Redis fails fast."""
    if not url:
        raise ValueError("no Redis URL: set REDIS_URL, or start the service with `ivr serve` (embedded Redis)")
    return redis.Redis.from_url(
        url,
        decode_responses=decode,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout if socket_timeout is not None else 5,
        health_check_interval=30,
        # The webhook path must answer within Twilio's 15 s, so no silent retries on it.
        retry=Retry(NoBackoff(), 0) if socket_timeout is not None else Retry(NoBackoff(), 1),
    )
