"""Parsers for the words people write in settings, forms and commands: durations, on/off, lists, LINE=VALUE
pairs, report shifts. Each raises ValueError with a message that says how to write the value."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytimeparse.timeparse import timeparse

from blocklist.hours import parse_hours

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
PERMANENT_WORDS = ("permanent", "forever", "inf")
# What every duration error lists, so people see the accepted forms where they typed the wrong one.
DURATION_FORMS = "90s, 15m, 24h, 7d, 2w or permanent"
# Longer than any block or simulation means; a bigger number is a typo (permanent is the word for "no end").
MAX_DURATION_SECONDS = 100 * 365 * 86400
_DURATION_CHARS = 40  # '1 week 6 days 23 hours 59 minutes' fits; longer text is not a length
_BARE_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")
_MONTHS_YEARS = re.compile(r"\d\s*(mo|mons?|months?|y|yrs?|years?)\b")
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def split(value: str) -> tuple[str, ...]:
    """'a, b,,c' -> ('a', 'b', 'c')."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def parse_duration(text: str) -> int | None:
    """Seconds for a length written with its unit (90s, 15m, 24h, 7d, 2w, 1h30m, 2 weeks); None for 'permanent'.

    People's input goes through here (the CLI's --for, the desk's forms, the API): a bare number is
    refused, because '3' was read as 3 seconds by people who meant hours or days, and an empty text is
    refused, because a block without an end has to be asked for by name. pytimeparse reads the units;
    the checks and the messages around it are ours."""
    raw = str(text).strip()
    word = raw.lower()
    if word in PERMANENT_WORDS:
        return None
    if not word:
        raise ValueError(f"no length given: write one of {DURATION_FORMS}")
    if len(word) > _DURATION_CHARS:
        raise ValueError(f"{raw[:_DURATION_CHARS]!r}... is too long to be a length of time: write e.g. {DURATION_FORMS}")
    if _BARE_NUMBER.fullmatch(word):
        raise ValueError(f"{raw!r} has no unit, so it could mean seconds or days: write it with one, "
                         f"e.g. {DURATION_FORMS}")
    if ":" in word or "/" in word:  # pytimeparse reads 1:30 as 90 s and 2h/4s as 2h4s; people mean otherwise
        raise ValueError(f"{raw!r} can be read more than one way: write it with units, e.g. 1h30m, or {DURATION_FORMS}")
    seconds = timeparse(word)
    if seconds is None and _MONTHS_YEARS.search(word):
        raise ValueError(f"{raw!r}: months and years are not units here (they differ in length): write days or "
                         "weeks, e.g. 30d or 52w")
    if seconds is None:
        raise ValueError(f"{raw!r} is not a duration: write e.g. {DURATION_FORMS} (1h30m and 2 weeks work too)")
    if seconds <= 0:
        raise ValueError(f"{raw!r} must be longer than zero: write e.g. {DURATION_FORMS}")
    if seconds < 1:
        raise ValueError(f"{raw!r} is shorter than a second: write whole seconds or more, e.g. 90s")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"{raw!r} is longer than 100 years: write permanent for something that never ends")
    return int(seconds)


def parse_duration_or_seconds(text: str) -> int | None:
    """parse_duration for settings that were documented in seconds before units were required
    (IVR_SANCTION_LADDER): a bare whole number there is still read as seconds, so an existing
    configuration keeps its meaning. Never use it for what people type into the CLI, desk or API."""
    raw = str(text).strip()
    if raw.isdigit():
        if int(raw) <= 0:
            raise ValueError(f"{raw!r} must be longer than zero: write e.g. {DURATION_FORMS}")
        if int(raw) > MAX_DURATION_SECONDS:
            raise ValueError(f"{raw!r} seconds is longer than 100 years: write permanent for something that never ends")
        return int(raw)
    return parse_duration(raw)


def format_duration(seconds: int) -> str:
    """Seconds as people write them and parse_duration reads them back: 604800 -> '7d', 5400 -> '1h30m'."""
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def format_ladder(stored: str) -> str:
    """The sanction ladder as stored for flag.lua ('86400,604800,p': seconds, 'p' for permanent) as people write
    it and the setting reads it back: '1d, 7d, permanent'. Text that is not a stored ladder comes back as it is."""
    steps = split(stored)
    if not steps or not all(step == "p" or step.isdigit() for step in steps):
        return stored
    return ", ".join("permanent" if step == "p" else format_duration(int(step)) for step in steps)


