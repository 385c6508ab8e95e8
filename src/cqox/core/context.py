"""What the estimators of one analysis share: seed, nuisance cache, thresholds, progress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cqox.core.thresholds import DEFAULT_THRESHOLDS, resolve_thresholds

ProgressCallback = Callable[[str, float], None]


@dataclass
class Context:
    """Shared state of one analysis.

    Attributes
    ----------
    seed : int or None
        Source of all randomness (``numpy.random.default_rng``); never global state.
    cache : dict
        Shared nuisance fits (propensity scores, outcome models), keyed by what they
        depend on, so that IPW, AIPW, matching and the overlap gates fit one model.
    thresholds : dict
        Gate threshold overrides by gate name (see :mod:`cqox.core.thresholds`);
        checked, and deprecated names renamed, when the context is built.
    progress : callable or None
        ``progress(step, fraction)`` for steps that take more than a moment.
    n_jobs : int
        Worker processes an estimator may use (bootstrap, placebo refits).
    n_threads : int or None
        BLAS/OpenMP threads inside one estimation (``None``: the libraries' default).
        One by default, deliberately: on a shared machine an oversubscribed OpenMP
        pool slows BLAS and LightGBM by one to two orders of magnitude.
    """

    seed: int | None = None
    cache: dict[Any, Any] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    progress: ProgressCallback | None = None
    n_jobs: int = 1
    n_threads: int | None = 1

    def __post_init__(self) -> None:
        self.thresholds = resolve_thresholds(self.thresholds)

    def rng(self, stream: int = 0) -> np.random.Generator:
        """A generator derived from the seed; ``stream`` gives independent streams."""
        return np.random.default_rng(None if self.seed is None else [self.seed, stream])

    def report(self, step: str, fraction: float) -> None:
        """Report progress, if anyone listens."""
        if self.progress is not None:
            self.progress(step, fraction)

    def threshold(self, name: str) -> float:
        """The threshold of gate ``name``: the override if given, else the default."""
        if name in self.thresholds:
            return float(self.thresholds[name])
        return DEFAULT_THRESHOLDS[name].value
