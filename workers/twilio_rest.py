"""Twilio's REST API, reached at TWILIO_API_BASE_URL (api.twilio.com, or a local stand-in)."""

from __future__ import annotations

import logging
from typing import Any

from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from blocklist.settings import Settings

log = logging.getLogger("ivr.twilio")
DEFAULT_BASE = "https://api.twilio.com"
MAX_QUEUE_SIZE = 1000  # Twilio's default (at most 5000): past it a caller gets QueueResult=queue-full and a call back
CALL_GONE_CODES = {21220, 20404}
QUEUE_NAME_TAKEN = 22003  # "A queue with this friendly name already exists"  # not in progress / not found: the caller already hung up


class RebasedHttpClient(TwilioHttpClient):
    """Sends the SDK's requests, same paths, to another base URL."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if self.base_url != DEFAULT_BASE and url.startswith(DEFAULT_BASE):
            url = self.base_url + url[len(DEFAULT_BASE):]
        return super().request(method, url, *args, **kwargs)


def configured(settings: Settings) -> bool:
    """Whether a Twilio account is set up (the upkeep jobs do nothing without one, quietly)."""
    return bool(settings.twilio_account_sid and settings.twilio_auth_token)


def client(settings: Settings, timeout: float = 10.0) -> Client:
    if not settings.twilio_account_sid or not settings.twilio_auth_token:
        raise ValueError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set to use Twilio's REST API")
    return Client(settings.twilio_account_sid, settings.twilio_auth_token,
                  http_client=RebasedHttpClient(settings.twilio_api_base_url, timeout))


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: timeouts, connection errors, 5xx and 429."""
    if isinstance(exc, TwilioRestException):
        return exc.status >= 500 or exc.status == 429
    return True


def is_call_gone(exc: BaseException) -> bool:
    return isinstance(exc, TwilioRestException) and (exc.code in CALL_GONE_CODES or exc.status == 404)


def ensure_queues(settings: Settings, names: list[str]) -> list[str]:
    """Create the named queues if Twilio has none by that name; returns the names created."""
    api = client(settings)
    existing = {q.friendly_name for q in api.queues.list()}
    created = []
    for name in names:
        if name not in existing:
            try:
                api.queues.create(friendly_name=name, max_size=MAX_QUEUE_SIZE)
            except TwilioRestException as exc:
                if exc.code != QUEUE_NAME_TAKEN:  # made meanwhile by someone else: what we wanted
                    raise
                continue
            created.append(name)
    return created
