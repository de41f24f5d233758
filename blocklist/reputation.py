"""Caller reputation from Twilio Marketplace add-ons: the voice webhook's `AddOns` JSON, read as one 0-100 score.

Twilio runs every add-on installed for incoming calls and puts their answers in the `AddOns` form parameter:
`{"status": "successful", "message": null, "code": null, "results": {"<unique name>": {"request_sid": "XR...",
"status": "successful" | "failed", "message": ..., "code": ..., "result": {...}}}}`. Each add-on's `result` has
its own shape; the ones read here (the shapes and where they are documented: tests/blocklist/addons/):

- Nomorobo Spam Score, `result.score` 0 or 1: 1 -> 100, 0 -> 0.
- Marchex Clean Call, `result.result.recommendation` BLOCK or PASS (and a `reason`): BLOCK -> 100, PASS -> 0.
- Icehook Systems Scout, `result.risk_level` 0-100: as it is.
- Ekata (formerly Whitepages Pro) Phone Reputation, `result.reputation_level` 1-4: 0, 33, 67, 100 (the legacy
  Whitepages shape `result.results[].reputation.level` too).
- TrueSpam by TrueCNAM, `result.spam_score` 0-100: as it is (no opinion when `spam_score_match` is 0).

The call's reputation is the highest score among the add-ons that answered (`status` successful). Anything else is
no opinion, never a reason to stop a call: a failed envelope or add-on, an add-on not known here, a value outside
its documented range (negative, too big, NaN, infinite, a list where a number belongs). The webhook reads this on
every call, so the work is bounded: bodies over ADDONS_MAX are refused before they are parsed, at most
MAX_ADDONS answers are looked at, and no input raises.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Any

# Twilio's AddOns for a handful of add-ons is 1-3 KiB; 64 KiB leaves room for chatty ones and caps the parse.
ADDONS_MAX = 64 * 1024
# Answers looked at per call: an account installs a few add-ons; more is not Twilio.
MAX_ADDONS = 32
DETAIL_CHARS = 40

_NUMERIC_TEXT = re.compile(r"\s*[0-9]{1,6}(?:\.[0-9]{1,6})?\s*", re.ASCII)
_PRINTABLE = re.compile(r"[^\x20-\x7e]+")


@dataclass(frozen=True)
class Reputation:
    """One call's reputation: `score` 0 (clean) to 100 (unwanted), the add-on that gave it, and its own words."""

    score: int
    provider: str  # a readable name: "Nomorobo Spam Score"
    detail: str  # the add-on's answer as it gave it: "score 1", "BLOCK: Robocaller", "risk level 87"

    def __post_init__(self) -> None:
        if isinstance(self.score, bool) or not isinstance(self.score, int) or not 0 <= self.score <= 100:
            raise ValueError(f"reputation score {self.score!r}: give a whole number from 0 to 100")


def _number(value: Any, low: float, high: float) -> float | None:
    """A finite number within [low, high] (digits in a short string count too), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not _NUMERIC_TEXT.fullmatch(value):
            return None
        value = float(value)
    if not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return float(value) if low <= value <= high else None


def _shown(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.2f}".rstrip("0")


def _words(value: Any) -> str:
    """An add-on's own short text, safe to store and show: printable ASCII, one line, at most DETAIL_CHARS."""
    if not isinstance(value, str):
        return ""
    if value.isascii() and value.isprintable() and "  " not in value and value == value.strip():
        return value[:DETAIL_CHARS]  # the usual answer ('unlikely', 'Robocaller'): already as it would be made
    return " ".join(_PRINTABLE.sub(" ", value[: DETAIL_CHARS * 2]).split())[:DETAIL_CHARS]


def _nomorobo(result: dict[str, Any]) -> tuple[int, str] | None:
    score = _number(result.get("score"), 0, 1)
    return None if score is None else (round(score * 100), f"score {_shown(score)}")


def _marchex(result: dict[str, Any]) -> tuple[int, str] | None:
    inner = result.get("result")
    if not isinstance(inner, dict):
        return None
    recommendation = _words(inner.get("recommendation")).upper()
    if recommendation not in ("BLOCK", "PASS"):
        return None
    reason = _words(inner.get("reason"))
    return (100 if recommendation == "BLOCK" else 0), f"{recommendation}: {reason}" if reason else recommendation


