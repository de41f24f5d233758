"""Bulk feeds: national-size lists of numbers from carriers and regulators (robocaller lists, Do-Not-Originate
lists, complaint data), kept compact enough that ten million numbers fit next to the calls on one Redis.

A manager's block is a hash of its own with a history, an index member, an event and an audit record: about
300 bytes as the screen reads it and 870 with the rest, right for the few thousand numbers people block by hand.
A feed is a list someone else keeps. It is stored as one unit:

- `ivr:feeds` (keys.FEEDS): name -> the feed's card as JSON (source, licence, fetched-at, age-out, treatment,
  scope, entries, who imported it and when) for people;
- `ivr:feeds:live` (keys.FEEDS_LIVE): name -> "version|buckets|scope|treatment|age_out_s|source", what the screen
  reads (one small HGETALL per call);
- the numbers, in `buckets` small hashes per version (keys.feed_bucket): field = the number's digits without '+',
  value = seen_s * 1000 + evidence (the day it was last reported, to the second, and how many reports; at most
  999). Both are plain integers, so Redis keeps each bucket as a ziplist of 64-bit integers (about 64 numbers
  per bucket, well under hash-max-ziplist-entries' default of 128): about 20 bytes per number with the
  bucket's own overhead spread over its numbers. The bucket is the number (as an integer) modulo `buckets`, a
  prime picked from the list's size, so the screen finds it with one HGET and no index.

An entry ages out `age_out_days` after it was last reported (0: never): the screen treats an aged-out entry as
absent from that second on (Redis 6.2 has no per-field expiry), and the sweeper (workers/calls.sweep_feeds)
removes it later to give the memory back.

Importing a feed writes a new version beside the one in force and swaps the pointer in one MULTI: the screen
sees the old list whole or the new list whole, never half of either. A bad row stops the import before the
swap (nothing of the new version is written: the rows are checked before any bucket is); `partial` imports the
good rows. The old version's buckets are deleted right after the swap, or by the sweeper if the importer died
first (`ivr:feeds:retired`).

The numbers are written bucket by bucket, each bucket whole in one HSET (about 64 numbers a command), not number
by number: while the rows are read and checked, each good number is set aside in the group of buckets it belongs
to (`_Spool`: 16 bytes a number, in memory for small files, in a scratch folder for large ones); then each group
is read back, a number the file names twice is merged, and its buckets are written. Redis does one command per
bucket instead of one per number, and its append-only file grows by 39 bytes a number instead of 85.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import secrets
import tempfile
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from blocklist import events, keys
from blocklist.base import BlocklistBase
from blocklist.clock import now_ms
from blocklist.numbers import WITHHELD, normalize
from blocklist.text import clean_text

# (phase, done, total); phase is "checking" (rows read), "writing" (numbers written) or "swapping".
Progress = Callable[[str, int, int], None]

FEED_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
BUCKET_FILL = 64  # numbers per bucket on average: a ziplist at any hash-max-ziplist-entries >= 128
MAX_EVIDENCE = 999
MAX_AGE_OUT_DAYS = 3650
MAX_ERRORS_KEPT = 1000  # bad rows reported one by one; the rest are counted
GROUP_NUMBERS = 250_000  # numbers per group of buckets set aside while reading: what writing holds in memory at once
SPOOL_BUFFER = 65_536  # numbers a group keeps in memory while reading before they go to the scratch folder
WRITE_BUCKETS = 256  # buckets (HSETs) per pipelined write
LOCK_SECONDS = 120  # an import's lock, renewed as it goes: a killed import holds it two minutes at most
DELETE_BATCH = 1000  # bucket keys per UNLINK
NANP_REGIONS = frozenset({"US", "CA", "PR", "VI", "GU", "AS", "MP", "AG", "AI", "BB", "BM", "BS", "DM", "DO", "GD",
                          "JM", "KN", "KY", "LC", "MS", "SX", "TC", "TT", "VC", "VG"})
_NANP_TEN = re.compile(r"[2-9][0-9]{9}")
_NANP_ELEVEN = re.compile(r"1[2-9][0-9]{9}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# +1 with ten digits, the first 2-9: normalize() returns such a number as it is (North America's numbers are
# "possible" by length alone, and no national prefix can be stripped): a test holds the two to the same answers.
_NANP_E164 = re.compile(r"\+1[2-9][0-9]{9}")
# The evidence column as written -> reports: '' (one report) and 1-999 without a sign or leading zero; anything
# else takes _evidence(), which caps or refuses it.
_EVIDENCE_VALUES = {"": 1, **{str(n): n for n in range(1, MAX_EVIDENCE + 1)}}
_BLANK_OR_COMMENT = frozenset(" \t#")  # a row whose first cell starts otherwise is neither blank nor a comment
_NUMBER_HEADERS = ("number", "phone", "phone_number", "tn", "caller", "caller_id", "ani")
_EVIDENCE_HEADERS = ("evidence", "count", "reports", "complaints")
_SEEN_HEADERS = ("last_seen", "seen", "date", "last_reported", "reported")


def valid_name(name: str) -> str:
    """A feed's name as stored; ValueError saying what to write."""
    name = (name or "").strip().lower()
    if not FEED_NAME.fullmatch(name):
        raise ValueError(f"feed name {name[:40]!r}: use 1-40 lower-case letters, digits, '-' or '_', starting with "
                         "a letter or digit, e.g. ftc-dnc or carrier-robocallers")
    return name


