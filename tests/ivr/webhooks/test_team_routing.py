"""A contact restriction that sends a number's calls to one named team (IVR_TEAMS), played as Twilio plays it: the
caller waits in the team's own queue; a member whose leg asks for the next caller dials that queue while the caller
waits (briefly: the caller may be taken by another member), anyone else keeps dialling the agents' queue; once the
caller is bridged or leaves, the members take the agents' callers again. A failed poll keeps the caller with the team,
and a team taken out of IVR_TEAMS sends its callers to the agents rather than nowhere."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from blocklist import keys
from blocklist.parse import teams as parse_teams
from ivr.cli.restrict import group as restrict_group
from tests.support import callflow as cf
from tests.support.constants import AGENT, AGENT2, HARASSER
from tests.support.store import snapshot

MEMBER = "client:anna"
TEAMS = f"billing={MEMBER},+15550009999; complaints=+15550008888"


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    return {**app_env, "IVR_TEAMS": TEAMS, "IVR_AGENTS": f"{AGENT},{AGENT2},{MEMBER},+15550009999"}


def review_date(app: Any) -> str:
    return (datetime.now(app.config["SETTINGS"].tz()) + timedelta(days=30)).date().isoformat()


def restrict_to_billing(app: Any, route: str = "billing") -> Any:
    return app.extensions["ivr"].blocklist.restrict(HARASSER, kind="route", route=route, review=review_date(app),
                                                    reason="only the billing team handles this dispute", by="mgr")


def dialled(leg: cf.AgentLeg) -> tuple[str, str, str]:
    """(queue, Dial timeout, Queue url) of an agent leg's TwiML."""
    assert leg.dial is not None, leg.reply.text
    queue = leg.dial.find("Queue")
    return queue.text, leg.dial.get("timeout"), queue.get("url")


def test_the_teams_setting_reads_and_refuses_with_what_to_write() -> None:
    assert parse_teams(TEAMS) == {"billing": (MEMBER, "+15550009999"), "complaints": ("+15550008888",)}
    assert parse_teams("") == {}
    for bad, words in (("billing", "write NAME=MEMBER"), ("Billing Team=+15550001111", "lower-case"),
                       ("billing=", "has no members"), ("a=+1555; a=+1556", "twice"),
                       ("supervisors=+15550001111", "already")):
        with pytest.raises(ValueError, match=words):
            parse_teams(bad)


def test_only_the_team_takes_the_caller_and_then_takes_everyone_s_callers_again(
        app: Any, twilio: Any, redis_conn: redis.Redis) -> None:
    made = restrict_to_billing(app)
    assert made.route == "team:billing" and made.words() == "only to team billing"
    caller = cf.place_call(twilio, HARASSER)
    assert caller.enqueue is not None and caller.enqueue.text == "team-billing"
    assert "q=team%3Abilling" in caller.enqueue.get("action") or "q=team:billing" in caller.enqueue.get("action")
    assert redis_conn.zscore(keys.team_waiting("billing"), caller.sid) is not None

    other = cf.agent_connects(twilio, AGENT)  # not in the team: the agents' queue, as always
    assert dialled(other)[0] == "agents"
    member = cf.agent_connects(twilio, MEMBER)
    queue, timeout, url = dialled(member)
    assert queue == "team-billing" and int(timeout) <= 5 and "team=billing" in url

    cf.bridge(twilio, member, caller)  # bridged: the list no longer holds it
    assert redis_conn.zcard(keys.team_waiting("billing")) == 0
    assert dialled(cf.agent_connects(twilio, "+15550009999"))[0] == "agents"  # the other member: back to everyone's
    assert dialled(cf.agent_connects(twilio, MEMBER))[0] == "agents"


