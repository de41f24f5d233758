"""The OpenAPI 3.0 description of the JSON API, served at GET /api/openapi.json (public, no token).

Every /api route of the app is described here; tests/test_openapi.py fails when a route is added
without its description, and runs schemathesis against this document.
"""

from __future__ import annotations

import copy
from functools import cache
from importlib import metadata
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

import prompts
from blocklist import abuse
from blocklist.calls import CALL_SID
from blocklist.policy import LINE_SETTINGS, TREATMENTS
from ivr.moves.difficult import MOVES
from ivr.problems import PROBLEM_JSON
from workers.reports import REPORTS

bp = Blueprint("openapi", __name__)
OPENAPI_VERSION = "3.0.3"
Schema = dict[str, Any]

# ---- reusable pieces ----------------------------------------------------------------------------------
STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
BOOLEAN: Schema = {"type": "boolean"}
OBJECT: Schema = {"type": "object"}
NULLABLE_INT: Schema = {"type": "integer", "nullable": True}
SID_PATTERN = CALL_SID.pattern
LINE_TEXT: Schema = {"type": "string", "format": "line", "maxLength": 64, "example": "+18005551212",
                     "description": "a line (the To number); empty or '*' for all lines"}
DURATION: Schema = {"type": "string", "minLength": 2, "maxLength": 40, "pattern": r"^[0-9]+(\.[0-9]+)? ?[smhdw]",
                    "example": "7d",
                    "description": "a length of time with its unit: 90s, 15m, 24h, 7d or 2w (also 1h30m, 2 weeks); "
                                   "a bare number such as 3 is refused (seconds or days?), and so is an empty text"}
PREFIX: Schema = {"type": "string", "pattern": r"^\+[1-9][0-9]{0,14}$", "maxLength": 16,
                  "example": "+4420794", "description": "'+' and the leading digits of the numbers it covers"}
NUMBER_TEXT: Schema = {"type": "string", "format": "phone", "minLength": 1, "maxLength": 64,
                       "description": "A phone number in any usual form (normalised to E.164), e.g. +14155550123",
                       "example": "+14155550123"}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


# The abuse taxonomy (blocklist/abuse.py): what a flag or a move records, and what a request may send.
CATEGORY: dict[str, Any] = {"type": "string", "enum": list(abuse.KEYS)}
CATEGORY_IN: dict[str, Any] = {**CATEGORY, "description": "the kind of abuse: " + "; ".join(
    f"{c.key} ({c.words})" for c in abuse.CATEGORIES) + ". Anything else is refused (400 unknown_category)."}
WARNINGS_ON_RECORD: dict[str, Any] = {
    "warnings_on_record": {"type": "integer", "description": "limit-setting warnings (the polite limit) the number "
                                                            "has had, across calls"},
    "offer_restriction_or_block": {"type": "boolean", "description": "IVR_WARNINGS_BEFORE_OFFER reached: offer the "
                                                                     "manager a contact restriction or a block"},
}


def obj(properties: dict[str, Schema], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    out: Schema = {"type": "object", "properties": properties, **extra}
    if required:
        out["required"] = list(required)
    return out


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def json_content(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def ok(description: str, schema: Schema, media: str = "application/json") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema}}}


