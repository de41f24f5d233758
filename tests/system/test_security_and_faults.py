"""Signatures, hostile input, and Redis failing under the phone line."""

from __future__ import annotations

import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from twilio.request_validator import RequestValidator

from blocklist import keys
from ivr.cli.embedded import EmbeddedRedis, free_port
from ivr.webhooks.signature import TWILIO_ROUTE_ATTR
from tests.support import callflow as cf
from tests.support.constants import AUTH_TOKEN, BASE_URL, LINE
from tests.support.twilio_player import TwilioPlayer, call_sid

TWILIO_PREFIXES = ("/voice/", "/agent/", "/supervisor/")


def test_published_twilio_vector_is_pinned() -> None:
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
              "From": "+12349013030", "To": "+18005551212"}
    validator = RequestValidator("12345")
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert validator.compute_signature(url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert validator.validate(url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")


def twilio_rules(app: Any) -> list[Any]:
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith(TWILIO_PREFIXES)]


def test_every_twilio_route_is_signature_checked(app: Any, client: Any, redis_conn: redis.Redis) -> None:
    rules = twilio_rules(app)
    assert len(rules) >= 12
    sid = call_sid()
    params = {"CallSid": sid, "From": "+14155550123", "To": LINE, "QueueResult": "bridged", "Digits": "9",
              "DequeingCallSid": call_sid(), "CallStatus": "completed"}
    good = RequestValidator(AUTH_TOKEN)
    for rule in rules:
        view = app.view_functions[rule.endpoint]
        assert getattr(view, TWILIO_ROUTE_ATTR, False), f"{rule.rule} lacks @twilio_webhook"
        path = rule.rule.replace("<", "").replace(">", "")
        url = BASE_URL + path
        missing = client.post(path, data=params)
        forged = client.post(path, data=params, headers={"X-Twilio-Signature": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="})
        # a real signature, replayed with one parameter changed
        replayed = client.post(path, data={**params, "From": "+19995550000"},
                               headers={"X-Twilio-Signature": good.compute_signature(url, params)})
        # signed for another host (PUBLIC_BASE_URL is what counts)
        other_host = client.post(path, data=params, headers={
            "X-Twilio-Signature": good.compute_signature("https://evil.example" + path, params)})
        for resp in (missing, forged, replayed, other_host):
            assert resp.status_code == 403, (rule.rule, resp.status_code)
    assert redis_conn.dbsize() == 0


def test_signature_with_wrong_token_is_refused(client: Any) -> None:
    tw = TwilioPlayer(client, "not-our-token", BASE_URL, "AC" + "0" * 32)
    reply = tw.incoming(call_sid(), "+14155550123", LINE)
    assert reply.status == 403


def test_huge_body_is_refused_and_changes_nothing(client: Any, redis_conn: redis.Redis, twilio: Any) -> None:
    params = twilio.incoming_params(call_sid(), "+14155550123", LINE, Junk="x" * 200_000)
    resp = client.post("/voice/incoming", data=params, headers={"X-Twilio-Signature": twilio.sign("/voice/incoming", params)})
    assert resp.status_code == 413
    assert redis_conn.dbsize() == 0


def test_non_utf8_and_odd_parameters_never_500(client: Any, twilio: Any, redis_conn: redis.Redis) -> None:
    body = b"CallSid=" + call_sid().encode() + b"&From=%FF%FE%00&To=%2B18005551212&FromCity=%3Cscript%3E"
    # sign what the form parser will see (werkzeug keeps undecodable escapes as text)
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    environ = EnvironBuilder(method="POST", data=body, content_type="application/x-www-form-urlencoded").get_environ()
    decoded = dict(Request(environ).form)
    resp = client.post("/voice/incoming", data=body, content_type="application/x-www-form-urlencoded",
                       headers={"X-Twilio-Signature": twilio.sign("/voice/incoming", decoded)})
    assert resp.status_code == 200
    assert b"<Enqueue" in resp.data
    sid = decoded["CallSid"]
    stored = redis_conn.hgetall(keys.call(sid))
    assert stored["number"] == "anonymous"  # garbage caller ID is no identity
    assert stored["FromCity"] == "<script>"  # kept as text; every page escapes it


class HungServer:
    """Accepts TCP connections and never answers: a hung Redis."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture
def alarm() -> Iterator[None]:
    """Fail (rather than hang the suite) if a request blocks for long."""

    def boom(*_: Any) -> None:
        raise TimeoutError("request hung: the Redis socket timeout did not fire")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def build(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, redis_url: str) -> tuple[Any, TwilioPlayer]:
    from ivr import create_app
    for name, value in {**app_env, "REDIS_URL": redis_url}.items():
        monkeypatch.setenv(name, value)
    app = create_app()
    return app, TwilioPlayer(app.test_client(), AUTH_TOKEN, BASE_URL, app_env["TWILIO_ACCOUNT_SID"])


def test_redis_down_fails_open(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, alarm: None) -> None:
    app, tw = build(app_env, monkeypatch, f"redis://127.0.0.1:{free_port()}/0")
    caller = cf.place_call(tw, "+14155550123")
    assert caller.reply.first("Enqueue").text == "agents"
    assert app.extensions["ivr"].counters["fail_open"] == 1
    assert app.test_client().get("/readyz").status_code == 503
    # the rest of the caller's path still answers TwiML, never a 500
    assert cf.bridge_ends(tw, cf.agent_connects(tw), None).status == 200
    assert cf.wait_in_queue(tw, caller).status == 200


def test_redis_hung_fails_open_within_the_socket_timeout(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                         alarm: None) -> None:
    hung = HungServer()
    try:
        app, tw = build(app_env, monkeypatch, f"redis://127.0.0.1:{hung.port}/0")
        assert app.config["SETTINGS"].redis_timeout * 2 < 2  # connect + read stay inside Twilio's patience
        reply = cf.place_call(tw, "+14155550123").reply
        assert reply.first("Enqueue").text == "agents"
        assert app.extensions["ivr"].counters["fail_open"] == 1
    finally:
        hung.close()


def eventually(attempt: Any, within: float) -> Any:
    """`attempt()` until it returns something true without raising, for at most `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            result = attempt()
            if result or time.monotonic() > deadline:
                return result
        except (redis.RedisError, OSError):
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def test_service_recovers_by_itself_when_redis_is_back(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                       alarm: None) -> None:
    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="ivr-recover-")))
    app, tw = build(app_env, monkeypatch, server.url)
    assert cf.place_call(tw, "+14155550123").reply.verbs() == ["Enqueue"]  # down: fail open
    assert app.extensions["ivr"].counters["fail_open"] == 1
    server.start()
    back = time.monotonic()
    try:
        # The clients' breakers were opened by the failures: the first tries after Redis is back may still
        # fail fast for the breaker's moment (1 s for the webhooks, 2 s for the desk), never longer.
        eventually(lambda: app.extensions["ivr"].blocklist.block("+14155550123", by="m", reason="test"), 5)
        verbs = eventually(lambda: cf.place_call(tw, "+14155550123").reply.verbs() == ["Reject"], 5)
        assert verbs and time.monotonic() - back < 5  # back: screened again, within 5 s
        assert app.test_client().get("/readyz").status_code == 200
    finally:
        server.stop()


def test_acknowledged_flag_survives_a_redis_restart(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                    alarm: None) -> None:
    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="ivr-aof-"))).start()
    try:
        app, tw = build(app_env, monkeypatch, server.url)
        api_headers = {"Authorization": f"Bearer {app_env['IVR_API_TOKEN']}"}
        caller = cf.place_call(tw, "+14155550123")
        resp = app.test_client().post(f"/api/calls/{caller.sid}/flag", json={"reason": "x"}, headers=api_headers)
        assert resp.status_code == 202
        server.stop()  # SIGTERM: Redis writes its AOF and exits
        server.start()
        r = redis.Redis.from_url(server.url, decode_responses=True)
        assert r.hget(keys.block("*", "+14155550123"), "call_sid") == caller.sid
        assert cf.place_call(tw, "+14155550123").reply.verbs() == ["Reject"]
    finally:
        server.stop()
