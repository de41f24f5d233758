"""`ivr blocklist ...` and `ivr allowlist ...`: the managers' command line for the screening rules.

Every problem prints one line `error: ...` on stderr and exits 2; nothing is half-done by a bad input.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, TextIO

import click

from blocklist import csvio, dryrun, keys, warnings
from blocklist.blocks import block_length
from blocklist.clock import format_time, human_time, relative_time
from blocklist.entries import Decision, Entry
from blocklist.line_settings import review_subject
from blocklist.parse import DURATION_FORMS, format_duration, format_ladder, parse_duration
from blocklist.policy import TREATMENTS
from blocklist.reputation import ADDONS_MAX
from blocklist.rules import Blocklist, for_settings
from blocklist.signals import NO_SIGNALS, Signals, signals_to_try
from blocklist.store import connect
from ivr.cli.common import CliError, _Group, operator, settings, settings_with_redis

PROGRESS_FROM = 1000  # rows; smaller files import too fast for a progress bar to help



def _bl() -> Blocklist:
    """The Blocklist on REDIS_URL, built once per command."""
    ctx = click.get_current_context()
    cached = ctx.meta.get("ivr.blocklist")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    settings = settings_with_redis()  # REDIS_URL, else the embedded Redis of a running `ivr serve`
    bl = for_settings(connect(settings.redis_url, socket_timeout=30), settings)
    ctx.meta["ivr.blocklist"] = bl
    return bl


_default_by = operator


def _zone() -> tzinfo:
    """The service's time zone (IVR_TIMEZONE), read once per command: the CLI writes times as the desk does."""
    ctx = click.get_current_context()
    zone = ctx.meta.get("ivr.zone")
    if zone is None:
        zone = ctx.meta["ivr.zone"] = settings().tz()
    return zone  # type: ignore[no-any-return]


def _when(ms: int | None) -> str:
    """'12 Dec 2026, 14:00 CET': the one way people read times (blocklist.clock.human_time), '' for none."""
    return human_time(ms, _zone()) if ms else ""


def _until(ms: int) -> str:
    """'12 Dec 2026, 14:00 CET (in 7 days)': an end, with how far off it is."""
    return f"{_when(ms)} ({relative_time(ms)})"


def _iso_when(text: str) -> str:
    """An ISO 8601 time (with its offset) from a result meant for machines, as people read it."""
    moment = datetime.fromisoformat(text)
    return _when(int(moment.timestamp() * 1000))


def _entry_json(e: Entry) -> dict[str, Any]:
    """A block for --json, as the API gives it: milliseconds, and ISO 8601 times (UTC) beside them."""
    return {**e.to_dict(), "until": format_time(e.until_ms), "blocked_at": format_time(e.at)}


def _where(scope: str) -> str:
    return "all lines" if scope == keys.GLOBAL else f"line {scope}"


def _json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _entry_line(e: Entry) -> str:
    until = "permanent" if e.until_ms is None else f"until {_until(e.until_ms)}"
    step = f", ladder step {e.step}" if e.step else ""
    return (f"{e.number}  {_where(e.scope)}  {e.treatment or '(line default)'}  {until}{step}  "
            f"by {e.by or '?'} at {_when(e.at)}: {e.reason}")


def _lasts(since_ms: int, until_ms: int | None) -> str:
    """'7d, until 31 Jan 2030, 18:00 UTC' or 'permanent': what the audit record says of the block's length."""
    lasts = block_length(since_ms, until_ms)["lasts"]
    return lasts if until_ms is None else f"{lasts}, until {_when(until_ms)}"


def _print_decision(number: str, line: str, d: Decision, bl: Blocklist) -> None:
    click.echo(f"{number} -> {'all lines' if line == keys.GLOBAL else line}: {d.explain()}")
    if d.rule == "number":
        for e in bl.entries(number):
            click.echo(f"  block: {_entry_line(e)}")
    if d.rule == "restriction" or (number.startswith("+") and bl.restrictions(number)):
        for r in bl.restrictions(number):
            click.echo(f"  contact restriction: {r.words()} on {_where(r.scope)} (id {r.id}; `ivr restrict show {number}`)")
    if d.rule == "feed":
        click.echo(f"  listed by a bulk feed, not by a manager: `ivr feeds show {number}`; to let the caller through, "
                   "allowlist the number or take it out of the feed (`ivr feeds remove`)")
    if line == keys.GLOBAL:
        click.echo("  note: no --line given, so line settings and line-scoped entries were not considered")