def bucket_count(entries: int) -> int:
    """How many buckets a version of `entries` numbers gets: the first prime at or above entries / BUCKET_FILL
    (a prime, so numbers that differ only in their upper digits still spread)."""
    n = max(2, math.ceil(entries / BUCKET_FILL))
    while not _is_prime(n):
        n += 1
    return n


def _is_prime(n: int) -> bool:
    if n < 4:
        return n >= 2
    if n % 2 == 0:
        return False
    return all(n % d for d in range(3, math.isqrt(n) + 1, 2))


def bucket_of(number: str, buckets: int) -> int:
    """The bucket of an E.164 number: its digits as an integer, modulo `buckets` (screen.lua does the same with
    Lua's doubles, exact for every number of at most 15 digits)."""
    return int(number[1:]) % buckets


def pack(seen_s: int, evidence: int) -> int:
    return seen_s * 1000 + min(max(evidence, 1), MAX_EVIDENCE)


def unpack(value: int | str) -> tuple[int, int]:
    """(seen_s, evidence) of a stored value."""
    n = int(value)
    return n // 1000, n % 1000


@dataclass(frozen=True)
class Feed:
    """One feed as people see it: where it comes from, how it applies, what it holds."""

    name: str
    source: str  # who publishes it: "FTC Do Not Call complaints", "Carrier X robocall list"
    licence: str  # the terms it is used under: "public domain", "contract 2026-114"
    fetched_at: int  # ms: when the list was fetched from its source
    age_out_days: int  # an entry is dropped this long after it was last reported; 0 = never
    treatment: str  # '' = the line's blocked treatment
    scope: str  # '*' or a line's E.164
    version: str
    buckets: int
    entries: int
    imported_at: int
    by: str
    removed: int = 0  # entries taken out by hand (appeals) since the import
    swept: int = 0  # aged-out entries the sweeper removed since the import

    @property
    def listed(self) -> int:
        """Numbers the feed holds now: imported, less those taken out by hand and those swept after ageing out."""
        return max(0, self.entries - self.removed - self.swept)

    @property
    def age_out_s(self) -> int:
        return self.age_out_days * 86400

    def spec(self) -> str:
        """What the screen reads of the feed (keys.FEEDS_LIVE)."""
        source = clean_text(self.source, 60).replace("|", "/")
        return f"{self.version}|{self.buckets}|{self.scope}|{self.treatment}|{self.age_out_s}|{source}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "listed": self.listed}

    @classmethod
    def from_json(cls, raw: str) -> Feed:
        data = json.loads(raw)
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class FeedEntry:
    """One number of a feed: how many reports, when last reported, and until when it stays listed."""

    feed: str
    number: str
    evidence: int
    seen_ms: int
    until_ms: int | None  # None: the feed never ages entries out

    def active(self, at: int) -> bool:
        return self.until_ms is None or at < self.until_ms

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FeedRowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class FeedImport:
    """What a feed import found and did."""

    name: str
    rows: int = 0
    entries: int = 0  # distinct numbers written (or that would be, checking only)
    duplicates: int = 0  # rows naming a number already in the file (their reports are added up)
    errors: list[FeedRowError] = field(default_factory=list)  # the first MAX_ERRORS_KEPT bad rows
    bad_rows: int = 0
    written: bool = False
    partial: bool = False
    check_only: bool = False
    seconds: float = 0.0
    replaced: int | None = None  # entries of the version this one replaced

    @property
    def ok(self) -> bool:
        return not self.bad_rows

    def summary(self) -> str:
        if self.check_only:
            text = f"{self.rows} row(s) checked: {self.entries} number(s) would be in feed {self.name}"
            return text + (f", {self.bad_rows} bad row(s)" if self.bad_rows else "") + " (nothing written)"
        if self.bad_rows and not self.written:
            todo = ("fix them and import again" if self.partial and self.bad_rows == self.rows
                    else "fix them and import again, or import the good rows with partial mode")
            return f"{self.bad_rows} bad row(s) of {self.rows}; nothing imported, feed {self.name} unchanged ({todo})"
        text = f"feed {self.name}: {self.entries} number(s) from {self.rows} row(s) in {self.seconds:.1f} s"
        if self.duplicates:
            text += f", {self.duplicates} repeated row(s) added up"
        if self.bad_rows:
            text += f", {self.bad_rows} bad row(s) left out"
        if self.replaced is not None:
            text += f"; replaced the previous version ({self.replaced} number(s))"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "rows": self.rows, "entries": self.entries, "duplicates": self.duplicates,
                "written": self.written, "partial": self.partial, "check_only": self.check_only,
                "seconds": round(self.seconds, 3), "replaced": self.replaced,
                "errors": [{"line": e.line, "reason": e.reason} for e in self.errors[:1000]],
                "bad_rows": self.bad_rows}


