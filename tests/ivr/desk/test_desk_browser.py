"""The desk in a real headless Chromium (Debian's, driven by Playwright) against the app served on 127.0.0.1.

Twilio is played against the same app (signed webhooks through the test client), so a flag pressed on
the phone shows up in the browser. Screenshots of the main pages, on a desktop and a phone-size screen,
go to test-output/screenshots/.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from blocklist.feeds import text_lines
from tests.support.browser import DESKTOP, PHONE
from tests.support.callflow import agent_connects, bridge, bridge_ends, place_call, press
from tests.support.constants import AGENT
from tests.support.desk import PASSWORD, make_user

CALLER = "+14155550123"
EVIL_NAME = "<script>alert('name')</script>"
EVIL_CITY = "<img src=x onerror=alert('city')>"


def phone_flag(twilio: Any, number: str = CALLER) -> Any:
    caller = place_call(twilio, number)
    agent = agent_connects(twilio, AGENT)
    bridge(twilio, agent, caller)
    press(twilio, agent, bridge_ends(twilio, agent, caller), "9")
    return caller


def test_login_and_see_a_phone_flag_appear_on_the_dashboard(app: Any, open_desk: Any, twilio: Any,
                                                             run_jobs: Any) -> None:
    make_user(app, "max", "manager")
    desk = open_desk()
    desk.page.goto("/desk/dashboard")
    assert "/desk/login" in desk.page.url  # not logged in yet
    desk.shot("login")
    desk.page.fill("input[name=username]", "max")
    desk.page.fill("input[name=password]", "not the password")
    desk.page.click("button[type=submit]")
    assert "Wrong username or password" in desk.page.inner_text("main")
    desk.errors.clear()  # the 401 of the wrong password is logged by the browser as a failed load
    desk.page.fill("input[name=password]", PASSWORD)
    desk.page.click("button[type=submit]")
    desk.page.wait_for_url(re.compile(r".*/desk/dashboard$"))
    assert "No flags yet." in desk.page.inner_text("#recent")
    phone_flag(twilio)
    # the latest-flags list polls: the flag appears without a reload
    desk.page.wait_for_selector(f"#recent >> text={CALLER}")
    assert "phone key" in desk.page.inner_text("#recent")
    run_jobs()  # the reports worker folds the flag into the charts
    desk.page.reload()
    assert re.search(r"1\s+flagged calls", desk.page.inner_text(".tiles"))
    heat = desk.page.locator(".chart-box[data-chart='heat_flags'][data-drawn]")  # drawn by vega-embed
    heat.wait_for()
    assert heat.locator("svg path[aria-roledescription='rect mark']").count() >= 168  # 7 days x 24 hours
    desk.shot("dashboard")
    mobile = open_desk(PHONE)
    mobile.login("max")
    mobile.page.goto("/desk/dashboard")
    width = mobile.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"the dashboard scrolls sideways on a phone ({width}px)"
    mobile.shot("dashboard-phone")


def test_agent_sees_the_caller_live_and_flags_from_the_desk(app: Any, open_desk: Any, twilio: Any,
                                                            run_jobs: Any, standin: Any) -> None:
    make_user(app, "ann", "agent", phones=AGENT)
    desk = open_desk(PHONE)
    desk.login("ann")
    assert desk.page.url.endswith("/desk/call")
    assert "Your phone is not connected" in desk.page.inner_text("#live")
    app.extensions["ivr"].blocklist.flag(CALLER, call_sid="CA" + "2" * 32, line="+18005551212", via="key",
                                         agent=AGENT, reason="obscene", note="last week")
    app.extensions["ivr"].blocklist.unblock(CALLER, by="max", reason="appeal upheld")
    caller = place_call(twilio, CALLER, CallerName=EVIL_NAME, FromCity=EVIL_CITY)
    bridge(twilio, agent_connects(twilio, AGENT), caller)
    # the panel updates by itself
    desk.page.wait_for_selector("#live .number")
    live = desk.page.inner_text("#live")
    assert CALLER in live and "On a call" in live and "1 time" in live
    assert desk.page.inner_text(".caller-name") == EVIL_NAME  # shown as text, never run
    assert EVIL_CITY in desk.page.inner_text(".caller-place")
    assert desk.page.locator("#live script, #live img").count() == 0
    width = desk.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"the call page scrolls sideways on a phone ({width}px)"
    desk.shot("call-phone")
    desk.page.select_option(".flag-form select[name=category]", "obscene")  # the abuse taxonomy
    desk.page.fill("input[name=note]", "group laughing in the background")
    desk.page.click("text=Flag harassment")
    desk.page.wait_for_url(re.compile(r".*/desk/breather.*"))
    assert "Take a breath" in desk.page.inner_text("main")
    desk.shot("breather-phone")
    flags = [h for h in app.extensions["ivr"].blocklist.history(CALLER) if h["action"] == "flag"]
    assert flags[-1]["via"] == "desk" and flags[-1]["note"] == "group laughing in the background"
    run_jobs()
    assert standin.state.matching("POST", f"/Calls/{caller.sid}.json")
    # after the breather the desk goes back to the call page by itself
    desk.page.wait_for_url(re.compile(r".*/desk/call$"), timeout=8000)
    assert "Flagged (desk)" in desk.page.inner_text("#live")
    wide = open_desk()
    wide.login("ann")
    wide.shot("call")


def test_manager_unblocks_a_number(app: Any, open_desk: Any, twilio: Any) -> None:
    phone_flag(twilio)
    make_user(app, "max", "manager")
    desk = open_desk()
    desk.login("max")
    desk.page.goto("/desk/blocklist")
    desk.shot("blocklist")
    desk.page.click(f"table >> text={CALLER}")
    desk.page.wait_for_url(re.compile(r".*/desk/numbers/.*"))
    desk.shot("number")
    form = desk.page.locator("form.unblock-form").first
    form.locator("input[name=reason]").fill("appeal upheld: wrong number")
    form.locator("button[type=submit]").click()
    desk.page.wait_for_selector("text=Unblocked: the number gets through again.")
    assert "Not blocked." in desk.page.inner_text("main")
    assert "appeal upheld: wrong number" in desk.page.inner_text("main")
    assert app.extensions["ivr"].blocklist.entries(CALLER) == []


def test_csv_upload_with_a_bad_row_shows_the_row_error(app: Any, open_desk: Any, tmp_path: Path) -> None:
    make_user(app, "max", "manager")
    csv = tmp_path / "pranksters.csv"
    csv.write_text("number,scope,treatment,reason,until,permanent\n"
                   "+14155550123,,reject,prank caller,,yes\n"
                   "call me maybe,,reject,typo,,yes\n")
    desk = open_desk()
    desk.login("max")
    desk.page.goto("/desk/blocklist")
    desk.page.set_input_files("input[type=file]", str(csv))
    desk.page.click("button:has-text('Upload')")
    desk.page.wait_for_selector("#import-result")
    desk.errors.clear()  # the page answers 400 (nothing imported), which the browser logs
    errors = desk.page.inner_text("table.row-errors")
    assert re.search(r"^3\s", errors.splitlines()[1]) and "nothing imported" in desk.page.inner_text("#import-result")
    assert app.extensions["ivr"].blocklist.list_blocks() == []
    desk.shot("blocklist-import-error")


def test_an_agent_is_refused_a_manager_page(app: Any, open_desk: Any) -> None:
    make_user(app, "ann", "agent", phones=AGENT)
    desk = open_desk()
    desk.login("ann")
    assert desk.page.locator("nav >> text=Blocklist").count() == 0
    resp = desk.page.goto("/desk/blocklist")
    assert resp is not None and resp.status == 403
    assert "This page is for managers" in desk.page.inner_text("main")
    desk.errors.clear()  # the browser logs the 403 as a failed load
    desk.shot("agent-refused")


def test_screenshots_of_the_main_pages(app: Any, open_desk: Any, twilio: Any, run_jobs: Any) -> None:
    """Every main page renders without a console error, on a desktop and on a phone."""
    phone_flag(twilio)
    phone_flag(twilio, "anonymous")
    app.extensions["ivr"].blocklist.set_line_setting("*", "burst_calls", "1", by="test")
    place_call(twilio, "+14155550777")
    place_call(twilio, "+14155550777")
    for i in range(6):  # a campaign: six numbers of one exchange, its exchange on the review list
        place_call(twilio, f"+1312555{5000 + i:04d}")
    run_jobs()
    make_user(app, "root", "admin")
    make_user(app, "bea", "agent", phones="client:bea")
    app.extensions["ivr"].blocklist.import_feed(  # a bulk feed, so the Feeds page has a row to stack on the phone
        "ftc-dnc", text_lines("+14155550199,3,2026-01-30\n"), source="FTC Do Not Call complaints",
        licence="public data", by="root", age_out_days=30)
    pages = {"review": "/desk/review", "feeds": "/desk/feeds", "dryrun": "/desk/dryrun", "reports": "/desk/reports",
             "withheld": "/desk/withheld", "settings": "/desk/settings", "audit": "/desk/audit",
             "users": "/desk/users", "account": "/desk/account"}
    for viewport, suffix in ((DESKTOP, ""), (PHONE, "-phone")):
        desk = open_desk(viewport)
        desk.login("root")
        for name, path in pages.items():
            resp = desk.page.goto(path)
            assert resp is not None and resp.status == 200, path
            desk.shot(name + suffix)
            if viewport is PHONE:
                width = desk.page.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"] + 1, f"{path} scrolls sideways on a phone ({width}px)"
    desk.page.goto("/desk/review")
    assert "+14155550777" in desk.page.inner_text("main")
    # on the phone, the review list is one card per caller, nothing scrolls sideways inside its card
    cards = desk.page.eval_on_selector_all("main .card, main .table-wrap",
                                           "cs => cs.map(c => [c.scrollWidth, c.clientWidth])")
    assert all(scroll <= client for scroll, client in cards), cards
