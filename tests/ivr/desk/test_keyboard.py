"""Every desk action done with the keyboard alone, as a person who cannot use a mouse does it: Tab and Shift+Tab to
reach a control, Enter or Space to press it, arrow keys in a list, Escape to close what opened. For each action the
test checks that it happened (the page says so and the data changed), that the focused control shows a focus ring,
and that focus is never dropped on the page's <body> afterwards."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from blocklist.calls import Calls
from tests.ivr.desk.test_desk_tour import ADMIN_PAGES, AGENT_PAGES, seed
from tests.support.callflow import bridge_ends, bridged_caller, held_poll, place_call, press
from tests.support.constants import AGENT, HARASSER, LINE
from tests.support.desk import PASSWORD, make_user, users_of

FocusInfo = dict[str, Any]

# What the focused element is, in words a failure message can list: its tag, accessible-ish name and state.
FOCUSED_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) { return {tag: "body", name: "", text: ""}; }
  const own = (label) => Array.from(label.childNodes)
      .filter((n) => n.nodeType === 3 || (n.nodeType === 1 && !n.contains(el) && !n.matches("input,select,textarea")))
      .map((n) => n.textContent).join(" ").replace(/\\s+/g, " ").trim();
  const label = el.labels && el.labels.length ? own(el.labels[0]) : "";
  const text = (el.innerText || "").replace(/\\s+/g, " ").trim();
  return {tag: el.tagName.toLowerCase(), type: el.getAttribute("type") || "", name: el.getAttribute("name") || "",
          label: label, text: text.slice(0, 80), value: "value" in el ? String(el.value) : "",
          aria: el.getAttribute("aria-label") || "", href: el.getAttribute("href") || "",
          formaction: el.getAttribute("formaction") || "", id: el.id || "",
          inHeader: Boolean(el.closest("header")), open: el.tagName === "SUMMARY" ? el.parentElement.open : null};
}"""

# The focused element's ring, against an unfocused copy of it put next to it for a moment (same classes, same
# place in the style sheets, not focused): the ring is what differs, and it must be something one can see.
RING_JS = """() => {
  const el = document.activeElement;
  const look = (node) => { const s = getComputedStyle(node);
    return {outline: s.outlineStyle + " " + s.outlineWidth + " " + s.outlineColor, outlineStyle: s.outlineStyle,
            outlineWidth: parseFloat(s.outlineWidth) || 0, shadow: s.boxShadow}; };
  const focused = look(el);
  const copy = el.cloneNode(true);
  copy.removeAttribute("id");
  el.parentNode.insertBefore(copy, el.nextSibling);
  const plain = look(copy);
  copy.remove();
  return {focused: focused, plain: plain};
}"""


def focused(page: Any) -> FocusInfo:
    """The element that has the keyboard's focus, described."""
    info: FocusInfo = page.evaluate(FOCUSED_JS)
    return info


def describe(info: FocusInfo) -> str:
    words = info.get("label") or info.get("text") or info.get("aria") or info.get("value") or info.get("name")
    return f"{info['tag']}{'[' + info['type'] + ']' if info.get('type') else ''} {words!r}".strip()


def ring_is_visible(page: Any) -> None:
    """The focused element shows a focus ring: an outline or shadow its unfocused self does not have."""
    ring = page.evaluate(RING_JS)
    seen, plain = ring["focused"], ring["plain"]
    outline = seen["outlineStyle"] != "none" and seen["outlineWidth"] >= 1 and seen["outline"] != plain["outline"]
    shadow = seen["shadow"] not in ("none", plain["shadow"])
    assert outline or shadow, f"no visible focus on {describe(focused(page))}: focused {seen}, unfocused {plain}"


def focus_kept(page: Any) -> FocusInfo:
    """After an action: focus is on something (never dropped to <body>), and that something shows it."""
    # Chromium applies autofocus at its next frame, which on a busy machine can come after the load event; a timeout
    # here is left to the assertion below, which says what happened.
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function("document.activeElement && document.activeElement !== document.body", timeout=3000)
    info = focused(page)
    assert info["tag"] != "body", f"focus was lost to <body> after the action on {page.url}"
    ring_is_visible(page)
    return info


def tab_to(page: Any, predicate: Callable[[FocusInfo], bool], limit: int = 80, back: bool = False) -> FocusInfo:
    """Press Tab (Shift+Tab when `back`) until the focused element matches; fail listing every element visited."""
    visited: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        info = focused(page)
        visited.append(describe(info))
        if predicate(info):
            ring_is_visible(page)
            return info
    raise AssertionError(f"not reached with {limit} {'Shift+Tab' if back else 'Tab'} presses on {page.url}; "
                         f"visited: {visited}")


