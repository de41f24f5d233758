"""Forms that fit the task: the blocklist upload's "Check only" says what the upload would do and writes
nothing; the dry run's form shows the fields of the kind of rule chosen (in a real Chromium, and without
any script: the server renders the chosen kind's fields)."""

from __future__ import annotations

import io
import re
from typing import Any

import redis
from lxml import html as lxml_html

from tests.support.desk import make_user, post_form
from tests.support.store import snapshot

KINDS = ("number", "prefix", "withheld", "burst")
FIELDS = {"number": {"number", "treatment"}, "prefix": {"prefix", "treatment"}, "withheld": {"policy"},
          "burst": {"calls", "minutes", "action"}}



def text(resp: Any) -> str:
    return re.sub(r"\s+", " ", resp.get_data(as_text=True))


def test_check_only_upload_says_what_it_would_do_and_writes_nothing(app: Any, mgr: Any,
                                                                    redis_conn: redis.Redis) -> None:
    app.extensions["ivr"].blocklist.block("+14155550123", by="max", reason="pranks")
    csv = ("number,scope,treatment,reason,until,permanent\n"
           "+14155550123,,,pranks,,\n"
           "+14155550124,,reject,prank caller,,yes\n"
           "+14155550125,,,over,2001-01-01T00:00:00Z,\n"
           "+14155550126,,isolation,group calls,,yes\n")
    before = snapshot(redis_conn)
    resp = post_form(mgr, "/desk/blocklist/import", {"file": (io.BytesIO(csv.encode()), "list.csv"),
                                                     "check_only": "1"}, content_type="multipart/form-data")
    assert resp.status_code == 200
    page = text(resp)
    assert "CSV import, checked only" in page
    assert ("4 row(s) checked only, nothing written: would add 2, change 0, leave 1 unchanged, skip 1 (line 4)"
            in page)
    assert snapshot(redis_conn) == before
    bad = post_form(mgr, "/desk/blocklist/import", {"file": (io.BytesIO((csv + "nonsense,,,x,,\n").encode()),
                                                             "list.csv"), "check_only": "1"},
                    content_type="multipart/form-data")
    assert bad.status_code == 400 and "1 bad row (line 6) would stop the import" in text(bad)
    assert "<td>6</td>" in text(bad)  # the bad row's line, in the table of problems
    assert snapshot(redis_conn) == before
    done = post_form(mgr, "/desk/blocklist/import", {"file": (io.BytesIO(csv.encode()), "list.csv")},
                     content_type="multipart/form-data")
    assert "4 row(s): 2 added, 0 changed, 1 unchanged, 1 skipped" in text(done)


def shown_fields(page: str) -> set[str]:
    """Names of the rule fields a browser without scripts shows: those outside a hidden, disabled group."""
    doc = lxml_html.fromstring(page)
    form = doc.xpath("//form[@data-rule-form]")[0]
    names = set()
    for group in form.xpath(".//fieldset[@data-rule-fields]"):
        hidden = group.get("hidden") is not None
        assert hidden == (group.get("disabled") is not None), "a hidden group must be disabled too (values not sent)"
        if not hidden:
            names |= {el.get("name") for el in group.xpath(".//input|.//select")}
    return names


def test_without_a_script_the_dry_run_form_shows_the_chosen_kinds_fields(mgr: Any) -> None:
    first = mgr.get("/desk/dryrun")
    assert first.status_code == 200
    assert shown_fields(first.get_data(as_text=True)) == FIELDS["number"]  # the first kind, chosen
    for kind in KINDS:
        # "Show its fields": the form comes back for that kind, nothing tried
        chosen = post_form(mgr, "/desk/dryrun", {"kind": kind, "choose": "1", "days": "7"})
        assert chosen.status_code == 200
        page = chosen.get_data(as_text=True)
        assert shown_fields(page) == FIELDS[kind], kind
        assert 'id="dryrun-result"' not in page and "Cannot try" not in page
    tried = post_form(mgr, "/desk/dryrun", {"kind": "burst", "calls": "3", "minutes": "10", "action": "review"})
    assert tried.status_code == 200 and 'id="dryrun-result"' in tried.get_data(as_text=True)
    assert shown_fields(tried.get_data(as_text=True)) == FIELDS["burst"]  # the rule just tried stays on show
    wrong = post_form(mgr, "/desk/dryrun", {"kind": "withheld", "policy": ""})
    assert wrong.status_code == 400 and shown_fields(wrong.get_data(as_text=True)) == FIELDS["withheld"]


def test_in_a_browser_the_fields_follow_the_kind_chosen(app: Any, open_desk: Any) -> None:
    make_user(app, "max", "manager")
    desk = open_desk()
    desk.login("max")
    desk.page.goto("/desk/dryrun")
    page = desk.page
    assert not page.is_visible("button[data-rule-choose]")  # the script makes the extra step needless

    def visible() -> set[str]:
        return {name for name in ("number", "prefix", "treatment", "policy", "calls", "minutes", "action")
                if page.is_visible(f"form[data-rule-form] [name={name}]")}

    assert visible() == FIELDS["number"]
    for kind in ("prefix", "withheld", "burst", "number"):
        page.select_option("select[name=kind]", kind)
        assert visible() == FIELDS[kind], kind
    page.select_option("select[name=kind]", "prefix")
    page.fill("input[name=prefix]", "+1415555")
    page.click("form[data-rule-form] button.primary")
    page.wait_for_selector("#dryrun-result")
    assert visible() == FIELDS["prefix"] and page.input_value("input[name=prefix]") == "+1415555"
