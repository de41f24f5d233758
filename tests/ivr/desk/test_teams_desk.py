"""Routing a number's calls to one team (IVR_TEAMS) from the managers' desk: the Restrict contact card offers the
supervisors and every team, the restriction reads in the desk user's language; once in Chromium at laptop and phone
width (the card must not scroll sideways)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from lxml import html as lxml_html

from tests.support.browser import DESKTOP, PHONE, SHOTS
from tests.support.constants import HARASSER
from tests.support.desk import logged_in, make_user, post_form

TEAMS = "billing=client:anna,+15550009999; complaints=+15550008888"


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    return {**app_env, "IVR_TEAMS": TEAMS}


def review_date(app: Any) -> str:
    return (datetime.now(app.config["SETTINGS"].tz()) + timedelta(days=30)).date().isoformat()


def test_the_card_offers_the_teams_and_routes_to_one(app: Any) -> None:
    desk = logged_in(app)
    page = desk.get(f"/desk/numbers/{HARASSER}").get_data(as_text=True)
    [route] = lxml_html.fromstring(page).xpath("//section[@id='restrict']//select[@name='route']")
    assert [(o.get("value"), o.text_content()) for o in route.xpath("option")] == [
        ("supervisor", "The supervisors' queue"), ("team:billing", "Team billing"),
        ("team:complaints", "Team complaints")]
    made = post_form(desk, f"/desk/numbers/{HARASSER}/restrict", {
        "kind": "route", "route": "team:billing", "hours": "", "max_calls": "", "per": "day", "line": "",
        "review": review_date(app), "until": "", "reason": "billing dispute"}, follow_redirects=True)
    assert "Restricted: only to team billing." in " ".join(made.get_data(as_text=True).split())
    [r] = app.extensions["ivr"].blocklist.restrictions(HARASSER)
    assert r.route == "team:billing"
    fi = desk.get(f"/desk/numbers/{HARASSER}", headers={"Accept-Language": "fi"}).get_data(as_text=True)
    assert "vain tiimille billing" in fi and "Tiimi complaints" in fi


def test_in_chromium_a_manager_routes_a_number_to_a_team_at_laptop_and_phone_width(app: Any, open_desk: Any) -> None:
    make_user(app, "max", "manager")
    for viewport, name in ((DESKTOP, "1280"), (PHONE, "390")):
        desk = open_desk(viewport)
        desk.login("max")
        page = desk.page
        page.goto(f"/desk/numbers/{HARASSER}#restrict")
        width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
        assert width <= inner, f"the number page scrolls sideways at {name}px ({width}px)"
        if name == "1280":
            page.select_option("#restrict select[name=kind]", "route")
            page.select_option("#restrict select[name=route]", "team:complaints")
            page.fill("#restrict input[name=review]", review_date(app))
            page.fill("#restrict form.restrict-form input[name=reason]", "repeat complaints; agreed in writing")
            page.click("#restrict form.restrict-form button.primary")
            page.wait_for_selector("main > .flash")
            assert "Restricted: only to team complaints." in page.inner_text("main > .flash")
            assert "only to team complaints" in page.inner_text("#restrict .restriction")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.locator("#restrict").screenshot(path=str(SHOTS / f"teams-restrict-{name}.png"))
    [r] = app.extensions["ivr"].blocklist.restrictions(HARASSER)
    assert (r.kind, r.route, r.by) == ("route", "team:complaints", "max")
