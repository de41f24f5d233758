"""A contact restriction (blocklist/restrictions.py) in the desk user's language: what Restriction.words() says
in English for the command line, the API and the screen's explanation."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import ngettext

from blocklist.restrictions import TEAM_ROUTE, Restriction


def restriction_words(r: Restriction) -> str:
    """'hours Mon-Fri 09:00-12:00', 'at most 3 calls a day', ... translated; the hours stay as the manager wrote
    them (they are the rule itself)."""
    if r.kind == "hours":
        return _("hours %(hours)s", hours=r.hours)
    if r.kind == "max_calls":
        if r.period == "week":
            return ngettext("at most %(num)d call a week", "at most %(num)d calls a week", r.max_calls)
        return ngettext("at most %(num)d call a day", "at most %(num)d calls a day", r.max_calls)
    if r.kind == "route":
        if r.route == "supervisor":
            return _("only to the supervisors' queue")
        if r.route.startswith(TEAM_ROUTE):
            return _("only to team %(team)s", team=r.route.removeprefix(TEAM_ROUTE))
        return _("only to %(queue)s", queue=r.route)
    return _("voicemail only")
