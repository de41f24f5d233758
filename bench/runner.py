"""The web part of the bench: load the data, start the servers, run interleaved wrk runs, measure memory."""

from __future__ import annotations

import functools
import itertools
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from twilio.request_validator import RequestValidator

from bench import data, load, probes, servers
from blocklist.rules import Blocklist
from blocklist.store import connect
from ivr.cli.embedded import EmbeddedRedis
from ivr.cli.serve import PRODUCT_APP

AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
API_TOKEN = "bench-api-token-8d2f6a1c9b7e4035d1e8f2a6c0b9d7e3"


def product_env(base_url: str, data_dir: Path, **more: str) -> dict[str, str]:
    """The settings every bench run of the product has: the bench's Twilio account, signatures checked against
    `base_url`, and a REST address no request can leave the machine by; `more` adds or overrides."""
    return {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_ACCOUNT_SID": data.ACCOUNT_SID, "PUBLIC_BASE_URL": base_url,
            "IVR_API_TOKEN": API_TOKEN, "IVR_DATA_DIR": str(data_dir), "TWILIO_API_BASE_URL": "http://127.0.0.1:9",
            **more}
BASELINE_MEMBERS = 10


@dataclass
class Options:
    """Sizes and durations of one bench run."""

    quick: bool = False
    seconds: float = 8.0
    reps: int = 5
    entries: int = 1_000_000
    prefixes: int = 10_000
    small_entries: int = 10
    feed_entries: int = 10_000_000  # a national-size bulk feed beside the blocklist (0: none)
    feed_step: int = 1_000_000  # imported first, measured, then replaced by the full feed
    events: int = 1_000_000
    warmup_seconds: float = 2.0
    note: str = ""

    @classmethod
    def make(cls, quick: bool, **overrides: Any) -> Options:
        base = cls(quick=True, seconds=3.0, reps=3, entries=100_000, events=200_000, warmup_seconds=1.0,
                   feed_entries=1_000_000, feed_step=100_000) if quick else cls()
        for name, value in overrides.items():
            if value is not None:
                setattr(base, name, value)
        return base

    @property
    def set_size(self) -> int:
        """Distinct incoming calls per request file: more than the fastest target sends in one run."""
        return int(self.seconds * 6000) + 2000


@dataclass
class Target:
    """One endpoint under load: a web server, the Redis it uses, its requests and how to reuse them."""

    key: str
    label: str
    web: servers.Web
    redis_server: EmbeddedRedis
    requests: Callable[[], Path]
    reset: Callable[[], None] = lambda: None
    stateless: bool = False  # replaying the same request is as costly as a fresh one
    new_round: Callable[[], None] = lambda: None  # called once at the start of each interleaved round
    wait_retry_after: bool = False  # the client waits Retry-After after a 503 (load.run), as the desk does

    @functools.cached_property
    def client(self) -> redis.Redis:
        return redis.Redis(port=self.redis_server.port, decode_responses=True)


