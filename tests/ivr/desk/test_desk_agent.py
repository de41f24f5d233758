"""The agent's desk driven as Twilio and an agent would: a caller bridged on the phone shows up on the desk,
the desk button flags exactly like the phone key, withheld calls get their time noted, and caller-controlled
text is shown as text everywhere."""

from __future__ import annotations

import re
from typing import Any

from blocklist import exposure
from blocklist.calls import Calls
from tests.support.callflow import bridged_caller
from tests.support.constants import AGENT, AGENT2, LINE
from tests.support.desk import login, make_user, post_form

CALLER = "+14155550123"
EVIL_NAME = "<script>alert('name')</script>"
EVIL_CITY = "<img src=x onerror=alert('city')>"
EVIL_NOTE = "<b>shouted</b> & <i>laughed</i>"


def desk_agent(app: Any, name: str = "ann", phone: str = AGENT) -> Any:
    make_user(app, name, "agent", phones=phone)
    client = app.test_client()
    assert login(client, name).status_code == 302
    return client


def test_the_caller_bridged_to_my_phone_is_on_my_desk(app: Any, twilio: Any) -> None:
    desk = desk_agent(app)
    page = desk.get("/desk/call").get_data(as_text=True)
    assert "Your phone is not connected" in page
    caller, _agent = bridged_caller(twilio)
    page = desk.get("/desk/call").get_data(as_text=True)
    assert "On a call" in page and CALLER in page and "Flag harassment" in page
    assert f"/desk/call/{caller.sid}/flag" in page
    # another agent's desk does not show it
    other = desk_agent(app, "bob", AGENT2)
    assert CALLER not in other.get("/desk/call").get_data(as_text=True)


def test_panel_polling_answers_204_while_nothing_changed(app: Any, twilio: Any) -> None:
    desk = desk_agent(app)
    first = desk.get("/desk/call/panel")
    version = first.headers["X-Panel-Version"]
    assert first.status_code == 200
    assert desk.get(f"/desk/call/panel?v={version}").status_code == 204
    bridged_caller(twilio)
    changed = desk.get(f"/desk/call/panel?v={version}")
    assert changed.status_code == 200 and CALLER in changed.get_data(as_text=True)


def test_previous_flags_of_the_number_are_shown(app: Any, twilio: Any, run_jobs: Any) -> None:
    app.extensions["ivr"].blocklist.flag(CALLER, call_sid="CA" + "1" * 32, line=LINE, via="key", agent=AGENT2,
                                         reason="obscene", note="earlier call")
    app.extensions["ivr"].blocklist.unblock(CALLER, by="max", reason="appeal")
    desk = desk_agent(app)
    bridged_caller(twilio)
    page = desk.get("/desk/call").get_data(as_text=True)
    assert re.search(r"Flagged before</dt><dd><strong class=\"alert\">1 time<", page)
    assert "earlier call" in page and "appeal" in page


def test_the_desk_button_flags_like_the_phone_key_and_sends_the_caller_to_isolation(
        app: Any, twilio: Any, run_jobs: Any, standin: Any) -> None:
    desk = desk_agent(app)
    caller, _agent = bridged_caller(twilio)
    resp = post_form(desk, f"/desk/call/{caller.sid}/flag", {"reason": "obscene", "note": "background laughter"})
    assert resp.status_code == 302 and "/desk/breather" in resp.headers["Location"]
    res = app.extensions["ivr"]
    call = Calls(res.store).get(caller.sid)
    assert call["flagged"] and call.get("flag_via") == "desk"
    entry = res.blocklist.entries(CALLER)
    assert entry and entry[0].via == "desk"
    flag = [h for h in res.blocklist.history(CALLER) if h["action"] == "flag"][0]
    assert flag["by"] == AGENT and flag["reason"] == "obscene" and flag["note"] == "background laughter"
    # my week counts this flag at once, and still once after the reports folded it
    before_fold = desk.get(resp.headers["Location"]).get_data(as_text=True)
    assert "<strong>1</strong> harassing call flagged" in before_fold
    run_jobs()
    after_fold = desk.get(resp.headers["Location"]).get_data(as_text=True)
    assert "<strong>1</strong> harassing call flagged" in after_fold
    redirects = standin.state.matching("POST", f"/Calls/{caller.sid}.json")
    assert redirects and "/voice/isolation" in redirects[-1].form["Url"]
    # the breather, and flagging again changes nothing
    breather = desk.get(resp.headers["Location"]).get_data(as_text=True)
    # the breather scales with the flag's abuse category (the reason "obscene" is that category)
    seconds = exposure.breather_seconds(res.settings.breather_seconds, "obscene")
    assert "Take a breath" in breather and f'data-countdown="{seconds}"' in breather
    again = post_form(desk, f"/desk/call/{caller.sid}/flag", {"reason": "obscene"})
    assert again.status_code == 302
    assert len([h for h in res.blocklist.history(CALLER) if h["action"] == "flag"]) == 1
    panel = desk.get("/desk/call").get_data(as_text=True)
    assert "Flagged (desk)" in panel and "Flag harassment" not in panel