# ---- reading a feed file -------------------------------------------------------------------------------------
class FeedRow(NamedTuple):
    line: int
    number: str  # as written
    evidence: str
    seen: str


def read_rows(text: Iterable[str]) -> Iterator[FeedRow]:
    """The rows of a feed file: CSV with a header naming a number column (number, phone, tn, ...) and optionally
    evidence/count/reports and last_seen/date columns; or no header: number[,evidence[,last_seen]] per line.
    Blank lines and lines starting with '#' are skipped."""
    reader = csv.reader(text)
    columns: tuple[int, int, int] | None = None
    for row in _csv_rows(reader):
        line = reader.line_num
        first = row[0] if row else ""
        if not (first and first[0] not in _BLANK_OR_COMMENT) and (
                not any(cell.strip() for cell in row) or first.lstrip().startswith("#")):
            continue
        if columns is None:
            header = [cell.strip().lower().lstrip("\ufeff") for cell in row]
            found = _header_columns(header)
            columns = found or (0, 1, 2)
            if found:
                continue
        n, e, s = columns
        if n == 0 and e == 1 and s == 2 and len(row) == 3:  # the usual shape, without three lookups
            yield FeedRow(line, row[0].strip(), row[1].strip(), row[2].strip())
        else:
            yield FeedRow(line, _cell(row, n), _cell(row, e), _cell(row, s))


