"""`ivr evaluate`: how well the screening policy filters, measured on a seeded simulated month.

The month (ivr/evaluate/population.py) is played through the real screen and flag in virtual time on a
Redis of its own, started here in a temporary folder and deleted afterwards: the live store is never read
or written. `--set NAME=VALUE` is a dry run of a rule change: the same month under the current policy and
under the changed one, side by side. Every problem is one `error: ...` line and exit status 2.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import redis

from blocklist import keys
from blocklist.clock import format_time
from blocklist.parse import format_ladder
from blocklist.policy import Policy
from ivr.cli.common import CliError, settings
from ivr.cli.embedded import EmbeddedRedis
from ivr.evaluate import population, run
from ivr.evaluate.metrics import difference

# A throwaway server: nothing to keep, so no AOF or snapshots (they would only cost the run time).
THROWAWAY = ["--appendonly", "no", "--save", ""]
LABEL_WIDTH = 52


@contextmanager
def throwaway_redis() -> Iterator[redis.Redis]:
    """A redis-server of our own in a temporary folder, stopped and deleted on the way out."""
    with tempfile.TemporaryDirectory(prefix="ivr-evaluate-") as folder:
        server = EmbeddedRedis(Path(folder), extra=THROWAWAY).start()
        try:
            conn = redis.Redis.from_url(server.url, decode_responses=True, socket_timeout=60)
            yield conn
            conn.close()
        finally:
            server.stop()


def parse_sets(pairs: tuple[str, ...]) -> dict[str, str]:
    """NAME=VALUE pairs as a dict; CliError for one without '='."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise CliError(f"--set {pair!r}: write NAME=VALUE, e.g. --set campaign_action=reject")
        out[name.strip()] = value.strip()
    return out


@click.command("evaluate", context_settings={"max_content_width": 110})
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the simulated month.")
@click.option("--days", type=int, default=30, show_default=True, help="Length of the month in days (1-366).")
@click.option("--customers-per-day", type=int, default=400, show_default=True,
              help="Customer calls a day; harassers, groups, campaigns and robocallers scale with --days.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Dry run: a line setting to change (repeatable); prints the current and the changed policy "
                   "side by side.")
@click.option("--line", default=keys.GLOBAL, show_default=True,
              help="The line the --set changes apply to ('*' all lines).")
@click.option("--json", "as_json", is_flag=True, help="The figures as JSON.")
def command(seed: int, days: int, customers_per_day: int, sets: tuple[str, ...], line: str, as_json: bool) -> None:
    """Measure the screening policy on a seeded simulated month (offline, on a Redis of its own).

    Ordinary customers, repeat harassers, groups, rotating campaigns and robocallers call the simulated
    lines; every call goes through the real screen, agents flag the harassing calls that get through, and
    blocks end on the sanction ladder in virtual time. Prints precision and recall of the stops at the door,
    customers falsely blocked, time to block, the share of harassing calls stopped after a flag, campaigns
    caught and agent-minutes spent on harassers, with the detection targets.
    """
    changes = parse_sets(sets)
    if line != keys.GLOBAL and not changes:
        raise CliError("--line names the line the --set changes apply to: give --set NAME=VALUE too")
    try:
        scale = population.Scale(days=days, customers_per_day=customers_per_day)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    s = settings()
    policy = Policy.from_settings(s)
    started = time.monotonic()
    with throwaway_redis() as conn:
        try:
            scope = run.check_changes(conn, policy, changes, line, scale.lines, s.default_region) if changes else ""
        except ValueError as exc:
            raise CliError(str(exc)) from None
        month = population.build(seed, scale)
        result: dict[str, Any] = {
            "seed": seed, "days": days, "customers_per_day": customers_per_day,
            "month_start": format_time(run.START_MS), "lines": list(scale.lines), "population": month.summary(),
        }
        with _progress(len(month.calls), "current policy") as tick:
            result["current"] = run.evaluate(conn, month, policy, default_region=s.default_region, progress=tick)
        if changes:
            with _progress(len(month.calls), "changed policy") as tick:
                result["changed"] = run.evaluate(conn, month, policy, changes, scope, s.default_region, tick)
            result["difference"] = difference(result["current"]["figures"], result["changed"]["figures"])
    click.echo(f"evaluated {len(month.calls):,} calls in {time.monotonic() - started:.1f} s", err=True)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(render(result))


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A click progress bar on stderr (as `ivr blocklist import` shows one), when stderr is a terminal: piped,
    click would print only the label, and the run's closing line says what was done."""
    if not sys.stderr.isatty():
        yield lambda _n: None
        return
    with click.progressbar(length=total, label=f"{label:<15}", file=sys.stderr) as bar:
        yield bar.update


# ---- the table -------------------------------------------------------------------------------------

def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def _minutes(v: float | None) -> str:
    if v is None:
        return "never"
    if abs(v) < 120:
        return f"{v:.1f} min"
    if abs(v) < 48 * 60:
        return f"{v / 60:.1f} h"
    return f"{v / 1440:.1f} d"


def _calls(v: float | None) -> str:
    return "never" if v is None else f"{v:g}"


