"""The command line as a newcomer meets it: a start-up banner a person can read (with the port they chose),
quiet logs when the simulator's Twilio stand-in is not up yet, a clean Ctrl-C and an immediate restart that
schedules at once, `ivr simulate --setup` that can be run twice, and `ivr settings` in plain text."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import redis
from click.testing import CliRunner
from rq import Queue
from rq.serializers import JSONSerializer

from blocklist.settings import Settings
from ivr.cli.embedded import free_port
from ivr.cli.serve import settings as settings_cmd
from ivr.cli.simulate import command as simulate_cmd
from tests.support.serve import clean_env, ivr_command, wait_for

STOP = "Stop with Ctrl-C."


def start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([ivr_command(), "serve"], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def ctrl_c(proc: subprocess.Popen[bytes]) -> tuple[int, float]:
    """SIGINT as a terminal's Ctrl-C sends it (the whole foreground group); (exit code, seconds to exit)."""
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    try:
        code = proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError("ivr serve did not stop within 30 s of Ctrl-C") from None
    return code, time.monotonic() - started


def test_start_banner_quiet_logs_clean_stop_and_quick_restart(tmp_path: Path) -> None:
    port, redis_port, nowhere = free_port(), free_port(), free_port()
    # As the README's order has it: the service first, the simulator's REST stand-in not up yet. No
    # PUBLIC_BASE_URL: every printed URL must follow IVR_PORT.
    env = clean_env(IVR_DATA_DIR=str(tmp_path / "data"), IVR_PORT=str(port), IVR_WEB_WORKERS="1",
                    IVR_REDIS_PORT=str(redis_port), TWILIO_ACCOUNT_SID="AC" + "5" * 32,
                    TWILIO_AUTH_TOKEN="newcomer-" + "9c4e1a7b" * 3, TWILIO_API_BASE_URL=f"http://127.0.0.1:{nowhere}")
    first = tmp_path / "first.log"
    proc = start(env, first)
    try:
        wait_for(lambda: STOP in first.read_text(), 60, "the start-up banner")
        time.sleep(12)  # the standing-queues job fails (no stand-in) and is retried 10 s later
    finally:
        code, seconds = ctrl_c(proc)
    text = first.read_text()
    banner = text.split(STOP, 1)[0].splitlines()
    assert len(banner) <= 15, text
    assert f"http://127.0.0.1:{port}/desk/" in text and f"http://127.0.0.1:{port}/voice/incoming" in text
    assert ":8000" not in text
    assert "users create-admin" in text and "simulate --setup" in text and str(tmp_path / "data") in text
    after = text.split(STOP, 1)[1]
    assert "Traceback" not in text, text
    problems = [line for line in after.splitlines() if "could not" in line or "cannot reach" in line]
    assert problems, "the unreachable REST API is said once, in one line"
    assert len(problems) <= 2, after  # standing queues and hold-queue cleanup: once each, not every retry
    assert all(f"127.0.0.1:{nowhere}" in line and "TWILIO_API_BASE_URL" in line for line in problems)
    assert code == 0 and seconds < 10, (code, seconds, text[-2000:])
    assert text.rstrip().endswith("ivr serve: stopped."), text[-500:]

    # Started again at once: its scheduler takes over without waiting for the old one's lock to expire, so
    # a job due in 2 s (a call back, a retry) runs on time.
    second = tmp_path / "second.log"
    proc = start(env, second)
    try:
        wait_for(lambda: STOP in second.read_text(), 60, "the second banner")
        conn = redis.Redis(port=redis_port)
        wait_for(lambda: conn.get("rq:scheduler-lock:reports"), 10, "the restarted worker's scheduler lock")
        job = Queue("reports", connection=conn, serializer=JSONSerializer).enqueue_in(
            timedelta(seconds=2), "workers.reports.fold_job")
        enqueued = time.monotonic()
        wait_for(lambda: job.get_status(refresh=True) == "finished", 15, "the scheduled job running")
        assert time.monotonic() - enqueued < 8
    finally:
        code, seconds = ctrl_c(proc)
    assert code == 0 and seconds < 10 and "Traceback" not in second.read_text()


