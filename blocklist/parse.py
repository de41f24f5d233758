"""Parsers for the words people write in settings, forms and commands: durations, on/off, lists, LINE=VALUE
pairs, report shifts. Each raises ValueError with a message that says how to write the value."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from blocklist.hours import parse_hours

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
PERMANENT_WORDS = ("permanent", "forever", "inf")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def split(value: str) -> tuple[str, ...]:
    """'a, b,,c' -> ('a', 'b', 'c')."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def parse_duration(text: str) -> int | None:
    """Seconds for '90s', '15m', '24h', '7d', '2w' or a bare number; None for 'permanent'."""
    text = text.strip().lower()
    if text in PERMANENT_WORDS:
        return None
    number, unit = (text[:-1], DURATION_UNITS[text[-1]]) if text and text[-1] in DURATION_UNITS else (text, 1)
    try:
        seconds = int(float(number) * unit)
    except (ValueError, OverflowError):  # OverflowError: '1e400' is infinite
        raise ValueError(f"{text!r} is not a duration: write e.g. 30s, 15m, 24h, 7d or permanent") from None
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero seconds")
    return seconds


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


def hours(value: Any) -> str:
    """Opening or calling hours, checked (see blocklist.hours), kept as written."""
    parse_hours(str(value))
    return str(value)


def ladder(value: Any) -> tuple[int | None, ...]:
    """The sanction ladder: durations, permanent last."""
    if isinstance(value, (tuple, list)):
        return tuple(value)
    return tuple(parse_duration(step) for step in split(str(value)))


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
