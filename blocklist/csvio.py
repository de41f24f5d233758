"""CSV import and export of the blocklist and the allowlist.

A file is checked whole before anything is written: by default one bad row imports nothing, and
every bad row is reported with its line number. Rows already in force are left alone, so importing
the same file twice changes nothing, and an export imports back to the same state.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from blocklist import keys
from blocklist.clock import format_time, now_ms
from blocklist.entries import Entry
from blocklist.numbers import WITHHELD, normalize_prefix
from blocklist.policy import TREATMENTS
from blocklist.rules import Blocklist
from blocklist.text import MAX_FIELD, clean_text

# (phase, done, total); phase is "checking" or "writing".
Progress = Callable[[str, int, int], None]

BLOCK_COLUMNS = ("number", "scope", "treatment", "reason", "until", "permanent")
ALLOW_COLUMNS = ("number", "scope", "reason")
# Written by export for people to read; import accepts and ignores them (the importer becomes `by`).
INFO_COLUMNS = ("by", "added_at", "step")
DEFAULT_REASON = "imported (no reason given)"
CHUNK = 500
ALL_LINES = ("", "*", "all")
# What a spreadsheet may run as a formula (OWASP's CSV injection list, with the full-width forms some
# locales' spreadsheets read the same way); leading blanks do not stop it.
_FORMULA_CHARS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")
_BLANKS = " \u00a0\u2007\u202f\u3000"
_SIGNED_NUMBER = re.compile(r"[+\-\uff0b\uff0d][0-9 ]*")  # +14155550123, -5: data, not formulas
_YES = {"yes", "y", "true", "1", "permanent"}
_NO = {"no", "n", "false", "0"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    """One checked row, ready to write."""

    line: int
    kind: str  # block | prefix | allow
    value: str  # E.164 number, or a prefix for kind prefix
    scope: str
    treatment: str = ""
    reason: str = ""
    until_ms: int | None = None


@dataclass(frozen=True)
class RowError:
    """A row that was not imported, and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportResult:
    """What an import found and did."""

    rows: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    skipped: list[RowError] = field(default_factory=list)  # rows with nothing to do (block already over)
    written: bool = False
    partial: bool = False
    # A check-only run: added/changed/unchanged say what the import would do, against the lists as they are now.
    check_only: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "added": self.added, "changed": self.changed, "unchanged": self.unchanged,
            "written": self.written, "partial": self.partial, "check_only": self.check_only,
            "errors": [{"line": e.line, "reason": e.reason} for e in self.errors],
            "skipped": [{"line": e.line, "reason": e.reason} for e in self.skipped],
        }

    def summary(self) -> str:
        """One line a person can read."""
        if self.check_only:
            return self._would()
        if self.errors and not self.written:
            return (f"{len(self.errors)} bad row(s) of {self.rows}; nothing imported "
                    "(fix them and import again, or import the good rows with partial mode)")
        text = f"{self.rows} row(s): {self.added} added, {self.changed} changed, {self.unchanged} unchanged"
        if self.skipped:
            text += f", {len(self.skipped)} skipped"
        if self.errors:
            text += f", {len(self.errors)} bad row(s) not imported"
        return text if self.written else text + " (checked only, nothing written)"

    def _would(self) -> str:
        """What a check-only run found the import would do: 'would add 3, change 1, leave 0 unchanged, skip 2
        (lines 4, 9)'; bad rows that would stop the whole import are said first."""
        skipped = sorted(self.skipped + (self.errors if self.partial else []), key=lambda e: e.line)
        would = f"would add {self.added}, change {self.changed}, leave {self.unchanged} unchanged"
        if skipped:
            would += f", skip {len(skipped)} ({_lines(skipped)})"
        head = f"{self.rows} row(s) checked only, nothing written"
        if self.errors and not self.partial:
            bad = len(self.errors)
            return (f"{head}: {bad} bad row{'' if bad == 1 else 's'} ({_lines(self.errors)}) would stop the import; "
                    f"fix {'it' if bad == 1 else 'them'}, or import the good rows with partial mode, which {would}")
        return f"{head}: {would}"