def test_simulate_setup_run_twice_keeps_its_tokens(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"IVR_SETTINGS_FILE": None, "IVR_DATA_DIR": str(tmp_path), "TWILIO_AUTH_TOKEN": None,
           "IVR_API_TOKEN": None, "IVR_AGENTS": None, "IVR_PORT": "45571", "PUBLIC_BASE_URL": None}
    first = runner.invoke(simulate_cmd, ["--setup"], env=env)
    assert first.exit_code == 0, first.output
    path = tmp_path / "ivr.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds tokens
    written = path.read_text()
    assert "TWILIO_AUTH_TOKEN=" in written and "IVR_API_TOKEN=" in written
    assert "http://127.0.0.1:45571/desk/dashboard" in first.output
    second = runner.invoke(simulate_cmd, ["--setup"], env=env)
    assert second.exit_code == 0, second.output
    assert path.read_text() == written, "a second --setup changed the first one's settings"
    assert "kept" in second.output and "nothing new" in second.output
    # The service and the simulator read the same file: the same tokens on both sides, no exports.
    service = Settings.from_env(environ={"IVR_DATA_DIR": str(tmp_path), "IVR_PORT": "45571"})
    assert service.twilio_auth_token and service.twilio_auth_token in written
    assert service.api_token in written
    assert service.base_url == "http://127.0.0.1:45571"
    # The environment wins over the file.
    mine = Settings.from_env(environ={"IVR_DATA_DIR": str(tmp_path), "TWILIO_AUTH_TOKEN": "from-the-shell"})
    assert mine.twilio_auth_token == "from-the-shell"


def test_simulate_aims_at_the_port_the_service_uses(tmp_path: Path) -> None:
    port = free_port()
    env = {"IVR_SETTINGS_FILE": "", "IVR_PORT": str(port), "PUBLIC_BASE_URL": None,
           "TWILIO_AUTH_TOKEN": "port-test-" + "ab12" * 6, "IVR_AGENTS": "+15550001111",
           "IVR_API_TOKEN": "port-test-api-" + "Qx7Lm2Vt9Rz4" * 3}
    result = CliRunner().invoke(simulate_cmd, ["--standin-port", "0"], env=env)
    assert result.exit_code == 2
    assert f"cannot reach the service at http://127.0.0.1:{port}" in result.output


def test_a_bad_line_in_the_settings_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "ivr.env").write_text("IVR_TIMEZONE=Europe/Helsinki\nIVR_TYPO_SETTING=1\n")
    try:
        Settings.from_env(environ={"IVR_DATA_DIR": str(tmp_path)})
    except ValueError as exc:
        assert "IVR_TYPO_SETTING" in str(exc) and str(tmp_path / "ivr.env") in str(exc)
    else:
        raise AssertionError("an unknown setting in the file was accepted")


def test_settings_prints_values_as_people_write_them(tmp_path: Path) -> None:
    (tmp_path / "ivr.env").write_text("IVR_TIMEZONE=Europe/Helsinki\n")
    env = {"IVR_SETTINGS_FILE": None, "IVR_DATA_DIR": str(tmp_path), "IVR_AGENTS": "+15550001001,+15550001002",
           "IVR_SANCTION_LADDER": None, "TWILIO_AUTH_TOKEN": "a-secret-value-" + "7" * 20, "IVR_PORT": "45571",
           "PUBLIC_BASE_URL": None}
    result = CliRunner().invoke(settings_cmd, [], env=env)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "('" not in out and "None" not in out and "(86400" not in out  # no Python reprs
    assert "+15550001001,+15550001002" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "Europe/Helsinki" in rows["IVR_TIMEZONE"] and str(tmp_path / "ivr.env") in rows["IVR_TIMEZONE"]
    assert "environment" in rows["IVR_AGENTS"]
    assert "a-secret-value" not in out and "(set)" in rows["TWILIO_AUTH_TOKEN"]
    assert "http://127.0.0.1:45571" in rows["PUBLIC_BASE_URL"]
    as_json = json.loads(CliRunner().invoke(settings_cmd, ["--json"], env=env).output)
    ladder = next(r for r in as_json if r["name"] == "IVR_SANCTION_LADDER")
    assert ladder["source"] == "default" and ladder["help"]
    changed = CliRunner().invoke(settings_cmd, ["--changed"], env=env).output
    assert "IVR_TIMEZONE" in changed and "IVR_SANCTION_LADDER" not in changed
