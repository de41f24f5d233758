"""Absolute URLs under PUBLIC_BASE_URL, for everything handed to Twilio inside TwiML."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from flask import current_app, has_request_context, request, url_for

CACHE_LIMIT = 4096  # distinct URLs kept per app; past it, URLs are built each time (never an unbounded dict)


def external(endpoint: str, **values: Any) -> str:
    """`url_for(endpoint, _external=True)` against the public base Twilio calls, not the request's host.

    The webhooks hand Twilio the same few URLs on every call (the hold music, the queue's exit, per language):
    each is built once per app and the prefix the service is mounted under, then kept (werkzeug's url_for costs
    ~18 us, and a call's TwiML has two or three). The URL map is fixed once the app serves and the app has no
    url_defaults hooks (a test holds that), so one endpoint with the same values always makes the same URL."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    cache: dict[Hashable, str] = app.extensions.setdefault("ivr_urls", {})
    key = _key(endpoint, values)
    if key is not None and (url := cache.get(key)) is not None:
        return url
    url = app.config["SETTINGS"].base_url + url_for(endpoint, **values)
    if key is not None and len(cache) < CACHE_LIMIT:
        cache[key] = url
    return url


def _key(endpoint: str, values: dict[str, Any]) -> Hashable | None:
    """What the URL depends on, or None when it cannot be kept (outside a request, an unhashable value)."""
    if not has_request_context():
        return None
    key = (request.script_root, endpoint, tuple(sorted(values.items())))
    try:
        hash(key)
    except TypeError:
        return None
    return key