def _csv_rows(reader: Any) -> Iterator[list[str]]:
    """The reader's rows; a line the CSV module cannot read at all (a field over its 128 KiB limit, a stray
    NUL byte) stops the import with the line's number, as a ValueError: no later line can be trusted."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ValueError(f"line {reader.line_num} cannot be read as CSV ({exc}); nothing was imported. Check "
                             "that the file is a CSV of numbers (one per line) and import it again") from None
        yield row


def _header_columns(header: list[str]) -> tuple[int, int, int] | None:
    def find(names: tuple[str, ...]) -> int:
        return next((i for i, cell in enumerate(header) if cell in names), -1)

    number = find(_NUMBER_HEADERS)
    if number < 0:
        return None
    return number, find(_EVIDENCE_HEADERS), find(_SEEN_HEADERS)


def _cell(row: list[str], index: int) -> str:
    return row[index].strip() if 0 <= index < len(row) else ""


def feed_number(raw: str, default_region: str) -> str:
    """A feed row's number as E.164; ValueError saying why not. Feeds are mostly E.164 or ten-digit North
    American numbers: those two take a short path (4 µs instead of 15 µs a number: a million rows in seconds)."""
    text = raw.strip()
    if _NANP_E164.fullmatch(text):
        return text
    if default_region in NANP_REGIONS:
        if _NANP_TEN.fullmatch(text):
            text = "+1" + text
        elif _NANP_ELEVEN.fullmatch(text):
            text = "+" + text
    number = normalize(text, default_region)
    if number == WITHHELD:
        raise ValueError("a withheld caller ID is not a number a feed can list (the withheld policy covers those)")
    if not _E164.fullmatch(number):
        raise ValueError(f"{raw[:32]!r} is not a phone number")
    return number


def _evidence(raw: str) -> int:
    if not raw:
        return 1
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"evidence {raw[:12]!r}: write how many reports, a whole number from 1 (or leave it empty)")
    return min(int(raw), MAX_EVIDENCE)


def parse_seen(raw: str, default_ms: int) -> int:
    """When an entry was last reported, as ms: ISO date or date-time (UTC unless it says), or Unix seconds;
    empty = `default_ms` (the feed's fetched-at)."""
    text = raw.strip()
    if not text:
        return default_ms
    if text.isdigit() and len(text) <= 11:
        return int(text) * 1000
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"last seen {text[:30]!r}: write a date (2026-11-30), a date and time in ISO 8601 "
                         "(2026-11-30T14:05:00Z) or Unix seconds") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


class _Spool:
    """An import's good numbers, set aside by group of buckets until every row is read (`add`), then given back
    group by group with each bucket whole (`groups`): a number named twice merged, every bucket written in one HSET.

    A group's numbers wait in memory (two 64-bit integers each: the number, its packed value) until SPOOL_BUFFER of
    them are there, then go to a file of the group in a scratch folder (made on first need, deleted by `close`):
    memory stays bounded whatever the file's size, and the folder needs 16 bytes a number.
    """

    def __init__(self, buckets: int, expected: int) -> None:
        self.buckets = buckets
        self.count = 0  # numbers added (a number named twice counts twice)
        self.parts = max(1, math.ceil(expected / GROUP_NUMBERS))
        self.pending = [array("q") for _ in range(self.parts)]
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    def add(self, number: int, value: int) -> None:
        index = number % self.buckets % self.parts
        part = self.pending[index]
        part.append(number)
        part.append(value)
        self.count += 1
        if len(part) >= 2 * SPOOL_BUFFER:
            self._set_aside(index)

    def _file(self, part: int) -> Path:
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="ivr-feed-import-")
        return Path(self._folder.name) / f"{part}.bin"

    def _set_aside(self, part: int) -> None:
        try:
            with self._file(part).open("ab") as out:
                self.pending[part].tofile(out)
        except OSError as exc:
            raise OSError(f"could not set the import's numbers aside in {tempfile.gettempdir()} "
                          f"({exc.strerror or exc}); nothing was imported. Free some disk space there (16 bytes a "
                          "number) or point TMPDIR at a folder with room, and import again") from None
        self.pending[part] = array("q")

    def groups(self) -> Iterator[dict[int, dict[str, int]]]:
        """Each group's buckets: bucket -> {digits: packed value}, every number of a bucket in it."""
        for part in range(self.parts):
            numbers = array("q")
            if self._folder is not None and (path := self._file(part)).exists():
                numbers.frombytes(path.read_bytes())
                path.unlink()
            numbers.extend(self.pending[part])
            self.pending[part] = array("q")
            group: dict[int, dict[str, int]] = {}
            buckets = self.buckets
            values = iter(numbers)
            for number, value in zip(values, values, strict=True):
                bucket = number % buckets
                fields = group.get(bucket)
                if fields is None:
                    fields = group[bucket] = {}
                key = str(number)
                old = fields.get(key)
                fields[key] = _merge(old, value) if old else value
            yield group

    def close(self) -> None:
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None