def _lines(items: list[RowError], shown: int = 10) -> str:
    """'line 4' or 'lines 4, 9, 12' (the file's line numbers, as the errors give them); long lists cut short."""
    numbers = [str(e.line) for e in items]
    text = ", ".join(numbers[:shown]) + (f" and {len(numbers) - shown} more" if len(numbers) > shown else "")
    return ("line " if len(numbers) == 1 else "lines ") + text


# ---- time and text --------------------------------------------------------------------------------
def parse_time(text: str) -> int:
    """Milliseconds since the epoch of an ISO 8601 time with a zone; ValueError saying how to write it."""
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"until {value[:40]!r} is not a time: write it like 2030-01-31T18:00:00Z") from None
    if moment.tzinfo is None:
        raise ValueError(f"until {value[:40]!r} has no time zone: add Z for UTC or an offset like +02:00")
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def formula_risk(text: str) -> bool:
    """True when a spreadsheet could run this cell: it starts (after blanks) with = + - @ or their
    full-width forms, or with a tab, CR or LF. A plain signed number (a phone number) is data."""
    if text[:1] in ("\t", "\r", "\n"):
        return True
    stripped = text.lstrip(_BLANKS)
    if not stripped or stripped[0] not in _FORMULA_CHARS:
        return False
    return not _SIGNED_NUMBER.fullmatch(stripped)


def _quoted_risk(text: str) -> bool:
    """Risky once any leading quotes are taken off: the cells guard_cell() prefixes and unguard_cell() strips."""
    return formula_risk(text.lstrip("'"))


def guard_cell(text: str) -> str:
    """A cell safe to open in a spreadsheet: one that could run is prefixed with a quote (every export).

    Text that already starts with a quote before such a cell (a reason someone wrote as `'=x`) gets one
    more, so that unguard_cell() gives back exactly what was stored."""
    return "'" + text if _quoted_risk(text) else text


def unguard_cell(text: str) -> str:
    """The text guard_cell() was given (an import of our own export gets back exactly what was stored)."""
    return text[1:] if text.startswith("'") and _quoted_risk(text) else text


def _yes_no(text: str) -> bool | None:
    value = text.strip().lower()
    if not value:
        return None
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise ValueError(f"permanent {text[:20]!r} is not yes or no")


