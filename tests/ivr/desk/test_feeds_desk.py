"""Bulk feeds on the managers' desk (ivr/desk/views_feeds.py): the Feeds page (list, import with check only and
partial, bad rows, delete with a reason), a number's page showing the feeds that list it apart from the blocks (take
it out on appeal), the audit log's words; through the test client as a manager, and once in a real Chromium (import
a small feed with the form, see it on the number's page, nothing scrolling sideways on a phone)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from lxml import html as lxml_html

from blocklist import keys
from blocklist.clock import human_time
from blocklist.feeds import text_lines
from tests.support.browser import DESKTOP, PHONE
from tests.support.desk import login, make_user, post_form
from tests.support.store import snapshot

ROBO = "+14155550123"
OTHER = "+14155550124"
ZONE = "Africa/Johannesburg"  # UTC+2: a fetched-on date is that day's start here, not in UTC
META = {"source": "FTC Do Not Call complaints", "licence": "public data", "by": "seed"}
SEEN = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)  # two days ago
FEED_CSV = f"number,reports,last_seen\n{ROBO},3,{SEEN.date().isoformat()}\n{OTHER},1,{SEEN.date().isoformat()}\n"


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    return {**app_env, "IVR_TIMEZONE": ZONE}


def text(resp: Any) -> str:
    return re.sub(r"\s+", " ", resp.get_data(as_text=True))


def bl(app: Any) -> Any:
    return app.extensions["ivr"].blocklist


def upload(client: Any, csv: str, **fields: str) -> Any:
    form = {"name": "ftc-dnc", "source": META["source"], "licence": META["licence"], "fetched_at": "2026-02-01",
            "age_out_days": "30", "treatment": "", "line": "", **fields}
    return post_form(client, "/desk/feeds/import", {**form, "file": (io.BytesIO(csv.encode()), "feed.csv")},
                     content_type="multipart/form-data")


def feed_rows(page: str) -> list[dict[str, str]]:
    """The Feeds table as a manager reads it: each row's cells by their heading."""
    doc = lxml_html.fromstring(page)
    rows = []
    for tr in doc.xpath("//table[contains(@class,'feeds')]/tbody/tr[td[@data-label]]"):
        rows.append({td.get("data-label"): " ".join(td.text_content().split()) for td in tr.xpath("td[@data-label]")})
    return rows


def test_the_feeds_page_lists_each_feed_in_plain_words(app: Any, mgr: Any) -> None:
    page = mgr.get("/desk/feeds")
    assert page.status_code == 200
    assert '<a href="/desk/feeds" aria-current="page">Feeds</a>' in text(page)
    assert "No feeds yet." in text(page)
    bl(app).import_feed("ftc-dnc", text_lines(FEED_CSV), **META, age_out_days=30, treatment="linefault",
                        fetched_at=1769904000000)  # 2026-02-01 00:00 UTC
    bl(app).import_feed("carrier", text_lines(f"{ROBO}\n"), source="Carrier X robocallers", licence="contract 2026-114",
                        by="seed", scope="+18005551212")
    [carrier, ftc] = feed_rows(mgr.get("/desk/feeds").get_data(as_text=True))
    assert ftc == {"Feed": "ftc-dnc", "Source": META["source"], "Licence": "public data",
                   "Fetched": "1 Feb 2026, 02:00 SAST", "Numbers": "2", "Ages out": "30 days after the last report",
                   "Treatment": "linefault", "Lines": "all", "Imported": ftc["Imported"],
                   "Taken out since": "0 on appeal, 0 aged out"}
    assert ftc["Imported"].endswith("by seed")
    assert (carrier["Ages out"], carrier["Treatment"], carrier["Lines"]) == ("never", "the line's default",
                                                                             "+18005551212")


