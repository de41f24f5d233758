"""The dashboard's signals at the door: calls by caller-ID attestation and by reputation tier, stacked by
what the door did, campaigns per day, and the campaigns table; as a manager meets them on a laptop (1280x800), on
a phone (390x844), in another language, and as CSV."""

from __future__ import annotations

import csv
import io
import json
import random
import re
from typing import Any

import pytest
import redis
from lxml import html as lxml_html

from tests.support.browser import PHONE
from tests.support.callflow import place_call
from tests.support.desk import make_user, post_form, session_csrf
from tests.support.events import DAY, LINES, T0, Events
from workers import reports
from workers.reports import charts

START, END = "2025-03-01", "2025-03-31"
RANGE = f"from={START}&to={END}"
LAPTOP = {"width": 1280, "height": 800}
CLASSES = ("A", "B", "C", "failed", "unsigned")
SIGNAL_CHARTS = ("attestation", "reputation", "campaigns")
CAMPAIGNS = 25  # more than the dashboard lists (20)


@pytest.fixture
def utc_env(app_env: dict[str, str]) -> dict[str, str]:
    app_env["IVR_TIMEZONE"] = "UTC"
    return app_env


def seed(r: redis.Redis) -> Events:
    """Three weeks of calls with the screen's signal fields (some without: recorded before them), treated or put
    through, and campaigns on both lines."""
    ev = Events(r)
    rng = random.Random(43)
    for i, ts in enumerate(sorted(T0 + rng.randrange(21 * DAY) for _ in range(300))):
        fields: dict[str, Any] = {"attest": rng.choice(CLASSES)} if i % 4 else {"StirVerstat": "TN-Validation-Passed-A"}
        if i % 3 == 0:
            fields.update(rep=str(rng.randrange(101)), rep_by=rng.choice(["Nomorobo Spam Score", "Icehook Scout"]))
        treated = {"decision": "treat", "rule": "reputation", "treatment": "reject"} if i % 5 == 0 else {}
        ev.call(ts, f"+1415555{rng.randrange(10000):04d}", line=LINES[i % 2], sid=f"CA{i:032d}", **treated, **fields)
    for i in range(CAMPAIGNS):
        ts = T0 + i * 20 * 3_600_000
        ev.add("campaign", ts, line=LINES[i % 2], prefix=f"+1415{i:03d}", numbers=str(6 + i % 4), minutes="10",
               first=str(ts - 300_000), action="review" if i % 3 else "reject", call_sid=f"CA-c{i}")
    reports.fold(r)
    return ev


@pytest.fixture
def world(utc_env: dict[str, str], app: Any, redis_conn: redis.Redis) -> Events:
    return seed(redis_conn)



def signals(app: Any) -> dict[str, Any]:
    q = reports.Query.build(start=START, end=END, settings=reports.ReportSettings.from_env())
    return reports.summary(app.extensions["ivr"].store, q)


def page(client: Any, path: str) -> Any:
    resp = client.get(path)
    assert resp.status_code == 200, path
    return lxml_html.fromstring(resp.get_data(as_text=True))


def chart_table(doc: Any, key: str) -> list[list[str]]:
    table = doc.xpath(f"//section[@id='chart-{key}']//details[contains(@class,'chart-table')]//table")
    assert table, f"no 'show as table' for {key}"
    return [[td.text_content().strip() for td in tr.xpath("td")] for tr in table[0].xpath(".//tbody/tr")]


