"""The abuse categories (blocklist/abuse.py) in the desk user's language.

The words are written out here, each in gettext, so that pybabel finds them for the catalogs; abuse.WORDS holds
the same English words for the reports and the command line (tests/ivr/desk/test_desk_taxonomy.py keeps the two
in step).
"""

from __future__ import annotations

from flask_babel import gettext as _

from blocklist import abuse


def _words() -> dict[str, str]:
    """Every category's words, translated for this request (gettext needs the request's locale: not at import)."""
    return {
        "obscene": _("obscene or abusive language"),
        "threats": _("threats"),
        "sexual": _("sexual harassment"),
        "hate": _("hate speech"),
        "nonsense": _("nonsense or prank"),
        "silent": _("silent call"),
        "robocall": _("robocall"),
        "repeat_complaint": _("repeat-complaint abuse"),
        "other": _("other"),
    }


def category_words(value: object) -> str:
    """The plain words of a category key or a legacy reason (anything unknown or missing reads as "other")."""
    return _words()[abuse.category(value, default="other")]


def category_choices() -> list[tuple[str, str]]:
    """(key, words) of every category, in the taxonomy's order: the desk's category lists."""
    words = _words()
    return [(key, words[key]) for key in abuse.KEYS]