def test_import_with_the_form_check_only_bad_rows_and_partial(app: Any, mgr: Any, redis_conn: redis.Redis) -> None:
    before = snapshot(redis_conn)
    checked = upload(mgr, FEED_CSV, check_only="1")
    assert checked.status_code == 200
    page = text(checked)
    assert "Feed import, checked only" in page
    assert "2 row(s) checked: 2 number(s) would be in feed ftc-dnc (nothing written)" in page
    assert 'value="FTC Do Not Call complaints"' in page  # the form keeps what was written, to import it next
    assert snapshot(redis_conn) == before

    bad = upload(mgr, FEED_CSV + "call me maybe,1,\n")
    assert bad.status_code == 400
    assert "nothing imported, feed ftc-dnc unchanged" in text(bad) and "<td>4</td>" in text(bad)
    assert snapshot(redis_conn) == before

    done = upload(mgr, FEED_CSV + "call me maybe,1,\n", partial="1")
    assert done.status_code == 200
    assert "feed ftc-dnc: 2 number(s) from 3 row(s)" in text(done) and "1 bad row(s) left out" in text(done)
    feed = bl(app).feed("ftc-dnc")
    assert (feed.entries, feed.by, feed.age_out_days, feed.source) == (2, "max", 30, META["source"])
    assert feed.fetched_at == 1769896800000  # 2026-02-01 00:00 in Johannesburg (22:00 UTC the day before)
    assert 'value="FTC Do Not Call complaints"' not in text(done)  # imported: the form starts empty again

    replaced = upload(mgr, f"{OTHER}\n", treatment="hangup")
    assert replaced.status_code == 200 and "replaced the previous version (2 number(s))" in text(replaced)
    assert [e.feed for e in bl(app).feed_entries(ROBO)] == [] and bl(app).feed("ftc-dnc").treatment == "hangup"


@pytest.mark.parametrize(("fields", "words"), [
    ({"source": ""}, "say where the feed comes from"),
    ({"licence": ""}, "say under which terms the feed is used"),
    ({"name": "Bad Name!"}, "1-40 lower-case letters"),
    ({"fetched_at": "31/01/2026"}, "is not a date: write it as 2026-11-30"),
    ({"fetched_at": "2999-01-01"}, "in the future"),
    ({"age_out_days": "-3"}, "a whole number of days from 0 (never) to 3650"),
    ({"treatment": "shout"}, "treatment &#39;shout&#39; unknown"),
    ({"line": "anonymous"}, "not a withheld ID"),
])
def test_bad_form_fields_say_what_to_do_and_change_nothing(mgr: Any, redis_conn: redis.Redis,
                                                           fields: dict[str, str], words: str) -> None:
    before = snapshot(redis_conn)
    resp = upload(mgr, FEED_CSV, **fields)
    assert resp.status_code == 400
    assert "Not imported: " in text(resp) and words in text(resp)
    assert snapshot(redis_conn) == before


def test_an_upload_without_a_file_or_bigger_than_a_webhook_body(app: Any, mgr: Any) -> None:
    resp = post_form(mgr, "/desk/feeds/import", {"name": "ftc-dnc", "source": "s", "licence": "l"},
                     content_type="multipart/form-data")
    assert resp.status_code == 400 and "Choose the feed&#39;s CSV file to upload" in text(resp)
    rows = "".join(f"+1415{i:07d},1,2026-01-30\n" for i in range(4000))
    assert len(rows) > app.config["MAX_CONTENT_LENGTH"]  # the import limit applies to the Feeds page too
    resp = upload(mgr, rows, age_out_days="0")
    assert resp.status_code == 200 and bl(app).feed("ftc-dnc").entries == 4000


def test_delete_a_feed_with_a_reason_and_the_audit_log_says_so(app: Any, mgr: Any) -> None:
    bl(app).import_feed("ftc-dnc", text_lines(FEED_CSV), **META)
    refused = post_form(mgr, "/desk/feeds/ftc-dnc/delete", {"reason": " "}, follow_redirects=True)
    assert "Not deleted: say why the feed is no longer used" in text(refused)
    assert bl(app).feed("ftc-dnc") is not None
    done = post_form(mgr, "/desk/feeds/ftc-dnc/delete", {"reason": "contract ended"}, follow_redirects=True)
    assert "Feed ftc-dnc deleted: its 2 numbers no longer count." in text(done)
    assert bl(app).feeds() == [] and "No feeds yet." in text(done)
    again = post_form(mgr, "/desk/feeds/ftc-dnc/delete", {"reason": "twice"}, follow_redirects=True)
    assert "There is no feed ftc-dnc any more; nothing changed." in text(again)
    audit = text(mgr.get("/desk/audit"))
    assert "feed deleted" in audit and "contract ended" in audit and "(2 numbers)" in audit
    assert "feed_delete" not in audit and "feed imported" in audit


