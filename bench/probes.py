"""Side measurements around a load run: CPU time per process group, Redis round trips per request,
one checked request per target."""

from __future__ import annotations

import os
import resource
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import redis

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the given processes (threads included)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / TICK


def children_cpu() -> float:
    """CPU of waited-for children (the load generator)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU spent by the web server, Redis and the load generator between start() and stop()."""

    def __init__(self, web_pids: list[int], redis_pids: list[int]) -> None:
        self.web_pids, self.redis_pids = web_pids, redis_pids

    def start(self) -> CpuMeter:
        self._web, self._redis, self._load = cpu_seconds(self.web_pids), cpu_seconds(self.redis_pids), children_cpu()
        return self

    def stop(self, requests: int) -> dict[str, float]:
        n = max(1, requests)
        return {
            "web_ms": round((cpu_seconds(self.web_pids) - self._web) * 1000 / n, 3),
            "redis_ms": round((cpu_seconds(self.redis_pids) - self._redis) * 1000 / n, 3),
            "load_ms": round((children_cpu() - self._load) * 1000 / n, 3),
        }


def send(url: str, line: str) -> tuple[int, str, str]:
    """Send one request line (the replay format) and return status, content type, body."""
    path, header, value, ctype, body = line.split("\t", 4)
    req = urllib.request.Request(url + path, data=body.encode(), method="POST",
                                 headers={header: value, "Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def reads(r: redis.Redis) -> int:
    """Socket reads Redis has served: one per round trip (a pipeline or a script is one read)."""
    return int(r.info("stats")["total_reads_processed"])


def persistence(port: int) -> dict[str, Any]:
    """The fields of INFO persistence that tell a background rewrite or snapshot started, ran or ended."""
    info = redis.Redis(port=port).info("persistence")
    return {name: info.get(name) for name in ("aof_rewrite_in_progress", "aof_rewrite_scheduled", "aof_base_size",
                                              "rdb_bgsave_in_progress", "rdb_last_save_time")}


def background_work(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether Redis forked for an AOF rewrite or an RDB snapshot between two persistence() readings."""
    running = ("aof_rewrite_in_progress", "aof_rewrite_scheduled", "rdb_bgsave_in_progress")
    return any(before[name] or after[name] for name in running) or any(
        before[name] != after[name] for name in ("aof_base_size", "rdb_last_save_time"))
