"""X-Twilio-Signature validation for every Twilio-facing route, and the API bearer token."""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request
from twilio.request_validator import RequestValidator

from ivr.extensions import resources

log = logging.getLogger("ivr.security")
TWILIO_ROUTE_ATTR = "_ivr_twilio_webhook"


def signed_url() -> str:
    """The URL Twilio called: PUBLIC_BASE_URL + path + query (the proxy may have rewritten the host)."""
    query = request.query_string.decode("latin-1")
    return resources().settings.base_url + request.path + (f"?{query}" if query else "")


def signature_ok() -> bool:
    settings = resources().settings
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not settings.twilio_auth_token:
        return False
    try:
        params = request.form
    except ValueError:  # a body werkzeug cannot parse is not a Twilio request
        return False
    return bool(RequestValidator(settings.twilio_auth_token).validate(signed_url(), params, signature))


def twilio_webhook(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse (403) any request not signed by Twilio with our auth token; nothing runs before this."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if request.method != "POST":
            return Response("Twilio webhooks are POST requests.\n", status=405, mimetype="text/plain")
        limit = resources().settings.max_body_bytes
        if (request.content_length or 0) > limit:
            return Response(f"Request body over {limit} bytes: Twilio's webhooks are far smaller; "
                            "raise IVR_MAX_BODY_BYTES only if you know why.\n", status=413, mimetype="text/plain")
        if not signature_ok():
            resources().count("signature_refused")
            log.warning("refused %s: missing or wrong X-Twilio-Signature (check TWILIO_AUTH_TOKEN and "
                        "PUBLIC_BASE_URL match the URL in the Twilio console)", request.path)
            return Response("Forbidden: X-Twilio-Signature missing or wrong. Check that TWILIO_AUTH_TOKEN and "
                            "PUBLIC_BASE_URL match the number's configuration.\n", status=403, mimetype="text/plain")
        return view(*args, **kwargs)

    setattr(wrapper, TWILIO_ROUTE_ATTR, True)
    return wrapper


def api_token_ok() -> bool:
    token = resources().settings.api_token
    header = request.headers.get("Authorization", "")
    scheme, _, supplied = header.partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(supplied.strip(), token)


def api_auth(view: Callable[..., Any]) -> Callable[..., Any]:
    """JSON API routes: `Authorization: Bearer <IVR_API_TOKEN>`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not api_token_ok():
            return current_app.json.response(
                {"error": "unauthorized", "detail": "send Authorization: Bearer <IVR_API_TOKEN>"}
            ), 401
        return view(*args, **kwargs)

    return wrapper