def _print_history(items: list[dict[str, Any]]) -> None:
    for item in items:
        extras = [f"{name} {item[name]}" for name in ("via", "call_sid", "line", "step", "treatment", "lasts",
                                                       "restriction", "recording") if item.get(name)]
        if item.get("until"):
            extras.append(f"until {_when(int(item['until']))}")
        if item.get("review"):  # a contact restriction's review date
            extras.append(f"review {_when(int(item['review']))}")
        if item.get("outcome"):
            extras.append(str(item["outcome"]))
        scope = item.get("scope")
        where = f" [{_where(scope)}]" if scope else ""
        click.echo(f"{_when(int(item.get('at') or 0))}  {item.get('action', '?'):<9} by {item.get('by') or '?'} "
                   f"({item.get('role', '?')}){where}: {item.get('reason') or '-'}"
                   + (f"  ({', '.join(extras)})" if extras else ""))


class ImportProgress:
    """click progress bars on stderr, one per import phase."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.phase = ""
        self.done = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if total < PROGRESS_FROM:
            return
        if phase != self.phase:
            self.close()
            self.phase, self.done = phase, 0
            self.bar = click.progressbar(length=total, label=phase, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _run_import(kind: str, path: str, by: str, partial: bool, check_only: bool) -> None:
    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    progress = ImportProgress()
    importer = csvio.import_blocklist if kind == "blocklist" else csvio.import_allowlist
    try:
        result = importer(_bl(), data, by=by, partial=partial, write=not check_only, progress=progress)
    finally:
        progress.close()
    for note in result.skipped:
        click.echo(f"note: {note}", err=True)
    for error in result.errors:
        click.echo(str(error), err=True)
    if result.errors and not result.written and not check_only:
        raise CliError(result.summary())
    if result.errors and check_only and not partial:
        raise CliError(result.summary())  # what the import would do once the bad rows are fixed, or with --partial
    click.echo(result.summary())


def _run_export(rows: Any, path: str) -> None:
    out: TextIO
    if path == "-":
        count = csvio.write_csv(rows, sys.stdout)
    else:
        with open(path, "w", newline="", encoding="utf-8") as out:
            count = csvio.write_csv(rows, out)
        click.echo(f"{count} row(s) written to {path}", err=True)


by_option = click.option("--by", default=_default_by, show_default="cli:<login name>",
                          help="Who does this (recorded in the number's history).")
line_option = click.option("--line", default="", help="The line (To number) it applies to; default all lines.")
reason_option = click.option("--reason", "-r", required=True, help="Why (recorded in the number's history).")


# ---- ivr blocklist ----------------------------------------------------------------------------------
@click.group("blocklist", cls=_Group)
def blocklist_group() -> None:
    """Blocked numbers, range rules, the review list, dry runs and line settings."""


@blocklist_group.command("add")
@click.argument("number")
@reason_option
@line_option
@click.option("--treatment", type=click.Choice(TREATMENTS), default=None, help="Default: the line's treatment.")
@click.option("--for", "duration", default=None,
              help=f"Block length with its unit: {DURATION_FORMS} (a bare number is refused).")
@click.option("--until", default=None, help="End time with its zone, e.g. 2030-01-31T18:00:00Z.")
@click.option("--permanent", is_flag=True, help="A block that never ends (the same as --for permanent).")
@by_option
def bl_add(number: str, reason: str, line: str, treatment: str | None, duration: str | None, until: str | None,
           permanent: bool, by: str) -> None:
    """Block NUMBER for --for LENGTH, --until TIME, or --permanent: one of them, always said."""
    if duration is not None and not duration.strip():
        raise CliError(f"--for is empty: give the block's length, {DURATION_FORMS}")
    if until is not None and not until.strip():
        raise CliError("--until is empty: give the end time with its zone, e.g. 2030-01-31T18:00:00Z")
    given = [name for name, value in (("--for", duration), ("--until", until), ("--permanent", permanent or None))
             if value is not None]
    if len(given) > 1:
        raise CliError(f"give only one of --for, --until and --permanent (here: {' and '.join(given)})")
    if not given:  # a block with no end is a choice made by name, never what an omission means
        raise CliError(f"say how long the block lasts: --for with a unit ({DURATION_FORMS}), "
                       "--until 2030-01-31T18:00:00Z, or --permanent for a block that never ends")
    seconds = parse_duration(duration) if duration is not None else None
    until_ms = csvio.parse_time(until) if until else None
    if not reason.strip():
        raise CliError("--reason is empty: say why the number is blocked")
    bl = _bl()
    entry = bl.block(number, by=by, reason=reason, scope=line or None, treatment=treatment or "",
                     duration=seconds, until_ms=until_ms)
    click.echo(f"blocked: {_entry_line(entry)}")
    click.echo(f"  lasts {_lasts(entry.at, entry.until_ms)}")
    if bl.allow_entries(entry.number):
        click.echo("  note: this number is also on the allowlist, which the screen applies first", err=True)


@blocklist_group.command("remove")
@click.argument("number")
@reason_option
@line_option
@click.option("--forgive", is_flag=True, help="Also step the sanction ladder back once (a won appeal).")
@by_option
def bl_remove(number: str, reason: str, line: str, forgive: bool, by: str) -> None:
    """Unblock NUMBER (an appeal); its history keeps the block."""
    bl = _bl()
    if not bl.unblock(number, by=by, reason=reason, scope=line or None, forgive=forgive):
        raise CliError(f"{bl.number(number)} is not blocked on {_where(bl.line_scope(line or None))}; "
                       "nothing changed (see `ivr blocklist show`)")
    click.echo(f"unblocked {bl.number(number)} on {_where(bl.line_scope(line or None))}")


@blocklist_group.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def bl_show(number: str, as_json: bool) -> None:
    """NUMBER's active blocks, ladder step and allowlist entries."""
    bl = _bl()
    entries, allowed, strikes = bl.entries(number), bl.allow_entries(number), bl.strikes(number)
    listed = bl.feed_entries(number)
    warned = warnings.count(bl.r, bl.number(number))
    offer = warnings.offer_due(warned, settings().warnings_before_offer)
    if as_json:
        _json({"number": bl.number(number), "blocks": [_entry_json(e) for e in entries], "strikes": strikes,
               "allowlist": allowed, "feeds": [{**f.to_dict(), "seen": format_time(f.seen_ms),
                                                "until": format_time(f.until_ms)} for f in listed],
               "warnings_on_record": warned, "offer_restriction_or_block": offer})
        return
    click.echo(f"{bl.number(number)}: {len(entries)} active block(s), ladder step {strikes}")
    if warned:
        click.echo(f"  {warned} warning{'' if warned == 1 else 's'} on record (the polite limit, across calls)"
                   + ("; consider a contact restriction (the number's desk page, Restrict contact) or a block "
                      "(ivr blocklist add)" if offer else ""))
    for e in entries:
        click.echo(f"  {_entry_line(e)}")
    for f in listed:
        ends = f"ages out {_when(f.until_ms)}" if f.until_ms else "never ages out"
        click.echo(f"  in feed {f.feed} (not a manager block): {f.evidence} report(s), {ends}")
    for a in allowed:
        click.echo(f"  allowlisted on {_where(a['scope'])} by {a.get('by') or '?'}: {a.get('reason', '')}")


