"""The caller signals as the reports count them: a call's STIR/SHAKEN attestation class, its add-on
reputation tier, and what happened at the door; campaigns as the screen announced them.

The fold and the `signals` report both use these, so a call lands in the same class and tier everywhere. Calls
recorded before the screen wrote `attest` get their class from the StirVerstat they carry (the same
blocklist.attestation the screen uses), and calls without a score are tier 'none': old events fold as they did,
and the new counts cover them too.
"""

from __future__ import annotations

from typing import Any

from blocklist.attestation import ATTESTATION_CLASSES, attestation_class
from blocklist.policy import SIGNAL_ACTIONS

# What the door did with a call: put it through (allowed, reviewed or not), or stopped it (a treatment). "Stopped"
# is exactly the calls the headline counts as treated at the door (decision 'treat').
OUTCOMES = ("allowed", "stopped")
# Reputation tiers of the reports: fixed bands of the 0-100 add-on score, highest first, whatever the lines'
# own thresholds are (those change; a report compares periods). 'none': no add-on answered.
TIERS: tuple[tuple[str, int], ...] = (("high", 90), ("medium", 60), ("low", 0))
TIER_NAMES = (*(name for name, _floor in TIERS), "none")
TIER_WORDS = {"high": "high (90-100)", "medium": "medium (60-89)", "low": "low (0-59)", "none": "no score"}
# What each attestation class means to a reader (the carrier vouches for the caller and the number, for the caller
# only, or only that the call came in through its gateway; the signature did not verify; there was none).
ATTESTATION_WORDS = {"A": "A: full", "B": "B: partial", "C": "C: gateway", "failed": "verification failed",
                     "unsigned": "not signed"}
# A campaign's action as the screen records it; anything else is counted as 'other'.
CAMPAIGN_ACTIONS = (*SIGNAL_ACTIONS, "other")
PROVIDER_CHARS = 40  # an add-on's name, as counted (names are short; the field comes from a webhook)


def call_attestation(ev: dict[str, str]) -> str:
    """The attestation class of a call event: its `attest` field, else derived from its StirVerstat."""
    recorded = ev.get("attest") or ""
    return recorded if recorded in ATTESTATION_CLASSES else attestation_class(ev.get("StirVerstat") or None)


def reputation_score(value: Any) -> int | None:
    """The add-on score of a call event's `rep` field (whole number 0-100), or None when absent or not a score."""
    text = str(value or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 3:
        return None
    score = int(text)
    return score if score <= 100 else None


def reputation_tier(score: int | None) -> str:
    """The report tier of a score: 'high' 90-100, 'medium' 60-89, 'low' 0-59, 'none' without a score."""
    if score is None:
        return "none"
    return next(name for name, floor in TIERS if score >= floor)


def outcome(ev: dict[str, str]) -> str:
    """'stopped' when the door treated the call, else 'allowed'."""
    return "stopped" if ev.get("decision") == "treat" else "allowed"


def campaign_action(value: Any) -> str:
    text = str(value or "")
    return text if text in SIGNAL_ACTIONS else "other"
