"""The report charts and the headline counts, as a manager meets them on a laptop, on a phone and on paper.

The charts are Vega-Lite specs (workers/reports/charts.py) drawn by vega-embed on the desk and rendered to SVG by
vl-convert for the printable report. These tests hold them to what a manager needs at a glance: every text at
least 10 px as drawn, axis titles with units, a legend where there are two series, exact counts on hover and in a
"show as table" view, each series one thing; nothing cut off or scrolling sideways at 390 px. And one number,
one definition: the dashboard, the reports page, the printable report and the API show the same counts.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from typing import Any

import altair as alt
import pytest
import redis
from lxml import html as lxml_html

from tests.support.browser import PHONE, Desk
from tests.support.desk import make_user
from tests.support.events import DAY, LINES, T0, Events
from workers import reports
from workers.reports import charts

START, END = "2025-03-01", "2025-03-31"
RANGE = f"from={START}&to={END}"
NUMBERS = [f"+1415555{n:04d}" for n in range(100, 116)]
LONG_REASON = ("Called eleven times in one night, laughing and shouting obscenities at whoever answered; "
               "recordings kept for the carrier")
LAPTOP = {"width": 1280, "height": 800}


@pytest.fixture
def utc_env(app_env: dict[str, str]) -> dict[str, str]:
    app_env["IVR_TIMEZONE"] = "UTC"
    return app_env


def seed(r: redis.Redis) -> Events:
    """Three weeks of March 2025 on two lines: calls put through and treated at the door, flags, isolations (some
    of withheld callers, whom deterrence cannot follow), two campaigns, then folded as the reports worker would."""
    ev = Events(r)
    rng = random.Random(23)
    moments = sorted(T0 + day * DAY + rng.randrange(0, DAY - 120_000) for day in range(21) for _ in range(9))
    for i, ts in enumerate(moments):
        number = "anonymous" if i % 7 == 3 else rng.choice(NUMBERS)
        line = LINES[i % 2]
        sid = f"CA{i:032d}"
        kind = i % 5
        if kind in (0, 1):
            ev.call(ts, number, line=line, sid=sid)
            ev.flag(ts + 30_000, number, sid, line=line, agent=("client:alice", "client:bob")[i % 2])
        elif kind == 2:
            treatment = "isolation" if i % 3 else "reject"
            ev.call(ts, number, line=line, sid=sid, decision="treat",
                    rule="withheld" if number == "anonymous" else "number", treatment=treatment)
            if treatment == "isolation":
                ev.add("isolation", ts + 20_000, call_sid=sid, number=number, line=line,
                       outcome="complete" if i % 2 else "abandoned", seconds="31")
        else:
            ev.call(ts, number, line=line, sid=sid)
    for day, line in ((2, LINES[0]), (9, LINES[1])):  # a caller rotating numbers, caught by the screen
        ev.add("campaign", T0 + day * DAY + DAY - 60_000, line=line, prefix="+1415555", numbers="6", minutes="10",
               first=str(T0 + day * DAY + DAY - 300_000), action="review")
    reports.fold(r)
    return ev


def expected_totals(ev: Events) -> dict[str, int]:
    """The headline counts, counted from the events the seed wrote (what each count is meant to count)."""
    kinds: Counter[str] = Counter()
    for _id, e in ev.written:
        if e["type"] == "call":
            kinds["calls"] += 1
            kinds["withheld"] += e["number"] == "anonymous"
            treated = e["decision"] == "treat"
            kinds["treated"] += treated
            kinds["blocked_attempts"] += treated and e["rule"] == "number"
        elif e["type"] == "flag":
            kinds["flags"] += 1
        elif e["type"] == "isolation" and e["outcome"] in ("complete", "abandoned"):
            kinds["isolations"] += 1
    return {name: kinds[name] for name, _label, _definition in reports.HEADLINE}


@pytest.fixture
def world(utc_env: dict[str, str], app: Any, redis_conn: redis.Redis) -> Events:
    return seed(redis_conn)



def summary(app: Any) -> dict[str, Any]:
    q = reports.Query.build(start=START, end=END, settings=reports.ReportSettings.from_env())
    return reports.summary(app.extensions["ivr"].store, q)


def page(client: Any, path: str) -> Any:
    resp = client.get(path)
    assert resp.status_code == 200, path
    return lxml_html.fromstring(resp.get_data(as_text=True))


# ---- the specs --------------------------------------------------------------------------------------------------
def layers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return spec.get("layer", [spec])


def font_sizes(node: Any) -> list[tuple[str, float]]:
    """Every font size set anywhere in a spec (marks, axes, legends, titles, config)."""
    found: list[tuple[str, float]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key.lower().endswith("fontsize") and isinstance(value, int | float):
                found.append((key, float(value)))
            found.extend(font_sizes(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(font_sizes(item))
    return found


def series_values(spec: dict[str, Any]) -> list[dict[str, Any]]:
    data = spec.get("data", {})
    if "values" in data:
        return list(data["values"])
    return list(spec["datasets"][data["name"]])


def every_spec(chart: charts.Chart) -> list[dict[str, Any]]:
    return [chart.wide] + ([chart.narrow] if chart.narrow is not None else [])


def test_every_spec_has_titled_axes_with_units_tooltips_and_readable_fonts(app: Any, world: Events) -> None:
    drawn = charts.report_charts(summary(app))
    assert list(drawn) == ["heat_flags", "trend", "categories", "numbers", "prefixes", "regions", "carriers",
                           "line_types", "heat_treated", "attestation", "reputation", "campaigns"]
    for chart in drawn.values():
        for spec in every_spec(chart):
            alt.LayerChart.from_dict(spec)  # valid Vega-Lite (Altair checks it against the schema)
            assert spec["description"], chart.key
            for layer in layers(spec):
                enc = layer["encoding"]
                for channel in ("x", "y"):
                    title, kind = enc[channel].get("title"), enc[channel]["type"]
                    assert title, f"{chart.key}: the {channel} axis has no title"
                    if kind == "quantitative":
                        assert title.endswith("(count)"), f"{chart.key}: {title!r} says no unit"
                    if kind == "temporal" or enc[channel]["field"] == "hour":
                        assert "(UTC)" in title, f"{chart.key}: {title!r} says no time zone"
                if enc.get("color", {}).get("type") == "quantitative":
                    assert enc["color"]["title"].endswith("(count)"), chart.key  # the heat maps' scale
            # exact counts on hover: every layer but a line (hovered through its points) tells the count
            for layer in layers(spec):
                mark = layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
                tips = layer["encoding"].get("tooltip") or []
                counted = "campaigns" if chart.key == "campaigns" else "calls"  # the one chart that counts no calls
                assert mark == "line" or any(t["field"] == counted for t in tips), f"{chart.key}: no count on hover"
            sizes = font_sizes(spec)
            assert sizes and min(size for _k, size in sizes) >= charts.MIN_FONT, (chart.key, sizes)
            for part in ("axis", "legend"):
                for key in ("labelFontSize", "titleFontSize"):
                    assert spec["config"][part][key] >= charts.MIN_FONT  # no Vega default left to chance


def test_two_series_get_a_legend_and_neither_is_a_sum(app: Any, world: Events) -> None:
    data = summary(app)
    drawn = charts.report_charts(data)
    labels = {s.label: s.key for s in charts.SERIES}
    for key in ("trend", "numbers", "prefixes", "regions", "carriers", "line_types"):
        spec = drawn[key].wide
        color = layers(spec)[0]["encoding"]["color"]
        assert color["field"] == "series" and color.get("legend", {}) is not None, f"{key}: two series, no legend"
        values = series_values(spec)
        assert {v["series"] for v in values} == set(labels), key
        assert not any("+" in name or "total" in name.lower() for name in labels)
        # every value drawn is the query's own flags or treated count, never flags + treated
        source = {"trend": (data["frequency"]["daily"], "day"),
                  "numbers": (data["sources"]["top_numbers"], "number"),
                  "prefixes": (data["sources"]["top_prefixes"], "prefix"),
                  "regions": (data["sources"]["dimensions"]["region"], "value"),
                  "carriers": (data["sources"]["dimensions"]["carrier"], "value"),
                  "line_types": (data["sources"]["dimensions"]["line_type"], "value")}[key]
        by_label = {str(row[source[1]]): row for row in source[0]}
        for v in values:
            row = by_label[v["day"] if key == "trend" else v["label"]]
            assert v["calls"] == row[labels[v["series"]]], (key, v)
    for key in ("heat_flags", "heat_treated"):
        assert "series" not in json.dumps(drawn[key].wide["layer"][0]["encoding"])  # one series: its scale is the key


def svg_font_sizes(svg: str) -> list[float]:
    return [float(size) for size in re.findall(r'font-size="([0-9.]+)px"', svg)]


def test_the_printable_pictures_fit_a_phone_and_paper_unscaled(app: Any, world: Events) -> None:
    for chart in charts.report_charts(summary(app)).values():
        pictures = charts.chart_svgs(chart)
        for size, limit in (("narrow", 390 - 2 * 16), ("wide", 703)):
            svg = pictures[size]
            width = float(re.search(r'<svg[^>]* width="([0-9.]+)"', svg).group(1))  # type: ignore[union-attr]
            assert width <= limit, (chart.key, size, width)
            sizes = svg_font_sizes(svg)
            assert sizes and min(sizes) >= charts.MIN_FONT, (chart.key, size, min(sizes))


# ---- the pages: tables beside the charts, and one set of counts -------------------------------------------------
def table_rows(doc: Any, key: str) -> list[list[str]]:
    table = doc.xpath(f"//details[contains(@class,'chart-table')]//table[@data-chart='{key}']")
    assert table, f"no 'show as table' for {key}"
    assert table[0].xpath("ancestor::details/summary")[0].text_content().strip() == "Show as table"
    return [[td.text_content().strip() for td in tr.xpath("td")] for tr in table[0].xpath(".//tbody/tr")]


def test_every_dashboard_chart_has_a_table_with_the_query_numbers(app: Any, world: Events, mgr: Any) -> None:
    data = summary(app)
    doc = page(mgr, f"/desk/dashboard?{RANGE}")
    boxes = doc.xpath("//div[contains(@class,'chart-box')]/@data-chart")
    assert boxes == ["heat_flags", "trend", "categories", "numbers", "prefixes", "regions", "carriers",
                     "heat_treated", "attestation", "reputation", "campaigns"]
    for key in boxes:
        spec = json.loads(doc.xpath(f"//script[@id='chart-spec-{key}']")[0].text)
        assert spec == charts.report_charts(data)[key].embed()
    freq, src = data["frequency"], data["sources"]
    for key, metric in (("heat_flags", "flags"), ("heat_treated", "treated")):
        rows = table_rows(doc, key)
        assert [row[0] for row in rows] == [f"{h:02d}" for h in range(24)]
        assert [[int(cell) for cell in row[1:]] for row in rows] == [
            [freq["heatmap"][metric][wd][h] for wd in range(7)] for h in range(24)]
        assert sum(int(c) for row in rows for c in row[1:]) == freq["totals"][metric]
    assert table_rows(doc, "trend") == [[d["day"], str(d["flags"]), str(d["treated"])] for d in freq["daily"]]
    top = [[r["number"], str(r["flags"]), str(r["treated"])] for r in src["top_numbers"]][:charts.TOP]
    assert table_rows(doc, "numbers") == top and len(top) == charts.TOP
    assert table_rows(doc, "prefixes") == [[r["prefix"], str(r["flags"]), str(r["treated"])]
                                           for r in src["top_prefixes"]][:charts.TOP]
    for key, dim in (("regions", "region"), ("carriers", "carrier")):
        assert table_rows(doc, key) == [[r["value"], str(r["flags"]), str(r["treated"])]
                                        for r in src["dimensions"][dim] if r["flags"] or r["treated"]][:charts.TOP]


def tiles(doc: Any, number_xpath: str) -> dict[str, int]:
    return {el.get("data-count"): int(el.xpath(number_xpath)[0].text_content()) for el in doc.xpath("//*[@data-count]")}


def test_dashboard_reports_page_printable_report_and_api_agree(app: Any, world: Events, mgr: Any, api: Any) -> None:
    expected = expected_totals(world)
    assert all(expected.values()), expected  # every count has something to count
    dashboard = page(mgr, f"/desk/dashboard?{RANGE}")
    shown = {
        "dashboard": tiles(dashboard, "span[@class='big-number']"),
        "reports page": tiles(page(mgr, f"/desk/reports?{RANGE}"), "span[@class='big-number']"),
        "printable report": tiles(page(mgr, f"/reports/print?{RANGE}"), "b"),
        "API summary": api.get(f"/api/reports/summary?{RANGE}").get_json()["frequency"]["totals"],
        "API frequency": api.get(f"/api/reports/frequency?{RANGE}").get_json()["frequency"]["totals"],
    }
    for where, counts in shown.items():
        assert {name: counts[name] for name in expected} == expected, where
    # the deterrence table counts isolations of callers with a caller ID only, and says so next to its number
    isolation = next(k for k in summary(app)["deterrence"]["kinds"] if k["kind"] == "isolation")
    assert 0 < isolation["treatments"] < expected["isolations"]
    scope = dashboard.xpath("//*[@id='deterrence']//p[contains(@class,'deterrence-scope')]")[0].text_content()
    assert "caller ID" in scope and f"isolations: {expected['isolations']}" in scope
    header = dashboard.xpath("//*[@id='deterrence']//thead//th")[1].text_content()
    assert "caller ID" in header


def test_printable_report_has_a_viewport_and_escapes_what_it_draws(app: Any, utc_env: dict[str, str],
                                                                 redis_conn: redis.Redis, api: Any) -> None:
    ev = Events(redis_conn)
    ev.add("call", T0, call_sid="CA1", number=NUMBERS[0], line=LINES[0], decision="treat", rule="number",
           treatment="reject", region="<script>alert(1)</script>", line_type="mobile", carrier="Carrier & Co")
    reports.fold(redis_conn)
    text = api.get(f"/reports/print?{RANGE}").get_data(as_text=True)
    doc = lxml_html.fromstring(text)
    assert doc.xpath("//meta[@name='viewport']/@content") == ["width=device-width, initial-scale=1"]
    assert "<script" not in text and "&lt;script&gt;alert(1)" in text  # drawn as a label, never run
    assert doc.xpath("//figure[@id='chart-regions']//div[contains(@class,'pic narrow')]/*[local-name()='svg']")
    assert "Carrier &amp; Co" in text


# ---- in a real browser -----------------------------------------------------------------------------------------
def no_sideways_scroll(desk: Desk, where: str) -> None:
    width, inner = desk.page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    wide = desk.page.evaluate("""() => Array.from(document.querySelectorAll('body *')).filter(el =>
        el.getBoundingClientRect().right > window.innerWidth + 0.5).slice(0, 5).map(el => el.tagName + '.' +
        el.className + ' ' + Math.round(el.getBoundingClientRect().right))""")
    assert width <= inner, f"{where} scrolls sideways ({width}px in {inner}px): {wide}"


def nothing_cut(desk: Desk, selector: str) -> None:
    """No cell of these tables is wider than its box (text cut off, or a table running past the page)."""
    cut = desk.page.evaluate("""sel => Array.from(document.querySelectorAll(sel)).filter(el =>
        el.scrollWidth > el.clientWidth + 1 || el.getBoundingClientRect().right > window.innerWidth + 0.5)
        .map(el => el.textContent.trim().slice(0, 40))""", selector)
    assert not cut, f"cut off at {desk.page.viewport_size}: {cut}"


def charts_drawn(desk: Desk) -> list[dict[str, Any]]:
    """Wait until vega-embed drew every chart box, then describe each: layout, size, and its smallest text."""
    boxes = desk.page.locator(".chart-box[data-chart]").count()
    assert boxes == 11
    desk.page.wait_for_function(f"document.querySelectorAll('.chart-box[data-drawn]').length === {boxes}")
    return list(desk.page.evaluate("""() => Array.from(document.querySelectorAll('.chart-box')).map(box => {
        const svg = box.querySelector('svg, canvas');
        const texts = Array.from(box.querySelectorAll('svg text'));
        const sizes = texts.map(t => {  // the size as drawn: the font size times the scale it is drawn at
            const m = t.getScreenCTM();
            return parseFloat(getComputedStyle(t).fontSize) * (m ? Math.hypot(m.a, m.b) : 1);
        });
        return {key: box.dataset.chart, drawn: box.dataset.drawn, has: svg ? svg.tagName.toLowerCase() : null,
                box: box.getBoundingClientRect().width, width: svg ? svg.getBoundingClientRect().width : 0,
                right: Math.max(0, ...texts.map(t => t.getBoundingClientRect().right)),
                texts: texts.length, smallest: Math.min(...sizes),
                small: texts.filter((t, i) => !(sizes[i] >= 10)).slice(0, 5).map(t => t.textContent)};
    })"""))


def test_dashboard_charts_in_a_browser_on_a_laptop_and_a_phone(app: Any, world: Events, open_desk: Any) -> None:
    make_user(app, "max", "manager")
    world.add("flag", T0 + 22 * DAY, call_sid="CA" + "9" * 32, number=NUMBERS[1], line=LINES[0], via="desk",
              agent="client:alice", reason=LONG_REASON, note="Supercalifragilisticexpialidocious-long-note-text")
    for viewport, name in ((LAPTOP, "dashboard-charts"), (PHONE, "dashboard-charts-phone")):
        desk = open_desk(viewport)
        desk.login("max")
        desk.page.goto(f"/desk/dashboard?{RANGE}")
        drawn = charts_drawn(desk)
        for chart in drawn:
            assert chart["has"] == "svg", chart
            assert chart["width"] <= chart["box"] + 0.5, f"{chart['key']} is wider than its box"
            assert chart["right"] <= viewport["width"], f"{chart['key']} has text off the screen"
            assert chart["texts"] > 0 and chart["smallest"] >= charts.MIN_FONT - 0.01, (chart["key"], chart["small"])
        heat = next(c for c in drawn if c["key"] == "heat_flags")
        assert heat["drawn"].startswith("narrow:" if viewport is PHONE else "wide:")
        trend = next(c for c in drawn if c["key"] == "trend")
        assert trend["width"] >= trend["box"] - 1, "the daily trend does not fill its card"
        no_sideways_scroll(desk, f"the dashboard at {viewport['width']}px")
        nothing_cut(desk, "#recent td, #deterrence td")
        # exact counts on hover
        desk.page.locator(".chart-box[data-chart='numbers'] path[aria-roledescription='bar']").first.hover()
        desk.page.wait_for_selector("#vg-tooltip-element.visible")
        tip = desk.page.inner_text("#vg-tooltip-element")
        assert re.search(r"Calls \(count\)\s+\d+", tip) and NUMBERS[0][:8] in tip, tip
        desk.page.mouse.move(0, 0)
        desk.page.locator("#chart-trend details.chart-table summary").click()
        assert desk.page.locator("#chart-trend table[data-chart='trend'] tbody tr").count() == 31
        desk.shot(name)
        assert not desk.errors, f"console errors (the CSP stops eval and script-made style sheets): {desk.errors}"


def test_printable_report_and_blocklist_on_a_phone(app: Any, world: Events, open_desk: Any) -> None:
    make_user(app, "max", "manager")
    app.extensions["ivr"].blocklist.block(NUMBERS[2], by="max", reason=LONG_REASON + " " + "x" * 60)
    desk = open_desk(PHONE)
    desk.login("max")
    desk.page.goto(f"/reports/print?{RANGE}")
    no_sideways_scroll(desk, "the printable report at 390px")
    nothing_cut(desk, "td")
    shown = desk.page.evaluate("""() => Array.from(document.querySelectorAll('.pic')).filter(p =>
        getComputedStyle(p).display !== 'none').map(p => p.className)""")
    assert shown and set(shown) == {"pic narrow"}
    desk.shot("print-phone")
    desk.page.emulate_media(media="print")
    printed = desk.page.evaluate("""() => Array.from(document.querySelectorAll('.pic')).filter(p =>
        getComputedStyle(p).display !== 'none').map(p => p.className)""")
    assert set(printed) == {"pic wide"}
    desk.page.emulate_media(media="screen")
    desk.page.goto("/desk/blocklist")
    no_sideways_scroll(desk, "the blocklist at 390px")
    nothing_cut(desk, "table.stacked td")
    assert LONG_REASON in desk.page.inner_text("table.stacked")
    desk.shot("blocklist-stacked-phone")