@blocklist_group.command("list")
@line_option
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True)
def bl_list(line: str, limit: int, as_json: bool) -> None:
    """Active blocks, newest first."""
    bl = _bl()
    entries = bl.list_blocks(bl.line_scope(line) if line else None, count=limit)
    if as_json:
        _json([_entry_json(e) for e in entries])
        return
    for e in entries:
        click.echo(_entry_line(e))
    click.echo(f"{len(entries)} block(s)", err=True)


@blocklist_group.command("check")
@click.argument("number")
@click.option("--line", default="", help="The called line (To number).")
@click.option("--stir", default="", metavar="STIRVERSTAT",
              help="The call's STIR/SHAKEN result as Twilio sends it, e.g. TN-Validation-Failed-B.")
@click.option("--addons", "addons_path", default=None, type=click.Path(dir_okay=False, allow_dash=True),
              help="A file with the AddOns JSON of a call (Twilio Marketplace add-ons' answer).")
@click.option("--score", default="", metavar="0-100", help="An add-on reputation score, instead of --addons.")
@click.option("--json", "as_json", is_flag=True)
def bl_check(number: str, line: str, stir: str, addons_path: str | None, score: str, as_json: bool) -> None:
    """The decision the screen would take now for a call from NUMBER to --line, and which rule decides;
    with --stir/--addons/--score, for a call carrying those signals."""
    addons = ""
    if addons_path:
        addons = click.open_file(addons_path, encoding="utf-8", errors="replace").read(ADDONS_MAX + 1)
    try:
        signals = signals_to_try(stir, addons, score)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    _check(number, line, as_json, signals)