def path_param(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def query(name: str, schema: Schema, description: str, required: bool = False) -> Schema:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def json_body(schema: Schema, required: bool = True, description: str = "") -> Schema:
    body: Schema = {"required": required, "content": json_content(schema)}
    if description:
        body["description"] = description
    return body


ERRORS = {
    400: ("BadRequest", "The input is wrong; `detail` says what to send instead. Nothing was changed."),
    401: ("Unauthorized", "No or an unknown bearer token (or no desk session)."),
    403: ("Forbidden", "The principal's role is too low, the call is not the agent's own caller, or a desk "
                       "session sent no CSRF token."),
    404: ("NotFound", "The call, number, rule or prompt is not there. Nothing was changed."),
    409: ("Conflict", "Another import of the same list is running; `detail` names who started it and when. "
                      "Nothing was changed: retry when it is done."),
    413: ("TooLarge", "The body is larger than IVR_MAX_BODY_BYTES (a CSV import: IVR_IMPORT_MAX_BYTES)."),
    500: ("Internal", "An error the service did not expect; it is logged under `request_id`. Retry; if it happens "
                      "again, give the operator the `request_id`."),
    503: ("StoreUnavailable", "Redis is unreachable (or the service is busy); nothing was changed. Retry after the "
                              "Retry-After seconds."),
}
AUTH_ERRORS = (401, 403, 503)  # every authenticated route reads Redis
ALWAYS_ERRORS = (500,)  # any route can meet an error nobody expected


def op(summary: str, tag: str, operation_id: str, responses: dict[int, dict[str, Any]], *,
       errors: tuple[int, ...] = (), params: tuple[Schema, ...] = (), body: Schema | None = None,
       description: str = "", public: bool = False) -> Schema:
    """One operation; the error responses named in `errors` (plus 500, and 401/403/503 unless public) share one
    schema, the RFC 9457 Problem.

    A summary ending in (manager) or (admin) names the least role allowed; `x-role` says it for machines.
    """
    out: Schema = {"summary": summary, "operationId": operation_id, "tags": [tag]}
    if not public:  # the least role that may call it, also machine-readable
        out["x-role"] = next((r for r in ("admin", "manager") if summary.endswith(f"({r})")), "agent")
    if description:
        out["description"] = description
    if params:
        out["parameters"] = list(params)
    if body is not None:
        out["requestBody"] = body
    codes: dict[str, Any] = {str(code): resp for code, resp in responses.items()}
    for code in sorted({*errors, *ALWAYS_ERRORS, *(() if public else AUTH_ERRORS)}):
        codes[str(code)] = {"$ref": f"#/components/responses/{ERRORS[code][0]}"}
    out["responses"] = codes
    if public:
        out["security"] = []
    return out


# ---- schemas --------------------------------------------------------------------------------------
def _schemas() -> dict[str, Schema]:
    treatment_or_default = {"type": "string", "enum": ["", *TREATMENTS],
                            "description": "'' means the line's default treatment"}
    block = obj({
        "number": STRING, "scope": {"type": "string", "description": "'*' for all lines, else the line's E.164"},
        "treatment": STRING, "reason": STRING, "by": STRING, "at": INTEGER, "until_ms": NULLABLE_INT,
        "step": INTEGER, "via": STRING, "call_sid": STRING, "extra": OBJECT, "permanent": BOOLEAN,
        "until": {"type": "string", "description": "ISO 8601 UTC end of the block; '' when permanent"},
        "blocked_at": {"type": "string", "description": "ISO 8601 UTC time the block was made"},
    }, ("number", "scope", "treatment", "reason", "at", "until_ms", "permanent"))
    history_item = obj({"action": STRING, "at": {"type": "number"}, "by": STRING, "reason": STRING,
                        "scope": STRING, "when": STRING,
                        "category": {"type": "string", "description": "flags and warnings: the abuse category "
                                                                      "(absent on records older than categories)"}},
                       ("action",))
    call_view = obj({
        "call_sid": STRING, "number": STRING, "line": STRING, "city": STRING, "state": STRING, "country": STRING,
        "started": NULLABLE_INT, "bridged_at": NULLABLE_INT, "ended": NULLABLE_INT,
        "screen": obj({"decision": STRING, "rule": STRING, "detail": STRING}),
        "flagged": BOOLEAN, "flag_via": STRING, "redirect": STRING, "isolation": STRING,
        "previous_flags": INTEGER, "blocks": array(ref("Block")), "history": array(ref("HistoryItem")),
        "previous_categories": array(obj({"category": CATEGORY, "flags": INTEGER}, ("category", "flags"))),
        "category": {"type": "string", "description": "this call's abuse category once flagged ('' none yet)"},
        "warnings_on_record": {"type": "integer", "description": "the number's limit-setting warnings, across calls"},
        "current": {"type": "boolean", "description": "only on /api/agents/{agent_sid}/call: still bridged"},
    }, ("call_sid", "number", "line", "flagged", "blocks", "history"))
    row_error = obj({"line": INTEGER, "reason": STRING}, ("line", "reason"))
    return {
        "Problem": obj({
            "type": {"type": "string", "example": "about:blank",
                     "description": "RFC 9457 problem type: about:blank (the status says the kind; `error` the "
                                    "exact one)"},
            "title": {"type": "string", "example": "Not Found", "description": "the HTTP status phrase"},
            "status": {"type": "integer", "example": 404, "description": "the HTTP status code, repeated"},
            "detail": {"type": "string", "description": "what went wrong and what to do, in the words the desk "
                                                        "shows"},
            "instance": {"type": "string", "example": "/api/blocklist/+14155550123",
                         "description": "the path that was asked for"},
            "error": {"type": "string", "example": "not_found",
                      "description": "a machine-readable code (kept from the earlier {error, detail} format), "
                                     "e.g. bad_request, not_found, unknown_call, import_running, store_unavailable"},
            "request_id": {"type": "string", "description": "500 only: the id the service's log has the error "
                                                            "under (the proxy's X-Request-ID when it sent one)"},
        }, ("type", "title", "status", "detail", "instance", "error"),
            description="An RFC 9457 problem (application/problem+json). Members this list does not name may "
                        "be added (a bad CSV import adds the ImportResult members); ignore those you do not know."),
        "Block": block,
        "HistoryItem": history_item,
        "CallView": call_view,
        "FlagResult": obj({
            "call_sid": STRING, "status": {"type": "string", "enum": ["flagged", "already_flagged"]},
            "number": STRING, "blocked": BOOLEAN, "until": NULLABLE_INT, "step": INTEGER,
            "caller": {"type": "string", "enum": ["in call", "gone"]},
            "redirect": {"type": "string", "enum": ["queued", "not needed", "none"]},
            "category": {**CATEGORY, "description": "the abuse category the new flag recorded (absent on a repeat)"},
        }, ("call_sid", "status", "number", "blocked", "until", "step", "caller", "redirect")),
        "MoveResult": obj({
            "call_sid": STRING, "move": {"type": "string", "enum": ["escalate", "warn", "end", "callback"]},
            "redirect": {"type": "string", "enum": ["queued", "not needed"]}, "detail": OBJECT,
            "category": {"type": "string", "enum": list(abuse.KEYS), "nullable": True,
                         "description": "the abuse category recorded with the move; null when none was given"},
        }, ("call_sid", "move", "redirect", "detail")),
        "Decision": obj({
            "number": STRING, "line": STRING, "decision": {"type": "string", "enum": ["allow", "treat"]},
            "rule": STRING, "treatment": STRING, "detail": STRING, "explain": STRING,
        }, ("number", "line", "decision", "rule", "treatment", "detail", "explain")),
        "AllowEntry": obj({"number": STRING, "scope": STRING, "by": STRING, "reason": STRING, "at": INTEGER},
                          ("number", "scope")),
        "PrefixRule": obj({"prefix": STRING, "scope": STRING, "treatment": treatment_or_default, "by": STRING,
                           "reason": STRING, "at": INTEGER}, ("prefix", "scope")),
        "LineSettings": obj({"line": STRING, "overrides": {"type": "object", "additionalProperties": STRING},
                             "effective": {"type": "object", "additionalProperties": STRING}},
                            ("line", "overrides", "effective")),
        "ImportResult": obj({
            "detail": STRING, "rows": INTEGER, "added": INTEGER, "changed": INTEGER, "unchanged": INTEGER,
            "written": BOOLEAN, "partial": BOOLEAN, "check_only": BOOLEAN, "errors": array(row_error),
            "skipped": array(row_error),
        }, ("detail", "rows", "added", "changed", "unchanged", "written", "partial", "check_only", "errors",
            "skipped")),
        "Prompt": obj({"lang": STRING, "prompt": STRING, "source": STRING,
                       "url": {"type": "string", "nullable": True}, "format": STRING},
                      ("lang", "prompt", "source", "url")),
        "Queued": obj({"queued": BOOLEAN, "job_id": STRING, "detail": STRING}, ("queued", "job_id")),
        **_feed_schemas(row_error),
        "Restriction": _restriction_schema(),
    }


def _restriction_schema() -> Schema:
    """A contact restriction (ivr/api/restrictions.py, blocklist/restrictions.py)."""
    fields: dict[str, Schema] = {
        "id": {"type": "string", "description": "6 letters and digits; names it to remove it"},
        "number": STRING, "scope": {"type": "string", "description": "'*' for all lines, else the line's E.164"},
        "kind": {"type": "string", "enum": ["hours", "max_calls", "route", "voicemail"]},
        "start_ms": INTEGER, "until_ms": NULLABLE_INT, "review_ms": INTEGER, "at": INTEGER,
        "reason": STRING, "by": STRING,
        "hours": {"type": "string", "description": "hours: the agreed days and times, e.g. Mon-Fri 09:00-12:00"},
        "max_calls": {"type": "integer", "description": "max_calls: how many calls (0 for other kinds)"},
        "period": {"type": "string", "enum": ["", "day", "week"]},
        "route": {"type": "string", "pattern": "^(|supervisor|team:[a-z0-9][a-z0-9_-]{0,29})$",
                  "description": "route: 'supervisor', or 'team:<name>' of a team of IVR_TEAMS"},
        "review_due": {"type": "boolean", "description": "its review date passed and it is on the review list"},
        "words": {"type": "string", "description": "what it allows, in words: 'hours Mon-Fri 09:00-12:00'"},
        "start": STRING, "until": {"type": "string", "description": "ISO 8601 UTC; '' when it has no end"},
        "review": STRING, "made": STRING,
    }
    return obj(fields, tuple(fields), description="A step short of a block a manager set on one number")


def _feed_schemas(row_error: Schema) -> dict[str, Schema]:
    """Bulk feeds (ivr/api/feeds.py): a feed's card, what an import did, one feed's listing of a number."""
    feed_fields: dict[str, Schema] = {
        "name": STRING, "source": STRING, "licence": STRING,
        "fetched_at": {"type": "integer", "description": "ms since 1970: when the list was fetched from its source"},
        "age_out_days": {"type": "integer", "description": "an entry stops counting this many days after its last "
                                                           "report; 0: never"},
        "treatment": {"type": "string", "enum": ["", *TREATMENTS], "description": "'' means the line's treatment "
                                                                                  "of blocked callers"},
        "scope": {"type": "string", "description": "'*' for all lines, else the line's E.164"},
        "version": STRING, "buckets": INTEGER, "entries": {"type": "integer", "description": "numbers in the feed"},
        "imported_at": INTEGER, "by": STRING,
        "removed": {"type": "integer", "description": "numbers taken out on appeal since the import"},
        "swept": {"type": "integer", "description": "aged-out numbers removed since the import"},
        "fetched": {"type": "string", "description": "fetched_at in ISO 8601 UTC"},
        "imported": {"type": "string", "description": "imported_at in ISO 8601 UTC"},
    }
    return {
        "Feed": obj(feed_fields, tuple(feed_fields),
                    description="A bulk feed: someone else's list of numbers (a carrier's, a regulator's), kept apart "
                                "from the managers' blocks"),
        "FeedImport": obj({
            "detail": STRING, "name": STRING, "rows": INTEGER,
            "entries": {"type": "integer", "description": "distinct numbers written (or, checked only, that would be)"},
            "duplicates": {"type": "integer", "description": "rows repeating a number (their reports are added up)"},
            "written": BOOLEAN, "partial": BOOLEAN, "check_only": BOOLEAN, "seconds": {"type": "number"},
            "replaced": {"type": "integer", "nullable": True,
                         "description": "numbers of the version this import replaced; null for a new feed"},
            "errors": array(row_error), "bad_rows": INTEGER,
        }, ("detail", "name", "rows", "entries", "duplicates", "written", "partial", "check_only", "seconds",
            "replaced", "errors", "bad_rows")),
        "FeedListing": obj({
            "feed": STRING, "number": STRING, "evidence": {"type": "integer", "description": "how many reports"},
            "seen_ms": INTEGER, "seen": {"type": "string", "description": "last reported, ISO 8601 UTC"},
            "until_ms": NULLABLE_INT,
            "until": {"type": "string", "description": "when it stops counting, ISO 8601 UTC; '' when never"},
            "active": {"type": "boolean", "description": "false: aged out (the screen ignores it) and waiting for "
                                                         "the sweeper"},
            "source": STRING, "treatment": STRING, "scope": STRING,
        }, ("feed", "number", "evidence", "seen_ms", "until_ms", "seen", "until", "active", "source", "treatment",
            "scope")),
    }


def _responses() -> dict[str, Any]:
    return {name: {"description": text, "content": {PROBLEM_JSON: {"schema": ref("Problem")}}}
            for name, text in ERRORS.values()}


# ---- parameters -----------------------------------------------------------------------------------
def _p_sid(name: str = "sid", what: str = "the caller's CallSid") -> Schema:
    return path_param(name, {"type": "string", "pattern": SID_PATTERN, "example": "CA" + "0" * 32},
                      f"{what}: CA and 32 hex digits")


P_NUMBER = path_param("number", NUMBER_TEXT, "the caller's number (URL-encode + as %2B)")
Q_LINE = query("line", LINE_TEXT, "a line's number (the To number); empty or '*' for all lines")
Q_BY = query("by", {"type": "string", "maxLength": 80}, "who does this (history and audit); default 'api'")
Q_START = query("start", {"type": "integer", "minimum": 0, "maximum": 10**9}, "offset of the first item")
Q_COUNT = query("count", {"type": "integer", "minimum": 0, "maximum": 1000}, "how many items (default 100)")
Q_PARTIAL = query("partial", {"type": "string", "enum": ["0", "1", "true", "false"]},
                  "1: import the good rows even when some are bad")
Q_CHECK_ONLY = query("check_only", {"type": "string", "enum": ["0", "1", "true", "false"]},
                     "1: write nothing; added/changed/unchanged/skipped say what the import would do")
REPORT_QUERY = (
    query("from", {"type": "string", "format": "date"}, "first day, YYYY-MM-DD (default: 29 days before `to`)"),
    query("to", {"type": "string", "format": "date"}, "last day, YYYY-MM-DD (default: today)"),
    Q_LINE,
    query("mask", {"type": "string", "enum": ["0", "1"]}, "1 hides the last digits of every number"),
)
TEXT_200: Schema = {"type": "string", "maxLength": 200}
REASON: Schema = {"type": "string", "pattern": r"\S", "maxLength": 200, "description": "why; goes into the history"}
TEXT_2000: Schema = {"type": "string", "maxLength": 2000}


def _csv_upload(what: str) -> Schema:
    return {"required": True, "description": f"the {what} CSV, as the body or as the multipart field `file`",
            "content": {"text/csv": {"schema": STRING},
                        "multipart/form-data": {"schema": obj({"file": {"type": "string", "format": "binary"}},
                                                              ("file",))}}}


CSV_DOWNLOAD = {"description": "a CSV file (imports back to the same state)",
                "content": {"text/csv": {"schema": STRING}}}


# ---- paths ------------------------------------------------------------------------------------------
def _call_paths() -> dict[str, Any]:
    # No `agent`: who acted is the token's owner (an agent acts only on callers bridged to their phones).
    note_agent = {"note": TEXT_2000}
    return {
        "/api/calls/{sid}": {"get": op(
            "One call as the desk shows it, with the number's blocks and history", "calls", "get_call",
            {200: ok("the call", ref("CallView"))}, errors=(400, 404), params=(_p_sid(),))},
        "/api/calls/{sid}/flag": {"post": op(
            "Flag a call as harassment: blocklist + event, the caller moved to isolation", "calls", "flag_call",
            {200: ok("the call was flagged before (nothing changed)", ref("FlagResult")),
             202: ok("flagged; the caller's move to isolation is queued", ref("FlagResult"))},
            errors=(400, 404, 413), params=(_p_sid(),),
            body=json_body(obj({"category": CATEGORY_IN,
                                "reason": {**TEXT_200, "description": "before categories: read as the category it "
                                                                      "names (threat, prank…), else other"},
                                **note_agent}), required=False))},
        "/api/calls/{sid}/{move}": {"post": op(
            "Escalate to a supervisor, set a polite limit (warn), or agree a call back", "calls", "move_call",
            {202: ok("done; the caller's live leg is being moved", ref("MoveResult"))},
            errors=(400, 404, 413),
            params=(_p_sid(), path_param("move", {"type": "string", "enum": list(MOVES)}, "the move")),
            body=json_body(obj({**note_agent, "category": CATEGORY_IN,
                                "delay_seconds": {"type": "integer", "minimum": 0, "maximum": 2592000,
                                                  "description": "callback: call back in this many seconds"},
                                "at": {"type": "string", "format": "date-time",
                                       "description": "callback: ISO time with zone"}}), required=False))},
        "/api/agents/{agent_sid}/call": {"get": op(
            "The caller bridged to an agent's phone leg, and the number's flag history", "calls", "agent_call",
            {200: ok("the agent leg and its caller (null when none yet)", obj({
                "agent_call_sid": STRING, "agent": STRING,
                "caller": {"allOf": [ref("CallView")], "nullable": True}},
                ("agent_call_sid", "agent", "caller")))},
            errors=(400, 404), params=(_p_sid("agent_sid", "the agent leg's CallSid"),))},
        "/api/supervisors/queue": {"get": op(
            "Escalated callers still on the line, with who escalated and the note", "calls", "supervisors_queue",
            {200: ok("the escalations", obj({"escalations": array(obj({"escalation": OBJECT,
                                                                      "call": ref("CallView")},
                                                                     ("escalation", "call")))},
                                            ("escalations",)))})},
        "/api/callbacks": {"get": op(
            "Scheduled call backs with their outcome, soonest first (manager)", "calls", "list_callbacks",
            {200: ok("the call backs", obj({"callbacks": array(OBJECT)}, ("callbacks",)))})},
    }


def _blocklist_paths() -> dict[str, Any]:
    blocks = obj({"blocks": array(ref("Block")), "start": INTEGER, "count": INTEGER}, ("blocks", "start", "count"))
    add_block = obj({
        "number": NUMBER_TEXT, "reason": REASON, "line": LINE_TEXT,
        "treatment": {"type": "string", "enum": ["", *TREATMENTS]},
        "duration": {**DURATION, "pattern": r"^([0-9]+(\.[0-9]+)? ?[smhdw]|permanent$)",
                     "description": DURATION["description"] + "; 'permanent' is the same as permanent: true"},
        "until": {"type": "string", "format": "date-time", "description": "end time with zone"},
        "permanent": BOOLEAN, "by": {"type": "string", "maxLength": 80},
    }, ("number", "reason"),
        description="give exactly one of duration, until, permanent: true; a block that never ends is asked for by "
                    "name (duration 'permanent' or permanent: true), and with no length at all nothing is blocked "
                    "(400)",
        anyOf=[{"required": ["duration"]}, {"required": ["until"]}, {"required": ["permanent"]}])
    unblock = obj({"reason": REASON, "line": LINE_TEXT, "forgive": BOOLEAN,
                   "by": {"type": "string", "maxLength": 80}}, ("reason",))
    change = obj({"reason": TEXT_200, "permanent": BOOLEAN,
                  "temporary": {**DURATION, "description": "the block ends this long from now: "
                                                           + DURATION["description"]},
                  "why": TEXT_200, "line": LINE_TEXT,
                  "by": {"type": "string", "maxLength": 80}})
    return {
        "/api/blocklist": {
            "get": op("Active blocks, newest first", "blocklist", "list_blocks",
                      {200: ok("one page of blocks", blocks)}, errors=(400,), params=(Q_LINE, Q_START, Q_COUNT)),
            "post": op("Block a number (manager)", "blocklist", "add_block",
                       {201: ok("blocked", obj({"block": ref("Block"), "explain": STRING}, ("block", "explain")))},
                       errors=(400, 413), params=(Q_BY,), body=json_body(add_block)),
        },
        "/api/blocklist/{number}": {
            "get": op("A number's active blocks in every scope, its ladder step and allowlist entries",
                      "blocklist", "show_block",
                      {200: ok("the blocks", obj({"number": STRING, "blocks": array(ref("Block")), "strikes": INTEGER,
                                                 "allowlist": array(ref("AllowEntry")), **WARNINGS_ON_RECORD},
                                                ("number", "blocks", "strikes", "allowlist")))},
                      errors=(400, 404), params=(P_NUMBER,)),
            "delete": op("Lift a block (appeal) (manager)", "blocklist", "unblock",
                         {200: ok("unblocked", obj({"unblocked": BOOLEAN, "number": STRING, "scope": STRING},
                                                   ("unblocked", "number", "scope")))},
                         errors=(400, 404, 413), params=(P_NUMBER, Q_LINE, Q_BY), body=json_body(unblock)),
            "patch": op("Edit a block: reason, permanent, or a new remaining time (manager)", "blocklist",
                        "change_block", {200: ok("the block as it is now", obj({"block": ref("Block")}, ("block",)))},
                        errors=(400, 404, 413), params=(P_NUMBER, Q_BY), body=json_body(change)),
        },
        "/api/blocklist/{number}/history": {"get": op(
            "Everything that happened to a number, oldest first, expiries included", "blocklist", "history",
            {200: ok("the history", obj({"number": STRING, "strikes": INTEGER, "history": array(ref("HistoryItem")),
                                         **WARNINGS_ON_RECORD},
                                        ("number", "strikes", "history")))},
            errors=(400, 404), params=(P_NUMBER,))},
        "/api/check": {"get": op(
            "The screen's decision for a call from `number` to `line` now, and the rule behind it", "blocklist",
            "check", {200: ok("the decision (nothing recorded)", ref("Decision"))}, errors=(400,),
            params=(query("number", NUMBER_TEXT, "the caller's number (URL-encode + as %2B)", required=True),
                    Q_LINE,
                    query("stir", {"type": "string", "maxLength": 64},
                          "the call's StirVerstat, e.g. TN-Validation-Failed-B (attestation rule)"),
                    query("score", {"type": "integer", "minimum": 0, "maximum": 100},
                          "an add-on reputation score for the call (reputation tiers)")))},
        "/api/blocklist/import": {"post": op(
            "Import blocks and range rules from CSV, all or nothing unless partial=1 (manager)", "blocklist",
            "import_blocks", {200: ok("what was imported (or would be, with check_only=1)", ref("ImportResult"))},
            errors=(400, 409, 413), params=(Q_PARTIAL, Q_CHECK_ONLY, Q_BY), body=_csv_upload("blocklist"))},
        "/api/blocklist/export": {"get": op(
            "Every active block and range rule as CSV (manager)", "blocklist", "export_blocks", {200: CSV_DOWNLOAD})},
    }


def _allowlist_paths() -> dict[str, Any]:
    allow_body = obj({"number": NUMBER_TEXT, "reason": REASON, "line": LINE_TEXT,
                      "by": {"type": "string", "maxLength": 80}}, ("number", "reason"))
    remove = obj({"reason": REASON, "line": LINE_TEXT,
                  "by": {"type": "string", "maxLength": 80}}, ("reason",))
    return {
        "/api/allowlist": {
            "get": op("Allowlist entries, newest first", "allowlist", "list_allowed",
                      {200: ok("one page", obj({"allowlist": array(ref("AllowEntry")), "start": INTEGER,
                                                "count": INTEGER}, ("allowlist", "start", "count")))},
                      errors=(400,), params=(Q_START, Q_COUNT)),
            "post": op("Always let a number through (manager)", "allowlist", "allow",
                       {201: ok("allowed", obj({"allowed": BOOLEAN, "number": STRING, "scope": STRING},
                                               ("allowed", "number", "scope")))},
                       errors=(400, 413), params=(Q_BY,), body=json_body(allow_body)),
        },
        "/api/allowlist/{number}": {
            "get": op("A number's allowlist entries", "allowlist", "show_allowed",
                      {200: ok("the entries", obj({"number": STRING, "allowlist": array(ref("AllowEntry"))},
                                                  ("number", "allowlist")))},
                      errors=(400, 404), params=(P_NUMBER,)),
            "delete": op("Take a number off the allowlist (manager)", "allowlist", "disallow",
                         {200: ok("removed", obj({"removed": BOOLEAN, "number": STRING, "scope": STRING},
                                                 ("removed", "number", "scope")))},
                         errors=(400, 404, 413), params=(P_NUMBER, Q_LINE, Q_BY), body=json_body(remove)),
        },
        "/api/allowlist/import": {"post": op(
            "Import allowlist entries (number,scope,reason) from CSV (manager)", "allowlist", "import_allowed",
            {200: ok("what was imported (or would be, with check_only=1)", ref("ImportResult"))},
            errors=(400, 409, 413), params=(Q_PARTIAL, Q_CHECK_ONLY, Q_BY), body=_csv_upload("allowlist"))},
        "/api/allowlist/export": {"get": op(
            "The allowlist as CSV (manager)", "allowlist", "export_allowed", {200: CSV_DOWNLOAD})},
    }


def _rule_paths() -> dict[str, Any]:
    prefix_param = path_param("prefix", PREFIX, "the range rule's prefix (URL-encode + as %2B)")
    add_prefix = obj({"prefix": PREFIX, "reason": REASON,
                      "line": LINE_TEXT,
                      "treatment": {"type": "string", "enum": ["", *TREATMENTS]},
                      "by": {"type": "string", "maxLength": 80}}, ("prefix", "reason"))
    remove = obj({"reason": REASON, "line": LINE_TEXT,
                  "by": {"type": "string", "maxLength": 80}}, ("reason",))
    settings_body = obj({name: {"type": "string", "nullable": True} for name in LINE_SETTINGS}
                        | {"by": {"type": "string", "maxLength": 80}},
                        minProperties=1, additionalProperties=False,
                        description="the settings to change; '' or null clears an override")
    dryrun = obj({
        "kind": {"type": "string", "enum": ["number", "prefix", "withheld", "burst"]},
        "number": NUMBER_TEXT, "prefix": PREFIX,
        "policy": {"type": "string", "enum": ["allow", "linefault", "isolation", "reject"]},
        "line": LINE_TEXT, "treatment": {"type": "string", "enum": ["", *TREATMENTS]},
        "calls": {"type": "integer", "minimum": 1}, "minutes": {"type": "integer", "minimum": 1},
        "action": {"type": "string", "enum": ["review", *TREATMENTS]},
        "days": {"type": "integer", "minimum": 1, "maximum": 400},
    }, ("kind",))
    line_param = path_param("line", {"type": "string", "minLength": 1, "maxLength": 64, "example": "+18005551212"},
                            "a line's number, or '*' for the global overrides")
    return {
        "/api/prefixes": {
            "get": op("Every range rule", "rules", "list_prefixes",
                      {200: ok("the rules", obj({"prefixes": array(ref("PrefixRule"))}, ("prefixes",)))}),
            "post": op("Treat every number starting with a prefix (manager)", "rules", "add_prefix",
                       {201: ok("the rule", obj({"prefix": ref("PrefixRule")}, ("prefix",)))},
                       errors=(400, 413), params=(Q_BY,), body=json_body(add_prefix)),
        },
        "/api/prefixes/{prefix}": {
            "get": op("One range rule", "rules", "show_prefix",
                      {200: ok("the rule", obj({"prefix": ref("PrefixRule")}, ("prefix",)))},
                      errors=(400, 404), params=(prefix_param, Q_LINE)),
            "delete": op("Drop a range rule (manager)", "rules", "remove_prefix",
                         {200: ok("removed", obj({"removed": BOOLEAN, "prefix": STRING, "scope": STRING},
                                                 ("removed", "prefix", "scope")))},
                         errors=(400, 404, 413), params=(prefix_param, Q_LINE, Q_BY), body=json_body(remove)),
        },
        "/api/review": {"get": op(
            "Callers the burst rule put on the managers' review list, newest first", "rules", "review",
            {200: ok("the review list", obj({"review": array(OBJECT)}, ("review",)))}, errors=(400,),
            params=(Q_COUNT,))},
        "/api/review/{number}": {"delete": op(
            "Take a caller off the review list (manager)", "rules", "dismiss_review",
            {200: ok("dismissed", obj({"dismissed": BOOLEAN, "number": STRING}, ("dismissed", "number")))},
            errors=(400, 404, 413),
            params=(path_param("number", NUMBER_TEXT, "the caller's number, or 'anonymous' (then give ?line=)"),
                    Q_LINE),
            body=json_body(obj({"line": LINE_TEXT}), required=False))},
        "/api/dryrun": {"post": op(
            "What a candidate rule would have done over the recorded calls of the last days (manager)", "rules",
            "dry_run", {200: ok("counts per line (nothing written)", OBJECT)}, errors=(400, 413),
            body=json_body(dryrun))},
        "/api/lines/{line}/settings": {
            "get": op("A line's overrides and the settings the screen uses on it", "rules", "line_settings",
                      {200: ok("the settings", ref("LineSettings"))}, errors=(400,), params=(line_param,)),
            "put": op("Override settings of a line (manager)", "rules", "set_line_settings",
                      {200: ok("the settings as they are now", ref("LineSettings"))}, errors=(400, 413),
                      params=(line_param, Q_BY), body=json_body(settings_body)),
        },
    }


def _feed_paths() -> dict[str, Any]:
    name = path_param("name", {"type": "string", "pattern": r"^[a-z0-9][a-z0-9_-]{0,39}$", "example": "ftc-dnc"},
                      "the feed's name: 1-40 lower-case letters, digits, '-' or '_'")
    text_120: Schema = {"type": "string", "pattern": r"\S", "maxLength": 120}
    reason = json_body(obj({"reason": REASON, "by": {"type": "string", "maxLength": 80}}, ("reason",)))
    import_params = (
        name,
        query("source", {**text_120, "example": "FTC Do Not Call complaints"}, "who publishes the list", required=True),
        query("licence", {**text_120, "example": "public data"}, "the terms it is used under", required=True),
        query("fetched_at", {"type": "string", "maxLength": 40, "example": "2026-11-30T08:00:00Z"},
              "when it was fetched from its source: ISO 8601 (UTC unless it says) or ms since 1970; default now"),
        query("age_out_days", {"type": "integer", "minimum": 0, "maximum": 3650},
              "an entry stops counting this many days after its last report (default 0: never)"),
        query("treatment", {"type": "string", "enum": ["", *TREATMENTS]}, "default: the line's treatment"),
        query("line", LINE_TEXT, "the line (To number) it applies to; default all lines"),
        Q_PARTIAL,
        query("check_only", {"type": "string", "enum": ["0", "1", "true", "false"]},
              "1: write nothing; entries and duplicates say what the feed would hold"),
        Q_BY)
    feed = obj({"feed": ref("Feed")}, ("feed",))
    return {
        "/api/feeds": {"get": op(
            "The bulk feeds in force, by name (manager)", "feeds", "list_feeds",
            {200: ok("the feeds", obj({"feeds": array(ref("Feed"))}, ("feeds",)))})},
        "/api/feeds/{name}": {
            "get": op("One bulk feed (manager)", "feeds", "show_feed", {200: ok("the feed", feed)},
                      errors=(400, 404), params=(name,)),
            "put": op("Import or replace a bulk feed from its CSV, all or nothing unless partial=1 (manager)", "feeds",
                      "import_feed",
                      {200: ok("replaced, imported in part, or checked only", ref("FeedImport")),
                       201: ok("a new feed imported", ref("FeedImport"))},
                      errors=(400, 409, 413), params=import_params, body=_csv_upload("feed"),
                      description="Rows: number[,reports[,last_seen]], or a header naming them (number/phone/tn, "
                                  "reports/count/evidence, last_seen/date). A new version replaces the one in force "
                                  "at once; a bad row imports nothing (400 with the bad rows) unless partial=1."),
            "delete": op("Stop using a bulk feed: out of the screen at once, its numbers deleted (manager)", "feeds",
                         "delete_feed", {200: ok("deleted", obj({"deleted": BOOLEAN, "feed": ref("Feed")},
                                                                ("deleted", "feed")))},
                         errors=(400, 404, 413), params=(name, Q_BY), body=reason),
        },
        "/api/feeds/{name}/numbers/{number}": {"delete": op(
            "Take one number out of a bulk feed (appeal) until its next import (manager)", "feeds", "remove_number",
            {200: ok("taken out", obj({"removed": BOOLEAN, "feed": STRING, "number": STRING},
                                      ("removed", "feed", "number")))},
            errors=(400, 404, 413), params=(name, P_NUMBER, Q_BY), body=reason)},
        "/api/numbers/{number}/feeds": {"get": op(
            "The bulk feeds that list a number, with its reports and until when it counts (manager)", "feeds",
            "number_feeds",
            {200: ok("the listings (empty when no feed lists it)",
                     obj({"number": STRING, "feeds": array(ref("FeedListing"))}, ("number", "feeds")))},
            errors=(400,), params=(P_NUMBER,))},
    }


def _restriction_paths() -> dict[str, Any]:
    date_text: Schema = {"type": "string", "maxLength": 40, "example": "2027-01-15"}
    add = obj({
        "number": NUMBER_TEXT,
        "kind": {"type": "string", "enum": ["hours", "max_calls", "route", "voicemail"]},
        "review": {**date_text, "description": "when it comes up for review: a later date (IVR_TIMEZONE), or a time "
                                                "with its zone"},
        "reason": REASON,
        "hours": {"type": "string", "maxLength": 200, "example": "Mon-Fri 09:00-12:00",
                  "description": "kind hours: the agreed days and times; several with |"},
        "max_calls": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "kind max_calls"},
        "per": {"type": "string", "enum": ["day", "week"], "description": "kind max_calls: counted per"},
        "route": {"type": "string", "maxLength": 40, "example": "supervisor",
                  "description": "kind route: the queue: 'supervisor', or a team of IVR_TEAMS ('billing' or "
                                 "'team:billing'; another name answers 400 with the choices)"},
        "line": LINE_TEXT,
        "start": {**date_text, "description": "when it starts; default now"},
        "until": {**date_text, "description": "when it ends by itself; default: until removed"},
        "by": {"type": "string", "maxLength": 80},
    }, ("number", "kind", "review", "reason"))
    remove = obj({"reason": REASON, "id": {"type": "string", "pattern": "^[0-9a-f]{6}$",
                                           "description": "only this restriction; default all of the number's"},
                  "by": {"type": "string", "maxLength": 80}}, ("reason",))
    listing = obj({"number": STRING, "restrictions": array(ref("Restriction"))}, ("number", "restrictions"))
    keep = obj({"review": {**date_text, "description": "the next review: a later date (IVR_TIMEZONE), or a time with "
                                                        "its zone"},
                "reason": REASON, "by": {"type": "string", "maxLength": 80}}, ("review", "reason"))
    return {
        "/api/restrictions": {
            "get": op("Every contact restriction, soonest review first (manager)", "restrictions",
                      "list_restrictions",
                      {200: ok("the restrictions", obj({"restrictions": array(ref("Restriction"))},
                                                       ("restrictions",)))}),
            "post": op("Restrict a number's calls: agreed hours, at most N calls a day or week, supervisors only or "
                       "voicemail only, with a review date (manager)", "restrictions", "add_restriction",
                       {201: ok("made", obj({"restriction": ref("Restriction")}, ("restriction",)))},
                       errors=(400, 413), body=json_body(add),
                       description="A review date that is not in the future, overlapping hours, or a restriction "
                                   "that overlaps or contradicts one the number has is a 400 and changes nothing."),
        },
        "/api/restrictions/{number}": {
            "get": op("A number's contact restrictions (manager)", "restrictions", "show_restrictions",
                      {200: ok("its restrictions (empty when none)", listing)}, errors=(400,), params=(P_NUMBER,)),
            "delete": op("Remove a number's contact restrictions, or one by id (manager)", "restrictions",
                         "remove_restrictions",
                         {200: ok("removed", obj({"number": STRING, "removed": array(ref("Restriction"))},
                                                 ("number", "removed")))},
                         errors=(400, 404, 413), params=(P_NUMBER,), body=json_body(remove)),
        },
        "/api/restrictions/{number}/{rid}/keep": {
            "post": op("After its review, keep one restriction until a new review date (manager)", "restrictions",
                       "keep_restriction",
                       {200: ok("kept", obj({"restriction": ref("Restriction")}, ("restriction",)))},
                       errors=(400, 404, 413),
                       params=(P_NUMBER, path_param("rid", {"type": "string", "pattern": "^[0-9a-f]{6}$"},
                                                    "the restriction's id")),
                       body=json_body(keep),
                       description="A review date that is not in the future, or not before the restriction's "
                                   "end, is a 400 and changes nothing."),
        },
    }


