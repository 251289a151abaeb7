"""A dependency-free progress line on stderr for long jobs (sweeps, searches).

    bar = Progress(total=1000, label="sweep")
    bar.update(note="arch 12: 1234")      # one step done
    bar.close()

On a terminal the line redraws in place (carriage return) at most every 0.2 s; otherwise (a log
file, CI) it prints a full line every GRADSIGN_PROGRESS_SECONDS seconds (default 30) and at the end,
so nohup logs stay short. enabled=False makes every call a no-op.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from ..options import progress_seconds


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class Progress:
    """[done/total] pct, rate, ETA and a short note; done counts calls to update()."""

    def __init__(self, total: int, label: str = "", *, enabled: bool = True, stream: TextIO | None = None):
        self.total, self.label, self.enabled = max(0, int(total)), label, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.start = time.monotonic()
        self._last = 0.0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._every = 0.2 if self._tty else progress_seconds()
        self._width = 0

    def line(self, note: str = "") -> str:
        elapsed = time.monotonic() - self.start
        pct = 100.0 * self.done / self.total if self.total else 100.0
        filled = int(20 * pct / 100)
        rate = elapsed / self.done if self.done else 0.0
        eta = rate * (self.total - self.done)
        text = (f"{self.label} [{'#' * filled}{'.' * (20 - filled)}] {self.done}/{self.total} {pct:5.1f}% "
                f"{rate:.2f} s/it, elapsed {_duration(elapsed)}, ETA {_duration(eta)}")
        return f"{text}  {note}" if note else text

    def update(self, n: int = 1, note: str = "") -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last >= self._every or self.done >= self.total:
            self._last = now
            self._write(self.line(note[:80]))

    def _write(self, text: str) -> None:
        if self._tty:
            pad = max(0, self._width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
