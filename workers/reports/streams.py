"""Reading the event streams: the live one and the long-term copy, merged in time order."""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from blocklist import keys
from blocklist.keys import Agg as rk
from workers.reports.clock import _id
from workers.reports.common import Store


def scan_stream(r: Store, stream: str, start: str = "-", end: str = "+",
                count: int = 5000) -> Iterator[tuple[str, dict[str, str]]]:
    """Every entry of a stream between two IDs (inclusive), in ID order, a page at a time."""
    low = start
    while True:
        chunk = r.xrange(stream, min=low, max=end, count=count)
        yield from chunk
        if len(chunk) < count:
            return
        low = "(" + chunk[-1][0]


def merged_events(r: Store, start: str = "-", end: str = "+",
                  count: int = 5000) -> Iterator[tuple[str, dict[str, str]]]:
    """The live stream and the long-term copies merged in ID order, each event once."""
    main = scan_stream(r, keys.EVENTS, start, end, count)
    kept = scan_stream(r, rk.KEPT, start, end, count)
    last = ""
    for event_id, ev in heapq.merge(main, kept, key=lambda item: _id(item[0])):
        if event_id != last:  # a kept copy has its original's ID; the original comes first
            last = event_id
            yield event_id, ev


def events_of(r: Store, number: str) -> list[tuple[str, dict[str, str]]]:
    """Every stored event of one number, plus its calls' events that carry no number (status)."""
    sids: set[str] = set()
    out = []
    for event_id, ev in merged_events(r):
        caller = ev.get("number", "")
        sid = ev.get("call_sid", "")
        if caller == number:
            out.append((event_id, ev))
            if sid:
                sids.add(sid)
        elif not caller and sid and sid in sids:
            out.append((event_id, ev))
    return out