def test_a_caller_who_gives_up_or_hangs_up_leaves_the_team_s_list(app: Any, twilio: Any,
                                                                    redis_conn: redis.Redis) -> None:
    restrict_to_billing(app, route="team:billing")
    for result in ("hangup", "leave"):
        caller = cf.place_call(twilio, HARASSER)
        assert redis_conn.zcard(keys.team_waiting("billing")) == 1
        cf.leave(twilio, caller, result)
        assert redis_conn.zcard(keys.team_waiting("billing")) == 0
        assert dialled(cf.agent_connects(twilio, MEMBER))[0] == "agents"


def test_a_failed_poll_keeps_the_caller_with_the_team(app: Any, twilio: Any, redis_conn: redis.Redis) -> None:
    restrict_to_billing(app)
    caller = cf.place_call(twilio, HARASSER)
    again = cf.leave(twilio, caller, "error")  # Twilio could not fetch the wait URL: queued once more
    assert again.root.find("Enqueue").text == "team-billing"
    assert redis_conn.zcard(keys.team_waiting("billing")) == 1
    fallback = twilio.post("/voice/fallback", {"CallSid": caller.sid, "ErrorCode": "11200",
                                               "ErrorUrl": caller.enqueue.get("action")})
    assert fallback.root.find("Enqueue").text == "team-billing"  # the fallback URL keeps it with the team too


def test_a_stale_entry_never_holds_a_member(app: Any, twilio: Any, redis_conn: redis.Redis) -> None:
    """A caller whose exit Twilio never reported: after the longest wait the members stop looking for it."""
    longest = app.config["SETTINGS"].max_wait_seconds
    old = int(datetime.now().timestamp() * 1000) - (longest + 120) * 1000
    redis_conn.zadd(keys.team_waiting("billing"), {"CA" + "e" * 32: old})
    assert dialled(cf.agent_connects(twilio, MEMBER))[0] == "agents"
    assert redis_conn.zcard(keys.team_waiting("billing")) == 0


def test_an_unknown_team_is_refused_and_changes_nothing(app: Any, api: Any, redis_conn: redis.Redis) -> None:
    before = snapshot(redis_conn)
    with pytest.raises(ValueError, match="route 'sales' unknown.*supervisor.*billing, complaints"):
        restrict_to_billing(app, route="sales")
    resp = api.post("/api/restrictions", json={"number": HARASSER, "kind": "route", "route": "team:sales",
                                               "review": review_date(app), "reason": "x"})
    assert resp.status_code == 400 and "billing, complaints" in resp.get_json()["detail"]
    assert snapshot(redis_conn) == before
    made = api.post("/api/restrictions", json={"number": HARASSER, "kind": "route", "route": "complaints",
                                               "review": review_date(app), "reason": "repeat complaints"})
    assert made.status_code == 201, made.get_json()
    body = made.get_json()["restriction"]
    assert (body["route"], body["words"]) == ("team:complaints", "only to team complaints")


def test_the_command_line_routes_to_a_team(app: Any, redis_url: str, app_env: dict[str, str]) -> None:
    env = {"REDIS_URL": redis_url, "IVR_TEAMS": TEAMS}
    done = CliRunner().invoke(restrict_group, ["add", HARASSER, "--kind", "route", "--route", "billing",
                                               "--review", review_date(app), "--reason", "billing dispute"], env=env)
    assert done.exit_code == 0, done.output
    assert "only to team billing" in done.output
    refused = CliRunner().invoke(restrict_group, ["add", "+14155550111", "--kind", "route", "--route", "sales",
                                                  "--review", review_date(app), "--reason", "x"], env=env)
    assert refused.exit_code != 0 and "billing, complaints" in refused.output


def test_a_team_taken_out_of_the_settings_sends_its_callers_to_the_agents(
        app: Any, twilio: Any, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    restrict_to_billing(app)
    monkeypatch.delitem(app.config["SETTINGS"].teams, "billing")  # as after a restart without it in IVR_TEAMS
    caller = cf.place_call(twilio, HARASSER)
    assert caller.enqueue is not None and caller.enqueue.text == "agents"
    assert redis_conn.zcard(keys.team_waiting("billing")) == 0

