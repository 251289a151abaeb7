"""Claims: how concurrent sweep workers on one results file split the work without scoring twice.

Before scoring an arch, a worker appends a claim record under the file's exclusive lock
(ResultsFile.claim), only if the arch is neither finished nor held:

    {"claim": "<key>", "arch": "<arch>", "host": "vm", "pid": 1234, "start": "8812345", "time": 1.7e9}

Held means: the latest claim-or-error record of the key (`last_key`) belongs to a live owner and is
younger than `stale_after` seconds. An error record counts like a claim (it carries host, pid and
time too), so a failed arch is not retried by the sibling workers of the run that failed it, but is
by the next run once that process is gone. Live: on this host, the pid exists, is not a zombie, and
(where /proc gives it) started at the recorded "start" (so a reused pid is not mistaken for the
owner); on another host nothing can be checked, so only the age frees it. Recovering a claim wrongly
(a slow owner that is still alive) costs one duplicate computation, never a duplicate record: results
are appended with append_if_absent.

A claim has no "key" and no "score", so readers of finished records (done_keys, load_scores,
correlate, search, validate, the precomputed export) never see it as a result.
"""

from __future__ import annotations

import os
import socket
import time
from functools import lru_cache
from typing import Any

DEFAULT_STALE_AFTER = 3600.0  # seconds after which any claim is free, whoever holds it


def last_key(record: dict[str, Any]) -> str | None:
    """The key a claim or an error record holds (None for finished records and anything else)."""
    if "claim" in record:
        return record["claim"]
    if "error" in record and "key" in record:
        return record["key"]
    return None


def is_claim(record: dict[str, Any]) -> bool:
    return "claim" in record


@lru_cache(maxsize=None)
def _host() -> str:
    return socket.gethostname()


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (field 3 onwards), or None where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode(errors="replace")
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()


def process_start(pid: int) -> str | None:
    """The start time of process `pid` in clock ticks since boot (/proc/<pid>/stat field 22), or None
    where /proc cannot tell (not Linux, no such process)."""
    fields = _stat_fields(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def _state(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def owner() -> dict[str, Any]:
    """This process as a claim owner: host, pid and start (see process_start)."""
    return {"host": _host(), "pid": os.getpid(), "start": process_start(os.getpid())}


def claim_record(key: str, arch: str) -> dict[str, Any]:
    """The record a worker appends before scoring `arch` (its key under the sweep's config)."""
    return {"claim": key, "arch": arch, **owner(), "time": time.time()}


def pid_alive(pid: int, start: str | None = None) -> bool:
    """Whether process `pid` of this host runs (a zombie does not; a pid whose start differs from
    `start`, when both are known, is another process that reused the number)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    if _state(pid) == "Z":
        return False
    now = process_start(pid)
    return start is None or now is None or now == start


def is_held(record: dict[str, Any], *, stale_after: float = DEFAULT_STALE_AFTER, now: float | None = None) -> bool:
    """Whether a claim (or error) record still holds its key: younger than stale_after seconds, and
    its owner alive where that can be checked (this host)."""
    now = time.time() if now is None else now
    try:
        age = now - float(record["time"])
    except (KeyError, TypeError, ValueError):
        return False  # no usable time: nothing proves it is held
    if age > stale_after:
        return False
    if record.get("host") != _host():
        return True  # another machine: only its age can free it
    pid = record.get("pid")
    if not isinstance(pid, int):
        return False
    return pid_alive(pid, record.get("start"))


def is_local(record: dict[str, Any]) -> bool:
    """Whether a record was written by a process of this host (whose liveness can be checked)."""
    return record.get("host") == _host()
