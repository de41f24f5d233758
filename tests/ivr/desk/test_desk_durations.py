"""The desk's block forms ask how long with the usual lengths and a custom one: no length is chosen
for the manager, a bare number is refused with the forms accepted, the end a length sets is shown before
saving (by the page's script, or by "Show the end time" without it) and named after saving, and the audit
log says how long each block lasts. A real login through the form; a real Chromium for the script."""

from __future__ import annotations

import re
from typing import Any

import pytest
import redis

from blocklist import keys
from blocklist.clock import now_ms
from ivr.desk.web import fmt_time
from tests.support.browser import PHONE
from tests.support.desk import make_user, post_form
from tests.support.store import snapshot

NUMBER = "+14155550123"
FORMS = ("90s", "15m", "24h", "7d", "2w", "permanent")
LENGTHS = ["1 hour", "1 day", "7 days", "30 days", "Permanent", "Custom length…"]



def text(resp: Any) -> str:
    return str(resp.get_data(as_text=True))


def add(mgr: Any, **fields: str) -> Any:
    return post_form(mgr, "/desk/blocklist/add", {"number": NUMBER, "reason": "threats", **fields})


def desk_time(app: Any, ms: int) -> str:
    return fmt_time(ms, zone=app.extensions["ivr"].settings.tz())


def blocks(app: Any) -> list[Any]:
    return list(app.extensions["ivr"].blocklist.entries(NUMBER))


@pytest.mark.parametrize("page", ["/desk/blocklist", f"/desk/numbers/{NUMBER}"])
def test_both_block_forms_offer_the_usual_lengths_and_choose_none(mgr: Any, page: str) -> None:
    html = text(mgr.get(page))
    select = re.search(r'<select name="duration" required[^>]*>(.*?)</select>', html, re.S)
    assert select, "no length list in the block form"
    options = re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)</option>', select.group(1))
    assert [label for _v, _s, label in options] == ["Choose…", *LENGTHS]
    assert [value for value, _s, _l in options] == ["", "1h", "1d", "7d", "30d", "permanent", "custom"]
    assert [value for value, chosen, _l in options if chosen] == [""]  # permanent is never chosen for you
    assert 'name="duration_custom"' in html and "data-block-ends" in html and "Show the end time" in html
    assert "tick permanent" not in html and 'name="permanent"' not in html


def test_no_length_chosen_is_refused_and_blocks_nothing(app: Any, mgr: Any, redis_conn: redis.Redis) -> None:
    before = snapshot(redis_conn)
    resp = add(mgr)
    assert resp.status_code == 400 and "choose how long the block lasts" in text(resp)
    assert "tick permanent" not in text(resp)
    resp = add(mgr, duration="custom")
    assert resp.status_code == 400 and "write the custom length" in text(resp)
    assert snapshot(redis_conn) == before


@pytest.mark.parametrize("fields", [{"duration": "3"}, {"duration": "custom", "duration_custom": "3"},
                                    {"duration_custom": "3600"}])
def test_a_bare_number_is_refused_with_the_forms(app: Any, mgr: Any, redis_conn: redis.Redis,
                                                  fields: dict[str, str]) -> None:
    before = snapshot(redis_conn)
    resp = add(mgr, **fields)
    page = text(resp)
    assert resp.status_code == 400 and "has no unit" in page and all(form in page for form in FORMS)
    assert 'value="threats"' in page  # what was typed stays in the form
    assert snapshot(redis_conn) == before


def test_a_chosen_length_is_saved_and_the_confirmation_names_its_end(app: Any, mgr: Any) -> None:
    resp = add(mgr, duration="7d")
    assert resp.status_code == 302
    (entry,) = blocks(app)
    assert entry.until_ms - entry.at == 7 * 86400 * 1000
    page = text(mgr.get(resp.headers["Location"]))
    assert f"{NUMBER} blocked for 7d, until {desk_time(app, entry.until_ms)}." in page


def test_permanent_is_chosen_by_name(app: Any, mgr: Any) -> None:
    resp = add(mgr, duration="permanent")
    assert resp.status_code == 302
    (entry,) = blocks(app)
    assert entry.until_ms is None
    assert f"{NUMBER} blocked permanently." in text(mgr.get(resp.headers["Location"]))


def test_a_custom_length_is_used_when_custom_is_chosen(app: Any, mgr: Any) -> None:
    assert add(mgr, duration="custom", duration_custom="36h").status_code == 302
    (entry,) = blocks(app)
    assert entry.until_ms - entry.at == 36 * 3600 * 1000


