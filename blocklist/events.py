"""The shape of every record the product appends to its two streams, in one place.

`ivr:events` (keys.EVENTS) is the append-only log of what happened on the line; the reports fold it
(workers/reports), the evidence pack and the dry run read it. `ivr:audit` (keys.AUDIT) records what
people did (managers, agents, the service token, the command line). Every field is a string.

Python writers go through `event()` and `audit()`, which refuse a type or a field not listed here.
Three writers are Lua, because they decide and write in one round trip; they follow the same lists:
`call` and `campaign` (blocklist/screen.lua), `flag` (blocklist/flag.lua), `status` and `isolation` (blocklist/calls.py).
"""

from __future__ import annotations

from typing import Any

from blocklist import keys
from blocklist.clock import now_ms
from blocklist.text import clean_text

# Twilio's facts about a caller (phonenumbers' and the voice webhook's), on `call` and `flag` events.
CALLER_FACTS = ("region", "line_type", "carrier", "FromCity", "FromState", "FromZip", "FromCountry", "StirVerstat",
                "CallerName", "from_raw", "overflow", "lang", "callback")

# type -> the fields it may carry besides `type` and `ts` (every event has both).
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    # the screen's decision at the door (screen.lua)
    # `attest` (A/B/C/failed/unsigned), `rep`/`rep_by` (add-on score and which), `campaign` (the exchange when
    # the call is part of a campaign), `feed` (the bulk feed that listed the caller), `detail` (the deciding rule's
    # words, with its value): the caller signals
    "call": ("call_sid", "number", "line", "decision", "rule", "treatment", "attest", "rep", "rep_by", "campaign",
             "feed", "detail", *CALLER_FACTS),
    # many numbers of one exchange called one line within the window (screen.lua, once per campaign)
    "campaign": ("line", "prefix", "numbers", "minutes", "first", "action", "call_sid"),
    # an agent flagged the call (flag.lua); `blocked`/`until`/`step`: the sanction ladder's block
    # `category`: the abuse category (blocklist/abuse.py; older flags have none: read with abuse.category(..., default))
    "flag": ("call_sid", "number", "line", "via", "agent", "reason", "note", "blocked", "until", "step", "category",
             *CALLER_FACTS),
    # a bulk feed imported (a new version swapped in) or deleted (blocklist/feeds.py)
    "feed": ("feed", "action", "by", "entries", "source", "version"),
    # a block made or lifted by hand (`line` empty: every line)
    "block": ("number", "line", "by", "reason", "until"),
    "unblock": ("number", "line", "by", "reason"),
    # the call ended (status callback; calls.py)
    "status": ("call_sid", "number", "line", "status", "duration", "kind"),
    # isolation played to the end (complete) or abandoned (calls.py)
    "isolation": ("call_sid", "number", "line", "outcome", "seconds"),
    # difficult-caller moves (ivr routing): escalate to a supervisor, the limit warning, a call back agreed
    # `category`: the abuse category when the agent gave one (the phone keys give none); `on_record`: the number's
    # warnings across calls, this one included
    "escalate": ("call_sid", "number", "line", "agent", "note", "via", "category"),
    "warn": ("call_sid", "number", "line", "agent", "note", "via", "warning", "ended", "category", "on_record"),
    "callback": ("call_sid", "number", "line", "agent", "note", "via", "status", "due", "category"),
    # what became of a call back (workers/callbacks, the call back's status callback)
    "callback_result": ("call_sid", "number", "line", "callback", "status", "attempts", "reason", "error",
                        "outcome"),
    # a caller let go by the line: long wait, closed, no agent
    "overflow": ("call_sid", "number", "line", "reason"),
    # an agent crossed an exposure limit (blocklist/exposure.py, wellbeing.lua): `agent` the desk user (else the
    # phone), `reason` shift | week, the counts, the limit, the break's end and the supervisor's check-in id
    "wellbeing_break": ("agent", "identity", "reason", "shift", "week", "limit", "shift_start", "until", "checkin"),
    # the agent pressed `*` and then chose no move (back to the caller): the unreported-abuse hint counts these
    "menu_open": ("call_sid", "number", "line", "agent", "digits"),
}

