"""An append-only JSONL results file that survives SIGKILL at any point and several writers at once.

Each record is one JSON object on one line, appended with a single O_APPEND write under an exclusive
fcntl lock and fsync'ed. A writer killed mid-write can leave a torn last line: a last line that does
not parse as a JSON object. It is cut off, under the lock, before the next append, and readers skip
it, so finished records are never lost or duplicated and a resumed sweep redoes only what was not
finished. A last line that parses but lacks its newline (a file rewritten with "\\n".join) is a
complete record: readers return it and the next append first adds the newline.

The file is opened for writing only to write (an append, or a repair that has something to fix), so
a read-only file can be read and resumed. An OSError while writing (a full disk, a read-only file) is
re-raised with the same errno and a message naming the file; a failed append leaves no partial line.

A path ending in .gz is a gzip'ed snapshot (results/*.jsonl.gz): readable like any results file
(records, done_keys, and so load_scores / correlate), never written (ValueError).

claim() is the work split of concurrent sweeps (nas.claims): under the same exclusive lock it checks
that a key is neither finished nor held, and only then appends the caller's claim record.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Iterator

log = logging.getLogger("gradsign_fast")

Match = Callable[[dict[str, Any]], bool]
KeyOf = Callable[[dict[str, Any]], Any]  # a record's key for LastRecordIndex (None: not indexed)
_MAX_INDEXES = 8  # (key_field, match) pairs whose key index a ResultsFile keeps


class ResultsFile:
    """records(), done_keys() and append(record) on a JSONL file at `path` (created on first append)."""

    def __init__(self, path: str | os.PathLike, *, fsync: bool = True):
        self.path = Path(path)
        self.fsync = fsync
        self._indexes: dict[tuple[type, Any, Match | None], KeyIndex] = {}

    @property
    def snapshot(self) -> bool:
        """A gzip'ed, read-only copy of a results file (the path ends in .gz)."""
        return self.path.suffix == ".gz"

    def append(self, record: dict[str, Any]) -> None:
        """Appends one record atomically with respect to other writers and to a crash of this one."""
        data = _serialize(record)
        with self._writing("append to") as fd:
            _fix_tail(fd, self.path)
            self._write(fd, data)

    def append_if_absent(self, record: dict[str, Any], key_field: str = "key", *, match: Match | None = None) -> bool:
        """Appends `record` unless a record with the same `key_field` value (and, if given, for which
        match(r) is true) is already in the file; checked and written under one exclusive lock, so two
        writers of the same key (a retried task and its first attempt) record it once. True if written.

        The check reads only what was appended since this object's last look (see KeyIndex), so a
        sweep appending to a long file does not re-read it each time. Keys compare by their JSON text."""
        data = _serialize(record)
        with self._writing("append to") as fd:
            _fix_tail(fd, self.path)
            index = self._index(key_field, match)
            index.refresh(fd)
            if record[key_field] in index:
                return False
            self._write(fd, data)
        return True

    def claim(self, value: Any, record: dict[str, Any], *, done: Match, key_of: KeyOf,
              held: Match) -> tuple[str, dict[str, Any] | None]:
        """Under one exclusive lock: ("done", None) if a record with "key" == value satisfies done(r);
        else ("held", last) if `last`, the latest record r with key_of(r) == value, satisfies held(last);
        else appends `record` (the caller's claim) and returns ("claimed", last). Both checks read only
        what was appended since this object's last look (KeyIndex, LastRecordIndex)."""
        data = _serialize(record)
        with self._writing("append to") as fd:
            _fix_tail(fd, self.path)
            finished = self._index("key", done)
            finished.refresh(fd)
            if value in finished:
                return "done", None
            claims = self._index(key_of, None, kind=LastRecordIndex)
            claims.refresh(fd)
            last = claims.last(value)
            if last is not None and held(last):
                return "held", last
            self._write(fd, data)
        return "claimed", last

    def contains(self, value: Any, key_field: str = "key", *, match: Match | None = None) -> bool:
        """Whether a complete record has `key_field` == value (and match(record), if given)."""
        if not self.path.exists():
            return False
        with self._locked(os.O_RDONLY, shared=True) as fd:
            index = self._index(key_field, match)
            index.refresh(fd)
            return value in index

    def records(self) -> list[dict[str, Any]]:
        """Every complete record in file order; a torn or corrupt line is skipped with a warning."""
        if not self.path.exists():
            return []
        if self.snapshot:
            with gzip.open(self.path, "rb") as fh:
                raw = fh.read()
        else:
            with self._locked(os.O_RDONLY, shared=True) as fd:
                raw = _read_range(fd, 0, os.fstat(fd).st_size)
        lines = raw.split(b"\n")
        last = lines.pop()  # b"" when the file ends with a newline
        out = []
        for number, line in enumerate(lines, 1):
            record = _parse_object(line)
            if record is None:
                log.warning("%s:%d: skipping a corrupt line", self.path, number)
            else:
                out.append(record)
        if last:
            record = _parse_object(last)
            if record is None:
                log.warning("%s: ignoring a torn last line (%d bytes) left by an interrupted writer",
                            self.path, len(last))
            else:
                out.append(record)
        return out

    def done_keys(self, field: str = "key") -> set[str]:
        """The `field` values of the finished records (what a resumed sweep skips)."""
        return {r[field] for r in self.records() if field in r}

    def repair(self) -> int:
        """Cuts a torn last line off the file (or adds the newline a complete last line lacks); returns
        how many bytes were removed. Opens the file for writing only if its tail needs a fix."""
        if not self.path.exists():
            return 0
        with self._locked(os.O_RDONLY, shared=True) as fd:
            if _ends_cleanly(fd):
                return 0
        with self._writing("repair", create=False) as fd:
            removed = _fix_tail(fd, self.path)
            if self.fsync:
                os.fsync(fd)
            return removed

    def _index(self, key_field: Any, match: Match | None, *, kind: type["KeyIndex"] | None = None) -> "KeyIndex":
        """This object's KeyIndex (or `kind`) for (key_field, match); the oldest is dropped beyond
        _MAX_INDEXES (an unhashable match gets a fresh index each time)."""
        kind = kind or KeyIndex
        slot = (kind, key_field, match)
        try:
            known = slot in self._indexes
        except TypeError:
            return kind(key_field, match)
        if not known:
            if len(self._indexes) >= _MAX_INDEXES:
                self._indexes.pop(next(iter(self._indexes)))
            self._indexes[slot] = kind(key_field, match)
        return self._indexes[slot]

    def _write(self, fd: int, data: bytes) -> None:
        """Writes `data` at the end and fsyncs; on failure cuts what was written (no partial line), re-raises."""
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if self.fsync:
                os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):  # e.g. a device, which cannot be truncated
                os.ftruncate(fd, size)
            raise

    @contextlib.contextmanager
    def _writing(self, action: str, *, create: bool = True) -> Iterator[int]:
        """An O_APPEND descriptor under the exclusive lock; an OSError on the way (opening, a full disk,
        a read-only file) is re-raised with its errno as 'cannot <action> <path>: <what happened>'."""
        if self.snapshot:
            raise ValueError(f"cannot {action} {self.path}: a .gz results file is a read-only snapshot; "
                             "gunzip it to a .jsonl file and write to that (results/README.md)")
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._locked(os.O_RDWR | os.O_APPEND | (os.O_CREAT if create else 0)) as fd:
                yield fd
        except OSError as exc:
            text = f"cannot {action} {self.path}: {exc.strerror or exc}"
            raise (OSError(exc.errno, text) if exc.errno is not None else OSError(text)) from exc

    @contextlib.contextmanager
    def _locked(self, flags: int, *, shared: bool = False) -> Iterator[int]:
        if self.snapshot:  # only records() and done_keys() read a snapshot (whole, decompressed)
            raise ValueError(f"{self.path} is a read-only .gz snapshot: read it with records() or gunzip it")
        fd = os.open(self.path, flags, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # closing releases the lock


class KeyIndex:
    """The `key_field` values of a file's records for which match(record) holds (all with a key_field,
    if match is None), kept current by reading only the bytes appended since the last refresh().

    A file that shrank, was replaced (another inode) or whose bytes before the read offset changed is
    read again from the start. A complete last line without its newline is counted but read again.
    """

    MARK = 64  # bytes before the offset compared on each refresh, to notice a rewrite in place

    def __init__(self, key_field: str, match: Match | None):
        self.key_field, self.match = key_field, match
        self.values: set[str] = set()
        self.tail_values: set[str] = set()  # from an unterminated last line, recomputed each refresh
        self.offset, self.identity, self.mark = 0, None, b""

    def __contains__(self, value: Any) -> bool:
        token = _token(value)
        return token in self.values or token in self.tail_values

    def refresh(self, fd: int) -> None:
        """Reads what was appended since the last refresh; the caller holds the file's lock."""
        st = os.fstat(fd)
        if self._stale(fd, st):
            self.values.clear()
            self.offset, self.identity, self.mark = 0, (st.st_dev, st.st_ino), b""
        self.tail_values.clear()
        if st.st_size == self.offset:
            return
        data = _read_range(fd, self.offset, st.st_size)
        end = data.rfind(b"\n") + 1
        for line in data[:end].split(b"\n"):
            self._add(line, self.values)
        self._add(data[end:], self.tail_values)
        if end:
            self.offset += end
            self.mark = _read_range(fd, max(0, self.offset - self.MARK), self.offset)

    def _stale(self, fd: int, st: os.stat_result) -> bool:
        if (st.st_dev, st.st_ino) != self.identity or st.st_size < self.offset:
            return True
        return bool(self.mark) and _read_range(fd, self.offset - len(self.mark), self.offset) != self.mark

    def _add(self, line: bytes, into: set[str]) -> None:
        record = _parse_object(line) if line else None
        if record is not None and self.key_field in record and (self.match is None or self.match(record)):
            into.add(_token(record[self.key_field]))


class LastRecordIndex(KeyIndex):
    """key -> the latest record with key_of(record) == key (key_of returning None: not indexed), kept
    current like KeyIndex (only appended bytes are read). `key_of` takes KeyIndex's key_field slot."""

    def __init__(self, key_of: KeyOf, match: Match | None = None):
        super().__init__("", match)
        self.key_of = key_of
        self.values: dict[str, dict[str, Any]] = {}  # type: ignore[assignment]
        self.tail_values: dict[str, dict[str, Any]] = {}  # type: ignore[assignment]

    def last(self, value: Any) -> dict[str, Any] | None:
        """The latest indexed record of `value` (an unterminated last line counts as the latest)."""
        token = _token(value)
        return self.tail_values.get(token) or self.values.get(token)

    def _add(self, line: bytes, into) -> None:
        record = _parse_object(line) if line else None
        if record is None or (self.match is not None and not self.match(record)):
            return
        value = self.key_of(record)
        if value is not None:
            into[_token(value)] = record


def _serialize(record: dict[str, Any]) -> bytes:
    line = json.dumps(record, sort_keys=True, allow_nan=True, separators=(",", ":"))
    if "\n" in line:
        raise ValueError("a record must serialize to one line")
    return (line + "\n").encode()


def _token(value: Any) -> str:
    """A key value as canonical JSON text (hashable, whatever JSON value it is)."""
    return json.dumps(value, sort_keys=True, allow_nan=True, separators=(",", ":"))


def _parse_object(line: bytes) -> dict[str, Any] | None:
    """The JSON object on `line`, or None if it is not one (torn, corrupt, or another JSON value)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _read_range(fd: int, start: int, end: int) -> bytes:
    """Bytes start..end of the file (os.pread until done or end of file)."""
    chunks = []
    while start < end:
        chunk = os.pread(fd, end - start, start)
        if not chunk:
            break
        chunks.append(chunk)
        start += len(chunk)
    return b"".join(chunks)


def _ends_cleanly(fd: int) -> bool:
    """Whether the file is empty or ends with a newline (then its tail needs no fix)."""
    size = os.fstat(fd).st_size
    return size == 0 or os.pread(fd, 1, size - 1) == b"\n"


def _last_line_start(fd: int, size: int) -> int:
    """The offset just after the last newline of the file's first `size` bytes (0 if none)."""
    end = size
    while end > 0:
        start = max(0, end - 65536)
        cut = os.pread(fd, end - start, start).rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0


def _fix_tail(fd: int, path: Path) -> int:
    """Makes the file end with a newline, under the exclusive lock of an O_APPEND descriptor: a last
    line that parses as a JSON object gets its newline; any other (a record a killed writer did not
    finish) is truncated. Returns how many bytes were removed."""
    if _ends_cleanly(fd):
        return 0
    size = os.fstat(fd).st_size
    start = _last_line_start(fd, size)
    if _parse_object(_read_range(fd, start, size)) is not None:
        os.write(fd, b"\n")
        log.info("%s: added the newline missing after the last record", path)
        return 0
    os.ftruncate(fd, start)
    log.warning("%s: repaired a torn last line: removed %d bytes", path, size - start)
    return size - start
