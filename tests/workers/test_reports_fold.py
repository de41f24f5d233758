"""Folding events into report aggregates: exact under duplicate runs, killed workers, rebuilds, retention, erasure.

Real Redis, real RQ workers; events are written with XADD (explicit, time-ordered IDs) like the app writes them.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from blocklist import keys
from blocklist.keys import Agg as rk
from tests.support.constants import ROOT
from tests.support.events import AGENTS, DAY, LINES, NOW, T0, Events, work
from workers import reports
from workers.queues import FOLD_JOB_ID, REPORTS, queue


def settings(tz: str = "UTC", retention: int = 90) -> reports.ReportSettings:
    return reports.ReportSettings(retention_days=retention, timezone=tz)


def make_world(ev: Events, rng: random.Random, n_calls: int, days: int = 30, start: int = T0) -> None:
    """A realistic mix: calls allowed and treated, withheld IDs, flags, isolations, statuses, others."""
    numbers = [f"+1415555{rng.randrange(10000):04d}" for _ in range(120)]
    numbers += [f"+4420794{rng.randrange(100000):05d}" for _ in range(30)]
    numbers += [f"+3584{rng.randrange(10_000_000):07d}" for _ in range(20)]
    plan: list[tuple[int, int, str, dict[str, Any]]] = []
    for i in range(n_calls):
        ts = start + rng.randrange(days * DAY)
        number = "anonymous" if rng.random() < 0.08 else rng.choice(numbers[: 10 + rng.randrange(len(numbers) - 10)])
        line = rng.choice(LINES)
        sid = f"CA{i:08d}"
        geo = {"FromCity": rng.choice(["SAN FRANCISCO", "OAKLAND", ""]), "FromState": rng.choice(["CA", "NY", ""]),
               "FromCountry": "US" if number.startswith("+1") else rng.choice(["GB", "FI"]),
               "StirVerstat": rng.choice(["TN-Validation-Passed-A", "TN-Validation-Passed-C", "", ""])}
        roll = rng.random()
        if roll < 0.3:
            rule = "withheld" if number == "anonymous" else rng.choice(["number", "number", "prefix", "burst"])
            treatment = rng.choice(["reject", "isolation", "linefault", "hangup"])
            plan.append((ts, 0, "call", dict(number=number, line=line, sid=sid, decision="treat", rule=rule,
                                             treatment=treatment, **geo)))
            if treatment == "isolation":
                plan.append((ts + 30_000, 1, "isolation", dict(call_sid=sid, number=number, line=line,
                                                               outcome="complete", seconds="28")))
        else:
            plan.append((ts, 0, "call", dict(number=number, line=line, sid=sid, **geo)))
            if roll < 0.5:
                flag_at = ts + rng.choice([20_000, 200_000])  # during the call, or just after it ended
                plan.append((flag_at, 1, "flag", dict(number=number, sid=sid, line=line, agent=rng.choice(AGENTS),
                                                      via=rng.choice(["key", "desk"]), **geo)))
                if rng.random() < 0.7:
                    plan.append((flag_at + 5_000, 2, "isolation",
                                 dict(call_sid=sid, number=number, line=line,
                                      outcome=rng.choice(["complete", "abandoned"]), seconds=str(rng.randrange(60)))))
            plan.append((ts + 100_000, 3, "status", dict(call_sid=sid, number="", line="", status="completed",
                                                          duration=str(rng.randrange(300)))))
        if rng.random() < 0.01:
            plan.append((ts + 1000, 4, "unblock", dict(number=number if number != "anonymous" else numbers[0],
                                                       line="", by="manager", reason="appeal")))
        if rng.random() < 0.01:
            plan.append((ts + 2000, 5, "escalate", dict(call_sid=sid, number=number, line=line)))
    for ts, _order, type_, fields in sorted(plan, key=lambda p: (p[0], p[1])):
        if type_ == "call":
            ev.call(ts, fields.pop("number"), fields.pop("line"), fields.pop("sid"), **fields)
        elif type_ == "flag":
            ev.flag(ts, fields.pop("number"), fields.pop("sid"), **fields)
        else:
            ev.add(type_, ts, **fields)


def snapshot(r: redis.Redis) -> dict[str, Any]:
    """Every aggregate, zero values dropped (test-only SCAN)."""
    out: dict[str, Any] = {}
    for key in r.scan_iter(match="ivr:agg:*", count=1000):
        if key == rk.STATE or any(part in key for part in (":q:", ":notable:", ":status:", ":tmp:")):
            continue
        kind = r.type(key)
        if kind == "hash":
            value: Any = {k: v for k, v in r.hgetall(key).items() if v != "0"}
        elif kind == "zset":
            value = {m: s for m, s in r.zrange(key, 0, -1, withscores=True) if s}
        else:
            value = sorted(r.smembers(key))
        if value:
            out[key] = value
    return out


def local(ts: int, tz: str) -> datetime:
    return datetime.fromtimestamp(ts / 1000, ZoneInfo(tz))


# ---- exact numbers ----------------------------------------------------------------------------------------
def test_fold_matches_a_direct_computation(redis_conn: redis.Redis) -> None:
    tz = "Europe/Helsinki"
    ev = Events(redis_conn)
    make_world(ev, random.Random(7), 3000)
    rs = settings(tz)
    result = reports.fold(redis_conn, batch=500, settings=rs)
    assert result.folded == len(ev.written) and result.batches == -(-len(ev.written) // 500)

    q = reports.Query.build(start="2025-03-01", end="2025-04-10", settings=rs, now_ms=NOW)
    freq = reports.frequency(redis_conn, q)
    src = reports.sources(redis_conn, q, top=1000)
    heat: dict[str, Counter[tuple[int, int]]] = {"flags": Counter(), "treated": Counter(), "calls": Counter()}
    per_number: Counter[str] = Counter()
    per_prefix: Counter[str] = Counter()
    regions: Counter[str] = Counter()
    daily: Counter[str] = Counter()
    for _id, e in ev.written:
        moment = local(int(e["ts"]), tz)
        cell = (moment.weekday(), moment.hour)
        harm = e["type"] == "flag" or (e["type"] == "call" and e["decision"] == "treat")
        if e["type"] == "call":
            heat["calls"][cell] += 1
        if e["type"] == "flag":
            heat["flags"][cell] += 1
            daily[moment.date().isoformat()] += 1
        if e["type"] == "call" and e["decision"] == "treat":
            heat["treated"][cell] += 1
        if harm and e["number"] != "anonymous":
            per_number[e["number"]] += 1
            per_prefix[e["number"][:-4]] += 1
        if harm:
            regions["withheld" if e["number"] == "anonymous" else (e["region"] or "unknown")] += 1
    for name, cells in heat.items():
        assert freq["heatmap"][name] == [[cells[(wd, h)] for h in range(24)] for wd in range(7)], name
    assert sum(map(sum, freq["heatmap"]["flags"])) > 100
    assert {row["day"]: row["flags"] for row in freq["daily"] if row["flags"]} == dict(daily)
    assert {row["number"]: row["total"] for row in src["top_numbers"]} == dict(per_number)
    assert src["numbers_total"] == len(per_number)
    assert {row["prefix"]: row["total"] for row in src["top_prefixes"]} == dict(per_prefix)
    assert {row["value"]: row["flags"] + row["treated"] for row in src["dimensions"]["region"]
            if row["flags"] + row["treated"]} == dict(regions)
    top = reports.sources(redis_conn, q, top=5)["top_numbers"]
    assert [row["total"] for row in top] == sorted(per_number.values(), reverse=True)[:5]


def test_line_filter_and_ranges_agree_across_rollups(redis_conn: redis.Redis) -> None:
    ev = Events(redis_conn)
    make_world(ev, random.Random(3), 1500, days=70, start=T0 - 30 * DAY)
    rs = settings()
    reports.fold(redis_conn, settings=rs)
    whole = reports.Query.build(start="2025-01-01", end="2025-12-31", settings=rs, now_ms=NOW)
    assert whole.periods() == ["2025"]
    by_day = {row["day"]: row for row in reports.frequency(redis_conn, whole)["daily"]}
    for start, end in (("2025-02-10", "2025-04-20"), ("2025-03-01", "2025-03-31"), ("2025-02-28", "2025-03-01")):
        q = reports.Query.build(start=start, end=end, settings=rs, now_ms=NOW)
        totals = reports.frequency(redis_conn, q)["totals"]
        days = [d for d in by_day if start <= d <= end]
        assert totals["flags"] == sum(by_day[d]["flags"] for d in days)
        assert totals["calls"] == sum(by_day[d]["calls"] for d in days)
    lines = reports.frequency(redis_conn, whole)["lines"]
    assert sum(row["calls"] for row in lines) == reports.frequency(redis_conn, whole)["totals"]["calls"]
    one = reports.Query.build(start="2025-01-01", end="2025-12-31", line=LINES[1], settings=rs, now_ms=NOW)
    expected = sum(1 for _i, e in ev.written if e["type"] == "flag" and e["line"] == LINES[1])
    assert reports.frequency(redis_conn, one)["totals"]["flags"] == expected


def test_unknown_event_types_are_counted_not_fatal(redis_conn: redis.Redis) -> None:
    ev = Events(redis_conn)
    ev.add("escalate", T0, number="+14155550100", line=LINES[0], call_sid="CA1")
    ev.add("overflow", T0 + 1, number="anonymous", line=LINES[0], call_sid="CA2")
    ev.add("Weird Type!", T0 + 2, number="", line="")
    reports.fold(redis_conn, settings=settings())
    q = reports.Query.build(start="2025-03-03", end="2025-03-03", settings=settings(), now_ms=NOW)
    assert reports.frequency(redis_conn, q)["events"] == {"escalate": 1, "other": 1, "overflow": 1}
    # unknown types are kept long-term (the safe default); overflow is high-volume and expires like calls
    assert [e for _i, e in redis_conn.xrange(rk.KEPT)] == [w for _i, w in ev.written if w["type"] != "overflow"]


# ---- exactly once -----------------------------------------------------------------------------------------
def test_same_fold_job_run_twice_counts_once(redis_conn: redis.Redis, rq_conn: redis.Redis) -> None:
    ev = Events(redis_conn)
    make_world(ev, random.Random(11), 600)
    q = queue(REPORTS, rq_conn)
    job = q.enqueue(reports.fold_job, kwargs={"batch": 100}, job_id="fold-twice", result_ttl=600)
    work(rq_conn)
    first = snapshot(redis_conn)
    assert job.get_status(refresh=True) == "finished" and job.return_value(refresh=True)["folded"] == len(ev.written)
    q.enqueue_job(job)  # the same job delivered again (at-least-once)
    work(rq_conn)
    assert job.get_status(refresh=True) == "finished" and job.return_value(refresh=True)["folded"] == 0
    assert snapshot(redis_conn) == first
    reports.fold(redis_conn, batch=7)
    assert snapshot(redis_conn) == first
    notable: set[str] = set()
    expected_kept = []
    for event_id, e in ev.written:  # long-term: all but calls, and statuses of calls flagged or isolated before
        if e["type"] in ("flag", "isolation"):
            notable.add(e["call_sid"])
        if e["type"] not in ("call", "status") or (e["type"] == "status" and e["call_sid"] in notable):
            expected_kept.append(event_id)
    assert [i for i, _e in redis_conn.xrange(rk.KEPT)] == expected_kept


def test_schedule_fold_coalesces_a_burst(redis_conn: redis.Redis, rq_conn: redis.Redis) -> None:
    for _ in range(5):
        reports.schedule_fold(rq_conn)
    q = queue(REPORTS, rq_conn)
    assert q.get_job_ids() == [FOLD_JOB_ID]
    Events(redis_conn).flag(T0, "+14155550123", "CA1")
    work(rq_conn)
    assert redis_conn.hget(rk.STATE, "cursor")
    reports.schedule_fold(rq_conn)  # finished jobs leave nothing behind (result_ttl=0): a new one may queue
    assert q.get_job_ids() == [FOLD_JOB_ID]


def test_concurrent_folds_count_exactly(redis_conn: redis.Redis, redis_url: str) -> None:
    ev = Events(redis_conn)
    make_world(ev, random.Random(5), 1200)
    expected_client = redis.Redis.from_url(redis_url, decode_responses=True)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            reports.fold(redis.Redis.from_url(redis_url, decode_responses=True), batch=50, settings=settings())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    concurrent = snapshot(redis_conn)
    redis_conn.flushdb()
    for event_id, e in ev.written:
        expected_client.xadd(keys.EVENTS, e, id=event_id)
    reports.fold(expected_client, settings=settings())
    assert snapshot(redis_conn) == concurrent


@pytest.mark.parametrize("kill_at_batch", [1, 3])
def test_worker_killed_mid_job_never_double_counts(redis_conn: redis.Redis, redis_url: str, rq_conn: redis.Redis,
                                                   tmp_path: Path, kill_at_batch: int) -> None:
    ev = Events(redis_conn)
    make_world(ev, random.Random(2), 250)
    batch = 100
    q = queue(REPORTS, rq_conn)
    q.enqueue(reports.fold_job, kwargs={"batch": batch}, job_id="fold-killed")
    marker = tmp_path / "pause"
    env = {**os.environ, "REDIS_URL": redis_url, "IVR_TEST_FOLD_PAUSE_FILE": str(marker),
           "IVR_TEST_FOLD_PAUSE_SECONDS": "60", "IVR_TEST_FOLD_PAUSE_AT": str(kill_at_batch), "IVR_TIMEZONE": "UTC",
           "PYTHONPATH": str(ROOT)}
    rq_bin = Path(sys.executable).with_name("rq")
    proc = subprocess.Popen([str(rq_bin), "worker", "--burst", "-w", "rq.worker.SimpleWorker", "-S", "json",
                             "--url", redis_url, REPORTS], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            lines = marker.read_text().split() if marker.exists() else []
            if len(lines) >= 2 and int(lines[-1]) == kill_at_batch:
                break
            assert proc.poll() is None, "the worker ended before reaching the pause"
            time.sleep(0.05)
        else:
            pytest.fail("the fold never reached its pause")
        assert int(marker.read_text().split()[0]) == proc.pid
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    committed = (kill_at_batch - 1) * batch
    cursor = redis_conn.hget(rk.STATE, "cursor") or ""
    assert cursor == (ev.written[committed - 1][0] if committed else "")
    flags_committed = sum(1 for _i, e in ev.written[:committed] if e["type"] == "flag")
    q_all = reports.Query.build(start="2025-03-01", end="2025-04-10", settings=settings(), now_ms=NOW)
    assert reports.frequency(redis_conn, q_all)["totals"]["flags"] == flags_committed
    # A new delivery of the fold (another worker) finishes the job: every event exactly once.
    q.enqueue(reports.fold_job, kwargs={"batch": batch})
    work(rq_conn)
    killed = snapshot(redis_conn)
    redis_conn.flushdb()
    for event_id, e in ev.written:
        redis_conn.xadd(keys.EVENTS, e, id=event_id)
    reports.fold(redis_conn, settings=settings())
    assert snapshot(redis_conn) == killed
    assert reports.frequency(redis_conn, q_all)["totals"]["flags"] == sum(
        1 for _i, e in ev.written if e["type"] == "flag")


# ---- rebuild, retention, erasure --------------------------------------------------------------------------
def test_rebuild_equals_incremental(redis_conn: redis.Redis) -> None:
    rng = random.Random(13)
    ev = Events(redis_conn)
    rs = settings("America/New_York")
    for round_ in range(4):  # events arrive while folds run, in uneven batches
        make_world(ev, rng, 400, days=5, start=T0 + round_ * 5 * DAY)
        reports.fold(redis_conn, batch=rng.choice([1, 37, 500]), settings=rs)
    incremental = snapshot(redis_conn)
    progress: list[tuple[int, int]] = []
    result = reports.rebuild(redis_conn, settings=rs, progress=lambda done, total: progress.append((done, total)))
    assert result["events"] == len(ev.written)
    assert progress and progress[-1][0] == progress[-1][1]
    assert snapshot(redis_conn) == incremental
    assert not list(redis_conn.scan_iter(match="ivr:agg:tmp:*"))
    ev.flag(T0 + 21 * DAY, "+14155550199", "CA-after")  # folding goes on after a rebuild
    reports.fold(redis_conn, settings=rs)
    assert redis_conn.zscore(rk.bucket(rk.NUM_FLAGS, "*", "2025-03"), "+14155550199") == 1


def test_rebuild_catches_up_with_folds_during_it(redis_conn: redis.Redis, redis_url: str) -> None:
    ev = Events(redis_conn)
    make_world(ev, random.Random(17), 800)
    reports.fold(redis_conn, settings=settings())
    other = redis.Redis.from_url(redis_url, decode_responses=True)
    late = Events(other)
    late.last = ev.last

    def progress(done: int, total: int) -> None:  # more events and a fold while the rebuild reads
        if not late.written:
            late.flag(T0 + 31 * DAY, "+14155550111", "CA-late")
            redis_conn.hset(rk.STATE, "pause_until", 0)
            reports.fold(other, settings=settings())

    reports.rebuild(redis_conn, settings=settings(), progress=progress, batch=100)
    after = snapshot(redis_conn)
    redis_conn.flushdb()
    for event_id, e in ev.written + late.written:
        redis_conn.xadd(keys.EVENTS, e, id=event_id)
    reports.fold(redis_conn, settings=settings())
    assert snapshot(redis_conn) == after


def test_retention_trims_calls_keeps_flags_and_freezes_old_days(redis_conn: redis.Redis) -> None:
    ev = Events(redis_conn)
    old, recent = T0, T0 + 100 * DAY
    ev.call(old, "+14155550100", sid="CA-old", decision="treat", rule="number", treatment="reject")
    ev.call(old + 1000, "+14155550101", sid="CA-old2")
    ev.flag(old + 2000, "+14155550101", "CA-old2")
    ev.add("isolation", old + 3000, call_sid="CA-old2", number="+14155550101", line=LINES[0], outcome="complete",
           seconds="30")
    ev.add("status", old + 4000, call_sid="CA-old2", number="", line="", status="completed", duration="42")
    ev.add("status", old + 5000, call_sid="CA-old", number="", line="", status="busy", duration="0")
    ev.call(recent, "+14155550100", sid="CA-new", decision="treat", rule="number", treatment="reject")
    rs = settings(retention=90)
    result = reports.apply_retention(redis_conn, settings=rs, now_ms=recent + DAY)
    assert result["frozen_before"] == (date(2025, 3, 3) + timedelta(days=101 - 90)).isoformat()
    assert [e["call_sid"] for _i, e in redis_conn.xrange(keys.EVENTS)] == ["CA-new"]
    assert [(e["type"], e["call_sid"]) for _i, e in redis_conn.xrange(rk.KEPT)] == [
        ("flag", "CA-old2"), ("isolation", "CA-old2"), ("status", "CA-old2")]
    q_old = reports.Query.build(start="2025-03-03", end="2025-03-03", settings=rs, now_ms=recent)
    frozen = reports.frequency(redis_conn, q_old)["totals"]
    assert (frozen["calls"], frozen["treated"], frozen["flags"]) == (2, 1, 1)
    before = snapshot(redis_conn)
    reports.rebuild(redis_conn, settings=rs)
    assert snapshot(redis_conn) == before  # frozen days are not rebuilt, retained ones come out the same
    assert reports.frequency(redis_conn, q_old)["totals"] == frozen
    pack = reports.evidence(redis_conn, "+14155550101", settings=rs)
    assert [(c["call_sid"], c["duration"], c["treatment"]) for c in pack["calls"]] == [("CA-old2", "42", "isolation")]


def test_erasure_removes_the_number_everywhere(redis_conn: redis.Redis, redis_url: str) -> None:
    target = "+14155550177"
    ev = Events(redis_conn)
    make_world(ev, random.Random(23), 800, days=20)
    for day in range(20):  # the target calls, is treated and flagged on many days
        ts = T0 + day * DAY + 3_600_000
        ev.call(ts, target, sid=f"CA-t{day}", decision="treat" if day % 2 else "allow", rule="number",
                treatment="reject" if day % 2 else "")
        if not day % 2:
            ev.flag(ts + 10_000, target, f"CA-t{day}", agent=AGENTS[1])
        ev.add("status", ts + 60_000, call_sid=f"CA-t{day}", number="", line="", status="completed", duration="9")
    rs = settings(retention=90)
    reports.fold(redis_conn, settings=rs)
    result = reports.erase_number(redis_conn, target, by="dpo@example.com", reason="GDPR request 42", settings=rs)
    assert result["events_deleted"] == 50  # 20 calls, 10 flags, 20 statuses of its calls
    assert not any(e.get("number") == target for _i, e in redis_conn.xrange(keys.EVENTS))
    assert not any(e.get("number") == target for _i, e in redis_conn.xrange(rk.KEPT))
    assert not any(e.get("call_sid", "").startswith("CA-t") for _i, e in redis_conn.xrange(keys.EVENTS))
    audit = [e for _i, e in redis_conn.xrange(keys.AUDIT) if e["action"] == "erase"]
    assert len(audit) == 1 and audit[0]["by"] == "dpo@example.com" and target not in str(audit[0])
    erased = snapshot(redis_conn)
    assert target not in str(erased)
    # The same world without the target, folded from scratch, gives the same aggregates.
    redis_conn.flushdb()
    for event_id, e in ev.written:
        if e.get("number") != target and not e.get("call_sid", "").startswith("CA-t"):
            redis_conn.xadd(keys.EVENTS, e, id=event_id)
    reports.fold(redis_conn, settings=rs)
    assert snapshot(redis_conn) == erased


def test_erasure_corrects_frozen_days(redis_conn: redis.Redis) -> None:
    target, other = "+14155550188", "+14155550189"
    ev = Events(redis_conn)
    for n, who in enumerate((target, other, target)):
        ts = T0 + n * 1000
        ev.call(ts, who, sid=f"CA{n}", decision="treat", rule="number", treatment="reject")
        ev.call(ts + 100, who, sid=f"CB{n}")
        ev.flag(ts + 200, who, f"CB{n}")
    ev.call(T0 + 100 * DAY, other, sid="CA-new")
    rs = settings(retention=30)
    reports.apply_retention(redis_conn, settings=rs, now_ms=T0 + 100 * DAY)
    day = "2025-03-03"
    for scope in ("*", LINES[0]):
        for period in (day, day[:7], day[:4]):
            assert redis_conn.zscore(rk.bucket(rk.NUM_TREATED, scope, period), target) == 2
    reports.erase_number(redis_conn, target, by="dpo", reason="request 7", settings=rs)
    q = reports.Query.build(start=day, end=day, settings=rs, now_ms=T0 + 100 * DAY)
    src = reports.sources(redis_conn, q)
    assert [(row["number"], row["flags"], row["treated"]) for row in src["top_numbers"]] == [(other, 1, 1)]
    assert [(row["prefix"], row["total"]) for row in src["top_prefixes"]] == [(other[:-4], 2)]
    freq = reports.frequency(redis_conn, q)["totals"]
    assert freq["flags"] == 1  # flags survive in the long-term stream: their counts are corrected exactly
    assert freq["calls"] == 6  # expired calls' anonymous counts stay (the calls themselves are gone)
    assert reports.offenders(redis_conn, q)["blocked"] == [{"number": other, "attempts": 1}]
    for period in (day, day[:7], day[:4]):
        assert redis_conn.zscore(rk.bucket(rk.NUM_TREATED, "*", period), target) is None


def test_erasure_refuses_bad_input(redis_conn: redis.Redis) -> None:
    for number, by, reason, message in (("anonymous", "x", "y", "withheld"), ("", "x", "y", "give the caller"),
                                        ("+14155550123", "", "y", "--by"), ("not a number", "x", "y", "characters")):
        with pytest.raises(ValueError, match=message):
            reports.erase_number(redis_conn, number, by=by, reason=reason, settings=settings())
    assert not redis_conn.exists(keys.AUDIT)


# ---- deterrence, kept stream, schema ----------------------------------------------------------------------
def test_deterrence_compares_isolation_with_reject_and_linefault(redis_conn: redis.Redis) -> None:
    ev = Events(redis_conn)
    iso, rej, lf, door_iso = "+14155550001", "+14155550002", "+14155550003", "+14155550004"
    ev.call(T0, iso, sid="C1")
    ev.flag(T0 + 10_000, iso, "C1")
    ev.add("isolation", T0 + 20_000, call_sid="C1", number=iso, line=LINES[0], outcome="complete", seconds="30")
    ev.call(T0 + 100, rej, sid="C2", decision="treat", rule="number", treatment="reject")
    ev.call(T0 + 200, lf, sid="C3", decision="treat", rule="prefix", treatment="linefault")
    ev.call(T0 + 300, door_iso, sid="C4", decision="treat", rule="number", treatment="isolation")
    ev.add("isolation", T0 + 40_000, call_sid="C4", number=door_iso, line=LINES[0], outcome="abandoned", seconds="3")
    ev.call(T0 + 3 * DAY, iso, sid="C5")  # isolated caller back after 3 days
    ev.call(T0 + 2 * 3_600_000, rej, sid="C6", decision="treat", rule="number", treatment="reject")  # 2 h later
    ev.call(T0 + 40 * DAY, lf, sid="C7")  # too late to count
    rs = settings()
    reports.fold(redis_conn, batch=3, settings=rs)
    q = reports.Query.build(start="2025-03-01", end="2025-03-31", settings=rs, now_ms=T0 + 60 * DAY)
    rows = {row["kind"]: row for row in reports.deterrence(redis_conn, q)["kinds"]}
    assert rows["isolation"]["treatments"] == 2  # the door's isolation and its queue event are one treatment
    assert (rows["isolation"]["returned_1d"], rows["isolation"]["returned_7d"], rows["isolation"]["returned_30d"]) == (
        0, 1, 1)
    assert rows["isolation"]["rate_7d"] == 0.5
    assert rows["reject"]["treatments"] == 2 and rows["reject"]["returned_1d"] == 1
    assert rows["linefault"]["treatments"] == 1 and rows["linefault"]["returned_30d"] == 0
    assert rows["linefault"]["rate_30d"] == 0.0
    early = reports.Query.build(start="2025-03-01", end="2025-03-31", settings=rs, now_ms=T0 + 5 * DAY)
    rows = {row["kind"]: row for row in reports.deterrence(redis_conn, early)["kinds"]}
    assert rows["isolation"]["eligible_1d"] == 2 and rows["isolation"]["eligible_7d"] == 0
    assert rows["isolation"]["rate_7d"] is None


def test_kept_stream_keeps_durations_of_flagged_calls(redis_conn: redis.Redis) -> None:
    ev = Events(redis_conn)
    ev.call(T0, "+14155550050", sid="CA-during")
    ev.flag(T0 + 5000, "+14155550050", "CA-during")
    reports.fold(redis_conn, settings=settings())  # the status arrives in a later batch
    ev.add("status", T0 + 9000, call_sid="CA-during", number="", line="", status="completed", duration="61")
    ev.call(T0 + 10_000, "+14155550050", sid="CA-after")
    ev.add("status", T0 + 20_000, call_sid="CA-after", number="", line="", status="completed", duration="15")
    reports.fold(redis_conn, settings=settings())  # ...and here the flag comes after the call ended
    ev.flag(T0 + 22_000, "+14155550050", "CA-after", via="desk")
    ev.call(T0 + 30_000, "+14155550051", sid="CA-other")
    ev.add("status", T0 + 40_000, call_sid="CA-other", number="", line="", status="completed", duration="7")
    reports.fold(redis_conn, settings=settings())
    kept = [(e["type"], e["call_sid"], e.get("duration", "")) for _i, e in redis_conn.xrange(rk.KEPT)]
    assert kept == [("flag", "CA-during", ""), ("status", "CA-during", "61"), ("flag", "CA-after", "15")]
    kept_ids = [i for i, _e in redis_conn.xrange(rk.KEPT)]
    assert set(kept_ids) <= {i for i, _e in ev.written}
    redis_conn.delete(keys.EVENTS)  # as if every screened call had expired
    pack = reports.evidence(redis_conn, "+14155550050", settings=settings())
    assert [(c["call_sid"], c["duration"], c["flag_via"]) for c in pack["calls"]] == [
        ("CA-during", "61", "key"), ("CA-after", "15", "desk")]


def test_real_screen_and_flag_events_fold(redis_conn: redis.Redis) -> None:
    from blocklist.calls import Calls
    from blocklist.rules import Blocklist, Policy

    bl = Blocklist(redis_conn, Policy(withheld_policy="linefault", burst_calls=0))
    calls = Calls(redis_conn)
    caller = "+14155550142"
    geo = {"FromCity": "SAN FRANCISCO", "FromState": "CA", "FromZip": "94103", "FromCountry": "US",
           "StirVerstat": "TN-Validation-Passed-A"}
    assert not bl.screen(caller, LINES[0], "CA100", extra=geo).blocked
    assert bl.flag(caller, call_sid="CA100", line=LINES[0], via="key", agent=AGENTS[0], reason="abuse",
                   extra=geo).blocked
    assert calls.isolation_started("CA100") and calls.isolation_done("CA100", "complete")
    assert calls.ended("CA100", "completed", "75")
    assert bl.screen(caller, LINES[0], "CA101", extra=geo).rule == "number"
    assert bl.screen("anonymous", LINES[1], "CA102", extra={}).treatment == "linefault"
    bl.flag("anonymous", call_sid="CA102", line=LINES[1], via="desk", agent=AGENTS[1])
    bl.unblock(caller, by="manager", reason="appeal upheld")
    result = reports.fold(redis_conn, settings=settings())
    assert result.folded == 8
    q = reports.Query.build(settings=settings())
    freq = reports.frequency(redis_conn, q)
    assert {k: freq["totals"][k] for k in ("calls", "treated", "flags", "withheld", "blocked_attempts", "unblocks",
                                           "isolations")} == {
        "calls": 3, "treated": 2, "flags": 2, "withheld": 1, "blocked_attempts": 1, "unblocks": 1, "isolations": 1}
    assert freq["door"] == {"by_rule": {"number": 1, "withheld": 1}, "by_treatment": {"linefault": 1, "reject": 1},
                            "by_feed": {}}
    src = reports.sources(redis_conn, q)
    assert src["top_numbers"] == [{"number": caller, "flags": 1, "treated": 1, "total": 2}]
    dims = src["dimensions"]
    assert {r["value"]: r["calls"] for r in dims["stir"]} == {"TN-Validation-Passed-A": 2, "none": 1}
    assert {r["value"]: r["flags"] for r in dims["region"]} == {"US": 1, "withheld": 1}
    assert {r["value"]: r["flags"] for r in dims["city"]} == {"SAN FRANCISCO": 1, "unknown": 1}
    assert src["withheld"]["withheld_flags"] == 1 and src["withheld"]["flag_share"] == 0.5
    log = reports.withheld(redis_conn, q)
    assert [(c["line"], c["call_sid"], c["agent"]) for c in log["calls"]] == [(LINES[1], "CA102", AGENTS[1])]
    agents = reports.agents(redis_conn, q)
    assert {row["agent"]: row["flags"] for row in agents["agents"]} == {AGENTS[0]: 1, AGENTS[1]: 1}
    assert sum(agents["shifts"].values()) == 2
    pack = reports.evidence(redis_conn, caller, settings=settings())
    assert [(c["call_sid"], c["treatment"], c["agent"], c["duration"]) for c in pack["calls"]] == [
        ("CA100", "isolation", AGENTS[0], "75"), ("CA101", "reject", "", "")]
    det = {row["kind"]: row for row in reports.deterrence(redis_conn, q)["kinds"]}
    assert (det["isolation"]["treatments"], det["reject"]["treatments"]) == (1, 1)
    assert [a["action"] for a in pack["actions"]] == ["unblock"]


def test_settings_validation() -> None:
    assert reports.ReportSettings.from_env({}).retention_days == 90
    rs = reports.ReportSettings.from_env({"IVR_REPORT_SHIFTS": "early=6-14,late=14-22,night=22-6",
                                          "IVR_REPORT_MASK_NUMBERS": "1", "IVR_EVENT_RETENTION_DAYS": "30"})
    assert (rs.shift_of(6), rs.shift_of(21), rs.shift_of(23), rs.shift_of(3)) == ("early", "late", "night", "night")
    assert rs.mask_numbers and rs.retention_days == 30
    for env, message in (({"IVR_EVENT_RETENTION_DAYS": "0"}, "at least 1"),
                         ({"IVR_TIMEZONE": "Mars/Olympus"}, "IANA"),
                         ({"IVR_REPORT_SHIFTS": "day=8-8"}, "NAME=START-END"),
                         ({"IVR_REPORT_MASK_NUMBERS": "maybe"}, "write 1")):
        with pytest.raises(ValueError, match=message):
            reports.ReportSettings.from_env(env)
    with pytest.raises(ValueError, match="after"):
        reports.Query.build(start="2025-02-02", end="2025-02-01", settings=rs)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        reports.Query.build(start="yesterday", settings=rs)
    assert reports.split_range(date(2024, 12, 30), date(2026, 2, 2)) == [
        "2024-12-30", "2024-12-31", "2025", "2026-01", "2026-02-01", "2026-02-02"]


def test_erasure_also_removes_the_blocklist_memory_of_the_number(redis_conn: redis.Redis) -> None:
    from blocklist.rules import Blocklist

    target, other = "+14155550177", "+14155550188"
    bl = Blocklist(redis_conn)
    for number in (target, other):
        bl.flag(number, call_sid=f"CA{number[-4:]}" + "0" * 28, line="+18005551212", via="key", agent="a1")
    bl.block(target, by="m", reason="range", scope="+18005551212")
    bl.allow(target, by="m", reason="vip once", scope="+18005550000")
    assert bl.history(target)
    result = reports.erase_number(redis_conn, target, by="dpo", reason="request 7", settings=settings())
    assert result["blocklist"]["blocks"] >= 2
    assert not redis_conn.exists(keys.history(target)) and redis_conn.hget(keys.STRIKES, target) is None
    assert bl.entries(target) == [] and bl.allow_entries(target) == []
    assert target not in str(redis_conn.zrange(keys.BLOCK_INDEX, 0, -1))
    assert bl.history(other) and bl.entries(other)  # nobody else's memory is touched


def test_calls_a_bulk_feed_stopped_are_counted_per_feed_apart_from_manager_blocks(redis_conn: redis.Redis) -> None:
    from blocklist.feeds import text_lines
    from blocklist.rules import Blocklist, Policy

    bl = Blocklist(redis_conn, Policy(burst_calls=0))
    meta = {"licence": "public data", "by": "mgr"}
    bl.import_feed("ftc-dnc", text_lines("+14155550100\n+14155550101\n"), source="FTC complaints", **meta)
    bl.import_feed("carrier", text_lines("+14155550102\n"), source="Carrier robocallers", **meta)
    bl.block("+14155550103", by="mgr", reason="threats", duration=3600)
    for i, number in enumerate(["+14155550100", "+14155550101", "+14155550100", "+14155550102", "+14155550103",
                                "+14155550199"]):
        bl.screen(number, LINES[0], f"CA2{i:02d}", extra={})
    reports.fold(redis_conn, settings=settings())
    door = reports.frequency(redis_conn, reports.Query.build(settings=settings()))["door"]
    assert door["by_rule"] == {"feed": 4, "number": 1}
    assert door["by_feed"] == {"ftc-dnc": 3, "carrier": 1}
    rows = reports.tables("frequency", reports.frequency(redis_conn, reports.Query.build(settings=settings())))
    assert {"by": "feed", "value": "ftc-dnc", "calls": 3} in rows["door"]
