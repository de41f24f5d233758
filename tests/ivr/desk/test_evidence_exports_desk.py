"""The number page's three export links, followed as a manager follows them: the FTC complaint CSV, the traceback
request and the warning letter, each the pack's own bytes with its Repr-Digest; audited; refused to agents; a
desk error page (not a file) when there is nothing to export."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile
from typing import Any

import redis

from tests.support import callflow as cf
from tests.support.constants import AGENT, CUSTOMER, HARASSER
from tests.support.desk import logged_in

LINK_TEXTS = ("FTC complaint (CSV)", "Carrier traceback request (CSV)", "Warning letter (text)")


def export_links(page: str) -> dict[str, str]:
    """The export links of a number page: their words -> their addresses."""
    block = page.split('class="evidence-exports"', 1)[1].split("</p>", 1)[0]
    return {words: href.replace("&amp;", "&") for href, words in re.findall(r'<a href="([^"]+)">([^<]+)</a>', block)}


def test_the_number_page_links_each_export_and_each_is_the_packs_file(app: Any, twilio: Any,
                                                                     redis_conn: redis.Redis) -> None:
    caller = cf.place_call(twilio, HARASSER)
    agent = cf.agent_connects(twilio, AGENT)
    cf.bridge(twilio, agent, caller)
    after = cf.bridge_ends(twilio, agent, caller)
    cf.held_poll(twilio, caller)
    cf.press(twilio, agent, after, "9")  # flagged: there is something to export
    manager = logged_in(app)
    page = manager.get(f"/desk/numbers/{HARASSER}").get_data(as_text=True)
    links = export_links(page)
    assert tuple(links) == LINK_TEXTS
    archive = zipfile.ZipFile(io.BytesIO(manager.get(f"/desk/numbers/{HARASSER}/evidence.zip").get_data()))
    folder = archive.namelist()[0].split("/")[0]
    sums = dict(reversed(line.split("  ")) for line in archive.read(f"{folder}/SHA256SUMS").decode().splitlines())
    for words, name, media in zip(LINK_TEXTS, ("ftc_complaint.csv", "traceback_request.csv", "warning_letter.txt"),
                                  ("text/csv", "text/csv", "text/plain"), strict=True):
        response = manager.get(links[words])
        assert response.status_code == 200 and response.mimetype == media, words
        body = response.get_data()
        assert body == archive.read(f"{folder}/{name}")
        digest = base64.b64decode(response.headers["Repr-Digest"].removeprefix("sha-256=:").removesuffix(":"))
        assert digest.hex() == hashlib.sha256(body).hexdigest() == sums[name]
        assert "attachment" in response.headers["Content-Disposition"]
    audit = [e for _i, e in redis_conn.xrange("ivr:audit") if e["action"] == "evidence_file"]
    assert [(e["by"], e["subject"]) for e in audit] == [("max", "ftc_complaint.csv"), ("max", "traceback_request.csv"),
                                                        ("max", "warning_letter.txt")]
    assert "FTC complaint, traceback request or warning letter downloaded" in \
        manager.get("/desk/audit").get_data(as_text=True)

    agent_desk = logged_in(app, "ann", "agent")
    assert agent_desk.get(links[LINK_TEXTS[0]]).status_code == 403


def test_nothing_to_export_is_a_desk_page_that_says_why(app: Any, twilio: Any) -> None:
    cf.place_call(twilio, CUSTOMER)  # an ordinary call: never flagged nor treated
    manager = logged_in(app)
    links = export_links(manager.get(f"/desk/numbers/{CUSTOMER}").get_data(as_text=True))
    refused = manager.get(links[LINK_TEXTS[2]])
    assert refused.status_code == 404 and refused.mimetype == "text/html"
    assert "nothing to complain about, trace or warn about yet" in refused.get_data(as_text=True)
    wrong = manager.get(links[LINK_TEXTS[0]].replace("/export/ftc", "/export/fax"))
    assert wrong.status_code == 400 and "use one of ftc, traceback, letter" in wrong.get_data(as_text=True)
