"""The app factory: settings, resources, blueprints, error handling. Nothing here runs at import."""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, Response, jsonify, request
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import HTTPException

from ivr import extensions
from ivr.config import Settings
from ivr.logging_setup import configure_logging

log = logging.getLogger("ivr.app")
TWILIO_PREFIXES = ("/voice/", "/agent/", "/supervisor/")


def build_app(config: dict[str, Any] | None = None) -> Flask:
    settings = Settings.from_env(config)
    configure_logging(settings)
    app = Flask("ivr", instance_relative_config=False)
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = settings.max_body_bytes
    app.config["MAX_FORM_PARTS"] = 200
    app.json.sort_keys = False  # type: ignore[attr-defined]
    extensions.init_app(app, settings)
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    from ivr import agent, api, blocklist_api, health, media, openapi, reports_api, voice
    from ivr.desk import views_agent, views_auth, views_manager, web

    web.configure(app, settings)  # session cookie, secret key, security headers
    for blueprint in (voice.bp, agent.bp, agent.supervisor_bp, api.bp, blocklist_api.bp, reports_api.bp, media.bp, health.bp, openapi.bp,
                      views_auth.bp, views_agent.bp, views_manager.bp):
        app.register_blueprint(blueprint)
    _error_handlers(app)
    if settings.simulation_clock:
        _simulation_clock(app)
    return app


def _simulation_clock(app: Flask) -> None:
    """Demo only: a request may carry its simulated time, so `ivr simulate` can play a day in a minute."""
    from blocklist.rules import clock_override

    log.warning("IVR_SIMULATION_CLOCK is on: requests may set the service's clock. Never run it in production.")

    @app.before_request
    def set_clock() -> None:
        value = request.headers.get("X-Ivr-Sim-Time", "")
        if value.isdigit() and 10**12 <= int(value) < 10**14:
            request.environ["ivr.clock_token"] = clock_override.set(int(value))

    @app.teardown_request
    def reset_clock(_exc: BaseException | None) -> None:
        token = request.environ.pop("ivr.clock_token", None)
        if token is not None:
            clock_override.reset(token)


def _is_twilio_route() -> bool:
    return request.path.startswith(TWILIO_PREFIXES)


def _fail_safe_twiml() -> Response:
    """What a caller hears when something inside us broke: never Twilio's application-error message."""
    r = VoiceResponse()
    r.say("Sorry, we could not connect your call. Please call again later.")
    r.hangup()
    return Response(str(r), status=200, mimetype="text/xml")


def _error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if request.path.startswith("/api/"):
            return jsonify({"error": exc.name.lower().replace(" ", "_"), "detail": exc.description}), exc.code
        return Response(f"{exc.code} {exc.name}: {exc.description}\n", status=exc.code or 500,
                        mimetype="text/plain")

    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    def store_unavailable(exc: redis.RedisError) -> Any:
        """Redis down or hung: webhooks fail open; the API and pages say so (503), nothing half-written."""
        log.warning("Redis unavailable on %s: %s", request.path, type(exc).__name__)
        extensions.resources().count("store_unavailable")
        if _is_twilio_route():
            return _fail_safe_twiml()
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
            return _fail_safe_twiml()
        if request.path.startswith("/api/"):
            return jsonify({"error": "internal", "detail": "the service logged this error; retry, and tell the "
                                                           "operator if it persists"}), 500
        return Response("Internal error: the service logged it; retry, and tell the operator if it persists.\n",
                        status=500, mimetype="text/plain")
