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
* ``drop_after``: act, then close the connection without an answer;
* ``auth_outcome``: the next authentication operation started on the path (``/auth/ksef-token``
  or ``/auth/xades-signature``) ends with ``status`` and ``detail`` instead of its real outcome,
  for the statuses KSeF documents (:data:`AUTH_OUTCOMES`; e.g. 450 "Nieprawidłowe kodowanie
  tokena", which a 2.0 client cannot provoke with a well-formed token);
* ``forbidden``: answer 403 problem+json with ``reason`` as ``reasonCode`` and without
  ``timestamp`` (no longer required since API 2.8.0), without acting.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import threading

KINDS = ("latency", "error5xx", "drop_before", "drop_after", "auth_outcome", "forbidden")

#: final authentication statuses KSeF documents -> the details it documents ('' = any)
AUTH_OUTCOMES = {
    415: ("",),
    425: ("",),
    450: (
        "Nieprawidłowe wyzwanie autoryzacyjne",
        "Nieprawidłowy token",
        "Nieprawidłowy czas tokena",
        "Token unieważniony",
        "Token nieaktywny",
        "Nieprawidłowe szyfrowanie tokena",
        "Nieprawidłowe kodowanie tokena",
        "Token nie może być użyty w kontekście {contextIdentifier}",
    ),
    460: ("",),
    470: ("",),
    480: ("",),
    500: ("",),
    550: ("",),
}


@dataclasses.dataclass
class Fault:
    pattern: str
    kind: str
    method: str | None = None
    delay: float = 0.0
    status: int = 503
    times: int | None = 1  # None = forever
    fired: int = 0
    detail: str = ""  # auth_outcome: the status detail
    reason: str = ""  # forbidden: the reasonCode

    def matches(self, method, path):
        if self.method and self.method.upper() != method.upper():
            return False
        return fnmatch.fnmatchcase(path, self.pattern)


class Faults:
    """Thread-safe registry of pending faults."""

    def __init__(self):
        self._faults = []
        self._lock = threading.Lock()

    def add(
        self,
        path_pattern,
        *,
        method=None,
        kind="latency",
        delay=0.0,
        status=503,
        times=1,
        detail="",
        reason="",
    ):
        """Register a fault; ``times=None`` keeps it forever. Returns the :class:`Fault`."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {KINDS}")
        if kind == "error5xx" and not 500 <= int(status) <= 599:
            raise ValueError("error5xx needs a 5xx status")
        if kind == "auth_outcome":
            allowed = AUTH_OUTCOMES.get(int(status))
            template = (detail or "").split(" w kontekście ")[0]
            if allowed is None or (
                "" not in allowed and not any(a.startswith(template) and template for a in allowed)
            ):
                raise ValueError(f"KSeF documents no auth status {status} with {detail!r}")
        if kind == "forbidden" and not reason:
            raise ValueError("a forbidden fault needs a reason (reasonCode)")
        pattern = path_pattern[3:] if path_pattern.startswith("/v2/") else path_pattern
        fault = Fault(
            pattern=pattern,
            kind=kind,
            method=method,
            delay=float(delay),
            status=int(status),
            times=times,
            detail=detail,
            reason=reason,
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
