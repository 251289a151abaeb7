"""An append-only JSONL results file that survives SIGKILL at any point and several writers at once.

Each record is one JSON object on one line, appended with a single O_APPEND write under an exclusive
fcntl lock and fsync'ed. A writer killed mid-write can leave a torn last line (no trailing newline):
it is detected and cut off, under the lock, before the next append, and readers skip it, so finished
records are never lost or duplicated and a resumed sweep redoes only what was not finished.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Iterator

log = logging.getLogger("gradsign_fast")


class ResultsFile:
    """records(), done_keys() and append(record) on a JSONL file at `path` (created on first append)."""

    def __init__(self, path: str | os.PathLike, *, fsync: bool = True):
        self.path = Path(path)
        self.fsync = fsync

    def append(self, record: dict[str, Any]) -> None:
        """Appends one record atomically with respect to other writers and to a crash of this one."""
        line = json.dumps(record, sort_keys=True, allow_nan=True, separators=(",", ":"))
        if "\n" in line:
            raise ValueError("a record must serialize to one line")
        data = (line + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked(os.O_RDWR | os.O_APPEND | os.O_CREAT) as fd:
            _cut_torn_tail(fd)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if self.fsync:
                os.fsync(fd)

    def append_if_absent(self, record: dict[str, Any], key_field: str = "key", *,
                         match: Callable[[dict[str, Any]], bool] | None = None) -> bool:
        """Appends `record` unless a record with the same `key_field` value (and, if given, for which
        match(r) is true) is already in the file; checked and written under one exclusive lock, so two
        writers of the same key (a retried task and its first attempt) record it once. True if written."""
        line = json.dumps(record, sort_keys=True, allow_nan=True, separators=(",", ":"))
        if "\n" in line:
            raise ValueError("a record must serialize to one line")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked(os.O_RDWR | os.O_APPEND | os.O_CREAT) as fd:
            _cut_torn_tail(fd)
            if _holds_key(_read_all(fd), key_field, record[key_field], match):
                return False
            view = memoryview((line + "\n").encode())
            while view:
                view = view[os.write(fd, view) :]
            if self.fsync:
                os.fsync(fd)
        return True

    def contains(self, value: Any, key_field: str = "key", *,
                 match: Callable[[dict[str, Any]], bool] | None = None) -> bool:
        """Whether a complete record has `key_field` == value (and match(record), if given)."""
        if not self.path.exists():
            return False
        with self._locked(os.O_RDONLY, shared=True) as fd:
            raw = _read_all(fd)
        return _holds_key(raw[: raw.rfind(b"\n") + 1], key_field, value, match)

    def records(self) -> list[dict[str, Any]]:
        """Every complete record in file order; a torn or corrupt line is skipped with a warning."""
        if not self.path.exists():
            return []
        with self._locked(os.O_RDONLY, shared=True) as fd:
            raw = _read_all(fd)
        lines = raw.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        elif lines:
            log.warning("%s: ignoring a torn last line (%d bytes) left by an interrupted writer", self.path, len(lines[-1]))
            lines.pop()
        out = []
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except ValueError:
                log.warning("%s:%d: skipping a corrupt line", self.path, number)
                continue
            if isinstance(record, dict):
                out.append(record)
        return out

    def done_keys(self, field: str = "key") -> set[str]:
        """The `field` values of the finished records (what a resumed sweep skips)."""
        return {r[field] for r in self.records() if field in r}

    def repair(self) -> int:
        """Cuts a torn last line off the file; returns how many bytes were removed."""
        if not self.path.exists():
            return 0
        with self._locked(os.O_RDWR) as fd:
            return _cut_torn_tail(fd)

    @contextlib.contextmanager
    def _locked(self, flags: int, *, shared: bool = False) -> Iterator[int]:
        fd = os.open(self.path, flags, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # closing releases the lock


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    return os.pread(fd, size, 0) if size else b""


def _holds_key(raw: bytes, key_field: str, value: Any, match: Callable[[dict[str, Any]], bool] | None) -> bool:
    """Whether a line of `raw` (complete lines) is a record with r[key_field] == value and match(r).

    A byte search for the field as append() serializes it picks the candidate lines; only those are parsed."""
    needle = (json.dumps(key_field) + ":" + json.dumps(value, sort_keys=True, separators=(",", ":"))).encode()
    at = raw.find(needle)
    while at >= 0:
        start = raw.rfind(b"\n", 0, at) + 1
        end = raw.find(b"\n", at)
        end = len(raw) if end < 0 else end
        try:
            record = json.loads(raw[start:end])
        except ValueError:
            record = None
        if isinstance(record, dict) and record.get(key_field) == value and (match is None or match(record)):
            return True
        at = raw.find(needle, end)
    return False


def _cut_torn_tail(fd: int) -> int:
    """Truncates everything after the last newline (a record a killed writer did not finish)."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return 0
    end = size
    while end > 0:
        start = max(0, end - 65536)
        block = os.pread(fd, end - start, start)
        cut = block.rfind(b"\n")
        if cut >= 0:
            keep = start + cut + 1
            break
        end = start
    else:
        keep = 0
    os.ftruncate(fd, keep)
    log.warning("repaired a torn last line: removed %d bytes", size - keep)
    return size - keep
