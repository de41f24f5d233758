"""Adopting bulk-imported manager blocks into a feed (`ivr feeds adopt`): the migration of lists imported before feeds.

Before feeds, a carrier's or regulator's list could only come in as manager blocks (`ivr blocklist import`): about
300 bytes each as the screen reads them, 816 with history, event and audit. Adoption moves the blocks such an import
wrote, and nobody touched since, into a feed (about 22 bytes a number), and leaves people's decisions alone.

Which blocks: active blocks of one scope (`line`, default every line) whose latest history entry in that scope is
the `block` a CSV import wrote (`source: import`, the block's own `at`), with `reason` exactly as given (a bulk import
shares one) or any reason (`reason=None`). A block flagged by an agent, blocked or edited by hand, made permanent or
temporary by hand, stays a manager block, and so does one the feed cannot hold as it is: a feed that never ages out
cannot end a block with an end time, and a feed that ages entries out cannot keep a permanent block. One feed has
one treatment: blocks of another treatment stay (adopt them into another feed).

How an entry keeps the block's end: a feed entry ages out `age_out_days` after it was last seen, so an adopted
block's last-seen is its end less `age_out_days`, rounded up to the second (a feed counts in seconds; a block never
ends earlier than it did). A permanent block's last-seen is when it was imported; its one report is the import.

Order, for safety: the feed (its entries, merged with those it had) is written and swapped in first, as an import
does (blocklist/feeds.py import_feed, the same checks and the same atomic swap); only then are the blocks removed,
in batches of REMOVE_BATCH, each by one script (lua/feed_adopt.lua) that removes a block only if it is still the
one read (same `at`, no history entry since). So no moment exists when a number is screened by neither, and a
killed run is finished by running it again: the numbers are in the feed already (the second run keeps their
entries as they are) and the blocks left are moved then. Each number's history keeps everything and gains one
`feed_adopt` entry ("moved into feed NAME"); the run writes one audit record with its counts, and no event (an
`unblock` event would count in the reports as an appeal).
"""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from blocklist import events, keys, scripts
from blocklist.clock import format_time, now_ms
from blocklist.csvio import LOCK_REFRESH_LUA, LOCK_RELEASE_LUA
from blocklist.feeds import Feed, Progress, bucket_of, feed_number, pack, unpack, valid_name
from blocklist.rules import Blocklist
from blocklist.text import clean_text

SCAN_BATCH = 5000  # blocks read per pipeline while looking for adoptable ones
REMOVE_BATCH = 5000  # blocks moved per script call
HISTORY_TAIL = 64  # history entries read per block: the latest one about the block decides
LOCK_MS = 120_000  # refreshed with every batch; a killed run frees the next one after this

# Why a block stays a manager block, as the summary says it, in the order it says them.
LEFT_WORDS = {
    "flagged": "flagged by an agent",
    "edited": "edited by hand",
    "end_changed": "made permanent or temporary by hand",
    "by_hand": "blocked by hand",
    "other_reason": "with another reason",
    "other_treatment": "with another treatment",
    "has_end": "with an end time (the feed never ages out: adopt them with --age-out-days)",
    "permanent": "permanent (the feed ages its entries out)",
    "not_listable": "not a number a feed can list",
    "unclear": "whose history does not show an untouched import",
    "changed": "changed while being adopted",
}


class _Candidate(NamedTuple):
    """An adoptable block: its feed entry's last-seen, and what the removal checks is still so."""

    seen_s: int
    at: str  # the block's `at` as stored
    history: int  # the history's length when read
    treatment: str


