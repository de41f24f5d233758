"""Warnings on record: the limit-setting warnings (key 2, the desk's and the API's warn) a number has had.

Ombudsmen's unreasonable-conduct policies warn before they restrict: a caller who keeps needing the polite limit
is a pattern across calls, which no one agent sees. Each warning counts per number in one hash (keys.WARNINGS,
kept with AOF like the blocklist, so a restart keeps it) and is written into the number's history; after
IVR_WARNINGS_BEFORE_OFFER of them the number's desk page and the review list offer the manager a restriction or
a block. The audited erasure of a number (Blocklist.erase) removes its count with its history.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from blocklist import keys
from blocklist.numbers import WITHHELD


def on_file(number: str) -> bool:
    """Only a real number has a record: a withheld caller's warnings cannot be told apart."""
    return bool(number) and number != WITHHELD and number.startswith("+")


def count(r: Any, number: str) -> int:
    """The warnings on record for one number (0 for none, or for a withheld caller)."""
    return int(r.hget(keys.WARNINGS, number) or 0) if on_file(number) else 0


def counts(r: Any, numbers: Iterable[str]) -> dict[str, int]:
    """The warnings on record of several numbers, in one round trip (numbers with none are left out)."""
    wanted = sorted({n for n in numbers if on_file(n)})
    if not wanted:
        return {}
    found = r.hmget(keys.WARNINGS, wanted)
    return {n: int(v) for n, v in zip(wanted, found, strict=True) if v and int(v) > 0}


def offer_due(warnings: int, threshold: int) -> bool:
    """Whether the manager should be offered a restriction or a block (threshold 0: never)."""
    return threshold > 0 and warnings >= threshold


def due(r: Any, threshold: int, limit: int = 200) -> list[tuple[str, int]]:
    """Numbers with at least `threshold` warnings on record that are neither blocked on every line nor under a
    contact restriction: the ones to offer the manager (the review list), most warnings first."""
    if threshold <= 0:
        return []
    warned = [(n, int(v)) for n, v in r.hscan_iter(keys.WARNINGS, count=1000) if int(v or 0) >= threshold]
    if not warned:
        return []
    pipe = r.pipeline(transaction=False)
    for number, _n in warned:
        pipe.exists(keys.block(keys.GLOBAL, number), keys.restriction(number))
    dealt_with = pipe.execute()
    open_ = [(number, n) for (number, n), done in zip(warned, dealt_with, strict=True) if not done]
    return sorted(open_, key=lambda item: (-item[1], item[0]))[:limit]
