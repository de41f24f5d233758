"""The reports' charts as Vega-Lite specs (written with Altair), and as SVG for the printable report (vl-convert).

One definition of every chart serves both outputs: the desk draws these specs in the browser with vega-embed,
and the printable report (a web route and the daily/weekly report job alike) embeds them as SVG rendered here.
That is why this module sits in workers/ and holds no HTML: the job that writes report.html has no web app.

Rules every chart keeps (tests/ivr/desk/test_charts.py checks them):
- each series is one thing (flags, or calls treated at the door), never a sum of two; the signal charts stack
  two such parts (treated at the door, put through), and a bar's length is then the calls of its class or tier;
- axis and legend titles say the unit; a legend wherever there is more than one series;
- every text at least MIN_FONT px as drawn: the desk draws at the box's own width instead of scaling a
  picture, and the printable report's SVG comes in a phone and a paper width, each shown unscaled;
- exact counts on hover (tooltips), as labels where they fit, and in `rows` for the "show as table" view;
- readable in black and white: the two series differ in lightness, outline and line dash, not only in hue.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import altair as alt
import vl_convert

from workers.reports.call_signals import CAMPAIGN_ACTIONS
from workers.reports.common import WEEKDAYS

MIN_FONT = 10
VEGA_LITE = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])  # the version Altair writes, for vl-convert
NARROW_WIDTH = 340  # the printable report on a phone: 390 px less the page's margins, never scaled down
WIDE_WIDTH = 680  # ... on a laptop and on A4 paper (186 mm of text width is 703 CSS px)
NARROW_BELOW = 560  # boxes narrower than this get a turned layout (the heat maps), on the desk and on paper
TOP = 10  # bars per source chart, and rows in the table under it
HOURS = [f"{h:02d}" for h in range(24)]
COUNT = "(count)"  # the unit of every quantity drawn: calls
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Liberation Sans', Arial, sans-serif"
INK = "#1d2230"


@dataclass(frozen=True)
class Series:
    """One thing counted (a field of the report rows), with how it is drawn."""

    key: str
    label: str
    color: str
    dash: tuple[int, int]
    shape: str


# The two series: a dark and a light fill, so they stay apart printed in grey; bars also get an outline and
# lines a dash and a point shape of their own.
SERIES = (Series("flags", "Flagged by agents", "#8c1d18", (1, 0), "circle"),
          Series("treated", "Treated at the door", "#6a9bd1", (6, 3), "square"))
HEAT = {"flags": ("#fbeeee", "#67000d"), "treated": ("#eef4fb", "#08306b")}  # light to dark: grey in print
CONFIG: dict[str, Any] = {
    "font": FONT,
    "axis": {"labelFontSize": 11, "titleFontSize": 12, "titleFontWeight": 600, "labelColor": INK,
             "titleColor": INK, "gridColor": "#e4e6eb", "domainColor": "#8a93a3", "tickColor": "#8a93a3"},
    "legend": {"labelFontSize": 11, "titleFontSize": 11, "titleFontWeight": 600, "labelColor": INK,
               "titleColor": INK, "orient": "top", "direction": "horizontal", "labelLimit": 240,
               "symbolSize": 120, "gradientLength": 180, "titleLimit": 320, "columnPadding": 16},
    "text": {"fontSize": 11},
    "view": {"stroke": None},
}


@dataclass(frozen=True)
class Chart:
    """One chart: its Vega-Lite spec (`wide`, and a turned layout for narrow boxes where the wide one cannot fit)
    and the table of exactly the numbers it draws (`columns` are (key, heading) pairs of `rows`)."""

    key: str
    title: str
    description: str
    columns: tuple[tuple[str, str], ...]
    rows: list[dict[str, Any]]
    wide: dict[str, Any]
    narrow: dict[str, Any] | None = None
    note: str = ""

    @property
    def empty(self) -> bool:
        """Nothing to draw: pages say so in words instead of showing empty axes."""
        return not self.rows

    def spec(self, width: int) -> dict[str, Any]:
        """The spec drawn `width` px wide in total (axes and legend included): the narrow layout below NARROW_BELOW."""
        base = self.narrow if self.narrow is not None and width < NARROW_BELOW else self.wide
        out = copy.deepcopy(base)
        out["width"] = width
        return out

    def embed(self) -> dict[str, Any]:
        """What the desk's script needs to draw this chart at any width (static/desk/charts.js picks as spec() does)."""
        return {"wide": self.wide, "narrow": self.narrow, "narrow_below": NARROW_BELOW}


