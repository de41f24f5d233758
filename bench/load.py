"""The load generator: wrk (Debian package `wrk`) replaying pre-signed requests on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parent / "replay.lua"


@dataclass(frozen=True)
class Run:
    """One bounded wrk run against one target."""

    target: str
    connections: int
    seconds: float
    requests: int  # answered with a success (2xx/3xx): what the throughput counts
    rps: float  # successful responses per second; a fast refusal (a 503 "busy") is no throughput
    answered_rps: float  # every response, refusals included
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    wraps: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def wrk_path() -> str:
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed: `sudo apt-get install wrk` (Debian/Ubuntu) or `brew install wrk`")
    return found


def run(target: str, url: str, requests_file: Path, connections: int, seconds: float, threads: int = 1,
        wait_retry_after: bool = False) -> Run:
    """Replay `requests_file` against `url` (loopback only) with a fixed number of connections.

    wait_retry_after: after a 503 with Retry-After, wait that long before sending again (replay.lua), as the
    desk's pages and a client following the API's documentation do; otherwise send again at once."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError("the bench only loads 127.0.0.1")
    threads = max(1, min(threads, connections))
    command = [wrk_path(), "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "10s",
               "-s", str(SCRIPT), url, "--", str(requests_file), str(threads)]
    env = {**os.environ, "BENCH_RETRY_AFTER": "1" if wait_retry_after else "0"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120, check=False, env=env)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    stats = json.loads(line.removeprefix("BENCH_JSON "))
    elapsed = stats["duration_us"] / 1e6
    errors = sum(stats[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    ok = max(0, stats["requests"] - stats["status_errors"])  # wrk counts a status >= 400 as answered, and as an error
    return Run(
        target=target, connections=connections, seconds=round(elapsed, 2), requests=ok,
        rps=round(ok / elapsed, 1), answered_rps=round(stats["requests"] / elapsed, 1),
        p50_ms=stats["p50_us"] / 1000, p99_ms=stats["p99_us"] / 1000,
        max_ms=stats["max_us"] / 1000, errors=errors, wraps=stats["wraps"],
    )
