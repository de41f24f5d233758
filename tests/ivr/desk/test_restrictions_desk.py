"""Contact restrictions on the managers' desk (ivr/desk/views_restrictions.py): the number page's "Restrict contact"
card makes a restriction (bad input said back, nothing written), lists it with its review date, removes it with a
reason; the history shows each step in plain words; agents are refused. Once in a real Chromium at 1280 and 390 px."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from lxml import html as lxml_html

from blocklist import keys
from tests.support.browser import DESKTOP, PHONE, SHOTS
from tests.support.desk import login, make_user, post_form
from tests.support.store import snapshot

CALLER = "+14155550123"
ZONE = "Africa/Johannesburg"


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    return {**app_env, "IVR_TIMEZONE": ZONE}


def day(offset: int) -> str:
    return (datetime.now(ZoneInfo(ZONE)) + timedelta(days=offset)).date().isoformat()


def text(resp: Any) -> str:
    return re.sub(r"\s+", " ", resp.get_data(as_text=True))


def bl(app: Any) -> Any:
    return app.extensions["ivr"].blocklist


def card(resp: Any) -> str:
    [section] = lxml_html.fromstring(resp.get_data(as_text=True)).xpath("//section[@id='restrict']")
    return " ".join(section.text_content().split())


def test_the_card_makes_lists_and_removes_a_restriction(app: Any, mgr: Any) -> None:
    page = mgr.get(f"/desk/numbers/{CALLER}")
    assert "Restrict contact" in card(page) and "No contact restriction." in card(page)
    path = f"/desk/numbers/{CALLER}/restrict"
    made = post_form(mgr, path, {"kind": "hours", "hours": "Mon-Fri 09:00-12:00", "max_calls": "", "per": "day",
                                 "route": "supervisor", "line": "", "review": day(30), "until": "",
                                 "reason": "shouting at agents"}, follow_redirects=True)
    assert "Restricted: hours Mon-Fri 09:00-12:00." in text(made)
    words = card(made)
    assert "hours Mon-Fri 09:00-12:00 — all lines" in words and "until removed" in words
    assert "shouting at agents (by max" in words
    (r,) = bl(app).restrictions(CALLER)
    assert (r.kind, r.by, r.review_ms) == ("hours", "max", int(datetime.fromisoformat(day(30)).replace(
        tzinfo=ZoneInfo(ZONE)).timestamp() * 1000))
    history = lxml_html.fromstring(made.get_data(as_text=True)).xpath("//table[contains(@class,'history')]//tr[td]")
    assert "contact restricted (hours Mon-Fri 09:00-12:00)" in " ".join(history[0].text_content().split())
    remove = f"/desk/numbers/{CALLER}/restrictions/{r.id}/remove"
    refused = post_form(mgr, remove, {"reason": ""}, follow_redirects=True)
    assert "Not removed: say why the restriction is removed" in text(refused)
    done = post_form(mgr, remove, {"reason": "agreed a new contact plan"}, follow_redirects=True)
    assert "Restriction removed: hours Mon-Fri 09:00-12:00." in text(done)
    assert bl(app).restrictions(CALLER) == [] and "No contact restriction." in card(done)
    audit = text(mgr.get("/desk/audit"))
    assert "contact restricted" in audit and "contact restriction removed" in audit


@pytest.mark.parametrize(("form", "words"), [
    ({"kind": "hours", "hours": "Mon-Fri 09:00-12:00", "review": day(0)}, "is not in the future"),
    ({"kind": "hours", "hours": "Mon-Fri 09:00-12:00", "review": day(-3)}, "is not in the future"),
    ({"kind": "hours", "hours": "Mon-Fri 09:00-12:00|Fri 11:00-14:00", "review": day(9)}, "overlap on Fri"),
    ({"kind": "max_calls", "max_calls": "", "per": "day", "review": day(9)}, "say how many calls"),
    ({"kind": "hours", "hours": "Sat 09:00-10:00", "review": day(9)}, "overlaps this one"),
])
def test_bad_input_is_said_back_and_nothing_is_written(app: Any, mgr: Any, redis_conn: redis.Redis,
                                                       form: dict[str, str], words: str) -> None:
    bl(app).restrict(CALLER, kind="hours", hours="Mon 09:00-10:00", review=day(20), reason="seed", by="seed")
    before = snapshot(redis_conn)
    resp = post_form(mgr, f"/desk/numbers/{CALLER}/restrict", {"reason": "r", "line": "", "until": "", **form},
                     follow_redirects=True)
    flash = lxml_html.fromstring(resp.get_data(as_text=True)).xpath("//p[contains(@class,'flash')]")[0]
    assert "Not restricted:" in flash.text_content() and words in flash.text_content()
    assert snapshot(redis_conn) == before


def test_agents_are_refused(app: Any, client: Any) -> None:
    make_user(app, "ann", "agent")
    login(client, "ann")
    resp = post_form(client, f"/desk/numbers/{CALLER}/restrict", {"kind": "voicemail", "review": day(9),
                                                                  "reason": "x"})
    assert resp.status_code == 403 and bl(app).restrictions(CALLER) == []


def test_a_due_review_says_so_on_the_card_and_the_review_list(app: Any, mgr: Any) -> None:
    made = bl(app).restrict(CALLER, kind="voicemail", review=day(2), reason="threats", by="seed")
    bl(app).sweep_restrictions(at=made.review_ms + 1000)
    assert "due now: keep it with a new review date, or remove it" in card(mgr.get(f"/desk/numbers/{CALLER}"))
    review = text(mgr.get("/desk/review"))
    assert "contact restriction up for review: voicemail only (all lines), made by seed: threats" in review


def test_a_manager_keeps_a_due_restriction_until_a_new_review_date(app: Any, mgr: Any, redis_conn: redis.Redis) -> None:
    made = bl(app).restrict(CALLER, kind="voicemail", review=day(2), reason="threats", by="seed")
    bl(app).sweep_restrictions(at=made.review_ms + 1000)
    keep = f"/desk/numbers/{CALLER}/restrictions/{made.id}/keep"
    before = snapshot(redis_conn)
    for form, words in (({"review": day(0), "reason": "still calling"}, "is not in the future"),
                        ({"review": day(30), "reason": ""}, "say why the restriction is kept")):
        refused = post_form(mgr, keep, form, follow_redirects=True)
        assert words in text(refused)
        assert snapshot(redis_conn) == before  # nothing changed
    kept = post_form(mgr, keep, {"review": day(30), "reason": "still calling at night"}, follow_redirects=True)
    assert "Restriction kept: voicemail only" in text(kept)
    [now] = bl(app).restrictions(CALLER)
    assert now.id == made.id and not now.review_due and now.review_ms > made.review_ms
    assert "due now" not in card(kept)
    assert "contact restriction up for review" not in text(mgr.get("/desk/review"))
    history = [h for h in bl(app).history(CALLER) if h["action"] == "restrict_kept"]
    assert history and history[0]["by"] == "max" and history[0]["reason"] == "still calling at night"


@pytest.mark.parametrize(("restriction", "lang", "words"), [
    ({"kind": "max_calls", "max_calls": 3, "period": "day"}, "fi", "enintään 3 puhelua päivässä"),
    ({"kind": "max_calls", "max_calls": 1, "period": "week"}, "pt", "no máximo 1 chamada por semana"),
    ({"kind": "route", "route": "supervisor"}, "af", "slegs na die toesighouers se tou"),
    ({"kind": "voicemail"}, "zh", "仅限语音留言"),
    ({"kind": "hours", "hours": "Mon-Fri 09:00-12:00"}, "vi", "giờ Mon-Fri 09:00-12:00"),
])
def test_a_restriction_reads_in_the_desk_user_s_language(app: Any, mgr: Any, restriction: dict[str, Any], lang: str,
                                                         words: str) -> None:
    made = bl(app).restrict(CALLER, review=day(20), reason="seed", by="seed", **restriction)
    assert words in card(mgr.get(f"/desk/numbers/{CALLER}", headers={"Accept-Language": lang}))
    removed = post_form(mgr, f"/desk/numbers/{CALLER}/restrictions/{made.id}/remove", {"reason": "agreed"},
                        follow_redirects=True, headers={"Accept-Language": lang})
    assert words in text(removed) and bl(app).restrictions(CALLER) == []
    assert made.words() in {"at most 3 calls a day", "at most 1 call a week", "only to the supervisors' queue",
                            "voicemail only", "hours Mon-Fri 09:00-12:00"}  # the CLI and the API keep English


# ---- in a real browser ----------------------------------------------------------------------------------------
def test_in_a_browser_a_manager_restricts_a_number_at_desktop_and_phone_width(app: Any, open_desk: Any,
                                                                              redis_conn: redis.Redis) -> None:
    make_user(app, "max", "manager")
    desk = open_desk(DESKTOP)
    desk.login("max")
    page = desk.page
    page.goto(f"/desk/numbers/{CALLER}#restrict")
    page.select_option("#restrict select[name=kind]", "max_calls")
    page.fill("#restrict input[name=max_calls]", "2")
    page.select_option("#restrict select[name=per]", "week")
    page.fill("#restrict input[name=review]", day(60))
    page.fill("#restrict form.restrict-form input[name=reason]", "repeated abusive calls; letter sent")
    page.click("#restrict form.restrict-form button.primary")
    page.wait_for_selector("main > .flash")
    assert "Restricted: at most 2 calls a week." in page.inner_text("main > .flash")
    assert "at most 2 calls a week" in page.inner_text("#restrict .restriction")
    (r,) = bl(app).restrictions(CALLER)
    assert (r.kind, r.max_calls, r.period, r.by) == ("max_calls", 2, "week", "max")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#restrict").screenshot(path=str(SHOTS / "restrictions-1280.png"))
    phone = open_desk(PHONE)
    phone.login("max")
    resp = phone.page.goto(f"/desk/numbers/{CALLER}#restrict")
    assert resp is not None and resp.status == 200
    width, inner = phone.page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the number page scrolls sideways at 390px ({width}px)"
    boxes = phone.page.eval_on_selector_all("#restrict, #restrict form, #restrict input, #restrict select",
                                            "es => es.map(e => e.getBoundingClientRect().right)")
    assert max(boxes) <= 390, boxes
    phone.page.locator("#restrict").screenshot(path=str(SHOTS / "restrictions-390.png"))
    phone.page.fill("#restrict form.restriction-remove input[name=reason]", "agreed a contact plan")
    phone.page.click("#restrict form.restriction-remove button")
    phone.page.wait_for_selector("main > .flash")
    assert "Restriction removed" in phone.page.inner_text("main > .flash")
    assert bl(app).restrictions(CALLER) == []
    fields = redis_conn.xrevrange(keys.AUDIT, count=1)[0][1]
    assert (fields["action"], fields["by"], fields["reason"]) == ("unrestrict", "max", "agreed a contact plan")
