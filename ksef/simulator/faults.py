"""Fault injection: added latency, injected 5xx answers and dropped connections.

``sim.faults.add('/tokens', method='POST', kind='drop_after')`` makes the next
``POST /tokens`` create the token and then drop the connection, so the client gets a
``ConnectionError`` although KSeF has acted.  Patterns are shell-style globs
(:func:`fnmatch.fnmatchcase`) matched against the path below ``/v2`` (``'/auth/*'``); a
leading ``/v2`` in the pattern is ignored.

kinds:

* ``latency``: sleep ``delay`` seconds before handling (the request then proceeds);
* ``error5xx``: answer ``status`` (default 503) without acting;
* ``drop_before``: close the connection without acting;
* ``drop_after``: act, then close the connection without an answer.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import threading

KINDS = ("latency", "error5xx", "drop_before", "drop_after")


@dataclasses.dataclass
class Fault:
    pattern: str
    kind: str
    method: str | None = None
    delay: float = 0.0
    status: int = 503
    times: int | None = 1  # None = forever
    fired: int = 0

    def matches(self, method, path):
        if self.method and self.method.upper() != method.upper():
            return False
        return fnmatch.fnmatchcase(path, self.pattern)


class Faults:
    """Thread-safe registry of pending faults."""

    def __init__(self):
        self._faults = []
        self._lock = threading.Lock()

    def add(self, path_pattern, *, method=None, kind="latency", delay=0.0, status=503, times=1):
        """Register a fault; ``times=None`` keeps it forever. Returns the :class:`Fault`."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {KINDS}")
        if kind == "error5xx" and not 500 <= int(status) <= 599:
            raise ValueError("error5xx needs a 5xx status")
        pattern = path_pattern[3:] if path_pattern.startswith("/v2/") else path_pattern
        fault = Fault(
            pattern=pattern,
            kind=kind,
            method=method,
            delay=float(delay),
            status=int(status),
            times=times,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self):
        with self._lock:
            self._faults.clear()

    def __len__(self):
        with self._lock:
            return len(self._faults)

    def take(self, method, path):
        """Consume and return the faults that apply to this request."""
        taken = []
        with self._lock:
            for fault in list(self._faults):
                if fault.matches(method, path):
                    fault.fired += 1
                    taken.append(fault)
                    if fault.times is not None and fault.fired >= fault.times:
                        self._faults.remove(fault)
        return taken
