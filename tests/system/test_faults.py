"""Faults with real processes: Redis SIGKILLed in the middle of a stream of calls and flags; the web
process restarted under load. Bounded in time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import redis
from lxml import etree
from twilio.request_validator import RequestValidator

from blocklist import keys
from ivr.cli.embedded import EmbeddedRedis, free_port
from tests.support import callflow as cf
from tests.support.constants import AUTH_TOKEN, LINE
from tests.support.twilio_player import TwilioPlayer, call_sid


def test_redis_sigkill_mid_stream_loses_no_acknowledged_write(app_env: dict[str, str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from ivr import create_app
    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="ivr-kill-"))).start()
    for name, value in {**app_env, "REDIS_URL": server.url}.items():
        monkeypatch.setenv(name, value)
    app = create_app()
    client = app.test_client()
    tw = TwilioPlayer(client, AUTH_TOKEN, app_env["PUBLIC_BASE_URL"], app_env["TWILIO_ACCOUNT_SID"])
    headers = {"Authorization": f"Bearer {app_env['IVR_API_TOKEN']}"}
    acked_flags: list[tuple[str, str]] = []
    acked_blocks: list[str] = []
    refused: list[int] = []
    answered = 0
    killed_at = restarted_at = 0
    try:
        for i in range(240):
            if i == 80:
                server.kill()  # SIGKILL: no shutdown, no final AOF rewrite
                killed_at = i
            if i == 140:
                server.start()  # same folder: Redis replays its AOF
                restarted_at = i
            number = f"+1415555{i:04d}"
            caller = cf.place_call(tw, number)
            assert caller.reply.status == 200 and caller.reply.verbs() == ["Enqueue"]  # never refused a call
            answered += 1
            flag = client.post(f"/api/calls/{caller.sid}/flag", json={"reason": "stream"}, headers=headers)
            if flag.status_code == 202:
                acked_flags.append((number, caller.sid))
            else:
                assert flag.status_code in (404, 503), flag.get_data(as_text=True)
                refused.append(flag.status_code)
            block = client.post("/api/blocklist", json={"number": f"+1212555{i:04d}", "reason": "stream",
                                                        "duration": "permanent", "by": "test"}, headers=headers)
            if block.status_code in (200, 201):
                acked_blocks.append(f"+1212555{i:04d}")
            else:
                assert block.status_code == 503, block.get_data(as_text=True)
                assert "Redis" in block.get_json()["detail"]
        assert killed_at and restarted_at and refused  # the outage really happened mid-stream
        assert answered == 240
        # after the restart the service screened again by itself: the last flagged numbers are blocked
        assert cf.place_call(tw, acked_flags[-1][0]).reply.verbs() == ["Reject"]
        server.kill()  # crash again, then recover from the AOF alone
        server.start()
        r = redis.Redis.from_url(server.url, decode_responses=True)
        for number, sid in acked_flags:
            assert r.hget(keys.block("*", number), "call_sid") == sid, number
        for number in acked_blocks:
            assert r.exists(keys.block("*", number)), number
        flags = [f for _id, f in r.xrange(keys.EVENTS) if f.get("type") == "flag"]
        assert {f["call_sid"] for f in flags} >= {sid for _n, sid in acked_flags}
        assert len(acked_flags) >= 150 and len(acked_blocks) >= 150
    finally:
        server.stop()


def _post(url: str, params: dict[str, str], signature: str) -> tuple[int, str]:
    data = urllib.parse.urlencode(params).encode()
    req = urllib.request.Request(url, data=data, headers={"X-Twilio-Signature": signature})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_web_restart_under_load_answers_every_call_once(app_env: dict[str, str], redis_conn: redis.Redis,
                                                        tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, **app_env, "PUBLIC_BASE_URL": base}
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                             "--graceful-timeout", "10", "--pid", str(tmp_path / "pid"), "ivr:create_app()"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    validator = RequestValidator(AUTH_TOKEN)
    results: dict[str, list[tuple[int, str]]] = {}
    errors: list[str] = []
    stop = threading.Event()

    def caller_loop(worker: int) -> None:
        n = 0
        while not stop.is_set():
            sid = call_sid()
            params = {"CallSid": sid, "From": f"+1415556{worker}{n % 1000:03d}", "To": LINE,
                      "AccountSid": app_env["TWILIO_ACCOUNT_SID"]}
            sig = validator.compute_signature(base + "/voice/incoming", params)
            attempts = results.setdefault(sid, [])
            # Twilio retries a webhook that got no answer (same CallSid, same signature); here for up to
            # 15 s, long enough to span the full stop/start below.
            for _try in range(150):
                try:
                    attempts.append(_post(base + "/voice/incoming", params, sig))
                    break
                except OSError as exc:  # refused, reset or timed out while the web tier restarts
                    attempts.append((0, type(exc).__name__))
                    time.sleep(0.1)
            else:
                errors.append(sid)
            n += 1

    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            break
        except OSError:
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
    threads = [threading.Thread(target=caller_loop, args=(w,)) for w in range(4)]
    try:
        for t in threads:
            t.start()
        time.sleep(1.5)
        os.kill(proc.pid, signal.SIGHUP)  # graceful reload: new workers, old ones finish their requests
        time.sleep(2.0)
        pid = int((tmp_path / "pid").read_text())
        os.kill(pid, signal.SIGTERM)  # full stop under load ...
        proc.wait(timeout=20)
        proc = subprocess.Popen(proc.args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)  # ... and start again
        time.sleep(3.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    assert not errors, f"{len(errors)} calls never got an answer"
    answered = {sid: tries for sid, tries in results.items() if tries and tries[-1][0] == 200}
    assert len(answered) == len(results) and len(results) > 50
    retried = [sid for sid, tries in results.items() if len(tries) > 1]
    for tries in answered.values():
        root = etree.fromstring(tries[-1][1].encode())
        assert [c.tag for c in root] == ["Enqueue"]
    # every call, retried or not, is recorded exactly once (idempotent by CallSid)
    per_sid: dict[str, int] = {}
    for _id, f in redis_conn.xrange(keys.EVENTS):
        if f.get("type") == "call":
            per_sid[f["call_sid"]] = per_sid.get(f["call_sid"], 0) + 1
    assert set(per_sid) == set(results)
    assert all(n == 1 for n in per_sid.values())
    assert retried, "the restart caused no retry: the test did not exercise what it claims"
