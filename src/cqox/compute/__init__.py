"""Where CQOx computes: executors for parallel loops, and out-of-core estimation.

- :mod:`cqox.compute.executor`: :class:`SerialExecutor`, :class:`ProcessExecutor`,
  :class:`DaskExecutor`, and :func:`use` / :func:`current` (the executor in force);
- :mod:`cqox.compute.outofcore`: regression adjustment, IPW, AIPW and linear-learner
  DML from Parquet directories larger than memory, with Dask (imported only when used).

docs/compute.md describes both.
"""

from __future__ import annotations

from cqox.compute.executor import (
    SCHEDULER_ENV,
    TIMEOUT_ENV,
    DaskExecutor,
    Executor,
    ProcessExecutor,
    SerialExecutor,
    current,
    describe_current,
    from_spec,
    use,
)

__all__ = [
    "SCHEDULER_ENV",
    "TIMEOUT_ENV",
    "DaskExecutor",
    "Executor",
    "ProcessExecutor",
    "SerialExecutor",
    "current",
    "describe_current",
    "from_spec",
    "use",
]
