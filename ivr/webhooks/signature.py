"""Twilio's signature on every webhook (X-Twilio-Signature): refused with 403 before anything runs."""

from __future__ import annotations

import base64
import functools
import hmac
import logging
from collections.abc import Callable
from typing import Any

from flask import Request, Response, current_app, request
from twilio.request_validator import (
    HMAC_SHA1,
    HMAC_SHA256,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from blocklist.settings import Settings
from blocklist.text import clean_text
from ivr.resources import TWILIO_VIEW, resources

log = logging.getLogger("ivr.security")


TWILIO_ROUTE_ATTR = "_ivr_twilio_webhook"
_DIGESTS = {HMAC_SHA1: "sha1", HMAC_SHA256: "sha256"}


def twilio_signature(secret: str, url: str, params: Any, algorithm: str = HMAC_SHA1) -> str:
    """RequestValidator(secret).compute_signature(url, params, algorithm), field for field (a property test
    holds the two to it), without the library's per-field exception: it asks a MultiDict for getall()
    first, which werkzeug's has not. The URL, then every field name in order with each of its distinct
    values in order, HMAC'd with the secret, base64."""
    digest = _DIGESTS.get(algorithm.upper())
    if digest is None:
        raise ValueError(f"unsupported webhook signature algorithm: {algorithm}")
    parts = [url]
    getlist = getattr(params, "getlist", None)
    for name in sorted(set(params)):
        values = getlist(name) if getlist is not None else [params[name]]
        if len(values) == 1:
            parts += (name, values[0])
        else:
            for value in sorted(set(values)):
                parts += (name, value)
    return base64.b64encode(hmac.digest(secret.encode("utf-8"), "".join(parts).encode("utf-8"), digest)).decode()


def signed_url(req: Request, base_url: str) -> str:
    """The URL Twilio called: PUBLIC_BASE_URL + path + query (the proxy may have rewritten the host)."""
    query = req.query_string.decode("latin-1")
    return base_url + req.path + (f"?{query}" if query else "")


def signature_ok(req: Request, settings: Settings) -> bool:
    """X-Twilio-Signature as Twilio may send it: HMAC-SHA1 with the auth token (or, while rotating it, the
    secondary one), or, with X-Twilio-Webhooks-Signature-Settings, with the Webhooks Setting's SharedKey
    and the algorithm the header names. A POST signs its form fields; a GET only its URL (the fields are
    in the query string)."""
    signature = req.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    sig_settings = req.headers.get(SIGNATURE_SETTINGS_HEADER, "")
    if sig_settings:
        if not settings.webhook_shared_key:
            log.warning("a webhook signed with a SharedKey (%s) arrived, but IVR_WEBHOOK_SHARED_KEY is not set",
                        clean_text(sig_settings, 80))
            return False
        secrets_ = [settings.webhook_shared_key]
        algorithm = get_signature_algorithm(sig_settings)
    else:
        secrets_ = [t for t in (settings.twilio_auth_token, settings.twilio_secondary_auth_token) if t]
        algorithm = HMAC_SHA1
    if not secrets_:
        return False
    try:
        params = req.form if req.method == "POST" else {}
    except ValueError:  # a body werkzeug cannot parse is not a Twilio request
        return False
    url = signed_url(req, settings.base_url)
    for secret in secrets_:
        # One HMAC for the URL Twilio is configured to call; the library's validate() always computes two
        # (with and without the port) and is kept for the other forms (ports, bodySHA256).
        try:
            if "bodySHA256=" not in url and hmac.compare_digest(twilio_signature(secret, url, params, algorithm),
                                                                signature):
                return True
        except ValueError:  # an algorithm twilio-python does not know: refused, and said once below
            log.warning("webhook signature algorithm %r is unknown to this twilio library: upgrade twilio",
                        clean_text(algorithm, 40))
            return False
        if RequestValidator(secret).validate(url, params, signature, algorithm):
            return True
    return False


def twilio_webhook(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse (403) any request not signed by Twilio with our auth token; nothing runs before this."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        req = request._get_current_object()  # type: ignore[attr-defined]  # one context lookup, not one per use
        # The routes a number or TwiML App may be set to GET list GET in their methods (Flask refuses
        # the rest with 405); every URL of ours that Twilio follows says method="POST".
        res = current_app.extensions["ivr"]
        req.environ[TWILIO_VIEW] = res.twilio  # from here on resources() is the webhook's own
        settings = res.settings
        limit = settings.max_body_bytes
        if (req.content_length or 0) > limit:
            return Response(f"Request body over {limit} bytes: Twilio's webhooks are far smaller; "
                            "raise IVR_MAX_BODY_BYTES only if you know why.\n", status=413, mimetype="text/plain")
        if not signature_ok(req, settings):
            resources().count("signature_refused")
            log.warning("refused %s: missing or wrong X-Twilio-Signature (check TWILIO_AUTH_TOKEN and "
                        "PUBLIC_BASE_URL match the URL in the Twilio console)", req.path)
            return Response("Forbidden: X-Twilio-Signature missing or wrong. Check that TWILIO_AUTH_TOKEN and "
                            "PUBLIC_BASE_URL match the number's configuration.\n", status=403, mimetype="text/plain")
        if req.method == "GET":
            # Twilio's fields arrive in the query string: the views read them where a POST has them.
            req.__dict__["form"] = req.args
        return view(*args, **kwargs)

    setattr(wrapper, TWILIO_ROUTE_ATTR, True)
    return wrapper
