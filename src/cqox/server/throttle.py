"""Login throttling per account: exponential back-off after repeated failures.

Counted per user name, whatever the client address, so an attacker who spreads
guesses over many addresses gains nothing.  The first ``free_attempts`` logins of a
name pass; after that each attempt must wait ``backoff_s · 2^(k − free_attempts)``
seconds after the previous one (k = attempts since the last success), capped at
``backoff_max_s``.  An attempt is counted when it starts, not when its password check
fails, so a burst of parallel guesses is throttled like a sequence.  A successful
login clears the count.  An attempt made too early is answered 429 with
``Retry-After`` and does not check the password.

The cost is that anyone can delay a given account's password logins by guessing
wrongly: the cap bounds that delay, and API keys are not affected.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

#: Names remembered before idle entries are forgotten (bounds memory under a spray of names).
MAX_TRACKED = 100_000


@dataclass
class _Record:
    attempts: int
    last: float


class LoginThrottle:
    """Attempts per user name and the back-off they earn."""

    def __init__(self, free_attempts: int, backoff_s: float, backoff_max_s: float) -> None:
        self.free_attempts = free_attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.records: dict[str, _Record] = {}
        self.lock = threading.Lock()

    def delay(self, attempts: int) -> float:
        """Seconds an attempt must wait after the previous one, given ``attempts`` so far."""
        if attempts < self.free_attempts:
            return 0.0
        exponent = min(attempts - self.free_attempts, 62)  # 2**62 s is past any cap
        return float(min(self.backoff_s * 2.0**exponent, self.backoff_max_s))

    def attempt(self, username: str, now: float | None = None) -> int:
        """Record a login attempt; 0 when it may proceed, else whole seconds to wait."""
        now = time.monotonic() if now is None else now
        with self.lock:
            rec = self.records.get(username)
            if rec is not None:
                wait = rec.last + self.delay(rec.attempts) - now
                if wait > 0:
                    return max(1, math.ceil(wait))
                rec.attempts += 1
                rec.last = now
                return 0
            if len(self.records) >= MAX_TRACKED:
                self._forget_idle(now)
            self.records[username] = _Record(attempts=1, last=now)
            return 0

    def succeeded(self, username: str) -> None:
        """Clear the count of ``username`` (its password was right)."""
        with self.lock:
            self.records.pop(username, None)

    def _forget_idle(self, now: float) -> None:
        # an entry idle for longer than the longest back-off no longer delays anything
        # except through its count; forgetting it at worst restarts the free attempts
        horizon = now - self.backoff_max_s
        for name in [n for n, r in self.records.items() if r.last <= horizon]:
            del self.records[name]