def _int(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def _tenth(v: float | None) -> str:
    return "-" if v is None else f"{v:,.1f}"


# (label, values of one policy's figures, formatter of each value)
Row = tuple[str, Callable[[dict[str, Any]], list[float | None]], Callable[[float | None], str]]
ROWS: list[Row] = [
    ("Stopped at the door: bad calls / all calls", lambda f: [f["door"]["stopped_bad"], f["door"]["stopped"]], _int),
    ("Precision of the stops (bad / stopped)", lambda f: [f["door"]["precision"]], _pct),
    ("Recall of the stops (stopped / bad calls)", lambda f: [f["door"]["recall"]], _pct),
    ("Customers falsely blocked: calls / customers", lambda f: [f["false_blocks"]["calls"],
                                                                  f["false_blocks"]["customers"]], _int),
    ("Time to block a harasser, calls: median / p90", lambda f: [f["time_to_block"]["calls"]["median"],
                                                                   f["time_to_block"]["calls"]["p90"]], _calls),
    ("Time to block a harasser, time: median / p90", lambda f: [f["time_to_block"]["minutes"]["median"],
                                                                  f["time_to_block"]["minutes"]["p90"]], _minutes),
    ("Harassers never stopped at the door", lambda f: [f["time_to_block"]["never_stopped"]], _int),
    ("Harassing attempts after the first flag, stopped", lambda f: [f["harassers_after_first_flag"]["share"]], _pct),
    ("Group calls after the first flag, no agent", lambda f: [f["groups_after_first_flag"]["share"]], _pct),
    ("Campaigns caught in time / caught", lambda f: [f["campaigns"]["caught_in_time"], f["campaigns"]["caught"]], _int),
    ("Campaign detection, calls: median / worst", lambda f: [f["campaigns"]["calls"]["median"],
                                                               f["campaigns"]["calls"]["worst"]], _calls),
    ("Campaign detection, time: median / worst", lambda f: [f["campaigns"]["minutes"]["median"],
                                                              f["campaigns"]["minutes"]["worst"]], _minutes),
    ("Agent-minutes on harassers (all bad calls)", lambda f: [f["agent_minutes"]["bad"]], _tenth),
    *[(f"  of which {kind}", (lambda k: lambda f: [f["agent_minutes"]["by_kind"].get(k, 0.0)])(kind), _tenth)
      for kind in population.BAD_KINDS],
    ("Agent-minutes on customers", lambda f: [f["agent_minutes"]["by_kind"].get("customer", 0.0)], _tenth),
    *[(f"Stopped at the door: {kind} calls", (lambda k: lambda f: [f["door"]["by_kind"].get(k, {}).get("stopped", 0)])(
        kind), _int) for kind in population.KINDS],
]


def _cell(values: list[float | None], fmt: Callable[[float | None], str]) -> str:
    return " / ".join(fmt(v) for v in values)


def _delta(a: list[float | None], b: list[float | None], fmt: Callable[[float | None], str]) -> str:
    parts = []
    for x, y in zip(a, b, strict=True):
        if x is None or y is None:
            parts.append("-" if x == y else "changed")
            continue
        d = y - x
        shown = f"{abs(d) * 100:.1f} pp" if fmt is _pct else fmt(abs(d))  # a share's change: percentage points
        parts.append("0" if d == 0 else ("+" if d > 0 else "-") + shown)
    return " / ".join(parts)


def _policy_lines(evaluated: dict[str, Any]) -> list[str]:
    policy = evaluated["policy"]
    settings_ = dict(policy["all_lines"])
    settings_["sanction_ladder"] = format_ladder(settings_.get("sanction_ladder", ""))
    words = [f"{k}={v}" for k, v in settings_.items() if v != ""]
    out, line = [], " "
    for word in words:
        if len(line) + len(word) > 104:
            out.append(line)
            line = " "
        line += " " + word
    out.append(line)
    for scope, own in policy["lines"].items():
        out.append(f"  line {scope}: " + " ".join(f"{k}={v}" for k, v in own.items()))
    return out


def render(result: dict[str, Any]) -> str:
    """The figures as a table a person reads, the changed policy beside the current one when there is one."""
    current, changed = result["current"], result.get("changed")
    pop = result["population"]
    calls = pop["calls"]
    out = [f"ivr evaluate: seed {result['seed']}, {result['days']} days from {result['month_start'][:10]} (virtual "
           f"time), lines {', '.join(result['lines'])}",
           f"Month: {pop['total_calls']:,} calls: " + ", ".join(f"{calls[k]:,} {k}" for k in population.KINDS)
           + " (callers: " + ", ".join(f"{pop['callers'][k]:,} {k}" for k in population.KINDS) + ")",
           "Policy used (current):", *_policy_lines(current)]
    if changed:
        where = "all lines" if changed["changes_line"] == keys.GLOBAL else f"line {changed['changes_line']}"
        out.append(f"Changed policy: {', '.join(f'{k}={v}' for k, v in changed['changes'].items())} on {where}")
    out.append("")
    header = f"{'':<{LABEL_WIDTH}} {'current':>22}"
    if changed:
        header += f" {'changed':>22} {'difference':>22}"
    out.append(header)
    for label, values, fmt in ROWS:
        a = values(current["figures"])
        row = f"{label:<{LABEL_WIDTH}} {_cell(a, fmt):>22}"
        if changed:
            b = values(changed["figures"])
            row += f" {_cell(b, fmt):>22} {_delta(a, b, fmt):>22}"
        out.append(row)
    out.append("")
    fb = current["figures"]["false_blocks"]
    out.append(f"Out of {fb['customer_calls']:,} customer calls from {fb['distinct_customers']:,} customers; "
               f"{current['figures']['door']['bad_calls']:,} bad calls.")
    out.append("")
    out.append("Targets for the default policy:")
    for i, target in enumerate(current["targets"]):
        line = f"  {target['status']:<5} {target['target']}: {target['measured']}"
        if changed:
            other = changed["targets"][i]
            line += f"  | changed: {other['status']} {other['measured']}"
        out.append(line)
    return "\n".join(out)
