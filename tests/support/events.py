"""Events written into the stream as the app writes them, and the reports' RQ jobs run at once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from blocklist import keys
from blocklist.numbers import describe
from workers.queues import REPORTS

DAY = 86_400_000
LINES = ("+18005551212", "+18005550000")
AGENTS = ("+15550001111", "client:alice", "client:bob")
T0 = int(datetime(2025, 3, 3, tzinfo=UTC).timestamp() * 1000)  # a Monday
NOW = T0 + 40 * DAY


def work(rq_conn: redis.Redis, queues: tuple[str, ...] = (REPORTS,)) -> SimpleWorker:
    """Run every queued job with a real SimpleWorker in burst mode (the JSON serializer, as deployed)."""
    worker = SimpleWorker(list(queues), connection=rq_conn, serializer=JSONSerializer)
    worker.work(burst=True, with_scheduler=False)
    return worker


class Events:
    """Writes events into the stream like the app does (explicit, increasing IDs from their ts)."""

    def __init__(self, r: redis.Redis) -> None:
        self.r = r
        self.last = (0, 0)
        self.written: list[tuple[str, dict[str, str]]] = []

    def add(self, type_: str, ts: int, **fields: Any) -> str:
        seq = self.last[1] + 1 if ts <= self.last[0] else 0
        ms = max(ts, self.last[0])
        self.last = (ms, seq)
        event = {"type": type_, "ts": str(ts), **{k: "" if v is None else str(v) for k, v in fields.items()}}
        event_id = self.r.xadd(keys.EVENTS, event, id=f"{ms}-{seq}")
        self.written.append((event_id, event))
        return event_id

    def call(self, ts: int, number: str, line: str = LINES[0], sid: str = "", decision: str = "allow",
             rule: str = "none", treatment: str = "", **geo: Any) -> str:
        region, kind, carrier = describe(number)
        return self.add("call", ts, call_sid=sid or f"CA{ts}{number[-4:]}", number=number, line=line,
                        decision=decision, rule=rule, treatment=treatment, region=region, line_type=kind,
                        carrier=carrier, **geo)

    def flag(self, ts: int, number: str, sid: str, line: str = LINES[0], agent: str = AGENTS[0], via: str = "key",
             **geo: Any) -> str:
        region, kind, carrier = describe(number)
        return self.add("flag", ts, call_sid=sid, number=number, line=line, via=via, agent=agent, reason="abuse",
                        note="swore at agent", blocked="0" if number == "anonymous" else "1", until="", step="1",
                        region=region, line_type=kind, carrier=carrier, **geo)
