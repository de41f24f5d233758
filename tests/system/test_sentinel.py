"""Redis Sentinel: a real primary, replica and three Sentinels (the embedded redis-server binary).
Flags wait for the replica (WAIT); the primary dies mid-stream; calls keep being answered, and once
Sentinel has promoted the replica the service screens against it without a restart."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Worker

from blocklist import keys
from blocklist.settings import Settings
from blocklist.store import connect, sentinel_url
from ivr.cli.embedded import EmbeddedRedis, free_port, redis_server_binary
from ivr.simulate.standin import StandIn, StandInServer
from tests.support import callflow as cf
from tests.support.constants import ACCOUNT_SID, AUTH_TOKEN, BASE_URL, LINE
from tests.support.serve import running, service_env, wait_for
from tests.support.twilio_player import TwilioPlayer, call_sid
from workers.calls import enqueue_redirect

SERVICE = "ivrprimary"


class Cluster:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.primary = EmbeddedRedis(folder / "primary").start()
        self.replica = EmbeddedRedis(folder / "replica",
                                     extra=["--replicaof", "127.0.0.1", str(self.primary.port)]).start()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen[bytes]] = []
        for i, port in enumerate(self.sentinel_ports):
            conf = folder / f"sentinel{i}.conf"
            conf.write_text("\n".join([
                f"port {port}", "bind 127.0.0.1", f"dir {folder}",
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary.port} 2",
                f"sentinel down-after-milliseconds {SERVICE} 1000",
                f"sentinel failover-timeout {SERVICE} 4000",
                f"sentinel parallel-syncs {SERVICE} 1", "",
            ]))
            self.sentinels.append(subprocess.Popen([redis_server_binary(), str(conf), "--sentinel"],
                                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        replica = redis.Redis(port=self.replica.port)
        deadline = time.monotonic() + 20
        while replica.info("replication").get("master_link_status") != "up":
            assert time.monotonic() < deadline, "replica did not sync"
            time.sleep(0.1)
        for port in self.sentinel_ports:
            s = redis.Redis(port=port, socket_timeout=1)
            while True:
                try:
                    if s.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE):
                        break
                except redis.ConnectionError:
                    pass
                assert time.monotonic() < deadline, "sentinel did not start"
                time.sleep(0.1)

    @property
    def sentinels_setting(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)

    def master_port(self) -> int:
        s = redis.Redis(port=self.sentinel_ports[0], socket_timeout=1)
        _host, port = s.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        return int(port)

    def stop(self) -> None:
        for proc in self.sentinels:
            proc.kill()
            proc.wait()
        self.primary.kill()
        self.replica.kill()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster(Path(tempfile.mkdtemp(prefix="ivr-sentinel-")))
    yield c
    c.stop()


def test_flags_wait_for_the_replica_and_calls_survive_a_failover(cluster: Cluster, app_env: dict[str, str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from ivr import create_app
    env = {**app_env, "REDIS_SENTINELS": cluster.sentinels_setting, "REDIS_SENTINEL_SERVICE": SERVICE}
    env.pop("REDIS_URL")
    monkeypatch.delenv("REDIS_URL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = create_app()
    assert app.config["SETTINGS"].wait_replicas == 1
    tw = TwilioPlayer(app.test_client(), AUTH_TOKEN, BASE_URL, env["TWILIO_ACCOUNT_SID"])
    headers = {"Authorization": f"Bearer {env['IVR_API_TOKEN']}"}
    harasser = "+14155550123"

    caller = cf.place_call(tw, harasser)
    assert caller.reply.verbs() == ["Enqueue"]
    flagged = app.test_client().post(f"/api/calls/{caller.sid}/flag", json={"reason": "x"}, headers=headers)
    assert flagged.status_code == 202
    assert app.extensions["ivr"].blocklist.last_acknowledged == 1  # WAIT saw the replica take it
    replica = redis.Redis(port=cluster.replica.port, decode_responses=True)
    assert replica.hget(keys.block("*", harasser), "call_sid") == caller.sid

    old_port = cluster.master_port()
    cluster.primary.kill()  # SIGKILL mid-stream
    answered: list[list[str]] = []
    deadline = time.monotonic() + 45
    while cluster_master(cluster) == old_port:
        assert time.monotonic() < deadline, "Sentinel did not fail over"
        reply = cf.place_call(tw, "+14155550177")  # calls keep being answered (fail-open while no primary)
        assert reply.reply.status == 200 and reply.reply.verbs() in (["Enqueue"],)
        answered.append(reply.reply.verbs())
        time.sleep(0.2)
    assert answered, "no call was placed during the failover"
    assert cluster.master_port() == cluster.replica.port
    # the promoted replica has the flag; the same app (no restart) screens against it
    def rejected() -> bool:
        return cf.place_call(tw, harasser).reply.verbs() == ["Reject"]

    deadline = time.monotonic() + 20
    while not rejected():
        assert time.monotonic() < deadline, "the service did not reconnect to the new primary"
        time.sleep(0.3)
    assert app.extensions["ivr"].counters.get("fail_open", 0) >= 1  # the dead primary was failed open, not a 500


def cluster_master(cluster: Cluster) -> Any:
    try:
        return cluster.master_port()
    except redis.RedisError:
        return None


def test_worker_and_its_scheduler_follow_a_failover(cluster: Cluster, tmp_path: Path) -> None:
    """`ivr worker` with Sentinels: the primary is SIGKILLed; after the failover a redirect enqueued on the
    new primary runs, and its retry (a scheduled job) is moved by the worker's scheduler."""
    standin = StandInServer(StandIn(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, numbers=(LINE,)), quiet=True).start()
    try:
        env = service_env(tmp_path / "data", free_port(), standin.url, REDIS_SENTINELS=cluster.sentinels_setting,
                          REDIS_SENTINEL_SERVICE=SERVICE)
        url = sentinel_url(cluster.sentinels_setting, SERVICE)
        with running([sys.executable, "-m", "ivr.cli", "worker"], env, tmp_path / "worker.log") as worker:
            rq_conn = connect(url, socket_timeout=5, decode=False)
            wait_for(lambda: Worker.all(connection=rq_conn), 30, "the worker registering")
            old_port = cluster.master_port()
            cluster.primary.kill()
            wait_for(lambda: cluster_master(cluster) not in (old_port, None), 45, "Sentinel failing over")
            sid = call_sid()
            standin.state.set_call(sid, status="in-progress")
            standin.state.fail(f"/Calls/{sid}.json", times=1, status=503)  # first try fails: a scheduled retry
            store = connect(url, socket_timeout=5)
            wait_for(lambda: store.hset(keys.call(sid), mapping={"number": "+14155550123"}) is not None, 20,
                     "a write on the new primary")
            wait_for(lambda: enqueue_redirect(connect(url, socket_timeout=5, decode=False),
                                              Settings.from_env(environ=env), sid,
                                              env["PUBLIC_BASE_URL"] + "/voice/isolation"), 20, "enqueueing")
            try:
                wait_for(lambda: len(standin.state.matching("POST", f"/Calls/{sid}.json")) >= 2, 60,
                         "the redirect and its scheduled retry running after the failover")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\nthe worker's log:\n{worker.log()[-4000:]}") from None
            wait_for(lambda: store.hget(keys.call(sid), "redirect") == "done", 20, "the redirect done")
            assert worker.alive(), worker.log()[-3000:]
    finally:
        standin.stop()