def _count_axis(peak: int, along: str = "width", **kw: Any) -> alt.Axis:
    """An axis of whole counts up to `peak`: at most one tick per whole number, so no label repeats.

    Vega left tickMinStep unused and put ticks at 0.5 (drawn 0, 1, 1, 2, 2 as whole numbers); a tick count of at
    most `peak` (and one per 40 px of the axis' `along` side, Vega-Lite's default) keeps them whole."""
    count = alt.ExprRef(expr=f"min(ceil({along}/40), {max(1, int(peak))})")
    return alt.Axis(format="d", tickMinStep=1, tickCount=count, **kw)


def _finish(chart: alt.LayerChart, description: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The chart as a plain Vega-Lite dict with the shared look and its rows; its width is set where it is drawn.

    The rows go in after Altair checked the spec: checking each row against the schema would cost more than the
    rest of the dashboard together, and they are plain numbers and strings built here."""
    spec: dict[str, Any] = chart.properties(description=description, data=alt.NamedData(name="rows")).to_dict(
        validate=False)
    spec["data"] = {"values": records}
    spec["config"] = copy.deepcopy(CONFIG)
    spec["autosize"] = {"type": "fit-x", "contains": "padding"}
    spec["background"] = "white"
    spec.pop("width", None)
    return spec


def _series_scale(field: str) -> dict[str, Any]:
    """A scale giving each series its `field` (color, dash or shape) in every chart and legend alike."""
    values = [getattr(s, field) for s in SERIES]
    return {"domain": [s.label for s in SERIES], "range": [list(v) if isinstance(v, tuple) else v for v in values]}


def heatmap(key: str, matrix: list[list[int]], *, metric: str, title: str, what: str, timezone: str) -> Chart:
    """Hour of day x weekday, darker = more, each non-empty cell labelled with its count."""
    records: list[dict[str, Any]] = [{"weekday": WEEKDAYS[wd], "hour": HOURS[h], "calls": int(matrix[wd][h])}
                                     for wd in range(7) for h in range(24)]
    peak = max((r["calls"] for r in records), default=0)
    light, dark = HEAT[metric]
    hour_title, day_title, unit_title = f"Hour of day ({timezone})", "Weekday", f"{what} {COUNT}"
    tooltip = [alt.Tooltip("weekday:O", title="Weekday"), alt.Tooltip("hour:O", title=f"Hour ({timezone})"),
               alt.Tooltip("calls:Q", title=f"{what} {COUNT}")]
    color = alt.Color("calls:Q", title=unit_title, scale=alt.Scale(domain=[0, max(1, peak)], range=[light, dark]),
                      legend=alt.Legend(format="d", tickMinStep=1))
    ink = alt.condition(f"datum.calls > {peak / 2}", alt.value("white"), alt.value(INK))

    def layout(turned: bool) -> dict[str, Any]:
        hour_axis = alt.Axis(labelAngle=0, labelOverlap=False)
        hours = ("hour:O", hour_title, HOURS, hour_axis)
        days = ("weekday:O", day_title, list(WEEKDAYS), alt.Axis(labelAngle=0, orient="top" if turned else "left"))
        across, down = (days, hours) if turned else (hours, days)
        x = alt.X(across[0], title=across[1], sort=across[2], axis=across[3])
        y = alt.Y(down[0], title=down[1], sort=down[2], axis=down[3])
        base = alt.Chart()
        cells = base.mark_rect(stroke="white", strokeWidth=1).encode(x=x, y=y, color=color, tooltip=tooltip)
        labels = base.mark_text(fontSize=10).transform_filter("datum.calls > 0").encode(
            x=x, y=y, text=alt.Text("calls:Q", format="d"), color=ink, tooltip=tooltip)
        height = 24 * 18 if turned else 7 * 26
        return _finish(alt.layer(cells, labels).properties(height=height), f"{title}. {_peak_text(records, what)}",
                       records)

    return Chart(key=key, title=title, description=f"{what} by weekday and hour of day ({timezone}).",
                 columns=(("hour", "Hour"), *((d, d) for d in WEEKDAYS)),
                 rows=[{"hour": h, **{WEEKDAYS[wd]: int(matrix[wd][i]) for wd in range(7)}}
                       for i, h in enumerate(HOURS)],
                 wide=layout(False), narrow=layout(True))


def _peak_text(records: list[dict[str, Any]], what: str) -> str:
    top = max(records, key=lambda r: r["calls"], default=None)
    if not top or not top["calls"]:
        return f"No {what.lower()} in this period."
    return f"Most: {top['calls']} on {top['weekday']} at {top['hour']}:00."


def trend(daily: list[dict[str, Any]], *, timezone: str) -> Chart:
    """Flags and treated calls per day: two lines (solid and dashed, round and square points)."""
    records: list[dict[str, Any]] = [{"day": row["day"], "series": s.label, "calls": int(row[s.key])}
                                     for row in daily for s in SERIES]
    base = alt.Chart()
    x = alt.X("day:T", timeUnit="utcyearmonthdate", title=f"Day ({timezone})",
              axis=alt.Axis(format="%d %b", labelAngle=0, labelOverlap=True, labelSeparation=6))
    peak = max((r["calls"] for r in records), default=0)
    y = alt.Y("calls:Q", title=f"Calls per day {COUNT}", axis=_count_axis(peak, "height"),
              scale=alt.Scale(domainMin=0, nice=True))
    legend = alt.Legend(title=None, symbolStrokeWidth=2)
    color = alt.Color("series:N", scale=alt.Scale(**_series_scale("color")), legend=legend)
    dash = alt.StrokeDash("series:N", scale=alt.Scale(**_series_scale("dash")), legend=legend)
    shape = alt.Shape("series:N", scale=alt.Scale(**_series_scale("shape")), legend=legend)
    tooltip = [alt.Tooltip("day:T", timeUnit="utcyearmonthdate", title="Day", format="%a %d %b %Y"),
               alt.Tooltip("series:N", title="Series"), alt.Tooltip("calls:Q", title=f"Calls {COUNT}")]
    lines = base.mark_line(strokeWidth=2).encode(x=x, y=y, color=color, strokeDash=dash)
    points = base.mark_point(filled=True, size=36 if len(daily) <= 62 else 12, opacity=1).encode(
        x=x, y=y, color=color, shape=shape, tooltip=tooltip)
    flags, treated = (sum(int(row[k]) for row in daily) for k in ("flags", "treated"))
    description = f"Daily trend: {flags} flagged and {treated} treated calls over {len(daily)} day(s)."
    return Chart(key="trend", title="Daily trend", description=description,
                 columns=(("day", "Day"), *((s.key, s.label) for s in SERIES)),
                 rows=[{"day": row["day"], **{s.key: int(row[s.key]) for s in SERIES}} for row in daily],
                 wide=_finish(alt.layer(lines, points).properties(height=240), description, records))


def bars(key: str, rows: list[dict[str, Any]], *, label: str, heading: str, title: str, note: str = "") -> Chart:
    """Top sources as grouped horizontal bars: per source one bar of flags and one of treated calls, counts at
    their ends. `rows` come ranked by the query; the first TOP with anything in them are drawn."""
    kept: list[dict[str, Any]] = [{"label": str(r[label]), "flags": int(r["flags"]), "treated": int(r["treated"])}
                                  for r in rows if int(r["flags"]) or int(r["treated"])][:TOP]
    records: list[dict[str, Any]] = [{"label": r["label"], "series": s.label, "calls": r[s.key]}
                                     for r in kept for s in SERIES]
    peak = max((r["calls"] for r in records), default=0)
    base = alt.Chart()
    order = [r["label"] for r in kept]
    y = alt.Y("label:N", title=heading, sort=order, axis=alt.Axis(labelLimit=130, labelFontSize=11))
    offset = alt.YOffset("series:N", sort=[s.label for s in SERIES])
    top = max(1, round(peak * 1.18 + 0.5))
    x = alt.X("calls:Q", title=f"Calls in the period {COUNT}", axis=_count_axis(top),
              scale=alt.Scale(domain=[0, top], nice=False))
    # one legend entry a line: a row of two would run past the right edge of a phone-size chart
    color = alt.Color("series:N", scale=alt.Scale(**_series_scale("color")), legend=alt.Legend(title=None, columns=1))
    tooltip = [alt.Tooltip("label:N", title=heading), alt.Tooltip("series:N", title="Series"),
               alt.Tooltip("calls:Q", title=f"Calls {COUNT}")]
    bar = base.mark_bar(stroke=INK, strokeWidth=0.6).encode(x=x, y=y, yOffset=offset, color=color, tooltip=tooltip)
    text = base.mark_text(align="left", baseline="middle", dx=3, fontSize=10, color=INK).encode(
        x=x, y=y, yOffset=offset, text=alt.Text("calls:Q", format="d"), tooltip=tooltip)
    description = f"{title}: " + "; ".join(f"{r['label']} {r['flags']} flagged, {r['treated']} treated"
                                            for r in kept[:3]) + ("…" if len(kept) > 3 else "")
    spec = _finish(alt.layer(bar, text).properties(height=alt.Step(13)), description, records)
    return Chart(key=key, title=title, description=description,
                 columns=(("label", heading), *((s.key, s.label) for s in SERIES)),
                 rows=kept, wide=spec, note=note)


# What the door did, as the signal charts stack it: the calls it treated first (from the axis, so their lengths
# compare between bars), in the light fill "treated at the door" has in every chart; the calls it put through dark.
OUTCOME_SERIES = (Series("stopped", "Treated at the door", "#6a9bd1", (6, 3), "square"),
                  Series("allowed", "Put through", "#3d4a5c", (1, 0), "circle"))
# Campaign actions, each a fill of its own lightness (the legend tells them apart printed in grey too).
ACTION_FILLS = {"review": "#9ecae1", "reject": "#67000d", "isolation": "#e6a157", "linefault": "#2b3a55",
                "hangup": "#c7c7c7", "allow": "#f2f0e6", "other": "#7b7b7b"}


def stacked(key: str, rows: list[dict[str, Any]], *, heading: str, title: str, note: str = "") -> Chart:
    """Calls per category as horizontal bars stacked by what the door did (`rows`: label, stopped, allowed, in
    the order drawn). Each part is one thing, labelled with its count where it is wide enough."""
    kept: list[dict[str, Any]] = [{"label": str(r["label"]), **{s.key: int(r[s.key]) for s in OUTCOME_SERIES}}
                                  for r in rows]
    if not any(r[s.key] for r in kept for s in OUTCOME_SERIES):
        kept = []
    peak = max((sum(r[s.key] for s in OUTCOME_SERIES) for r in kept), default=0)
    records: list[dict[str, Any]] = []
    for r in kept:
        start = 0
        for s in OUTCOME_SERIES:
            records.append({"label": r["label"], "series": s.label, "calls": r[s.key], "start": start,
                            "end": start + r[s.key]})
            start += r[s.key]
    base = alt.Chart()
    # room between the labels and the axis title: the printable report's SVG is laid out with vl-convert's font
    # and shown in the reader's, which can be wider ("verification failed" ran into the title on a phone)
    y = alt.Y("label:N", title=heading, sort=[r["label"] for r in kept],
              axis=alt.Axis(labelLimit=130, labelFontSize=11, titlePadding=18))
    x = alt.X("start:Q", title=f"Calls in the period {COUNT}",
              axis=_count_axis(peak, labelOverlap=True, labelSeparation=6),
              scale=alt.Scale(domain=[0, max(1, peak)], nice=True))
    labels = [s.label for s in OUTCOME_SERIES]
    color = alt.Color("series:N", scale=alt.Scale(domain=labels, range=[s.color for s in OUTCOME_SERIES]),
                      sort=labels, legend=alt.Legend(title=None, columns=1))
    tooltip = [alt.Tooltip("label:N", title=heading), alt.Tooltip("series:N", title="Series"),
               alt.Tooltip("calls:Q", title=f"Calls {COUNT}")]
    bar = base.mark_bar(stroke=INK, strokeWidth=0.6).transform_filter("datum.calls > 0").encode(
        x=x, x2="end:Q", y=y, color=color, tooltip=tooltip)
    # a count inside its part, right-aligned at its end, where the part as drawn is wide enough for its digits
    ink = alt.condition(f"datum.series == '{OUTCOME_SERIES[1].label}'", alt.value("white"), alt.value(INK))
    fits = alt.condition("scale('x', datum.calls) - scale('x', 0) >= 6 + 7 * length(toString(datum.calls))",
                         alt.value(1), alt.value(0))
    text = base.mark_text(align="right", baseline="middle", dx=-3, fontSize=10).transform_filter(
        "datum.calls > 0").encode(
        x=alt.X("end:Q", title=f"Calls in the period {COUNT}"), y=y, text=alt.Text("calls:Q", format="d"),
        color=ink, opacity=fits, tooltip=tooltip)
    description = f"{title}: " + "; ".join(
        f"{r['label']} {r['stopped']} treated, {r['allowed']} put through" for r in kept if r["stopped"] or r["allowed"])
    spec = _finish(alt.layer(bar, text).properties(height=alt.Step(24)), description, records)
    return Chart(key=key, title=title, description=description,
                 columns=(("label", heading), *((s.key, s.label) for s in OUTCOME_SERIES)),
                 rows=kept, wide=spec, note=note)


def campaigns_chart(daily: list[dict[str, Any]], *, timezone: str, actions: tuple[str, ...]) -> Chart:
    """Campaigns detected per day, stacked by the action their lines take (`daily`: day, campaigns, and a count
    per action in `actions`)."""
    used = [a for a in actions if any(int(row.get(a, 0)) for row in daily)]
    kept = daily if used else []
    # Every day of the period along the axis: a day without a campaign is an empty record (drawn invisible), since
    # an explicit time domain next to a time unit comes out empty under the desk's CSP-safe expression interpreter.
    records: list[dict[str, Any]] = [{"day": row["day"], "action": a, "campaigns": int(row.get(a, 0))}
                                     for row in kept for a in used if int(row.get(a, 0))]
    records += [{"day": row["day"], "action": used[0], "campaigns": 0} for row in kept if not int(row["campaigns"])]
    peak = max((int(row["campaigns"]) for row in kept), default=0)
    x = alt.X("day:T", timeUnit="utcyearmonthdate", title=f"Day ({timezone})",
              axis=alt.Axis(format="%d %b", labelAngle=0, labelOverlap=True, labelSeparation=6))
    y = alt.Y("campaigns:Q", title=f"Campaigns per day {COUNT}", stack="zero",
              axis=_count_axis(peak, "height"), scale=alt.Scale(domainMin=0, nice=True))
    color = alt.Color("action:N", title="Action taken", sort=used,
                      scale=alt.Scale(domain=used, range=[ACTION_FILLS[a] for a in used]),
                      legend=alt.Legend(columns=3))
    tooltip = [alt.Tooltip("day:T", timeUnit="utcyearmonthdate", title="Day", format="%a %d %b %Y"),
               alt.Tooltip("action:N", title="Action taken"), alt.Tooltip("campaigns:Q", title=f"Campaigns {COUNT}")]
    shown = alt.condition("datum.campaigns > 0", alt.value(1), alt.value(0))
    bar = alt.Chart().mark_bar(stroke=INK, strokeWidth=0.6).encode(x=x, y=y, color=color, opacity=shown,
                                                                 tooltip=tooltip)
    total = sum(int(row["campaigns"]) for row in kept)
    description = f"Campaigns detected: {total} over {len(kept)} day(s)" + (
        f", most on {max(kept, key=lambda row: int(row['campaigns']))['day']}." if total else ".")
    return Chart(key="campaigns", title="Campaigns detected per day", description=description,
                 columns=(("day", "Day"), ("campaigns", "Campaigns"), *((a, a.capitalize()) for a in used)),
                 rows=[{"day": row["day"], "campaigns": int(row["campaigns"]), **{a: int(row.get(a, 0)) for a in used}}
                       for row in kept],
                 wide=_finish(alt.layer(bar).properties(height=200), description, records))


# Flags by abuse category: the one series in the flags' dark fill (what "Flagged by agents" has in every chart)
CATEGORY_SERIES = Series("flags", "Flagged by agents", "#8c1d18", (1, 0), "circle")


def categories_chart(rows: list[dict[str, Any]]) -> Chart:
    """Flagged calls per abuse category (frequency()["by_category"]): one bar each, in the taxonomy's order, the
    count at its end. The table under it also gives the moves (escalations, warnings, callbacks) per category."""
    kept: list[dict[str, Any]] = [{"label": str(r["words"]), "flags": int(r["flags"]), "escalate": int(r["escalate"]),
                                   "warn": int(r["warn"]), "callback": int(r["callback"])} for r in rows]
    if not any(r["flags"] or r["escalate"] or r["warn"] or r["callback"] for r in kept):
        kept = []
    records: list[dict[str, Any]] = [{"label": r["label"], "series": CATEGORY_SERIES.label, "calls": r["flags"]}
                                     for r in kept]
    peak = max((r["calls"] for r in records), default=0)
    top = max(1, round(peak * 1.18 + 0.5))
    heading = "Kind of abuse"
    y = alt.Y("label:N", title=heading, sort=[r["label"] for r in kept],
              axis=alt.Axis(labelLimit=130, labelFontSize=11, titlePadding=12))
    x = alt.X("calls:Q", title=f"Flagged calls {COUNT}", axis=_count_axis(top),
              scale=alt.Scale(domain=[0, top], nice=False))
    tooltip = [alt.Tooltip("label:N", title=heading), alt.Tooltip("calls:Q", title=f"Flagged calls {COUNT}")]
    base = alt.Chart()
    bar = base.mark_bar(stroke=INK, strokeWidth=0.6, color=CATEGORY_SERIES.color).encode(x=x, y=y, tooltip=tooltip)
    text = base.mark_text(align="left", baseline="middle", dx=3, fontSize=10, color=INK).encode(
        x=x, y=y, text=alt.Text("calls:Q", format="d"), tooltip=tooltip)
    ranked = sorted((r for r in kept if r["flags"]), key=lambda r: -r["flags"])
    description = "Flagged calls by kind of abuse: " + ("; ".join(f"{r['label']} {r['flags']}" for r in ranked[:3])
                                                        + ("…" if len(ranked) > 3 else "") if ranked else "none.")
    spec = _finish(alt.layer(bar, text).properties(height=alt.Step(20)), description, records)
    return Chart(key="categories", title="Flags by kind of abuse", description=description,
                 columns=(("label", heading), ("flags", "Flagged by agents"), ("escalate", "Escalated"),
                          ("warn", "Warned (polite limit)"), ("callback", "Callbacks agreed")),
                 rows=kept, wide=spec,
                 note="Flags older than the categories count as the reason they gave, else as other; moves made with "
                      "the phone keys give no category and count as other.")


def report_charts(data: dict[str, Any]) -> dict[str, Chart]:
    """Every chart of the dashboard and the printable report, from a `summary()` dict, in page order."""
    freq, src, sig = data["frequency"], data["sources"], data["signals"]
    tz = data["meta"]["timezone"]
    dims = src["dimensions"]
    charts = [
        heatmap("heat_flags", freq["heatmap"]["flags"], metric="flags", what="Flagged calls", timezone=tz,
                title="Flagged harassment calls by hour and weekday"),
        trend(freq["daily"], timezone=tz),
        categories_chart(freq.get("by_category", [])),
        bars("numbers", src["top_numbers"], label="number", heading="Number", title="Top numbers",
             note=f"At most {TOP}: the numbers flagged or treated most often, of {src['numbers_total']} in this "
                  "period."),
        bars("prefixes", src["top_prefixes"], label="prefix", heading="Prefix", title="Top prefixes"),
        bars("regions", dims.get("region", []), label="value", heading="Region", title="Regions"),
        bars("carriers", dims.get("carrier", []), label="value", heading="Carrier", title="Carriers"),
        bars("line_types", dims.get("line_type", []), label="value", heading="Line type", title="Line types"),
        heatmap("heat_treated", freq["heatmap"]["treated"], metric="treated", what="Treated calls", timezone=tz,
                title="Calls treated at the door by hour and weekday"),
        stacked("attestation", [{"label": r["meaning"], **r} for r in sig["attestation"]],
                heading="Caller-ID attestation", title="Calls by caller-ID attestation (STIR/SHAKEN)"),
        stacked("reputation", [{"label": r["band"], **r} for r in sig["reputation"]],
                heading="Reputation score", title="Calls by reputation tier (add-on score)",
                note="Tiers are fixed bands of the add-on's 0-100 score; each line's own thresholds may differ."),
        campaigns_chart(sig["daily"], timezone=tz, actions=CAMPAIGN_ACTIONS),
    ]
    return {chart.key: chart for chart in charts}


def to_svg(spec: dict[str, Any]) -> str:
    """One spec as standalone SVG text (vl-convert: the same Vega the desk runs, without a browser).

    Without an ARIA label on every mark: the page gives each picture one label and the same numbers as a table,
    and the labels were 40% of the printable report's size."""
    quiet = {**spec, "config": {**spec.get("config", {}), "aria": False}}
    return str(vl_convert.vegalite_to_svg(quiet, vl_version=VEGA_LITE))


def chart_svgs(chart: Chart) -> dict[str, str]:
    """The printable report's two pictures of a chart: for a phone (NARROW_WIDTH) and for a laptop or paper."""
    if chart.empty:
        return {}
    return {"narrow": to_svg(chart.spec(NARROW_WIDTH)), "wide": to_svg(chart.spec(WIDE_WIDTH))}
