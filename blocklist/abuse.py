"""The abuse taxonomy: what kind of abuse a flag or a difficult-caller move records.

One closed list, used by the phone keys, the desk, the API, the reports and the agents' breather. The
categories follow what helplines and ombudsmen record about abusive contact (obscene, threatening, sexual,
hateful, nonsense or prank, silent, automated, repeated complaints pursued abusively); free text stays in
the note. Words for people are in WORDS; the desk translates them (ivr/desk), the reports print them.

`weight` scales the agent's wellbeing break after such a call: a threat weighs more than a prank.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    key: str  # stored in events, history and the reports (a-z and _)
    words: str  # plain words, as the desk and the reports show them
    weight: float  # the breather after such a call, as a multiple of the line's breather


CATEGORIES: tuple[Category, ...] = (
    Category("obscene", "obscene or abusive language", 1.5),
    Category("threats", "threats", 3.0),
    Category("sexual", "sexual harassment", 2.5),
    Category("hate", "hate speech", 2.5),
    Category("nonsense", "nonsense or prank", 1.0),
    Category("silent", "silent call", 1.0),
    Category("robocall", "robocall", 0.5),
    Category("repeat_complaint", "repeat-complaint abuse", 1.5),
    Category("other", "other", 1.0),
)
BY_KEY = {c.key: c for c in CATEGORIES}
KEYS = tuple(BY_KEY)
WORDS = {c.key: c.words for c in CATEGORIES}
DEFAULT = "obscene"  # what `*` then 9 on the phone records unless IVR_FLAG_CATEGORY says otherwise

# What older records and the desk's earlier flag reasons meant, in today's categories.
LEGACY = {"threat": "threats", "prank": "nonsense", "harassment": DEFAULT}


def category(value: object, default: str | None = None) -> str:
    """The category key for `value` (a key, or a legacy reason); ValueError naming the choices when it is
    none of them, unless a `default` is given for that case (reading old records)."""
    text = str(value or "").strip().lower().replace("-", "_").replace(" ", "_")
    text = LEGACY.get(text, text)
    if text in BY_KEY:
        return text
    if default is not None:
        return default
    raise ValueError(f"abuse category {str(value)[:30]!r}: use one of {', '.join(KEYS)}")


def weight(key: str) -> float:
    """The breather multiple of a category (1.0 for anything unknown, e.g. a record older than categories)."""
    found = BY_KEY.get(key)
    return found.weight if found else 1.0