def _check(raw: str, line: str, as_json: bool, signals: Signals = NO_SIGNALS) -> None:
    bl = _bl()
    number = bl.number(raw)
    scope = bl.line_scope(line or None)
    d = bl.check(number, scope, signals)
    if as_json:
        rep = signals.reputation
        _json({"number": number, "line": scope, "decision": d.decision, "rule": d.rule, "treatment": d.treatment,
               "detail": d.detail, "explain": d.explain(),
               "signals": {"attestation": signals.attestation, "stir": signals.stir,
                           "reputation": None if rep is None else {"score": rep.score, "provider": rep.provider,
                                                                   "detail": rep.detail}}})
    else:
        _print_decision(number, scope, d, bl)


@blocklist_group.command("import")
@click.argument("path", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--partial", is_flag=True, help="Import the good rows even if some are bad (bad ones are listed).")
@click.option("--check-only", is_flag=True,
              help="Check the file and say what the import would add, change, leave and skip; write nothing.")
@by_option
def bl_import(path: str, partial: bool, check_only: bool, by: str) -> None:
    """Import blocks from CSV: number,scope,treatment,reason,until,permanent (a number ending in * is a range)."""
    _run_import("blocklist", path, by, partial, check_only)


@blocklist_group.command("export")
@click.argument("path", default="-", type=click.Path(dir_okay=False, allow_dash=True))
def bl_export(path: str) -> None:
    """Write every active block and range rule as CSV (to PATH, default stdout); imports back unchanged."""
    _run_export(csvio.blocklist_rows(_bl()), path)


@blocklist_group.command("history")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True)
def bl_history(number: str, as_json: bool) -> None:
    """Everything that happened to NUMBER: flags, blocks, edits, expiries, unblocks, with who, when, why."""
    bl = _bl()
    items = bl.history(number)
    if as_json:
        _json([{**item, "when": format_time(int(item.get("at") or 0))} for item in items])  # as the API has it
        return
    if not items:
        click.echo(f"{bl.number(number)} has no history")
        return
    _print_history(items)


@blocklist_group.command("permanent")
@click.argument("number")
@reason_option
@line_option
@by_option
def bl_permanent(number: str, reason: str, line: str, by: str) -> None:
    """Make NUMBER's block permanent."""
    entry = _bl().make_permanent(number, by=by, reason=reason, scope=line or None)
    click.echo(f"now permanent: {_entry_line(entry)}")


@blocklist_group.command("temporary")
@click.argument("number")
@click.argument("duration")
@reason_option
@line_option
@by_option
def bl_temporary(number: str, duration: str, reason: str, line: str, by: str) -> None:
    """Make NUMBER's block end DURATION from now, written with its unit (e.g. 24h, 7d)."""
    seconds = parse_duration(duration)
    if seconds is None:
        raise CliError("a temporary block needs a length such as 24h or 7d; use `permanent` for no end")
    entry = _bl().make_temporary(number, seconds=seconds, by=by, reason=reason, scope=line or None)
    click.echo(f"now temporary: {_entry_line(entry)}")
    click.echo(f"  lasts {format_duration(seconds)}, until {_when(entry.until_ms)}")


