"""The length of a block as the desk's block forms ask for it: a list of the usual lengths, or a custom one.

The list has no default on purpose: a block that never ends is chosen as "Permanent", never given to a
form left as it came. Without the page's script the custom field is always shown, so both fields can
arrive filled; the list then wins only if it says "custom", and a clash is refused rather than guessed.
"""

from __future__ import annotations

from blocklist.parse import DURATION_FORMS, parse_duration

CUSTOM = "custom"
# (value the form sends, what the list shows); each value is a length parse_duration reads.
BLOCK_LENGTHS: tuple[tuple[str, str], ...] = (
    ("1h", "1 hour"), ("1d", "1 day"), ("7d", "7 days"), ("30d", "30 days"), ("permanent", "Permanent"),
    (CUSTOM, "Custom length…"),
)


def chosen_length(choice: str, custom: str) -> int | None:
    """Seconds of the block the form asks for, None for permanent; ValueError saying what to choose."""
    choice, custom = choice.strip(), custom.strip()
    if choice == CUSTOM or (not choice and custom):
        if not custom:
            raise ValueError(f"write the custom length ({DURATION_FORMS}), or choose one from the list")
        return parse_duration(custom)
    if not choice:
        raise ValueError("choose how long the block lasts: 1 hour, 1 day, 7 days, 30 days, permanent, "
                         "or a custom length")
    if custom and custom.lower() != choice.lower():
        raise ValueError(f"the list says {choice} but the custom length says {custom}: choose “Custom length” "
                         "to use it, or empty the custom field")
    return parse_duration(choice)  # the list's own values, or a length a script or an older page sent