def _prompt_paths() -> dict[str, Any]:
    params = (path_param("lang", {"type": "string", "enum": list(prompts.LANGUAGES)}, "the prompt language"),
              path_param("key", {"type": "string", "enum": list(prompts.all_recording_keys())},
                         "the recording (a prompt id, or queue_position-N)"), Q_BY)
    return {
        "/api/prompts": {"get": op(
            "Every prompt recording per language, and whether a manager's own or the shipped one plays", "prompts",
            "list_prompts", {200: ok("the prompts", obj({"prompts": array(ref("Prompt"))}, ("prompts",)))})},
        "/api/prompts/{lang}/{key}": {
            "put": op("Install a manager's recording (checked: WAV, length, level) (manager)", "prompts",
                      "upload_prompt",
                      {201: ok("installed", ref("Prompt"))}, errors=(400, 404, 413), params=params,
                      body={"required": True, "content": {
                          "audio/wav": {"schema": {"type": "string", "format": "binary"}},
                          "multipart/form-data": {"schema": obj({"file": {"type": "string", "format": "binary"}},
                                                                ("file",))}}}),
            "delete": op("Remove a manager's recording: the shipped one plays again (manager)", "prompts",
                         "remove_prompt",
                         {200: ok("the prompt now", ref("Prompt"))}, errors=(404,), params=params),
        },
    }


