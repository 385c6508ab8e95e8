"""Time budgets of the security tests, measured so that a shared machine cannot fail them.

The issue's bound is that a hostile input is refused in under 2 s.  Where the refusal
runs in this process, the tests compare its **CPU time** with the bound: what a refusal
costs does not depend on how many other processes share the cores.  Where it crosses
processes (an API request handed to a parsing process), only wall time can be measured,
and the bound is stretched by the machine's load per core — one to five times — because
on a 2-core machine running the suite in two workers, or beside other jobs, a process
gets a fraction of a core.  A refusal that parsed the rows it should refuse unread takes
tens of seconds and still fails.
"""

from __future__ import annotations

import os

#: The issue's bound: a hostile file is refused in under 2 s.
REFUSAL_BUDGET_S = 2.0
#: The most a wall-time budget is stretched on a loaded machine.
MAX_LOAD_FACTOR = 5.0


def load_factor() -> float:
    """The 1-minute load average per core, clipped to ``[1, MAX_LOAD_FACTOR]``."""
    per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
    return min(MAX_LOAD_FACTOR, max(1.0, per_core))


def wall_budget_s(base: float = REFUSAL_BUDGET_S) -> float:
    """A wall-time budget of ``base`` seconds on an idle machine, stretched by the load."""
    return base * load_factor()