def named(words: str, tag: str | None = None) -> Callable[[FocusInfo], bool]:
    """A predicate: the focused element's label or text starts with `words` (and is a `tag`, when given)."""

    def match(info: FocusInfo) -> bool:
        said = info.get("label") or info.get("text") or info.get("aria") or ""
        return said.startswith(words) and (tag is None or info["tag"] == tag)

    return match



def press_and_load(page: Any, key: str = "Enter") -> FocusInfo:
    """Press `key` on the focused control, wait for the page it leads to, and check where focus landed."""
    with page.expect_navigation():
        page.keyboard.press(key)
    return focus_kept(page)


def follow(page: Any, key: str = "Enter") -> None:
    """Press `key` on the focused link and wait for its page (which starts, as any page does, at its top)."""
    with page.expect_navigation():
        page.keyboard.press(key)


def choose(page: Any, value: str) -> None:
    """In the focused list (a closed <select>), press Down or Up until `value` is chosen."""
    options = page.evaluate("Array.from(document.activeElement.options, (o) => o.value)")
    assert value in options, f"{value!r} is not one of {options}"
    for _ in range(len(options)):
        now = page.evaluate("document.activeElement.value")
        if now == value:
            return
        page.keyboard.press("ArrowDown" if options.index(value) > options.index(now) else "ArrowUp")
    assert page.evaluate("document.activeElement.value") == value, f"{value!r} not reached with the arrow keys"


def keyboard_login(page: Any, name: str, password: str = PASSWORD) -> FocusInfo:
    """Log in from the login page with keys only: the username field has focus on arrival."""
    page.goto("/desk/login")
    arrival = focus_kept(page)
    assert arrival["name"] == "username", f"the login page starts on {describe(arrival)}, not the username"
    page.keyboard.type(name)
    tab_to(page, lambda i: i["name"] == "password")
    page.keyboard.type(password)
    return press_and_load(page)


def agent_desk(app: Any, open_desk: Any) -> Any:
    make_user(app, "ann", "agent", phones=AGENT)
    desk = open_desk()
    keyboard_login(desk.page, "ann")
    assert desk.page.url.endswith("/desk/call")
    return desk


def manager_desk(app: Any, open_desk: Any, role: str = "manager", name: str = "max") -> Any:
    make_user(app, name, role)
    desk = open_desk()
    landed = keyboard_login(desk.page, name)
    assert landed["text"].startswith("Dashboard"), f"after logging in, focus is on {describe(landed)}"
    return desk


def test_log_in_skip_to_the_page_and_log_out(app: Any, open_desk: Any) -> None:
    make_user(app, "max", "manager")
    desk = open_desk()
    page = desk.page
    # a wrong password: the page says so, and focus is back on the username to try again
    landed = keyboard_login(page, "max", "not the password")
    desk.errors.clear()  # the 401 is logged by the browser as a failed load
    assert "Wrong username or password" in page.inner_text("main")
    assert landed["name"] == "username" and landed["value"] == "max"
    tab_to(page, lambda i: i["name"] == "password")
    page.keyboard.type(PASSWORD)
    landed = press_and_load(page)
    assert page.url.endswith("/desk/dashboard") and landed["tag"] == "h1"
    # on any page the first Tab offers to skip the header's links; Enter goes to the page's content
    page.goto("/desk/blocklist")
    skip = tab_to(page, named("Skip to the page"), limit=1)
    assert skip["tag"] == "a"
    page.keyboard.press("Enter")
    assert focused(page)["id"] == "main"
    first = tab_to(page, lambda i: i["tag"] != "body", limit=1)
    assert first["label"] == "Search", f"after skipping, Tab went to {describe(first)}"
    # log out: back up to the header's button
    tab_to(page, named("Log out", "button"), back=True)
    landed = press_and_load(page, "Space")
    assert "You are logged out." in page.inner_text("main")
    assert landed["name"] == "username", f"after logging out, focus is on {describe(landed)}"
    page.goto("/desk/dashboard")
    assert "/desk/login" in page.url


