"""Every Redis key the product uses, in one place. Prefix `ivr:`; never `rq:*`.

Screening, calls and the blocklist at the top level; the desk's keys in `Desk`, the report aggregates'
in `Agg` (classes used as namespaces, so each family keeps its short names).
"""

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
# Bulk feeds (blocklist/feeds.py): name -> the feed's card (JSON); name -> what the screen reads of it; the
# versions replaced or deleted whose buckets are still to be deleted ("name|version|buckets"); the version
# an import is writing, so one cut short (the process killed) is found and deleted.
FEEDS = _k("feeds")
FEEDS_LIVE = _k("feeds", "live")
FEEDS_RETIRED = _k("feeds", "retired")
FEEDS_PENDING = _k("feeds", "pending")  # name -> "name|version|buckets" of an import under way (or cut short)
SETTINGS = _k("settings")  # hash of global policy overrides made by managers
REVIEW = _k("review")  # zset "<scope>|<subject>" -> last burst time
REVIEW_INFO = _k("review", "info")  # hash "<scope>|<subject>" -> JSON
STRIKES = _k("strikes")  # hash e164 -> flags that led to a block (sanction ladder step)
WARNINGS = _k("warnings")  # hash e164 -> limit-setting warnings on record, across calls (ivr/moves/difficult.py)
EVENTS = _k("events")  # stream: the append-only event log (reports fold it)
AUDIT = _k("audit")  # stream: manager actions
COUNTERS = _k("counters")  # hash of operational counters (fail-open, REST failures...)
AGENTS_ONLINE = _k("agents", "online")  # zset identity -> last time its leg asked for a caller
ESCALATIONS = _k("escalations")  # zset caller CallSid -> time escalated (supervisors' queue view)
CALLBACKS = _k("callbacks")  # zset callback id -> due time
# Contact restrictions (blocklist/restrictions.py): "<e164>|<id>" -> the restriction as people see it (JSON);
# "<e164>|<id>" by review time (the cron finds those due for review and those that ended).
RESTRICT_INFO = _k("restrict", "info")
RESTRICT_INDEX = _k("restrict", "index")


def block(scope: str, number: str) -> str:
    """Hash of one active block; expires by itself (PEXPIREAT) unless permanent."""
    return _k("block", scope, number)


def restriction(number: str) -> str:
    """Hash of one number's contact restrictions as the screen reads them: id -> "kind|scope|start|until|rule|words"
    (blocklist/restrictions.py; one HGETALL per call, empty for a number with none)."""
    return _k("restrict", "n", number)


def restriction_calls(number: str) -> str:
    """Sorted set CallSid -> time of the calls a number made under a max-calls restriction (the screen counts the
    day's and the week's; trimmed to 8 days)."""
    return _k("restrict", "calls", number)


def feed_bucket(name: str, version: str, bucket: int) -> str:
    """Hash of one bucket of one version of a feed: the number's digits -> seen_s * 1000 + evidence. screen.lua
    builds the same name from keys.FEEDS_LIVE."""
    return _k("feed", name, version, str(bucket))


def history(number: str) -> str:
    """List (append-only) of everything that ever happened to a number: flags, blocks, unblocks."""
    return _k("hist", number)


def line(line_number: str) -> str:
    """Hash of one line's overrides (treatment, withheld policy, language, burst...)."""
    return _k("line", line_number)


def campaign(line: str, prefix: str) -> str:
    """Sorted set of the different numbers of one exchange that called one line recently, by last call time."""
    return _k("campaign", line, prefix)


def campaign_seen(line: str, prefix: str) -> str:
    """Set while a campaign of this exchange on this line is known (expires with its window): one event each."""
    return _k("campaign", "seen", line, prefix)


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


def exposure(identity: str) -> str:
    """zset caller CallSid -> when: the difficult calls (flags, moves) of one agent phone in the last 7 days
    (blocklist/exposure.py; one call counts once)."""
    return _k("exposure", identity)


def wellbeing(person: str) -> str:
    """Hash of one agent's (desk user's, else phone's) shift and wellbeing break (blocklist/exposure.py)."""
    return _k("wellbeing", "agent", person)


WELLBEING_CHECKINS = _k("wellbeing", "checkins")  # zset check-in id -> when the agent crossed a limit


def unreported_cache(question: str) -> str:
    """string (JSON, 5 min): the managers' unreported-abuse hint for one question (workers/reports/unreported.py)."""
    return _k("wellbeing", "unreported", question)


def wellbeing_checkin(checkin_id: str) -> str:
    """Hash of one supervisor check-in: who crossed which limit, when; who acknowledged it."""
    return _k("wellbeing", "checkin", checkin_id)


def said(kind: str) -> str:
    """string: set while a repeated log line of this kind has been said recently (the worker's jobs run in
    forked processes that remember nothing, so "said once" lives here)."""
    return _k("said", kind)