def test_a_list_choice_and_a_different_custom_length_are_refused(app: Any, mgr: Any, redis_conn: redis.Redis) -> None:
    before = snapshot(redis_conn)
    resp = add(mgr, duration="7d", duration_custom="90m")
    assert resp.status_code == 400 and "the list says 7d but the custom length says 90m" in text(resp)
    assert snapshot(redis_conn) == before


def test_show_the_end_time_saves_nothing_and_names_the_end(app: Any, mgr: Any, redis_conn: redis.Redis) -> None:
    before = snapshot(redis_conn)
    start = now_ms()
    resp = add(mgr, duration="30d", preview="1", reason="")
    page = text(resp)
    end = re.search(r"Not saved yet: a block made now would last 30d, until ([^.]+)\. Press Block to save it\.", page)
    assert resp.status_code == 200 and end, page[:2000]
    assert end.group(1) in {desk_time(app, start + 30 * 86400 * 1000 + extra) for extra in (0, 60_000)}
    assert '<option value="30d" selected>' in page  # the form keeps the choice for the real save
    assert snapshot(redis_conn) == before
    permanent = text(add(mgr, duration="permanent", preview="1"))
    assert "a block made now would never end (permanent)" in permanent
    assert snapshot(redis_conn) == before


def test_the_audit_log_says_how_long_each_block_lasts(app: Any, mgr: Any, redis_conn: redis.Redis) -> None:
    assert add(mgr, duration="1d").status_code == 302
    (entry,) = blocks(app)
    assert post_form(mgr, f"/desk/numbers/{NUMBER}/permanent", {"reason": "third time", "scope": "*"}).status_code == 302
    audit = {f["action"]: f for _id, f in redis_conn.xrange(keys.AUDIT)}
    assert (audit["block"]["lasts"], audit["block"]["until"]) == ("1d", str(entry.until_ms))
    assert audit["permanent"]["lasts"] == "permanent"
    page = text(mgr.get("/desk/audit"))
    assert f"(lasts 1d, until {desk_time(app, entry.until_ms)})" in page
    assert "(permanent)" in page


# ---- the page's script, in a real Chromium at a phone's width ---------------------------------------------
def test_the_end_line_follows_the_choice_by_keyboard_on_a_phone(app: Any, open_desk: Any) -> None:
    make_user(app, "max", "manager")
    desk = open_desk(PHONE)
    desk.login("max")
    desk.errors.clear()  # only the block form's pages are this test's: the dashboard it logs in to has its own
    page = desk.page
    page.goto("/desk/blocklist")
    ends = page.locator("#add-ends")
    assert "Choose a length" in ends.inner_text()
    assert page.locator("form[action$='/blocklist/add'] [data-preview]").is_hidden()  # the line does its job
    page.fill("input[name=number]", NUMBER)
    page.keyboard.press("Tab")  # line
    page.keyboard.press("Tab")  # treatment
    page.keyboard.press("Tab")  # the length list
    assert page.evaluate("document.activeElement.name") == "duration"
    page.keyboard.press("ArrowDown")  # Choose… -> 1 hour
    page.keyboard.press("ArrowDown")  # -> 1 day
    assert page.eval_on_selector("select[name=duration]", "el => el.value") == "1d"
    shown = ends.inner_text()
    found = re.fullmatch(r"Saved now, the block would end (.+)\.", shown.strip())
    assert found, shown
    expected = {desk_time(app, now_ms() + 86400 * 1000 + extra) for extra in (-60_000, 0, 60_000)}
    assert found.group(1) in expected  # the server's own words for that time
    page.keyboard.press("Tab")  # the custom field; writing there chooses "Custom length…"
    page.keyboard.type("3")
    assert page.eval_on_selector("select[name=duration]", "el => el.value") == "custom"
    assert "has no unit" in ends.inner_text()
    page.keyboard.type("6h")
    assert "Saved now, the block would end" in ends.inner_text()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px screen"
    page.fill("input[name=reason]", "threats")
    desk.shot("block-length-form-phone")
    page.keyboard.press("Enter")  # Enter saves (Block is the form's first button)
    page.wait_for_url(re.compile(r".*/desk/numbers/.*"))
    (entry,) = blocks(app)
    assert entry.until_ms - entry.at == 36 * 3600 * 1000
    assert f"blocked for 1d12h, until {desk_time(app, entry.until_ms)}" in page.inner_text("main")
    desk.shot("block-length-saved-phone")
