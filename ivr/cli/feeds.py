"""`ivr feeds ...`: bulk feeds, the national-size lists carriers and regulators publish (blocklist/feeds.py).

A feed is someone else's list, kept as one unit: imported whole (a new version replaces the old one at once),
listed, exported, deleted; one number can be taken out on appeal. Manager blocks stay in `ivr blocklist`;
`ivr feeds adopt` moves the blocks an old bulk CSV import made into a feed (blocklist/feed_adopt.py).
Every problem prints one line `error: ...` on stderr and exits 2; a bad file changes nothing.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

import click

from blocklist import keys
from blocklist.clock import format_time
from blocklist.feed_adopt import adopt_imported
from blocklist.feeds import Feed, FeedEntry, parse_seen
from blocklist.policy import TREATMENTS
from ivr.cli.blocklist import ImportProgress, _bl, _default_by, _when
from ivr.cli.common import CliError, _Group


def _feed_line(f: Feed) -> str:
    ages = f"ages out {f.age_out_days} d after the last report" if f.age_out_days else "never ages out"
    where = "all lines" if f.scope == keys.GLOBAL else f"line {f.scope}"
    extra = "".join(f", {n} {what}" for n, what in ((f.removed, "taken out"), (f.swept, "aged out")) if n)
    return (f"{f.name}: {f.listed:,} numbers from {f.source} (licence: {f.licence}), fetched {_when(f.fetched_at)}, "
            f"{ages}, {f.treatment or 'line treatment'} on {where}; imported {_when(f.imported_at)} by {f.by}{extra}")


def _card(f: Feed) -> dict[str, Any]:
    return {**f.to_dict(), "fetched": format_time(f.fetched_at), "imported": format_time(f.imported_at)}


@click.group("feeds", cls=_Group)
def group() -> None:
    """Bulk feeds: carriers' and regulators' lists of numbers (millions), kept apart from manager blocks."""


@group.command("list")
@click.option("--json", "as_json", is_flag=True)
def feeds_list(as_json: bool) -> None:
    """The feeds in force."""
    found = _bl().feeds()
    if as_json:
        click.echo(json.dumps([_card(f) for f in found], indent=2))
        return
    if not found:
        click.echo("no feeds: import one with `ivr feeds import NAME FILE --source ... --licence ...`")
    for f in found:
        click.echo(_feed_line(f))


@group.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True)
def feeds_show(number: str, as_json: bool) -> None:
    """The feeds that list NUMBER, with their reports and when each entry ages out."""
    bl = _bl()
    try:
        entries = bl.feed_entries(number)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if as_json:
        click.echo(json.dumps([{**e.to_dict(), "seen": format_time(e.seen_ms), "until": format_time(e.until_ms)}
                               for e in entries], indent=2))
        return
    if not entries:
        click.echo(f"{bl.number(number)} is in no feed")
    for e in entries:
        ends = f"ages out {_when(e.until_ms)}" if e.until_ms else "never ages out"
        state = "" if e.active(int(datetime.now(UTC).timestamp() * 1000)) else " (aged out, not counted)"
        click.echo(f"{e.number} in feed {e.feed}: {e.evidence} report(s), last {_when(e.seen_ms)}, {ends}{state}")


@group.command("import")
@click.argument("name")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--source", required=True, help="Who publishes the list, e.g. 'FTC Do Not Call complaints'.")
@click.option("--licence", required=True, help="The terms it is used under, e.g. 'public data' or a contract.")
@click.option("--fetched-at", default="", help="When it was fetched from its source (ISO 8601); default now.")
@click.option("--age-out-days", default=0, show_default=True, type=click.IntRange(0, 3650),
              help="Drop an entry this many days after its last report (0: never).")
@click.option("--treatment", type=click.Choice(TREATMENTS), default=None, help="Default: the line's treatment.")
@click.option("--line", default="", help="The line (To number) it applies to; default all lines.")
@click.option("--partial", is_flag=True, help="Import the good rows even if some are bad (bad ones are listed).")
@click.option("--check-only", is_flag=True, help="Check the file and count its numbers; write nothing.")
@click.option("--by", default=_default_by, show_default="cli:<login name>", help="Who imports it (audit log).")
def feeds_import(name: str, path: str, source: str, licence: str, fetched_at: str, age_out_days: int,
                 treatment: str | None, line: str, partial: bool, check_only: bool, by: str) -> None:
    """Import feed NAME from a CSV file (a new version replaces the one in force at once).

    Columns: number[,reports[,last_seen]], or a header naming them (number/phone/tn, reports/count/evidence,
    last_seen/date). Numbers in E.164 or, on a North American line, ten digits; dates ISO 8601 or Unix seconds.
    """
    data = sys.stdin.read() if path == "-" else ""

    def open_text() -> Iterator[str]:
        """The file's lines; import_feed reads it twice (counting, then checking and writing)."""
        if path == "-":
            yield from data.splitlines(keepends=True)
            return
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
            yield from f
    try:
        fetched = parse_seen(fetched_at, 0) if fetched_at else None
    except ValueError as exc:
        raise CliError(str(exc).replace("last seen", "--fetched-at")) from None
    progress = ImportProgress()
    try:
        result = _bl().import_feed(name, open_text, source=source, licence=licence, by=by, fetched_at=fetched,
                                   age_out_days=age_out_days, treatment=treatment or "", scope=line or None,
                                   partial=partial, write=not check_only, progress=progress)
    except (ValueError, RuntimeError) as exc:
        raise CliError(str(exc)) from None
    finally:
        progress.close()
    for error in result.errors:
        click.echo(str(error), err=True)
    if result.bad_rows > len(result.errors):
        click.echo(f"... and {result.bad_rows - len(result.errors)} more bad row(s)", err=True)
    if result.bad_rows and not partial:
        raise CliError(result.summary())
    click.echo(result.summary())


