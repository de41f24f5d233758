"""The app factory: settings, resources, blueprints, error handling. Nothing here runs at import."""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from flask import Flask, Request, Response, jsonify, request
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import BadRequest, HTTPException

from blocklist.settings import Settings
from ivr import extensions
from ivr.logging_setup import configure_logging

log = logging.getLogger("ivr.app")
TWILIO_PREFIXES = ("/voice/", "/agent/", "/supervisor/")
# Requests that never wait on the desk's share of the threads: Twilio's (webhooks, the recordings
# <Play> fetches) and the probes a load balancer or an operator needs during an outage.
UNLIMITED_PREFIXES = (*TWILIO_PREFIXES, "/media/", "/healthz", "/readyz", "/metrics", "/static/")
DESK_SLOT = "ivr.desk_slot"


class IvrRequest(Request):
    """Flask's request, with a JSON body nested too deeply for Python's parser refused as bad input (the
    parser raises RecursionError, which Flask does not expect: a 500 on every JSON route otherwise)."""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        try:
            return super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:
            if silent:
                return None
            raise BadRequest("the JSON body nests too deeply: send a flat object") from None


def build_app(config: dict[str, Any] | None = None) -> Flask:
    settings = Settings.from_env(config)
    configure_logging(settings)
    app = Flask("ivr", instance_relative_config=False)
    app.request_class = IvrRequest
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
    _desk_share(app, settings.desk_concurrency)
    _import_limit(app, settings.import_max_bytes)
    if settings.simulation_clock:
        _simulation_clock(app)
    return app


def _simulation_clock(app: Flask) -> None:
    """Demo only: a request may carry its simulated time, so `ivr simulate` can play a day in a minute."""
    from blocklist.clock import clock_override

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


IMPORT_ENDPOINTS = ("desk_manager.blocklist_import", "blocklist_api.import_blocks", "blocklist_api.import_allowed")


def _import_limit(app: Flask, limit: int) -> None:
    """CSV imports take files far larger than a webhook body: one limit for the desk and the API, raised
    before anything (the CSRF check included) reads the body."""

    @app.before_request
    def raise_limit() -> None:
        if request.endpoint in IMPORT_ENDPOINTS:
            request.max_content_length = limit
            request.max_form_memory_size = limit

    @app.errorhandler(413)
    def too_large(exc: HTTPException) -> Any:
        if request.endpoint in IMPORT_ENDPOINTS:
            detail = (f"the file is larger than {limit // (1024 * 1024)} MiB (IVR_IMPORT_MAX_BYTES); nothing was "
                      "imported. Split it, or import it with `ivr blocklist import FILE`, which has no limit.")
        else:
            detail = (f"the body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes (IVR_MAX_BODY_BYTES); "
                      "nothing was changed.")
        if request.path.startswith("/api/"):
            return jsonify({"error": "too_large", "detail": detail}), 413
        return Response(f"Too large: {detail}\n", status=413, mimetype="text/plain")


def _desk_share(app: Flask, slots: int) -> None:
    """Desk and API requests may hold at most `slots` of a web process's threads at once (gunicorn runs
    slots + 2 threads: see ivr.cli.gunicorn_argv).

    Twilio's webhooks share the process with the desk. When Redis stalls, a desk request can wait on it
    for its whole socket timeout; without a cap, a few desk pages polling every 2 s would hold every
    thread and the webhooks would queue behind them past Twilio's 15 s. Beyond the cap a desk request
    is answered 503 at once (the desk's pages retry by themselves).
    """
    share = threading.BoundedSemaphore(slots)

    @app.before_request
    def take_slot() -> Any:
        if request.path.startswith(UNLIMITED_PREFIXES):
            return None
        if not share.acquire(blocking=False):
            extensions.resources().count("desk_busy")
            return _busy_response()
        request.environ[DESK_SLOT] = True
        return None

    @app.teardown_request
    def give_slot(_exc: BaseException | None) -> None:
        if request.environ.pop(DESK_SLOT, False):
            share.release()


def _busy_response() -> Response:
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
    """The caller stays in the flow of the URL that failed (see voice.degraded); if even that fails, the
    fixed goodbye: never Twilio's application-error message."""
    from ivr import voice  # the caller's side of the line, imported where the factory registers it

    try:
        return voice.degraded()
    except Exception:
        log.exception("degraded TwiML failed on %s", request.path)
        return _fail_safe_twiml()


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