def test_agent_flags_a_live_call(app: Any, open_desk: Any, twilio: Any) -> None:
    desk = agent_desk(app, open_desk)
    page = desk.page
    caller, _agent = bridged_caller(twilio)
    page.wait_for_selector("#live .status.in_call")  # the panel shows the caller by itself
    tab_to(page, named("Kind of abuse", "select"))  # the abuse taxonomy replaced the reasons
    first = page.evaluate("document.activeElement.value")
    choose(page, "threats")
    assert first != "threats"
    tab_to(page, named("Note", "input"))
    page.keyboard.type("said he knows where I live")
    tab_to(page, named("Flag harassment", "button"))
    landed = press_and_load(page)
    assert "/desk/breather" in page.url
    assert landed["text"].startswith("Flagged."), f"after flagging, focus is on {describe(landed)}"
    flag = [h for h in app.extensions["ivr"].blocklist.history(HARASSER) if h["action"] == "flag"][-1]
    assert (flag["via"], flag["category"], flag["note"]) == ("desk", "threats", "said he knows where I live")
    assert app.extensions["ivr"].blocklist.entries(HARASSER), "the flag did not block the number"
    assert Calls(app.extensions["ivr"].store).get(caller.sid).get("flagged")
    # the breather's button is reached without waiting for its countdown
    tab_to(page, named("I'm ready", "a"))
    follow(page)
    assert page.url.endswith("/desk/call")


def test_a_flag_by_phone_while_the_desk_button_has_focus_keeps_focus_in_the_panel(app: Any, open_desk: Any,
                                                                                 twilio: Any) -> None:
    """The agent reached the desk's flag button, then pressed * 9 on the phone instead: the button goes away with
    the redrawn panel, and focus goes to the panel's first line, not to the page's <body>."""
    desk = agent_desk(app, open_desk)
    page = desk.page
    caller, agent = bridged_caller(twilio)
    page.wait_for_selector("#live .status.in_call")
    tab_to(page, named("Flag harassment", "button"))
    press(twilio, agent, bridge_ends(twilio, agent, caller), "9")
    page.wait_for_selector("#live >> text=Flagged (phone key)")
    kept = focus_kept(page)
    assert page.evaluate("document.activeElement.matches('#live .status')"), f"focus went to {describe(kept)}"
    assert Calls(app.extensions["ivr"].store).get(caller.sid).get("flagged")


def test_agent_escalates_warns_and_agrees_a_callback(app: Any, open_desk: Any, twilio: Any) -> None:
    desk = agent_desk(app, open_desk)
    page = desk.page
    calls = Calls(app.extensions["ivr"].store)
    for number, move, said, done in (
        ("+14155550131", "Escalate to supervisor", "Escalated", lambda c: c.get("escalated")),
        ("+14155550132", "Set a polite limit", "The caller hears the polite limit", lambda c: c.get("warnings")),
        ("+14155550133", "Agree a callback", "Callback agreed", lambda c: c.get("callback")),
    ):
        caller, agent = bridged_caller(twilio, number=number)
        page.goto("/desk/call")
        assert number in page.inner_text("#live .number")
        tab_to(page, named("Note for the supervisor", "input"))
        page.keyboard.type(f"{move}: third call today")
        tab_to(page, named(move, "button"))
        if move.startswith("Escalate"):
            # the agent presses * on the phone meanwhile: the panel is redrawn, and focus stays on the button
            bridge_ends(twilio, agent, caller)
            held_poll(twilio, caller)
            page.wait_for_selector("#live .status.on_hold")
            kept = focus_kept(page)
            assert kept["text"] == move, f"the redrawn panel moved focus to {describe(kept)}"
            assert page.evaluate("document.activeElement.closest('form').querySelector('[name=note]').value") \
                == f"{move}: third call today"
        landed = press_and_load(page, "Space")
        assert landed["text"].startswith(said), f"after {move!r}, focus is on {describe(landed)}"
        assert done(calls.get(caller.sid)), f"{move!r} did not change the call: {calls.get(caller.sid)}"


def test_agent_notes_a_withheld_callers_time(app: Any, open_desk: Any, twilio: Any) -> None:
    desk = agent_desk(app, open_desk)
    page = desk.page
    caller, _agent = bridged_caller(twilio, number="anonymous")
    page.goto("/desk/call")
    tab_to(page, named("Note this call's time", "button"))
    landed = press_and_load(page)
    assert landed["text"].startswith("Noted"), f"after noting, focus is on {describe(landed)}"
    assert app.extensions["ivr"].store.xlen("ivr:desk:withheld") == 1
    assert Calls(app.extensions["ivr"].store).get(caller.sid).get("desk_noted")


