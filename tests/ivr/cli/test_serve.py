"""`ivr serve` as a newcomer runs it: embedded Redis with AOF, gunicorn, one worker, one cron; then a
clean stop."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import redis

from ivr.cli.embedded import free_port
from tests.support.serve import wait_for


def test_serve_starts_everything_and_stops_cleanly(tmp_path: Path) -> None:
    ivr = shutil.which("ivr", path=os.path.dirname(sys.executable)) or shutil.which("ivr")
    if ivr is None:
        pytest.fail("the `ivr` console script is not installed: run `pip install -e .` (./dev does)")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "IVR_", "TWILIO_", "PUBLIC_"))}
    env.update({"IVR_DATA_DIR": str(tmp_path / "data"), "IVR_PORT": str(port), "IVR_WEB_WORKERS": "1",
                "TWILIO_AUTH_TOKEN": "serve-test-token", "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"})
    proc = subprocess.Popen([ivr, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        url_file = tmp_path / "data" / "redis" / "redis.url"
        redis_url = wait_for(lambda: url_file.exists() and url_file.read_text().strip(), 30, "embedded Redis")
        ready = wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2).status == 200,
                         60, "the web process answering /readyz")
        assert ready
        conn = redis.Redis.from_url(redis_url)
        assert conn.config_get("appendonly")["appendonly"] == "yes"
        assert conn.config_get("appendfsync")["appendfsync"] == "everysec"
        assert conn.info("server")["redis_version"].startswith("6.2")
        from rq import Worker
        from rq.cron import CronScheduler

        wait_for(lambda: len(Worker.all(connection=conn)) == 1, 30, "one RQ worker registering")
        wait_for(lambda: len(CronScheduler.all(conn)) == 1, 30, "one rq cron process registering")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    text = out.decode(errors="replace")
    assert f"http://127.0.0.1:{port}/voice/incoming" in text  # the URLs to paste into the console
    assert "/agent/connect" in text
    assert proc.returncode == 0, text[-3000:]
    assert not url_file.exists()
    assert list((tmp_path / "data" / "redis").glob("appendonly.aof*"))
