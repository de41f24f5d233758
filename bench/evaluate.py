"""`python -m bench.evaluate`: the detection targets on the default month, timed.

Runs what `ivr evaluate` runs (the same month, the same code: ivr/evaluate/), on a throwaway Redis, and adds
what a bench wants besides the figures: the wall time of each part, calls screened per second, and Redis round
trips per call (the screen must stay one script call per call: flags, block expiries and the one read of the
event stream at the end are the rest). Writes results/evaluate/<UTC date-time>.md and .json and exits 1 when a
target is missed or the default month takes a minute or more.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.__main__ import tree
from bench.probes import reads
from blocklist.clock import format_time
from blocklist.policy import Policy
from blocklist.settings import Settings
from ivr.cli.evaluate import render, throwaway_redis
from ivr.evaluate import population, run

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "evaluate"
WALL_LIMIT_S = 60.0


def measure(seed: int, days: int, customers_per_day: int) -> dict[str, Any]:
    """The default policy over the month: figures, targets, times and round trips."""
    settings = Settings.from_env()
    policy = Policy.from_settings(settings)
    started = time.monotonic()
    month = population.build(seed, population.Scale(days=days, customers_per_day=customers_per_day))
    built = time.monotonic() - started
    with throwaway_redis() as conn:
        before = reads(conn)
        played_at = time.monotonic()
        current = run.evaluate(conn, month, policy, default_region=settings.default_region)
        played = time.monotonic() - played_at
        round_trips = reads(conn) - before - 1  # this second INFO is one read
    calls = len(month.calls)
    wall = time.monotonic() - started
    return {"seed": seed, "days": days, "customers_per_day": customers_per_day,
            "month_start": format_time(run.START_MS),
            "lines": list(month.scale.lines), "population": month.summary(), "current": current,
            "timing": {"build_s": round(built, 2), "play_s": round(played, 2), "wall_s": round(wall, 2),
                       "calls_per_s": round(calls / played) if played else None,
                       "round_trips": round_trips, "round_trips_per_call": round(round_trips / max(1, calls), 3),
                       "screens": calls, "flags": current["store"]["flags"],
                       "blocks_expired": current["store"]["blocks_expired"]}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.evaluate", description=__doc__)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--customers-per-day", type=int, default=400)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for <UTC date-time>.md/.json")
    args = p.parse_args(argv)
    result = measure(args.seed, args.days, args.customers_per_day)
    result["tree"] = tree()
    t = result["timing"]
    table = render(result)
    missed = [x for x in result["current"]["targets"] if x["status"] == "MISS"]
    slow = t["wall_s"] >= WALL_LIMIT_S
    text = (f"# ivr evaluate bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC ({result['tree']})\n\n```\n{table}\n```\n\n"
            f"- wall time {t['wall_s']} s (month built in {t['build_s']} s, played in {t['play_s']} s: "
            f"{t['calls_per_s']:,} calls/s); limit {WALL_LIMIT_S:g} s: {'MISS' if slow else 'PASS'}\n"
            f"- Redis round trips: {t['round_trips']:,} for {t['screens']:,} screens, {t['flags']:,} flags and "
            f"{t['blocks_expired']:,} block expiries ({t['round_trips_per_call']} per call)\n")
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    (args.out / f"{stamp}.md").write_text(text)
    (args.out / f"{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(text)
    print(f"written to {args.out / stamp}.md and .json")
    return 1 if missed or slow else 0


if __name__ == "__main__":
    sys.exit(main())
