"""Liveness, readiness and operational counters."""

from __future__ import annotations

import redis
from flask import Blueprint, Response, jsonify

from blocklist import keys
from ivr.resources import resources

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when Redis answers; a load balancer takes us out of rotation otherwise."""
    try:
        resources().fast.ping()
    except (redis.RedisError, OSError) as exc:
        return jsonify({"status": "not ready", "redis": f"unreachable ({type(exc).__name__}): check REDIS_URL "
                                                        "and that Redis is running"}), 503
    return jsonify({"status": "ready", "redis": "ok"}), 200


@bp.get("/metrics")
def metrics() -> Response:
    """Counters in Prometheus text format: this process's, then the shared ones kept in Redis."""
    lines = [f"ivr_{name}_total {value}" for name, value in sorted(resources().counters.items())]
    try:
        shared = resources().fast.hgetall(keys.COUNTERS)
        lines += [f"ivr_shared_{name}_total {value}" for name, value in sorted(shared.items())]
    except (redis.RedisError, OSError):
        lines.append("ivr_redis_up 0")
    return Response("\n".join(lines) + "\n", mimetype="text/plain")
