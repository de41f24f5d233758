"""Redis time per screened call as the store grows: `python -m bench.script_cost [--blocks N] [--feed N]`.

Starts an embedded Redis (AOF everysec, as `ivr serve`), answers bench calls (bench/data.py's signed inbound
calls, every caller signal on) through the product's app in process, and reads `INFO commandstats` after each
stage. Each stage adds data: 10 numbers and 10 prefix rules, then 10,000 prefix rules, then --blocks blocks
(written as the CSV import writes them), then a --feed-number bulk feed. It prints the EVALSHA time per call and
each inner command's time per call (the least of three batches per stage). It measures time spent inside Redis only, so the web tier and the load generator do
not blur it.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import redis
from twilio.request_validator import RequestValidator

from bench import data
from bench.runner import AUTH_TOKEN, product_env, settle
from blocklist.rules import Blocklist
from ivr.cli.embedded import EmbeddedRedis

BASE = "http://127.0.0.1:8000"
SKIP = ("cmdstat_evalsha", "cmdstat_config", "cmdstat_info", "cmdstat_bgrewriteaof")


class Stage:
    def __init__(self, r: redis.Redis, client: Any, plan: data.NumberPlan, ruled: set[int], calls: int) -> None:
        self.r, self.client, self.plan, self.ruled, self.calls = r, client, plan, ruled, calls
        self.validator = RequestValidator(AUTH_TOKEN)
        self.rng = random.Random(1)
        self.salt = 10

    def measure(self, label: str, repeats: int = 3) -> None:
        """`repeats` batches of fresh calls; the batch with the least EVALSHA time per call is printed (the
        machine's noise only adds time), with the range over the batches. The AOF is rewritten once, before them,
        so no background rewrite of the stage's new data runs during a batch."""
        settle(self.r)
        rounds = [self._batch() for _ in range(repeats)]
        best = min(rounds, key=lambda pair: pair[0])
        low, high = best[0], max(pair[0] for pair in rounds)
        print(f"{label:34s} {low:6.1f} us per screen (EVALSHA; {low:.0f}-{high:.0f} over {repeats} batches); inside it: "
              + ", ".join(f"{name} {us:.1f}" for name, us in best[1]), flush=True)

    def _batch(self) -> tuple[float, list[tuple[str, float]]]:
        self.salt += 1
        callers = self.plan.callers(self.calls + 300, self.ruled, salt=self.salt)
        requests = []
        for number in callers:
            params = data.incoming_params(data.call_sid(), number, self.rng)
            requests.append((params, self.validator.compute_signature(BASE + "/voice/incoming", params)))
        for params, signature in requests[:300]:  # warm-up, and a check that each call is answered as allowed
            answer = self.client.post("/voice/incoming", data=params, headers={"X-Twilio-Signature": signature})
            if b"<Enqueue" not in answer.data:
                raise RuntimeError(f"a bench caller was not queued: {answer.data[:200]!r}")
        self.r.config_resetstat()
        for params, signature in requests[300:]:
            self.client.post("/voice/incoming", data=params, headers={"X-Twilio-Signature": signature})
        stats = self.r.info("commandstats")
        inner = sorted(((name[8:], row["usec"] / self.calls) for name, row in stats.items() if name not in SKIP),
                       key=lambda item: -item[1])
        return float(stats["cmdstat_evalsha"]["usec_per_call"]), inner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=300_000)
    parser.add_argument("--feed", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ivr-script-cost-"))
    server = EmbeddedRedis(folder / "redis").start()
    try:
        r = redis.Redis.from_url(server.url)
        plan = data.NumberPlan.build()
        exchanges = plan.prefix_exchanges(10_000)
        ruled = set(exchanges)
        data.load_blocklist(r, plan.blocked_numbers(10, ruled))
        data.load_prefixes(r, (plan.exchange(x) for x in exchanges[:10]))
        data.every_signal_on(r)
        os.environ.update(product_env(BASE, folder / "var", REDIS_URL=server.url, IVR_LOG_LEVEL="warning"))
        from ivr import create_app
        stage = Stage(r, create_app().test_client(), plan, ruled, args.calls)
        stage.measure("10 numbers + 10 prefix rules")
        data.load_prefixes(r, (plan.exchange(x) for x in exchanges))
        stage.measure("+ 10,000 prefix rules")
        if args.blocks:
            print(f"loading {args.blocks:,} blocks...", flush=True)
            data.load_blocklist(r, plan.blocked_numbers(args.blocks, ruled))
            stage.measure(f"+ {args.blocks:,} blocks ({r.dbsize():,} keys)")
        if args.feed:
            print(f"importing a {args.feed:,}-number feed...", flush=True)
            path = folder / "feed.csv"
            data.write_feed_csv(path, plan.feed_numbers(args.feed, ruled))
            Blocklist(redis.Redis.from_url(server.url, decode_responses=True)).import_feed(
                "bench-feed", functools.partial(path.open, newline=""), source="bench", licence="bench data",
                by="bench", age_out_days=90)
            stage.measure(f"+ a {args.feed:,}-number feed")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
