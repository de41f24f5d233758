"""The app under test: settings changed mid-test."""

from __future__ import annotations

from dataclasses import replace
from typing import Any


def change_settings(app: Any, **changes: Any) -> Any:
    """Settings are frozen when the app is built; a test that needs others mid-test swaps them everywhere
    the app keeps them (its resources, the webhooks' twin of them, the URL builder's copy)."""
    res = app.extensions["ivr"]
    new = replace(res.settings, **changes)
    res.settings = new
    res.twilio.settings = new
    app.config["SETTINGS"] = new
    return new