@dataclass
class Adoption:
    """What an adoption found and did (or would do, checking only)."""

    name: str
    scope: str
    treatment: str = ""
    adopted: int = 0  # blocks moved into the feed (checking only: that would be)
    listed_already: int = 0  # of those, numbers the feed listed before (their entry keeps its reports)
    left: dict[str, int] = field(default_factory=dict)  # blocks that stay, by LEFT_WORDS key
    entries: int = 0  # numbers in the feed after the run
    future_seen: int = 0  # entries whose last-seen lies ahead (a block longer than the age-out)
    check_only: bool = False
    written: bool = False  # a new version of the feed was swapped in
    freed_bytes: int | None = None  # Redis used_memory before less after
    seconds: float = 0.0

    @property
    def kept(self) -> int:
        return sum(self.left.values())

    def left_words(self) -> str:
        """'3 flagged by an agent, 1 edited by hand'."""
        return ", ".join(f"{self.left[k]} {words}" for k, words in LEFT_WORDS.items() if self.left.get(k))

    def summary(self) -> str:
        """One line a person can read."""
        where = "all lines" if self.scope == keys.GLOBAL else f"line {self.scope}"
        left = f"{self.kept} block(s) as they were: {self.left_words()}" if self.kept else ""
        if not self.adopted:
            text = f"nothing to adopt into feed {self.name}: no block on {where} that a CSV import wrote and that fits it"
            return text + (f"; left {left}" if left else "") + ("" if self.check_only or self.written else
                                                                "; nothing changed")
        if self.check_only:
            text = f"would adopt {self.adopted} block(s) into feed {self.name} ({self.entries:,} numbers in it then)"
            return text + (f"; would leave {left}" if left else "") + "; nothing written (checked only)"
        text = f"adopted {self.adopted} block(s) into feed {self.name} ({self.entries:,} numbers in it now)"
        if left:
            text += f"; left {left}"
        if self.freed_bytes is not None:
            text += f"; the store holds about {_size(abs(self.freed_bytes))} {'less' if self.freed_bytes >= 0 else 'more'}"
        if self.future_seen:
            text += (f"; note: {self.future_seen} entr{'y' if self.future_seen == 1 else 'ies'} show a last report in "
                     "the future (the block ran longer than the age-out), so that they end when the block would have")
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "scope": self.scope, "treatment": self.treatment, "adopted": self.adopted,
                "listed_already": self.listed_already, "left": dict(self.left), "kept": self.kept,
                "entries": self.entries, "future_seen": self.future_seen, "check_only": self.check_only,
                "written": self.written, "freed_bytes": self.freed_bytes, "seconds": round(self.seconds, 3)}


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.0f} kB"


def adopt_imported(bl: Blocklist, name: str, *, source: str, licence: str, by: str, reason: str | None,
                   scope: str | None = None, treatment: str | None = None, age_out_days: int | None = None,
                   write: bool = True, progress: Progress | None = None, role: str = "manager") -> Adoption:
    """Move the active manager blocks a CSV import wrote into feed `name` (see the module's docstring).

    `reason`: only blocks with exactly this reason (None: any reason). `treatment`: only blocks with this one (''
    the line's); None: the feed's when it exists, else the one all the blocks share (a ValueError names them when
    they have several). `age_out_days`: None keeps the feed's (0 for a new feed). `write=False` counts only.
    """
    name = valid_name(name)
    scope_ = bl.line_scope(scope)
    if reason is not None and not reason:
        raise ValueError("give the reason the imported blocks share (--reason), or adopt every imported block "
                         "(--all-imported)")
    if treatment is not None:
        treatment = bl._treatment(treatment)
    feed = bl.feed(name)
    if feed is not None:
        _check_fits(feed, scope_, treatment, age_out_days)
        treatment = feed.treatment if treatment is None else treatment
        age_out_days = feed.age_out_days
    age_out_days = age_out_days or 0
    if not clean_text(source, 120).strip():
        raise ValueError("say where the list came from (--source), e.g. 'Carrier X robocall list, imported 2025'")
    if not clean_text(licence, 120).strip():
        raise ValueError("say under which terms the list is used (--licence), e.g. 'public data' or a contract")
    report = progress or (lambda _phase, _done, _total: None)
    started = time.monotonic()
    result = Adoption(name, scope_, check_only=not write)
    lock = _Lock(bl) if write else None
    try:
        before = _used_memory(bl) if write else 0
        found = _scan(bl, scope_, reason, age_out_days * 86400, result, report)
        chosen = _choose(found, treatment, result)
        result.treatment = chosen
        adopt = found.get(chosen, {})
        present = _listed(bl, feed, adopt)
        result.adopted, result.listed_already = len(adopt), len(present)
        now_s = now_ms() // 1000
        result.future_seen = sum(1 for c in adopt.values() if c.seen_s > now_s)
        result.entries = (feed.listed if feed else 0) + len(adopt) - len(present)
        if lock is None or not adopt:  # checking only, or nothing to do: nothing is written
            return result
        # A run after an interrupted one finds the feed holding every number already: no new version then.
        if feed is None or any(present.get(d) != _merged(present.get(d), c.seen_s) for d, c in adopt.items()):
            _write_feed(bl, feed, name, adopt, source=source, licence=licence, by=by, role=role,
                        age_out_days=age_out_days, treatment=chosen, scope=scope_, progress=report)
            result.written = True
        changed = _move(bl, name, scope_, adopt, by=by, role=role, lock=lock, progress=report)
        if changed:
            _take_back(bl, name, changed, present)
            result.left["changed"] = len(changed)
            result.adopted -= len(changed)
        now = bl.feed(name)
        result.entries = now.listed if now else 0
        result.freed_bytes = before - _used_memory(bl)
        _audit(bl, result, reason, by=by, role=role)
    finally:
        if lock is not None:
            lock.release()
        result.seconds = time.monotonic() - started
    return result