@group.command("adopt")
@click.argument("name")
@click.option("--source", required=True, help="Where the imported list came from, e.g. 'Carrier X robocall list'.")
@click.option("--licence", required=True, help="The terms it is used under, e.g. 'public data' or a contract.")
@click.option("--reason", default=None, help="Adopt only the blocks with exactly this reason (one import's reason).")
@click.option("--all-imported", is_flag=True, help="Adopt every imported block, whatever its reason.")
@click.option("--line", default="", help="Adopt the blocks of this line (To number); default the blocks for all lines.")
@click.option("--treatment", type=click.Choice(("line", *TREATMENTS)), default=None,
              help="Adopt only the blocks with this treatment (line: the line's); needed when they have several. "
                   "Default: the feed's, when it exists.")
@click.option("--age-out-days", default=None, type=click.IntRange(0, 3650),
              help="The feed drops an entry this long after its last report (0: never; default: the feed's, or 0). "
                   "0 adopts permanent blocks, more adopts blocks with an end (each ends when its block would).")
@click.option("--check-only", is_flag=True, help="Count what would be adopted and what left; write nothing.")
@click.option("--by", default=_default_by, show_default="cli:<login name>", help="Who adopts them (audit log).")
@click.option("--json", "as_json", is_flag=True)
def feeds_adopt(name: str, source: str, licence: str, reason: str | None, all_imported: bool, line: str,
                treatment: str | None, age_out_days: int | None, check_only: bool, by: str, as_json: bool) -> None:
    """Move the manager blocks a CSV import (`ivr blocklist import`) wrote into feed NAME: the migration of a
    carrier's or regulator's list imported before feeds existed (the ~300 bytes a block costs the screen become
    ~22 in a feed; each number's history stays, one entry longer).

    Only blocks nobody touched since the import move: flagged, hand-made and edited blocks stay manager blocks,
    and so do blocks of another treatment (one feed, one treatment). The feed is swapped in first, then the
    blocks are removed; the numbers' histories keep everything and say "moved into feed NAME". Safe to run
    again: a run that was stopped is finished by the next, and a finished one has nothing left to do (exit 0).
    """
    if (reason is None) == (not all_imported):
        raise CliError("say which blocks to adopt: --reason TEXT (the reason the import gave every block; see "
                       "`ivr blocklist list`) or --all-imported (every imported block, whatever its reason)")
    bl = _bl()
    try:
        scope = bl.line_scope(line) if line else None
    except ValueError as exc:
        raise CliError(f"--line: {exc}") from None
    progress = ImportProgress()
    try:
        result = adopt_imported(bl, name, source=source, licence=licence, by=by, reason=reason, scope=scope,
                                treatment="" if treatment == "line" else treatment, age_out_days=age_out_days,
                                write=not check_only, progress=progress)
    except (ValueError, RuntimeError) as exc:
        raise CliError(str(exc)) from None
    finally:
        progress.close()
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else result.summary())


