"""The signals at the door in the reports: calls by STIR/SHAKEN attestation class and by add-on
reputation tier, each split into treated at the door and put through, and the campaigns the screen detected.

Events are written into the stream as the screen writes them (tests/support/events.py: XADD with explicit,
time-ordered IDs), with the signal fields the screen writes: `attest`, `rep`, `rep_by` and `campaign` on calls, and
`campaign` events. Older calls carry only StirVerstat; they must fold as before and still land in a class.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from blocklist import keys
from blocklist.keys import Agg as rk
from ivr.cli.report import group
from tests.support.events import DAY, LINES, NOW, T0, Events
from workers import reports
from workers.reports import charts

RANGE = ("2025-03-01", "2025-04-10")
PROVIDERS = ("Nomorobo Spam Score", "Icehook Scout", "Marchex Clean Call")
# StirVerstat as Twilio sends it -> the class the reports must count it under (written out here, not computed)
STIR = {"TN-Validation-Passed-A": "A", "TN-Validation-Passed-B": "B", "TN-Validation-Passed-C-Diverted": "C",
        "TN-Validation-Failed-B": "failed", "TN-Validation-Failed": "failed", "No-TN-Validation": "unsigned",
        "NULL": "unsigned", "": "unsigned", "Passed-ish garbage": "unsigned"}
OLD_REPORTS = ("frequency", "sources", "offenders", "deterrence", "agents", "withheld", "difficult")


def settings(retention: int = 90) -> reports.ReportSettings:
    return reports.ReportSettings(retention_days=retention, timezone="UTC")


def query(line: str = "", start: str = RANGE[0], end: str = RANGE[1]) -> reports.Query:
    return reports.Query.build(start=start, end=end, line=line or None, settings=settings(), now_ms=NOW)


def tier(score: int | None) -> str:
    if score is None:
        return "none"
    return "high" if score >= 90 else "medium" if score >= 60 else "low"


def make_calls(ev: Events, rng: random.Random, n: int, *, new_fields: bool = True, days: int = 30) -> None:
    """Calls on two lines, treated or put through, with every attestation value and reputation shape; with
    `new_fields` off they are what the screen wrote before the caller signals (StirVerstat only)."""
    numbers = [f"+1415555{rng.randrange(10000):04d}" for _ in range(40)] + ["anonymous"]
    for i, ts in enumerate(sorted(T0 + rng.randrange(days * DAY) for _ in range(n))):
        stir = rng.choice(list(STIR))
        treated = rng.random() < 0.35
        fields: dict[str, Any] = {"StirVerstat": stir} if stir else {}
        if new_fields:
            fields["attest"] = STIR[stir]
            roll = rng.random()
            if roll < 0.55:
                fields.update(rep=str(rng.choice([0, 1, 59, 60, 75, 89, 90, 99, 100, rng.randrange(101)])),
                              rep_by=rng.choice(PROVIDERS))
            elif roll < 0.6:
                fields.update(rep=rng.choice(["abc", "101", "-5", "9999", " "]), rep_by="Broken|Add-on")
            if rng.random() < 0.1:
                fields["campaign"] = "+1415555"
        ev.call(ts, rng.choice(numbers), line=rng.choice(LINES), sid=f"CA{i:06d}",
                **({"decision": "treat", "rule": rng.choice(["number", "reputation", "attestation", "campaign"]),
                    "treatment": rng.choice(["reject", "isolation"])} if treated else {}), **fields)


def expected(ev: Events, line: str = "") -> dict[str, Any]:
    """The signal counts of the written calls, counted from the events (what each count is meant to count)."""
    attest: Counter[tuple[str, str]] = Counter()
    tiers: Counter[tuple[str, str, str]] = Counter()
    campaign_calls: Counter[str] = Counter()
    for _id, e in ev.written:
        if e["type"] != "call" or (line and e["line"] != line):
            continue
        done = "stopped" if e["decision"] == "treat" else "allowed"
        attest[(e["attest"] if "attest" in e else STIR[e.get("StirVerstat", "")], done)] += 1
        rep = e.get("rep", "")
        score = int(rep) if rep.isdigit() and int(rep) <= 100 else None
        tiers[(tier(score), e["rep_by"] if score is not None else "-", done)] += 1
        if e.get("campaign"):
            campaign_calls[done] += 1
    return {"attest": attest, "tiers": tiers, "campaign_calls": campaign_calls}


def check_signals(data: dict[str, Any], want: dict[str, Any], totals: dict[str, int]) -> None:
    for row in data["attestation"]:
        assert (row["stopped"], row["allowed"]) == (want["attest"][(row["class"], "stopped")],
                                                    want["attest"][(row["class"], "allowed")]), row
        assert row["calls"] == row["stopped"] + row["allowed"]
    assert [row["class"] for row in data["attestation"]] == ["A", "B", "C", "failed", "unsigned"]
    assert [row["tier"] for row in data["reputation"]] == ["high", "medium", "low", "none"]
    for row in data["reputation"]:
        for done in ("stopped", "allowed"):
            assert row[done] == sum(n for (t, _p, d), n in want["tiers"].items() if t == row["tier"] and d == done)
    providers = {(row["tier"], row["provider"], done): row[done] for row in data["providers"]
                 for done in ("stopped", "allowed") if row[done]}
    assert providers == {k: n for k, n in want["tiers"].items() if n}
    # one definition: every call is in exactly one class and one tier; "stopped" is the headline's "treated"
    for rows in (data["attestation"], data["reputation"]):
        assert sum(row["calls"] for row in rows) == totals["calls"] == data["totals"]["calls"]
        assert sum(row["stopped"] for row in rows) == totals["treated"] == data["totals"]["stopped"]
    assert data["totals"]["campaign_calls_stopped"] == want["campaign_calls"]["stopped"]
    assert data["totals"]["campaign_calls_allowed"] == want["campaign_calls"]["allowed"]


# ---- counting ---------------------------------------------------------------------------------------------------
def test_calls_are_counted_by_class_tier_and_add_on_treated_or_put_through(redis_conn: redis.Redis) -> None:
    ev = Events(redis_conn)
    rng = random.Random(19)
    make_calls(ev, rng, 500, new_fields=False)
    make_calls(ev, rng, 1500)
    reports.fold(redis_conn, batch=333, settings=settings())
    assert all(p in {row["provider"] for row in reports.signals(redis_conn, query())["providers"]} for p in PROVIDERS)
    for line in ("", *LINES):
        data = reports.signals(redis_conn, query(line))
        check_signals(data, expected(ev, line), reports.frequency(redis_conn, query(line))["totals"])
    # the per-line table adds up to the lines' own reports
    rows = {row["line"]: row for row in reports.signals(redis_conn, query())["lines"]}
    assert set(rows) == set(LINES)
    for line in LINES:
        one = reports.signals(redis_conn, query(line))
        assert rows[line]["calls"] == one["totals"]["calls"]
        assert [rows[line][f"attest_{r['class']}"] for r in one["attestation"]] == [r["calls"] for r in one["attestation"]]
        assert [rows[line][f"rep_{r['tier']}"] for r in one["reputation"]] == [r["calls"] for r in one["reputation"]]


def test_calls_recorded_before_the_new_fields_fold_as_before(redis_conn: redis.Redis) -> None:
    """The same calls without and with the new fields: every report that existed comes out the same, and the old
    calls get their attestation class from StirVerstat and the tier 'none'."""
    old = Events(redis_conn)
    make_calls(old, random.Random(29), 800, new_fields=False)
    assert not any("attest" in e or "rep" in e for _i, e in old.written)
    reports.fold(redis_conn, settings=settings())
    before = {name: reports.report(redis_conn, name, query())[name] for name in OLD_REPORTS}
    signals_old = reports.signals(redis_conn, query())
    check_signals(signals_old, expected(old), before["frequency"]["totals"])
    assert [r["calls"] for r in signals_old["reputation"]] == [0, 0, 0, before["frequency"]["totals"]["calls"]]
    assert signals_old["attestation"][0]["calls"] == sum(1 for _i, e in old.written
                                                         if e.get("StirVerstat") == "TN-Validation-Passed-A")

    redis_conn.flushdb()
    new = Events(redis_conn)
    for _id, e in old.written:  # the same calls, now with the screen's new fields
        extra = {"attest": STIR[e.get("StirVerstat", "")], "rep": "95", "rep_by": PROVIDERS[0], "campaign": "+1415555"}
        new.add(e["type"], int(e["ts"]), **{k: v for k, v in e.items() if k not in ("type", "ts")}, **extra)
    reports.fold(redis_conn, settings=settings())
    after = {name: reports.report(redis_conn, name, query())[name] for name in OLD_REPORTS}
    assert after == before
    signals_new = reports.signals(redis_conn, query())
    assert signals_new["attestation"] == signals_old["attestation"]
    assert [r["calls"] for r in signals_new["reputation"]] == [before["frequency"]["totals"]["calls"], 0, 0, 0]


def campaign(ev: Events, ts: int, line: str, prefix: str, numbers: int = 6, action: str = "review",
             first: int | None = None) -> None:
    ev.add("campaign", ts, line=line, prefix=prefix, numbers=str(numbers), minutes="10",
           first=str(ts - 240_000 if first is None else first), action=action, call_sid=f"CA-camp-{ts}")


def test_campaigns_are_counted_per_line_and_day_and_listed(redis_conn: redis.Redis) -> None:
    ev = Events(redis_conn)
    campaign(ev, T0 + 3_600_000, LINES[0], "+1415555")
    campaign(ev, T0 + 7_200_000, LINES[1], "+1415555", numbers=7, action="reject")
    campaign(ev, T0 + 2 * DAY, LINES[0], "+1212555", numbers=11)
    campaign(ev, T0 + 2 * DAY + 5, LINES[0], "+1|2125", numbers=6, action="drop tables", first=T0 + 9 * DAY)
    ev.call(T0 + 2 * DAY + 10, "+12125550101", line=LINES[0], campaign="+1212555", attest="A")
    reports.fold(redis_conn, settings=settings())

    data = reports.signals(redis_conn, query())
    daily = {row["day"]: row for row in data["daily"]}
    assert (daily["2025-03-03"]["campaigns"], daily["2025-03-05"]["campaigns"]) == (2, 2)
    assert sum(row["campaigns"] for row in data["daily"]) == data["totals"]["campaigns"] == 4
    assert daily["2025-03-03"]["review"] == 1 and daily["2025-03-03"]["reject"] == 1
    assert daily["2025-03-05"]["other"] == 1  # an action the screen does not have is counted, as 'other'
    assert data["campaigns"] == [
        {"detected": "2025-03-03T01:00:00+00:00", "line": LINES[0], "prefix": "+1415555",
         "first_seen": "2025-03-03T00:56:00+00:00", "numbers": 6, "minutes": 10, "action": "review"},
        {"detected": "2025-03-03T02:00:00+00:00", "line": LINES[1], "prefix": "+1415555",
         "first_seen": "2025-03-03T01:56:00+00:00", "numbers": 7, "minutes": 10, "action": "reject"},
        {"detected": "2025-03-05T00:00:00+00:00", "line": LINES[0], "prefix": "+1212555",
         "first_seen": "2025-03-04T23:56:00+00:00", "numbers": 11, "minutes": 10, "action": "review"},
        # a '|' cannot split the stored row; a first call after the detection is the detection's own time
        {"detected": "2025-03-05T00:00:00+00:00", "line": LINES[0], "prefix": "+1/2125",
         "first_seen": "2025-03-05T00:00:00+00:00", "numbers": 6, "minutes": 10, "action": "other"},
    ]
    assert data["totals"]["campaign_calls_allowed"] == 1
    for line, n in ((LINES[0], 3), (LINES[1], 1)):
        one = reports.signals(redis_conn, query(line))
        assert one["totals"]["campaigns"] == n and {c["line"] for c in one["campaigns"]} == {line}
        assert reports.frequency(redis_conn, query(line))["totals"]["campaigns"] == n
    assert {row["line"]: row["campaigns"] for row in data["lines"]} == {LINES[0]: 3, LINES[1]: 1}
    # campaigns are kept long-term, like flags (they outlive the screened calls' retention window)
    assert [e["type"] for _i, e in redis_conn.xrange(rk.KEPT)] == ["campaign"] * 4
    on_day = reports.signals(redis_conn, query(start="2025-03-04", end="2025-03-04"))
    assert on_day["campaigns"] == [] and on_day["totals"]["campaigns"] == 0


# ---- rebuild, retention, erasure ------------------------------------------------------------------------------
def signal_buckets(r: redis.Redis) -> dict[str, Any]:
    """Every signal count and campaign row in the aggregates (test-only SCAN)."""
    out: dict[str, Any] = {}
    for key in r.scan_iter(match="ivr:agg:*", count=1000):
        if ":tmp:" in key:
            continue
        if key.startswith(f"{rk.AGG}:{rk.CAMPAIGNS}:"):
            out[key] = r.zrange(key, 0, -1, withscores=True)
        elif key.startswith(f"{rk.AGG}:{rk.COUNTS}:"):
            fields = {k: v for k, v in r.hgetall(key).items()
                      if k.split(":")[0] in ("attest", "rep", "campaign", "campaign_call", "ev") and v != "0"}
            if fields:
                out[key] = fields
    return out


def test_rebuild_recomputes_the_signals_from_the_raw_events(redis_conn: redis.Redis) -> None:
    ev = Events(redis_conn)
    make_calls(ev, random.Random(31), 600)
    campaign(ev, T0 + 31 * DAY, LINES[0], "+1415555")
    reports.fold(redis_conn, batch=97, settings=settings())
    folded = signal_buckets(redis_conn)
    assert any(":cp:" in key for key in folded) and any("attest:" in str(v) for v in folded.values())
    data = reports.signals(redis_conn, query())
    for key in [k for k in folded if ":cp:" in k or ":c:" in k]:  # the aggregates lost: a rebuild must restore them
        redis_conn.delete(key)
    assert reports.signals(redis_conn, query())["totals"]["campaigns"] == 0
    reports.rebuild(redis_conn, settings=settings())
    assert signal_buckets(redis_conn) == folded
    assert reports.signals(redis_conn, query()) == data


def test_retention_freezes_the_signals_and_erasure_takes_a_number_out(redis_conn: redis.Redis) -> None:
    ev = Events(redis_conn)
    caller = "+14155550123"
    old, recent = T0, T0 + 100 * DAY
    ev.call(old, caller, sid="CA-old", attest="failed", rep="95", rep_by=PROVIDERS[0], decision="treat",
            rule="reputation", treatment="reject")
    ev.call(old + 1000, "+14155550124", sid="CA-old2", attest="A")
    campaign(ev, old + 2000, LINES[0], "+1415555")
    ev.call(recent, caller, sid="CA-new", attest="failed", rep="95", rep_by=PROVIDERS[0], decision="treat",
            rule="reputation", treatment="reject")
    ev.call(recent + 1000, "+14155550125", sid="CA-new2", attest="B", rep="10", rep_by=PROVIDERS[1])
    rs = settings(retention=90)
    reports.apply_retention(redis_conn, settings=rs, now_ms=recent + DAY)
    assert [e["call_sid"] for _i, e in redis_conn.xrange(keys.EVENTS)] == ["CA-new", "CA-new2"]
    q_old = reports.Query.build(start="2025-03-03", end="2025-03-03", settings=rs, now_ms=recent)
    q_new = reports.Query.build(start="2025-06-11", end="2025-06-11", settings=rs, now_ms=recent)
    frozen = reports.signals(redis_conn, q_old)
    assert [r["calls"] for r in frozen["attestation"]] == [1, 0, 0, 1, 0]
    assert frozen["totals"]["campaigns"] == 1 and len(frozen["campaigns"]) == 1
    reports.rebuild(redis_conn, settings=rs)  # frozen days stay as they were, the campaign row too
    assert reports.signals(redis_conn, q_old) == frozen
    assert [r["calls"] for r in reports.signals(redis_conn, q_new)["attestation"]] == [0, 1, 0, 1, 0]

    reports.erase_number(redis_conn, caller, by="dpo", reason="request 7", settings=rs)
    # Retained days lose the number's calls (rebuilt from the events that are left). Frozen days keep their
    # counts, as every other count does: its screened calls expired with the retention window, and a count per
    # class or tier names nobody.
    recent_after = reports.signals(redis_conn, q_new)
    assert [r["calls"] for r in recent_after["attestation"]] == [0, 1, 0, 0, 0]
    assert [(r["tier"], r["provider"]) for r in recent_after["providers"]] == [("low", PROVIDERS[1])]
    assert recent_after["totals"]["stopped"] == 0
    assert reports.signals(redis_conn, q_old) == frozen
    for q in (q_old, q_new):  # still one definition: the classes add up to the calls the other reports count
        totals = reports.frequency(redis_conn, q)["totals"]
        data = reports.signals(redis_conn, q)
        assert sum(r["calls"] for r in data["attestation"]) == sum(r["calls"] for r in data["reputation"]) \
            == totals["calls"]


# ---- `ivr report signals` -----------------------------------------------------------------------------------------
def test_ivr_report_signals_prints_writes_csv_and_json(redis_url: str, redis_conn: redis.Redis, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("IVR_TIMEZONE", "UTC")
    ev = Events(redis_conn)
    make_calls(ev, random.Random(37), 200)
    campaign(ev, T0 + 5 * DAY, LINES[1], "+1415555", action="=HYPERLINK(1)")
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(group, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    run("fold")
    span = ("--from", RANGE[0], "--to", RANGE[1])
    text = run("signals", *span)
    assert "signals: attestation" in text and "signals: campaigns" in text and "+1415555" in text
    data = json.loads(run("signals", *span, "--json"))
    assert data["signals"] == reports.signals(redis_conn, query())
    run("signals", *span, "--out", str(tmp_path / "sig"))
    files = {p.name for p in (tmp_path / "sig").iterdir()}
    assert files == {f"signals-{t}.csv" for t in reports.tables("signals", data["signals"])} | {"signals.json"}
    rows = list(csv.DictReader(io.StringIO((tmp_path / "sig" / "signals-attestation.csv").read_text())))
    assert [(r["class"], int(r["calls"])) for r in rows] == [(r["class"], r["calls"])
                                                             for r in data["signals"]["attestation"]]
    listed = list(csv.DictReader(io.StringIO((tmp_path / "sig" / "signals-campaigns.csv").read_text())))
    assert [(r["line"], r["prefix"], r["action"]) for r in listed] == [(LINES[1], "+1415555", "other")]
    # every report's file set (summary --out) has the signals too, and the printable report shows them
    run("summary", *span, "--out", str(tmp_path / "all"))
    assert (tmp_path / "all" / "signals-reputation.csv").exists()
    html = (tmp_path / "all" / "report.html").read_text()
    assert "Signals at the door" in html and 'id="chart-attestation"' in html and 'id="chart-campaigns"' in html
    assert reports.table_title("signals", "campaigns") == "campaigns detected"
    assert reports.REPORT_TITLES["signals"] == "Signals at the door"


# ---- the charts ---------------------------------------------------------------------------------------------------
def lightness(hex_color: str) -> float:
    r, g, b = (int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_signal_charts_draw_the_report_numbers_stacked_by_outcome(redis_conn: redis.Redis) -> None:
    ev = Events(redis_conn)
    make_calls(ev, random.Random(41), 400)
    campaign(ev, T0 + DAY, LINES[0], "+1415555")
    campaign(ev, T0 + DAY + 60_000, LINES[1], "+1415555", action="reject")
    campaign(ev, T0 + 4 * DAY, LINES[0], "+1212555")
    reports.fold(redis_conn, settings=settings())
    data = reports.summary(redis_conn, query())
    drawn = charts.report_charts(data)
    sig = data["signals"]
    for key, rows, label in (("attestation", sig["attestation"], "meaning"), ("reputation", sig["reputation"], "band")):
        chart = drawn[key]
        assert chart.rows == [{"label": r[label], "stopped": r["stopped"], "allowed": r["allowed"]} for r in rows]
        values = chart.wide["data"]["values"]
        by = {(v["label"], v["series"]): v for v in values}
        for r in rows:
            stopped, allowed = by[(r[label], "Treated at the door")], by[(r[label], "Put through")]
            # each part is one count, stacked: treated from the axis, put through after it
            assert (stopped["calls"], stopped["start"], stopped["end"]) == (r["stopped"], 0, r["stopped"])
            assert (allowed["calls"], allowed["start"], allowed["end"]) == (r["allowed"], r["stopped"], r["calls"])
        color = chart.wide["layer"][0]["encoding"]["color"]
        assert color["legend"] is not None and color["scale"]["domain"] == ["Treated at the door", "Put through"]
        fills = color["scale"]["range"]
        assert abs(lightness(fills[0]) - lightness(fills[1])) > 0.25  # apart in black and white
        assert chart.wide["layer"][0]["mark"]["stroke"] == charts.INK  # and outlined
    camp = drawn["campaigns"]
    assert [r["campaigns"] for r in camp.rows] == [d["campaigns"] for d in sig["daily"]]
    assert sum(v["campaigns"] for v in camp.wide["data"]["values"]) == sig["totals"]["campaigns"] == 3
    assert {v["action"] for v in camp.wide["data"]["values"]} == {"review", "reject"}
    legend = camp.wide["layer"][0]["encoding"]["color"]
    assert legend["title"] == "Action taken" and legend["scale"]["domain"] == ["review", "reject"]
    fills = legend["scale"]["range"]
    assert abs(lightness(fills[0]) - lightness(fills[1])) > 0.25
    for chart in (drawn["attestation"], drawn["reputation"], camp):
        pictures = charts.chart_svgs(chart)
        assert set(pictures) == {"narrow", "wide"} and all("<svg" in svg for svg in pictures.values())


def test_signal_charts_say_nothing_to_show_without_calls(redis_conn: redis.Redis) -> None:
    Events(redis_conn).flag(T0, "+14155550123", "CA1")
    reports.fold(redis_conn, settings=settings())
    drawn = charts.report_charts(reports.summary(redis_conn, query()))
    assert drawn["attestation"].empty and drawn["reputation"].empty and drawn["campaigns"].empty
