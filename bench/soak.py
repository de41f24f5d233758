"""Soak test: signed traffic at a steady rate against the real stack for N minutes; zero errors, flat
memory of web and worker processes, Redis growth explained by the data written.

    .venv/bin/python -m bench.soak --minutes 10 --rate 40

Starts its own embedded Redis, gunicorn (same settings as `ivr serve`) and one RQ worker on loopback;
talks to 127.0.0.1 only; stops by itself. Not part of the test suite (it takes minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests
from twilio.request_validator import RequestValidator

from ivr.cli.embedded import EmbeddedRedis, free_port
from ivr.simulate.standin import StandIn, StandInServer

TOKEN = "soak-" + secrets.token_hex(8)
API_TOKEN = "soak-api-" + secrets.token_urlsafe(32)
LINE = "+18005551212"


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@dataclass
class Tally:
    sent: int = 0
    ok: int = 0
    errors: int = 0
    flags: int = 0
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def drive(base: str, rate: float, seconds: float, tally: Tally, stop: threading.Event, threads: int) -> None:
    """Steady signed traffic: each call = incoming; 5% of them flagged from the desk; a status callback."""
    validator = RequestValidator(TOKEN)
    interval = threads / rate
    deadline = time.monotonic() + seconds

    def worker(n: int) -> None:
        session = requests.Session()
        rng = random.Random(n)
        next_at = time.monotonic() + rng.random() * interval
        while not stop.is_set() and time.monotonic() < deadline:
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at += interval
            sid = "CA" + secrets.token_hex(16)
            number = f"+1415{rng.randint(2000000, 9999999)}" if rng.random() > 0.1 else "anonymous"
            params = {"CallSid": sid, "From": number, "To": LINE, "AccountSid": "AC" + "1" * 32,
                      "FromCity": "SOAK", "FromCountry": "US", "CallStatus": "ringing"}
            started = time.perf_counter()
            ok = post(session, validator, base, "/voice/incoming", params)
            elapsed = time.perf_counter() - started
            flagged = False
            if ok and rng.random() < 0.05:
                r = session.post(f"{base}/api/calls/{sid}/flag", json={"reason": "soak"},
                                 headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10)
                ok = r.status_code in (200, 202)
                flagged = ok
            if ok:
                ok = post(session, validator, base, "/voice/status",
                          {"CallSid": sid, "CallStatus": "completed", "CallDuration": str(rng.randint(5, 300))})
            with tally.lock:
                tally.sent += 1
                tally.ok += ok
                tally.errors += not ok
                tally.flags += flagged
                tally.latencies.append(elapsed)

    pool = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def post(session: requests.Session, validator: RequestValidator, base: str, path: str, params: dict[str, str]) -> bool:
    sig = validator.compute_signature(base + path, params)
    try:
        r = session.post(base + path, data=params, headers={"X-Twilio-Signature": sig}, timeout=10)
    except requests.RequestException:
        return False
    return r.status_code == 200 and r.text.startswith("<?xml")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=40.0, help="calls per second")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between memory samples")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="ivr-soak-"))
    server = EmbeddedRedis(folder / "redis").start()
    # Twilio's REST API for the desk flags' redirects (the calls are the soak's own: taken as live)
    standin = StandInServer(StandIn(account_sid="AC" + "1" * 32, auth_token=TOKEN, numbers=(LINE,),
                                    adopt_unknown_calls=True), quiet=True).start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "REDIS_URL": server.url, "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
           "PUBLIC_BASE_URL": base, "IVR_API_TOKEN": API_TOKEN, "IVR_DATA_DIR": str(folder / "data"),
           "TWILIO_API_BASE_URL": standin.url, "IVR_LOG_NUMBERS": "masked"}
    from blocklist.settings import Settings
    from ivr.cli.serve import gunicorn_argv
    web = subprocess.Popen(gunicorn_argv(Settings.from_env(environ=env), f"127.0.0.1:{port}"), env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    worker = subprocess.Popen([sys.executable, "-m", "ivr.cli", "worker"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    r = redis.Redis.from_url(server.url)
    samples: list[dict[str, Any]] = []
    tally = Tally()
    stop = threading.Event()
    try:
        for _ in range(100):
            try:
                if requests.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        seconds = args.minutes * 60
        traffic = threading.Thread(target=drive, args=(base, args.rate, seconds, tally, stop, args.threads))
        started = time.monotonic()
        traffic.start()
        while traffic.is_alive():
            web_pids = children(web.pid)
            info = r.info("memory")
            samples.append({
                "t": round(time.monotonic() - started),
                "calls": tally.sent, "errors": tally.errors,
                "web_rss_kb": [rss_kb(p) for p in web_pids], "worker_rss_kb": rss_kb(worker.pid),
                "redis_used_bytes": info["used_memory"], "events": r.xlen("ivr:events"), "keys": r.dbsize(),
            })
            print(f"[{samples[-1]['t']:5d}s] calls {tally.sent} errors {tally.errors} "
                  f"web RSS {samples[-1]['web_rss_kb']} kB worker {samples[-1]['worker_rss_kb']} kB "
                  f"redis {info['used_memory'] // 1024} kB events {samples[-1]['events']}", flush=True)
            traffic.join(timeout=args.sample)
    except KeyboardInterrupt:
        stop.set()
    finally:
        stop.set()
        for proc in (web, worker):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        final = {"used": r.info("memory")["used_memory"], "events": r.xlen("ivr:events"), "keys": r.dbsize()}
        server.stop()
        standin.stop()
    lat = sorted(tally.latencies) or [0.0]
    first, last = samples[1] if len(samples) > 1 else samples[0], samples[-1]
    growth = final["used"] - first["redis_used_bytes"]
    new_events = final["events"] - first["events"]
    summary = {
        "minutes": args.minutes, "rate": args.rate, "calls": tally.sent, "errors": tally.errors, "flags": tally.flags,
        "p50_ms": round(lat[len(lat) // 2] * 1000, 1), "p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 1),
        "web_rss_kb_first_last": [first["web_rss_kb"], last["web_rss_kb"]],
        "worker_rss_kb_first_last": [first["worker_rss_kb"], last["worker_rss_kb"]],
        "redis_growth_bytes": growth, "new_events": new_events,
        "redis_bytes_per_call": round(growth / max(1, last["calls"] - first["calls"])),
        "samples": samples,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"soak-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "samples"}, indent=2))
    print(f"wrote {path}")
    return 1 if tally.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