def parse_shifts(text: str) -> tuple[tuple[str, int, int], ...]:
    """'night=22-06,day=06-14' -> (('night', 22, 6), ('day', 6, 14)); hours are local, end exclusive."""
    out = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        m = re.fullmatch(r"([A-Za-z][\w-]{0,23})=(\d{1,2})-(\d{1,2})", item)
        if not m or int(m.group(2)) > 23 or int(m.group(3)) > 24 or int(m.group(2)) == int(m.group(3)) % 24:
            raise ValueError(f"IVR_REPORT_SHIFTS: {item!r} is not NAME=START-END in whole hours, e.g. night=22-06")
        out.append((m.group(1), int(m.group(2)), int(m.group(3)) % 24))
    if not out:
        raise ValueError("IVR_REPORT_SHIFTS needs at least one shift, e.g. day=08-20,night=20-08")
    return tuple(out)


# ---- typed setting values: each takes the raw text (or an already typed value from an override) ----------
def text(value: Any) -> str:
    return str(value)


def lower_text(value: Any) -> str:
    return str(value).strip().lower()


def on_off(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word not in _TRUE + _FALSE:
        raise ValueError(f"{value!r} is not on or off: write 1 or 0")
    return word in _TRUE


def whole(value: Any) -> int:
    """A whole number, zero or more."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise ValueError(f"{value!r} must not be negative")
    return number


def seconds(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number of seconds, e.g. 0.5") from None


def path(value: Any) -> Path:
    return Path(value)


def names(value: Any) -> tuple[str, ...]:
    """A comma-separated list (agents, supervisors)."""
    if isinstance(value, (tuple, list)):
        return tuple(str(v) for v in value)
    return split(str(value))


TEAM_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,29}$")
RESERVED_TEAM_NAMES = frozenset({"supervisor", "supervisors", "agents", "isolation"})


def teams(value: Any) -> dict[str, tuple[str, ...]]:
    """IVR_TEAMS: named teams of agents, 'billing=+15550001111,client:anna; complaints=+15550003333' (teams apart by
    ';', members by ',' or spaces). A contact restriction may send a number's calls to one team only."""
    if isinstance(value, dict):
        return {str(k): tuple(v) for k, v in value.items()}
    found: dict[str, tuple[str, ...]] = {}
    for part in str(value).split(";"):
        if not part.strip():
            continue
        name, sep, members = part.partition("=")
        name = name.strip().lower()
        if not sep or not TEAM_NAME.match(name):
            raise ValueError(f"IVR_TEAMS {part.strip()[:40]!r}: write NAME=MEMBER,MEMBER with a name of 1-30 lower-case "
                             "letters, digits, '-' or '_', e.g. billing=+15550001111,client:anna; teams apart by ';'")
        if name in RESERVED_TEAM_NAMES:
            raise ValueError(f"IVR_TEAMS: {name!r} names a queue the service has already; call the team otherwise")
        if name in found:
            raise ValueError(f"IVR_TEAMS names team {name} twice: write its members once")
        people = tuple(m for m in re.split(r"[,\s]+", members) if m)
        if not people:
            raise ValueError(f"IVR_TEAMS: team {name} has no members; list its agents' identities after '='")
        found[name] = people
    return found


def hours(value: Any) -> str:
    """Opening or calling hours, checked (see blocklist.hours), kept as written."""
    parse_hours(str(value))
    return str(value)


def ladder(value: Any) -> tuple[int | None, ...]:
    """The sanction ladder (IVR_SANCTION_LADDER): durations, permanent last; a bare number is seconds,
    as it was documented before units were required (see parse_duration_or_seconds)."""
    if isinstance(value, (tuple, list)):
        return tuple(value)
    return tuple(parse_duration_or_seconds(step) for step in split(str(value)))


def backoff(value: Any) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in (value if isinstance(value, (tuple, list)) else split(str(value))))
    except ValueError:
        raise ValueError("write whole seconds separated by commas, e.g. 1,2,4,8") from None


def pairs(example: str, check: Callable[[str, str], tuple[str, str]] | None = None) -> Callable[[Any], dict[str, str]]:
    """A parser of 'KEY=VALUE,KEY=VALUE' (a line's language or hours, a country's language)."""

    def parse(value: Any) -> dict[str, str]:
        if isinstance(value, dict):
            items = [(str(k), str(v)) for k, v in value.items()]
        else:
            items = []
            for item in split(str(value)):
                key, sep, val = item.partition("=")
                if not sep:
                    raise ValueError(f"{item!r}: write {example}")
                items.append((key.strip(), val.strip()))
        return dict(check(k, v) if check else (k, v) for k, v in items)

    return parse


def _line_hours(line: str, value: str) -> tuple[str, str]:
    parse_hours(value)
    return line, value


def _country(country: str, lang: str) -> tuple[str, str]:
    if len(country) != 2:
        raise ValueError(f"{country}={lang!r}: write COUNTRY=LANG with a two-letter country code, e.g. ZA=af")
    return country.upper(), lang


line_languages = pairs("LINE=LANG, e.g. +27215550100=af")
line_hours = pairs("LINE=HOURS, e.g. +18005551212=Mon-Fri 08:00-18:00", _line_hours)
country_languages = pairs("COUNTRY=LANG with a two-letter country code, e.g. ZA=af", _country)