@dataclass
class WebBench:
    options: Options
    folder: Path
    log: Callable[[str], None]
    runs: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    webs: list[servers.Web] = field(default_factory=list)
    redises: list[EmbeddedRedis] = field(default_factory=list)

    # ---- set-up ------------------------------------------------------------------------------------------
    def start_redis(self, name: str) -> tuple[EmbeddedRedis, redis.Redis]:
        server = servers.start_redis(self.folder / name)
        self.redises.append(server)
        return server, redis.Redis(port=server.port, decode_responses=True)

    def start_web(self, name: str, app: str, env: dict[str, str], port: int = 0) -> servers.Web:
        web = servers.Web(name, app, env, self.folder, servers.web_workers(), port=port).start()
        self.webs.append(web)
        return web

    def load_lists(self, big: redis.Redis, small: redis.Redis, plan: data.NumberPlan,
                   big_url: str) -> tuple[set[int], list[str]]:
        """1M (or --entries) numbers + prefix rules on `big`, a 10-entry list on `small`; memory per entry.
        `big_url`: big's address, for the feed import's own client (load_feed)."""
        o = self.options
        ruled = set(plan.prefix_exchanges(o.prefixes))
        settle(big)
        before = data.memory(big)["used_memory"]
        started = time.monotonic()
        self.log(f"loading {o.entries:,} blocklist entries (the CSV import's write set, pipelined)...")
        data.load_blocklist(big, plan.blocked_numbers(o.entries, ruled))
        load_s = time.monotonic() - started
        settle(big)
        after_numbers = data.memory(big)["used_memory"]
        data.load_prefixes(big, (plan.exchange(x) for x in sorted(ruled)))
        settle(big)
        after_prefixes = data.memory(big)["used_memory"]
        sample = list(plan.blocked_numbers(2000, ruled))
        self.facts["blocklist_memory"] = {
            "entries": o.entries,
            "prefix_rules": o.prefixes,
            "load_seconds": round(load_s, 1),
            "bytes_per_entry_total": round((after_numbers - before) / o.entries, 1),
            "bytes_per_entry_screen": round(mean_usage(big, [data.keys.block("*", n) for n in sample])
                                            + usage(big, data.keys.BLOCK_INDEX) / o.entries, 1),
            "bytes_block_hash": round(mean_usage(big, [data.keys.block("*", n) for n in sample]), 1),
            "bytes_index_member": round(usage(big, data.keys.BLOCK_INDEX) / o.entries, 1),
            "bytes_history": round(mean_usage(big, [data.keys.history(n) for n in sample]), 1),
            "bytes_event_and_audit": round((usage(big, data.keys.EVENTS) + usage(big, data.keys.AUDIT)) / o.entries, 1),
            "bytes_per_prefix_rule": round((after_prefixes - after_numbers) / max(1, o.prefixes), 1),
            "used_memory_mb": round(after_prefixes / 2**20, 1),
        }
        if o.feed_entries:
            self.load_feed(big, plan, ruled, big_url)
        small_ruled = set(sorted(ruled)[: o.small_entries])
        data.load_blocklist(small, plan.blocked_numbers(o.small_entries, ruled))
        data.load_prefixes(small, (plan.exchange(x) for x in sorted(small_ruled)))
        for r in (big, small):
            data.every_signal_on(r)
        settle(small)
        return ruled, sample

    def load_feed(self, big: redis.Redis, plan: data.NumberPlan, ruled: set[int], url: str) -> None:
        """A bulk feed on `big` through the product's own import (`ivr feeds import`): feed_step numbers first,
        then a version of feed_entries numbers replacing it (the atomic swap). Import time and used_memory per
        number at both sizes; the buckets' encoding; a sample of members the screen must find.

        The import runs on the client `ivr feeds import` makes (blocklist.store.connect: commands packed by
        hiredis); runs before 2026-12-07 03:00 used a plain redis-py client, which packs in Python."""
        o = self.options
        bl = Blocklist(connect(url, socket_timeout=30))
        settle(big)
        before = data.memory(big)["used_memory"]
        sizes: list[dict[str, Any]] = []
        for count in sorted({min(o.feed_step, o.feed_entries), o.feed_entries}):
            path = self.folder / f"feed-{count}.csv"
            self.log(f"writing a feed file of {count:,} numbers...")
            data.write_feed_csv(path, plan.feed_numbers(count, ruled))
            self.log("importing it as feed bench-feed (`ivr feeds import`'s code path)...")
            aof_before = big.info("persistence")
            started = time.monotonic()
            result = bl.import_feed("bench-feed", functools.partial(path.open, newline=""), source="bench",
                                    licence="bench data", by="bench", age_out_days=90)
            seconds = time.monotonic() - started
            aof_after = big.info("persistence")
            # Redis 6.2 counts no rewrites: a rewrite that ran (or still runs) during the import changed the base
            rewrote = bool(aof_after.get("aof_base_size") != aof_before.get("aof_base_size")
                           or aof_after.get("aof_rewrite_in_progress"))
            if not result.written or result.entries != count:
                raise RuntimeError(f"the bench feed did not import: {result.summary()}")
            settle(big)
            used = data.memory(big)["used_memory"] - before
            feed = bl.feed("bench-feed")
            assert feed is not None
            bucket = data.keys.feed_bucket(feed.name, feed.version, 0)
            sizes.append({"entries": count, "import_seconds": round(seconds, 3),
                          "numbers_per_second": round(count / seconds), "bytes_per_number": round(used / count, 1),
                          "used_memory_mb": round(used / 2**20, 1), "buckets": feed.buckets,
                          "bucket_encoding": big.object("encoding", bucket),
                          "file_mb": round(path.stat().st_size / 2**20, 1), "aof_rewrite": rewrote})
            self.log(f"  {count:,} numbers in {seconds:.1f} s, {used / count:.1f} bytes per number in used_memory"
                     f"{'; Redis rewrote its AOF meanwhile' if rewrote else ''}")
            path.unlink()
        self.facts["feed"] = {"sizes": sizes, "sample": list(itertools.islice(plan.feed_numbers(5, ruled), 5))}

    # ---- the run -----------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        o = self.options
        plan = data.NumberPlan.build()
        big_server, big = self.start_redis("redis-1m")
        small_server, small = self.start_redis("redis-10")
        ruled, blocked_sample = self.load_lists(big, small, plan, big_server.url)
        big.sadd("bench:baseline:blocked", *blocked_sample[:BASELINE_MEMBERS])

        port = servers.free_port()
        base_url = f"http://127.0.0.1:{port}"  # the public URL every target validates signatures against
        env = product_env(base_url, self.folder / "var")  # no REST call may leave the machine
        self.log(f"starting gunicorn x3 ({servers.web_workers()} workers, 4 threads each, as `ivr serve`)...")
        product_1m = self.start_web("product-1m", PRODUCT_APP, {**env, "REDIS_URL": big_server.url}, port)
        product_10 = self.start_web("product-10", PRODUCT_APP, {**env, "REDIS_URL": small_server.url})
        baseline = self.start_web("baseline", "bench.baseline_app:create_app()",
                                  {**env, **servers.BASELINE_ENV, "REDIS_URL": big_server.url})

        validator = RequestValidator(AUTH_TOKEN)
        per_flag_run = int(o.seconds * 2500)
        # One pool of distinct numbers, split: no caller is both a flag target (then blocked) and an incoming
        # caller, and each screen round calls from numbers no server has seen (FreshCallers). Flag runs: a
        # warm-up and one per round for "flag" at 2 and 32 connections, and for "flag_at_once" at 32.
        screen_sets = 1 + 2 * o.reps  # the warm-up, then a round of each of the two screen groups
        pool = plan.callers(screen_sets * o.set_size + (o.reps * 3 + 2) * per_flag_run + 10, ruled, salt=1)
        incoming = FreshCallers(self.folder, validator, base_url, iter(pool[: screen_sets * o.set_size]), o.set_size)
        isolation = data.isolation_wait_set(self.folder, validator, base_url)
        spare = iter(pool[screen_sets * o.set_size:])
        flag_runs = [0]

        def flag_file() -> Path:
            flag_runs[0] += 1
            sids = data.screened_calls(big, [next(spare) for _ in range(per_flag_run)])
            return data.flag_set(self.folder, f"flag-{flag_runs[0]}", API_TOKEN, sids)

        feed_label = f" + a {o.feed_entries:,}-number feed" if o.feed_entries else ""
        targets = {
            "baseline": Target("baseline", "baseline (signature + SISMEMBER + fixed TwiML)", baseline, big_server,
                               incoming.file, stateless=True),
            "incoming_1m": Target("incoming_1m", f"/voice/incoming, {o.entries:,} numbers{feed_label} + "
                                  f"{o.prefixes:,} prefixes",
                                  product_1m, big_server, incoming.file, lambda: incoming.reset(big),
                                  new_round=incoming.next_round),
            "incoming_10": Target("incoming_10", f"/voice/incoming, {o.small_entries} numbers", product_10,
                                  small_server, incoming.file, lambda: incoming.reset(small),
                                  new_round=incoming.next_round),
            "flag": Target("flag", "POST /api/calls/<sid>/flag (desk flag, live call; a 503 \"busy\" is retried "
                           "after its Retry-After, as the desk and the API's documented clients do)", product_1m,
                           big_server, flag_file, wait_retry_after=True),
            "flag_at_once": Target("flag_at_once", "POST /api/calls/<sid>/flag (the same, from clients that ignore "
                                   "Retry-After and send again at once: the cost of refusing; no target)", product_1m,
                                   big_server, flag_file),
            "isolation": Target("isolation", "/voice/isolation/wait (isolation TwiML)", product_1m, big_server,
                                lambda: isolation, stateless=True),
        }
        self.check(targets, validator, base_url, [next(spare), next(spare)], blocked_sample)
        for t in targets.values():
            self.log(f"warm-up {t.key}")
            load.run(t.key, t.web.url, t.requests(), 32, o.warmup_seconds)
            t.reset()

        groups = [
            ("screen", 2, ["baseline", "incoming_1m", "incoming_10"]),
            ("screen", 32, ["baseline", "incoming_1m", "incoming_10"]),
            ("flag+isolation", 2, ["baseline", "flag", "isolation"]),
            ("flag+isolation", 32, ["baseline", "flag", "flag_at_once", "isolation"]),
        ]
        for group, conns, keys_ in groups:
            self.interleave(group, conns, [targets[k] for k in keys_])
        self.facts["web_memory"] = {
            "product": product_1m.worker_memory(),
            "product_10": product_10.worker_memory(),
            "baseline": baseline.worker_memory(),
        }
        self.facts["redis_version"] = big.info("server")["redis_version"]
        return {"runs": self.runs, "facts": self.facts}

    def interleave(self, group: str, conns: int, targets: list[Target]) -> None:
        """reps x (baseline, product...), rotating the order each rep; a ratio pairs runs of one rep.

        Every Redis rewrites its AOF first: the previous group's writes would otherwise set off Redis's own
        rewrite (at 100% growth: of the 1M store, a fork and about 15 s of one CPU) in the middle of a timed run.
        Each run still records whether a rewrite or a snapshot ran meanwhile (`redis_background`)."""
        o = self.options
        stores = [redis.Redis(port=server.port) for server in self.redises]
        for store in stores:
            settle(store)
        for rep in range(o.reps):
            for new_round in dict.fromkeys(t.new_round for t in targets):  # once each (bound methods compare equal)
                new_round()
            shift = rep % len(targets)
            for t in targets[shift:] + targets[:shift]:
                requests = t.requests()
                r = t.client
                reads = probes.reads(r)
                background = [probes.persistence(store) for store in stores]
                meter = probes.CpuMeter([t.web.process.pid, *t.web.worker_pids()] if t.web.process else [],
                                        [t.redis_server.process.pid] if t.redis_server.process else []).start()
                result = load.run(t.key, t.web.url, requests, conns, o.seconds, wait_retry_after=t.wait_retry_after)
                cpu = meter.stop(result.requests)
                trips = (probes.reads(r) - reads - 1) / max(1, result.requests)
                busy = any(probes.background_work(before, probes.persistence(store))
                           for before, store in zip(background, stores, strict=True))
                t.reset()
                row = {**result.to_dict(), "group": group, "rep": rep, "label": t.label, **cpu,
                       "redis_round_trips": round(trips, 2), "wrapped": bool(result.wraps) and not t.stateless,
                       "redis_background": busy}
                self.runs.append(row)
                self.log(f"  {group:15} c={conns:<3} rep {rep + 1}/{o.reps} {t.key:12} {result.rps:8.1f} req/s  "
                         f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  errors {result.errors}  "
                         f"cpu/req web {cpu['web_ms']:.2f} redis {cpu['redis_ms']:.2f} wrk {cpu['load_ms']:.2f} ms  "
                         f"round trips {trips:.2f}{'  WRAPPED' if row['wrapped'] else ''}"
                         f"{'  REDIS REWROTE OR SAVED MEANWHILE' if busy else ''}"
                         f"{'  ONE WORKER SERVED IT ALL' if probes.one_worker(row) else ''}")

    # ---- correctness before speed --------------------------------------------------------------------------
    def check(self, targets: dict[str, Target], validator: RequestValidator, base_url: str, callers: list[str],
              blocked_sample: list[str]) -> None:
        """Every target answers what it should before it is timed: a fast wrong answer is no result."""
        import random

        rng = random.Random("check")
        caller = callers[0]

        def incoming_line(number: str) -> str:
            return data.signed(validator, base_url, "/voice/incoming",
                               data.incoming_params(data.call_sid(), number, rng)).render()

        expectations = [
            ("baseline", incoming_line(caller), 200, "<Enqueue"),
            ("incoming_1m", incoming_line(caller), 200, "<Enqueue"),
            ("incoming_1m", incoming_line(blocked_sample[0]), 200, "<Reject"),
            ("incoming_10", incoming_line(caller), 200, "<Enqueue"),
            ("isolation", targets["isolation"].requests().read_text().split("\n", 1)[0], 200, "<Leave"),
        ]
        for number in (self.facts.get("feed") or {}).get("sample", [])[:2]:
            expectations.append(("incoming_1m", incoming_line(number), 200, "<Reject"))
        bad = data.signed(validator, base_url, "/voice/incoming", data.incoming_params(data.call_sid(), caller, rng))
        forged = ("y" if bad.value.startswith("x") else "x") + bad.value[1:]  # always differs from the real one
        bad_line = data.RequestLine(bad.path, bad.header, forged, bad.content_type, bad.body).render()
        expectations.append(("incoming_1m", bad_line, 403, "Forbidden"))
        flag_sid = data.screened_calls(targets["flag"].client, callers[1:2])[0]
        flag_file = data.flag_set(self.folder, "flag-check", API_TOKEN, [flag_sid])
        expectations.append(("flag", flag_file.read_text().strip(), 202, '"flagged"'))
        for key, line, status, needle in expectations:
            got_status, _ctype, body = probes.send(targets[key].web.url, line)
            if got_status != status or needle not in body:
                tail = "\n".join(targets[key].web.log.read_text(errors="replace").splitlines()[-25:])
                raise RuntimeError(f"{key}: expected {status} with {needle!r}, got {got_status}: {body[:300]}\n"
                                   f"--- end of {targets[key].web.log}:\n{tail}")
        self.log("checked: every target answers correctly (allowed, blocked, in the feed, forged signature, flag, "
                 "isolation)")

    def stop(self) -> None:
        for web in self.webs:
            web.stop()
        for server in self.redises:
            server.stop()


