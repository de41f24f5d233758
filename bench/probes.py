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
    return sum(cpu_each(pids))


def cpu_each(pids: list[int]) -> list[float]:
    """utime + stime of each of the given processes (0 for one that is gone)."""
    out = []
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            out.append(0.0)
            continue
        out.append((int(fields[11]) + int(fields[12])) / TICK)  # utime, stime (fields 14 and 15 of stat)
    return out


ONE_WORKER_SHARE = 0.9  # two connections on two workers give about 0.5 of the web CPU each; on one, about 1.0


def one_worker(run: dict[str, Any]) -> bool:
    """Whether one gunicorn worker did (nearly) all of a run's web CPU though the run had several connections."""
    return bool(run["connections"] > 1 and run.get("web_top_share", 0.0) >= ONE_WORKER_SHARE)


def children_cpu() -> float:
    """CPU of waited-for children (the load generator)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU spent by the web server, Redis and the load generator between start() and stop()."""

    def __init__(self, web_pids: list[int], redis_pids: list[int]) -> None:
        self.web_pids, self.redis_pids = web_pids, redis_pids

    def start(self) -> CpuMeter:
        self._each = cpu_each(self.web_pids)
        self._web, self._redis, self._load = sum(self._each), cpu_seconds(self.redis_pids), children_cpu()
        return self

    def stop(self, requests: int) -> dict[str, float]:
        """CPU per request of each group, and `web_top_share`: the busiest web process's part of the web CPU.
        gunicorn lets whichever worker wakes first accept a connection, so at times one worker takes every
        connection of a run and serves it on one core (a share near 1 with 2 or more connections)."""
        n = max(1, requests)
        each = [after - before for after, before in zip(cpu_each(self.web_pids), self._each, strict=True)]
        web = sum(each)
        return {
            "web_ms": round(web * 1000 / n, 3),
            "redis_ms": round((cpu_seconds(self.redis_pids) - self._redis) * 1000 / n, 3),
            "load_ms": round((children_cpu() - self._load) * 1000 / n, 3),
            "web_top_share": round(max(each, default=0.0) / web, 3) if web > 0 else 0.0,
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


def persistence(r: redis.Redis) -> dict[str, Any]:
    """The fields of INFO persistence that tell a background rewrite or snapshot started, ran or ended."""
    info = r.info("persistence")
    return {name: info.get(name) for name in ("aof_rewrite_in_progress", "aof_rewrite_scheduled", "aof_base_size",
                                              "rdb_bgsave_in_progress", "rdb_last_save_time")}


def background_work(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether Redis forked for an AOF rewrite or an RDB snapshot between two persistence() readings."""
    running = ("aof_rewrite_in_progress", "aof_rewrite_scheduled", "rdb_bgsave_in_progress")
    return any(before[name] or after[name] for name in running) or any(
        before[name] != after[name] for name in ("aof_base_size", "rdb_last_save_time"))
