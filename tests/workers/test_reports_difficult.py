"""The difficult-callers report: moves made on the phone land next to harassment in the reports."""

from __future__ import annotations

from typing import Any

import redis

from tests.support import callflow as cf
from tests.support.callflow import star


def test_moves_and_overflow_are_folded_per_agent_and_hour(twilio: Any, api: Any, redis_conn: redis.Redis,
                                                          run_jobs: Any) -> None:
    for key in ("1", "2"):
        _caller, agent, after = star(twilio)
        cf.press(twilio, agent, after, key)
    caller, agent, after = star(twilio, number="+14155550199")
    cf.press(twilio, agent, after, "9")  # harassment, for comparison
    waiting = cf.place_call(twilio, "+14155550166")
    cf.wait_in_queue(twilio, waiting, queue_time=10_000)
    cf.leave(twilio, waiting)  # overflow: long wait
    assert api.post("/api/reports/fold").status_code in (200, 202)
    run_jobs()
    data = api.get("/api/reports/difficult").get_json()["difficult"]
    assert data["totals"]["escalate"] == 1 and data["totals"]["warn"] == 1
    assert data["totals"]["flags"] == 1 and data["overflow"] == {"long_wait": 1}
    (row,) = data["agents"]
    assert row["agent"] == "+15550001111" and row["escalate"] == 1 and row["warn"] == 1
    assert sum(data["by_hour"]["escalate"]) == 1
    page = api.get("/reports/print")
    assert page.status_code == 200 and b"Difficult callers" in page.data
    csv = api.get("/api/reports/difficult.csv?table=agents")
    assert csv.status_code == 200 and b"+15550001111" in csv.data