@blocklist_group.command("reason")
@click.argument("number")
@click.argument("new_reason")
@line_option
@by_option
def bl_reason(number: str, new_reason: str, line: str, by: str) -> None:
    """Replace the reason of NUMBER's block."""
    if not new_reason.strip():
        raise CliError("the new reason is empty")
    entry = _bl().edit_reason(number, reason=new_reason, by=by, scope=line or None)
    click.echo(f"reason changed: {_entry_line(entry)}")


# Not named *_group: `ivr.cli` mounts every *_group of this module at the top level.
@blocklist_group.group("prefix", cls=_Group)
def prefix_commands() -> None:
    """Range rules: every number starting with a prefix (longest prefix wins)."""


@prefix_commands.command("add")
@click.argument("prefix")
@reason_option
@line_option
@click.option("--treatment", type=click.Choice(TREATMENTS), default=None, help="Default: the line's treatment.")
@by_option
def prefix_add(prefix: str, reason: str, line: str, treatment: str | None, by: str) -> None:
    """Treat every number starting with PREFIX (e.g. +4420794)."""
    bl = _bl()
    added = bl.add_prefix(prefix, by=by, reason=reason, scope=line or None, treatment=treatment or "")
    click.echo(f"range rule {added}* on {_where(bl.line_scope(line or None))}: {treatment or '(line default)'}")


@prefix_commands.command("remove")
@click.argument("prefix")
@reason_option
@line_option
@by_option
def prefix_remove(prefix: str, reason: str, line: str, by: str) -> None:
    """Drop the range rule PREFIX."""
    bl = _bl()
    if not bl.remove_prefix(prefix, by=by, reason=reason, scope=line or None):
        raise CliError(f"no range rule {prefix} on {_where(bl.line_scope(line or None))}; nothing changed")
    click.echo(f"range rule {prefix} removed")


@prefix_commands.command("list")
@click.option("--json", "as_json", is_flag=True)
def prefix_list(as_json: bool) -> None:
    """Every range rule."""
    rules = _bl().list_prefixes()
    if as_json:
        _json(rules)
        return
    for r in rules:
        click.echo(f"{r['prefix']}*  {_where(r['scope'])}  {r.get('treatment') or '(line default)'}  "
                   f"by {r.get('by') or '?'} at {_when(int(r.get('at') or 0))}: {r.get('reason', '')}")
    click.echo(f"{len(rules)} range rule(s)", err=True)


@blocklist_group.command("review")
@click.option("--dismiss", default=None, metavar="NUMBER|EXCHANGE",
              help="Take NUMBER (or a campaign's exchange, e.g. +1415555) off the review list.")
@click.option("--line", default="", help="With --dismiss of a withheld caller or an exchange: its line.")
@click.option("--json", "as_json", is_flag=True)
def bl_review(dismiss: str | None, line: str, as_json: bool) -> None:
    """The managers' review list: callers the burst rule or a caller signal listed, and campaigns' exchanges."""
    bl = _bl()
    if dismiss is not None:
        number, campaign = review_subject(bl, dismiss)
        scope = bl.line_scope(line or None) if number == "anonymous" or campaign else None
        if number == "anonymous" and scope == keys.GLOBAL:
            raise CliError("withheld callers are reviewed per line: add --line <the called number>")
        if campaign and scope == keys.GLOBAL:
            raise CliError("a campaign's exchange is reviewed per line: add --line <the called number>")
        if not bl.dismiss_review(number, scope):
            raise CliError(f"{number} is not on the review list")
        click.echo(f"{number} dismissed from the review list")
        return
    items = bl.review_list(count=1000)
    threshold = settings().warnings_before_offer
    warned = warnings.due(bl.r, threshold)
    if as_json:  # warned callers join the list as items of their own kind (the list's shape stays a list)
        _json([*items, *({"kind": "warnings", "number": number, "warnings": count, "threshold": threshold,
                          "detail": f"{count} warnings on record, neither blocked nor restricted: consider a "
                                    "contact restriction or a block"} for number, count in warned)])
        return
    for item in items:
        why = item.get("detail") or f"{item.get('calls')} calls in {item.get('minutes')} min"
        click.echo(f"{_when(int(item.get('at') or 0))}  {item.get('number')} on line {item.get('line')}: "
                   f"{why} (call {item.get('call_sid') or '?'})")
    click.echo(f"{len(items)} on the review list", err=True)
    for number, count in warned:
        click.echo(f"{number}: {count} warnings on record (IVR_WARNINGS_BEFORE_OFFER {threshold}), neither blocked nor "
                   "restricted: consider a contact restriction or a block")


