"""The line never goes dead: the real `ivr serve` (and `ivr worker`) through Redis outages, stalls,
restarts, a killed redis-server and a killed worker, with signed calls arriving all the while.

Each test prints its figures (calls tried, answered, slowest answer): `pytest -s tests/system/test_outage.py`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from blocklist import keys
from ivr.cli.embedded import EmbeddedRedis, free_port
from ivr.simulate.standin import StandIn, StandInServer
from tests.support.constants import ACCOUNT_SID, AUTH_TOKEN, LINE
from tests.support.serve import CallStream, ivr_command, running, service_env, wait_for
from tests.support.twilio_player import call_sid

pytestmark = pytest.mark.slow
OUTAGE_S = 30


@pytest.fixture
def standin() -> Iterator[StandInServer]:
    server = StandInServer(StandIn(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, numbers=(LINE,)), quiet=True).start()
    yield server
    server.stop()


@pytest.fixture
def external_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis the service does not own (REDIS_URL), which the test stops and starts."""
    server = EmbeddedRedis(tmp_path / "external-redis").start()
    yield server
    server.stop()


def figures(name: str, stream: CallStream, **more: Any) -> dict[str, Any]:
    summary = {**stream.summary(), **more}
    print(f"\n{name}: {json.dumps(summary)}")
    return summary


def assert_line_held(stream: CallStream) -> None:
    assert stream.answers, "no call was placed"
    bad = [a for a in stream.answers if not a.valid]
    assert not bad, f"{len(bad)} of {len(stream.answers)} calls got no valid TwiML, e.g. {bad[0]}"
    slow = [a for a in stream.answers if a.seconds >= 2.5]
    assert not slow, f"{len(slow)} calls answered after 2.5 s (slowest {max(a.seconds for a in slow):.2f} s)"


def test_serve_answers_every_call_while_external_redis_is_stopped(tmp_path: Path, standin: StandInServer,
                                                                  external_redis: EmbeddedRedis) -> None:
    port = free_port()
    env = service_env(tmp_path / "data", port, standin.url, redis_url=external_redis.url)
    with running([ivr_command(), "serve"], env, tmp_path / "serve.log", base=f"http://127.0.0.1:{port}") as svc:
        conn = redis.Redis.from_url(external_redis.url, decode_responses=True)
        wait_for(lambda: standin.state.queue_by_name("agents"), 30, "the standing queues created at start")
        with CallStream(svc) as stream:
            time.sleep(1)
            external_redis.stop()  # SIGTERM: Redis is gone for OUTAGE_S
            stopped = time.monotonic()
            time.sleep(OUTAGE_S)
            external_redis.start()
            back = time.monotonic()
            time.sleep(1)
        outage_calls = [a for a in stream.answers if a.verbs == ["Enqueue"]]
        assert svc.alive(), "ivr serve stopped during the outage:\n" + svc.log()[-3000:]
        assert_line_held(stream)
        assert len(stream.answers) >= OUTAGE_S * 2 - 2 and len(outage_calls) == len(stream.answers)

        # Screening resumes by itself: a block made now stops that number's next call within 5 s.
        status, body = svc.api("POST", "/api/blocklist", json.dumps({"number": "+14155550101", "reason": "after outage",
                                                                      "duration": "permanent"}).encode())
        assert status == 201, body
        rejected = wait_for(lambda: svc.call("+14155550101").verbs == ["Reject"], 5, "screening again")
        resumed_s = time.monotonic() - back
        assert rejected and resumed_s < 5 + 1, resumed_s  # 1 s of it is this test's own pause above

        # The worker is back too: a desk flag's REST redirect reaches Twilio (the stand-in).
        caller = svc.call("+14155550102")
        assert caller.verbs == ["Enqueue"]
        standin.state.set_call(caller.sid, status="in-progress")
        status, body = svc.api("POST", f"/api/calls/{caller.sid}/flag", json.dumps({"reason": "test"}).encode())
        assert status == 202, body
        redirect = wait_for(lambda: standin.state.matching("POST", f"/Calls/{caller.sid}.json"), 30,
                            "the isolation redirect reaching the stand-in")
        assert "/voice/isolation" in redirect[0].form["Url"]
        assert conn.hget(keys.call(caller.sid), "redirect") in ("done", "in_progress")
        log = svc.log()
    assert "keeps exiting" not in log and "stopping" not in log.split("Stop with Ctrl-C.", 1)[-1].lower()
    # once per process (2 web workers, the worker, its scheduler, the cron), not once per call or second
    assert log.count("Redis unreachable") <= 5, [line for line in log.splitlines() if "Redis" in line]
    figures("external Redis stopped", stream, outage_s=OUTAGE_S, stopped_for_s=round(back - stopped, 1),
            screening_again_after_s=round(resumed_s, 2))