# ---- the store -----------------------------------------------------------------------------------------------
class FeedsMixin(BlocklistBase):
    """Bulk feeds: import (atomic swap), look up, remove a number, delete, sweep aged-out entries."""

    def feeds(self) -> list[Feed]:
        """Every feed in force, by name."""
        return sorted((Feed.from_json(raw) for raw in self.r.hgetall(keys.FEEDS).values()), key=lambda f: f.name)

    def feed(self, name: str) -> Feed | None:
        raw = self.r.hget(keys.FEEDS, valid_name(name))
        return Feed.from_json(raw) if raw else None

    def feed_entries(self, raw_number: str, at: int | None = None) -> list[FeedEntry]:
        """The feeds that list a number (aged-out entries included: `active()` says which still count)."""
        number = self._identity(raw_number)
        found = self.feeds()
        if not found:
            return []
        pipe = self.r.pipeline(transaction=False)
        for feed in found:
            pipe.hget(keys.feed_bucket(feed.name, feed.version, bucket_of(number, feed.buckets)), number[1:])
        out = []
        for feed, value in zip(found, pipe.execute(), strict=True):
            if value is not None:
                seen_s, evidence = unpack(value)
                until = (seen_s + feed.age_out_s) * 1000 if feed.age_out_days else None
                out.append(FeedEntry(feed.name, number, evidence, seen_s * 1000, until))
        return out

    def iter_feed(self, name: str, batch: int = 500) -> Iterator[FeedEntry]:
        """Every number of a feed (aged-out ones included until swept), bucket by bucket: the export."""
        feed = self.feed(name)
        if feed is None:
            raise LookupError(f"there is no feed {valid_name(name)}; see `ivr feeds list`")
        for start in range(0, feed.buckets, batch):
            pipe = self.r.pipeline(transaction=False)
            for b in range(start, min(start + batch, feed.buckets)):
                pipe.hgetall(keys.feed_bucket(feed.name, feed.version, b))
            for bucket in pipe.execute():
                for digits, value in bucket.items():
                    seen_s, evidence = unpack(value)
                    until = (seen_s + feed.age_out_s) * 1000 if feed.age_out_days else None
                    yield FeedEntry(feed.name, "+" + digits, evidence, seen_s * 1000, until)

    def import_feed(self, name: str, open_text: Callable[[], Iterable[str]], *, source: str, licence: str,
                    by: str, fetched_at: int | None = None, age_out_days: int = 0, treatment: str = "",
                    scope: str | None = None, partial: bool = False, write: bool = True,
                    progress: Progress | None = None, role: str = "manager") -> FeedImport:
        """Import (or replace) a feed from its file. `open_text()` gives the file's lines each time it is called
        (read twice: once to count the rows, once to check them and set the good numbers aside by bucket).

        Nothing the screen reads changes until the last step swaps the new version in. A bad row stops the
        import before any bucket is written (unless `partial`); after a failure while writing, the half-written
        version is deleted.
        """
        name = valid_name(name)
        source, licence = clean_text(source, 120).strip(), clean_text(licence, 120).strip()
        if not source:
            raise ValueError("say where the feed comes from (--source), e.g. 'FTC Do Not Call complaints'")
        if not licence:
            raise ValueError("say under which terms the feed is used (--licence), e.g. 'public data' or a contract")
        if not 0 <= age_out_days <= MAX_AGE_OUT_DAYS:
            raise ValueError(f"age-out {age_out_days} days: give 0 (never) to {MAX_AGE_OUT_DAYS} days")
        treatment = self._treatment(treatment)
        scope_ = self._scope(scope, self.default_region)
        now = now_ms()
        fetched = fetched_at if fetched_at is not None else now
        if fetched > now + 86_400_000:
            raise ValueError("the feed's fetched-at time is in the future; give when it was fetched")
        started = time.monotonic()
        report = progress or (lambda _phase, _done, _total: None)
        total = sum(1 for _ in open_text())  # lines, for the progress bar and the number of buckets
        result = FeedImport(name, partial=partial, check_only=not write)
        buckets = bucket_count(total)
        version = secrets.token_hex(4)
        lock = keys.import_lock("feed:" + name)
        if write and not self.r.set(lock, version, nx=True, ex=LOCK_SECONDS):
            raise RuntimeError(f"feed {name} is being imported by someone else right now; try again when it is done")
        if write:
            self._forget_cut_short(name)
            self.r.hset(keys.FEEDS_PENDING, name, f"{name}|{version}|{buckets}")
        spool = _Spool(buckets, total)
        try:
            seen_cache: dict[str, int] = {}
            good = 0
            keep = True  # False once a bad row (without partial) means nothing will be written: the rest are only checked
            nanp = _NANP_E164.fullmatch  # the usual row takes the shortest path: names looked up once
            region = self.default_region
            add = spool.add
            for row in read_rows(open_text()):
                result.rows += 1
                text = row.number
                evidence = _EVIDENCE_VALUES.get(row.evidence, 0)
                seen = seen_cache.get(row.seen)  # seconds x 1000, as pack() keeps them
                if evidence and seen is not None and nanp(text):
                    number = text
                else:
                    try:
                        number = text if nanp(text) else feed_number(text, region)
                        evidence = evidence or _evidence(row.evidence)
                        if seen is None:  # a feed's dates repeat: each distinct text is read once
                            if len(seen_cache) > 100_000:
                                seen_cache.clear()
                            seen = seen_cache[row.seen] = parse_seen(row.seen, fetched) // 1000 * 1000
                    except ValueError as exc:
                        result.bad_rows += 1
                        if len(result.errors) < MAX_ERRORS_KEPT:
                            result.errors.append(FeedRowError(row.line, str(exc)))
                        if write and not partial:
                            keep = False
                        continue
                good += 1
                if keep:
                    add(int(number[1:]), seen + evidence)  # the digits (never a leading 0), pack(seen s, reports)
                if result.rows % 50_000 == 0:
                    report("checking", result.rows, total)
                    if write:
                        self.r.expire(lock, LOCK_SECONDS)
            report("checking", result.rows, total)
            if not result.rows:
                raise ValueError("the file has no numbers in it (empty, or only a header and comments); nothing "
                                 f"was imported and feed {name} is unchanged. To take a feed out of force, delete "
                                 "it instead")
            if keep:
                result.entries = self._write_spool(spool, name, version, lock, report) if write else \
                    sum(len(fields) for group in spool.groups() for fields in group.values())
            writing = write and keep and result.entries > 0  # partial with every row bad: an empty version never replaces a list
            result.duplicates = good - result.entries if (writing or not write) else 0
            if not writing:
                if write:
                    self._delete_version(name, version, buckets)
                result.seconds = time.monotonic() - started
                return result
            report("swapping", 0, 1)
            feed = Feed(name, source, licence, fetched, age_out_days, treatment, scope_, version, buckets,
                        result.entries, now, clean_text(by))
            previous = self._swap_feed(feed, by, role)
            result.written = True
            result.replaced = previous.entries if previous else None
            if previous:
                self._delete_version(previous.name, previous.version, previous.buckets)
            report("swapping", 1, 1)
        except BaseException:
            if write and not result.written:
                self._delete_version(name, version, buckets)
            raise
        finally:
            spool.close()
            if write:
                self.r.hdel(keys.FEEDS_PENDING, name)
                self.r.delete(lock)
        result.seconds = time.monotonic() - started
        return result

    def _write_spool(self, spool: _Spool, name: str, version: str, lock: str, report: Progress) -> int:
        """Write the new version's buckets from the spool, WRITE_BUCKETS whole buckets per pipelined write;
        returns how many numbers were written."""
        written = 0
        report("writing", 0, spool.count)
        for group in spool.groups():
            chunk: dict[int, dict[str, int]] = {}
            for bucket, fields in group.items():
                chunk[bucket] = fields
                if len(chunk) >= WRITE_BUCKETS:
                    written += self._write_feed_batch(name, version, chunk)
                    chunk = {}
            if chunk:
                written += self._write_feed_batch(name, version, chunk)
            self.r.expire(lock, LOCK_SECONDS)
            report("writing", min(written, spool.count), spool.count)
        report("writing", spool.count, spool.count)
        return written

    def _forget_cut_short(self, name: str) -> None:
        """Delete what an import of `name` cut short (its process killed mid-write) left: a version never in
        force. Called holding the import lock, or by the sweeper once the lock is gone."""
        leftover = self.r.hget(keys.FEEDS_PENDING, name)
        if leftover:
            _name, version, buckets = leftover.rsplit("|", 2)
            live = self.r.hget(keys.FEEDS_LIVE, name)
            if not (live and live.split("|", 1)[0] == version):
                self._delete_version(name, version, int(buckets))
            self.r.hdel(keys.FEEDS_PENDING, name)

    def _write_feed_batch(self, name: str, version: str, batch: dict[int, dict[str, int]]) -> int:
        """Write whole buckets of a new version, one HSET each: `batch` holds every number of each of its buckets
        (the spool gathered them, a number named twice merged). Returns how many numbers were written."""
        pipe = self.r.pipeline(transaction=False)
        for bucket, fields in batch.items():
            pipe.hset(keys.feed_bucket(name, version, bucket), mapping=fields)  # type: ignore[arg-type]
        added = pipe.execute()
        expected = [len(fields) for fields in batch.values()]
        if added != expected:  # a bucket of this version had numbers already: never merge into a stranger's
            raise RuntimeError(f"feed {name}: its new version {version} was written to by something else during the "
                               "import; nothing was swapped in. Import the file again")
        return sum(expected)

    def _swap_feed(self, feed: Feed, by: str, role: str) -> Feed | None:
        """Put a new version in force in one MULTI: the screen sees the old list or the new one, never a mix."""
        previous: Feed | None = None

        def work(pipe: Any) -> None:
            nonlocal previous
            raw = pipe.hget(keys.FEEDS, feed.name)
            previous = Feed.from_json(raw) if raw else None
            pipe.multi()
            pipe.hset(keys.FEEDS, feed.name, json.dumps(asdict(feed), sort_keys=True))
            pipe.hset(keys.FEEDS_LIVE, feed.name, feed.spec())
            if previous:
                pipe.sadd(keys.FEEDS_RETIRED, f"{previous.name}|{previous.version}|{previous.buckets}")
            events.event(pipe, "feed", ts=feed.imported_at, feed=feed.name, action="feed_import", by=feed.by,
                         entries=feed.entries, source=feed.source, version=feed.version)
            events.audit(pipe, ts=feed.imported_at, by=clean_text(by), role=role, action="feed_import",
                         subject=feed.name, reason=f"{feed.source}; licence: {feed.licence}",
                         entries=str(feed.entries), replaced=str(previous.entries) if previous else "")
            pipe.execute()

        self._watched(keys.FEEDS, work)
        return previous

    def _delete_version(self, name: str, version: str, buckets: int) -> None:
        """Delete one version's buckets (never the version in force: the caller swapped first)."""
        names = [keys.feed_bucket(name, version, b) for b in range(buckets)]
        for i in range(0, len(names), DELETE_BATCH):
            self.r.unlink(*names[i:i + DELETE_BATCH])
        self.r.srem(keys.FEEDS_RETIRED, f"{name}|{version}|{buckets}")

    def delete_feed(self, name: str, *, by: str, reason: str, role: str = "manager") -> Feed | None:
        """Stop using a feed: out of the screen at once, its numbers deleted after. None when there is no such feed."""
        name = valid_name(name)
        if not reason.strip():
            raise ValueError("say why the feed is deleted; it goes into the audit log")
        feed = self.feed(name)
        if feed is None:
            return None
        at = now_ms()
        pipe = self._pipeline()
        pipe.hdel(keys.FEEDS_LIVE, name)
        pipe.hdel(keys.FEEDS, name)
        pipe.sadd(keys.FEEDS_RETIRED, f"{name}|{feed.version}|{feed.buckets}")
        events.event(pipe, "feed", ts=at, feed=name, action="feed_delete", by=clean_text(by), entries=feed.entries,
                     source=feed.source, version=feed.version)
        events.audit(pipe, ts=at, by=clean_text(by), role=role, action="feed_delete", subject=name,
                     reason=clean_text(reason), entries=str(feed.entries), replaced="")
        pipe.execute()
        self._delete_version(name, feed.version, feed.buckets)
        return feed

    def remove_from_feed(self, name: str, raw_number: str, *, by: str, reason: str, role: str = "manager") -> bool:
        """Take one number out of a feed (an appeal): until the feed's next import brings it back. The number's
        history and the audit log say so. False when the feed does not list it."""
        name = valid_name(name)
        number = self._identity(raw_number)
        if not reason.strip():
            raise ValueError("say why the number comes out of the feed (the appeal's outcome); it goes into its history")
        feed = self.feed(name)
        if feed is None:
            raise LookupError(f"there is no feed {name}; see `ivr feeds list`")
        at = now_ms()
        key = keys.feed_bucket(name, feed.version, bucket_of(number, feed.buckets))
        if not self.r.hdel(key, number[1:]):
            return False
        pipe = self._pipeline()
        self._history_entry(pipe, number, at=at, action="feed_remove", by=clean_text(by), role=role,
                            reason=clean_text(reason), feed=name, source=feed.source)
        events.audit(pipe, ts=at, by=clean_text(by), role=role, action="feed_remove", number=number, subject=name,
                     reason=clean_text(reason))
        pipe.execute()
        self._bump_feed(name, feed.version, "removed", 1)
        return True

    def _bump_feed(self, name: str, version: str, counter: str, n: int) -> None:
        def work(pipe: Any) -> None:
            raw = pipe.hget(keys.FEEDS, name)
            if not raw:
                return
            card = json.loads(raw)
            if card.get("version") != version:
                return  # a new import replaced it meanwhile: its counters start again
            card[counter] = int(card.get(counter, 0)) + n
            pipe.multi()
            pipe.hset(keys.FEEDS, name, json.dumps(card, sort_keys=True))
            pipe.execute()

        self._watched(keys.FEEDS, work)

    def sweep_feeds(self, at: int | None = None, progress: Progress | None = None, per_call: int = 200) -> dict[str, int]:
        """Remove aged-out entries of every feed, the buckets of retired versions and of imports cut short (their
        process killed, their lock gone); returns what went, per feed.

        The screen already ignores an aged-out entry from the second it ages out: this gives the memory back.
        Buckets are swept `per_call` at a time (one short script each), so calls keep being screened meanwhile.
        """
        at = at or now_ms()
        out: dict[str, int] = {}
        for name in self.r.hkeys(keys.FEEDS_PENDING):
            if not self.r.exists(keys.import_lock("feed:" + name)):  # no import is writing it any more
                self._forget_cut_short(name)
        for member in self.r.smembers(keys.FEEDS_RETIRED):
            name, version, buckets = member.rsplit("|", 2)
            live = self.r.hget(keys.FEEDS_LIVE, name)
            if live and live.split("|", 1)[0] == version:
                self.r.srem(keys.FEEDS_RETIRED, member)  # never delete the version in force
                continue
            self._delete_version(name, version, int(buckets))
        for feed in self.feeds():
            if not feed.age_out_days:
                continue
            cutoff_s = at // 1000 - feed.age_out_s  # entries last seen at or before this have aged out
            removed = 0
            for start in range(0, feed.buckets, per_call):
                names = [keys.feed_bucket(feed.name, feed.version, b)
                         for b in range(start, min(start + per_call, feed.buckets))]
                removed += int(self._feed_sweep(keys=names, args=[cutoff_s]))
                if progress:
                    progress(f"sweeping {feed.name}", min(start + per_call, feed.buckets), feed.buckets)
            if removed:
                self._bump_feed(feed.name, feed.version, "swept", removed)
            out[feed.name] = removed
        return out


def _merge(old: int, new: int) -> int:
    """Two reports of one number in one file: the reports add up, the later date counts."""
    old_seen, old_evidence = unpack(old)
    new_seen, new_evidence = unpack(new)
    return pack(max(old_seen, new_seen), old_evidence + new_evidence)


def text_lines(data: bytes | str) -> Callable[[], Iterable[str]]:
    """An `open_text` for import_feed over a file already in memory (an upload)."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data

    def open_text() -> Iterable[str]:
        return io.StringIO(text, newline="")

    return open_text
