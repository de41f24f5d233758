"""The desk writes times and lengths as people read them: the dashboard's "events up to", the withheld
calls and the settings' sanction ladder; and a number's history fits a phone as one card per event."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from lxml import html as lxml_html

from blocklist import keys
from blocklist.clock import human_time, now_ms
from tests.support.browser import DESKTOP, PHONE
from tests.support.desk import logged_in, make_user, post_form
from tests.support.events import Events
from tests.support.twilio_player import call_sid
from workers import reports

ZONE = "Europe/Helsinki"
CALLER = "+14155550123"
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


@pytest.fixture
def zone_env(app_env: dict[str, str]) -> dict[str, str]:
    app_env["IVR_TIMEZONE"] = ZONE
    return app_env


@pytest.fixture
def mgr(zone_env: dict[str, str], app: Any) -> Any:
    return logged_in(app)


def page_text(resp: Any) -> str:
    return " ".join(lxml_html.fromstring(resp.get_data(as_text=True)).xpath("//main")[0].text_content().split())


def folded_withheld_flag(redis_conn: redis.Redis) -> int:
    """A flagged withheld call an hour ago, folded into the reports; its time."""
    ts = now_ms() - 3_600_000
    ev = Events(redis_conn)
    ev.call(ts - 20_000, "anonymous", sid="CA" + "4" * 32)
    ev.flag(ts, "anonymous", "CA" + "4" * 32, agent="client:bob")
    reports.fold(redis_conn, settings=reports.ReportSettings(timezone=ZONE))
    return ts


def test_the_dashboard_says_up_to_when_as_people_read_times(mgr: Any, redis_conn: redis.Redis) -> None:
    ts = folded_withheld_flag(redis_conn)
    hint = page_text(mgr.get("/desk/dashboard"))
    assert f"Reports include events up to {human_time(ts, ZoneInfo(ZONE))}." in hint, hint
    assert not ISO.search(hint)


def test_the_withheld_page_shows_flagged_times_as_people_read_them(mgr: Any, redis_conn: redis.Redis) -> None:
    ts = folded_withheld_flag(redis_conn)
    text = page_text(mgr.get("/desk/withheld"))
    assert human_time(ts // 1000 * 1000, ZoneInfo(ZONE), seconds=True) in text, text
    assert not ISO.search(text)


def test_the_settings_page_and_its_changes_show_the_ladder_as_written(mgr: Any, redis_conn: redis.Redis) -> None:
    resp = post_form(mgr, "/desk/settings", {"line": "*", "sanction_ladder": "36h,2w,permanent"})
    assert resp.status_code == 302
    assert redis_conn.hget(keys.SETTINGS, "sanction_ladder") == "129600,1209600,p"
    page = mgr.get("/desk/settings").get_data(as_text=True)
    doc = lxml_html.fromstring(page)
    assert doc.xpath("//input[@name='sanction_ladder']/@value") == ["1d12h, 14d, permanent"]
    text = page_text(mgr.get("/desk/settings"))
    (default,) = doc.xpath("//dt[normalize-space()='Sanction ladder']/following-sibling::dd[1]")
    assert " ".join(default.text_content().split()) == "1d, 7d, permanent (IVR_SANCTION_LADDER)"  # the server's
    assert "sanction_ladder=1d12h, 14d, permanent" in text  # the recent change, as the manager wrote it
    assert "129600" not in page and "1209600" not in page
    again = post_form(mgr, "/desk/settings", {"line": "*", "sanction_ladder": "1d12h, 14d, permanent"})
    assert again.status_code == 302  # the shown form saves back as it is: nothing changed
    assert len([f for _id, f in redis_conn.xrange(keys.AUDIT) if f["action"] == "setting"]) == 1


def history_of_a_busy_number(app: Any) -> None:
    bl = app.extensions["ivr"].blocklist
    bl.flag(CALLER, call_sid=call_sid(), line="+18005551212", via="key", agent="+15550001111",
            reason="laughed and shouted obscenities at whoever answered, again and again, all night long")
    bl.unblock(CALLER, by="max", reason="appeal granted after a long talk with the caller's family", forgive=False)
    bl.block(CALLER, by="max", reason="called back within the hour to threaten the agent who answered",
             duration=7 * 86400)


def test_the_history_table_is_written_to_stack_on_a_phone(mgr: Any, app: Any) -> None:
    history_of_a_busy_number(app)
    doc = lxml_html.fromstring(mgr.get(f"/desk/numbers/{CALLER}").get_data(as_text=True))
    (table,) = doc.xpath("//table[contains(@class, 'history')]")
    assert "stacked" in table.get("class").split()
    headings = [th.text_content() for th in table.xpath(".//thead//th")]
    rows = table.xpath(".//tbody/tr")
    assert len(rows) >= 3
    for row in rows:  # each cell names its column: a phone shows it before the value
        assert [td.get("data-label") for td in row.xpath("td")] == headings


def test_the_history_fits_a_phone_as_cards_and_stays_a_table_on_a_laptop(zone_env: dict[str, str], app: Any,
                                                                       open_desk: Any) -> None:
    make_user(app, "max", "manager")
    history_of_a_busy_number(app)
    for viewport, name in ((PHONE, "number-history-phone"), (DESKTOP, "number-history")):
        desk = open_desk(viewport)
        desk.login("max")
        desk.page.goto(f"/desk/numbers/{CALLER}")
        table = desk.page.locator("table.history")
        display = table.locator("tbody tr").first.evaluate("row => getComputedStyle(row).display")
        assert display == ("block" if viewport is PHONE else "table-row"), (name, display)
        card = table.evaluate("t => { const c = t.closest('.card'); return [c.scrollWidth, c.clientWidth]; }")
        assert card[0] <= card[1], f"{name}: the history scrolls sideways inside its card {card}"
        width = desk.page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"{name}: the page scrolls sideways ({width}px)"
        if viewport is PHONE:  # each value after its heading; an empty cell is left out, not 'Until:' alone
            first = table.locator("tbody tr").first
            label = first.locator("td").first.evaluate("td => getComputedStyle(td, '::before').content")
            assert label == '"When: "', label
            hidden = first.locator("td:empty").evaluate_all("cells => cells.map(c => getComputedStyle(c).display)")
            assert set(hidden) <= {"none"}, hidden
        desk.shot(name)
