"""Sliding-window rate limiter (1 s / 1 min / 1 h windows enforced together).

Rejected requests are not counted, so a client that waits ``Retry-After`` seconds gets
through.  (KSeF also grows the block time on repeated breaches; the simulator does not.)
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import defaultdict

WINDOWS = (1, 60, 3600)


class RateLimiter:
    """``hit(key, limits, now)`` records a request or returns ``(retry_after, limit, window)``."""

    def __init__(self):
        self._hits = defaultdict(list)  # key -> sorted timestamps within the last hour
        self._lock = threading.Lock()

    def reset(self):
        with self._lock:
            self._hits.clear()

    def hit(self, key, limits, now):
        """Count one request under ``key``; ``None`` or ``(retry_after_s, limit, window_s)``."""
        with self._lock:
            hits = self._hits[key]
            horizon = now - WINDOWS[-1]
            cut = bisect.bisect_right(hits, horizon)
            if cut:
                del hits[:cut]
            worst = None
            for window, limit in zip(WINDOWS, limits, strict=False):
                if limit is None:
                    continue
                start = bisect.bisect_right(hits, now - window)
                in_window = len(hits) - start
                if in_window >= limit:
                    # the request that must leave the window before one more fits
                    oldest_needed = hits[len(hits) - limit]
                    wait = oldest_needed + window - now
                    retry = max(1, math.ceil(wait))
                    if worst is None or retry > worst[0]:
                        worst = (retry, limit, window)
            if worst is not None:
                return worst
            bisect.insort(hits, now)
            return None
