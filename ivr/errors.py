"""The service's error answers, each in the form its reader needs.

- Twilio's routes get TwiML that keeps the caller in the flow (never a 500, never Twilio's application-error
  message); their HTTP refusals (404, 405) and the probes' stay the short plain text they always were.
- The JSON API gets an RFC 9457 problem (application/problem+json), see ivr.problems.
- Everything else is the desk: a page in the desk's layout saying what went wrong, what to do, and a way back.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import redis
from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.http import HTTP_STATUS_CODES

from ivr import resources as extensions
from ivr.auth import Principal, csrf_token, current_principal
from ivr.desk.web import DESK_CSP
from ivr.problems import clean_path, desk_page, is_api_request, problem, request_id
from ivr.webhooks.incoming import degraded
from ivr.webhooks.twiml import fail_safe

log = logging.getLogger("ivr.app")


TWILIO_PREFIXES = ("/voice/", "/agent/", "/supervisor/")
# Read by Twilio (recordings) and by load balancers and monitoring: they get plain text, as they always did.
MACHINE_PREFIXES = (*TWILIO_PREFIXES, "/media/", "/healthz", "/readyz", "/metrics")

STORE_DETAIL = ("the data store (Redis) is unreachable; nothing was changed. Retry in a few seconds; if it "
                "persists, check that Redis is running (GET /readyz).")
BUSY_DETAIL = ("the service is busy with other desk and API requests (the data store may be slow); nothing was "
               "changed. Retry in a few seconds.")
INTERNAL_DETAIL = ("the service hit an error it did not expect and logged it; what you asked may not have been "
                   "done. Try again; if it happens again, tell the admin the request id")


def _is_twilio_route() -> bool:
    return request.path.startswith(TWILIO_PREFIXES)


def _page_principal(lookup: bool) -> Principal | None:
    """Who the error page's navigation is for. An error page must never fail on the store: when the store is
    the trouble (`lookup` False), or looking fails, the page shows the logged-out layout."""
    if "ivr_principal" in g:
        known: Principal | None = g.ivr_principal
        return known
    principal = None
    if lookup:
        try:
            principal = current_principal()
        except Exception as exc:  # the page still shows; who is asking is only for the navigation
            log.debug("no principal for the error page on %s: %s", request.path, type(exc).__name__)
    g.ivr_principal = principal  # the desk's template helpers read it from here, and do not look again
    return principal


def answer(status: int, code: str, detail: str, *, text: str | None = None, heading: str | None = None,
           todo: str | None = None, headers: Mapping[str, str] | None = None, lookup_user: bool = True,
           with_request_id: bool = False) -> Response:
    """One error, said in the form its reader needs: plain `text` for Twilio and the probes, a problem for the
    API, a desk page for people. `code` is the API's machine-readable `error`; `detail` the words for both."""
    extra = {"request_id": request_id()} if with_request_id else {}
    all_headers = {**(headers or {}), **({"X-Request-ID": extra["request_id"]} if extra else {})}
    if request.path.startswith(MACHINE_PREFIXES):
        body = text if text is not None else f"{status} {HTTP_STATUS_CODES.get(status, 'Error')}: {detail}\n"
        return Response(body, status=status, mimetype="text/plain", headers=all_headers)
    if is_api_request():
        return problem(status, code, detail, headers=all_headers, **extra)[0]
    try:
        me = _page_principal(lookup_user)
        page = desk_page(status, detail, heading=heading, todo=todo, headers=all_headers,
                         show_request_id=with_request_id, context={"me": me, "csrf_token": csrf_token})
    except Exception:  # never a second error out of an error answer
        log.exception("the desk's error page failed on %s", request.path)
        body = text if text is not None else f"{status} {HTTP_STATUS_CODES.get(status, 'Error')}: {detail}\n"
        return Response(body, status=status, mimetype="text/plain", headers=all_headers)
    if not request.path.startswith("/desk"):
        page.headers["Content-Security-Policy"] = DESK_CSP  # the layout's own script and style, nothing else
    return page


def busy_response() -> Response:
    """A desk or API request beyond the desk's share of the threads (ivr.app._desk_share): come back shortly."""
    return answer(503, "busy", BUSY_DETAIL, text=f"Busy: {BUSY_DETAIL}\n", heading="The desk is busy right now",
                  todo="Try again in a moment: this page works again as soon as the requests before it are done.",
                  headers={"Retry-After": "2"}, lookup_user=False)


def _http_detail(exc: HTTPException) -> str:
    """The exception's own description when our code gave one; werkzeug's stock sentence replaced by ours."""
    if exc.description and exc.description != type(exc).description:
        return exc.description
    path = clean_path()
    if isinstance(exc, MethodNotAllowed):
        allowed = sorted(set(exc.valid_methods or ()) - {"HEAD", "OPTIONS"})
        takes = f"; it takes {' or '.join(allowed)}" if allowed else ""
        return f"{path} does not take {request.method} requests{takes}"
    defaults = {
        400: "the request could not be read (a malformed form, body or address): check what was sent and send "
             "it again",
        403: "your role does not allow this: ask an admin to change it if your work needs it",
        404: f"there is nothing at {path}: check the address",
        413: "the request is larger than this service accepts; nothing was changed. Send less at once",
    }
    return defaults.get(exc.code or 500, exc.description or exc.name)


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
        status = exc.code or 500
        if request.path.startswith(MACHINE_PREFIXES):  # Twilio's and the probes' answers stay as they were
            return Response(f"{exc.code} {exc.name}: {exc.description}\n", status=status, mimetype="text/plain")
        headers = {name: value for name, value in exc.get_headers() if name.lower() != "content-type"}
        return answer(status, exc.name.lower().replace(" ", "_"), _http_detail(exc), headers=headers)

    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    def store_unavailable(exc: redis.RedisError) -> Any:
        """Redis down or hung: webhooks keep the caller in their flow; the API and pages say so (503),
        nothing half-written. Logged once per outage by this process, then at debug."""
        extensions.resources().count("store_unavailable")
        log.debug("Redis unavailable on %s: %s", request.path, type(exc).__name__)
        if _is_twilio_route():
            return _degraded_twiml()
        return answer(503, "store_unavailable", STORE_DETAIL, text=STORE_DETAIL + "\n",
                      headers={"Retry-After": "5"}, lookup_user=False)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        log.exception("unexpected error on %s (request id %s)", request.path, request_id())
        extensions.resources().count("unexpected_error")
        if _is_twilio_route():
            return _degraded_twiml()
        return answer(500, "internal", INTERNAL_DETAIL,
                      text="Internal error: the service logged it; retry, and tell the operator if it persists.\n",
                      with_request_id=True)
