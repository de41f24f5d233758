"""The managers' desk pages driven through the test client as a manager would use them."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from blocklist.numbers import WITHHELD
from tests.support.callflow import agent_connects, bridge, bridge_ends, place_call, press
from tests.support.constants import AGENT, LINE
from tests.support.desk import make_user, post_form

NUMBER = "+14155550123"



def flagged_by_phone(twilio: Any, number: str = NUMBER) -> Any:
    caller = place_call(twilio, number)
    agent = agent_connects(twilio, AGENT)
    bridge(twilio, agent, caller)
    after = bridge_ends(twilio, agent, caller)
    press(twilio, agent, after, "9")
    return caller


def text(resp: Any) -> str:
    return str(resp.get_data(as_text=True))


def test_dashboard_shows_a_flag_from_the_phone(app: Any, mgr: Any, twilio: Any, run_jobs: Any) -> None:
    before = text(mgr.get("/desk/dashboard"))
    assert "No flags yet." in before
    flagged_by_phone(twilio)
    recent = mgr.get("/desk/dashboard/recent")
    assert recent.status_code == 200 and NUMBER in text(recent) and "phone key" in text(recent)
    run_jobs()
    page = text(mgr.get("/desk/dashboard"))
    assert NUMBER in page
    assert '<span class="big-number">1</span> flagged calls' in page
    assert 'data-chart="heat_flags"' in page and "Flagged harassment calls by hour and weekday" in page
    assert "Deterrence" in page and "Agents&#39; exposure" in page or "Agents' exposure" in page
    assert AGENT in page  # the agents table


def test_dashboard_date_range_and_line_filter(app: Any, mgr: Any, twilio: Any, run_jobs: Any) -> None:
    flagged_by_phone(twilio)
    run_jobs()
    other_line = text(mgr.get("/desk/dashboard?line=%2B18005550000"))
    assert '<span class="big-number">0</span> flagged calls' in other_line
    this_line = text(mgr.get(f"/desk/dashboard?line={LINE.replace('+', '%2B')}"))
    assert '<span class="big-number">1</span> flagged calls' in this_line
    bad = mgr.get("/desk/dashboard?from=2030-01-02&to=2030-01-01")
    assert bad.status_code == 400 and "swap them" in text(bad)
    past = text(mgr.get("/desk/dashboard?from=2000-01-01&to=2000-01-31"))
    assert '<span class="big-number">0</span> flagged calls' in past


def test_block_search_and_history(app: Any, mgr: Any) -> None:
    resp = post_form(mgr, "/desk/blocklist/add", {"number": "(415) 555-0123", "reason": "threats", "duration": "7d"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/desk/numbers/{NUMBER}")
    listing = text(mgr.get("/desk/blocklist"))
    assert NUMBER in listing and "threats" in listing
    assert mgr.get("/desk/blocklist?q=415%20555%200123").headers["Location"].endswith(f"/desk/numbers/{NUMBER}")
    assert NUMBER in text(mgr.get("/desk/blocklist?q=threat"))
    assert "No blocks match" in text(mgr.get("/desk/blocklist?q=nothing-like-this"))
    page = text(mgr.get(f"/desk/numbers/{NUMBER}"))
    assert "threats" in page and "by max" in page and "Make permanent" in page


def test_bad_block_input_says_what_to_fix_and_writes_nothing(app: Any, mgr: Any) -> None:
    resp = post_form(mgr, "/desk/blocklist/add", {"number": "hello", "reason": "x", "duration": "7d"})
    assert resp.status_code == 400 and "Not blocked:" in text(resp)
    resp = post_form(mgr, "/desk/blocklist/add", {"number": NUMBER, "reason": "", "duration": "7d"})
    assert resp.status_code == 400 and "say why" in text(resp)
    resp = post_form(mgr, "/desk/blocklist/add", {"number": NUMBER, "reason": "x", "duration": "soon"})
    assert resp.status_code == 400 and "not a duration" in text(resp)
    assert app.extensions["ivr"].blocklist.list_blocks() == []


def test_unblock_with_reason_and_make_permanent(app: Any, mgr: Any) -> None:
    bl = app.extensions["ivr"].blocklist
    bl.block(NUMBER, by="test", reason="abuse", duration=86400)
    assert post_form(mgr, f"/desk/numbers/{NUMBER}/permanent", {"reason": "third time", "scope": "*"}).status_code == 302
    assert bl.entries(NUMBER)[0].until_ms is None
    resp = post_form(mgr, f"/desk/numbers/{NUMBER}/unblock", {"reason": "", "scope": "*"})
    assert resp.status_code == 302 and bl.entries(NUMBER)
    assert "say why" in text(mgr.get(resp.headers["Location"]))
    assert post_form(mgr, f"/desk/numbers/{NUMBER}/unblock", {"reason": "appeal upheld", "scope": "*"}).status_code == 302
    assert bl.entries(NUMBER) == []
    page = text(mgr.get(f"/desk/numbers/{NUMBER}"))
    assert "Not blocked." in page and "appeal upheld" in page and "third time" in page
    assert "Block this number" in page  # e.g. straight from the review list
    audit = text(mgr.get("/desk/audit"))
    assert "unblock" in audit and "appeal upheld" in audit and "permanent" in audit


def test_csv_upload_reports_each_bad_row_and_imports_nothing(app: Any, mgr: Any) -> None:
    csv = ("number,scope,treatment,reason,until,permanent\n"
           "+14155550123,,reject,prank caller,,yes\n"
           "not-a-number,,reject,oops,,yes\n"
           "+14155550124,,isolation,group calls,,yes\n")
    resp = post_form(mgr, "/desk/blocklist/import", {"file": (io.BytesIO(csv.encode()), "list.csv")},
                     content_type="multipart/form-data")
    assert resp.status_code == 400
    page = text(resp)
    assert 'class="row-errors"' in page and "<td>3</td>" in page and "nothing imported" in page
    assert app.extensions["ivr"].blocklist.list_blocks() == []
    resp = post_form(mgr, "/desk/blocklist/import", {"file": (io.BytesIO(csv.encode()), "list.csv"), "partial": "1"},
                     content_type="multipart/form-data")
    assert resp.status_code == 200 and "<td>3</td>" in text(resp)
    assert {e.number for e in app.extensions["ivr"].blocklist.list_blocks()} == {NUMBER, "+14155550124"}


def test_csv_upload_larger_than_a_webhook_body(app: Any, mgr: Any) -> None:
    rows = "".join(f"+1415555{i:04d},,reject,bulk import of a long list of known pranksters,,yes\n"
                   for i in range(2000))
    data = ("number,scope,treatment,reason,until,permanent\n" + rows).encode()
    assert len(data) > app.config["MAX_CONTENT_LENGTH"]
    resp = post_form(mgr, "/desk/blocklist/import", {"file": (io.BytesIO(data), "big.csv")},
                     content_type="multipart/form-data")
    assert resp.status_code == 200, text(resp)[:300]
    assert len(app.extensions["ivr"].blocklist.list_blocks(count=1000)) == 1000


def test_evidence_pack_download(app: Any, mgr: Any, twilio: Any) -> None:
    flagged_by_phone(twilio)
    resp = mgr.get(f"/desk/numbers/{NUMBER}/evidence.zip")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(resp.data)).namelist()
    assert any(n.endswith("/calls.csv") for n in names) and any(n.endswith("/SHA256SUMS") for n in names)
    assert "evidence pack downloaded" in text(mgr.get("/desk/audit"))


def test_reports_page_links_downloads_that_work_with_the_session(app: Any, mgr: Any, twilio: Any,
                                                                 run_jobs: Any) -> None:
    flagged_by_phone(twilio)
    run_jobs()
    page = text(mgr.get("/desk/reports"))
    assert "/reports/print?" in page and "/api/reports/frequency.csv?" in page
    assert mgr.get("/reports/print").status_code == 200
    csv = mgr.get("/api/reports/frequency.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"


def test_settings_change_is_validated_and_audited(app: Any, mgr: Any) -> None:
    bl = app.extensions["ivr"].blocklist
    page = text(mgr.get("/desk/settings"))
    assert "Withheld caller ID" in page and "IVR_SANCTION_LADDER" in page
    resp = post_form(mgr, "/desk/settings", {"line": "*", "withheld_policy": "linefault", "burst_calls": "3"})
    assert resp.status_code == 302
    assert bl.line_settings("*") == {"withheld_policy": "linefault", "burst_calls": "3"}
    resp = post_form(mgr, "/desk/settings", {"line": "*", "withheld_policy": "isolation", "burst_calls": "many"})
    assert resp.status_code == 400 and "whole number" in text(resp)
    assert bl.line_settings("*")["withheld_policy"] == "linefault"  # nothing saved
    resp = post_form(mgr, "/desk/settings", {"line": LINE, "language": "af"})
    assert resp.status_code == 302 and bl.line_settings(LINE) == {"language": "af"}
    audit = text(mgr.get("/desk/audit"))
    assert "withheld_policy=linefault" in audit and "language=af" in audit and "max" in audit


def test_review_list_from_the_burst_rule(app: Any, mgr: Any, twilio: Any) -> None:
    app.extensions["ivr"].blocklist.set_line_setting("*", "burst_calls", "2", by="test")
    for _ in range(3):
        place_call(twilio, NUMBER)
    page = text(mgr.get("/desk/review"))
    assert NUMBER in page and "Dismiss" in page
    assert post_form(mgr, "/desk/review/dismiss", {"number": NUMBER, "line": LINE}).status_code == 302
    assert "Nobody is waiting for review." in text(mgr.get("/desk/review"))


def test_dry_run_of_a_rule(app: Any, mgr: Any, twilio: Any) -> None:
    for _ in range(2):
        place_call(twilio, NUMBER)
    place_call(twilio, "anonymous")
    resp = post_form(mgr, "/desk/dryrun", {"kind": "prefix", "prefix": "+1415555", "days": "7"})
    assert resp.status_code == 200
    page = text(resp)
    assert 'id="dryrun-result"' in page and "would have caught <strong>2</strong> call(s)" in page
    resp = post_form(mgr, "/desk/dryrun", {"kind": "withheld", "policy": "reject"})
    assert "would have caught <strong>1</strong>" in text(resp)
    bad = post_form(mgr, "/desk/dryrun", {"kind": "burst", "calls": "0", "minutes": "5"})
    assert bad.status_code == 400 and "above zero" in text(bad)
    assert app.extensions["ivr"].blocklist.list_blocks() == []


def test_users_page_lists_phones(app: Any, mgr: Any) -> None:
    make_user(app, "bea", "agent", phones="client:bea")
    page = text(mgr.get("/desk/users"))
    assert "bea" in page and "client:bea" in page
    resp = post_form(mgr, "/desk/users/bea", {"action": "phones", "identities": "+14155550100"})
    assert resp.status_code == 302
    assert "+14155550100" in text(mgr.get("/desk/users"))


def test_withheld_page_lists_flagged_withheld_calls(app: Any, mgr: Any, twilio: Any, run_jobs: Any) -> None:
    caller = flagged_by_phone(twilio, WITHHELD)
    run_jobs()
    assert caller.sid in text(mgr.get("/desk/withheld"))


def test_phone_size_layout_has_a_viewport_and_no_fixed_widths(mgr: Any) -> None:
    page = text(mgr.get("/desk/dashboard"))
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page
    css = text(mgr.get("/static/desk/desk.css"))
    assert "@media (min-width: 760px)" in css and "overflow-x: auto" in css
