"""POST /api/blocklist/import?check_only=1 (and the allowlist's): what the import would do, nothing written."""

from __future__ import annotations

from typing import Any

import redis

from tests.support.constants import API_TOKEN
from tests.support.store import snapshot

CSV = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "text/csv"}


def test_check_only_import_over_the_api(client: Any, app: Any, redis_conn: redis.Redis) -> None:
    app.extensions["ivr"].blocklist.block("+14155550123", by="max", reason="pranks")
    text = "number,reason\n+14155550123,pranks\n+14155550124,threats\n+14155550125,threats\n"
    before = snapshot(redis_conn)
    resp = client.post("/api/blocklist/import?check_only=1", headers=CSV, data=text)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["check_only"] is True and body["written"] is False
    assert (body["added"], body["changed"], body["unchanged"]) == (2, 0, 1)
    assert body["detail"] == "3 row(s) checked only, nothing written: would add 2, change 0, leave 1 unchanged"
    assert snapshot(redis_conn) == before
    bad = client.post("/api/blocklist/import?check_only=1", headers=CSV, data=text + "nonsense,x\n")
    assert bad.status_code == 400 and bad.get_json()["error"] == "bad_rows"
    assert "1 bad row (line 5) would stop the import" in bad.get_json()["detail"]
    allow = client.post("/api/allowlist/import?check_only=true", headers=CSV, data="number\n+14155550199\n")
    assert allow.status_code == 200 and allow.get_json()["added"] == 1 and allow.get_json()["check_only"] is True
    assert snapshot(redis_conn) == before
    done = client.post("/api/blocklist/import", headers=CSV, data=text)
    assert done.get_json()["check_only"] is False and done.get_json()["added"] == 2
