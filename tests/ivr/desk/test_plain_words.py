"""No internal names on the desk: the audit log, a number's history and the reports page speak plain words."""

from __future__ import annotations

import re
from typing import Any

from blocklist.events import ACTION_WORDS
from tests.support.constants import ROOT
from tests.support.desk import login, make_user

ACTION_LITERAL = re.compile(r"""action=["']([a-z_]+)["']|["']action["']: *["']([a-z_]+)["']|"""
                            r"""_audit\([^"'\n]*["']([a-z_]+)["']|["']((?:user|token|prompt)_[a-z]+)["']""")


def test_every_action_the_code_writes_has_plain_words() -> None:
    written: set[str] = set()
    for path in [*ROOT.glob("blocklist/**/*.py"), *ROOT.glob("ivr/**/*.py"), *ROOT.glob("workers/**/*.py"),
                 *ROOT.glob("blocklist/lua/*.lua")]:
        for match in ACTION_LITERAL.finditer(path.read_text()):
            written.update(g for g in match.groups() if g)
    for lua in ROOT.glob("blocklist/lua/*.lua"):
        written.update(re.findall(r"action *= *'([a-z_]+)'", lua.read_text()))
    written -= {"token_id", "token_epoch", "prompt_id"}  # field names, not actions
    assert written, "the scan found no action at all: the pattern no longer matches the code"
    missing = sorted(written - set(ACTION_WORDS))
    assert not missing, f"add plain words for {missing} to blocklist/events.py ACTION_WORDS"


def test_the_audit_log_and_reports_page_speak_plain_words(app: Any) -> None:
    make_user(app, "boss", "admin")
    desk = app.test_client()
    assert login(desk, "boss").status_code == 302
    make_user(app, "newbie", "agent")  # audited as user_create
    audit = desk.get("/desk/audit").get_data(as_text=True)
    assert "desk user created" in audit and "user_create" not in audit
    reports = desk.get("/desk/reports").get_data(as_text=True)
    links = re.findall(r"<a href=\"/desk/reports/[^\"]*\.csv[^\"]*\">([^<]+)</a>", reports) or \
        re.findall(r"<a href=\"[^\"]*csv[^\"]*\">([^<]+)</a>", reports)
    assert links, reports[:2000]
    assert not {"door", "dimensions", "heatmap"} & set(links), links
    assert "calls treated on arrival, by rule and treatment" in links
