"""Every desk page, as each role sees it, on a laptop (1280x800) and a phone (390x844), with data: no page
scrolls sideways, axe-core finds no serious or critical accessibility violation, and every page is
photographed to test-output/screenshots/tour/ (./dev test names the folder at the end) for a person to
look at."""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe

from tests.support.browser import SHOTS
from tests.support.callflow import agent_connects, bridge, bridge_ends, place_call, press
from tests.support.constants import AGENT, HARASSER, LINE
from tests.support.desk import make_user

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TOUR = SHOTS / "tour"
AGENT_PAGES = {"call": "/desk/call", "account": "/desk/account"}
MANAGER_PAGES = {
    "dashboard": "/desk/dashboard", "blocklist": "/desk/blocklist", "number": f"/desk/numbers/{HARASSER}",
    "review": "/desk/review", "dryrun": "/desk/dryrun", "reports": "/desk/reports", "withheld": "/desk/withheld",
    "account": "/desk/account",
}
ADMIN_PAGES = {**MANAGER_PAGES, "settings": "/desk/settings", "audit": "/desk/audit", "users": "/desk/users"}
SERIOUS = ("serious", "critical")


def seed(app: Any, twilio: Any, run_jobs: Any) -> None:
    """A small day: a phone flag, a withheld flag, a block by hand, a range rule, a burst for review."""
    for number in (HARASSER, "anonymous"):
        caller = place_call(twilio, number)
        agent = agent_connects(twilio, AGENT)
        bridge(twilio, agent, caller)
        press(twilio, agent, bridge_ends(twilio, agent, caller), "9")
    bl = app.extensions["ivr"].blocklist
    bl.block("+14155550999", by="max", reason="threats on the recorded line", duration=7 * 86400)
    bl.add_prefix("+1900", by="max", reason="premium-rate range", treatment="reject")
    bl.set_line_setting("*", "burst_calls", "1", by="test")
    place_call(twilio, "+14155550777")
    place_call(twilio, "+14155550777", line=LINE)
    run_jobs()


def visit(desk: Any, axe: Any, role: str, name: str, path: str, width: int, problems: list[str]) -> None:
    resp = desk.page.goto(path)
    if resp is None or resp.status != 200:
        problems.append(f"{role} {path}: HTTP {resp.status if resp else 'no answer'}")
        return
    desk.page.wait_for_load_state("networkidle")
    scroll = desk.page.evaluate("document.documentElement.scrollWidth")
    if scroll > width + 1:
        problems.append(f"{role} {path} at {width}px: scrolls sideways ({scroll}px wide)")
    results = axe.run(desk.page)
    for violation in results.response["violations"]:
        if violation["impact"] in SERIOUS:
            targets = [n["target"] for n in violation["nodes"]][:3]
            problems.append(f"{role} {path} at {width}px: axe {violation['impact']} {violation['id']}: "
                            f"{violation['help']} {targets}")
    TOUR.mkdir(parents=True, exist_ok=True)
    desk.page.screenshot(path=str(TOUR / f"{role}-{name}-{width}.png"), full_page=True)


def test_every_page_for_every_role_fits_and_passes_axe(app: Any, open_desk: Any, twilio: Any, run_jobs: Any) -> None:
    seed(app, twilio, run_jobs)
    make_user(app, "ada", "admin")
    make_user(app, "max", "manager")
    make_user(app, "ann", "agent", phones=AGENT)
    axe = Axe()
    problems: list[str] = []
    for viewport in (LAPTOP, PHONE):
        login_page = open_desk(viewport)
        visit(login_page, axe, "visitor", "login", "/desk/login", viewport["width"], problems)
        for role, user, pages in (("admin", "ada", ADMIN_PAGES), ("manager", "max", MANAGER_PAGES),
                                  ("agent", "ann", AGENT_PAGES)):
            desk = open_desk(viewport)
            desk.login(user)
            for name, path in pages.items():
                visit(desk, axe, role, name, path, viewport["width"], problems)
    assert not problems, "\n".join(problems)
    assert len(list(TOUR.glob("*.png"))) >= 2 * (1 + len(ADMIN_PAGES) + len(MANAGER_PAGES) + len(AGENT_PAGES))