# ---- reading a file ---------------------------------------------------------------------------------
def decode(data: str | bytes) -> str:
    """Text of an uploaded file: UTF-8, with or without the byte-order mark spreadsheets add."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"the file is not UTF-8 text (byte {exc.start}): save it as 'CSV UTF-8' and try again") from None


def _records(text: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, {column: cell}) for every non-empty row; ValueError for a file-level problem."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not first:
        raise ValueError(f"the file is empty: its first line must name the columns, e.g. {','.join(columns)}")
    # Spreadsheets in many locales save with ';' (or tabs): take whichever the header uses.
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    header_line = 0
    out: list[tuple[int, dict[str, str]]] = []
    allowed = set(columns) | set(INFO_COLUMNS)
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in cells]
                header_line = reader.line_num
                unknown = [name for name in header if name not in allowed]
                if "number" not in header or unknown:
                    what = f"unknown column(s) {', '.join(map(repr, unknown))}" if unknown else "no 'number' column"
                    raise ValueError(f"line {header_line}: {what}; the first line must name the columns, "
                                     f"from: {', '.join(columns)}")
                if len(set(header)) != len(header):
                    raise ValueError(f"line {header_line}: a column is named twice")
                continue
            if len(cells) > len(header):
                record = {"__extra__": f"has {len(cells)} fields but the header names {len(header)}"}
            else:
                record = dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=True))
            out.append((reader.line_num, record))
    except csv.Error as exc:
        raise ValueError(f"line {reader.line_num}: the file is not valid CSV ({exc})") from None
    return out


def _common(bl: Blocklist, record: dict[str, str]) -> tuple[str, str, str]:
    """(raw number, scope, reason) checked the same way for both lists."""
    if "__extra__" in record:
        raise ValueError(f"{record['__extra__']}; quote cells that contain the separator")
    raw = record.get("number", "").strip()
    if not raw:
        raise ValueError("number is empty")
    scope_raw = record.get("scope", "").strip()
    try:
        scope = keys.GLOBAL if scope_raw.lower() in ALL_LINES else bl.line_scope(scope_raw)
    except ValueError as exc:
        raise ValueError(f"scope: {exc} (leave it empty or write * for all lines)") from None
    # The reason as written (not stripped): an export imports back to exactly what was stored.
    reason = clean_text(unguard_cell(record.get("reason", "")), limit=10 * MAX_FIELD)
    if len(reason) > MAX_FIELD:
        raise ValueError(f"reason is {len(reason)} characters long; at most {MAX_FIELD}")
    return raw, scope, reason if reason.strip() else ""


def _block_row(bl: Blocklist, line: int, record: dict[str, str], at: int) -> Row:
    raw, scope, reason = _common(bl, record)
    treatment = record.get("treatment", "").strip().lower()
    if treatment and treatment not in TREATMENTS:
        raise ValueError(f"treatment {treatment[:20]!r} unknown: use one of {', '.join(TREATMENTS)}, or leave it "
                         "empty for the line's default")
    until_raw = record.get("until", "").strip()
    permanent = _yes_no(record.get("permanent", ""))
    if raw.endswith("*"):
        prefix = normalize_prefix(raw[:-1])
        if until_raw or permanent is False:
            raise ValueError("a range rule (a number ending in *) does not expire: leave until empty")
        return Row(line, "prefix", prefix, scope, treatment, reason)
    number = _number(bl, raw)
    until = parse_time(until_raw) if until_raw else None
    if permanent is True and until is not None:
        raise ValueError("permanent is yes but until is set: keep one of them")
    if permanent is False and until is None:
        raise ValueError("permanent is no but until is empty: give the end time, e.g. 2030-01-31T18:00:00Z")
    return Row(line, "block", number, scope, treatment, reason, until)


def _allow_row(bl: Blocklist, line: int, record: dict[str, str], at: int) -> Row:
    raw, scope, reason = _common(bl, record)
    if raw.endswith("*"):
        raise ValueError("the allowlist takes whole numbers, not ranges (a number ending in *)")
    return Row(line, "allow", _number(bl, raw), scope, reason=reason)


def _number(bl: Blocklist, raw: str) -> str:
    try:
        number = bl.number(raw)
    except ValueError as exc:
        raise ValueError(f"number: {exc}") from None
    if number == WITHHELD:
        raise ValueError(f"number {raw[:20]!r} is a withheld caller ID, not an identity: set the withheld policy "
                         "instead")
    return number


# ---- importing --------------------------------------------------------------------------------------
def import_blocklist(bl: Blocklist, data: str | bytes, *, by: str, partial: bool = False, write: bool = True,
                     progress: Progress | None = None, at: int | None = None) -> ImportResult:
    """Import blocks (number,scope,treatment,reason,until,permanent) and range rules (number ending in *)."""
    return _import(bl, data, BLOCK_COLUMNS, _block_row, by=by, partial=partial, write=write, progress=progress,
                   at=at)


def import_allowlist(bl: Blocklist, data: str | bytes, *, by: str, partial: bool = False, write: bool = True,
                     progress: Progress | None = None, at: int | None = None) -> ImportResult:
    """Import allowlist entries (number,scope,reason)."""
    return _import(bl, data, ALLOW_COLUMNS, _allow_row, by=by, partial=partial, write=write, progress=progress,
                   at=at)


IMPORT_LOCK_MS = 120_000  # refreshed with every chunk written; a crashed import frees the list after this
# Release or renew a lock only while it is still ours (its token): also used by blocklist/feed_adopt.py.
LOCK_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
LOCK_REFRESH_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class ImportBusy(ValueError):
    """Another import of the same list is writing: nothing was written by this one."""


class _ImportLock:
    """One import of a list at a time: two files written at once would leave a mix of both."""

    def __init__(self, bl: Blocklist, kind: str, by: str) -> None:
        self.r, self.key = bl.r, keys.import_lock(kind)
        self.kind, self.by = kind, by
        self.token = f"{secrets.token_hex(8)}|{by}|{now_ms()}"

    def __enter__(self) -> _ImportLock:
        if not self.r.set(self.key, self.token, nx=True, px=IMPORT_LOCK_MS):
            holder = str(self.r.get(self.key) or "")
            parts = holder.split("|")
            who = parts[1] if len(parts) == 3 else "someone"
            since = format_time(int(parts[2])) if len(parts) == 3 and parts[2].isdigit() else "a moment ago"
            raise ImportBusy(f"another import of the {self.kind} is being written (by {who}, since {since}); "
                             "nothing was imported: wait for it to finish, then import this file again")
        return self

    def refresh(self) -> None:
        self.r.register_script(LOCK_REFRESH_LUA)(keys=[self.key], args=[self.token, IMPORT_LOCK_MS])

    def __exit__(self, *_: object) -> None:
        self.r.register_script(LOCK_RELEASE_LUA)(keys=[self.key], args=[self.token])


def _import(bl: Blocklist, data: str | bytes, columns: tuple[str, ...],
            row_fn: Callable[[Blocklist, int, dict[str, str], int], Row], *, by: str, partial: bool, write: bool,
            progress: Progress | None, at: int | None) -> ImportResult:
    by = clean_text(by).strip()
    if not by:
        raise ValueError("say who imports the file (by); it goes into every entry's history")
    at = at or now_ms()
    records = _records(decode(data), columns)
    result = ImportResult(rows=len(records), partial=partial)
    rows: list[Row] = []
    seen: dict[tuple[str, str, str], int] = {}
    for i, (line, record) in enumerate(records, 1):
        try:
            row = row_fn(bl, line, record, at)
            where = (row.kind, row.scope, row.value)
            if where in seen:
                raise ValueError(f"{row.value} on {'all lines' if row.scope == keys.GLOBAL else row.scope} is "
                                 f"already on line {seen[where]}: keep one row per number and line")
            seen[where] = line
            if row.until_ms is not None and row.until_ms <= at:
                result.skipped.append(RowError(line, f"block ended {format_time(row.until_ms)}; nothing to import"))
            else:
                rows.append(row)
        except ValueError as exc:
            result.errors.append(RowError(line, str(exc)))
        if progress and (i % 1000 == 0 or i == len(records)):
            progress("checking", i, len(records))
    if not write:
        # Check only: what each good row would do against the lists as they are now, read and never written.
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start:start + CHUNK]
            for row, stored in zip(chunk, _stored(bl, chunk), strict=True):
                _count(result, row, stored)
        result.check_only = True
        return result
    if result.errors and not partial:
        return result
    with _ImportLock(bl, "allowlist" if columns == ALLOW_COLUMNS else "blocklist", by) as lock:
        _write(bl, rows, by, at, result, progress, lock)
    result.written = True
    return result


def _write(bl: Blocklist, rows: list[Row], by: str, at: int, result: ImportResult,
           progress: Progress | None, lock: _ImportLock) -> None:
    # Chunks keep each MULTI short; a crash between chunks is repaired by importing the file again.
    for start in range(0, len(rows), CHUNK):
        lock.refresh()
        chunk = rows[start:start + CHUNK]
        current = _stored(bl, chunk)
        pipe = bl._pipeline()
        for row, stored in zip(chunk, current, strict=True):
            if not _count(result, row, stored):
                continue
            if not row.reason:  # an empty cell: the history says it came from a file without one
                row = dataclasses.replace(row, reason=DEFAULT_REASON)
            if row.kind == "block":
                entry = Entry(row.value, row.scope, row.treatment, row.reason, by, at, row.until_ms)
                bl._block_ops(pipe, entry, "manager", source="import")
            elif row.kind == "prefix":
                bl._prefix_ops(pipe, row.value, row.scope, treatment=row.treatment, by=by, reason=row.reason,
                               role="manager", at=at)
            else:
                bl._allow_ops(pipe, row.value, row.scope, by=by, reason=row.reason, role="manager", at=at,
                              source="import")
        pipe.execute()
        if progress:
            progress("writing", start + len(chunk), len(rows))
    if any(row.kind == "prefix" for row in rows):
        bl.ensure_prefix_index()


def _stored(bl: Blocklist, chunk: list[Row]) -> list[Any]:
    """What each row's entry holds now (one pipelined read): a block's hash, a range rule's or an allowlist
    entry's JSON, or nothing."""
    read = bl.r.pipeline(transaction=False)
    for row in chunk:
        if row.kind == "block":
            read.hgetall(keys.block(row.scope, row.value))
        elif row.kind == "prefix":
            read.hget(keys.PREFIXES, f"{row.scope}|{row.value}")
        else:
            read.hget(keys.ALLOW, f"{row.scope}|{row.value}")
    return list(read.execute())


