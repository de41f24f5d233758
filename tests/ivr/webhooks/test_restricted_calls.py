"""Restricted callers as Twilio plays them: outside the agreed hours the caller hears the polite notice (a recording,
in the line's language) and the call ends; within them the caller reaches an agent; over the day's count the notice
again; a route restriction puts the caller in the supervisors' queue; voicemail-only records one message whose URL
lands on the call and in the number's history."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import redis

from blocklist import keys
from blocklist.hours import DAYS
from blocklist.restrictions import Restriction
from tests.support import callflow as cf
from tests.support.constants import AGENT, BASE_URL, CUSTOMER, HARASSER, LINE
from tests.support.twilio_player import call_sid

ZONE = "Africa/Johannesburg"
SUPERVISOR = "client:sam"


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    return {**app_env, "IVR_TIMEZONE": ZONE, "IVR_SUPERVISORS": SUPERVISOR}


def today(app: Any, offset_days: int = 0) -> str:
    """The day name ('Mon') of today (or a day after) in the service's time zone."""
    now = datetime.now(app.config["SETTINGS"].tz()) + timedelta(days=offset_days)
    return DAYS[now.weekday()].title()


def restrict(app: Any, **kw: Any) -> Restriction:
    review = (datetime.now(app.config["SETTINGS"].tz()) + timedelta(days=30)).date().isoformat()
    args: dict[str, Any] = {"review": review, "reason": "abusive calls; agreed in writing", "by": "mgr"}
    return app.extensions["ivr"].blocklist.restrict(kw.pop("number", HARASSER), **{**args, **kw})


def heard(reply: Any) -> list[str]:
    """The prompts a reply plays, by id ('restricted'), from their hashed URLs."""
    return [p.text.rsplit("/", 1)[-1].split(".", 1)[0] for p in reply.all("Play")]


def test_outside_the_agreed_hours_the_caller_hears_the_notice_and_is_hung_up_on(
        app: Any, twilio: Any, redis_conn: redis.Redis, api: Any) -> None:
    restrict(app, kind="hours", hours=f"{today(app, 1)} 00:00-24:00")  # only tomorrow: never now
    caller = cf.place_call(twilio, HARASSER)
    assert caller.reply.verbs() == ["Play", "Hangup"]
    assert heard(caller.reply) == ["restricted"]
    assert caller.reply.first("Play").text.startswith(f"{BASE_URL}/media/en/restricted.")
    call = redis_conn.hgetall(keys.call(caller.sid))
    assert (call["decision"], call["rule"], call["treatment"]) == ("treat", "restriction", "restricted")
    assert call["detail"] == f"outside the agreed hours {today(app, 1)} 00:00-24:00"
    check = api.get("/api/check", query_string={"number": HARASSER, "line": LINE}).get_json()
    assert check["rule"] == "restriction" and "contact restriction" in check["explain"]
    # someone else on the same line still gets through
    assert cf.place_call(twilio, CUSTOMER).enqueue.text == "agents"


def test_the_notice_is_recorded_in_the_lines_language(app: Any, twilio: Any) -> None:
    app.extensions["ivr"].blocklist.set_line_setting(LINE, "language", "fi", by="mgr")
    restrict(app, kind="hours", hours=f"{today(app, 1)} 00:00-24:00")
    reply = cf.place_call(twilio, HARASSER).reply
    assert reply.first("Play").text.startswith(f"{BASE_URL}/media/fi/restricted.")
    media = twilio.client.get(reply.first("Play").text.replace(BASE_URL, ""))
    assert media.status_code == 200 and media.mimetype == "audio/wav"


def test_within_the_agreed_hours_the_caller_reaches_an_agent(app: Any, twilio: Any, redis_conn: redis.Redis) -> None:
    restrict(app, kind="hours", hours=f"{today(app)} 00:00-24:00")
    caller = cf.place_call(twilio, HARASSER)
    assert caller.enqueue is not None and caller.enqueue.text == "agents"
    agent = cf.agent_connects(twilio, AGENT)
    cf.bridge(twilio, agent, caller)
    assert redis_conn.hget(keys.call(caller.sid), "agent") == AGENT


def test_over_the_days_count_the_caller_hears_the_notice(app: Any, twilio: Any) -> None:
    restrict(app, kind="max_calls", max_calls=2, period="day")
    assert cf.place_call(twilio, HARASSER).enqueue.text == "agents"
    second = cf.place_call(twilio, HARASSER)
    assert second.enqueue.text == "agents"
    assert twilio.incoming(second.sid, HARASSER, LINE).first("Enqueue").text == "agents"  # a retry: not a call
    third = cf.place_call(twilio, HARASSER)
    assert third.reply.verbs() == ["Play", "Hangup"] and heard(third.reply) == ["restricted"]


def test_a_route_restriction_queues_the_caller_for_the_supervisors(app: Any, twilio: Any) -> None:
    restrict(app, kind="route", route="supervisor")
    caller = cf.place_call(twilio, HARASSER)
    assert caller.enqueue.text == "supervisors"
    assert "q=supervisors" in caller.enqueue.get("action")  # leaving the queue keeps the caller there
    sup = twilio.post("/supervisor/connect", {"CallSid": call_sid(), "From": SUPERVISOR})
    assert sup.first("Dial").find("Queue").text == "supervisors"
    assert cf.place_call(twilio, CUSTOMER).enqueue.text == "agents"


def test_voicemail_only_records_one_message_and_keeps_its_url(app: Any, twilio: Any, redis_conn: redis.Redis) -> None:
    restrict(app, kind="voicemail")
    caller = cf.place_call(twilio, HARASSER)
    assert caller.reply.verbs() == ["Play", "Record", "Play", "Hangup"]
    assert heard(caller.reply) == ["voicemail_intro", "goodbye"]
    record = caller.reply.first("Record")
    assert int(record.get("maxLength")) <= 120 and record.get("playBeep") == "true"
    done = twilio.follow(record, {"CallSid": caller.sid, "RecordingUrl": "https://api.twilio.com/rec/RE1",
                                  "RecordingDuration": "14", "Digits": "hangup"})
    assert done.verbs() == ["Play", "Hangup"]
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE" + "a" * 32
    status = twilio.follow(record, {"CallSid": caller.sid, "RecordingSid": "RE" + "a" * 32, "RecordingUrl": url,
                                    "RecordingStatus": "completed", "RecordingDuration": "14"},
                           attr="recordingStatusCallback", method_attr="recordingStatusCallbackMethod")
    assert status.status == 200
    call = redis_conn.hgetall(keys.call(caller.sid))
    assert (call["treatment"], call["voicemail_url"], call["voicemail_seconds"]) == ("voicemail", url, "14")
    history = app.extensions["ivr"].blocklist.history(HARASSER)
    assert history[-1]["action"] == "voicemail" and history[-1]["recording"] == url


def test_a_failed_voicemail_document_never_sends_the_caller_to_the_agents(twilio: Any) -> None:
    reply = twilio.post("/voice/fallback", {"CallSid": call_sid(), "ErrorUrl": f"{BASE_URL}/voice/voicemail/done",
                                            "ErrorCode": "11200"})
    assert reply.verbs() == ["Hangup"]