def _check_fits(feed: Feed, scope: str, treatment: str | None, age_out_days: int | None) -> None:
    """An existing feed keeps how it applies: the blocks must fit it, or go into a feed of their own."""
    if feed.scope != scope:
        where, option = ("all lines", "leave --line out") if feed.scope == keys.GLOBAL else \
            (f"line {feed.scope}", f"--line {feed.scope}")
        raise ValueError(f"feed {feed.name} applies to {where}: adopt the blocks of {where} into it ({option}), "
                         "and those of another line into a feed of their own (another name)")
    if treatment is not None and treatment != feed.treatment:
        raise ValueError(f"feed {feed.name} treats callers with {feed.treatment or 'the line treatment'}: adopt the "
                         "blocks of another treatment into a feed of their own (another name)")
    if age_out_days is not None and age_out_days != feed.age_out_days:
        raise ValueError(f"feed {feed.name} ages entries out after {feed.age_out_days} day(s) (0: never): leave "
                         "--age-out-days out, or adopt into a feed of its own (another name)")


def _used_memory(bl: Blocklist) -> int:
    return int(bl.r.info("memory")["used_memory"])


def _scan(bl: Blocklist, scope: str, reason: str | None, age_out_s: int, result: Adoption,
          report: Progress) -> dict[str, dict[int, _Candidate]]:
    """The adoptable blocks of `scope` by treatment (number's digits -> candidate); the others counted in
    result.left. The index is read with ZSCAN (a batch a reply) and the blocks SCAN_BATCH a pipeline."""
    total = int(bl.r.zcard(keys.BLOCK_INDEX))
    found: dict[str, dict[int, _Candidate]] = {}
    left: dict[int, str] = {}  # a number ZSCAN gives twice is counted once
    batch: list[str] = []
    now = now_ms()

    def classify() -> None:
        pipe = bl.r.pipeline(transaction=False)
        for number in batch:
            pipe.hgetall(keys.block(scope, number))
            pipe.llen(keys.history(number))
            pipe.lrange(keys.history(number), -HISTORY_TAIL, -1)
        replies = pipe.execute()
        for i, number in enumerate(batch):
            block, length, tail = replies[3 * i:3 * i + 3]
            until = int(block["until"]) if block and block.get("until") else None
            if not block or (until is not None and until <= now):
                continue  # ended: not a block any more
            digits = int(number[1:])
            why = _why_left(scope, block, [json.loads(item) for item in tail])
            if not why and reason is not None and block.get("reason") != reason:
                why = "other_reason"
            if not why and age_out_s == 0 and until is not None:
                why = "has_end"
            if not why and age_out_s and until is None:
                why = "permanent"
            if not why:
                try:
                    feed_number(number, bl.default_region)
                except ValueError:
                    why = "not_listable"
            if why:
                left[digits] = why
                continue
            seen_s = int(block["at"]) // 1000 if until is None else -(-until // 1000) - age_out_s
            found.setdefault(block.get("treatment", ""), {})[digits] = _Candidate(
                seen_s, block["at"], int(length), block.get("treatment", ""))

    for done, (member, _score) in enumerate(bl.r.zscan_iter(keys.BLOCK_INDEX, count=1000), 1):
        where, _, number = member.partition("|")
        if where == scope:
            batch.append(number)
        if len(batch) >= SCAN_BATCH:
            classify()
            batch = []
        if done % SCAN_BATCH == 0:
            report("reading blocks", done, total)
    if batch:
        classify()
    report("reading blocks", total, total)
    for digits in left.keys() & {d for candidates in found.values() for d in candidates}:
        del left[digits]  # ZSCAN gave it twice and it changed in between: counted where it was seen last
    result.left = dict(Counter(left.values()))
    return found