def _count(result: ImportResult, row: Row, stored: Any) -> bool:
    """Count the row as unchanged, changed or added; True when it has something to write."""
    if _same(row, stored):
        result.unchanged += 1
        return False
    if stored:
        result.changed += 1
    else:
        result.added += 1
    return True


def _same(row: Row, stored: Any) -> bool:
    if not stored:
        return False
    if row.kind == "block":
        entry = Entry.from_hash(row.value, row.scope, stored)
        return (entry.treatment, entry.until_ms) == (row.treatment, row.until_ms) and _same_reason(row, entry.reason)
    meta = json.loads(stored)
    if row.kind == "prefix":
        return bool(meta.get("treatment", "") == row.treatment and _same_reason(row, meta.get("reason", "")))
    return _same_reason(row, meta.get("reason", ""))


def _same_reason(row: Row, stored: str) -> bool:
    """An empty cell matches an entry without a reason, or one an earlier import gave the default reason."""
    return row.reason == stored or (not row.reason and stored in ("", DEFAULT_REASON))


# ---- exporting --------------------------------------------------------------------------------------
def _scope_cell(scope: str) -> str:
    return "*" if scope == keys.GLOBAL else scope


def blocklist_rows(bl: Blocklist) -> Iterable[list[str]]:
    """Header, then every active block and range rule, in a stable order."""
    yield [*BLOCK_COLUMNS, *INFO_COLUMNS]
    for e in bl.iter_blocks():
        yield [e.number, _scope_cell(e.scope), e.treatment, guard_cell(e.reason), format_time(e.until_ms),
               "yes" if e.until_ms is None else "no", guard_cell(e.by), format_time(e.at), str(e.step)]
    for p in bl.list_prefixes():
        yield [p["prefix"] + "*", _scope_cell(p["scope"]), p.get("treatment", ""), guard_cell(p.get("reason", "")), "",
               "yes", guard_cell(p.get("by", "")), format_time(int(p.get("at") or 0)), ""]


def allowlist_rows(bl: Blocklist) -> Iterable[list[str]]:
    """Header, then every allowlist entry, in a stable order."""
    yield [*ALLOW_COLUMNS, "by", "added_at"]
    for a in bl.iter_allowed():
        yield [a["number"], _scope_cell(a["scope"]), guard_cell(a.get("reason", "")), guard_cell(a.get("by", "")),
               format_time(int(a.get("at") or 0))]


def write_csv(rows: Iterable[list[str]], out: TextIO) -> int:
    """Write rows as CSV; the number of data rows (without the header)."""
    writer = csv.writer(out, lineterminator="\n")
    count = -1
    for row in rows:
        writer.writerow(row)
        count += 1
    return max(count, 0)


def export_blocklist(bl: Blocklist, out: TextIO) -> int:
    """Write the blocklist as CSV that `import_blocklist` reads back to the same state."""
    return write_csv(blocklist_rows(bl), out)


def export_allowlist(bl: Blocklist, out: TextIO) -> int:
    """Write the allowlist as CSV that `import_allowlist` reads back to the same state."""
    return write_csv(allowlist_rows(bl), out)
