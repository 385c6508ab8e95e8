"""CPU time spent inside the LightGBM learners of a DML call, and outside them.

A cross-fitted estimator's time is the learners' fits and predictions plus the
library's own work around them (sample splitting, cloning, scores, standard errors,
checks).  With the same learners on the same folds the first part is the same work in
every library, so the second is what tells two implementations apart — and it is a few
percent of the call, below the run-to-run noise of LightGBM's tree growth.

:class:`LearnerClock` accumulates process CPU time (``time.process_time``) at two levels
while it is installed:

* **learner** — inside the ``fit``/``predict``/``predict_proba`` methods of the LightGBM
  objects: ``LGBMModel``, ``LGBMRegressor`` and ``LGBMClassifier`` (what DoubleML and
  EconML call) and :class:`cqox.nuisance.lightgbm_core.CoreLightGBM` (what CQOx calls:
  the same models trained through LightGBM's core API);
* **core** — of that, inside LightGBM's own work on the data: ``Dataset.construct``
  (feature binning), ``Booster.update`` (one boosting round) and ``Booster.predict``.

*learner − core* is the scikit-learn wrapper's work (input checks, parameter processing,
the model-text round trip of ``LGBMModel.fit``); *total − learner* is the library's own.

The methods are wrapped on their classes (not subclassed: CQOx fits exactly
``LGBMRegressor``/``LGBMClassifier`` through the core API and a subclass through the
wrapper, so a subclass would change the path timed).  A wrapper calls the original
method and returns its result untouched, and nested calls (``LGBMClassifier.fit`` →
``LGBMModel.fit``) are counted once per level.  Its cost is two ``process_time`` reads
per call, ~1 µs: ~3 ms per ``dml_irm`` call with 200 rounds × 15 fits (3,000
``Booster.update`` calls), the same in every library fitting the same models.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

#: Level of each wrapped method: (module, class, method) → "learner" or "core".
_METHODS: tuple[tuple[str, str, str, str], ...] = (
    ("lightgbm.sklearn", "LGBMModel", "fit", "learner"),
    ("lightgbm.sklearn", "LGBMModel", "predict", "learner"),
    ("lightgbm.sklearn", "LGBMRegressor", "fit", "learner"),
    ("lightgbm.sklearn", "LGBMClassifier", "fit", "learner"),
    ("lightgbm.sklearn", "LGBMClassifier", "predict", "learner"),
    ("lightgbm.sklearn", "LGBMClassifier", "predict_proba", "learner"),
    ("cqox.nuisance.lightgbm_core", "CoreLightGBM", "fit", "learner"),
    ("cqox.nuisance.lightgbm_core", "CoreLightGBM", "predict", "learner"),
    ("cqox.nuisance.lightgbm_core", "CoreLightGBM", "predict_proba", "learner"),
    ("lightgbm.basic", "Dataset", "construct", "core"),
    ("lightgbm.basic", "Booster", "update", "core"),
    ("lightgbm.basic", "Booster", "predict", "core"),
)


class LearnerClock:
    """Accumulated CPU seconds inside the LightGBM learners (``learner_s``) and their core."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {"learner": 0.0, "core": 0.0}
        self._depth: dict[str, int] = {"learner": 0, "core": 0}
        self._saved: list[tuple[type, str, Any]] = []

    def reading(self) -> tuple[float, float]:
        """``(learner, core)`` CPU seconds accumulated so far."""
        return self.seconds["learner"], self.seconds["core"]

    def install(self) -> LearnerClock:
        """Wrap every method of :data:`_METHODS` (idempotent; undo with :meth:`remove`)."""
        import importlib

        if self._saved:
            return self
        for module, cls_name, method, level in _METHODS:
            cls = getattr(importlib.import_module(module), cls_name)
            original = cls.__dict__[method]
            setattr(cls, method, self._timed(original, level))
            self._saved.append((cls, method, original))
        return self

    def remove(self) -> None:
        """Put the original methods back."""
        for cls, method, original in reversed(self._saved):
            setattr(cls, method, original)
        self._saved.clear()

    def __enter__(self) -> LearnerClock:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def _timed(self, original: Callable[..., Any], level: str) -> Callable[..., Any]:
        seconds, depth = self.seconds, self._depth

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if depth[level]:  # a nested call of the same level is already on the clock
                return original(*args, **kwargs)
            depth[level] += 1
            start = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                seconds[level] += time.process_time() - start
                depth[level] -= 1

        return timed