def test_serve_restarts_its_embedded_redis_and_screens_again(tmp_path: Path, standin: StandInServer) -> None:
    port = free_port()
    env = service_env(tmp_path / "data", port, standin.url)
    with running([ivr_command(), "serve"], env, tmp_path / "serve.log", base=f"http://127.0.0.1:{port}") as svc:
        url = (tmp_path / "data" / "redis" / "redis.url").read_text().strip()
        conn = redis.Redis.from_url(url, decode_responses=True)
        status, body = svc.api("POST", "/api/blocklist", json.dumps({"number": "+14155550111", "reason": "before the crash",
                                                                      "duration": "permanent"}).encode())
        assert status == 201, body  # acknowledged: in the AOF
        assert svc.call("+14155550111").verbs == ["Reject"]
        old_pid = int(conn.info("server")["process_id"])
        with CallStream(svc) as stream:
            time.sleep(1)
            os.kill(old_pid, signal.SIGKILL)
            killed = time.monotonic()
            rejected = wait_for(lambda: svc.call("+14155550111").verbs == ["Reject"], 30,
                                "the block screened again after the embedded Redis was killed", every=0.5)
            recovered_s = time.monotonic() - killed
            time.sleep(2)
        assert rejected
        assert svc.alive(), svc.log()[-3000:]
        assert_line_held(stream)
        new_pid = int(conn.info("server")["process_id"])
        assert new_pid != old_pid  # the same port and data folder, a new redis-server
        assert "redis exited with code -9; starting it again" in svc.log()

        # The worker lived through it: a desk flag's REST redirect reaches Twilio (the stand-in).
        caller = svc.call("+14155550112")
        standin.state.set_call(caller.sid, status="in-progress")
        status, body = svc.api("POST", f"/api/calls/{caller.sid}/flag", json.dumps({"reason": "test"}).encode())
        assert status == 202, body
        assert wait_for(lambda: standin.state.matching("POST", f"/Calls/{caller.sid}.json"), 30,
                        "the isolation redirect reaching the stand-in after the restart")
    figures("embedded Redis SIGKILLed", stream, block_screened_again_after_s=round(recovered_s, 2))


def desk_login(base: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    page = session.get(base + "/desk/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    resp = session.post(base + "/desk/login", data={"username": username, "password": password,
                                                    "csrf_token": token.group(1)}, timeout=10,
                        allow_redirects=False)
    assert resp.status_code in (302, 303), resp.text[:500]
    return session


def test_webhooks_never_wait_behind_the_desk_while_redis_stalls(tmp_path: Path, standin: StandInServer,
                                                                 external_redis: EmbeddedRedis) -> None:
    from ivr.accounts import Users
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = service_env(tmp_path / "data", port, standin.url, redis_url=external_redis.url)
    conn = redis.Redis.from_url(external_redis.url, decode_responses=True)
    users = Users(conn)
    for i in range(16):
        users.create(f"agent{i:02d}", "correct horse battery", "agent", identities=f"client:agent{i:02d}", by="test")
    with running([ivr_command(), "serve"], env, tmp_path / "serve.log", base=base) as svc:
        sessions = [desk_login(base, f"agent{i:02d}", "correct horse battery") for i in range(16)]
        stop = threading.Event()
        polls: list[int] = []

        def poll(session: requests.Session) -> None:  # the agent's page asks for its live panel every 2 s
            while not stop.is_set():
                try:
                    polls.append(session.get(base + "/desk/call/panel", timeout=30).status_code)
                except requests.RequestException:
                    polls.append(0)
                stop.wait(2)

        pollers = [threading.Thread(target=poll, args=(s,), daemon=True) for s in sessions]
        for t in pollers:
            t.start()
        try:
            with CallStream(svc) as stream:
                time.sleep(2)
                conn.execute_command("CLIENT", "PAUSE", OUTAGE_S * 1000, "ALL")  # Redis stalls: accepts, never answers
                time.sleep(OUTAGE_S + 1)
        finally:
            stop.set()
            for t in pollers:
                t.join(timeout=40)
        assert svc.alive(), svc.log()[-3000:]
        assert_line_held(stream)
        assert 200 in polls and 503 in polls  # the desk was polled, and was told to come back while Redis stalled
    figures("Redis stalled, 16 desk pages polling", stream, desk_polls=len(polls),
            desk_busy_503=polls.count(503))


