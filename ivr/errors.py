"""The service's error answers: Twilio's routes get TwiML that keeps the caller in the flow (never a 500,
never Twilio's application-error message), the API JSON, the desk a page."""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from ivr import resources as extensions
from ivr.webhooks.incoming import degraded
from ivr.webhooks.twiml import fail_safe

log = logging.getLogger("ivr.app")


TWILIO_PREFIXES = ("/voice/", "/agent/", "/supervisor/")


def busy_response() -> Response:
    detail = ("the service is busy with other desk and API requests (the data store may be slow); nothing was "
              "changed. Retry in a few seconds.")
    headers = {"Retry-After": "2"}
    if request.path.startswith("/api/"):
        resp = jsonify({"error": "busy", "detail": detail})
        resp.status_code = 503
        resp.headers.update(headers)
        return resp
    return Response(f"Busy: {detail}\n", status=503, mimetype="text/plain", headers=headers)


def _is_twilio_route() -> bool:
    return request.path.startswith(TWILIO_PREFIXES)


def _degraded_twiml() -> Response:
    """The caller stays in the flow of the URL that failed (see webhooks.incoming.degraded); if even that
    fails, the fixed goodbye: never Twilio's application-error message."""
    try:
        return degraded()
    except Exception:
        log.exception("degraded TwiML failed on %s", request.path)
        return fail_safe()


def error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if request.path.startswith("/api/"):
            return jsonify({"error": exc.name.lower().replace(" ", "_"), "detail": exc.description}), exc.code
        return Response(f"{exc.code} {exc.name}: {exc.description}\n", status=exc.code or 500,
                        mimetype="text/plain")

    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    def store_unavailable(exc: redis.RedisError) -> Any:
        """Redis down or hung: webhooks keep the caller in their flow; the API and pages say so (503),
        nothing half-written. Logged once per outage by this process, then at debug."""
        extensions.resources().count("store_unavailable")
        log.debug("Redis unavailable on %s: %s", request.path, type(exc).__name__)
        if _is_twilio_route():
            return _degraded_twiml()
        body = {"error": "store_unavailable",
                "detail": "the data store (Redis) is unreachable; nothing was changed. Retry in a few seconds; "
                          "if it persists, check that Redis is running (GET /readyz)."}
        if request.path.startswith("/api/"):
            return jsonify(body), 503, {"Retry-After": "5"}
        return Response(body["detail"] + "\n", status=503, mimetype="text/plain", headers={"Retry-After": "5"})

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        log.exception("unexpected error on %s", request.path)
        extensions.resources().count("unexpected_error")
        if _is_twilio_route():
            return _degraded_twiml()
        if request.path.startswith("/api/"):
            return jsonify({"error": "internal", "detail": "the service logged this error; retry, and tell the "
                                                           "operator if it persists"}), 500
        return Response("Internal error: the service logged it; retry, and tell the operator if it persists.\n",
                        status=500, mimetype="text/plain")