def _evidence_export_paths() -> dict[str, Any]:
    """The evidence pack's three exports downloaded alone (workers/reports/exports.py)."""
    digest = {"Repr-Digest": {"description": "RFC 9530: sha-256=:<base64 of the body's SHA-256>:; the same digest "
                                             "(in hex) as the file's line in the pack's SHA256SUMS", "schema": STRING}}
    exports = (("ftc.csv", "text/csv", "evidence_ftc", "An FTC-complaint-style CSV of the number's flagged or "
                "treated calls (date and time in IVR_TIMEZONE, the number, caller name, subject, our number, "
                "recorded message or live person, notes); a person files it on the FTC's site"),
               ("traceback.csv", "text/csv", "evidence_traceback", "A carrier traceback request: those calls with "
                "times in UTC, both numbers, the STIR/SHAKEN attestation, the CallSid and the duration"),
               ("letter.txt", "text/plain", "evidence_letter", "A warning letter to the caller (the calls, warnings "
                "and steps on record, what happens next, how to ask for a review)"))
    return {f"/api/reports/evidence/{{number}}/{name}": {"get": op(
        f"{summary} (manager)", "reports", operation_id,
        {200: {"description": "the file", "headers": digest, "content": {media: {"schema": STRING}}}},
        errors=(400, 404), params=(P_NUMBER,),
        description="404 when the number has no flagged or treated call stored (nothing to export).")}
        for name, media, operation_id, summary in exports}


