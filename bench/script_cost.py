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


def cut_points(text: str) -> list[tuple[int, str]]:
    """(line index, label) of each paragraph's first top-level statement in a script: a line at column 0 that
    starts a statement, after a blank line or a comment. Returning just before one leaves valid Lua."""
    lines = text.splitlines()
    points = []
    for i, line in enumerate(lines):
        before = lines[i - 1].strip() if i else ""
        if line[:1].isalpha() and not line.startswith(("end", "else")) and (not before or before.startswith("--")):
            points.append((i, line.strip()[:64]))
    return points


def sections(stage: Stage) -> None:
    """Where the screen script's time goes: one batch of the stage's bench calls is answered through the app and
    their KEYS and ARGV kept; then the script is run on them cut short before each paragraph (an early return), one
    call at a time as the web tier sends them, the state the calls wrote removed before each pass. Prints the time
    per call up to each cut, and each paragraph's share (the least of three passes)."""
    from blocklist import scripts, store

    captured: list[tuple[list[str], list[Any]]] = []
    original = store.FastScript.__call__

    def keep(self: store.FastScript, keys: list[str], args: list[Any]) -> Any:
        captured.append((list(keys), list(args)))
        return original(self, keys, args)

    r = stage.r
    store.FastScript.__call__ = keep  # type: ignore[method-assign,assignment]
    try:
        stage._batch()
    finally:
        store.FastScript.__call__ = original  # type: ignore[method-assign]
    captured = captured[300:]  # the batch's warm-up calls wrote nothing the passes remove

    def forget() -> None:
        pipe = r.pipeline(transaction=False)
        for keys_, _args in captured:
            pipe.delete(keys_[6], keys_[8], keys_[12], keys_[13])  # burst window, call, campaign window and marker
        pipe.delete(data.keys.EVENTS, data.keys.REVIEW, data.keys.REVIEW_INFO)
        pipe.execute()

    def per_call(text: str) -> float:
        sha = r.script_load(text)
        best = float("inf")
        for _ in range(3):
            forget()
            r.config_resetstat()
            for keys_, args in captured:
                r.evalsha(sha, len(keys_), *keys_, *args)
            best = min(best, float(r.info("commandstats")["cmdstat_evalsha"]["usec_per_call"]))
        return best

    text = scripts.source("screen")
    lines = text.splitlines()
    early = "do return {'allow', 'none', '', '', 'new', 'en'} end"
    previous = 0.0
    print(f"\nscreen.lua cut short before each paragraph ({len(captured):,} calls replayed one at a time):")
    print(f"{'up to line':>10}  {'us per call':>11}  {'this part':>9}  part starting with")
    rows = [(i, label, per_call("\n".join([*lines[:i], early, *lines[i:]]))) for i, label in cut_points(text)]
    rows.append((len(lines), "(the whole script)", per_call(text)))
    for number, (i, _label, us) in enumerate(rows):
        part = rows[number - 1][1] if number else "(the call itself, KEYS and ARGV)"
        print(f"{i + 1:>10}  {us:>11.1f}  {us - previous:>9.1f}  {part}")
        previous = us
    forget()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=300_000)
    parser.add_argument("--feed", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--sections", action="store_true",
                        help="only the 10-number stage, then the script's time paragraph by paragraph")
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
        if args.sections:
            settle(r)
            sections(stage)
            return
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