def _icehook(result: dict[str, Any]) -> tuple[int, str] | None:
    level = _number(result.get("risk_level"), 0, 100)
    if level is None:
        return None
    rating = _words(result.get("risk_rating"))
    return round(level), f"risk level {_shown(level)}" + (f" ({rating})" if rating else "")


_EKATA_SCORES = {1: 0, 2: 33, 3: 67, 4: 100}


def _ekata_level(value: Any) -> int | None:
    level = _number(value, 1, 4)
    return int(level) if level is not None and level == int(level) else None


def _ekata(result: dict[str, Any]) -> tuple[int, str] | None:
    level = _ekata_level(result.get("reputation_level"))
    return None if level is None else (_EKATA_SCORES[level], f"reputation level {level}")


def _whitepages(result: dict[str, Any]) -> tuple[int, str] | None:
    """The legacy Whitepages Pro shape: a list of results, each with reputation.level; the worst one counts."""
    found = result.get("results")
    if not isinstance(found, list):
        return None
    levels = [_ekata_level(item.get("reputation", {}).get("level")) for item in islice(found, 4)
              if isinstance(item, dict) and isinstance(item.get("reputation", {}), dict)]
    level = max((lv for lv in levels if lv is not None), default=None)
    return None if level is None else (_EKATA_SCORES[level], f"reputation level {level}")


def _truespam(result: dict[str, Any]) -> tuple[int, str] | None:
    if "spam_score_match" in result and _number(result.get("spam_score_match"), 1, 1) is None:
        return None  # the number is not in TrueSpam's data: its score says nothing
    score = _number(result.get("spam_score"), 0, 100)
    return None if score is None else (round(score), f"spam score {_shown(score)}")


Reader = Callable[[dict[str, Any]], "tuple[int, str] | None"]

# (start of the add-on's unique name, its readable name, how its result reads). Twilio lets an account change only
# the end of a unique name ("suffix only"), so the start says which add-on answered.
PROVIDERS: tuple[tuple[str, str, Reader], ...] = (
    ("nomorobo_spamscore", "Nomorobo Spam Score", _nomorobo),
    ("marchex_cleancall", "Marchex Clean Call", _marchex),
    ("icehook_scout", "Icehook Scout", _icehook),
    ("ekata", "Ekata Phone Reputation", _ekata),
    ("whitepages_pro_phone_rep", "Ekata Phone Reputation", _whitepages),
    ("truecnam_truespam", "TrueSpam", _truespam),
)


def _successful(value: Any) -> bool:
    return value == "successful" or (isinstance(value, str) and value.strip().lower() == "successful")


def _envelope(raw: str | bytes | bytearray) -> dict[str, Any] | None:
    """The parsed AddOns JSON when it is small enough, valid and an object; else None (never raises)."""
    if isinstance(raw, bytes | bytearray):
        if len(raw) > ADDONS_MAX:
            return None
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(raw, str) or len(raw) > ADDONS_MAX:
        return None
    try:
        parsed = json.loads(raw.removeprefix("\ufeff"))
    except (ValueError, RecursionError):  # not JSON, digits past int's limit, nesting deeper than the stack
        return None
    return parsed if isinstance(parsed, dict) else None


def reputation_from_addons(raw: str | bytes | None) -> Reputation | None:
    """The highest score among the add-ons that answered, or None (no AddOns, failed, unknown, malformed)."""
    if not raw:
        return None
    envelope = _envelope(raw)
    if envelope is None or not _successful(envelope.get("status")):
        return None
    results = envelope.get("results")
    if not isinstance(results, dict):
        return None
    best: tuple[int, str, str] | None = None  # (score, provider, detail); made a Reputation once, at the end
    for name, answer in islice(results.items(), MAX_ADDONS):
        if not isinstance(answer, dict) or not _successful(answer.get("status")):
            continue
        result = answer.get("result")
        if not isinstance(result, dict):
            continue
        unique = name.lower()
        for start, provider, read in PROVIDERS:
            if unique.startswith(start):
                found = read(result)
                if found is not None and (best is None or found[0] > best[0]):
                    best = (found[0], provider, found[1])
                break
    return None if best is None else Reputation(*best)