@blocklist_group.command("dryrun")
@click.option("--number", default=None, help="Try blocking this number.")
@click.option("--prefix", default=None, help="Try a range rule.")
@click.option("--withheld", default=None, type=click.Choice(dryrun.WITHHELD_POLICIES), help="Try a withheld policy.")
@click.option("--burst", default=None, metavar="CALLS/MINUTES", help="Try a burst rule, e.g. 5/10.")
@click.option("--action", default="review", show_default=True, type=click.Choice(("review", *TREATMENTS)),
              help="What the burst rule does.")
@click.option("--treatment", default=None, type=click.Choice(TREATMENTS))
@click.option("--line", default="", help="Only calls to this line; default all lines.")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, dryrun.MAX_DAYS))
@click.option("--json", "as_json", is_flag=True)
def bl_dryrun(number: str | None, prefix: str | None, withheld: str | None, burst: str | None, action: str,
              treatment: str | None, line: str, days: int, as_json: bool) -> None:
    """What a rule would have done over the recorded calls of the last --days; changes nothing."""
    given = {k: v for k, v in (("number", number), ("prefix", prefix), ("withheld", withheld), ("burst", burst))
             if v is not None}
    if len(given) != 1:
        raise CliError("try one rule: --number, --prefix, --withheld or --burst CALLS/MINUTES")
    kind, value = next(iter(given.items()))
    data: dict[str, Any] = {"kind": kind, "line": line, "treatment": treatment or "", "action": action}
    if kind == "burst":
        calls, sep, minutes = value.partition("/")
        if not sep:
            raise CliError("--burst wants CALLS/MINUTES, e.g. 5/10 (more than 5 calls in 10 minutes)")
        data.update(calls=calls, minutes=minutes)
    else:
        data[{"number": "number", "prefix": "prefix", "withheld": "policy"}[kind]] = value
    bl = _bl()
    result = dryrun.dry_run(bl.r, dryrun.candidate(data, bl.default_region), days)
    if as_json:
        _json(result)
        return
    click.echo(f"over {result['calls_seen']} recorded call(s) from {_iso_when(result['from'])} to "
               f"{_iso_when(result['to'])}:")
    click.echo(f"  {result['calls']} call(s) from {result['numbers']} number(s) would be {result['effect']}")
    click.echo(f"  {result['newly_affected_calls']} of them ({result['newly_affected_numbers']} number(s)) were "
               f"let through at the time; {result['already_treated_calls']} were already treated")
    if result["spared_by_allowlist"]:
        click.echo(f"  {result['spared_by_allowlist']} call(s) spared: the allowlist comes first")
    for row in result["per_line"]:
        click.echo(f"  line {row['line']}: {row['calls']} call(s), {row['numbers']} number(s), "
                   f"{row['newly_affected_calls']} newly affected")
    for row in result["top_numbers"]:
        click.echo(f"  {row['number']}: {row['calls']} call(s)")


