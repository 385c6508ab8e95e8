"""The LightGBM peer benchmarks time the same learner fits in CQOx, DoubleML and EconML.

``benchmarks.peer_speed`` (dml_irm) and the main suite's DML rows hand CQOx's own folds
(``benchmarks.cases.cqox_splits``) to DoubleML (``set_sample_splitting``) and EconML
(``cv=``), so that the libraries fit the same LightGBM models on the same rows and a
timing compares their own work around the fits.  Here a recording learner logs every
fit's training rows and every out-of-fold prediction in each library, and the
estimates are compared: with CQOx's propensity calibration off (DoubleML's and
EconML's default) the three agree to the last bits.  The benchmarks' learner clock
(:mod:`benchmarks.learner_clock`), which wraps the LightGBM methods, changes no result.
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import numpy as np
import pytest
from benchmarks import cases, datagen
from benchmarks.learner_clock import LearnerClock
from sklearn.base import BaseEstimator, clone

import cqox

pytestmark = pytest.mark.reference

lightgbm = pytest.importorskip("lightgbm")
doubleml = pytest.importorskip("doubleml")
econml_dr = pytest.importorskip("econml.dr")

#: Small and quick: the benchmark's LightGBM settings with 10 rounds.
N, P, ROUNDS = 300, 5, 10
#: Same folds, same learners, same score: only summation order may differ.
RTOL = 1e-12

#: What each recording learner saw: tag → [("fit", train rows) | ("predict", train rows,
#: test rows, treatment column or None, predictions)].
_LOG: dict[str, list[tuple[Any, ...]]] = {}


class _Recording(BaseEstimator):  # type: ignore[misc]
    """``estimator`` (cloned) that logs its training rows and predictions under ``tag``.

    Rows are identified by their covariates (the first ``P`` columns: EconML's and
    CQOx's pooled outcome model append the treatment as the last column).
    """

    def __init__(self, estimator: Any = None, tag: str = "", index: Any = None) -> None:
        self.estimator = estimator
        self.tag = tag
        self.index = index

    def _rows(self, X: np.ndarray) -> tuple[int, ...]:
        return tuple(self.index[np.asarray(x[:P]).tobytes()] for x in np.asarray(X))

    def _extra(self, X: np.ndarray) -> tuple[float, ...] | None:
        X = np.asarray(X)
        return tuple(X[:, P]) if X.shape[1] > P else None

    def fit(self, X: np.ndarray, y: np.ndarray) -> _Recording:
        self.model_ = clone(self.estimator).fit(np.asarray(X), np.asarray(y))
        self.train_ = frozenset(self._rows(X))
        _LOG.setdefault(self.tag, []).append(("fit", self.train_))
        return self

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.model_.classes_)

    def predict(self, X: np.ndarray) -> np.ndarray:
        pred = np.asarray(self.model_.predict(np.asarray(X)))
        self._log(X, pred)
        return pred

    def _log(self, X: np.ndarray, pred: np.ndarray) -> None:
        rows, extra = self._rows(X), self._extra(X)
        for i, r in enumerate(rows):
            key = ("predict", self.train_, r, None if extra is None else extra[i])
            _LOG.setdefault(self.tag, []).append((*key, float(pred[i])))


class _RecordingClassifier(_Recording):
    """:class:`_Recording` of a classifier (logs ``P(class 1)``)."""

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        proba = np.asarray(self.model_.predict_proba(np.asarray(X)))
        self._log(X, proba[:, 1])
        return proba


@pytest.fixture(scope="module")
def design() -> dict[str, Any]:
    d = datagen.cross_section(n=N, p=P, seed=1)
    df, cols = d.frame, d.roles["covariates"]
    X = df[cols].to_numpy()
    params = {**cases.LGBM, "n_estimators": ROUNDS}
    return {
        "frame": df,
        "cols": cols,
        "X": X,
        "y": df["y"].to_numpy(),
        "t": df["t"].to_numpy(),
        "reg": lightgbm.LGBMRegressor(**params),
        "clf": lightgbm.LGBMClassifier(**params),
        "index": {X[i].tobytes(): i for i in range(N)},
        "splits": cases.cqox_splits(df["t"].to_numpy()),
    }


def _cqox(d: dict[str, Any], reg: Any, clf: Any, structure: str = "per_arm") -> cqox.Estimate:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cqox.estimate(
            "dml_irm",
            d["frame"],
            outcome="y",
            treatment="t",
            covariates=d["cols"],
            seed=0,
            estimand="ATE",
            outcome_learner=reg,
            propensity_learner=clf,
            n_folds=cases.FOLDS,
            n_rep=1,
            propensity_calibration="none",
            outcome_structure=structure,
        )


def _doubleml(d: dict[str, Any], reg: Any, clf: Any) -> Any:
    data = doubleml.DoubleMLData(
        d["frame"][["y", "t", *d["cols"]]], y_col="y", d_cols="t", x_cols=d["cols"]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = doubleml.DoubleMLIRM(data, reg, clf, n_folds=cases.FOLDS, draw_sample_splitting=False)
        m.set_sample_splitting(d["splits"])
        m.fit()
    return m


def _drlearner(d: dict[str, Any], reg: Any, clf: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = econml_dr.DRLearner(
            model_propensity=clf, model_regression=reg, cv=d["splits"], random_state=0
        )
        m.fit(d["y"], d["t"], X=None, W=d["X"])
    return m


def _recorded(d: dict[str, Any], lib: str) -> tuple[Any, Any]:
    return (
        _Recording(d["reg"], f"{lib}/outcome", d["index"]),
        _RecordingClassifier(d["clf"], f"{lib}/propensity", d["index"]),
    )


def _fits(tag: str) -> Counter[frozenset[int]]:
    return Counter(e[1] for e in _LOG[tag] if e[0] == "fit")


def _predictions(tag: str) -> dict[tuple[Any, ...], float]:
    """(training rows, row, treatment column) → prediction; each predicted once."""
    made = [e for e in _LOG[tag] if e[0] == "predict"]
    out = {e[1:4]: e[4] for e in made}
    assert len(out) == len(made)  # no prediction made twice (the same LightGBM work)
    return out


def test_cqox_splits_are_the_folds_dml_irm_draws(design: dict[str, Any]) -> None:
    """Every training set CQOx fits is a training fold of ``cqox_splits`` (an arm of it)."""
    _LOG.clear()
    _cqox(design, *_recorded(design, "cqox"))
    t = design["t"]
    folds = [frozenset(int(i) for i in train) for train, _ in design["splits"]]
    arms = [frozenset(i for i in f if t[i] == a) for f in folds for a in (0, 1)]
    assert _fits("cqox/propensity") == Counter(folds)
    assert _fits("cqox/outcome") == Counter(arms)


def test_cqox_and_doubleml_fit_the_same_rows_and_predict_the_same(
    design: dict[str, Any],
) -> None:
    _LOG.clear()
    ours = _cqox(design, *_recorded(design, "cqox"))
    theirs = _doubleml(design, *_recorded(design, "doubleml"))
    for role in ("outcome", "propensity"):
        assert _fits(f"cqox/{role}") == _fits(f"doubleml/{role}")
        mine, peer = _predictions(f"cqox/{role}"), _predictions(f"doubleml/{role}")
        assert mine.keys() == peer.keys()
        assert all(mine[k] == peer[k] for k in mine)  # bit for bit
    # 5 propensity fits and 10 outcome fits (one per arm and fold) in each
    assert sum(_fits("cqox/outcome").values()) == 2 * cases.FOLDS
    # the recording learner changes nothing: CQOx's own path (LightGBM's core API) and
    # DoubleML's plain LightGBM objects give these estimates too
    plain = _cqox(design, design["reg"], design["clf"])
    assert plain.estimate == ours.estimate and plain.se == ours.se
    np.testing.assert_allclose(theirs.coef[0], ours.estimate, rtol=RTOL)
    np.testing.assert_allclose(theirs.se[0], ours.se, rtol=RTOL)
    # and DoubleML's stored out-of-fold predictions are CQOx's
    g1 = np.asarray(theirs.predictions["ml_g1"]).reshape(-1)
    m = np.asarray(theirs.predictions["ml_m"]).reshape(-1)
    recorded = _predictions("cqox/outcome")
    train_of = {int(i): frozenset(int(j) for j in tr) for tr, te in design["splits"] for i in te}
    t = design["t"]
    for i in range(N):
        arm1 = frozenset(j for j in train_of[i] if t[j] == 1)
        assert recorded[(arm1, i, None)] == g1[i]
        assert _predictions("cqox/propensity")[(train_of[i], i, None)] == m[i]


def test_pooled_cqox_and_drlearner_fit_the_same_rows_and_predict_the_same(
    design: dict[str, Any],
) -> None:
    _LOG.clear()
    ours = _cqox(design, *_recorded(design, "cqox"), structure="pooled")
    theirs = _drlearner(design, *_recorded(design, "econml"))
    for role in ("outcome", "propensity"):
        assert _fits(f"cqox/{role}") == _fits(f"econml/{role}")
        mine, peer = _predictions(f"cqox/{role}"), _predictions(f"econml/{role}")
        assert mine.keys() == peer.keys()
        assert all(mine[k] == peer[k] for k in mine)
    plain = _cqox(design, design["reg"], design["clf"], structure="pooled")
    assert plain.estimate == ours.estimate
    # no propensity is clipped here (CQOx at 0.01, EconML at 1e-6): the same DR score
    np.testing.assert_allclose(float(theirs.ate()), ours.estimate, rtol=RTOL)


def test_the_learner_clock_changes_no_result_and_counts_every_library(
    design: dict[str, Any],
) -> None:
    reg, clf = design["reg"], design["clf"]
    before = (_cqox(design, reg, clf).estimate, float(_doubleml(design, reg, clf).coef[0]))
    clock = LearnerClock()
    with clock:
        ours = _cqox(design, reg, clf).estimate
        in_cqox = clock.reading()
        theirs = float(_doubleml(design, reg, clf).coef[0])
        in_both = clock.reading()
    assert (ours, theirs) == before
    # time was accounted in both libraries' learners, the core part of it included
    assert 0 < in_cqox[1] <= in_cqox[0]
    assert in_both[0] > in_cqox[0] and in_both[1] > in_cqox[1]
    # and the methods are the originals again
    assert "timed" not in lightgbm.LGBMRegressor.fit.__qualname__
    assert "timed" not in lightgbm.basic.Booster.update.__qualname__


def test_dml_plr_on_cqox_splits_is_doubleml_plr_and_econml_lineardml(
    design: dict[str, Any],
) -> None:
    """The main suite's PLR rows: the same folds give the same estimate in all three."""
    reg, clf, df, cols = design["reg"], design["clf"], design["frame"], design["cols"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = cqox.estimate(
            "dml_plr",
            df,
            outcome="y",
            treatment="t",
            covariates=cols,
            seed=0,
            outcome_learner=reg,
            treatment_learner=clf,
            n_folds=cases.FOLDS,
        )
        data = doubleml.DoubleMLData(df[["y", "t", *cols]], y_col="y", d_cols="t", x_cols=cols)
        plr = doubleml.DoubleMLPLR(data, reg, clf, n_folds=cases.FOLDS, draw_sample_splitting=False)
        plr.set_sample_splitting(design["splits"])
        plr.fit()
        from econml.dml import LinearDML

        ldml = LinearDML(
            model_y=reg, model_t=clf, discrete_treatment=True, cv=design["splits"], random_state=0
        )
        ldml.fit(design["y"], design["t"], X=None, W=design["X"])
    np.testing.assert_allclose(plr.coef[0], ours.estimate, rtol=RTOL)
    np.testing.assert_allclose(plr.se[0], ours.se, rtol=RTOL)
    np.testing.assert_allclose(float(ldml.ate()), ours.estimate, rtol=RTOL)
