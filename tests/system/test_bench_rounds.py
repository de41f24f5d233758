"""The bench's rounds: every screen round calls from numbers no earlier round used, and a run that shared the
machine with a Redis fork (AOF rewrite, RDB snapshot) is told apart. Real Redis for the persistence readings."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import redis
from twilio.request_validator import RequestValidator

from bench import data, probes
from bench.results import background_note, one_worker_note
from bench.runner import AUTH_TOKEN, FreshCallers, settle


def numbers_in(path: Path) -> set[str]:
    """The From of every request line in a replay file."""
    found = set()
    for line in path.read_text().splitlines():
        body = line.split("\t", 4)[4]
        found.add(next(p for p in body.split("&") if p.startswith("From=")).split("=", 1)[1])
    return found


def test_each_round_calls_from_numbers_no_earlier_round_used(tmp_path: Path) -> None:
    plan = data.NumberPlan.build()
    pool = iter(plan.callers(40, set(), salt=7))
    callers = FreshCallers(tmp_path, RequestValidator(AUTH_TOKEN), "http://127.0.0.1:9", pool, size=10)
    seen: set[str] = set()
    files = []
    for _ in range(4):  # the warm-up's set, then three rounds
        path = callers.file()
        numbers = numbers_in(path)
        assert len(numbers) == 10
        assert not numbers & seen
        seen |= numbers
        files.append(path)
        if len(files) < 4:
            callers.next_round()
    assert [p.exists() for p in files] == [False, False, False, True]  # a finished round's file is deleted
    try:
        callers.next_round()
    except RuntimeError as exc:
        assert "ran out" in str(exc)
    else:
        raise AssertionError("a fifth set from a pool of four sets must be refused, not made of reused numbers")


def test_a_rewrite_between_two_readings_is_told_apart_from_a_quiet_run(redis_conn: redis.Redis) -> None:
    settle(redis_conn)
    quiet = probes.persistence(redis_conn)
    assert not probes.background_work(quiet, probes.persistence(redis_conn))
    redis_conn.set("bench:rounds:grow", "x" * 100_000)  # the rewrite's base must change size
    settle(redis_conn)
    after = probes.persistence(redis_conn)
    assert probes.background_work(quiet, after)
    assert not probes.background_work(after, probes.persistence(redis_conn))


def test_a_row_with_disturbed_runs_says_how_many() -> None:
    assert background_note(0) == ""
    assert background_note(1) == " (1 run beside a Redis rewrite or snapshot)"
    assert background_note(2) == " (2 runs beside a Redis rewrite or snapshot)"


def test_a_run_that_one_worker_served_alone_is_told_apart() -> None:
    assert probes.one_worker({"connections": 2, "web_top_share": 0.99})
    assert not probes.one_worker({"connections": 2, "web_top_share": 0.51})  # two workers, a connection each
    assert not probes.one_worker({"connections": 1, "web_top_share": 1.0})  # one connection is one worker anyway
    assert not probes.one_worker({"connections": 32})  # runs from before the share was measured
    assert one_worker_note(0) == ""
    assert one_worker_note(3) == " (3 runs on one worker)"


def test_the_cpu_meter_says_which_share_the_busiest_process_took() -> None:
    spinner = subprocess.Popen([sys.executable, "-c", "import time\nend = time.process_time() + 0.4\n"
                                "while time.process_time() < end: pass\ntime.sleep(5)"])
    try:
        meter = probes.CpuMeter([os.getpid(), spinner.pid], []).start()
        time.sleep(1.0)  # this process sleeps; the spinner burns 0.4 s of CPU
        cpu = meter.stop(1)
        assert cpu["web_top_share"] >= 0.9
        assert cpu["web_ms"] >= 300
    finally:
        spinner.kill()
        spinner.wait()
