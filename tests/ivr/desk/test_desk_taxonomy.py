"""The abuse taxonomy on the agent's desk: the flag form offers the categories in plain words (the phone's default
chosen), the moves may carry one, an older form's `reason` still works, an unknown category changes nothing, and
the categories of earlier flags are shown in words; once in Chromium at laptop and phone width."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import redis
from lxml import html as lxml_html

from blocklist import abuse, keys
from ivr.desk import abuse_words
from tests.support.browser import DESKTOP, PHONE
from tests.support.callflow import bridged_caller, events
from tests.support.constants import AGENT, API_TOKEN, HARASSER, LINE
from tests.support.desk import login, make_user, post_form


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    # a few difficult calls of one agent: keep the wellbeing break out of this test's way
    return {**app_env, "IVR_FLAG_CATEGORY": "silent", "IVR_EXPOSURE_SHIFT_LIMIT": "0", "IVR_EXPOSURE_WEEK_LIMIT": "0"}


def desk_agent(app: Any, name: str = "ann") -> Any:
    make_user(app, name, "agent", phones=AGENT)
    client = app.test_client()
    assert login(client, name).status_code == 302
    return client


def history(r: redis.Redis, number: str = HARASSER) -> list[dict[str, Any]]:
    return [json.loads(h) for h in r.lrange(keys.history(number), 0, -1)]


def test_the_desk_s_words_are_the_taxonomy_s(app: Any) -> None:
    with app.test_request_context("/desk/call"):
        assert dict(abuse_words.category_choices()) == abuse.WORDS  # English: the same words as the reports
        assert abuse_words.category_words("threat") == "threats" and abuse_words.category_words(None) == "other"


def test_the_flag_form_offers_the_categories_in_plain_words(app: Any, twilio: Any, redis_conn: redis.Redis) -> None:
    desk = desk_agent(app)
    caller, _agent = bridged_caller(twilio)
    doc = lxml_html.fromstring(desk.get("/desk/call").get_data(as_text=True))
    options = doc.xpath("//form[contains(@class,'flag-form')]//select[@name='category']/option")
    assert [(o.get("value"), o.text_content()) for o in options] == [(c.key, c.words) for c in abuse.CATEGORIES]
    assert [o.get("value") for o in options if o.get("selected") is not None] == ["silent"]  # IVR_FLAG_CATEGORY
    assert not doc.xpath("//select[@name='reason']")
    moves = doc.xpath("//form[contains(@class,'moves')]//select[@name='category']/option/@value")
    assert moves == ["", *abuse.KEYS]  # a move may carry none
    resp = post_form(desk, f"/desk/call/{caller.sid}/flag", {"category": "hate", "note": "slurs"})
    assert resp.status_code == 302 and "/desk/breather" in resp.headers["Location"]
    flag = next(h for h in history(redis_conn) if h["action"] == "flag")
    assert (flag["category"], flag["reason"], flag["note"]) == ("hate", "hate speech", "slurs")
    assert events(redis_conn, "flag")[0]["category"] == "hate"
    panel = desk.get("/desk/call").get_data(as_text=True)
    assert "Category: hate speech." in panel


def test_an_older_form_s_reason_still_flags(app: Any, twilio: Any, redis_conn: redis.Redis) -> None:
    desk = desk_agent(app)
    caller, _agent = bridged_caller(twilio)
    assert post_form(desk, f"/desk/call/{caller.sid}/flag", {"reason": "threat"}).status_code == 302
    flag = next(h for h in history(redis_conn) if h["action"] == "flag")
    assert (flag["category"], flag["reason"]) == ("threats", "threat")


def test_an_unknown_category_is_refused_and_changes_nothing(app: Any, twilio: Any, redis_conn: redis.Redis) -> None:
    desk = desk_agent(app)
    caller, _agent = bridged_caller(twilio)
    before = redis_conn.hgetall(keys.call(caller.sid))
    resp = post_form(desk, f"/desk/call/{caller.sid}/flag", {"category": "rude"})
    assert resp.status_code == 400 and "use one of obscene, threats" in resp.get_data(as_text=True)
    fetched = post_form(desk, f"/desk/call/{caller.sid}/flag", {"category": "rude"},
                        headers={"X-Requested-With": "fetch"})
    assert fetched.status_code == 400 and fetched.get_json()["status"] == "refused"
    moved = post_form(desk, f"/desk/call/{caller.sid}/move/warn", {"category": "angry"})
    assert moved.status_code == 400
    assert redis_conn.hgetall(keys.call(caller.sid)) == before
    assert not redis_conn.exists(keys.flag_once(caller.sid), keys.history(HARASSER), keys.WARNINGS)
    assert not events(redis_conn, "flag") and not events(redis_conn, "warn")


def test_a_desk_move_records_its_category_and_the_warning(app: Any, twilio: Any, redis_conn: redis.Redis) -> None:
    desk = desk_agent(app)
    caller, _agent = bridged_caller(twilio)
    resp = post_form(desk, f"/desk/call/{caller.sid}/move/warn", {"category": "obscene", "note": "swearing"})
    assert resp.status_code == 302
    (warn,) = events(redis_conn, "warn")
    assert (warn["category"], warn["on_record"], warn["via"]) == ("obscene", "1", "desk")
    assert post_form(desk, f"/desk/call/{caller.sid}/move/escalate", {"category": ""}).status_code == 302
    assert events(redis_conn, "escalate")[0]["category"] == ""  # none given: none recorded
    panel = desk.get("/desk/call").get_data(as_text=True)
    assert re.search(r"Warnings on record</dt><dd class=\"warnings-on-record\">1 warning<", panel)


def test_earlier_flags_show_their_categories_in_words(app: Any, twilio: Any) -> None:
    bl = app.extensions["ivr"].blocklist
    bl.flag(HARASSER, call_sid="CA" + "1" * 32, line=LINE, via="key", agent="x", category="threats")
    bl.flag(HARASSER, call_sid="CA" + "2" * 32, line=LINE, via="desk", agent="x", reason="prank")  # before categories
    bl.flag(HARASSER, call_sid="CA" + "3" * 32, line=LINE, via="key", agent="x", category="threats")
    desk = desk_agent(app)
    bridged_caller(twilio)
    doc = lxml_html.fromstring(desk.get("/desk/call").get_data(as_text=True))
    shown = doc.xpath("//span[@class='previous-categories']")[0].text_content()
    assert shown == ": threats (×2), nonsense or prank"
    rows = [c.text_content() for c in doc.xpath("//table//span[@class='category']")]
    assert rows.count("threats") == 2 and "nonsense or prank" in rows


def test_flagging_with_a_category_in_chromium_at_laptop_and_phone_width(app: Any, open_desk: Any, twilio: Any,
                                                                       redis_conn: redis.Redis) -> None:
    make_user(app, "ann", "agent", phones=AGENT)
    app.extensions["ivr"].blocklist.flag(HARASSER, call_sid="CA" + "1" * 32, line=LINE, via="key", agent="x",
                                         category="sexual", note="last week")
    app.extensions["ivr"].blocklist.unblock(HARASSER, by="max", reason="appeal upheld")
    for n, (viewport, name) in enumerate(((DESKTOP, "1280"), (PHONE, "390"))):
        caller, _agent = bridged_caller(twilio)
        desk = open_desk(viewport)
        desk.login("ann")
        desk.page.wait_for_selector("#live .number")
        assert "sexual harassment" in desk.page.inner_text(".previous-categories")
        width = desk.page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"] + 1, f"the call page scrolls sideways at {name}px ({width}px)"
        form = desk.page.locator(".flag-form")
        assert form.locator("select[name=category]").input_value() == "silent"  # the phone's default, preselected
        form.locator("select[name=category]").select_option(label="threats")
        form.locator("input[name=note]").fill("said he knows where I live")
        desk.shot(f"taxonomy-call-{name}")
        form.locator("button.flag-button").click()
        desk.page.wait_for_url(re.compile(r".*/desk/breather.*"))
        flags = [h for h in history(redis_conn) if h["action"] == "flag" and h["call_sid"] == caller.sid]
        assert [(f["category"], f["note"], f["via"]) for f in flags] == [("threats", "said he knows where I live",
                                                                          "desk")]
        assert redis_conn.hget(keys.call(caller.sid), "category") == "threats"
        app.extensions["ivr"].blocklist.unblock(HARASSER, by="max", reason=f"test round {n}")
        assert not desk.errors, desk.errors


def test_the_manager_is_offered_a_restriction_or_a_block_on_a_phone(app: Any, open_desk: Any, twilio: Any,
                                                                    redis_conn: redis.Redis) -> None:
    make_user(app, "max", "manager")
    res = app.extensions["ivr"]
    for _ in range(res.settings.warnings_before_offer):  # the polite limit on separate calls, from the desk's API
        caller, _agent = bridged_caller(twilio)
        assert app.test_client().post(f"/api/calls/{caller.sid}/warn", json={"category": "obscene"},
                                      headers={"Authorization": f"Bearer {API_TOKEN}"}).status_code == 202
    desk = open_desk(PHONE)
    desk.login("max")
    desk.page.goto("/desk/review")
    assert "3 warnings on record" in desk.page.inner_text("table.warned")
    desk.page.locator("table.warned a", has_text="Restrict contact").click()
    desk.page.wait_for_url(re.compile(r".*/desk/numbers/.*#restrict$"))
    assert "3 warnings on record" in desk.page.inner_text("#warnings")
    assert desk.page.locator("#restrict").count() == 1  # the restriction form the offer leads to
    width = desk.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"the number page scrolls sideways on a phone ({width}px)"
    desk.page.goto(f"/desk/numbers/{HARASSER}")
    desk.shot("taxonomy-number-offer-390")
    desk.page.locator("#warnings a", has_text="Block this number").click()
    assert desk.page.url.endswith("#block") and desk.page.locator("form#block").is_visible()
    assert not desk.errors, desk.errors
