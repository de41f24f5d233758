"""The desk's error pages in a real headless Chromium: the layout, the words, the way back that works, no
console error but the failed load itself (a CSP violation would show), and screenshots on a laptop and a phone
(test-output/screenshots/error-404*.png)."""

from __future__ import annotations

from typing import Any

from tests.support.browser import PHONE, Desk
from tests.support.desk import make_user

LAPTOP = {"width": 1280, "height": 800}


def forget_the_failed_load(desk: Desk, status: int) -> None:
    """The browser logs an error status as a failed resource load; anything else logged is a real error."""
    desk.errors[:] = [e for e in desk.errors if f"status of {status}" not in e]


def test_a_missing_page_leads_back_to_where_the_manager_was(app: Any, open_desk: Any) -> None:
    make_user(app, "max", "manager")
    for viewport, name in ((LAPTOP, "error-404"), (PHONE, "error-404-phone")):
        desk = open_desk(viewport)
        desk.login("max")
        desk.page.goto("/desk/blocklist")
        with desk.page.expect_navigation():
            desk.page.evaluate("window.location.href = '/desk/numbers/+14155550123/nowhere'")  # as a stale link would
        assert desk.page.locator("h1").inner_text() == "We could not find that"
        assert "There is nothing at /desk/numbers/+14155550123/nowhere" in desk.page.inner_text("main")
        assert desk.page.locator("nav[aria-label=Desk] >> text=Blocklist").count() == 1
        forget_the_failed_load(desk, 404)
        desk.shot(name)
        if viewport is PHONE:
            width = desk.page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"] + 1, f"the error page scrolls sideways on a phone ({width}px)"
        with desk.page.expect_navigation():
            desk.page.click("text=Back to the page you came from")
        assert desk.page.url.endswith("/desk/blocklist")
        assert desk.page.locator("h1").count() >= 1 and "could not find" not in desk.page.inner_text("main")


def test_a_visitor_off_the_desk_gets_the_layout_and_the_way_to_the_desk(open_desk: Any) -> None:
    desk = open_desk(PHONE)
    resp = desk.page.goto("/no/such/page")
    assert resp is not None and resp.status == 404
    assert desk.page.locator("html").get_attribute("lang") == "en"
    assert desk.page.locator("main h1").inner_text() == "We could not find that"
    assert desk.page.locator("header nav").count() == 0  # logged out: no navigation to pages they cannot open
    forget_the_failed_load(desk, 404)  # the desk's stylesheet and script load under its CSP: nothing else logged
    assert desk.page.evaluate("getComputedStyle(document.querySelector('.card')).borderRadius") == "8px"
    with desk.page.expect_navigation():
        desk.page.click("text=Back to the desk")
    assert "/desk/login" in desk.page.url
