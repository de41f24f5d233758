"""`ivr report ...`: the harassment reports in the terminal, as files, and their upkeep (fold, rebuild, erase)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import redis

from blocklist.clock import human_time
from blocklist.numbers import normalize
from ivr.cli.common import CliError, _Group, redis_client
from ivr.cli.common import settings as common_settings
from workers import reports
from workers.reports import exports
from workers.reports import unreported as unreported_hint


def _store() -> redis.Redis:
    """The Redis every `ivr` command uses: REDIS_URL, else the embedded one of a running `ivr serve`."""
    return redis_client(timeout=60)


def _settings() -> reports.ReportSettings:
    try:
        return reports.ReportSettings.from_env()
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _query_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--from", "start", metavar="YYYY-MM-DD", help="First day (default: 29 days before --to)."),
        click.option("--to", "end", metavar="YYYY-MM-DD", help="Last day (default: today)."),
        click.option("--line", help="Only this line (the number callers dialled)."),
        click.option("--mask/--no-mask", default=None, help="Hide the last digits of numbers "
                     "(default: IVR_REPORT_MASK_NUMBERS; masking set there cannot be turned off)."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables."),
        click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Also write the files here."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _query(start: str | None, end: str | None, line: str | None, mask: bool | None) -> reports.Query:
    rs = _settings()
    return reports.Query.build(start=start, end=end, line=line, mask=rs.mask_numbers or bool(mask), settings=rs)


def _print_table(title: str, rows: list[dict[str, Any]], limit: int = 40) -> None:
    click.secho(title, bold=True)
    if not rows:
        click.echo("  (none)\n")
        return
    columns = list(dict.fromkeys(k for row in rows for k in row))
    shown = rows[:limit]
    text = [[_fmt(row.get(c, "")) for c in columns] for row in shown]
    widths = [max(len(c), *(len(r[i]) for r in text)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(row.get(c), int | float) or row.get(c) is None for row in shown) for c in columns]
    click.echo("  " + "  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(columns, widths, numeric,
                                                                                     strict=True)))
    for r in text:
        click.echo("  " + "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(r, widths, numeric,
                                                                                         strict=True)))
    if len(rows) > limit:
        click.echo(f"  ... {len(rows) - limit} more rows (use --out for the full CSV)")
    click.echo()


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1%}" if value <= 1 else f"{value:.2f}"
    return str(value)


_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


def _for_people(rows: list[dict[str, Any]], rs: reports.ReportSettings) -> list[dict[str, Any]]:
    """Rows for the terminal: the ISO times the CSV and JSON keep, as people read them in the report's zone,
    which the column's heading names once; the UTC copy of a time is left out, so no time shows twice."""
    out = []
    for row in rows:
        shown: dict[str, Any] = {}
        for key, value in row.items():
            if key == "utc":
                continue
            if isinstance(value, str) and _ISO_TIME.match(value):
                ms = int(datetime.fromisoformat(value).timestamp() * 1000)
                shown[f"{key} ({rs.timezone})"] = human_time(ms, rs.tz, seconds=True, zone_name=False)
            else:
                shown[key] = value
        out.append(shown)
    return out


def _show(name: str, data: dict[str, Any], rs: reports.ReportSettings) -> None:
    for table, rows in reports.tables(name, data).items():
        _print_table(f"{name}: {table}", _for_people(rows, rs))


