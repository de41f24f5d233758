"""Summaries, targets and the results files (bench/results/<UTC date-time>.md and .json)."""

from __future__ import annotations

import json
import os
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench import probes

ORDER = ("baseline", "incoming_1m", "incoming_10", "flag", "flag_at_once", "isolation")


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per group, connections and target: medians, and medians of the per-rep ratios to the baseline."""
    by: dict[tuple[str, int], dict[str, dict[int, dict[str, Any]]]] = defaultdict(lambda: defaultdict(dict))
    for run in runs:
        by[(run["group"], run["connections"])][run["target"]][run["rep"]] = run
    rows = []
    for (group, conns), targets in by.items():
        base = targets.get("baseline", {})
        for target in sorted(targets, key=ORDER.index):
            reps = targets[target]
            row: dict[str, Any] = {
                "group": group, "connections": conns, "target": target, "label": next(iter(reps.values()))["label"],
                "runs": len(reps),
                "rps": round(median([r["rps"] for r in reps.values()]), 1),
                "p50_ms": round(median([r["p50_ms"] for r in reps.values()]), 2),
                "p99_ms": round(median([r["p99_ms"] for r in reps.values()]), 2),
                "rps_spread": spread([r["rps"] for r in reps.values()]),
                "errors": sum(r["errors"] for r in reps.values()),
                "wrapped": any(r.get("wrapped") for r in reps.values()),
                "redis_background": sum(bool(r.get("redis_background")) for r in reps.values()),
                "one_worker": sum(probes.one_worker(r) for r in reps.values()),
                "web_ms": round(median([r["web_ms"] for r in reps.values()]), 3),
                "redis_ms": round(median([r["redis_ms"] for r in reps.values()]), 3),
                "load_ms": round(median([r["load_ms"] for r in reps.values()]), 3),
                "redis_round_trips": round(median([r["redis_round_trips"] for r in reps.values()]), 2),
            }
            paired = [rep for rep in reps if rep in base]
            if target != "baseline" and paired:
                row["rps_ratio"] = round(median([reps[i]["rps"] / base[i]["rps"] for i in paired]), 3)
                row["p99_ratio"] = round(median([reps[i]["p99_ms"] / base[i]["p99_ms"] for i in paired]), 3)
                # CPU per request of everything on the box (web + Redis + wrk): what throughput would be
                # if the CPUs were the only limit. Steadier than req/s when other work shares the machine.
                row["cpu_ratio"] = round(median([cpu_total(base[i]) / cpu_total(reps[i]) for i in paired]), 3)
            rows.append(row)
    return rows


def runs_note(runs: int, what: str) -> str:
    """' (3 runs <what>)' for a row some of whose runs were disturbed; '' for none."""
    return f" ({runs} run{'s' if runs > 1 else ''} {what})" if runs else ""


def background_note(runs: int) -> str:
    """A mark on a row some of whose runs shared the machine with a Redis fork (AOF rewrite or RDB snapshot)."""
    return runs_note(runs, "beside a Redis rewrite or snapshot")


def one_worker_note(runs: int) -> str:
    """A mark on a row some of whose runs were served by one gunicorn worker alone (see probes.CpuMeter)."""
    return runs_note(runs, "on one worker")


def cpu_total(run: dict[str, Any]) -> float:
    return max(1e-9, run["web_ms"] + run["redis_ms"] + run["load_ms"])


def spread(values: list[float]) -> float:
    """(max - min) / median: how far apart the repeated runs were."""
    if len(values) < 2:
        return 0.0
    return round((max(values) - min(values)) / median(values), 3)


def list_size_ratios(runs: list[dict[str, Any]], measure: str = "rps") -> dict[int, float]:
    """Median over rounds of 1M list / 10-entry list, per connection count: of req/s, or (measure="cpu")
    of the CPU per request of the 10-entry list over the 1M list's (>1 would mean the big list is cheaper)."""
    pairs: dict[int, dict[int, dict[str, dict[str, Any]]]] = defaultdict(lambda: defaultdict(dict))
    for run in runs:
        if run["group"] == "screen" and run["target"] in ("incoming_1m", "incoming_10"):
            pairs[run["connections"]][run["rep"]][run["target"]] = run
    out = {}
    for conns, reps in pairs.items():
        ratios = [r["incoming_1m"]["rps"] / r["incoming_10"]["rps"] if measure == "rps"
                  else cpu_total(r["incoming_10"]) / cpu_total(r["incoming_1m"])
                  for r in reps.values() if len(r) == 2]
        if ratios:
            out[conns] = round(median(ratios), 3)
    return out