@group.command("export")
@click.argument("name")
@click.argument("path", default="-", type=click.Path(dir_okay=False, allow_dash=True))
def feeds_export(name: str, path: str) -> None:
    """Write feed NAME as CSV (number,reports,last_seen), to PATH or stdout; imports back the same."""
    bl = _bl()
    try:
        if path == "-":
            count = _write_feed(bl.iter_feed(name), sys.stdout)
        else:
            with open(path, "w", newline="", encoding="utf-8") as out:
                count = _write_feed(bl.iter_feed(name), out)
    except (ValueError, LookupError) as exc:
        raise CliError(str(exc)) from None
    if path != "-":
        click.echo(f"{count} number(s) written to {path}", err=True)


def _write_feed(entries: Iterable[FeedEntry], out: TextIO) -> int:
    writer = csv.writer(out)
    writer.writerow(("number", "reports", "last_seen"))
    count = 0
    for e in entries:
        writer.writerow((e.number, e.evidence, format_time(e.seen_ms)))
        count += 1
    return count


@group.command("remove")
@click.argument("name")
@click.argument("number")
@click.option("--reason", "-r", required=True, help="Why (the appeal's outcome; in the number's history).")
@click.option("--by", default=_default_by, show_default="cli:<login name>")
def feeds_remove(name: str, number: str, reason: str, by: str) -> None:
    """Take NUMBER out of feed NAME (an appeal), until the feed's next import brings it back; to keep a
    customer through every import, add them to the allowlist instead."""
    try:
        removed = _bl().remove_from_feed(name, number, by=by, reason=reason)
    except (ValueError, LookupError) as exc:
        raise CliError(str(exc)) from None
    if not removed:
        raise CliError(f"feed {name} does not list {number}; see `ivr feeds show {number}`")
    click.echo(f"{number} taken out of feed {name}")


@group.command("delete")
@click.argument("name")
@click.option("--reason", "-r", required=True, help="Why the feed is no longer used (audit log).")
@click.option("--by", default=_default_by, show_default="cli:<login name>")
def feeds_delete(name: str, reason: str, by: str) -> None:
    """Stop using feed NAME: out of the screen at once, its numbers deleted."""
    try:
        feed = _bl().delete_feed(name, by=by, reason=reason)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if feed is None:
        raise CliError(f"there is no feed {name}; see `ivr feeds list`")
    click.echo(f"feed {name} deleted ({feed.listed:,} numbers)")


@group.command("sweep")
def feeds_sweep() -> None:
    """Remove aged-out entries now (the hourly job does it too; the screen ignores them already)."""
    progress = ImportProgress()
    try:
        removed = _bl().sweep_feeds(progress=progress)
    finally:
        progress.close()
    if not removed:
        click.echo("no feed ages its entries out: nothing to sweep")
    for name, n in removed.items():
        click.echo(f"{name}: {n} aged-out number(s) removed")
