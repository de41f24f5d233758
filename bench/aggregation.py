"""Aggregation and reports: a year of events folded by the product's RQ worker vs a raw pipeline writing the
same counters, then every manager report over that year."""

from __future__ import annotations

import functools
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from bench import runner, servers
from bench.data import ACCOUNT_SID, NumberPlan

LINES = ("+18005551212", "+18005551213")
AGENTS = tuple(f"client:agent{i:02d}" for i in range(20))
DAYS = 365
RAW_NAMESPACE = "bench:raw"
HOUR_WEIGHTS = (6, 7, 7, 6, 4, 2, 1, 1, 2, 3, 4, 6, 8, 7, 4, 3, 3, 3, 3, 4, 4, 5, 5, 6)  # night and noon peaks


def screen_writes_facts(r: redis.Redis, plan: NumberPlan) -> bool:
    """Whether the product's screen puts phonenumbers' facts (region, line type, carrier) on the call
    event, or leaves them to the fold: one real screen, then its event is read back and removed."""
    from blocklist import keys
    from blocklist.rules import Blocklist

    Blocklist(r).screen(plan.callers(1, set(), salt=501)[0], LINES[0], "CA" + "e" * 32, extra={"FromCountry": "US"})
    _id, ev = r.xrevrange(keys.EVENTS, count=1)[0]
    r.delete(keys.EVENTS, keys.call("CA" + "e" * 32), keys.REVIEW, keys.REVIEW_INFO)
    for key in r.scan_iter(match=keys.burst("*", "*")):
        r.delete(key)
    return "region" in ev


def events(count: int, plan: NumberPlan, seed: int = 7, facts: bool = True) -> Iterator[tuple[str, dict[str, str]]]:
    """`count` events over the last 365 days in the shapes the product writes (screen, status, flag,
    isolation), with explicit increasing stream IDs. Most callers call once; a few thousand harassers
    call again and again, get flagged, blocked and treated at the door. `facts`: call events carry
    region / line type / carrier, as the screen writes them (or not, if the screen leaves them to the fold)."""
    rng = random.Random(seed)
    callers = plan.callers(300_000, set(), salt=500)
    harassers = callers[:3000]
    now = int(time.time() * 1000)
    start = now - DAYS * 86_400_000
    calls = int(count / 1.9)  # about 2.05 events per call: stop at `count`
    hours = rng.choices(range(24), weights=HOUR_WEIGHTS, k=calls)
    stamps = sorted(start + rng.randrange(DAYS) * 86_400_000 + h * 3_600_000 + rng.randrange(3_600_000)
                    for h in hours)
    produced = seq = last = 0
    blocked: set[str] = set()
    for ts in stamps:
        if produced >= count:
            return
        sid = "CA" + f"{rng.getrandbits(128):032x}"
        line = LINES[0] if rng.random() < 0.8 else LINES[1]
        roll = rng.random()
        number = "anonymous" if roll < 0.03 else rng.choice(harassers) if roll < 0.2 else rng.choice(callers)
        treated = number in blocked
        call = {"type": "call", "ts": str(ts), "call_sid": sid, "number": number, "line": line,
                "decision": "treat" if treated else "allow", "rule": "number" if treated else "none",
                "treatment": "reject" if treated else "", "region": "" if number == "anonymous" else "US",
                "line_type": "" if number == "anonymous" else "fixed_or_mobile", "carrier": "",
                "FromCity": rng.choice(("SAN FRANCISCO", "AUSTIN", "CHICAGO", "BOSTON")),
                "FromState": rng.choice(("CA", "TX", "IL", "MA")), "FromCountry": "US",
                "StirVerstat": rng.choice(("TN-Validation-Passed-A", "TN-Validation-Passed-B", "")), "lang": "en"}
        if not facts:
            for name in ("region", "line_type", "carrier"):
                del call[name]
        batch = [call]
        duration = 0 if treated else rng.randrange(5, 600)
        if not treated and number in harassers[:1500] and rng.random() < 0.4:
            agent = rng.choice(AGENTS)
            flagged = number != "anonymous"
            if flagged:
                blocked.add(number)
            batch.append({"type": "flag", "ts": str(ts + 20_000), "call_sid": sid, "number": number, "line": line,
                          "via": rng.choice(("key", "desk")), "agent": agent, "reason": "obscene", "note": "",
                          "blocked": "1" if flagged else "0", "until": "", "step": "1", "region": "US",
                          "line_type": "fixed_or_mobile", "carrier": "", "FromState": call["FromState"]})
            if rng.random() < 0.6:
                batch.append({"type": "isolation", "ts": str(ts + 50_000), "call_sid": sid, "number": number,
                              "line": line, "outcome": rng.choice(("complete", "abandoned")), "seconds": "25"})
        elif treated and rng.random() < 0.02:
            blocked.discard(number)  # the block ran out
        batch.append({"type": "status", "ts": str(ts + duration * 1000 + 60_000), "call_sid": sid, "number": number,
                      "line": line, "status": "busy" if treated else "completed", "duration": str(duration),
                      "kind": "caller"})
        for ev in batch:
            if produced >= count:
                return
            stamp = int(ev["ts"]) if int(ev["ts"]) > last else last
            seq = seq + 1 if stamp == last else 0
            last = stamp
            produced += 1
            yield f"{stamp}-{seq}", ev


