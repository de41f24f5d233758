"""Inline SVG charts drawn in Python (no JS, no chart library), and the printable HTML report.

Every label is escaped here; the results are Markup so the autoescaping template embeds them as is.
"""

from __future__ import annotations

from html import escape
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
PALETTE = {"flags": "#b2182b", "treated": "#2166ac", "calls": "#4d4d4d", "withheld": "#762a83", "isolations": "#1b7837"}
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'


def _mix(color: str, share: float) -> str:
    """`color` at `share` (0..1) of its strength over white."""
    share = max(0.0, min(1.0, share))
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(255 - (255 - c) * share):02x}" for c in (r, g, b))


def _svg(width: int, height: int, body: list[str], label: str) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'style="max-width:100%;height:auto" role="img" '
        f'aria-label="{escape(label)}" {FONT} font-size="11">' + "".join(body) + "</svg>"
    )


def heatmap_svg(matrix: list[list[int]], title: str, color: str = "#b2182b") -> Markup:
    """Hour-of-day x weekday grid; darker = more; each cell's count in its tooltip and, if any, in the cell."""
    cell_w, cell_h, left, top = 26, 22, 40, 34
    peak = max((v for row in matrix for v in row), default=0)
    body = [f'<text x="0" y="14" font-size="13" font-weight="600">{escape(title)}</text>']
    for h in range(24):
        body.append(f'<text x="{left + h * cell_w + cell_w / 2}" y="{top - 4}" text-anchor="middle" '
                    f'fill="#555">{h:02d}</text>')
    for wd, row in enumerate(matrix[:7]):
        y = top + wd * cell_h
        body.append(f'<text x="{left - 6}" y="{y + cell_h / 2 + 4}" text-anchor="end" fill="#333">{WEEKDAYS[wd]}</text>')
        for h, value in enumerate(row[:24]):
            fill = _mix(color, 0.08 + 0.92 * value / peak) if value and peak else "#f3f3f3"
            x = left + h * cell_w
            body.append(f'<rect x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" fill="{fill}">'
                        f"<title>{WEEKDAYS[wd]} {h:02d}:00-{h:02d}:59: {value}</title></rect>")
            if value:
                ink = "#fff" if peak and value / peak > 0.55 else "#222"
                body.append(f'<text x="{x + (cell_w - 2) / 2}" y="{y + cell_h / 2 + 3}" text-anchor="middle" '
                            f'font-size="9" fill="{ink}">{value}</text>')
    return _svg(left + 24 * cell_w + 4, top + 7 * cell_h + 4, body, title)


def bars_svg(rows: list[tuple[str, int]], title: str, color: str = "#2166ac", label_width: int = 150) -> Markup:
    """Horizontal bars, largest first, value at the end of each bar."""
    bar_h, top, area = 18, 24, 360
    peak = max((v for _l, v in rows), default=0)
    body = [f'<text x="0" y="14" font-size="13" font-weight="600">{escape(title)}</text>']
    if not rows:
        body.append(f'<text x="0" y="{top + 12}" fill="#777">no data in this period</text>')
    for i, (label, value) in enumerate(rows):
        y = top + i * bar_h
        width = area * value / peak if peak else 0
        text = label if len(label) <= 24 else label[:23] + "…"
        body.append(f'<text x="{label_width - 6}" y="{y + 12}" text-anchor="end" fill="#333">'
                    f"<title>{escape(label)}</title>{escape(text)}</text>")
        body.append(f'<rect x="{label_width}" y="{y + 2}" width="{width:.1f}" height="{bar_h - 5}" fill="{color}"/>')
        body.append(f'<text x="{label_width + width + 4:.1f}" y="{y + 12}" fill="#333">{value}</text>')
    return _svg(label_width + area + 50, top + max(1, len(rows)) * bar_h + 6, body, title)