def test_block_with_a_length_make_it_permanent_unblock_and_block_again(app: Any, open_desk: Any) -> None:
    desk = manager_desk(app, open_desk)
    page = desk.page
    bl = app.extensions["ivr"].blocklist
    number = "+14155550144"
    page.goto("/desk/blocklist")
    tab_to(page, named("Number", "input"))
    page.keyboard.type(number)
    tab_to(page, named("Treatment", "select"))
    choose(page, "reject")
    tab_to(page, named("Block for", "select"))
    choose(page, "7d")
    assert "Saved now, the block would end" in page.inner_text("#add-ends")
    tab_to(page, named("Reason", "input"))
    page.keyboard.type("threats on the recorded line")
    tab_to(page, named("Block", "button"))
    landed = press_and_load(page)
    assert landed["text"].startswith(f"{number} blocked for 7d, until"), f"after blocking, focus is on {describe(landed)}"
    [entry] = bl.entries(number)
    assert entry.treatment == "reject" and entry.until_ms is not None
    assert 6.9 * 86400_000 < entry.until_ms - entry.at < 7.1 * 86400_000
    assert page.url.endswith(f"/desk/numbers/{number}"), "a block made on the blocklist opens the number's page"
    tab_to(page, named("Why make it permanent", "input"))
    page.keyboard.type("second campaign")
    tab_to(page, named("Make permanent", "button"))
    landed = press_and_load(page)
    assert landed["text"].startswith("The block is permanent now."), describe(landed)
    assert bl.entries(number)[0].until_ms is None
    tab_to(page, named("Why unblock", "input"))
    page.keyboard.type("appeal upheld: wrong number")
    tab_to(page, named("Also step the sanction ladder back", "input"))
    page.keyboard.press("Space")
    assert page.evaluate("document.activeElement.checked") is True
    tab_to(page, named("Unblock", "button"))
    landed = press_and_load(page)
    assert landed["text"].startswith("Unblocked"), describe(landed)
    assert bl.entries(number) == []
    # block it again from its own page, with a length written by hand
    tab_to(page, named("Custom length", "input"))
    page.keyboard.type("36h")
    assert page.evaluate("document.querySelector('#main select[name=duration]').value") == "custom"
    tab_to(page, named("Reason", "input"))
    page.keyboard.type("back at it")
    tab_to(page, named("Block this number", "button"))
    landed = press_and_load(page)
    assert landed["text"].startswith(f"{number} blocked for 1d12h, until"), describe(landed)
    [entry] = bl.entries(number)
    assert entry.until_ms is not None and abs(entry.until_ms - entry.at - 36 * 3600_000) < 60_000


def test_csv_import_checked_only(app: Any, open_desk: Any, tmp_path: Path) -> None:
    """The file is chosen in the browser's own file dialog, opened from the keyboard (Space on the file field);
    headless Chromium has no dialog to drive, so the test answers it as the person would."""
    csv = tmp_path / "pranksters.csv"
    csv.write_text("number,scope,treatment,reason,until,permanent\n"
                   "+14155550155,,reject,prank caller,,yes\n"
                   "+14155550156,,reject,prank caller,,yes\n")
    desk = manager_desk(app, open_desk)
    page = desk.page
    # Listening early turns Playwright's file-dialog interception on (a message it does not wait for) well before
    # the key is pressed; turned on only as the key goes, a busy machine can let the dialog slip past it.
    choosers: list[Any] = []
    page.on("filechooser", lambda chooser: choosers.append(chooser))
    page.goto("/desk/blocklist")
    chooser_field = tab_to(page, lambda i: i["type"] == "file")
    assert chooser_field["label"] == "File", f"the file field is labelled {chooser_field['label']!r}"
    with page.expect_file_chooser() as opened:
        page.keyboard.press("Space")
    opened.value.set_files(str(csv))
    assert len(choosers) == 1
    assert focused(page)["type"] == "file"
    tab_to(page, named("Check only", "button"))
    landed = press_and_load(page)
    assert re.search(r"2 row\(s\) checked only, nothing written.*would add 2", landed["text"]), describe(landed)
    assert app.extensions["ivr"].blocklist.entries("+14155550155") == []


