"""The managers' desk with the caller signals: a campaign's exchange and a signal's reason on the review
list, dismissing an exchange, and the signal settings per line."""

from __future__ import annotations

import html
from typing import Any

from tests.support.callflow import place_call
from tests.support.constants import LINE
from tests.support.desk import post_form


def text(resp: Any) -> str:
    return html.unescape(str(resp.get_data(as_text=True)))


def test_a_campaign_and_a_failed_verification_on_the_review_list(app: Any, mgr: Any, twilio: Any) -> None:
    for i in range(6):
        place_call(twilio, f"+1415555{4000 + i:04d}")
    place_call(twilio, "+13125550188", StirVerstat="TN-Validation-Failed-A")
    page = text(mgr.get("/desk/review"))
    assert "exchange +1415555" in page and "campaign: 6 numbers from +1415555 in 10 min (limit 5)" in page
    assert "Try blocking the exchange" in page and "kind=prefix" in page
    assert "STIR/SHAKEN TN-Validation-Failed-A (verification failed)" in page
    assert post_form(mgr, "/desk/review/dismiss", {"number": "+1415555", "line": LINE}).status_code == 302
    page = text(mgr.get("/desk/review"))
    assert "exchange +1415555" not in page and "+13125550188" in page


def test_the_signal_settings_per_line(app: Any, mgr: Any) -> None:
    bl = app.extensions["ivr"].blocklist
    page = text(mgr.get(f"/desk/settings?line={LINE}"))
    assert "Caller ID verification failed (STIR/SHAKEN)" in page and "Campaign: more than N different" in page
    resp = post_form(mgr, "/desk/settings", {"line": LINE, "attest_failed": "linefault", "reputation_high": "80"})
    assert resp.status_code == 302
    assert bl.line_settings(LINE) == {"attest_failed": "linefault", "reputation_high": "80"}
    resp = post_form(mgr, "/desk/settings", {"line": LINE, "reputation_high": "ninety", "campaign_action": "review"})
    assert resp.status_code == 400 and "score from 0 to 100" in text(resp)
    assert bl.line_settings(LINE) == {"attest_failed": "linefault", "reputation_high": "80"}  # nothing saved