def targets(summary: list[dict[str, Any]], sizes: dict[int, float], extra: dict[str, Any]) -> list[dict[str, Any]]:
    """The bench's targets, each with what was measured in this run."""
    out = []
    for row in summary:
        if row["target"] == "incoming_1m" and "rps_ratio" in row:
            c = row["connections"]
            out.append({"id": f"incoming_rps_c{c}", "name": f"/voice/incoming throughput vs baseline, {c} conns",
                        "measured": row["rps_ratio"], "goal": ">= 0.70", "met": row["rps_ratio"] >= 0.70})
            out.append({"id": f"incoming_p99_c{c}", "name": f"/voice/incoming p99 vs baseline p99, {c} conns",
                        "measured": row["p99_ratio"], "goal": "<= 2.0", "met": row["p99_ratio"] <= 2.0})
    for c, ratio in sorted(sizes.items()):
        out.append({"id": f"list_size_c{c}", "name": f"throughput, 1M-entry list / 10-entry list, {c} conns",
                    "measured": ratio, "goal": "0.90 - 1.10", "met": 0.9 <= ratio <= 1.1})
    for c, ratio in sorted((extra.get("list_size_cpu") or {}).items()):
        out.append({"id": f"list_size_cpu_c{c}", "name": f"CPU per request, 10-entry list / 1M-entry list, {c} conns "
                    "(same check, noise-proof)", "measured": ratio, "goal": "0.90 - 1.10", "met": 0.9 <= ratio <= 1.1})
    for row in summary:
        if row["target"] == "flag" and "rps_ratio" in row:
            c = row["connections"]
            out.append({"id": f"flag_rps_c{c}", "name": f"desk flag throughput vs baseline, {c} conns",
                        "measured": row["rps_ratio"], "goal": ">= 0.50", "met": row["rps_ratio"] >= 0.5})
            out.append({"id": f"flag_round_trips_c{c}", "name": f"Redis round trips per desk flag, {c} conns",
                        "measured": row["redis_round_trips"], "goal": "<= 3", "met": row["redis_round_trips"] <= 3})
    out += feed_targets((extra.get("facts") or {}).get("feed") or {})
    agg = extra.get("aggregation") or {}
    if agg.get("ratio") is not None:
        out.append({"id": "aggregation", "name": "events/s folded by RQ workers / raw pipeline writing the same counters",
                    "measured": agg["ratio"], "goal": ">= 0.50", "met": agg["ratio"] >= 0.5})
    rep = extra.get("report") or {}
    if rep.get("worst_ms") is not None:
        out.append({"id": "report", "name": f"manager report over a year ({rep.get('events', 0):,} events), slowest",
                    "measured": rep["worst_ms"], "goal": "< 300 ms", "met": rep["worst_ms"] < 300})
    return out


def feed_targets(feed: dict[str, Any]) -> list[dict[str, Any]]:
    """The bulk feed's targets: bytes per number at the largest size, import speed and its scaling."""
    sizes = feed.get("sizes") or []
    if not sizes:
        return []
    small, big = sizes[0], sizes[-1]
    out = [{"id": "feed_bytes", "name": f"Redis used_memory per feed number at {big['entries']:,} numbers (as screened; "
            "a feed keeps no per-number history, its audit is one record per import)",
            "measured": big["bytes_per_number"], "goal": "<= 100", "met": big["bytes_per_number"] <= 100}]
    per_million = small["import_seconds"] / small["entries"] * 1e6
    out.append({"id": "feed_import_1m", "name": f"feed import from CSV, seconds per 1,000,000 numbers "
                f"(measured on {small['entries']:,})", "measured": round(per_million, 1), "goal": "<= 15",
                "met": per_million <= 15})
    if big is not small:
        scaling = (big["import_seconds"] / big["entries"]) / max(1e-9, small["import_seconds"] / small["entries"])
        out.append({"id": "feed_import_scaling", "name": f"feed import time per number, {big['entries']:,} / "
                    f"{small['entries']:,} (in proportion)", "measured": round(scaling, 3), "goal": "<= 1.25",
                    "met": scaling <= 1.25})
    return out