def _report_paths() -> dict[str, Any]:
    name = path_param("name", {"type": "string", "enum": list(REPORTS)}, "the report")
    return {
        "/api/reports": {"get": op("What reports exist and how to ask for them (manager)", "reports",
                                   "list_reports", {200: ok("the index", obj({"reports": array(STRING)},
                                                                              ("reports",)))})},
        "/api/reports/summary": {"get": op(
            "Every report for one period (manager)", "reports", "report_summary",
            {200: ok("every report, and `meta` about the query", obj({"meta": OBJECT}, ("meta",)))},
            errors=(400,), params=REPORT_QUERY)},
        "/api/reports/{name}": {"get": op(
            "One report as JSON (manager)", "reports", "report",
            {200: ok("the report and `meta`", obj({"meta": OBJECT}, ("meta",)))}, errors=(400,),
            params=(name, *REPORT_QUERY))},
        "/api/reports/{name}.csv": {"get": op(
            "One table of a report as CSV (manager)", "reports", "report_csv",
            {200: {"description": "the table", "content": {"text/csv": {"schema": STRING}}}}, errors=(400,),
            params=(name, query("table", {"type": "string", "maxLength": 40}, "the table (default: the first)"),
                    *REPORT_QUERY))},
        "/api/reports/evidence/{number}": {"get": op(
            "Evidence pack of one number: a zip with calls.csv, history.csv (its blocks, flags and expiries), "
            "audit.csv, calls.json, the FTC complaint, traceback request and warning letter (when a call was "
            "flagged or treated) and SHA256SUMS (manager)", "reports",
            "evidence", {200: {"description": "the zip",
                               "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}},
            errors=(400,), params=(P_NUMBER,))},
        **_evidence_export_paths(),
        "/api/reports/fold": {"post": op(
            "Fold the new events into the reports now (manager)", "reports", "fold",
            {202: ok("queued (at most one fold is pending)", ref("Queued"))})},
        "/api/reports/rebuild": {"post": op(
            "Recompute the retained window from the raw events (manager)", "reports", "rebuild",
            {202: ok("queued, or already pending", ref("Queued"))})},
        "/api/reports/erase": {"post": op(
            "Erase one number from the events and reports, audited (admin)", "reports", "erase",
            {200: ok("what was erased", obj({"number": STRING, "events_deleted": INTEGER,
                                             "buckets_corrected": INTEGER, "rebuild": OBJECT},
                                            ("number", "events_deleted")))},
            errors=(400, 413),
            body=json_body(obj({"number": NUMBER_TEXT, "reason": {"type": "string", "minLength": 1,
                                                                   "maxLength": 500}}, ("number", "reason"))))},
        "/reports/print": {"get": op(
            "The printable HTML report with its charts (manager)", "reports", "report_print",
            {200: {"description": "an HTML page", "content": {"text/html": {"schema": STRING}}}}, errors=(400,),
            params=REPORT_QUERY)},
    }


def _wellbeing_paths() -> dict[str, Any]:
    """Agents' wellbeing (ivr/desk/views_wellbeing.py): the supervisor's check-ins and the unreported-abuse hint."""
    checkin = obj({"id": STRING, "agent": STRING, "reason": STRING, "shift": STRING, "week": STRING,
                   "limit": STRING, "shift_start": STRING, "at": STRING, "until": STRING}, ("id", "agent"))
    counts = obj({k: INTEGER for k in ("short_agent_ended", "star_no_move", "repeat_unflagged")},
                 ("short_agent_ended", "star_no_move", "repeat_unflagged"))
    return {
        "/api/reports/unreported": {"get": op(
            "The unreported-abuse hint: short calls the agent ended, `*` with no move, repeat callers never flagged "
            "(manager)", "reports", "report_unreported",
            {200: ok("a hint, never a flag: the three counts and the calls to look at",
                     obj({"hint": STRING, "meta": OBJECT, "counts": counts}, ("hint", "meta", "counts")))},
            errors=(400,), params=(
                query("days", {"type": "integer", "minimum": 1, "maximum": 30}, "look back this many days (7)"),
                query("short_seconds", {"type": "integer", "minimum": 1, "maximum": 600},
                      "a short call is at most this long (IVR_SHORT_CALL_SECONDS)"),
                Q_LINE, query("mask", {"type": "string", "enum": ["0", "1", "true", "false"]}, "1 hides the last digits")),
            description="Reads the calls of the period; changes nothing, flags nothing.")},
        "/api/wellbeing/checkins": {"get": op(
            "Check-ins: agents who crossed an exposure limit, for a supervisor (manager)", "reports",
            "wellbeing_checkins", {200: ok("open check-ins, newest first (all recent ones with all=1)",
                                           obj({"checkins": array(checkin)}, ("checkins",)))},
            params=(query("all", {"type": "string", "enum": ["0", "1", "true", "false"]},
                          "1 lists acknowledged ones too"),))},
        "/api/wellbeing/checkins/acknowledge": {"post": op(
            "Acknowledge a check-in: a supervisor checked in with the agent; audited (manager)", "reports",
            "acknowledge_checkin", {200: ok("the check-in, with who acknowledged it and when", checkin)},
            errors=(400, 404), body=json_body(obj({"id": {"type": "string", "maxLength": 200}}, ("id",))))},
    }


def _meta_paths() -> dict[str, Any]:
    return {"/api/openapi.json": {"get": op(
        "This description of the JSON API", "meta", "openapi", {200: ok("OpenAPI 3.0 document", OBJECT)},
        public=True)}}


def _version() -> str:
    try:
        return metadata.version("ivr-harassment-filter")
    except metadata.PackageNotFoundError:
        return "0.0.0"


@cache
def _document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for part in (_call_paths, _blocklist_paths, _allowlist_paths, _rule_paths, _feed_paths, _restriction_paths,
                 _prompt_paths, _report_paths, _wellbeing_paths, _meta_paths):
        paths.update(part())
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Harassment filter JSON API",
            "version": _version(),
            "description": (
                "Flag calls, manage the blocklist, allowlist, range rules and bulk feeds, read reports. Every route "
                "wants `Authorization: Bearer <token>` (IVR_API_TOKEN, or a desk user's API token); routes marked "
                "(manager) or (admin) need that role (`x-role` on each operation). Errors are RFC 9457 problems "
                "(`application/problem+json`: type, title, status, detail, instance, and the machine-readable "
                "`error` code) and change nothing."),
        },
        "tags": [{"name": t} for t in ("calls", "blocklist", "allowlist", "rules", "feeds", "restrictions", "prompts",
                                       "reports", "meta")],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "IVR_API_TOKEN, or a desk user's API token"}},
            "schemas": _schemas(),
            "responses": _responses(),
        },
    }


def document(base_url: str = "") -> dict[str, Any]:
    """The OpenAPI document; `servers` is the public base URL when one is configured."""
    doc = copy.deepcopy(_document())
    if base_url:
        doc["servers"] = [{"url": base_url}]
    return doc


@bp.get("/api/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI description (public: it tells a client how to authenticate)."""
    return jsonify(document(current_app.config["SETTINGS"].base_url))