def _why_left(scope: str, block: dict[str, str], tail: list[dict[str, Any]]) -> str:
    """'' for a block a CSV import wrote and nobody changed since; else why it stays a manager block. The latest
    history entry about the block decides: a flag, a block by hand, an edit, or the import's own entry."""
    for item in reversed(tail):
        action = item.get("action")
        if action == "flag":
            if scope == keys.GLOBAL:
                return "flagged"  # a flag blocks on every line
            continue
        if item.get("scope", keys.GLOBAL) != scope:
            continue
        if action == "edit":
            return "edited"
        if action in ("permanent", "temporary"):
            return "end_changed"
        if action == "block":
            if int(item.get("step") or 0) > 0 or item.get("role") == "agent":
                return "flagged"
            if item.get("source") != "import":
                return "by_hand"
            if str(item.get("at")) != block.get("at") or block.get("via") != "manager" or block.get("step", "0") != "0":
                return "unclear"
            return ""
        if action in ("unblock", "feed_adopt"):
            return "unclear"  # the block was lifted after its latest entry: it cannot be the one in force
    return "unclear"  # more than HISTORY_TAIL entries since the block: left for a person to look at


def _choose(found: dict[str, dict[int, _Candidate]], treatment: str | None, result: Adoption) -> str:
    """The one treatment adopted; the blocks of the others are counted as left."""
    if treatment is None:
        if len(found) > 1:
            counts = ", ".join(f"{len(found[t])} {t or 'line'}" for t in sorted(found, key=lambda t: -len(found[t])))
            raise ValueError(f"the imported blocks have {len(found)} treatments ({counts}) and a feed has one: adopt "
                             "them one treatment at a time with --treatment (line: the line's treatment), each "
                             "into a feed of its own name")
        treatment = next(iter(found), "")
    others = sum(len(c) for t, c in found.items() if t != treatment)
    if others:
        result.left["other_treatment"] = others
    return treatment


def _listed(bl: Blocklist, feed: Feed | None, adopt: dict[int, _Candidate]) -> dict[int, int]:
    """The stored value of each adopted number the feed lists already."""
    if feed is None or not adopt:
        return {}
    out: dict[int, int] = {}
    numbers = list(adopt)
    for start in range(0, len(numbers), SCAN_BATCH):
        chunk = numbers[start:start + SCAN_BATCH]
        pipe = bl.r.pipeline(transaction=False)
        for digits in chunk:
            pipe.hget(keys.feed_bucket(feed.name, feed.version, digits % feed.buckets), str(digits))
        for digits, value in zip(chunk, pipe.execute(), strict=True):
            if value is not None:
                out[digits] = int(value)
    return out


def _merged(listed: int | None, seen_s: int) -> int:
    """A number's entry after adoption: as listed, seen as late as the block needs; its reports as they were (a
    second run after an interrupted one finds its own entries and changes nothing)."""
    if listed is None:
        return pack(seen_s, 1)
    old_seen, evidence = unpack(listed)
    return pack(max(old_seen, seen_s), evidence)