# Every audit record carries these fields; a few actions carry more (AUDIT_EXTRA).
AUDIT_FIELDS = ("ts", "by", "role", "action", "number", "scope", "subject", "reason")
AUDIT_EXTRA: dict[str, tuple[str, ...]] = {
    "erase": ("number_sha256", "events"),  # the erased number is kept masked, and its hash for the request's file
    # how long a block made or changed by hand lasts ('7d', or 'permanent') and its end (ms; '' when permanent)
    "block": ("lasts", "until"),
    "temporary": ("lasts", "until"),
    "permanent": ("lasts", "until"),
    "feed_import": ("entries", "replaced"),  # numbers in the new version; in the one it replaced
    "feed_delete": ("entries", "replaced"),
    # bulk-imported manager blocks moved into a feed (blocklist/feed_adopt.py): how many moved, how many stayed
    # manager blocks, and the numbers in the feed after
    "feed_adopt": ("adopted", "left", "entries"),
    # a contact restriction made, reviewed (kept to a new review date) or removed (blocklist/restrictions.py): which
    # one, in words, its end (ms; '' none) and its review date (ms)
    "restrict": ("restriction", "until", "review"),
    "restrict_kept": ("restriction", "until", "review"),
    "unrestrict": ("restriction", "until", "review"),
}
AUDIT_REASON_CHARS = 500

# What each action of the audit log and of a number's history is called on every page and export that
# people read (the records keep the short names: reports, filters and old records rely on them).
ACTION_WORDS: dict[str, str] = {
    "block": "blocked",
    "unblock": "unblocked",
    "flag": "flagged by an agent",
    "warn": "warned (the polite limit)",
    "expire": "block ended",
    "permanent": "made permanent",
    "temporary": "made temporary",
    "edit": "block changed",
    "allow": "allowlisted",
    "disallow": "removed from the allowlist",
    "add_prefix": "range rule added",
    "remove_prefix": "range rule removed",
    "setting": "setting changed",
    "erase": "number erased",
    "feed_import": "feed imported",
    "feed_delete": "feed deleted",
    "feed_remove": "taken out of a feed",
    "feed_adopt": "moved into a feed",
    "evidence_export": "evidence pack downloaded",
    "evidence_file": "FTC complaint, traceback request or warning letter downloaded",  # the file is the subject
    "withheld_note": "withheld call noted",
    "wellbeing_checkin": "checked in with an agent after a difficult shift",
    "user_create": "desk user created",
    "user_role": "role changed",
    "user_password": "password reset",
    "user_disable": "desk user disabled",
    "user_enable": "desk user enabled",
    "user_phones": "phones changed",
    "user_language": "desk language changed",
    "token_create": "API token made",
    "token_revoke": "API token revoked",
    "prompt_install": "recording installed",
    "prompt_remove": "recording removed",
    # contact restrictions (blocklist/restrictions.py); `restrict_review` and `restrict_end` are written by the cron
    "restrict": "contact restricted",
    "restrict_kept": "restriction reviewed and kept",
    "unrestrict": "contact restriction removed",
    "restrict_review": "restriction up for review",
    "restrict_end": "contact restriction ended",
    "voicemail": "voicemail left",
}


def action_words(action: str) -> str:
    """The plain words for an audit or history action ('user_create' -> 'desk user created')."""
    return ACTION_WORDS.get(action, action.replace("_", " "))


def event_fields(type_: str, **fields: Any) -> dict[str, str]:
    """The stream entry of one event, checked against EVENT_FIELDS (ValueError for anything else)."""
    allowed = EVENT_FIELDS.get(type_)
    if allowed is None:
        raise ValueError(f"unknown event type {type_!r}: add it to blocklist/events.py EVENT_FIELDS")
    unknown = sorted(set(fields) - set(allowed) - {"ts"})
    if unknown:
        raise ValueError(f"event {type_!r} has no field {', '.join(unknown)}: add it to EVENT_FIELDS if it belongs")
    ts = fields.pop("ts", None)
    return {"type": type_, "ts": str(ts if ts is not None else now_ms()),
            **{k: "" if v is None else str(v) for k, v in fields.items()}}


def event(pipe: Any, type_: str, **fields: Any) -> None:
    """Append one event to the event stream on `pipe` (a pipeline or a client)."""
    pipe.xadd(keys.EVENTS, event_fields(type_, **fields))


def audit(pipe: Any, *, by: str, role: str, action: str, number: str = "", scope: str = "", subject: str = "",
          reason: str = "", ts: int | None = None, **extra: Any) -> None:
    """Append one audit record on `pipe`: who did what to which number, line or user, and why."""
    unknown = sorted(set(extra) - set(AUDIT_EXTRA.get(action, ())))
    if unknown:
        raise ValueError(f"audit {action!r} has no field {', '.join(unknown)}: add it to AUDIT_EXTRA if it belongs")
    pipe.xadd(keys.AUDIT, {"ts": str(ts if ts is not None else now_ms()), "by": clean_text(by), "role": role,
                           "action": action, "number": number, "scope": scope, "subject": clean_text(subject),
                           "reason": clean_text(reason, AUDIT_REASON_CHARS), **{k: str(v) for k, v in extra.items()}})
