"""The wellbeing break on the desk, in a real Chromium: an agent crosses the shift limit on the phone, her desk
shows the break and why, the manager's dashboard shows the check-in, and the manager acknowledges it (audited);
at 1280 and 390 px wide."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from lxml import html as lxml_html

from blocklist import exposure, keys
from blocklist.clock import now_ms
from tests.support import callflow as cf
from tests.support.browser import DESKTOP, PHONE
from tests.support.constants import AGENT
from tests.support.desk import make_user, post_form


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    return {**app_env, "IVR_EXPOSURE_SHIFT_LIMIT": "2", "IVR_WELLBEING_BREAK_SECONDS": "900"}


def shot(desk: Any, name: str) -> None:
    desk.shot(f"exposure-{name}")  # test-output/screenshots/


def no_sideways_scroll(desk: Any, where: str) -> None:
    width, inner = desk.page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{where} scrolls sideways ({width}px in {inner}px)"


def cross_the_shift_limit(twilio: Any) -> None:
    """Two harassing calls flagged with `*` 9, then the phone asks for the next caller: the break starts."""
    agent = cf.agent_connects(twilio, AGENT)
    for number in ("+14155550123", "+14155550124"):
        caller = cf.place_call(twilio, number)
        cf.bridge(twilio, agent, caller)
        after = cf.bridge_ends(twilio, agent, caller)
        cf.held_poll(twilio, caller)
        cf.press(twilio, agent, after, "9")
    reply = twilio.post("/agent/connect", {"CallSid": agent.sid, "From": AGENT, "To": "+15557770000",
                                           "AccountSid": twilio.account_sid, "CallStatus": "in-progress"})
    assert reply.root.find("Dial") is None, reply.text  # on a break: no caller offered


def test_the_supervisor_sees_the_check_in_and_acknowledges_it(app: Any, twilio: Any, open_desk: Any,
                                                              redis_conn: redis.Redis) -> None:
    make_user(app, "ann", "agent", phones=AGENT)
    make_user(app, "max", "manager")
    cross_the_shift_limit(twilio)

    agent_desk = open_desk(DESKTOP)
    agent_desk.login("ann")
    agent_desk.page.goto("/desk/call")
    card = agent_desk.page.inner_text("#my-break")
    assert "Time for a proper break" in card and "2 difficult calls since" in card
    assert "none of it was about you" in card and "a supervisor will check in" in card
    shot(agent_desk, "wellbeing-agent-1280")
    agent_phone = open_desk(PHONE)
    agent_phone.login("ann")
    agent_phone.page.goto("/desk/call")
    no_sideways_scroll(agent_phone, "the agent's call page at 390px")
    shot(agent_phone, "wellbeing-agent-390")

    phone = open_desk(PHONE)
    phone.login("max")
    phone.page.goto("/desk/dashboard")
    assert "ann crossed the shift limit: 2 difficult calls since" in phone.page.inner_text("#checkins")
    assert "a hint, never a flag" in phone.page.inner_text("#unreported").lower()
    no_sideways_scroll(phone, "the dashboard at 390px")
    phone.page.locator("#checkins").scroll_into_view_if_needed()
    shot(phone, "wellbeing-checkin-390")

    desk = open_desk(DESKTOP)
    desk.login("max")
    desk.page.goto("/desk/dashboard")
    checkins = desk.page.inner_text("#checkins")
    assert "ann crossed the shift limit" in checkins and "check in" in checkins
    shot(desk, "wellbeing-checkin-1280")
    desk.page.click("#checkins button:has-text('Acknowledge')")
    desk.page.wait_for_selector("main .flash")
    assert "you checked in with ann" in desk.page.inner_text("main .flash")
    assert desk.page.locator("#checkins").count() == 0  # acknowledged: the card is gone
    shot(desk, "wellbeing-acknowledged-1280")
    (audit,) = [f for _id, f in redis_conn.xrange(keys.AUDIT) if f["action"] == "wellbeing_checkin"]
    assert audit["by"] == "max" and audit["subject"] == "ann"
    assert not desk.errors and not phone.errors and not agent_desk.errors


def test_one_row_an_agent_and_one_check_in_covers_every_crossing(app: Any, mgr: Any, redis_conn: redis.Redis) -> None:
    # ann crossed her shift limit three times today, two hours apart (each break is over); another phone once, just now.
    make_user(app, "ann", "agent", phones=AGENT)
    limits = exposure.Limits(shift=1, week=0, break_seconds=900, shift_gap_hours=8)
    start = now_ms() - 5 * 3600_000
    exposure.on_duty(redis_conn, AGENT, limits, at=start - 60_000)  # her shift starts
    for n in range(3):
        at = start + n * 2 * 3600_000
        pipe = redis_conn.pipeline(transaction=True)
        exposure.record(pipe, AGENT, f"CA{n:032x}", at)
        pipe.execute()
        assert exposure.on_duty(redis_conn, AGENT, limits, at=at + 1).status == "started"
    exposure.on_duty(redis_conn, "+15550002222", limits, at=now_ms() - 60_000)
    pipe = redis_conn.pipeline(transaction=True)
    exposure.record(pipe, "+15550002222", "CA" + "b" * 32, now_ms() - 1000)
    pipe.execute()
    assert exposure.on_duty(redis_conn, "+15550002222", limits).status == "started"

    page = lxml_html.fromstring(mgr.get("/desk/dashboard").get_data(as_text=True))
    rows = page.xpath('//section[@id="checkins"]//li[@class="checkin"]')
    assert len(rows) == 2  # one an agent, the latest crossing first
    other, ann = (" ".join(row.text_content().split()) for row in rows)
    assert other.startswith("+15550002222 crossed the shift limit") and "On a wellbeing break until" in other
    assert "earlier crossing" not in other
    assert ann.startswith("ann crossed the shift limit") and "Their wellbeing break ended at" in ann
    assert "2 earlier crossings since" in ann and "one check-in covers them all" in ann
    ann_ids = rows[1].xpath('.//input[@name="id"]/@value')
    assert len(ann_ids) == 3

    unknown = post_form(mgr, "/desk/wellbeing/acknowledge", {"id": ["nobody|1"]})
    assert unknown.status_code == 404 and len(exposure.checkins(redis_conn)) == 4  # nothing changed
    done = post_form(mgr, "/desk/wellbeing/acknowledge", {"id": ann_ids}, follow_redirects=True)
    assert "you checked in with ann (3 check-ins)" in done.get_data(as_text=True)
    audits = [f for _id, f in redis_conn.xrange(keys.AUDIT) if f["action"] == "wellbeing_checkin"]
    assert [a["subject"] for a in audits] == ["ann"] * 3 and {a["by"] for a in audits} == {"max"}
    (left,) = exposure.checkins(redis_conn)
    assert left["agent"] == "+15550002222"


def test_managers_set_the_limits_on_the_settings_page_and_the_phone_follows(app: Any, twilio: Any, mgr: Any,
                                                                            redis_conn: redis.Redis) -> None:
    bad = post_form(mgr, "/desk/settings", {"line": "*", "exposure_shift_limit": "many"})
    assert bad.status_code == 400 and "exposure_shift_limit must be a whole number" in bad.get_data(as_text=True)
    assert redis_conn.hget(keys.SETTINGS, "exposure_shift_limit") is None  # nothing saved
    ok = post_form(mgr, "/desk/settings", {"line": "*", "exposure_shift_limit": "1", "exposure_week_limit": "0"})
    assert ok.status_code == 302
    assert redis_conn.hget(keys.SETTINGS, "exposure_shift_limit") == "1"
    assert any(f["reason"] == "exposure_shift_limit=1" for _id, f in redis_conn.xrange(keys.AUDIT))
    agent = cf.agent_connects(twilio, AGENT)  # the environment says 2; the desk's 1 wins
    caller = cf.place_call(twilio, "+14155550123")
    cf.bridge(twilio, agent, caller)
    after = cf.bridge_ends(twilio, agent, caller)
    cf.held_poll(twilio, caller)
    cf.press(twilio, agent, after, "9")
    reply = twilio.post("/agent/connect", {"CallSid": agent.sid, "From": AGENT, "To": "+15557770000",
                                           "AccountSid": twilio.account_sid, "CallStatus": "in-progress"})
    assert reply.root.find("Dial") is None, reply.text
    assert cf.events(redis_conn, "wellbeing_break")[0]["limit"] == "1"
