"""Phone numbers in logs are masked unless IVR_LOG_NUMBERS=full; secrets come only from the environment."""

from __future__ import annotations

import io
import logging

from blocklist.settings import SETTINGS, Settings
from ivr.logging_setup import configure_logging


def _logged(settings: Settings, message: str) -> str:
    configure_logging(settings)
    logger = logging.getLogger("ivr")
    stream = io.StringIO()
    handler = logger.handlers[0]
    old = handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        logging.getLogger("ivr.voice").warning(message, "+14155550123")
    finally:
        handler.setStream(old)  # type: ignore[attr-defined]
    return stream.getvalue()


def test_numbers_are_masked_in_logs_by_default() -> None:
    text = _logged(Settings.from_env(environ={}), "call from %s refused")
    assert "+1415555****" in text and "+14155550123" not in text


def test_full_numbers_only_when_asked() -> None:
    text = _logged(Settings.from_env(environ={"IVR_LOG_NUMBERS": "full"}), "call from %s refused")
    assert "+14155550123" in text
    configure_logging(Settings.from_env(environ={}))


def test_secrets_have_no_default_and_come_from_the_environment() -> None:
    for name in ("TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "IVR_API_TOKEN", "IVR_SECRET_KEY"):
        assert SETTINGS[name][1] == "", name
    s = Settings.from_env(environ={"TWILIO_AUTH_TOKEN": "from-env"})
    assert s.twilio_auth_token == "from-env"
