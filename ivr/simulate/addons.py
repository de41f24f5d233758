"""The `AddOns` JSON Twilio posts with an incoming call, built from the answers the add-ons should give.

The simulator attaches it to its calls, the bench to its requests, the tests to theirs; each add-on's `result`
has the shape its documentation (or the best public example) shows: tests/blocklist/addons/ says which.
blocklist.reputation reads it back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

# The add-ons' unique names, as Twilio's Marketplace installs them, with the value each takes here:
NOMOROBO = "nomorobo_spamscore"  # score 0 or 1
MARCHEX = "marchex_cleancall"  # "PASS" or "BLOCK", or (recommendation, reason)
ICEHOOK = "icehook_scout"  # risk level 0-100
EKATA = "ekata_phone_valid"  # reputation level 1-4
TRUESPAM = "truecnam_truespam"  # spam score 0-100
ADDONS = (NOMOROBO, MARCHEX, ICEHOOK, EKATA, TRUESPAM)

# What Twilio's tutorial shows for an add-on that could not answer (fixtures/failed_nomorobo.json).
FAILED = {"status": "failed", "message": "Vendor could not complete request", "code": 61002, "result": {}}

# Marchex's reason for a PASS is documented ("CleanCall"); the BLOCK reason here is a stand-in.
_MARCHEX_REASONS = {"PASS": "CleanCall", "BLOCK": "Robocall"}


def _icehook_rating(level: int) -> str:
    """Scout's word beside its risk level. Only "highly_likely" (94) and "possible" (47) are seen in its examples;
    the bands are the simulator's."""
    if level >= 85:
        return "highly_likely"
    if level >= 60:
        return "likely"
    return "possible" if level >= 40 else "unlikely"


def addon_result(name: str, value: Any) -> dict[str, Any]:
    """One add-on's `result` object for `value`; ValueError naming the add-ons known here."""
    if name == NOMOROBO:
        return {"status": "success", "message": "success", "score": int(value)}
    if name == MARCHEX:
        recommendation, reason = value if isinstance(value, tuple) else (value, _MARCHEX_REASONS.get(value, ""))
        return {"result": {"recommendation": recommendation, "reason": reason}}
    if name == ICEHOOK:
        return {"risk_level": int(value), "risk_rating": _icehook_rating(int(value)), "line_type": "voip",
                "dialcode_invalid": False, "dialcode_impossible": False}
    if name == EKATA:
        spam = int(value) >= 3
        return {"error": None, "report_count": 1 if spam else 0, "reputation_level": int(value), "volume_score": 1,
                "reputation_details": {"score": 0, "type": "NotApplicable" if spam else "NotSpamType",
                                       "category": None},
                "warnings": []}
    if name == TRUESPAM:
        return {"spam_score": int(value), "spam_score_match": 1}
    raise ValueError(f"add-on {name!r}: the simulator knows {', '.join(ADDONS)}")


def addons_payload(scores: Mapping[str, Any], envelope_failed: bool = False) -> str:
    """Twilio's AddOns JSON with one answer per add-on in `scores` (unique name -> value, None = it failed)."""
    if envelope_failed:
        return json.dumps({"status": "failed", "message": "Add-ons could not be run", "code": 61001, "results": {}})
    results: dict[str, Any] = {}
    for name, value in scores.items():
        if name not in ADDONS:
            raise ValueError(f"add-on {name!r}: the simulator knows {', '.join(ADDONS)}")
        sid = "XR" + hashlib.sha256(f"{name}:{value}".encode()).hexdigest()[:32]
        if value is None:
            results[name] = {"request_sid": sid, **FAILED}
        else:
            results[name] = {"request_sid": sid, "status": "successful", "message": None, "code": None,
                             "result": addon_result(name, value)}
    return json.dumps({"status": "successful", "message": None, "code": None, "results": results},
                      separators=(",", ":"))
