"""STIR/SHAKEN attestation: Twilio's `StirVerstat` webhook parameter, reduced to the class a rule can use.

Twilio sends `StirVerstat` only for calls that carry a SHAKEN PASSporT ("Trusted Calling with SHAKEN/STIR"), so
its absence is the normal case for calls nobody signed. The documented values, and their class here:

- `TN-Validation-Passed-A`, `-B`, `-C` (also with `-Diverted` or `-Passthrough`): 'A', 'B', 'C'
- `TN-Validation-Failed-A`, `-B`, `-C` (also `-Diverted`, `-Passthrough`) and `TN-Validation-Failed`: 'failed'
- `No-TN-Validation` (a PASSporT that could not be used: malformed, stale, for another number): 'unsigned'
- absent, `NULL` and anything else: 'unsigned'

Twilio's table describes `NULL` in the same words as `TN-Validation-Failed`; it counts as 'unsigned' here on
purpose: an unknown value must never treat a caller harder than no value at all.
"""

from __future__ import annotations

ATTESTATION_CLASSES = ("A", "B", "C", "failed", "unsigned")

# Longer is not a StirVerstat (the longest documented value has 34 characters): not even looked at.
_MAX_LENGTH = 64


def _documented() -> dict[str, str]:
    table = {"TN-VALIDATION-FAILED": "failed", "NO-TN-VALIDATION": "unsigned", "NULL": "unsigned"}
    for level in "ABC":
        for variant in ("", "-DIVERTED", "-PASSTHROUGH"):
            table[f"TN-VALIDATION-PASSED-{level}{variant}"] = level
            table[f"TN-VALIDATION-FAILED-{level}{variant}"] = "failed"
    return table


# Every documented value, written the one way _normal() writes any input: one dict lookup per call.
_CLASS_OF = _documented()

_WORDS = {
    "A": "caller ID verified by the carrier (A)",
    "B": "caller known to the carrier, number not verified (B)",
    "C": "call signed, caller not known to the carrier (C)",
}
_VARIANTS = {"-DIVERTED": ", forwarded", "-PASSTHROUGH": ", passed through"}


def _normal(stir: str | None) -> str:
    """Upper case, no spaces around, inner spaces and underscores as hyphens: ' tn validation passed a' reads."""
    if not stir or len(stir) > _MAX_LENGTH:
        return ""
    return "-".join(stir.strip().upper().replace("_", " ").replace("-", " ").split())


def attestation_class(stir: str | None) -> str:
    """The class of a StirVerstat value: 'A', 'B', 'C', 'failed' or 'unsigned' (absent or unknown); never raises."""
    if not isinstance(stir, str):
        return "unsigned"
    return _CLASS_OF.get(_normal(stir), "unsigned")


def describe_attestation(stir: str | None) -> str:
    """Plain words for a StirVerstat value, for explanations: 'caller ID verified by the carrier (A)'."""
    normal = _normal(stir) if isinstance(stir, str) else ""
    cls = _CLASS_OF.get(normal, "unsigned")
    variant = next((words for suffix, words in _VARIANTS.items() if normal.endswith(suffix)), "")
    if cls == "failed":
        level = normal.removesuffix("-DIVERTED").removesuffix("-PASSTHROUGH")[-2:]
        return f"caller ID verification failed{f' ({level[1]})' if level[0] == '-' else ''}{variant}"
    if cls == "unsigned":
        if normal == "NO-TN-VALIDATION":
            return "not signed (the carrier's signature could not be used)"
        return "not signed"
    return _WORDS[cls] + variant