def trend_svg(days: list[str], series: dict[str, list[int]], title: str) -> Markup:
    """Stacked daily bars (one stack per day), a y scale, and a legend."""
    left, top, height, bottom = 36, 34, 150, 30
    width = max(300, min(900, 12 * len(days)))
    step = width / max(1, len(days))
    totals = [sum(values[i] for values in series.values()) for i in range(len(days))]
    peak = max(totals, default=0) or 1
    body = [f'<text x="0" y="14" font-size="13" font-weight="600">{escape(title)}</text>']
    x_legend = left
    for name in series:
        color = PALETTE.get(name, "#888")
        body.append(f'<rect x="{x_legend}" y="20" width="10" height="10" fill="{color}"/>'
                    f'<text x="{x_legend + 14}" y="29" fill="#333">{escape(name)}</text>')
        x_legend += 16 + 7 * len(name) + 14
    for frac in (0, 0.5, 1):
        y = top + height - height * frac
        body.append(f'<line x1="{left}" x2="{left + width}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                    f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#777">{round(peak * frac)}</text>')
    label_every = max(1, len(days) // 10)
    for i, day in enumerate(days):
        x = left + i * step
        base: float = top + height
        for name, values in series.items():
            h = height * values[i] / peak
            if h > 0:
                base -= h
                body.append(f'<rect x="{x + 0.5:.1f}" y="{base:.1f}" width="{max(1.0, step - 1.5):.1f}" height="{h:.1f}" '
                            f'fill="{PALETTE.get(name, "#888")}"><title>{escape(day)} {escape(name)}: {values[i]}'
                            "</title></rect>")
        if i % label_every == 0:
            body.append(f'<text x="{x + step / 2:.1f}" y="{top + height + 14}" text-anchor="middle" fill="#555" '
                        f'font-size="9">{escape(day[5:])}</text>')
    return _svg(left + int(width) + 10, top + height + bottom, body, title)


def report_charts(data: dict[str, Any]) -> dict[str, Markup]:
    """Every chart of the printable report, from a `summary()` dict."""
    freq, src = data["frequency"], data["sources"]
    days = [row["day"] for row in freq["daily"]]
    dims = src["dimensions"]

    def top(rows: list[dict[str, Any]], key: str, n: int = 10) -> list[tuple[str, int]]:
        return [(str(row[key]), int(row["total"] if "total" in row else row["flags"] + row["treated"]))
                for row in rows[:n] if (row.get("total") or row.get("flags", 0) + row.get("treated", 0))]

    return {
        "heat_flags": heatmap_svg(freq["heatmap"]["flags"], "Flagged harassment calls by hour and weekday",
                                  PALETTE["flags"]),
        "heat_treated": heatmap_svg(freq["heatmap"]["treated"], "Calls treated at the door by hour and weekday",
                                    PALETTE["treated"]),
        "trend": trend_svg(days, {"flags": [row["flags"] for row in freq["daily"]],
                                  "treated": [row["treated"] for row in freq["daily"]]}, "Daily trend"),
        "numbers": bars_svg(top(src["top_numbers"], "number"), "Top numbers (flags + treated)", PALETTE["flags"]),
        "prefixes": bars_svg(top(src["top_prefixes"], "prefix"), "Top prefixes (flags + treated)", PALETTE["flags"]),
        "regions": bars_svg(top(dims.get("region", []), "value"), "Regions (flags + treated)", PALETTE["treated"]),
        "line_types": bars_svg(top(dims.get("line_type", []), "value"), "Line types (flags + treated)",
                               PALETTE["treated"]),
        "carriers": bars_svg(top(dims.get("carrier", []), "value"), "Carriers (flags + treated)", PALETTE["treated"]),
    }


def render_html(data: dict[str, Any]) -> str:
    """The printable report (templates/reports/print.html) for a `summary()` dict."""
    env = Environment(loader=PackageLoader("ivr", "templates"), autoescape=select_autoescape(["html"]))
    return env.get_template("reports/print.html").render(data=data, charts=report_charts(data))
