"""What every part of the reports shares: the report names, the event types they count, constants, and the atomic file write."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("ivr.reports")
# A decode_responses=True client: its replies are str, which redis-py's annotations (bytes | str) cannot say.
Store = Any
DAY_MS = 86_400_000
RETURN_DAYS = (1, 7, 30)  # deterrence: did the caller call again within this many days
EXPOSURES = ("isolation", "reject", "linefault", "hangup")  # treatments whose effect is measured
# High-volume event types that expire with the retention window; every other type is also copied into
# the long-term stream (unknown future types too: kept is the safe default). A call's status is kept
# when the call was flagged or isolated (its duration belongs in the evidence pack).
EXPIRING = ("call", "overflow")
TRIM_MARGIN_MS = 3_600_000  # tolerated skew between the app's `ts` and Redis' stream-ID clock
SHORT_STATE_TTL_S = 2 * 86400  # notable-call / call-status markers live this long after their fold
PAUSE_MS = 300_000  # a rebuild pauses incremental folds at most this long while it swaps
DEFAULT_BATCH = 2000
MAX_WATCH_RETRIES = 50
REPORTS = ("frequency", "sources", "offenders", "deterrence", "agents", "withheld", "difficult", "signals")
MOVE_TYPES = ("escalate", "warn", "callback", "overflow", "callback_result")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DIMENSIONS = (  # source dimension -> event field (phonenumbers' facts, then Twilio's geography)
    ("region", "region"),
    ("line_type", "line_type"),
    ("carrier", "carrier"),
    ("country", "FromCountry"),
    ("state", "FromState"),
    ("city", "FromCity"),
    ("stir", "StirVerstat"),
)
_E164 = re.compile(r"^\+[1-9][0-9]{4,14}$")
_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_FIELD_SAFE = re.compile(r"[|\x00-\x1f]")


def write_atomic(path: Path, data: bytes) -> Path:
    """Write a report or evidence file so that a reader never sees half of it (a rename is atomic)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path