def projection(feed: dict[str, Any], target: int = 100_000_000) -> list[str]:
    """The arithmetic from the measured bytes per number to a feed of `target` numbers."""
    sizes = feed.get("sizes") or []
    if not sizes:
        return []
    big = sizes[-1]
    per = big["bytes_per_number"]
    data_gb = per * target / 1e9
    seconds = big["import_seconds"] / big["entries"] * target
    return [
        f"- **{target:,} numbers on one primary:** {per:.1f} bytes x {target:,} = **{data_gb:.2f} GB** of "
        f"used_memory for the feed (the buckets grow with the list, so bytes per number stay flat: measured "
        + ", ".join(f"{s['bytes_per_number']:.1f} at {s['entries']:,}" for s in sizes) + "). An AOF rewrite forks "
        f"Redis; pages the parent changes meanwhile are copied, at worst all of them, so give the host about "
        f"2 x {data_gb:.1f} + the rest of the store; `maxmemory` at least {data_gb * 1.3:.1f} GB for the feed "
        f"(fragmentation, buffers). Import at the measured rate: {big['import_seconds']:.0f} s / "
        f"{big['entries']:,} x {target:,} = about {seconds / 60:.0f} minutes, the old version screened meanwhile; "
        f"while both versions exist (until the swap frees the old one) the feed needs twice its memory.",
        "- **Redis Cluster:** a script may touch keys of one hash slot only, and the screen reads the call's own "
        "keys, the line's settings, the manager lists and every feed in force in its one round trip. So the keys "
        "of one call must share one hash tag. Two layouts keep that: (a) one tag for the whole store "
        "(`{ivr}:...`): everything lives in one slot, i.e. on one shard: Cluster adds failover but no room, "
        f"and the {data_gb:.1f} GB must fit one shard, which it does on any current server; (b) one tag per line "
        "(`{+18005551212}:...` for the line's calls, settings and its copy of the lists): lines spread over "
        f"shards, but a feed that covers every line is kept once per tag, so L lines cost L x {data_gb:.1f} GB in "
        f"all (e.g. 10 lines on 5 shards: {10 * data_gb:.0f} GB, {2 * data_gb:.1f} GB a shard). Splitting one "
        "list across shards by number (a tag from the number's bucket) would break the one-round-trip screen, "
        "since the line's settings and the call's record live elsewhere. Measured here: a single primary; the "
        "keys today carry no hash tag, so running on Cluster needs layout (a) or (b) first.",
    ]


def previous(out_dir: Path, exclude: str, before: str = "~") -> tuple[str, dict[str, Any]] | None:
    """The newest results file in `out_dir` other than `exclude` (and older than `before`), as
    (link to its .md relative to `out_dir`, its data)."""
    # Bench runs only (named by their UTC time): soak results and other files live alongside them.
    files = sorted(p for p in out_dir.glob("[0-9]*.json") if p.stem != exclude and p.stem < before)
    if not files:
        return None
    try:
        return files[-1].with_suffix(".md").name, json.loads(files[-1].read_text())
    except (OSError, ValueError):
        return None


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def successes_only(run: dict[str, Any]) -> None:
    """A run recorded before refusals were counted apart (no `answered_rps`): its req/s, CPU and round trips per
    request counted every answer, a 503 "busy" too (the desk flag at 32 connections, past IVR_DESK_CONCURRENCY,
    was refused up to half the time). Recount them per successful request, as load.run does now."""
    if "answered_rps" in run or not run.get("errors"):
        run.setdefault("answered_rps", run["rps"])
        return
    answered = run["requests"]
    ok = max(0, answered - run["errors"])
    per_ok = answered / ok if ok else float("inf")
    run["answered_rps"], run["rps"], run["requests"] = run["rps"], round(ok / run["seconds"], 1), ok
    for name in ("web_ms", "redis_ms", "load_ms", "redis_round_trips"):
        run[name] = round(run[name] * per_ok, 3)