def _row(digits: int, value: int) -> str:
    seen_s, evidence = unpack(value)
    # Unix seconds are exact; past the year 5138 they would not read as seconds, so ISO 8601 instead.
    seen = str(seen_s) if seen_s < 10**11 else datetime.fromtimestamp(seen_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"+{digits},{evidence},{seen}\n"


def _write_feed(bl: Blocklist, feed: Feed | None, name: str, adopt: dict[int, _Candidate], *, source: str,
                licence: str, by: str, role: str, age_out_days: int, treatment: str, scope: str,
                progress: Progress) -> None:
    """Write and swap in the feed's new version: what it listed, merged with the adopted numbers, as an import."""
    expected = feed.version if feed else None

    def open_text() -> Iterator[str]:
        live = bl.r.hget(keys.FEEDS_LIVE, name)
        if (live.split("|", 1)[0] if live else None) != expected:
            raise RuntimeError(f"feed {name} was imported, replaced or deleted while the blocks were being adopted "
                               "into it; nothing was adopted: run `ivr feeds adopt` again")
        merged: set[int] = set()  # adopted numbers the feed listed (those it still lists: an appeal may be under way)
        if feed is not None:
            for e in bl.iter_feed(name):
                digits = int(e.number[1:])
                value = pack(e.seen_ms // 1000, e.evidence)
                candidate = adopt.get(digits)
                if candidate is not None:
                    merged.add(digits)
                    value = _merged(value, candidate.seen_s)
                yield _row(digits, value)
        for digits, candidate in adopt.items():
            if digits not in merged:
                yield _row(digits, _merged(None, candidate.seen_s))

    fetched = feed.fetched_at if feed else max(int(c.at) for c in adopt.values())
    result = bl.import_feed(name, open_text, source=source, licence=licence, by=by, fetched_at=fetched,
                            age_out_days=age_out_days, treatment=treatment, scope=scope, progress=progress, role=role)
    if not result.written:  # every row is checked before the blocks were chosen: a bug if one is bad
        raise RuntimeError(f"feed {name} was not written ({result.summary()}); no block was moved. Please report it")


def _move(bl: Blocklist, name: str, scope: str, adopt: dict[int, _Candidate], *, by: str, role: str, lock: _Lock,
          progress: Progress) -> list[int]:
    """Remove the adopted blocks, REMOVE_BATCH a script; the numbers that changed meanwhile (they stay)."""
    entry = json.dumps({"at": now_ms(), "action": "feed_adopt", "by": clean_text(by), "role": role, "scope": scope,
                        "feed": name, "reason": f"moved into feed {name}"}, sort_keys=True)
    script = scripts.register(bl.r, "feed_adopt")
    items = list(adopt.items())
    changed: list[int] = []
    for start in range(0, len(items), REMOVE_BATCH):
        lock.refresh()
        changed += _move_batch(bl, script, scope, entry, items[start:start + REMOVE_BATCH])
        progress("moving blocks into the feed", min(start + REMOVE_BATCH, len(items)), len(items))
    return changed


def _move_batch(bl: Blocklist, script: Any, scope: str, entry: str, batch: list[tuple[int, _Candidate]]) -> list[int]:
    script_keys = [keys.BLOCK_INDEX]
    args: list[Any] = [scope, entry]
    for digits, candidate in batch:
        number = f"+{digits}"
        script_keys += [keys.block(scope, number), keys.history(number)]
        args += [number, candidate.at, candidate.history]
    reply = script(keys=script_keys, args=args)
    return [int(number[1:]) for number in reply[2:]]


def _take_back(bl: Blocklist, name: str, changed: list[int], present: dict[int, int]) -> None:
    """Numbers whose block a person changed during the run stay manager blocks: their feed entries go back to what
    the feed had (none, or the entry it listed), so an appeal against the block is not undone by the feed."""
    feed = bl.feed(name)
    if feed is None:
        return
    pipe = bl.r.pipeline(transaction=False)
    for digits in changed:
        bucket = keys.feed_bucket(name, feed.version, bucket_of(f"+{digits}", feed.buckets))
        if digits in present:
            pipe.hset(bucket, str(digits), present[digits])
        else:
            pipe.hdel(bucket, str(digits))
    dropped = sum(int(n) for digits, n in zip(changed, pipe.execute(), strict=True) if digits not in present)
    if dropped:
        bl._bump_feed(name, feed.version, "entries", -dropped)


def _audit(bl: Blocklist, result: Adoption, reason: str | None, *, by: str, role: str) -> None:
    which = f"with reason {reason!r}" if reason is not None else "(every reason)"
    text = f"imported blocks {which} moved into the feed"
    if result.kept:
        text += f"; left as they were: {result.left_words()}"
    pipe = bl._pipeline()
    events.audit(pipe, by=by, role=role, action="feed_adopt", scope=result.scope, subject=result.name, reason=text,
                 adopted=str(result.adopted), left=str(result.kept), entries=str(result.entries))
    pipe.execute()


class _Lock:
    """One adoption at a time: a second run's removals would find the first's history entries and keep the
    blocks it had already put in the feed."""

    def __init__(self, bl: Blocklist) -> None:
        self.r = bl.r
        self.key = keys.import_lock("feed-adopt")
        self.token = f"{secrets.token_hex(8)}|{now_ms()}"
        if not self.r.set(self.key, self.token, nx=True, px=LOCK_MS):
            since = str(self.r.get(self.key) or "").partition("|")[2]
            when = format_time(int(since)) if since.isdigit() else "a moment ago"
            raise RuntimeError(f"another adoption is running (since {when}); nothing was adopted: wait for it to "
                               f"finish (or {LOCK_MS // 60_000} minutes if it was killed), then run this again")

    def refresh(self) -> None:
        self.r.register_script(LOCK_REFRESH_LUA)(keys=[self.key], args=[self.token, LOCK_MS])

    def release(self) -> None:
        self.r.register_script(LOCK_RELEASE_LUA)(keys=[self.key], args=[self.token])

