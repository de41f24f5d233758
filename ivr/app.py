"""The app factory: settings, resources, blueprints, error handling. Nothing here runs at import."""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Flask, Request, request
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from blocklist.clock import clock_override
from blocklist.settings import Settings
from ivr import health, webhooks
from ivr import resources as extensions
from ivr.api import blocklist as api_blocklist
from ivr.api import calls as api_calls
from ivr.api import feeds as api_feeds
from ivr.api import openapi
from ivr.api import prompts as api_prompts  # noqa: F401  its routes hang on the media blueprint
from ivr.api import reports as api_reports
from ivr.api import restrictions as api_restrictions
from ivr.desk import (
    views_agent,
    views_auth,
    views_feeds,
    views_manager,
    views_restrictions,
    views_wellbeing,
    web,
)
from ivr.errors import TWILIO_PREFIXES, answer, busy_response, error_handlers
from ivr.forms import FastFormParser
from ivr.logging_setup import configure_logging

log = logging.getLogger("ivr.app")


# Requests that never wait on the desk's share of the threads: Twilio's (webhooks, the recordings
# <Play> fetches) and the probes a load balancer or an operator needs during an outage.
UNLIMITED_PREFIXES = (*TWILIO_PREFIXES, "/media/", "/healthz", "/readyz", "/metrics", "/static/")


DESK_SLOT = "ivr.desk_slot"


class IvrRequest(Request):
    """Flask's request, with a JSON body nested too deeply for Python's parser refused as bad input (the
    parser raises RecursionError, which Flask does not expect: a 500 on every JSON route otherwise), and
    URL-encoded forms (every Twilio webhook) decoded in C (ivr/forms.py)."""

    form_data_parser_class = FastFormParser

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        try:
            return super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:
            if silent:
                return None
            raise BadRequest("the JSON body nests too deeply: send a flat object") from None


class IvrFlask(Flask):
    """Flask, with ensure_sync's answer kept per function. Flask asks `inspect` whether every hook and view
    is a coroutine function on every request (five times a webhook); none of ours is, and what a function is
    never changes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict[Any, Any] = {}

    def ensure_sync(self, func: Any) -> Any:
        try:
            return self._sync[func]
        except KeyError:
            made = self._sync[func] = super().ensure_sync(func)
            return made
        except TypeError:  # an unhashable callable: asked each time, as Flask does
            return super().ensure_sync(func)


def build_app(config: dict[str, Any] | None = None) -> Flask:
    settings = Settings.from_env(config)
    configure_logging(settings)
    app = IvrFlask("ivr", instance_relative_config=False)
    app.request_class = IvrRequest
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = settings.max_body_bytes
    app.config["MAX_FORM_PARTS"] = 200
    app.json.sort_keys = False  # type: ignore[attr-defined]
    extensions.init_app(app, settings)
    if settings.trusted_proxies:

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    web.configure(app, settings)  # session cookie, secret key, security headers
    for blueprint in (*webhooks.BLUEPRINTS, api_calls.bp, api_blocklist.bp, api_feeds.bp, api_reports.bp, health.bp,
                      openapi.bp, views_auth.bp, views_agent.bp, views_manager.bp, views_feeds.bp, views_wellbeing.bp,
                      api_restrictions.bp, views_restrictions.bp):
        app.register_blueprint(blueprint)
    error_handlers(app)
    _desk_share(app, settings.desk_concurrency)
    _import_limit(app, settings.import_max_bytes)
    if settings.simulation_clock:
        _simulation_clock(app)
    return app


def _simulation_clock(app: Flask) -> None:
    """Demo only: a request may carry its simulated time, so `ivr simulate` can play a day in a minute."""

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


IMPORT_ENDPOINTS = ("desk_manager.blocklist_import", "blocklist_api.import_blocks", "blocklist_api.import_allowed",
                    "desk_feeds.feeds_import", "feeds_api.import_feed")


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
            command = "ivr feeds import NAME FILE" if "feed" in str(request.endpoint) else "ivr blocklist import FILE"
            detail = (f"the file is larger than {limit // (1024 * 1024)} MiB (IVR_IMPORT_MAX_BYTES); nothing was "
                      f"imported. Split it, or import it with `{command}`, which has no limit.")
        else:
            detail = (f"the body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes (IVR_MAX_BODY_BYTES); "
                      "nothing was changed.")
        return answer(413, "too_large", detail, text=f"Too large: {detail}\n")


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
            return busy_response()
        request.environ[DESK_SLOT] = True
        return None

    @app.teardown_request
    def give_slot(_exc: BaseException | None) -> None:
        if request.environ.pop(DESK_SLOT, False):
            share.release()
