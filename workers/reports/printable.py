"""The printable HTML report: every report of one period on one page, its charts as SVG, no script.

The report jobs write it as report.html and the web app serves it at /reports/print, so it is built here, below
the web app, from its own template (workers/reports/templates/print.html).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

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
    return _templates().get_template("print.html").render(data=data, charts=charts, pictures=pictures,
                                                          headline=headline(data))