def test_the_number_page_shows_the_feeds_apart_from_the_blocks_and_takes_it_out(app: Any, mgr: Any) -> None:
    bl(app).import_feed("ftc-dnc", text_lines(FEED_CSV), **META, age_out_days=30)
    page = mgr.get(f"/desk/numbers/{ROBO}")
    doc = lxml_html.fromstring(page.get_data(as_text=True))
    [section] = doc.xpath("//section[@id='feeds']")
    words = " ".join(section.text_content().split())
    assert "Listed by bulk feeds" in words and "not a manager's block" in words
    assert f"Feed ftc-dnc — {META['source']}" in words and "aged out" not in words
    facts = {dt.text_content(): " ".join(dd.text_content().split()) for dt, dd in
             zip(section.xpath(".//dt"), section.xpath(".//dd"), strict=True)}
    seen_ms = int(SEEN.timestamp() * 1000)
    assert facts == {"Reports": "3", "Last reported": human_time(seen_ms, ZoneInfo(ZONE)),
                     "Counts until": f"{human_time(seen_ms + 30 * 86_400_000, ZoneInfo(ZONE))} (in 4 weeks)",
                     "Treatment": "the line's default treatment", "Lines": "all lines", "Licence": "public data"}
    blocks = " ".join(doc.xpath("//section[h2='Blocks in force']")[0].text_content().split())
    assert "Not blocked." in blocks and "ftc-dnc" not in blocks  # a feed is not a manager's block
    assert "A bulk feed lists it, though" in blocks  # ... but the screen still treats the caller: say where to look
    assert mgr.get(f"/desk/numbers/{OTHER.replace('4', '9', 1)}").get_data(as_text=True).count('id="feeds"') == 0

    path = f"/desk/numbers/{ROBO}/feeds/ftc-dnc/remove"
    refused = post_form(mgr, path, {"reason": ""}, follow_redirects=True)
    assert "Not taken out: say why the number comes out of the feed" in text(refused)
    assert len(bl(app).feed_entries(ROBO)) == 1
    done = post_form(mgr, path, {"reason": "a customer, appeal upheld"}, follow_redirects=True)
    assert "Taken out of feed ftc-dnc" in text(done) and 'id="feeds"' not in text(done)
    assert bl(app).feed_entries(ROBO) == [] and len(bl(app).feed_entries(OTHER)) == 1
    history = lxml_html.fromstring(done.get_data(as_text=True)).xpath("//table[contains(@class,'history')]//tr[td]")
    assert "taken out of a feed (ftc-dnc)" in " ".join(history[0].text_content().split())  # the newest first
    again = post_form(mgr, path, {"reason": "twice"}, follow_redirects=True)
    assert "Feed ftc-dnc does not list this number; nothing changed." in text(again)
    audit = text(mgr.get("/desk/audit"))
    assert f"{ROBO} <span class=\"muted\">feed ftc-dnc</span>" in audit and "taken out of a feed" in audit
    assert "(2 numbers)" in audit  # the import's record


def test_agents_are_refused_the_feeds_page_and_its_forms(app: Any, client: Any) -> None:
    bl(app).import_feed("ftc-dnc", text_lines(FEED_CSV), **META)
    make_user(app, "ann", "agent")
    login(client, "ann")
    assert client.get("/desk/feeds").status_code == 403
    assert 'href="/desk/feeds"' not in text(client.get("/desk/call"))
    assert post_form(client, "/desk/feeds/ftc-dnc/delete", {"reason": "x"}).status_code == 403
    assert post_form(client, f"/desk/numbers/{ROBO}/feeds/ftc-dnc/remove", {"reason": "x"}).status_code == 403
    resp = post_form(client, "/desk/feeds/import", {"name": "x", "source": "s", "licence": "l",
                                                    "file": (io.BytesIO(b"+14155550199\n"), "f.csv")},
                     content_type="multipart/form-data")
    assert resp.status_code == 403
    assert [f.name for f in bl(app).feeds()] == ["ftc-dnc"] and len(bl(app).feed_entries(ROBO)) == 1


# ---- in a real browser ----------------------------------------------------------------------------------------
def no_sideways_scroll(desk: Any, where: str) -> None:
    """Neither the page nor a card or table inside it scrolls sideways."""
    width, inner = desk.page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{where} scrolls sideways ({width}px in {inner}px)"
    boxes = desk.page.eval_on_selector_all("main .card, main .table-wrap, main table",
                                           "cs => cs.map(c => [c.scrollWidth, c.clientWidth, c.className])")
    assert all(scroll <= client + 1 for scroll, client, _name in boxes), (where, boxes)