def finish(result: dict[str, Any]) -> None:
    """Derive summary, list-size ratios and targets from the raw runs (also to re-render an old file)."""
    for run in result["runs"]:
        successes_only(run)
    result["summary"] = summarise(result["runs"])
    sizes = list_size_ratios(result["runs"])
    result["list_size"] = {str(k): v for k, v in sizes.items()}
    result["list_size_cpu"] = {str(k): v for k, v in list_size_ratios(result["runs"], "cpu").items()}
    result["targets"] = targets(result["summary"], sizes, result)


def markdown(result: dict[str, Any], prev: tuple[str, dict[str, Any]] | None) -> str:
    """The results file a person reads."""
    o, facts = result["options"], result["facts"]
    lines = [f"# Bench results {result['stamp']}", ""]
    lines += [f"- Command: `{result['command']}`" + (" (quick: smaller sizes, shorter runs)" if o["quick"] else ""),
              f"- Product: {result['tree']}",
              f"- Machine: {result['machine']}",
              f"- Each web figure is the median of {o['reps']} interleaved runs of {o['seconds']:g} s "
              "(baseline and product alternate, order rotated each round); ratios are medians of the per-round "
              "ratios. Absolute numbers depend on the machine; the ratios are the headline.",
              "- Each round of the screen calls from numbers no server has screened before (runs before "
              "2026-12-07 15:53 replayed the same callers every round), and every Redis rewrites its AOF before "
              "each group of runs, so no rewrite of its own starts in a timed run; a run that still shared the "
              "machine with a Redis fork is marked in *errors*."]
    if o.get("note"):
        lines.append(f"- Note: {o['note']}")
    lines += ["", "## Targets", "", "| Target | Measured | Goal | Met |", "|---|---:|---|---|"]
    for t in result["targets"]:
        lines.append(f"| {t['name']} | {fmt(t['measured'], 3 if t['measured'] < 10 else 1)} | {t['goal']} | "
                     f"{'yes' if t['met'] else '**no**'} |")
    lines += ["", "## Web endpoints", "",
              "| Endpoint | Conns | req/s | p50 ms | p99 ms | req/s / baseline | p99 / baseline | spread | "
              "CPU ms/req web / Redis / wrk | CPU-bound estimate | Redis round trips/req | errors |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    for row in result["summary"]:
        lines.append(
            f"| {row['label']} | {row['connections']} | {fmt(row['rps'])} | {fmt(row['p50_ms'], 2)} | "
            f"{fmt(row['p99_ms'], 2)} | {fmt(row.get('rps_ratio'), 3)} | {fmt(row.get('p99_ratio'), 3)} | "
            f"{row['rps_spread']:.0%} | {row['web_ms']:.2f} / {row['redis_ms']:.2f} / {row['load_ms']:.2f} | "
            f"{fmt(row.get('cpu_ratio'), 3)} | "
            f"{fmt(row['redis_round_trips'], 2)} | {row['errors']}{' (wrapped!)' if row['wrapped'] else ''}"
            f"{background_note(row.get('redis_background', 0))}{one_worker_note(row.get('one_worker', 0))} |")
    if result["summary"]:
        lines += ["", "req/s counts successful answers only; *errors* are the rest (a desk request past "
                  "IVR_DESK_CONCURRENCY is answered 503 \"busy\" at once, by design: the webhooks keep their threads), "
                  "and CPU and round trips are per successful request. p50 and p99 include the refusals' quick "
                  "answers. req/s and p99 ratios pair each run with the baseline run of the same round. *spread* is "
                  "(max - min) / median of req/s over the rounds. *CPU-bound estimate* is the baseline's CPU per "
                  "request (web + Redis + wrk) over the endpoint's: the throughput ratio if the CPUs were the only "
                  "limit, which holds steadier than req/s when other work shares the machine. Round trips are "
                  "Redis socket reads per request (a pipeline or a script counts once)."]
    mem = facts.get("blocklist_memory", {})
    web = facts.get("web_memory", {})
    feed = facts.get("feed") or {}
    if feed.get("sizes"):
        lines += ["", "## Bulk feed (a national-size list)", "",
                  "The feed is imported with the product's own code (`ivr feeds import`) from a CSV of number, reports "
                  "and last-seen date, into the same Redis as the blocklist above; the larger version replaces the "
                  "smaller one by the atomic swap. The screen of every `/voice/incoming` call above looked it up.", "",
                  "| Numbers | Import s | Numbers/s | used_memory MB | Bytes per number | Buckets | Encoding | File MB | "
                  "AOF rewrite during the import |",
                  "|---:|---:|---:|---:|---:|---:|---|---:|---|"]
        for size in feed["sizes"]:
            rewrite = {True: "yes", False: "no"}.get(size.get("aof_rewrite"), "not recorded")  # runs before 2026-12-07 04:10
            lines.append(f"| {size['entries']:,} | {size['import_seconds']:.1f} | {size['numbers_per_second']:,} | "
                         f"{size['used_memory_mb']:.1f} | {size['bytes_per_number']:.1f} | {size['buckets']:,} | "
                         f"{size['bucket_encoding']} | {size['file_mb']:.1f} | {rewrite} |")
        lines += ["", "What each byte pays for: a number is one field of a small hash (its ten or so digits as an "
                  "integer-encoded string, plus one value packing the last-seen second and the report count), kept "
                  "in a ziplist of about 64 fields with a one-to-two-byte header per entry; the bucket's key, its "
                  "dict entry and the ziplist's own header (about 100 bytes a bucket) are shared by 64 numbers. "
                  "Expiry lives in the value (last seen + the feed's age-out), exact to the second for the screen; "
                  "the sweeper frees aged-out numbers.", "", "### Projection", ""]
        lines += projection(feed)
    lines += ["", "## Memory", "",
              f"- Redis, per blocklist entry as the CSV import writes it (block hash, listing index, history, "
              f"event and audit records): **{fmt(mem.get('bytes_per_entry_total'))} bytes** "
              f"({fmt(mem.get('entries'), 0)} entries, {fmt(mem.get('used_memory_mb'))} MB used in all, loaded in "
              f"{fmt(mem.get('load_seconds'))} s).",
              f"  - what the screen reads (block hash + index member): {fmt(mem.get('bytes_per_entry_screen'))} bytes "
              f"(hash {fmt(mem.get('bytes_block_hash'))}, index {fmt(mem.get('bytes_index_member'))}); history list "
              f"{fmt(mem.get('bytes_history'))}; event + audit stream entries {fmt(mem.get('bytes_event_and_audit'))}.",
              f"- Redis, per prefix rule: {fmt(mem.get('bytes_per_prefix_rule'))} bytes "
              f"({fmt(mem.get('prefix_rules'), 0)} rules).",
              ]
    for name, label in (("product", "product (1M list)"), ("product_10", "product (10-entry list)"),
                        ("baseline", "baseline")):
        m = web.get(name)
        if m:
            lines.append(f"- Web worker, {label}: RSS {m['rss'] / 2**20:.0f} MiB, PSS {m['pss'] / 2**20:.0f} MiB "
                         f"(median of {m['workers']} gunicorn workers, after the runs).")
    agg, rep = result.get("aggregation") or {}, result.get("report") or {}
    lines += ["", "## Aggregation and reports", ""]
    if agg.get("error") or rep.get("error"):
        lines.append(f"- Not measured: {agg.get('error') or rep.get('error')}")
    if agg.get("ratio") is not None:
        lines.append(f"- Fold by the RQ worker (`ivr worker`, fold jobs enqueued as a flag does): "
                     f"**{fmt(agg['fold_events_per_s'], 0)} events/s** ({fmt(agg['events'], 0)} events, "
                     f"{fmt(agg['fold_seconds'], 2)} s). Raw pipeline (read the same events, count them with the "
                     f"same Folder, write the counters with plain HINCRBY/ZINCRBY pipelines; no RQ, no exactly-once "
                     f"guard, no archive): {fmt(agg['raw_events_per_s'], 0)} events/s ({fmt(agg['raw_seconds'], 2)} s, "
                     f"{fmt(agg.get('raw_commands'), 0)} commands); ratio **{agg['ratio']:.3f}**.")
        if agg.get("detail"):
            lines.append(f"  - {agg['detail']}")
    if rep.get("worst_ms") is not None:
        lines.append(f"- Reports over a year of data ({fmt(rep['events'], 0)} events, {rep['days']} days; folded in "
                     f"{fmt(rep.get('fold_seconds'), 1)} s): slowest **{fmt(rep['worst_ms'])} ms**.")
        lines += ["", "| Report | median ms | worst ms |", "|---|---:|---:|"]
        for name, t in rep["timings"].items():
            lines.append(f"| {name} | {fmt(t['median_ms'])} | {fmt(t['worst_ms'])} |")
    if prev:
        name, old = prev
        old_targets = {t["id"]: t for t in old.get("targets", [])}
        lines += ["", f"## Compared with [{Path(name).stem}]({name})", "",
                  "| Target | Previous | Now |", "|---|---:|---:|"]
        for t in result["targets"]:
            before = old_targets.get(t["id"])
            lines.append(f"| {t['name']} | {fmt(before['measured'], 3) if before else '-'} | "
                         f"{fmt(t['measured'], 3)} |")
        old_rows = {(r["target"], r["connections"], r["group"]): r for r in old.get("summary", [])}
        lines += ["", "| Endpoint | Conns | req/s previous | req/s now | p99 ms previous | p99 ms now |",
                  "|---|---:|---:|---:|---:|---:|"]
        for row in result["summary"]:
            o_row = old_rows.get((row["target"], row["connections"], row["group"]))
            lines.append(f"| {row['label']} | {row['connections']} | {fmt(o_row['rps']) if o_row else '-'} | "
                         f"{fmt(row['rps'])} | {fmt(o_row['p99_ms'], 2) if o_row else '-'} | {fmt(row['p99_ms'], 2)} |")
    lines += ["", "## Every run", "", "<details><summary>raw runs</summary>", "",
              "| Group | Conns | Rep | Target | req/s | p50 ms | p99 ms | max ms | errors | CPU web/redis/wrk ms | "
              "round trips |", "|---|---:|---:|---|---:|---:|---:|---:|---:|---|---:|"]
    for r in result["runs"]:
        lines.append(f"| {r['group']} | {r['connections']} | {r['rep'] + 1} | {r['target']} | {fmt(r['rps'])} | "
                     f"{fmt(r['p50_ms'], 2)} | {fmt(r['p99_ms'], 2)} | {fmt(r['max_ms'], 1)} | {r['errors']} | "
                     f"{r['web_ms']:.2f}/{r['redis_ms']:.2f}/{r['load_ms']:.2f} | {r['redis_round_trips']:.2f} |")
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def write(out_dir: Path, result: dict[str, Any]) -> tuple[Path, Path, tuple[str, dict[str, Any]] | None]:
    out_dir.mkdir(parents=True, exist_ok=True)
    prev = previous(out_dir, result["stamp"])
    md = out_dir / f"{result['stamp']}.md"
    js = out_dir / f"{result['stamp']}.json"
    js.write_text(json.dumps(result, indent=1, sort_keys=False) + "\n")
    md.write_text(markdown(result, prev))
    return md, js, prev


def rerender(path: Path, against: Path | None = None) -> Path:
    """Rebuild a results file's summary, targets and .md from its .json (after a change to this module),
    compared with `against` (another results .json) or else with the previous file in its folder."""
    result = json.loads(path.read_text())
    finish(result)
    path.write_text(json.dumps(result, indent=1, sort_keys=False) + "\n")
    if against is not None:
        link = os.path.relpath(against.with_suffix(".md"), path.parent)
        prev: tuple[str, dict[str, Any]] | None = (link, json.loads(against.read_text()))
    else:
        prev = previous(path.parent, result["stamp"], before=result["stamp"])
    md = path.with_suffix(".md")
    md.write_text(markdown(result, prev))
    return md


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.results", description=rerender.__doc__)
    parser.add_argument("files", nargs="+", type=Path, help="results .json files to render again")
    parser.add_argument("--against", type=Path, help="compare with this results .json")
    args = parser.parse_args()
    for name in args.files:
        print(rerender(name, args.against))