@blocklist_group.command("line-setting")
@click.argument("line")
@click.argument("name", required=False)
@click.argument("value", required=False)
@by_option
def bl_line_setting(line: str, name: str | None, value: str | None, by: str) -> None:
    """Show LINE's settings ('*': global), or set NAME to VALUE ('' clears the override)."""
    bl = _bl()
    scope = bl.line_scope(line)
    if name is not None:
        if value is None:
            raise CliError(f"give a value for {name} ('' clears the override)")
        bl.set_line_setting(scope, name, value.strip(), by=by)
    overrides, effective = bl.line_settings(scope), bl.effective_settings(scope)
    click.echo(f"{'global' if scope == keys.GLOBAL else 'line ' + scope}:")
    for setting_name, setting_value in effective.items():
        source = "override" if setting_name in overrides else "inherited"
        if setting_name == "sanction_ladder":  # stored as seconds for flag.lua; shown as it is written
            setting_value = format_ladder(setting_value)
        click.echo(f"  {setting_name} = {setting_value or '-'} ({source})")


# ---- ivr allowlist ----------------------------------------------------------------------------------
@click.group("allowlist", cls=_Group)
def allowlist_group() -> None:
    """Numbers the screen always lets through (VIP customers, the company's own numbers)."""


@allowlist_group.command("add")
@click.argument("number")
@reason_option
@line_option
@by_option
def al_add(number: str, reason: str, line: str, by: str) -> None:
    """Always let NUMBER through (on all lines, or --line)."""
    if not reason.strip():
        raise CliError("--reason is empty: say why the number is always let through")
    bl = _bl()
    bl.allow(number, by=by, reason=reason, scope=line or None)
    click.echo(f"allowlisted {bl.number(number)} on {_where(bl.line_scope(line or None))}")


@allowlist_group.command("remove")
@click.argument("number")
@reason_option
@line_option
@by_option
def al_remove(number: str, reason: str, line: str, by: str) -> None:
    """Take NUMBER off the allowlist."""
    bl = _bl()
    if not bl.disallow(number, by=by, reason=reason, scope=line or None):
        raise CliError(f"{bl.number(number)} is not on the allowlist of {_where(bl.line_scope(line or None))}; "
                       "nothing changed")
    click.echo(f"removed {bl.number(number)} from the allowlist of {_where(bl.line_scope(line or None))}")


@allowlist_group.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True)
def al_show(number: str, as_json: bool) -> None:
    """NUMBER's allowlist entries."""
    bl = _bl()
    items = bl.allow_entries(number)
    if as_json:
        _json(items)
        return
    if not items:
        click.echo(f"{bl.number(number)} is not on the allowlist")
    for a in items:
        click.echo(f"{a['number']}  {_where(a['scope'])}  by {a.get('by') or '?'} at {_when(int(a.get('at') or 0))}: "
                   f"{a.get('reason', '')}")


@allowlist_group.command("list")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True)
def al_list(limit: int, as_json: bool) -> None:
    """Allowlist entries, newest first."""
    items = _bl().list_allowed(count=limit)
    if as_json:
        _json(items)
        return
    for a in items:
        click.echo(f"{a['number']}  {_where(a['scope'])}  by {a.get('by') or '?'}: {a.get('reason', '')}")
    click.echo(f"{len(items)} allowlist entr{'y' if len(items) == 1 else 'ies'}", err=True)


@allowlist_group.command("check")
@click.argument("number")
@click.option("--line", default="", help="The called line (To number).")
@click.option("--json", "as_json", is_flag=True)
def al_check(number: str, line: str, as_json: bool) -> None:
    """The screen's decision for a call from NUMBER to --line (same as `ivr blocklist check`)."""
    _check(number, line, as_json)


@allowlist_group.command("import")
@click.argument("path", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--partial", is_flag=True, help="Import the good rows even if some are bad (bad ones are listed).")
@click.option("--check-only", is_flag=True,
              help="Check the file and say what the import would add, change, leave and skip; write nothing.")
@by_option
def al_import(path: str, partial: bool, check_only: bool, by: str) -> None:
    """Import allowlist entries from CSV: number,scope,reason."""
    _run_import("allowlist", path, by, partial, check_only)


@allowlist_group.command("export")
@click.argument("path", default="-", type=click.Path(dir_okay=False, allow_dash=True))
def al_export(path: str) -> None:
    """Write the allowlist as CSV (to PATH, default stdout); imports back unchanged."""
    _run_export(csvio.allowlist_rows(_bl()), path)
