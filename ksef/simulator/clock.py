"""The simulator's time source: wall-clock time plus an offset tests can move forward.

Using real time (not a frozen clock) keeps real-time behaviour (rate-limit windows,
delays) working over HTTP, while ``advance()`` lets tests jump past expiries instantly.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone


class Clock:
    """``now()`` returns epoch seconds (float). ``advance(seconds)`` moves time forward."""

    def __init__(self, source=time.time):
        self._source = source
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self):
        with self._lock:
            return self._source() + self._offset

    def advance(self, seconds):
        """Jump ``seconds`` into the future (negative values are refused)."""
        if seconds < 0:
            raise ValueError("the simulator clock only moves forward")
        with self._lock:
            self._offset += float(seconds)

    def reset(self):
        with self._lock:
            self._offset = 0.0

    def datetime(self):
        return to_datetime(self.now())


def to_datetime(epoch):
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def iso(epoch):
    """KSeF-style ISO 8601 date-time with offset, e.g. ``2025-07-11T12:23:56.015430+00:00``."""
    if epoch is None:
        return None
    return to_datetime(epoch).isoformat(timespec="microseconds")


def parse_iso(text):
    """Parse an ISO 8601 date-time (``Z`` or offset; naive = UTC) to epoch seconds.

    Raises ``ValueError`` on anything else.
    """
    if not isinstance(text, str) or not 10 <= len(text) <= 40:
        raise ValueError("not a date-time")
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    # Python 3.11 fromisoformat accepts up to 6 fractional digits; .NET sends 7.
    if "." in value:
        head, _, rest = value.partition(".")
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        value = f"{head}.{(digits + '000000')[:6]}{rest}" if digits else head + rest
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()