def test_in_a_browser_a_feed_imported_with_the_form_shows_on_the_number_page(app: Any, open_desk: Any,
                                                                              tmp_path: Any) -> None:
    make_user(app, "max", "manager")
    bl(app).import_feed("carrier-robocallers", text_lines(f"{OTHER},12,{SEEN.date().isoformat()}\n"),
                        source="Carrier X robocall list (weekly)", licence="contract 2026-114", by="seed",
                        treatment="linefault", age_out_days=90)
    feed_file = tmp_path / "ftc.csv"
    feed_file.write_text(FEED_CSV)
    desk = open_desk(DESKTOP)
    desk.login("max")
    desk.page.click("nav >> text=Feeds")
    page = desk.page
    page.fill("input[name=name]", "FTC DNC")  # the browser checks the name before sending anything
    assert page.eval_on_selector("input[name=name]", "el => el.validity.patternMismatch")
    page.fill("input[name=name]", "ftc-dnc")
    assert not page.eval_on_selector("input[name=name]", "el => el.validity.patternMismatch")
    page.fill("input[name=source]", META["source"])
    page.fill("input[name=licence]", META["licence"])
    page.fill("input[name=fetched_at]", "2026-02-01")
    page.fill("input[name=age_out_days]", "30")
    page.set_input_files("input[type=file]", str(feed_file))
    page.click("form.feed-import button.primary")
    page.wait_for_selector("#import-result")
    assert "feed ftc-dnc: 2 number(s) from 2 row(s)" in page.inner_text("#import-result")
    assert "ftc-dnc" in page.inner_text("table.feeds") and "carrier-robocallers" in page.inner_text("table.feeds")
    desk.shot("feeds-1280")
    page.goto(f"/desk/numbers/{OTHER}")
    listing = page.inner_text("#feeds")
    assert "Feed ftc-dnc" in listing and "Feed carrier-robocallers" in listing and "12" in listing
    desk.shot("feeds-number-1280")
    phone = open_desk(PHONE)
    phone.login("max")
    for path, name in (("/desk/feeds", "feeds-390"), (f"/desk/numbers/{OTHER}", "feeds-number-390")):
        resp = phone.page.goto(path)
        assert resp is not None and resp.status == 200
        no_sideways_scroll(phone, f"{path} at 390px")
        phone.shot(name)
    phone.page.fill("#feeds form.feed-remove >> nth=0 >> input[name=reason]", "a customer, appeal upheld")
    phone.page.click("#feeds form.feed-remove >> nth=0 >> button")
    phone.page.wait_for_selector("main > .flash")
    assert "Taken out of feed" in phone.page.inner_text("main > .flash")
    assert [e.feed for e in bl(app).feed_entries(OTHER)] == ["ftc-dnc"]  # carrier-robocallers comes first by name
    assert redis_lookup_of_audit(app) == ("feed_remove", "max")


def redis_lookup_of_audit(app: Any) -> tuple[str, str]:
    fields = app.extensions["ivr"].store.xrevrange(keys.AUDIT, count=1)[0][1]
    return fields["action"], fields["by"]


def test_an_aged_out_listing_says_it_no_longer_counts(app: Any, mgr: Any) -> None:
    old = (SEEN - timedelta(days=40)).date().isoformat()
    bl(app).import_feed("complaints", text_lines(f"{ROBO},2,{old}\n"), **META, age_out_days=30)
    page = text(mgr.get(f"/desk/numbers/{ROBO}"))
    assert "aged out: no longer counts, removed at the next sweep" in page and "<dt>Counted until</dt>" in page
    assert "A bulk feed lists it, though" not in page  # the screen lets it through already


@pytest.mark.parametrize(("lang", "heading"), [("fi", "Massalistat"), ("zh", "批量名单"), ("af", "Massalyste")])
def test_the_feeds_pages_speak_the_reader_language(app: Any, mgr: Any, lang: str, heading: str) -> None:
    bl(app).import_feed("ftc-dnc", text_lines(FEED_CSV), **META, age_out_days=30)
    page = mgr.get("/desk/feeds", headers={"Accept-Language": lang}).get_data(as_text=True)
    assert f'<html lang="{lang}">' in page and f"<h1>{heading}</h1>" in page
    assert "<code>ivr feeds import NAME FILE</code>" in page  # the command shown as code, not as escaped text
    number = mgr.get(f"/desk/numbers/{ROBO}", headers={"Accept-Language": lang}).get_data(as_text=True)
    assert "Listed by bulk feeds" not in number and "ftc-dnc" in number