def _report_command(name: str) -> click.Command:
    func = reports.REPORT_FUNCS[name]

    @_query_options
    def command(start: str | None, end: str | None, line: str | None, mask: bool | None, as_json: bool,
                out: Path | None) -> None:
        q = _query(start, end, line, mask)
        r = _store()
        data = func(r, q)
        if as_json:
            click.echo(json.dumps({"meta": reports.meta(r, q), name: data}, indent=2, ensure_ascii=False))
        else:
            click.secho(f"{name} report, {q.start} to {q.end}, {q.line or 'all lines'} ({q.settings.timezone})",
                        fg="cyan")
            _show(name, data, q.settings)
        if out:
            out.mkdir(parents=True, exist_ok=True)
            for table, rows in reports.tables(name, data).items():
                (out / f"{name}-{table}.csv").write_text(reports.to_csv(rows))
            (out / f"{name}.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
            click.echo(f"wrote {name}-*.csv and {name}.json to {out}", err=True)

    command.__doc__ = (func.__doc__ or name).splitlines()[0]
    return click.command(name)(command)


@click.group(cls=_Group)
def group() -> None:
    """Harassment reports: print them, write CSV/HTML files, fold, rebuild, evidence packs, erasure."""


for _name in reports.REPORTS:
    group.add_command(_report_command(_name))


@group.command("summary")
@_query_options
def summary(start: str | None, end: str | None, line: str | None, mask: bool | None, as_json: bool,
                out: Path | None) -> None:
    """Every report; with --out, also report.json, every CSV and the printable report.html."""
    q = _query(start, end, line, mask)
    r = _store()
    data = reports.summary(r, q)
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        for name in reports.REPORTS:
            _show(name, data[name], q.settings)
    if out:
        written = reports.write_report_files(r, q, out)
        click.echo(f"wrote {len(written)} files to {out} (open report.html to print)", err=True)


@group.command()
@click.option("--batch", default=reports.DEFAULT_BATCH, show_default=True, help="Events per transaction.")
def fold(batch: int) -> None:
    """Fold new events into the aggregates now (safe to run next to the workers)."""
    rs = _settings()
    result = reports.fold(_store(), batch=batch, settings=rs)
    if result.paused:
        click.echo("a rebuild is swapping its aggregates in; folds resume when it is done")
    head = result.cursor.split("-", 1)[0]  # a stream id starts with the event's milliseconds
    through = human_time(int(head), rs.tz) if head.isdigit() else "nothing yet"
    click.echo(f"folded {result.folded} events in {result.batches} batches; reports include events up to {through}")


@group.command()
def rebuild() -> None:
    """Recompute the retained window from the raw events and swap it in (frozen days stay as they are)."""
    r = _store()
    with click.progressbar(length=1, label="rebuilding", show_pos=True) as bar:
        def step(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        result = reports.rebuild(r, progress=step, settings=_settings())
    click.echo(f"rebuilt {result['events']} events, days {result['from'] or '-'} to {result['to'] or '-'}")


@group.command()
def retention() -> None:
    """Trim screened-call events older than IVR_EVENT_RETENTION_DAYS and freeze those days."""
    result = reports.apply_retention(_store(), settings=_settings())
    click.echo(f"trimmed {result['trimmed']} events; aggregates before {result['frozen_before']} are frozen")


@group.command()
@click.argument("number")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write the evidence pack into.")
def evidence(number: str, out: Path) -> None:
    """Write the evidence pack of one number: calls.csv, history.csv, audit.csv, calls.json, the FTC complaint,
    traceback request and warning letter (when a call was flagged or treated) and SHA256SUMS."""
    rs = _settings()
    pack = reports.evidence(_store(), number, settings=rs)
    paths = reports.write_evidence(pack, out)
    _print_table(f"{len(pack['calls'])} calls of {pack['number']}",
                 _for_people([{c: row[c] for c in ("time", "call_sid", "duration", "line", "agent", "treatment")}
                              for row in pack["calls"]], rs))
    click.echo(f"wrote {', '.join(p.name for p in paths)} to {paths[0].parent}")


@group.command("export")
@click.argument("kind", type=click.Choice(list(exports.KINDS)))
@click.argument("number")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the file here and its SHA-256 line to FILE.sha256 (default: print the file).")
def export(kind: str, number: str, out: Path | None) -> None:
    """One export of a number's evidence pack alone: ftc (FTC complaint CSV), traceback (carrier traceback
    request CSV) or letter (warning letter); we prepare them, a person files or sends them."""
    pack = reports.evidence(_store(), number, settings=_settings())
    name, data = exports.export_file(pack, kind)  # ValueError / LookupError: one error line, nothing written
    if out is None:
        click.echo(data.decode(), nl=False)
        click.echo(exports.manifest_line(name, data), nl=False, err=True)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    reports.write_atomic(out, data)
    reports.write_atomic(out.with_name(f"{out.name}.sha256"), exports.manifest_line(out.name, data).encode())
    click.echo(f"wrote {out} and {out.name}.sha256 (sha256 {exports.sha256_hex(data)}; {name} in the evidence pack)")


@group.command()
@click.option("--days", default=unreported_hint.DEFAULT_DAYS, show_default=True, help="Look back this many days (1-30).")
@click.option("--short-seconds", type=int, help="A short call is at most this long (default IVR_SHORT_CALL_SECONDS).")
@click.option("--line", help="Only this line (the number callers dialled).")
@click.option("--mask/--no-mask", default=False, help="Hide the last digits of numbers.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def unreported(days: int, short_seconds: int | None, line: str | None, mask: bool, as_json: bool) -> None:
    """The unreported-abuse hint: short calls the agent ended, `*` with no move, repeat callers never flagged."""
    s = common_settings()
    try:
        scope = normalize(line, s.default_region) if line else None
        data = unreported_hint.unreported(_store(), short_seconds=short_seconds or s.short_call_seconds, days=days,
                                          line=scope, masked=mask)
    except ValueError as exc:
        raise CliError(f"{exc}; --days is 1 to 30, --short-seconds 1 to 600, --line a line's number") from None
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    counts, meta = data["counts"], data["meta"]
    click.secho(f"Unreported-abuse hint, last {meta['days']} days, {meta['line']}: {unreported_hint.HINT}", bold=True)
    click.echo(f"  calls the agent ended within {meta['short_seconds']} s, no flag or move: "
               f"{counts['short_agent_ended']}")
    click.echo(f"  calls with * and then no move:                    {counts['star_no_move']}")
    click.echo(f"  numbers reaching agents {meta['repeat_calls']}+ times, never flagged:    {counts['repeat_unflagged']}")
    click.echo()
    rs = _settings()

    def rows(items: list[dict[str, Any]], *extra: str) -> list[dict[str, Any]]:
        return [{f"time ({rs.timezone})": human_time(row["at"], rs.tz, seconds=True, zone_name=False),
                 **{c: row[c] for c in ("call_sid", "agent", "number", "line", *extra)}} for row in items]

    _print_table("Short calls the agent ended", rows(data["short_agent_ended"], "seconds"))
    _print_table("* with no move", rows(data["star_no_move"]))
    _print_table("Repeat callers never flagged", [{"number": row["number"], "calls": row["calls"]}
                                                  for row in data["repeat_unflagged"]])


@group.command()
@click.argument("number")
@click.option("--by", required=True, help="Who asked for the erasure (recorded in the audit log).")
@click.option("--reason", required=True, help="Why, e.g. the request's reference (recorded in the audit log).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase(number: str, by: str, reason: str, yes: bool) -> None:
    """Erase one number from the events and the reports (audited; the retained window is rebuilt)."""
    if not yes:
        click.confirm(f"Erase every event of {number} and remove it from all reports? This cannot be undone",
                      abort=True)
    r = _store()
    with click.progressbar(length=1, label="rebuilding", show_pos=True) as bar:
        def step(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        result = reports.erase_number(r, number, by=by, reason=reason, settings=_settings(), progress=step)
    click.echo(f"erased {result['number']}: {result['events_deleted']} events deleted, "
               f"{result['buckets_corrected']} report buckets corrected, retained window rebuilt")