def test_review_dismiss_and_a_dry_run(app: Any, open_desk: Any, twilio: Any) -> None:
    bl = app.extensions["ivr"].blocklist
    bl.set_line_setting("*", "burst_calls", "1", by="test")
    for _ in range(2):
        place_call(twilio, "+14155550777", line=LINE)
    assert bl.review_list()
    desk = manager_desk(app, open_desk)
    page = desk.page
    page.goto("/desk/review")
    tab_to(page, named("Dismiss", "button"))
    landed = press_and_load(page)
    assert landed["text"].startswith("Taken off the review list."), describe(landed)
    assert bl.review_list() == []
    assert "Nobody is waiting for review." in page.inner_text("main")
    # the dry run: the rule's kind chosen with the arrow keys shows that kind's fields
    tab_to(page, named("Dry-run a different burst rule", "a"))
    follow(page)
    tab_to(page, named("Rule", "select"))
    choose(page, "prefix")
    assert page.is_visible("input[name=prefix]") and not page.is_visible("input[name=calls]")
    tab_to(page, named("Prefix", "input"))
    page.keyboard.type("+1415555")
    tab_to(page, named("Try it", "button"))
    landed = press_and_load(page)
    assert landed["id"] == "dryrun-result" and landed["text"].startswith("Result:"), describe(landed)
    assert re.search(r"\d+ calls seen", page.inner_text("#dryrun-result"))


def test_line_settings(app: Any, open_desk: Any, twilio: Any) -> None:
    bl = app.extensions["ivr"].blocklist
    place_call(twilio, "+14155550177", line=LINE)
    desk = manager_desk(app, open_desk)
    page = desk.page
    page.goto("/desk/settings")
    tab_to(page, named("Settings of", "input"))
    page.keyboard.type(LINE)
    landed = press_and_load(page)
    assert landed["tag"] == "h1" and f"line={LINE}" in page.url.replace("%2B", "+"), describe(landed)
    tab_to(page, named("Burst rule: more than N calls", "input"))
    page.keyboard.type("5")
    tab_to(page, named("Save", "button"))
    landed = press_and_load(page)
    assert landed["text"].startswith(f"Saved 1 change(s) for {LINE}"), describe(landed)
    assert bl.line_settings(LINE).get("burst_calls") == "5"


def test_users_page(app: Any, open_desk: Any) -> None:
    desk = manager_desk(app, open_desk, role="admin", name="ada")
    page = desk.page
    users = users_of(app)
    page.goto("/desk/users")
    tab_to(page, named("Username", "input"))
    page.keyboard.type("bea")
    tab_to(page, named("Role", "select"))
    choose(page, "manager")
    tab_to(page, named("Phones", "input"))
    page.keyboard.type("+15550002222")
    tab_to(page, named("Password", "input"))
    page.keyboard.type("a long enough password")
    tab_to(page, named("Add user", "button"))
    landed = press_and_load(page)
    assert landed["text"].startswith("User bea (manager) added."), describe(landed)
    bea = users.require("bea")
    assert bea.role == "manager" and bea.identities == ("+15550002222",)
    # her row's Edit opens with Enter, and Escape folds it again, focus back on Edit
    edit = tab_to(page, named("Edit", "summary"))
    assert edit["open"] is False
    page.keyboard.press("Enter")
    assert focused(page)["open"] is True
    tab_to(page, named("Phones", "input"))
    page.keyboard.press("Escape")
    closed = focus_kept(page)
    assert closed["tag"] == "summary" and closed["open"] is False, describe(closed)
    page.keyboard.press("Space")
    tab_to(page, named("Phones", "input"))
    page.keyboard.press("End")
    page.keyboard.type(", client:bea")
    tab_to(page, named("Save phones", "button"))
    landed = press_and_load(page)
    assert landed["text"].startswith("bea now takes calls from"), describe(landed)
    assert users.require("bea").identities == ("+15550002222", "client:bea")
    tab_to(page, named("Edit", "summary"))
    page.keyboard.press("Enter")
    tab_to(page, named("Role", "select"))
    choose(page, "agent")
    tab_to(page, named("Change role", "button"))
    landed = press_and_load(page)
    assert landed["text"].startswith("bea is now agent"), describe(landed)
    tab_to(page, named("Edit", "summary"))
    page.keyboard.press("Enter")
    tab_to(page, named("Disable", "button"))
    landed = press_and_load(page)
    assert landed["text"].startswith("bea is disabled."), describe(landed)
    assert users.require("bea").role == "agent" and users.require("bea").disabled


