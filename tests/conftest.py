"""Fixtures: a real Redis server, the app, a Twilio player that signs and follows TwiML, the REST stand-in,
and a real RQ worker."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from ivr.cli.embedded import EmbeddedRedis
from ivr.simulate.standin import StandIn, StandInServer
from tests.support.constants import ACCOUNT_SID, AGENT, AGENT2, API_TOKEN, AUTH_TOKEN, BASE_URL, LINE
from tests.support.twilio_player import TwilioPlayer

# No test reads a settings file a developer's `ivr simulate --setup` left in var/ (the tests that test the
# file set IVR_SETTINGS_FILE themselves); subprocesses inherit this.
os.environ["IVR_SETTINGS_FILE"] = ""


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """One real redis-server (the embedded 6.2 binary) for the whole run."""
    url = os.environ.get("IVR_TEST_REDIS_URL")
    if url:  # run against an external server, e.g. Redis 7 from compose
        class External:  # minimal stand-in with the same attribute the tests use
            def __init__(self, u: str) -> None:
                self.url = u
        yield External(url)  # type: ignore[misc]
        return
    folder = tempfile.mkdtemp(prefix="ivr-test-redis-")
    server = EmbeddedRedis(Path(folder)).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> str:
    return redis_server.url.rsplit("/", 1)[0] + "/1"


@pytest.fixture
def redis_conn(redis_url: str) -> Iterator[redis.Redis]:
    """A decoded client on a freshly flushed database."""
    conn = redis.Redis.from_url(redis_url, decode_responses=True)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


@pytest.fixture
def standin() -> Iterator[StandInServer]:
    """The Twilio REST stand-in on loopback, with the app's credentials and line (callbacks go From it);
    the Twilio player does not report its calls, so a call the stand-in never heard of is taken as live."""
    server = StandInServer(StandIn(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, numbers=(LINE,),
                                   adopt_unknown_calls=True)).start()
    yield server
    server.stop()


@pytest.fixture
def app_env(redis_url: str, standin: StandInServer, tmp_path: Path) -> dict[str, str]:
    """The environment the app and the workers read (tests add to it before `app` is built)."""
    return {
        "REDIS_URL": redis_url,
        "IVR_DATA_DIR": str(tmp_path / "data"),  # managers' recordings, the desk's key: never the checkout's
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PUBLIC_BASE_URL": BASE_URL,
        "TWILIO_API_BASE_URL": standin.url,
        "IVR_API_TOKEN": API_TOKEN,
        "IVR_AGENTS": f"{AGENT},{AGENT2}",
        "IVR_REDIRECT_BACKOFF": "0,0,0,0,0",
        "IVR_BREATHER_SECONDS": "3",
        # the wellbeing break (blocklist/exposure.py) is off here: tests flag many calls with one agent; the
        # tests of the break turn it on with their own limits
        "IVR_EXPOSURE_SHIFT_LIMIT": "0",
        "IVR_EXPOSURE_WEEK_LIMIT": "0",
        "IVR_LOG_NUMBERS": "masked",
    }


@pytest.fixture
def app(app_env: dict[str, str], redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in app_env.items():
        monkeypatch.setenv(name, value)
    from ivr import create_app
    from workers import context

    context.reset()
    application = create_app()
    application.config["TESTING"] = True
    yield application
    context.reset()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def twilio(client: Any) -> TwilioPlayer:
    """Plays Twilio: signed posts, TwiML parsed, URLs followed."""
    return TwilioPlayer(client, AUTH_TOKEN, BASE_URL, ACCOUNT_SID)


@pytest.fixture
def api(client: Any) -> Any:
    """JSON API calls with the service bearer token."""

    class Api:
        headers = {"Authorization": f"Bearer {API_TOKEN}"}

        def get(self, path: str, **kw: Any) -> Any:
            return client.get(path, headers=self.headers, **kw)

        def post(self, path: str, json: Any = None, **kw: Any) -> Any:
            return client.post(path, headers=self.headers, json=json if json is not None else {}, **kw)

        def delete(self, path: str, json: Any = None, **kw: Any) -> Any:
            return client.delete(path, headers=self.headers, json=json, **kw)

    return Api()


@pytest.fixture
def rq_conn(redis_url: str, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    """RQ's (bytes) client on the test database; jobs read REDIS_URL and IVR_TIMEZONE like the deployed workers."""
    from workers import context

    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("IVR_TIMEZONE", "UTC")
    context.reset()
    conn = redis.Redis.from_url(redis_url)
    yield conn
    context.reset()
    conn.close()


@pytest.fixture
def run_jobs(app: Any) -> Any:
    """Run every queued RQ job with a real SimpleWorker in burst mode; returns the worker."""
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from workers.queues import ALL_QUEUES

    rq_conn = app.extensions["ivr"].rq_connection

    def run(queues: tuple[str, ...] = ALL_QUEUES) -> SimpleWorker:
        worker = SimpleWorker(list(queues), connection=rq_conn, serializer=JSONSerializer)
        worker.work(burst=True, with_scheduler=False)
        return worker

    return run
