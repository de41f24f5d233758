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
from ivr.cli.common import CliError, _Group, redis_client
from workers import reports


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
    """Write the evidence pack of one number: calls.csv, history.csv, audit.csv, calls.json and SHA256SUMS."""
    rs = _settings()
    pack = reports.evidence(_store(), number, settings=rs)
    paths = reports.write_evidence(pack, out)
    _print_table(f"{len(pack['calls'])} calls of {pack['number']}",
                 _for_people([{c: row[c] for c in ("time", "call_sid", "duration", "line", "agent", "treatment")}
                              for row in pack["calls"]], rs))
    click.echo(f"wrote {', '.join(p.name for p in paths)} to {paths[0].parent}")


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
