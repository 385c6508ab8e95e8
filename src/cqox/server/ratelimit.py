"""Rate limiting per user and per client IP: a sliding one-minute window in memory.

The limiter lives in the service process (one process serves the API; the workers do
not take requests).  Over the limit, the answer is 429 with ``Retry-After`` (seconds
until the oldest request in the window leaves it).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

WINDOW_S = 60.0


class RateLimiter:
    """Allow at most ``limit`` requests per key in any ``WINDOW_S`` seconds."""

    def __init__(self, limit: int, window_s: float = WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self.hits: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def check(self, key: str) -> int:
        """Record a request; return 0 when allowed, else the seconds to wait."""
        if self.limit <= 0:
            return 0
        now = time.monotonic()
        with self.lock:
            q = self.hits.setdefault(key, deque())
            while q and q[0] <= now - self.window_s:
                q.popleft()
            if len(q) >= self.limit:
                return max(1, math.ceil(q[0] + self.window_s - now))
            q.append(now)
            if len(self.hits) > 100_000:  # forget idle keys so memory stays bounded
                for k in [k for k, v in self.hits.items() if not v or v[-1] <= now - self.window_s]:
                    del self.hits[k]
            return 0

    def reset(self) -> None:
        """Forget every request counted so far."""
        with self.lock:
            self.hits.clear()