def write_events(r: redis.Redis, count: int, plan: NumberPlan) -> str:
    """XADD the events (pipelined); returns the last stream ID."""
    from blocklist import keys

    facts = screen_writes_facts(r, plan)
    pipe = r.pipeline(transaction=False)
    last = ""
    for i, (event_id, ev) in enumerate(events(count, plan, facts=facts)):
        pipe.xadd(keys.EVENTS, ev, id=event_id)
        last = event_id
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    return last


def fold_with_rq(url: str, r: redis.Redis, last_id: str, folder: Path, log: Callable[[str], None]) -> float:
    """Start the product's worker (`ivr worker`), enqueue the fold as a flag does, time until the cursor
    reaches the last event. A fold job stops after its time budget; it is enqueued again at once."""
    from rq import Worker
    from rq.job import Job

    from blocklist.keys import Agg as rk
    from workers import reports
    from workers.queues import FOLD_JOB_ID

    rq_conn = redis.Redis.from_url(url)
    env = {**os.environ, "REDIS_URL": url, "IVR_DATA_DIR": str(folder / "var"), "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
           "PYTHONUNBUFFERED": "1"}
    with (folder / "worker.log").open("ab") as out:
        worker = subprocess.Popen([sys.executable, "-m", "ivr.cli", "worker"], cwd=servers.ROOT, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not Worker.all(connection=rq_conn):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the RQ worker did not start; see {folder / 'worker.log'}")
            time.sleep(0.1)
        log("folding with the RQ worker...")
        started = time.monotonic()
        reports.schedule_fold(rq_conn)
        while r.hget(rk.STATE, "cursor") != last_id:
            if worker.poll() is not None:
                raise RuntimeError(f"the RQ worker died while folding; see {folder / 'worker.log'}")
            if not Job.exists(FOLD_JOB_ID, connection=rq_conn):
                reports.schedule_fold(rq_conn)  # the previous fold used up its time budget
            if time.monotonic() - started > 1800:
                raise RuntimeError("the fold took more than 30 minutes")
            time.sleep(0.02)
        return time.monotonic() - started
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()


def raw_pipeline(r: redis.Redis, batch: int = 2000) -> dict[str, float]:
    """The plain way to the same counters: read the events, count them with the product's own Folder, write
    the increments with a non-transactional pipeline per batch, into a separate namespace. No RQ, no
    cursor or exactly-once guard, no deterrence state in Redis, no archive stream. Returns the seconds of
    the whole loop, of its writes alone, and the number of commands written."""
    from blocklist import keys
    from workers import reports

    clock = reports.Clock(reports.ReportSettings().tz)
    det: dict[str, str] = {}  # deterrence state, kept in memory between batches as the fold keeps it in Redis
    writes = 0.0
    commands = 0
    cursor = "-"
    began = time.perf_counter()
    while True:
        entries = r.xrange(keys.EVENTS, min=cursor, max="+", count=batch)
        if not entries:
            break
        cursor = "(" + entries[-1][0]
        f = reports.Folder(clock, det)
        for event_id, ev in entries:
            f.add(event_id, ev)
        write_began = time.perf_counter()
        pipe = r.pipeline(transaction=False)
        commands += queue_counters(pipe, f)
        pipe.execute()
        writes += time.perf_counter() - write_began
    return {"seconds": time.perf_counter() - began, "write_seconds": writes, "commands": commands}


def queue_counters(pipe: Any, folder: Any) -> int:
    """Queue a Folder's increments as plain HINCRBY / ZINCRBY / ZADD in the bucket layout of
    blocklist/keys.py (Agg) (both scopes; day, month and year), into RAW_NAMESPACE."""
    from blocklist.keys import Agg as rk

    totals = folder.totals() if hasattr(folder, "totals") else folder.counts
    merged: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for (family, line, day, name), n in totals.items():
        if not n:
            continue
        for scope in ((rk.ALL_LINES, line) if line else (rk.ALL_LINES,)):
            for period in (day, day[:7], day[:4]):
                merged[(family, rk.bucket(family, scope, period, RAW_NAMESPACE))][name] += n
    commands = 0
    for (family, key), fields in merged.items():
        for name, n in fields.items():
            if family in rk.ZSET_FAMILIES:
                pipe.zincrby(key, n, name)
            else:
                pipe.hincrby(key, name, n)
            commands += 1
    for line, day, member, ts in folder.withheld:
        for scope in ((rk.ALL_LINES, line) if line else (rk.ALL_LINES,)):
            pipe.zadd(rk.bucket(rk.WITHHELD, scope, day, RAW_NAMESPACE), {member: ts})
            commands += 1
    return commands


def same_counters(r: redis.Redis) -> tuple[int, int]:
    """(buckets compared, buckets that differ) between the fold's aggregates and the raw pipeline's."""
    from blocklist.keys import Agg as rk

    families = set(rk.ALL_FAMILIES)
    agg_keys = [k for k in r.scan_iter(match=f"{rk.AGG}:*", count=1000) if k.split(":")[2] in families]
    pipe = r.pipeline(transaction=False)
    for key in agg_keys:
        pipe.execute_command("DEBUG", "DIGEST-VALUE", key, RAW_NAMESPACE + key[len(rk.AGG):])
    differ = sum(1 for a, b in pipe.execute() if a != b)
    return len(agg_keys), differ


def time_reports(r: redis.Redis, repeats: int = 5) -> dict[str, dict[str, float]]:
    """Every report over the last 365 days (all lines), `repeats` times each."""
    from workers import reports

    rs = reports.ReportSettings()
    today = datetime.now(UTC).date()
    q = reports.Query.build(start=today - timedelta(days=DAYS - 1), end=today, settings=rs)
    calls: dict[str, Callable[[], Any]] = {name: functools.partial(reports.report, r, name, q)
                                           for name in reports.REPORTS}
    calls["summary (every report, as the printable report)"] = lambda: reports.summary(r, q)
    out = {}
    for name, call in calls.items():
        samples = []
        for _ in range(repeats):
            began = time.perf_counter()
            call()
            samples.append((time.perf_counter() - began) * 1000)
        out[name] = {"median_ms": round(statistics.median(samples), 1), "worst_ms": round(max(samples), 1)}
    return out


def run(options: runner.Options, folder: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Items 4 and 5 of the bench; a failure is recorded, not raised, so the web results still get written."""
    folder.mkdir(parents=True, exist_ok=True)
    server = servers.start_redis(folder / "redis")
    try:
        r = redis.Redis(port=server.port, decode_responses=True)
        log(f"writing {options.events:,} events over {DAYS} days...")
        last_id = write_events(r, options.events, NumberPlan.build())
        count = r.xlen("ivr:events")
        runner.settle(r)
        try:
            fold_s = fold_with_rq(server.url, r, last_id, folder, log)
        except Exception as exc:  # workers/reports/ is young: say what broke, keep the rest
            return {"aggregation": {"error": f"fold: {type(exc).__name__}: {exc}"},
                    "report": {"error": "no aggregates to report on"}}
        log(f"folded {count:,} events in {fold_s:.1f} s; now the raw pipeline...")
        raw = raw_pipeline(r)
        compared, differ = same_counters(r)
        aggregation = {
            "events": count, "workers": 1, "fold_seconds": round(fold_s, 2), "raw_seconds": round(raw["seconds"], 2),
            "fold_events_per_s": round(count / fold_s, 1), "raw_events_per_s": round(count / raw["seconds"], 1),
            "raw_write_only_events_per_s": round(count / raw["write_seconds"], 1),
            "raw_commands": int(raw["commands"]), "ratio": round(raw["seconds"] / fold_s, 3),
            "buckets_compared": compared, "buckets_differ": differ,
            "detail": f"{compared:,} aggregate buckets compared with DEBUG DIGEST-VALUE: "
                      f"{'all identical' if not differ else f'{differ:,} DIFFER'}. The raw loop's writes alone run "
                      f"at {count / raw['write_seconds']:,.0f} events/s (the rest is reading and counting); "
                      f"fold / writes alone = {raw['write_seconds'] / fold_s:.3f}.",
        }
        log("timing the reports over the year...")
        timings = time_reports(r)
        report = {"events": count, "days": DAYS, "fold_seconds": round(fold_s, 1), "timings": timings,
                  "worst_ms": max(t["worst_ms"] for t in timings.values())}
        return {"aggregation": aggregation, "report": report}
    finally:
        server.stop()