class Desk:
    """The desk: users, sessions, API tokens, login throttling, agents' notes (`ivr:desk:...`)."""

    PREFIX = f"{PREFIX}:desk"
    USERS = f"{PREFIX}:users"  # set of every username (the users page lists them; a desk has dozens, not millions)
    IDENTITIES = f"{PREFIX}:identities"  # hash phone identity (E.164 or client:NAME) -> username
    WITHHELD_NOTES = f"{PREFIX}:withheld"  # stream: "note this withheld call's time for the manager" (never trimmed)

    @staticmethod
    def user(username: str) -> str:
        """Hash of one desk user: password hash, role, identities, disabled, language (of the desk), epoch
        (bumped to end every session)."""
        return f"{Desk.PREFIX}:user:{username}"

    @staticmethod
    def user_tokens(username: str) -> str:
        """Hash token id -> JSON {name, created, digest} of one user's API tokens."""
        return f"{Desk.PREFIX}:user:{username}:tokens"

    @staticmethod
    def token(digest: str) -> str:
        """Hash of one API token, keyed by the SHA-256 of the token (the token itself is never stored)."""
        return f"{Desk.PREFIX}:token:{digest}"

    @staticmethod
    def session(session_id: str) -> str:
        """Hash of one logged-in session: user, epoch, created; expires when idle."""
        return f"{Desk.PREFIX}:session:{session_id}"

    @staticmethod
    def login_failures(kind: str, subject: str) -> str:
        """Counter of failed logins per username (`user`) or per client address (`ip`) in the lock window."""
        return f"{Desk.PREFIX}:login:{kind}:{subject}"

    @staticmethod
    def login_refund(client: str, username: str) -> str:
        """Marker: this user's right password already gave this address one attempt back in the window."""
        return f"{Desk.PREFIX}:login:refund:{client}:{username}"


class Agg:
    """The report aggregates (`ivr:agg:...`) and the long-term event stream.

    A bucket is `ivr:agg:<family>:<scope>:<period>`: scope `*` (every line) or a line's E.164 number,
    period a day `YYYY-MM-DD`, a month `YYYY-MM` or a year `YYYY` in the report time zone.
    """

    AGG = f"{PREFIX}:agg"
    KEPT = f"{PREFIX}:events:kept"  # stream: flag/isolation/block/unblock/... copies, kept until an audited erasure
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
    # zset (day only): "<ts>|<line>|<prefix>|<numbers>|<minutes>|<first ms>|<action>" -> ts of each campaign
    # detected on a line (a `campaign` event)
    CAMPAIGNS = "cp"

    HASH_FAMILIES = (COUNTS, HOURS, SOURCES, AGENTS, MOVES)
    ZSET_FAMILIES = (NUM_FLAGS, NUM_TREATED, NUM_BLOCKED, PREFIX_FLAGS, PREFIX_TREATED)
    NUMBER_FAMILIES = {NUM_FLAGS: PREFIX_FLAGS, NUM_TREATED: PREFIX_TREATED, NUM_BLOCKED: ""}  # number zset -> its prefix zset
    ROLLED_UP = HASH_FAMILIES + ZSET_FAMILIES
    DAY_ONLY = (WITHHELD, CAMPAIGNS)
    ALL_FAMILIES = ROLLED_UP + DAY_ONLY


    @staticmethod
    def bucket(family: str, scope: str, period: str, namespace: str = "") -> str:
        """One aggregate bucket; `namespace` is AGG, or a rebuild's private namespace."""
        return f"{namespace or Agg.AGG}:{family}:{scope}:{period}"

    @staticmethod
    def det(namespace: str = "") -> str:
        """Hash number -> the caller's last unanswered treatment ("kind|ts|line|CallSid"), for deterrence."""
        return f"{namespace or Agg.AGG}:det"

    @staticmethod
    def rebuild_namespace(token: str) -> str:
        """Private namespace a rebuild writes into before it swaps its keys in."""
        return f"{Agg.AGG}:tmp:{token}"

    @staticmethod
    def query_temp(token: str) -> str:
        """Short-lived union of sorted sets built by one report query."""
        return f"{Agg.AGG}:q:{token}"

    @staticmethod
    def notable(call_sid: str) -> str:
        """Marks a call that was flagged or isolated: its status (duration) is kept long-term."""
        return f"{Agg.AGG}:notable:{call_sid}"

    @staticmethod
    def call_status(call_sid: str) -> str:
        """A call's end status ("status|duration") until a late flag may want it for the evidence pack."""
        return f"{Agg.AGG}:status:{call_sid}"


def team_waiting(team: str) -> str:
    """zset caller CallSid -> when a contact restriction sent it to the team's queue (IVR_TEAMS; blocklist/teams.py)."""
    return _k("team", team, "waiting")
