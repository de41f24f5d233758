"""Requests as Twilio makes them: signed webhooks, the JSON API as the desk calls it, media lengths."""

from __future__ import annotations

import asyncio
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter
from twilio.request_validator import RequestValidator

from ivr.simulate.config import SimConfig

# The desk's pages retry a busy answer by themselves; the simulated desk does too. The pause is real time,
# short: the service's Retry-After (2 s) would be hours of a compressed simulated day.
BUSY_RETRIES = 3
BUSY_PAUSE_SECONDS = 0.2


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes
    error: str = ""
    seconds: float = 0.0


class Http:
    """Signed webhooks, API calls and media fetches to the target, on a bounded thread pool."""

    def __init__(self, cfg: SimConfig) -> None:
        self.public = cfg.public_base_url.rstrip("/")
        self.target = cfg.target.rstrip("/")
        self.validator = RequestValidator(cfg.auth_token)
        self.api_token = cfg.api_token
        self.timeout = cfg.request_timeout
        self.pool = ThreadPoolExecutor(max_workers=cfg.concurrency, thread_name_prefix="ivr-simulate")
        self.local = threading.local()
        self.pool_size = cfg.concurrency
        # Simulated wall clock (ms since the epoch), sent as X-Ivr-Sim-Time; the service honours it
        # only with IVR_SIMULATION_CLOCK=1, so the reports show the simulated day's hours.
        self.clock_ms: Any = None
        self.busy_retries = 0  # busy (503) answers to API calls that were tried again

    def sim_headers(self, headers: dict[str, str]) -> dict[str, str]:
        if self.clock_ms is not None:
            headers["X-Ivr-Sim-Time"] = str(int(self.clock_ms()))
        return headers

    def public_url(self, path: str) -> str:
        return self.public + path

    def under_public(self, url: str) -> bool:
        return url == self.public or url.startswith((self.public + "/", self.public + "?"))

    def to_target(self, url: str) -> str:
        """The URL Twilio would call (under PUBLIC_BASE_URL) rewritten to where the service listens."""
        if not self.under_public(url):
            raise ValueError(f"{url} is not under PUBLIC_BASE_URL {self.public}: the simulator cannot reach it")
        return self.target + url[len(self.public):]

    def session(self) -> requests.Session:
        found: requests.Session | None = getattr(self.local, "session", None)
        if found is None:
            found = requests.Session()
            adapter = HTTPAdapter(pool_connections=2, pool_maxsize=2, max_retries=0)
            found.mount("http://", adapter)
            found.mount("https://", adapter)
            self.local.session = found
        return found

    async def webhook(self, url: str, method: str, params: dict[str, str]) -> Answer:
        return await asyncio.get_running_loop().run_in_executor(self.pool, self._webhook, url, method, params)

    async def api(self, path: str, body: dict[str, Any]) -> Answer:
        return await asyncio.get_running_loop().run_in_executor(self.pool, self._api, path, body)

    async def media(self, url: str) -> Answer:
        return await asyncio.get_running_loop().run_in_executor(self.pool, self._media, url)

    def _webhook(self, url: str, method: str, params: dict[str, str]) -> Answer:
        try:
            dest = self.to_target(url)
        except ValueError as exc:
            return Answer(0, "", b"", str(exc))
        headers = self.sim_headers({"User-Agent": "TwilioProxy/1.1 (ivr simulate)"})
        started = time.perf_counter()
        try:
            if method == "GET":
                # Twilio appends the parameters to the URL and signs the result with no body parameters.
                query = urlencode(params)
                sep = "&" if "?" in url else "?"
                headers["X-Twilio-Signature"] = str(self.validator.compute_signature(url + sep + query, {}))
                resp = self.session().get(dest + sep + query, headers=headers, timeout=self.timeout)
            else:
                headers["X-Twilio-Signature"] = str(self.validator.compute_signature(url, params))
                resp = self.session().post(dest, data=params, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            return Answer(0, "", b"", _transport_error(exc, self.target))
        return Answer(resp.status_code, resp.headers.get("Content-Type", ""), resp.content,
                      seconds=time.perf_counter() - started)

    def _api(self, path: str, body: dict[str, Any]) -> Answer:
        """One API call as the desk makes it: a busy answer (503 with Retry-After: the service changed nothing
        and asks to come back) is tried again, at most BUSY_RETRIES times, after a short real-time pause."""
        for attempt in range(BUSY_RETRIES + 1):
            try:
                resp = self.session().post(self.target + path, json=body, timeout=self.timeout,
                                           headers=self.sim_headers({"Authorization": f"Bearer {self.api_token}"}))
            except requests.RequestException as exc:
                return Answer(0, "", b"", _transport_error(exc, self.target))
            if resp.status_code != 503 or "Retry-After" not in resp.headers or attempt == BUSY_RETRIES:
                break
            self.busy_retries += 1
            time.sleep(BUSY_PAUSE_SECONDS * (attempt + 1))
        return Answer(resp.status_code, resp.headers.get("Content-Type", ""), resp.content)

    def _media(self, url: str) -> Answer:
        try:
            resp = self.session().get(self.to_target(url), timeout=self.timeout)
        except (requests.RequestException, ValueError) as exc:
            return Answer(0, "", b"", _transport_error(exc, self.target) if isinstance(exc, requests.RequestException)
                          else str(exc))
        return Answer(resp.status_code, resp.headers.get("Content-Type", ""), resp.content)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _transport_error(exc: BaseException, target: str) -> str:
    if isinstance(exc, requests.Timeout):
        return "no answer within 15 s (Twilio gives up there and tries the fallback URL)"
    if isinstance(exc, requests.ConnectionError):
        return f"cannot connect to {target} (is the service running? `ivr serve`)"
    return f"{type(exc).__name__}: {str(exc)[:120]}"


def wav_seconds(body: bytes) -> float | None:
    """Length of a RIFF/WAVE recording from its header; None when it is not one."""
    if len(body) < 12 or body[:4] != b"RIFF" or body[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, 0
    while pos + 8 <= len(body):
        chunk, size = body[pos:pos + 4], struct.unpack("<I", body[pos + 4:pos + 8])[0]
        if chunk == b"fmt " and size >= 12:
            byte_rate = struct.unpack("<I", body[pos + 16:pos + 20])[0]
        elif chunk == b"data":
            return size / byte_rate if byte_rate else None
        pos += 8 + size + (size & 1)
    return None