class FreshCallers:
    """The incoming calls of the screen's runs: a new set of callers for every round, so no web server screens a
    caller twice (a line's callers are mostly new ones; a replayed caller would find the per-process number caches
    warm) and the Redis keys a round writes are new ones. Starts with a set for the warm-ups."""

    def __init__(self, folder: Path, validator: RequestValidator, base_url: str, pool: Iterator[str],
                 size: int) -> None:
        self.folder, self.validator, self.base_url, self.pool, self.size = folder, validator, base_url, pool, size
        self.made = 0
        self.current = self._make()

    def _make(self) -> data.IncomingSet:
        callers = list(itertools.islice(self.pool, self.size))
        if len(callers) < self.size:
            raise RuntimeError("the bench's caller pool ran out: more screen rounds than it was sized for")
        self.made += 1
        return data.incoming_set(self.folder, f"incoming-{self.made}", self.validator, self.base_url, callers)

    def next_round(self) -> None:
        self.current.file.unlink(missing_ok=True)
        self.current = self._make()

    def file(self) -> Path:
        return self.current.file

    def reset(self, r: redis.Redis) -> None:
        self.current.reset(r)


def settle(r: redis.Redis, timeout: float = 600) -> None:
    """Rewrite the AOF and wait until Redis is quiet, so memory readings and runs see no background work."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = r.info("persistence")
        if not info.get("aof_rewrite_in_progress") and not info.get("rdb_bgsave_in_progress"):
            break
        time.sleep(0.5)
    r.bgrewriteaof()
    time.sleep(0.5)
    while time.monotonic() < deadline:
        info = r.info("persistence")
        if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
            return
        time.sleep(0.5)


def usage(r: redis.Redis, key: str) -> int:
    return int(r.memory_usage(key, samples=0) or 0)


def mean_usage(r: redis.Redis, keys_: list[str]) -> float:
    pipe = r.pipeline(transaction=False)
    for key in keys_:
        pipe.memory_usage(key, samples=0)
    return statistics.fmean(int(v or 0) for v in pipe.execute())
