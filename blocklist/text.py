"""Text from callers and users as it is stored: printable, bounded."""

from __future__ import annotations

from typing import Any

MAX_FIELD = 200  # caller-controlled text is cut to this length before it is stored


def clean_text(value: Any, limit: int = MAX_FIELD) -> str:
    """Caller- or user-supplied text as stored: str, no control characters, bounded length."""
    text = "" if value is None else str(value)
    if not text.isprintable():  # the common case (printable already) skips the copy
        text = "".join(ch for ch in text if ch.isprintable())
    return text[:limit]
