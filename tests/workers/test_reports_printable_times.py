"""The printable report writes each time once, as people read it, in the report's zone: the withheld
log has one time column whose heading names the zone (no "UTC" copy beside it, even when the zone is UTC), and
the page says when it was made in the same format as the desk and the command line."""

from __future__ import annotations

import re

import pytest
import redis
from lxml import html as lxml_html

from tests.support.events import DAY, T0, Events
from workers import reports

SECOND_FLAG = T0 + 2 * DAY + 5000  # 5 Mar 2025, 00:00:05 UTC


def printed(redis_conn: redis.Redis, zone: str) -> lxml_html.HtmlElement:
    rs = reports.ReportSettings(timezone=zone)
    ev = Events(redis_conn)
    ev.call(T0 + 2 * DAY, "anonymous", sid="CA4")
    ev.flag(SECOND_FLAG, "anonymous", "CA4", agent="client:bob")
    reports.fold(redis_conn, settings=rs)
    q = reports.Query.build(start="2025-03-01", end="2025-03-31", settings=rs)
    return lxml_html.fromstring(reports.render_html(reports.summary(redis_conn, q)))


def withheld_table(page: lxml_html.HtmlElement) -> lxml_html.HtmlElement:
    (heading,) = page.xpath("//h2[normalize-space()='Withheld-ID log']")
    return heading.xpath("following::table[1]")[0]


@pytest.mark.parametrize(("zone", "shown"), [("UTC", "5 Mar 2025, 00:00:05"),
                                             ("Europe/Helsinki", "5 Mar 2025, 02:00:05")])
def test_the_withheld_log_shows_each_time_once_in_the_reports_zone(redis_conn: redis.Redis, zone: str,
                                                                    shown: str) -> None:
    table = withheld_table(printed(redis_conn, zone))
    assert [th.text_content() for th in table.xpath(".//thead//th")] == [f"Time ({zone})", "Line", "CallSid",
                                                                         "Agent"]
    (row,) = table.xpath(".//tbody/tr")
    cells = [td.text_content() for td in row.xpath("td")]
    assert cells[0] == shown and "CA4" in cells
    assert row.xpath("td[1]/@data-label") == [f"Time ({zone})"]  # the phone's stacked card names the zone too
    text = " ".join(cells)
    assert not re.search(r"\d{4}-\d\d-\d\dT", text) and "UTC" not in text  # no ISO copy, no second time


def test_the_page_says_when_it_was_made_as_people_read_times(redis_conn: redis.Redis) -> None:
    page = printed(redis_conn, "Europe/Helsinki")
    meta = " ".join(page.xpath("//div[@class='meta']")[0].text_content().split())
    made = re.search(r"generated (\d+ \w+ \d{4}, \d\d:\d\d (EET|EEST))", meta)
    assert made, meta
    assert "times in Europe/Helsinki" in meta and not re.search(r"\d{4}-\d\d-\d\dT", meta)
