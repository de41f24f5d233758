"""Absolute URLs under PUBLIC_BASE_URL, for everything handed to Twilio inside TwiML."""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for


def external(endpoint: str, **values: Any) -> str:
    """`url_for(endpoint, _external=True)` against the public base Twilio calls, not the request's host."""
    return current_app.config["SETTINGS"].base_url + url_for(endpoint, **values)