def test_the_phone_key_flag_shows_on_the_desk(app: Any, twilio: Any) -> None:
    from tests.support.callflow import bridge_ends, press

    desk = desk_agent(app)
    caller, agent = bridged_caller(twilio)
    after = bridge_ends(twilio, agent, caller)
    press(twilio, agent, after, "9")
    page = desk.get("/desk/call").get_data(as_text=True)
    assert "Flagged (phone key)" in page


def test_an_agent_cannot_flag_someone_elses_caller(app: Any, twilio: Any) -> None:
    desk = desk_agent(app)
    caller, _agent = bridged_caller(twilio, identity=AGENT2)
    assert post_form(desk, f"/desk/call/{caller.sid}/flag", {"reason": "obscene"}).status_code == 403
    assert not Calls(app.extensions["ivr"].store).get(caller.sid).get("flagged")


def test_withheld_caller_time_is_noted_for_the_manager_in_one_click(app: Any, twilio: Any) -> None:
    desk = desk_agent(app)
    caller, _agent = bridged_caller(twilio, number="anonymous")
    page = desk.get("/desk/call").get_data(as_text=True)
    assert "Withheld number" in page and "Note this call's time for the manager" in page
    assert post_form(desk, f"/desk/call/{caller.sid}/note-time").status_code == 302
    page = desk.get("/desk/call").get_data(as_text=True)
    assert "Call time noted for the manager" in page
    make_user(app, "max", "manager")
    mgr = app.test_client()
    login(mgr, "max")
    withheld = mgr.get("/desk/withheld").get_data(as_text=True)
    assert caller.sid in withheld and LINE in withheld
    assert "withheld call noted" in mgr.get("/desk/audit").get_data(as_text=True)
    # a known number is not "noted": the agent flags it instead
    known, _ = bridged_caller(twilio, number="+14155550999")
    post_form(desk, f"/desk/call/{known.sid}/note-time")
    assert app.extensions["ivr"].store.xlen("ivr:desk:withheld") == 1


def test_escalate_from_the_desk_moves_the_caller_like_the_api(app: Any, twilio: Any, run_jobs: Any,
                                                               standin: Any) -> None:
    desk = desk_agent(app)
    caller, _agent = bridged_caller(twilio)
    page = desk.get("/desk/call").get_data(as_text=True)
    assert "Escalate to supervisor" in page
    resp = post_form(desk, f"/desk/call/{caller.sid}/move/escalate", {"note": "wants a refund, third call"})
    assert resp.status_code == 302
    assert "a supervisor takes the caller" in desk.get("/desk/call").get_data(as_text=True)
    store = app.extensions["ivr"].store
    assert Calls(store).get(caller.sid).get("escalated")
    assert store.hget(f"ivr:escalation:{caller.sid}", "note") == "wants a refund, third call"
    assert Calls(store).decision(caller.sid) == "escalate"
    run_jobs()
    moved = standin.state.matching("POST", f"/Calls/{caller.sid}.json")
    assert moved and "/voice/moves/escalate" in moved[-1].form["Url"]
    assert post_form(desk, f"/desk/call/{caller.sid}/move/shout").status_code == 404


def test_a_withheld_caller_cannot_get_a_callback(app: Any, twilio: Any) -> None:
    desk = desk_agent(app)
    caller, _agent = bridged_caller(twilio, number="anonymous")
    assert "Agree a callback" not in desk.get("/desk/call").get_data(as_text=True)
    resp = post_form(desk, f"/desk/call/{caller.sid}/move/callback")
    assert resp.status_code == 302
    assert "cannot be called back" in desk.get("/desk/call").get_data(as_text=True)


def test_caller_controlled_text_renders_as_text(app: Any, twilio: Any, run_jobs: Any) -> None:
    """Script tags and HTML sent through the Twilio webhook (caller name, city) and in a note stay text."""
    desk = desk_agent(app)
    caller, _agent = bridged_caller(twilio, CallerName=EVIL_NAME, FromCity=EVIL_CITY)
    page = desk.get("/desk/call").get_data(as_text=True)
    assert EVIL_NAME not in page and EVIL_CITY not in page
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(&#39;city&#39;)&gt;" in page
    post_form(desk, f"/desk/call/{caller.sid}/flag", {"reason": "other", "note": EVIL_NOTE})
    run_jobs()
    make_user(app, "max", "manager")
    mgr = app.test_client()
    login(mgr, "max")
    for path in ("/desk/dashboard", f"/desk/numbers/{CALLER}", "/desk/call"):
        html = mgr.get(path).get_data(as_text=True)
        assert "<b>shouted</b>" not in html and "<script>alert" not in html, path
    assert "&lt;b&gt;shouted&lt;/b&gt; &amp; &lt;i&gt;laughed&lt;/i&gt;" in mgr.get(f"/desk/numbers/{CALLER}").get_data(
        as_text=True)
    assert "&lt;b&gt;shouted&lt;/b&gt;" in mgr.get("/desk/dashboard").get_data(as_text=True)
