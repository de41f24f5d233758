"""Every Redis key the product uses, in one place. Prefix `ivr:`; never `rq:*`."""

from __future__ import annotations

PREFIX = "ivr"
GLOBAL = "*"  # scope of entries that apply to every line


def _k(*parts: str) -> str:
    return ":".join((PREFIX, *parts))


# Screening data
ALLOW = _k("allow")  # hash  "<scope>|<e164>" -> JSON meta
PREFIXES = _k("prefix")  # hash  "<scope>|<prefix>" -> JSON {treatment, reason, ...}
# set of the lengths (with the "+") that prefix rules have, and the member PREFIX_LENGTHS_COMPLETE once it
# was built from every rule: the screen then looks up only those lengths, and every length before. Added
# with every rule, never removed with one (a length no rule has any more costs two lookups, never a miss).
PREFIX_LENGTHS = _k("prefix", "lengths")
PREFIX_LENGTHS_COMPLETE = "indexed"
ALLOW_INDEX = _k("allow", "index")  # zset of "<scope>|<e164>" by time added (listing)
BLOCK_INDEX = _k("block", "index")  # zset of "<scope>|<e164>" by time blocked (listing)
SETTINGS = _k("settings")  # hash of global policy overrides made by managers
REVIEW = _k("review")  # zset "<scope>|<subject>" -> last burst time
REVIEW_INFO = _k("review", "info")  # hash "<scope>|<subject>" -> JSON
STRIKES = _k("strikes")  # hash e164 -> flags that led to a block (sanction ladder step)
EVENTS = _k("events")  # stream: the append-only event log (reports fold it)
AUDIT = _k("audit")  # stream: manager actions
COUNTERS = _k("counters")
AGENTS_ONLINE = _k("agents", "online")  # zset identity -> last time its leg asked for a caller
ESCALATIONS = _k("escalations")  # zset caller CallSid -> time escalated (supervisors' queue view)
CALLBACKS = _k("callbacks")  # zset callback id -> due time  # hash of operational counters (fail-open, REST failures...)


def block(scope: str, number: str) -> str:
    """Hash of one active block; expires by itself (PEXPIREAT) unless permanent."""
    return _k("block", scope, number)


def history(number: str) -> str:
    """List (append-only) of everything that ever happened to a number: flags, blocks, unblocks."""
    return _k("hist", number)


def line(line_number: str) -> str:
    """Hash of one line's overrides (treatment, withheld policy, language, burst...)."""
    return _k("line", line_number)


def burst(scope: str, subject: str) -> str:
    """Sorted set of recent call times of one caller (sliding window of the burst rule)."""
    return _k("burst", scope, subject)


def call(call_sid: str) -> str:
    """Hash of one call leg (caller or agent): who, which line, state, pairing."""
    return _k("call", call_sid)


def agent_leg(call_sid: str) -> str:
    """Hash of one agent leg: identity, current and last caller."""
    return _k("agentleg", call_sid)


def agent_current_leg(identity: str) -> str:
    """String: the CallSid of the latest leg an agent identity connected with (desk live view)."""
    return _k("agent", identity, "leg")


def escalation(caller_sid: str) -> str:
    """Hash of one escalation: who escalated, note, when; the supervisor reads it."""
    return _k("escalation", caller_sid)


def callback(callback_id: str) -> str:
    """Hash of one scheduled callback: number, line, due time, attempts, outcome."""
    return _k("callback", callback_id)


def flag_once(call_sid: str) -> str:
    """Set once per flagged call: makes key flag + desk flag one flag."""
    return _k("flagged", call_sid)


def decision(caller_sid: str) -> str:
    """What the agent chose after `*` for a held caller: isolate | resume | end."""
    return _k("decision", caller_sid)


def import_lock(kind: str) -> str:
    """String held while a CSV import of one list (blocklist | allowlist) writes: one import at a time."""
    return _k("import", kind, "lock")


def fail_open_log() -> str:
    return _k("failopen")
