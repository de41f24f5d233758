"""Reports by abuse category: the fold counts flags and moves per category (older records as what their reason
meant, else "other"), and the API, the CSV tables, the dashboard chart and the printable report show the same
counts."""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Any

import pytest
import redis
from lxml import html as lxml_html

from blocklist import abuse
from tests.support.desk import logged_in
from tests.support.events import DAY, LINES, T0, Events
from workers import reports
from workers.reports import charts

RANGE = "from=2025-03-01&to=2025-03-31"
CALLER = "+14155550123"
OTHER = "+14155550999"
OLD_REASONS = {"threat": "threats", "prank": "nonsense"}  # the desk's reasons before categories that were renamed


@pytest.fixture
def world(app: Any, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Events:
    """Flags and moves of March 2025: some with a category, some older than categories, folded."""
    monkeypatch.setenv("IVR_TIMEZONE", "UTC")
    ev = Events(redis_conn)
    flags = [("threats", ""), ("threats", "he said he would come round"), ("", "threat"), ("", "prank"),
             ("", "he laughed"), ("", ""), ("sexual", "obscene"), ("robocall", "")]
    for i, (category, reason) in enumerate(flags):
        fields = {"category": category} if category else {}  # older events have no category field at all
        ev.add("flag", T0 + i * DAY, call_sid=f"CA{i}", number=CALLER if i % 2 else OTHER, line=LINES[i % 2],
               via="desk", agent="client:alice", reason=reason, note="", blocked="1", until="", step="1", **fields)
    moves = [("warn", "hate"), ("warn", ""), ("warn", "hate"), ("escalate", "threats"), ("escalate", ""),
             ("callback", "repeat_complaint")]
    for i, (kind, category) in enumerate(moves):
        fields = {"category": category} if category else {}
        ev.add(kind, T0 + i * DAY + 5000, call_sid=f"CB{i}", number=CALLER, line=LINES[0], agent="client:bob",
               note="", via="key", **fields)
    reports.fold(redis_conn)
    return ev


def expected(ev: Events) -> dict[str, Counter[str]]:
    """Per counted thing (flags, escalate, warn, callback), the events per category, counted from what was
    written: a category when the event has one, else the legacy reason's, else other."""
    out: dict[str, Counter[str]] = {"flags": Counter(), "escalate": Counter(), "warn": Counter(), "callback": Counter()}
    for _id, e in ev.written:
        if e["type"] == "flag":
            named = e.get("category") or OLD_REASONS.get(e["reason"], e["reason"])
            out["flags"][named if named in abuse.KEYS else "other"] += 1
        elif e["type"] in ("escalate", "warn", "callback"):
            out[e["type"]][e.get("category") or "other"] += 1
    return out


def rows_by_key(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["category"]: row for row in rows}


def test_the_fold_counts_flags_and_moves_per_category(app: Any, world: Events, redis_conn: redis.Redis) -> None:
    q = reports.Query.build(start="2025-03-01", end="2025-03-31", settings=reports.ReportSettings.from_env())
    rows = reports.frequency(redis_conn, q)["by_category"]
    assert [row["category"] for row in rows] == list(abuse.KEYS)  # every category, in the taxonomy's order
    assert all(row["words"] == abuse.WORDS[row["category"]] for row in rows)
    want = expected(world)
    for what, counts in want.items():
        assert {row["category"]: row[what] for row in rows if row[what]} == dict(counts), what
    by_key = rows_by_key(rows)
    # the legacy reasons: "threat" counts as threats, "prank" as nonsense, free text and nothing as other
    assert (by_key["threats"]["flags"], by_key["nonsense"]["flags"], by_key["other"]["flags"]) == (3, 1, 2)
    assert by_key["sexual"]["flags"] == 1  # a category wins over the reason it came with
    assert (by_key["hate"]["warn"], by_key["other"]["warn"], by_key["threats"]["escalate"]) == (2, 1, 1)
    # a rebuild from the stream counts the same
    reports.rebuild(redis_conn)
    assert reports.frequency(redis_conn, q)["by_category"] == rows


def test_api_csv_dashboard_and_printable_report_agree(app: Any, world: Events, api: Any) -> None:
    rows = api.get(f"/api/reports/frequency?{RANGE}").get_json()["frequency"]["by_category"]
    want = expected(world)
    assert {row["category"]: row["flags"] for row in rows if row["flags"]} == dict(want["flags"])
    text = api.get(f"/api/reports/frequency.csv?{RANGE}&table=categories").get_data(as_text=True)
    table = list(csv.DictReader(io.StringIO(text)))
    assert [r["kind of abuse"] for r in table] == [c.words for c in abuse.CATEGORIES]
    assert {r["category"]: int(r["flags"]) for r in table if int(r["flags"])} == dict(want["flags"])
    assert {r["category"]: int(r["warnings"]) for r in table if int(r["warnings"])} == dict(want["warn"])

    drawn = charts.categories_chart(rows)
    assert {v["label"]: v["calls"] for v in drawn.wide["data"]["values"]} == \
        {abuse.WORDS[row["category"]]: row["flags"] for row in rows}
    desk = logged_in(app)
    doc = lxml_html.fromstring(desk.get(f"/desk/dashboard?{RANGE}").get_data(as_text=True))
    assert doc.xpath("//div[contains(@class,'chart-box')][@data-chart='categories']")
    cells = [[td.text_content().strip() for td in tr.xpath("td")]
             for tr in doc.xpath("//table[@data-chart='categories']//tbody/tr")]
    assert cells == [[abuse.WORDS[r["category"]], str(r["flags"]), str(r["escalate"]), str(r["warn"]),
                      str(r["callback"])] for r in rows]
    printed = lxml_html.fromstring(api.get(f"/reports/print?{RANGE}").get_data(as_text=True))
    assert printed.xpath("//figure[@id='chart-categories']//div[contains(@class,'pic narrow')]/*[local-name()='svg']")
    assert [[td.text_content().strip() for td in tr.xpath("td")]
            for tr in printed.xpath("//table[@data-chart='categories']//tbody/tr")] == cells
    links = desk.get(f"/desk/reports?{RANGE}").get_data(as_text=True)
    assert "flags and moves by kind of abuse" in links


def test_no_flag_or_move_draws_nothing(app: Any, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_TIMEZONE", "UTC")
    Events(redis_conn).call(T0, CALLER, sid="CA1")
    reports.fold(redis_conn)
    q = reports.Query.build(start="2025-03-01", end="2025-03-31", settings=reports.ReportSettings.from_env())
    rows = reports.frequency(redis_conn, q)["by_category"]
    assert all(not row["flags"] for row in rows)
    assert charts.categories_chart(rows).empty
