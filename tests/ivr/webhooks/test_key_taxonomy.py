"""The abuse taxonomy and the warnings on record from the phone keys, played as Twilio plays them: `*` then 9
records the default category (IVR_FLAG_CATEGORY); key 2's warning records no category but counts on the
number's record across calls, and after IVR_WARNINGS_BEFORE_OFFER of them the manager is offered a restriction or
a block on the number's page, on the review list, in `ivr blocklist show` and in the API; the audited erasure
takes the count with the number."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from blocklist import keys
from ivr.cli.blocklist import blocklist_group
from tests.support import callflow as cf
from tests.support.callflow import events, star
from tests.support.constants import CUSTOMER
from tests.support.desk import logged_in
from workers import reports


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    # the exposure limits would send this agent on a wellbeing break after a few difficult
    # calls; this test is about the caller's record, not the agent's
    return {**app_env, "IVR_FLAG_CATEGORY": "threats", "IVR_WARNINGS_BEFORE_OFFER": "2",
            "IVR_EXPOSURE_SHIFT_LIMIT": "0", "IVR_EXPOSURE_WEEK_LIMIT": "0"}


def history(r: redis.Redis, number: str) -> list[dict[str, Any]]:
    return [json.loads(h) for h in r.lrange(keys.history(number), 0, -1)]


def test_star_nine_records_the_default_category_everywhere(twilio: Any, redis_conn: redis.Redis, api: Any) -> None:
    caller, agent, after = star(twilio)
    menu = cf.press(twilio, agent, after, "9")
    assert menu.verbs()[-1] == "Redirect"
    (flag,) = events(redis_conn, "flag")
    assert flag["category"] == "threats" and flag["via"] == "key"
    assert [h["category"] for h in history(redis_conn, CUSTOMER) if h["action"] == "flag"] == ["threats"]
    assert redis_conn.hget(keys.call(caller.sid), "category") == "threats"
    assert api.get(f"/api/calls/{caller.sid}").get_json()["category"] == "threats"


def warn_by_key(twilio: Any) -> Any:
    """A call from CUSTOMER, `*` then 2: the polite limit, the caller back in its hold for the agent."""
    caller, agent, after = star(twilio)
    menu = cf.press(twilio, agent, after, "2")
    assert "/agent/rejoin" in menu.first("Redirect").text
    return caller


def test_key_2_counts_on_the_number_s_record_across_calls_and_offers_a_restriction_or_block(
        app: Any, twilio: Any, redis_conn: redis.Redis, api: Any, redis_url: str) -> None:
    first = warn_by_key(twilio)
    second = warn_by_key(twilio)  # another call, another day: the same number
    warns = events(redis_conn, "warn")
    assert [(w["call_sid"], w["warning"], w["on_record"]) for w in warns] == [(first.sid, "1", "1"),
                                                                                (second.sid, "1", "2")]
    assert all(w["category"] == "" for w in warns)  # the key gives no category: limit-setting is not abuse as such
    recorded = [h for h in history(redis_conn, CUSTOMER) if h["action"] == "warn"]
    assert [(h["call_sid"], h["on_record"]) for h in recorded] == [(first.sid, 1), (second.sid, 2)]
    assert all("category" not in h for h in recorded)
    assert not redis_conn.exists(keys.block(keys.GLOBAL, CUSTOMER))  # a warning never blocks

    # the manager's desk: the count, the offer, the two ways to act
    desk = logged_in(app)
    page = desk.get(f"/desk/numbers/{CUSTOMER}").get_data(as_text=True)
    assert "2 warnings on record" in page
    assert re.search(r'<a class="button" href="#restrict">Restrict contact</a>', page)
    assert re.search(r'<a class="button" href="#block">Block this number</a>', page)
    assert 'id="block"' in page  # the anchor the offer links to: the block form
    assert "warned (the polite limit)" in page  # the history says it in words
    review = desk.get("/desk/review").get_data(as_text=True)
    assert "Warned callers" in review and re.search(r'href="/desk/numbers/(\+|%2B)' + CUSTOMER[1:] + '#restrict"',
                                                    review)

    # the command line and the API say the same
    shown = CliRunner().invoke(blocklist_group, ["show", CUSTOMER], env={"REDIS_URL": redis_url,
                                                                        "IVR_WARNINGS_BEFORE_OFFER": "2"})
    assert shown.exit_code == 0, shown.output
    assert "2 warnings on record" in shown.output and "consider a contact restriction" in shown.output
    as_json = json.loads(CliRunner().invoke(blocklist_group, ["show", CUSTOMER, "--json"],
                                            env={"REDIS_URL": redis_url, "IVR_WARNINGS_BEFORE_OFFER": "3"}).output)
    assert as_json["warnings_on_record"] == 2 and as_json["offer_restriction_or_block"] is False  # 2 of 3: not yet
    listed = CliRunner().invoke(blocklist_group, ["review"], env={"REDIS_URL": redis_url,
                                                                  "IVR_WARNINGS_BEFORE_OFFER": "2"})
    assert f"{CUSTOMER}: 2 warnings on record" in listed.output
    listed_json = json.loads(CliRunner().invoke(blocklist_group, ["review", "--json"], env={
        "REDIS_URL": redis_url, "IVR_WARNINGS_BEFORE_OFFER": "2"}).output)
    assert {"kind": "warnings", "number": CUSTOMER, "warnings": 2, "threshold": 2}.items() <= \
        next(i for i in listed_json if i.get("kind") == "warnings").items()
    body = api.get(f"/api/blocklist/{CUSTOMER}/history").get_json()
    assert body["warnings_on_record"] == 2 and body["offer_restriction_or_block"] is True

    # a block deals with it: the review list no longer offers it
    app.extensions["ivr"].blocklist.block(CUSTOMER, by="max", reason="three calls of shouting")
    assert "Warned callers" not in desk.get("/desk/review").get_data(as_text=True)
    blocked = api.get(f"/api/blocklist/{CUSTOMER}").get_json()
    assert blocked["warnings_on_record"] == 2

    # the audited erasure takes the record with the number
    reports.erase_number(redis_conn, CUSTOMER, by="dpo", reason="erasure request 7", rebuild_after=False)
    assert not redis_conn.hexists(keys.WARNINGS, CUSTOMER)
    assert "warnings on record" not in desk.get(f"/desk/numbers/{CUSTOMER}").get_data(as_text=True)


def test_a_withheld_caller_s_warning_has_no_record(twilio: Any, redis_conn: redis.Redis) -> None:
    caller, agent, after = star(twilio, "anonymous")
    cf.press(twilio, agent, after, "2")
    (warn,) = events(redis_conn, "warn")
    assert warn["on_record"] == "" and warn["call_sid"] == caller.sid
    assert redis_conn.hlen(keys.WARNINGS) == 0
