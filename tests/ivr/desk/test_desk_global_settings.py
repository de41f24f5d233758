"""Managers set the sanction ladder and the breather on the desk; flags and agents follow, audited."""

from __future__ import annotations

from typing import Any

import redis

from blocklist import exposure, keys
from tests.support import callflow as cf
from tests.support.constants import HARASSER
from tests.support.desk import login, make_user, post_form


def test_manager_sets_ladder_and_breather_and_the_line_follows(app: Any, client: Any, twilio: Any,
                                                               redis_conn: redis.Redis) -> None:
    make_user(app, "maria", role="manager")
    login(client, "maria")
    resp = post_form(client, "/desk/settings", {"line": "*", "sanction_ladder": "1h,permanent",
                                                "breather_seconds": "7"})
    assert resp.status_code in (200, 302), resp.get_data(as_text=True)[:500]
    assert redis_conn.hget(keys.SETTINGS, "sanction_ladder") == "3600,p"
    page = client.get("/desk/settings").get_data(as_text=True)
    assert "1h, permanent" in page
    audit = [f for _id, f in redis_conn.xrange(keys.AUDIT) if f.get("action") == "setting"]
    assert {a["reason"] for a in audit} >= {"sanction_ladder=1h, permanent", "breather_seconds=7"}
    # a flag by key now blocks for an hour, and the agent's breather is 7 s
    caller = cf.place_call(twilio, HARASSER)
    agent = cf.agent_connects(twilio)
    cf.bridge(twilio, agent, caller)
    after = cf.bridge_ends(twilio, agent, caller)
    menu = cf.press(twilio, agent, after, "9")
    # the managers' 7 s, times the weight of the flag's abuse category (blocklist/exposure.py)
    category = redis_conn.hget(keys.call(caller.sid), "category")
    assert menu.first("Pause").get("length") == str(exposure.breather_seconds(7, category))
    ttl = redis_conn.pttl(keys.block("*", HARASSER))
    assert 3_500_000 < ttl <= 3_600_000
    # bad values are refused and change nothing
    bad = post_form(client, "/desk/settings", {"line": "*", "sanction_ladder": "soon", "breather_seconds": "7"})
    assert bad.status_code == 400
    assert redis_conn.hget(keys.SETTINGS, "sanction_ladder") == "3600,p"