def test_dashboard_draws_the_signals_with_the_report_numbers(app: Any, world: Events, mgr: Any) -> None:
    data = signals(app)
    sig = data["signals"]
    doc = page(mgr, f"/desk/dashboard?{RANGE}")
    boxes = doc.xpath("//div[contains(@class,'chart-box')]/@data-chart")
    assert [b for b in boxes if b in SIGNAL_CHARTS] == list(SIGNAL_CHARTS)
    drawn = charts.report_charts(data)
    for key in SIGNAL_CHARTS:
        assert json.loads(doc.xpath(f"//script[@id='chart-spec-{key}']")[0].text) == drawn[key].embed()
        assert doc.xpath(f"//div[@data-chart='{key}']/@aria-label") == [drawn[key].description]
    # the tables beside the charts: treated at the door, then put through, per class and per tier
    assert chart_table(doc, "attestation") == [[r["meaning"], str(r["stopped"]), str(r["allowed"])]
                                               for r in sig["attestation"]]
    assert chart_table(doc, "reputation") == [[r["band"], str(r["stopped"]), str(r["allowed"])]
                                              for r in sig["reputation"]]
    assert sum(int(row[1]) + int(row[2]) for row in chart_table(doc, "attestation")) == data["frequency"]["totals"][
        "calls"]
    assert sum(int(row[1]) for row in chart_table(doc, "reputation")) == data["frequency"]["totals"]["treated"]
    per_day = chart_table(doc, "campaigns")
    assert [(row[0], int(row[1])) for row in per_day] == [(d["day"], d["campaigns"]) for d in sig["daily"]]
    assert sum(int(row[1]) for row in per_day) == CAMPAIGNS
    # the campaigns table: the latest 20, newest first, and how many there were
    rows = doc.xpath("//section[@id='campaigns']//tbody/tr")
    assert len(rows) == 20
    newest = sig["campaigns"][::-1][:20]
    assert [tr.xpath("td[@data-label='Exchange']")[0].text_content() for tr in rows] == [c["prefix"] for c in newest]
    assert [tr.xpath("td[@data-label='Line']")[0].text_content() for tr in rows] == [c["line"] for c in newest]
    assert [tr.xpath("td[@data-label='Action']")[0].text_content() for tr in rows] == [c["action"] for c in newest]
    first = rows[0].xpath("td")
    assert first[4].text_content() == f"{newest[0]['numbers']} in 10 min"
    assert re.fullmatch(r"\d+ \w{3} 2025, \d\d:\d\d \w+", first[0].text_content()), first[0].text_content()
    hint = doc.xpath("//section[@id='campaigns']//p[@class='hint']")[0].text_content()
    assert f"20 of {CAMPAIGNS} in this period" in hint


def test_the_signals_in_a_period_without_them_and_in_finnish(app: Any, world: Events, mgr: Any) -> None:
    empty = page(mgr, "/desk/dashboard?from=2025-01-01&to=2025-01-31")
    for key in SIGNAL_CHARTS:
        assert "Nothing to show in this period." in empty.xpath(f"//section[@id='chart-{key}']")[0].text_content()
    assert "No campaigns in this period." in empty.xpath("//section[@id='campaigns']")[0].text_content()
    post_form(mgr, "/desk/account", {"action": "language", "language": "fi", "csrf_token": session_csrf(mgr)})
    fi = page(mgr, f"/desk/dashboard?{RANGE}")
    campaigns = fi.xpath("//section[@id='campaigns']")[0]
    assert campaigns.xpath("h2")[0].text_content() == "Havaitut kampanjat"
    headings = [th.text_content() for th in campaigns.xpath(".//thead//th")]
    assert [headings[i] for i in (0, 2, 3, 4)] == ["Havaittu", "Numeroalue", "Ensimmäinen puhelu", "Numerot"]
    assert "Exchange" not in campaigns.text_content() and "min sisällä" in campaigns.text_content()


def test_the_reports_page_and_the_api_give_the_signals_as_csv(app: Any, world: Events, mgr: Any, api: Any) -> None:
    doc = page(mgr, f"/desk/reports?{RANGE}")
    item = next(li for li in doc.xpath("//ul[@class='downloads']/li") if "Signals at the door" in li.text_content())
    links = {a.text_content(): a.get("href") for a in item.xpath("a")}
    assert set(links) == {reports.table_title("signals", t) for t in
                          ("totals", "attestation", "reputation", "providers", "campaigns", "daily", "lines")}
    resp = mgr.get(links["campaigns detected"])
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert len(rows) == CAMPAIGNS and rows[0]["prefix"] == "+1415000"
    assert api.get(f"/api/reports/signals?{RANGE}").get_json()["signals"] == signals(app)["signals"]
    assert "signals" in api.get("/api/openapi.json").get_json()["paths"]["/api/reports/{name}"]["get"][
        "parameters"][0]["schema"]["enum"]


def test_a_campaign_the_screen_detects_reaches_the_dashboard(app: Any, twilio: Any, run_jobs: Any, mgr: Any) -> None:
    """Real calls through the webhook: six numbers of one exchange on one line make a campaign (the default
    limit is more than 5 in 10 minutes); the fold carries it and the calls' attestation to the dashboard."""
    for i in range(6):
        place_call(twilio, f"+1415555{4100 + i:04d}")
    run_jobs()
    reports.fold(app.extensions["ivr"].store)  # what the reports worker does every minute
    doc = page(mgr, "/desk/dashboard")
    rows = doc.xpath("//section[@id='campaigns']//tbody/tr")
    assert [tr.xpath("td[@data-label='Exchange']")[0].text_content() for tr in rows] == ["+1415555"]
    table = {row[0]: int(row[1]) + int(row[2]) for row in chart_table(doc, "attestation")}
    assert table["not signed"] == 6  # the player sends no StirVerstat