def test_account_page(app: Any, open_desk: Any) -> None:
    desk = agent_desk(app, open_desk)
    page = desk.page
    users = users_of(app)
    tab_to(page, named("ann", "a"))  # the header's link to one's account
    follow(page)
    tab_to(page, named("Name", "input"))
    page.keyboard.type("crm-sync")
    tab_to(page, named("Make a token", "button"))
    landed = press_and_load(page)
    assert landed["text"].startswith("Token ") and "Copy it now" in landed["text"], describe(landed)
    [token] = users.tokens("ann")
    assert token["name"] == "crm-sync" and page.inner_text("#new-token")
    tab_to(page, named("Revoke", "button"))
    landed = press_and_load(page)
    assert landed["text"].startswith("Token revoked"), describe(landed)
    assert users.tokens("ann") == []
    tab_to(page, named("Current password", "input"))
    page.keyboard.type(PASSWORD)
    tab_to(page, named("New password", "input"))
    page.keyboard.type("a brand new passphrase")
    tab_to(page, named("New password again", "input"))
    page.keyboard.type("a brand new passphrase")
    tab_to(page, named("Change password", "button"))
    landed = press_and_load(page)
    assert landed["text"].startswith("Password changed."), describe(landed)
    assert users.verify("ann", "a brand new passphrase") is not None
    tab_to(page, named("Language of the desk", "select"))
    choose(page, "fi")
    tab_to(page, named("Save language", "button"))
    landed = press_and_load(page)
    assert landed["text"] == "Kieli tallennettu.", describe(landed)
    assert users.require("ann").language == "fi"
    assert page.evaluate("document.documentElement.lang") == "fi"


def test_reports_date_range_and_charts_as_tables(app: Any, open_desk: Any, twilio: Any, run_jobs: Any) -> None:
    caller, agent = bridged_caller(twilio)
    press(twilio, agent, bridge_ends(twilio, agent, caller), "9")
    run_jobs()
    desk = manager_desk(app, open_desk)
    page = desk.page
    # the dashboard's charts: each one's table opens with Enter, is reachable, and Escape folds it
    page.goto("/desk/dashboard")
    page.wait_for_selector(".chart-box[data-drawn]")
    summary = tab_to(page, named("Show as table", "summary"))
    assert summary["open"] is False
    page.keyboard.press("Enter")
    assert focused(page)["open"] is True
    table = tab_to(page, lambda i: i["tag"] == "div", limit=1)  # the table's scrolling box
    assert re.search(r"\d", table["text"]) and page.evaluate("document.activeElement.querySelector('table') !== null")
    page.keyboard.press("Escape")
    closed = focus_kept(page)
    assert closed["tag"] == "summary" and closed["open"] is False, describe(closed)
    # the reports page's range: typed into the date fields
    tab_to(page, named("Reports", "a"), back=True)
    follow(page)
    today = date.fromisoformat(page.input_value("input[name=to]"))
    start = today - timedelta(days=3)
    tab_to(page, named("From", "input"))
    page.keyboard.type(start.strftime("%m%d%Y"))  # the browser's date field in en-US: month, day, year
    assert page.input_value("input[name=from]") == start.isoformat()
    tab_to(page, named("Show", "button"))
    landed = press_and_load(page)
    assert landed["tag"] == "h1", describe(landed)
    assert f"from={start.isoformat()}" in page.url
    assert page.input_value("input[name=from]") == start.isoformat()
    assert f"from={start.isoformat()}" in page.get_attribute("a.button.primary", "href")


def test_every_tab_stop_of_every_page_shows_its_focus(app: Any, open_desk: Any, twilio: Any, run_jobs: Any) -> None:
    """Tab through each page from its top to its end, as admin and as agent: every stop wears a focus ring."""
    seed(app, twilio, run_jobs)
    make_user(app, "ada", "admin")
    make_user(app, "ann", "agent", phones=AGENT)
    problems: list[str] = []
    for user, pages in (("ada", ADMIN_PAGES), ("ann", AGENT_PAGES)):
        desk = open_desk()
        keyboard_login(desk.page, user)
        page = desk.page
        for path in pages.values():
            page.goto(path)
            stops = 0
            for _ in range(150):
                page.keyboard.press("Tab")
                info = focused(page)
                if info["tag"] == "body" or (stops and info["text"] == "Skip to the page"):
                    break  # past the page's last stop
                stops += 1
                try:
                    ring_is_visible(page)
                except AssertionError as exc:
                    problems.append(f"{user} {path}: {exc}")
            else:
                problems.append(f"{user} {path}: more than 150 Tab stops, or Tab is trapped")
            assert stops > 3, f"{path} has only {stops} Tab stops"
    assert not problems, "\n".join(problems)
