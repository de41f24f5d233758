"""The printable HTML report: every report of one period on one page, its charts as SVG, no script.

The report jobs write it as report.html and the web app serves it at /reports/print, so it is built here, below
the web app, from its own template (workers/reports/templates/print.html).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from blocklist.clock import human_time
from workers.reports.charts import chart_svgs, report_charts
from workers.reports.queries import headline


@cache
def _templates() -> Environment:
    return Environment(loader=PackageLoader("workers.reports", "templates"), autoescape=select_autoescape(["html"]))


def render_html(data: dict[str, Any]) -> str:
    """The printable report for a `summary()` dict."""
    charts = report_charts(data)
    # vl-convert's SVG escapes every label it draws (Vega's SVG writer), so it is embedded as it is.
    pictures = {key: {size: Markup(svg) for size, svg in chart_svgs(chart).items()} for key, chart in charts.items()}
    zone = _zone(data["meta"].get("timezone", "UTC"))
    return _templates().get_template("print.html").render(data=data, charts=charts, pictures=pictures,
                                                          headline=headline(data), when=_when(zone),
                                                          column_time=_when(zone, zone_in_heading=True))


def _zone(name: str) -> tzinfo:
    """The report's zone (IVR_TIMEZONE, checked when the settings were read); UTC for a name this machine lacks."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _when(zone: tzinfo, zone_in_heading: bool = False) -> Callable[[Any], str]:
    """The report's ISO times (kept in its JSON and CSV) as people read them, in the report's zone: '5 Dec 2026,
    14:01 SAST' (blocklist.clock.human_time); zone_in_heading: to the second and without the zone, for a column
    whose heading names the zone once (the withheld log, matched against the carrier's bill)."""

    def when(iso: Any) -> str:
        if not iso:
            return ""
        ms = int(datetime.fromisoformat(str(iso)).timestamp() * 1000)
        return human_time(ms, zone, seconds=zone_in_heading, zone_name=not zone_in_heading)

    return when