# ---- in a real browser ------------------------------------------------------------------------------------------
def test_signal_charts_fit_a_laptop_and_a_phone(app: Any, world: Events, open_desk: Any) -> None:
    make_user(app, "max", "manager")
    for viewport, name in ((LAPTOP, "dashboard-signals-1280"), (PHONE, "dashboard-signals-390")):
        desk = open_desk(viewport)
        desk.login("max")
        desk.page.goto(f"/desk/dashboard?{RANGE}")
        total = desk.page.locator(".chart-box[data-chart]").count()
        desk.page.wait_for_function(f"document.querySelectorAll('.chart-box[data-drawn]').length === {total}")
        sig = signals(app)["signals"]
        parts = {"attestation": sum((r["stopped"] > 0) + (r["allowed"] > 0) for r in sig["attestation"]),
                 "reputation": sum((r["stopped"] > 0) + (r["allowed"] > 0) for r in sig["reputation"]),
                 "campaigns": sum(int(d[a]) > 0 for d in sig["daily"] for a in ("review", "reject"))}
        for key in SIGNAL_CHARTS:
            # every part with a count is drawn, as a bar one can see (the desk runs Vega's CSP-safe interpreter)
            seen = desk.page.locator(f".chart-box[data-chart='{key}']").evaluate("""box => Array.from(
                box.querySelectorAll("path[aria-roledescription='bar']")).filter(bar => {
                    const r = bar.getBoundingClientRect();
                    return r.width > 0.5 && r.height > 0.5 && getComputedStyle(bar).opacity !== '0' &&
                           bar.getAttribute('opacity') !== '0';
                }).length""")
            assert seen == parts[key], (key, seen, parts[key], viewport)
            box = desk.page.locator(f".chart-box[data-chart='{key}']")
            found = box.evaluate("""box => {
                const svg = box.querySelector('svg');
                const texts = Array.from(box.querySelectorAll('svg text'));
                const sizes = texts.map(t => parseFloat(getComputedStyle(t).fontSize) *
                                             Math.hypot(t.getScreenCTM().a, t.getScreenCTM().b));
                return {box: box.getBoundingClientRect().width, width: svg.getBoundingClientRect().width,
                        right: Math.max(...texts.map(t => t.getBoundingClientRect().right)),
                        smallest: Math.min(...sizes), texts: texts.map(t => t.textContent)};
            }""")
            assert found["width"] <= found["box"] + 0.5, f"{key} is wider than its box at {viewport['width']}px"
            assert found["right"] <= viewport["width"], f"{key} has text off the screen at {viewport['width']}px"
            assert found["smallest"] >= charts.MIN_FONT - 0.01, (key, found["smallest"])
            words = " ".join(found["texts"])
            assert "(count)" in words, f"{key}: no unit on its axis"  # axis title with its unit
            assert ("Treated at the door" in words and "Put through" in words) or "Action taken" in words, key
        width, inner = desk.page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
        assert width <= inner, f"the dashboard scrolls sideways at {viewport['width']}px ({width}px)"
        cut = desk.page.evaluate("""() => Array.from(document.querySelectorAll('#campaigns td')).filter(el =>
            el.scrollWidth > el.clientWidth + 1 || el.getBoundingClientRect().right > window.innerWidth + 0.5)
            .map(el => el.textContent)""")
        assert not cut, f"cut off at {viewport['width']}px: {cut}"
        # exact counts on hover
        desk.page.locator(".chart-box[data-chart='attestation'] path[aria-roledescription='bar']").first.hover()
        desk.page.wait_for_selector("#vg-tooltip-element.visible")
        assert re.search(r"Calls \(count\)\s+\d+", desk.page.inner_text("#vg-tooltip-element"))
        desk.page.mouse.move(0, 0)
        desk.page.locator("#chart-campaigns details.chart-table summary").click()
        assert desk.page.locator("#chart-campaigns table tbody tr").count() == 31
        desk.page.locator("#campaigns").scroll_into_view_if_needed()
        desk.shot(name)
    printed = open_desk(PHONE)
    printed.login("max")
    printed.page.goto(f"/reports/print?{RANGE}")
    width, inner = printed.page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the printable report scrolls sideways on a phone ({width}px)"
    assert printed.page.locator("#chart-campaigns .pic.narrow svg").count() == 1
    printed.shot("print-signals-390")
