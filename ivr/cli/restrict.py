"""`ivr restrict ...`: graduated contact restrictions of a number (blocklist/restrictions.py): calls only at agreed
times, at most N calls a day or a week, only to the supervisors, or voicemail only; each with a review date.

Every problem prints one line `error: ...` on stderr and exits 2; nothing is changed then.
"""

from __future__ import annotations

import json
from typing import Any

import click

from blocklist.clock import format_time, now_ms
from blocklist.restrictions import KINDS, PERIODS, Restriction
from ivr.cli.blocklist import _bl, _default_by, _when, _where
from ivr.cli.common import CliError, _Group

by_option = click.option("--by", default=_default_by, show_default="cli:<login name>",
                         help="Who does this (recorded in the number's history and the audit log).")
reason_option = click.option("--reason", "-r", required=True, help="Why (recorded in the number's history).")


def _line(r: Restriction, at: int) -> str:
    """One restriction as people read it."""
    ends = f"until {_when(r.until_ms)}" if r.until_ms is not None else "no end"
    starts = f"from {_when(r.start_ms)}, " if r.start_ms > at else ""
    state = "ended" if r.ended(at) else "to come" if r.start_ms > at else "in force"
    review = f"review {'was due' if r.review_ms <= at else 'on'} {_when(r.review_ms)}"
    return (f"{r.number}  {r.words()} on {_where(r.scope)}  ({state}; {starts}{ends}; {review})  id {r.id}  "
            f"by {r.by} at {_when(r.at)}: {r.reason}")


def _json(r: Restriction) -> dict[str, Any]:
    return {**r.to_dict(), "start": format_time(r.start_ms), "until": format_time(r.until_ms),
            "review": format_time(r.review_ms), "made": format_time(r.at)}


@click.group("restrict", cls=_Group)
def group() -> None:
    """Contact restrictions: steps short of a block (agreed hours, a number of calls, supervisors or one team only,
    voicemail)."""


@group.command("add")
@click.argument("number")
@click.option("--kind", required=True, type=click.Choice(KINDS),
              help="hours: only within --hours; max_calls: at most --max-calls per --per; route: only to --route; "
                   "voicemail: messages only.")
@click.option("--hours", default="", help="With --kind hours: the agreed times, e.g. 'Mon-Fri 09:00-12:00' "
                                          "(several: 'Mon-Fri 09:00-12:00|Sat 10:00-12:00'), in IVR_TIMEZONE.")
@click.option("--max-calls", default=None, help="With --kind max_calls: how many calls are allowed.")
@click.option("--per", "period", default="", type=click.Choice(("", *PERIODS)),
              help="With --kind max_calls: counted per day or per week (Monday to Sunday).")
@click.option("--route", default="", help="With --kind route: where the calls go: supervisor, or a team of IVR_TEAMS "
                                          "(e.g. billing).")
@click.option("--review", required=True, help="When it comes up for review: a later date, e.g. 2027-01-15.")
@reason_option
@click.option("--line", default="", help="The line (To number) it applies to; default all lines.")
@click.option("--start", default="", help="When it starts (a date or an ISO time with its zone); default now.")
@click.option("--until", default="", help="When it ends by itself (a date or an ISO time with its zone); "
                                          "default: until removed.")
@by_option
def restrict_add(number: str, kind: str, hours: str, max_calls: str | None, period: str, route: str, review: str,
                 reason: str, line: str, start: str, until: str, by: str) -> None:
    """Restrict NUMBER's calls (a review date is always given)."""
    r = _bl().restrict(number, kind=kind, hours=hours, max_calls=max_calls, period=period, route=route,
                       review=review, reason=reason, by=by, scope=line or None, start=start, until=until)
    click.echo(f"restricted: {_line(r, now_ms())}")


@group.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def restrict_show(number: str, as_json: bool) -> None:
    """NUMBER's restrictions (in force, to come, and ended ones the sweep has not recorded yet)."""
    bl = _bl()
    found = bl.restrictions(number)
    if as_json:
        click.echo(json.dumps([_json(r) for r in found], indent=2))
        return
    if not found:
        click.echo(f"{bl.number(number)} has no contact restriction")
    at = now_ms()
    for r in found:
        click.echo(_line(r, at))


@group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def restrict_list(as_json: bool) -> None:
    """Every restriction, soonest review first."""
    found = _bl().list_restrictions()
    if as_json:
        click.echo(json.dumps([_json(r) for r in found], indent=2))
        return
    at = now_ms()
    for r in found:
        click.echo(_line(r, at))
    due = sum(1 for r in found if r.review_ms <= at)
    click.echo(f"{len(found)} restriction(s), {due} due for review", err=True)


@group.command("remove")
@click.argument("number")
@click.option("--id", "restriction_id", default="", help="Only this restriction (see `ivr restrict show`); "
                                                         "default: every restriction of the number.")
@reason_option
@by_option
def restrict_remove(number: str, restriction_id: str, reason: str, by: str) -> None:
    """Remove NUMBER's restrictions (or one of them); the history keeps them."""
    bl = _bl()
    removed = bl.unrestrict(number, reason=reason, by=by, restriction_id=restriction_id)
    if not removed:
        raise CliError(f"{bl.number(number)} has no contact restriction; nothing changed")
    for r in removed:
        click.echo(f"removed: {r.words()} on {_where(r.scope)} (id {r.id})")


@group.command("keep")
@click.argument("number")
@click.option("--id", "restriction_id", required=True, help="The restriction reviewed (see `ivr restrict show`).")
@click.option("--review", required=True, help="The next review: a later date, e.g. 2027-04-15.")
@reason_option
@by_option
def restrict_keep(number: str, restriction_id: str, review: str, reason: str, by: str) -> None:
    """Keep a restriction after its review, until a new review date (nothing is renewed by itself)."""
    r = _bl().keep_restriction(number, restriction_id, review=review, reason=reason, by=by)
    click.echo(f"kept: {_line(r, now_ms())}")


@group.command("sweep")
def restrict_sweep() -> None:
    """Do the cron's sweep now: list the restrictions due for review, record the ones that ended."""
    done = _bl().sweep_restrictions()
    click.echo(f"{done['review']} put on the review list, {done['ended']} ended")

