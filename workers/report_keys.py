"""Redis key names of the report aggregates (`ivr:agg:...`) and the long-term event stream, in one place.

A bucket is `ivr:agg:<family>:<scope>:<period>`: scope `*` (every line) or a line's E.164 number,
period a day `YYYY-MM-DD`, a month `YYYY-MM` or a year `YYYY` in the report time zone.
"""

from __future__ import annotations

AGG = "ivr:agg"
KEPT = "ivr:events:kept"  # stream: flag/isolation/block/unblock/... copies, kept until an audited erasure
STATE = f"{AGG}:state"  # hash: cursor, epoch, frozen_before, min_day, max_day, pause_until, rebuild_needed
LINES = f"{AGG}:lines"  # set of every line (To number) seen in an event
ALL_LINES = "*"  # scope of the totals over every line

# Families. Hashes and sorted sets roll up into months and years; day-only families do not.
COUNTS = "c"  # hash: event counters of a period (per type, rule, treatment, deterrence...)
HOURS = "h"  # hash: "<weekday>|<hour>|<metric>" -> n (heat map)
SOURCES = "s"  # hash: "<dimension>|<value>|<metric>" -> n (region, line type, carrier, STIR...)
AGENTS = "a"  # hash: "<agent>|<hour>" -> flags (shifts are applied at query time)
NUM_FLAGS = "nf"  # zset: number -> flags
NUM_TREATED = "nt"  # zset: number -> calls treated at the door
NUM_BLOCKED = "nb"  # zset: number -> calls attempted while the number was blocked
PREFIX_FLAGS = "pf"  # zset: prefix (number without its last 4 digits) -> flags
PREFIX_TREATED = "pt"  # zset: prefix -> calls treated at the door
MOVES = "m"  # hash: "<move>|<hour>" and "<move>|agent|<agent>" -> n (escalate, warn, callback, overflow:...)
WITHHELD = "wh"  # zset (day only): "<ts>|<line>|<CallSid>|<agent>" -> ts of each flagged withheld call

HASH_FAMILIES = (COUNTS, HOURS, SOURCES, AGENTS, MOVES)
ZSET_FAMILIES = (NUM_FLAGS, NUM_TREATED, NUM_BLOCKED, PREFIX_FLAGS, PREFIX_TREATED)
NUMBER_FAMILIES = {NUM_FLAGS: PREFIX_FLAGS, NUM_TREATED: PREFIX_TREATED, NUM_BLOCKED: ""}  # number zset -> its prefix zset
ROLLED_UP = HASH_FAMILIES + ZSET_FAMILIES
DAY_ONLY = (WITHHELD,)
ALL_FAMILIES = ROLLED_UP + DAY_ONLY

FOLD_JOB_ID = "ivr-reports-fold"  # deterministic: a burst of flags enqueues at most one pending fold
REBUILD_JOB_ID = "ivr-reports-rebuild"


def bucket(family: str, scope: str, period: str, namespace: str = AGG) -> str:
    """One aggregate bucket; `namespace` is AGG, or a rebuild's private namespace."""
    return f"{namespace}:{family}:{scope}:{period}"


def det(namespace: str = AGG) -> str:
    """Hash number -> the caller's last unanswered treatment ("kind|ts|line|CallSid"), for deterrence."""
    return f"{namespace}:det"


def rebuild_namespace(token: str) -> str:
    """Private namespace a rebuild writes into before it swaps its keys in."""
    return f"{AGG}:tmp:{token}"


def query_temp(token: str) -> str:
    """Short-lived union of sorted sets built by one report query."""
    return f"{AGG}:q:{token}"


def notable(call_sid: str) -> str:
    """Marks a call that was flagged or isolated: its status (duration) is kept long-term."""
    return f"{AGG}:notable:{call_sid}"


def call_status(call_sid: str) -> str:
    """A call's end status ("status|duration") until a late flag may want it for the evidence pack."""
    return f"{AGG}:status:{call_sid}"