@pytest.fixture
def worker_env(tmp_path: Path, standin: StandInServer, external_redis: EmbeddedRedis) -> dict[str, str]:
    return service_env(tmp_path / "data", free_port(), standin.url, redis_url=external_redis.url)


def enqueue_redirect(redis_url: str, env: dict[str, str], sid: str) -> str:
    from blocklist.settings import Settings
    from workers.calls import enqueue_redirect as enqueue

    rq_conn = redis.Redis.from_url(redis_url)
    conn = redis.Redis.from_url(redis_url, decode_responses=True)
    conn.hset(keys.call(sid), mapping={"number": "+14155550123", "line": "+18005551212"})
    return enqueue(rq_conn, Settings.from_env(environ=env), sid, env["PUBLIC_BASE_URL"] + "/voice/isolation")


def worker_count(redis_url: str) -> int:
    from rq import Worker

    return len(Worker.all(connection=redis.Redis.from_url(redis_url)))


def test_worker_goes_on_taking_jobs_after_redis_restarts_under_it(tmp_path: Path, standin: StandInServer,
                                                                  external_redis: EmbeddedRedis,
                                                                  worker_env: dict[str, str]) -> None:
    argv = [sys.executable, "-m", "ivr.cli", "worker"]
    with running(argv, worker_env, tmp_path / "worker.log") as worker:
        wait_for(lambda: worker_count(external_redis.url) >= 1, 30, "the worker registering")
        external_redis.stop()
        time.sleep(5)
        external_redis.start()
        sid = call_sid()
        standin.state.set_call(sid, status="in-progress")
        enqueue_redirect(external_redis.url, worker_env, sid)
        wait_for(lambda: standin.state.matching("POST", f"/Calls/{sid}.json"), 30,
                 "a job enqueued after the restart running")
        assert worker.alive(), worker.log()[-3000:]
        log = worker.log()
    assert "quitting" not in log, log[-3000:]
    assert log.count("Redis unreachable") <= 2 and "Redis reachable again" in log


def kill_tree(pid: int) -> None:
    """SIGKILL `pid` and every descendant (rq's work horse runs in a process group of its own)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    doomed, todo = [], [pid]
    while todo:
        current = todo.pop()
        doomed.append(current)
        todo.extend(children.get(current, []))
    for victim in doomed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


def test_a_redirect_whose_worker_died_is_retried_within_30_s(tmp_path: Path, standin: StandInServer,
                                                            external_redis: EmbeddedRedis,
                                                            worker_env: dict[str, str]) -> None:
    sid = call_sid()
    standin.state.set_call(sid, status="in-progress")
    # Twilio hangs on the first redirect: the worker is killed while it waits.
    standin.state.fail(f"/Calls/{sid}.json", times=1, status=500, delay=60)
    argv = [sys.executable, "-m", "ivr.cli", "worker"]
    first = subprocess.Popen(argv, env=worker_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        wait_for(lambda: worker_count(external_redis.url) >= 1, 30, "the first worker registering")
        enqueue_redirect(external_redis.url, worker_env, sid)
        wait_for(lambda: standin.state.matching("POST", f"/Calls/{sid}.json"), 30, "the redirect starting")
        kill_tree(first.pid)  # the worker, its work horse and its scheduler die mid-job (an OOM kill, a host)
        killed = time.monotonic()
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    with running(argv, worker_env, tmp_path / "worker2.log") as second:
        wait_for(lambda: len(standin.state.matching("POST", f"/Calls/{sid}.json")) >= 2, 30,
                 "the abandoned redirect being retried")
        retried_s = time.monotonic() - killed
        assert second.alive()
        conn = redis.Redis.from_url(external_redis.url, decode_responses=True)
        wait_for(lambda: conn.hget(keys.call(sid), "redirect") == "done", 10, "the retried redirect completing")
    print(f"\nkilled worker: redirect retried {retried_s:.1f} s after the kill")
    assert retried_s < 30
