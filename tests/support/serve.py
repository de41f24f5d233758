"""The real service as an operator runs it (`ivr serve`, `ivr worker`), and Twilio's side over HTTP:
signed webhooks with their answer times, TwiML checked as Twilio would parse it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from twilio.request_validator import RequestValidator

from tests.support.constants import ACCOUNT_SID, AUTH_TOKEN, LINE
from tests.support.twilio_player import call_sid

SERVICE_TOKEN = "outage-test-service-token-" + "7f3a9c" * 4
TWIML_VERBS = {"Enqueue", "Reject", "Hangup", "Play", "Say", "Pause", "Gather", "Redirect", "Leave", "Dial"}


def ivr_command() -> str:
    ivr = shutil.which("ivr", path=os.path.dirname(sys.executable)) or shutil.which("ivr")
    if ivr is None:
        raise AssertionError("the `ivr` console script is not installed: run `pip install -e .` (./dev does)")
    return ivr


def clean_env(**settings: str) -> dict[str, str]:
    """The process environment without any of the service's settings, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "IVR_", "TWILIO_", "PUBLIC_"))}
    env.update(settings)
    return env


def service_env(data_dir: Path, port: int, standin_url: str, redis_url: str = "", **more: str) -> dict[str, str]:
    env = clean_env(
        IVR_DATA_DIR=str(data_dir), IVR_PORT=str(port), IVR_WEB_WORKERS="2", PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_API_BASE_URL=standin_url,
        IVR_API_TOKEN=SERVICE_TOKEN, IVR_AGENTS="+15550001111", IVR_REDIRECT_BACKOFF="1,1,1,1,1", **more)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as exc:  # not there yet
            last = exc
        time.sleep(every)
    raise AssertionError(f"{what} did not happen within {timeout}s (last: {last!r})")


@dataclass
class Answer:
    sid: str
    status: int  # 0: no HTTP answer at all
    seconds: float
    verbs: list[str]
    text: str

    @property
    def valid(self) -> bool:
        """A 200 with TwiML Twilio can run: a Response of known verbs."""
        return self.status == 200 and bool(self.verbs) and set(self.verbs) <= TWIML_VERBS


@dataclass
class Service:
    """A running `ivr serve` (or one of its parts) with its output in a file."""

    proc: subprocess.Popen[bytes]
    base: str
    log_path: Path
    validator: RequestValidator = field(default_factory=lambda: RequestValidator(AUTH_TOKEN))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def post_signed(self, path: str, params: dict[str, str], timeout: float = 20) -> Answer:
        url = self.base + path
        data = urllib.parse.urlencode(params).encode()
        req = urllib.request.Request(url, data=data, headers={
            "X-Twilio-Signature": self.validator.compute_signature(url, params)})
        started = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode(errors="replace")
        except OSError as exc:
            status, text = 0, type(exc).__name__
        seconds = time.monotonic() - started
        verbs: list[str] = []
        if status == 200:
            try:
                root = etree.fromstring(text.encode())
                verbs = [child.tag for child in root] if root.tag == "Response" else []
            except etree.XMLSyntaxError:
                verbs = []
        return Answer(params.get("CallSid", ""), status, seconds, verbs, text)

    def call(self, from_: str, to: str = LINE, sid: str | None = None) -> Answer:
        """An incoming call's first webhook, with Twilio's parameter set."""
        sid = sid or call_sid()
        return self.post_signed("/voice/incoming", {
            "CallSid": sid, "AccountSid": ACCOUNT_SID, "From": from_, "To": to, "Caller": from_, "Called": to,
            "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01", "FromCountry": "US"})

    def api(self, method: str, path: str, body: bytes | None = None, token: str = SERVICE_TOKEN,
            timeout: float = 20) -> tuple[int, str]:
        req = urllib.request.Request(self.base + path, data=body, method=method, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(f"{self.proc.args[1:]} did not stop within {timeout}s:\n{self.log()[-3000:]}") from None


@contextmanager
def running(argv: list[str], env: dict[str, str], log_path: Path, base: str = "",
            ready: str = "/readyz", timeout: float = 60) -> Iterator[Service]:
    """Start `argv` in its own session, wait until `base + ready` answers 200 (if a base is given)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out = log_path.open("wb")
    proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    service = Service(proc, base, log_path)
    try:
        if base:
            wait_for(lambda: urllib.request.urlopen(base + ready, timeout=2).status == 200 or not service.alive(),
                     timeout, f"{argv[1:]} answering {ready}")
            assert service.alive(), service.log()[-3000:]
        yield service
    finally:
        try:
            if service.alive():
                service.stop()
        finally:
            out.close()


class CallStream:
    """Signed incoming calls at a steady pace in a thread, each answer timed (Twilio waits 15 s at most)."""

    def __init__(self, service: Service, every: float = 0.5, number: Callable[[int], str] | None = None) -> None:
        self.service = service
        self.every = every
        self.number = number or (lambda i: f"+1415557{i % 10000:04d}")
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i = 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.answers.append(self.service.call(self.number(i)))
            i += 1
            next_at += self.every
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> CallStream:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def summary(self) -> dict[str, Any]:
        slowest = max((a.seconds for a in self.answers), default=0.0)
        valid = [a for a in self.answers if a.valid]
        return {"tried": len(self.answers), "answered": len(valid), "slowest_s": round(slowest, 3),
                "over_2_5_s": sum(1 for a in self.answers if a.seconds >= 2.5)}
