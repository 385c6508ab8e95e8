"""Which columns make the IV instrument matrix ``[W, Z_x]`` rank deficient.

A rank failure of ``[W, Z_x]`` means an excluded instrument is a linear combination of
the exogenous regressors (and earlier instruments): typically a covariate that is
another coding of the instrument.  The message names the instrument and the columns
that span it, so the user knows which covariate to remove.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cqox.errors import EstimationError

#: Relative residual norm below which an instrument is spanned by the other columns.
RANK_TOL = 1e-8
#: An instrument whose variation is below this fraction of its mean (in norm) is sent to
#: the per-instrument regressions: R's entries below its first row are rounding then.
NEAR_CONSTANT = 1e-10
#: Most columns named as spanning an instrument.
MAX_NAMED = 5


def check_instrument_rank(
    W: np.ndarray, Zx: np.ndarray, w_names: Sequence[str], z_names: Sequence[str]
) -> None:
    """Raise :class:`EstimationError` naming the columns when ``[W, Z_x]`` lacks rank.

    Each instrument ``z_j`` is regressed on ``[W, z_1, …, z_{j−1}]``; it is dependent
    when ``‖residual‖ ≤ RANK_TOL · ‖z_j − mean‖`` (or it is constant).  The columns with
    the largest standardised coefficients in that regression are named.
    """
    for j in range(Zx.shape[1]):
        z = Zx[:, j]
        others = np.column_stack([W, Zx[:, :j]]) if j else W
        names = [*w_names, *z_names[:j]]
        centred = float(np.linalg.norm(z - z.mean()))
        if centred == 0.0:
            raise EstimationError(
                f"instrument '{z_names[j]}' is constant on the rows used; it cannot "
                "identify the effect",
                details={"instrument": z_names[j]},
            )
        coef, *_ = np.linalg.lstsq(others, z, rcond=None)
        resid = float(np.linalg.norm(z - others @ coef))
        if resid > RANK_TOL * centred:
            continue
        scale = np.abs(coef) * others.std(axis=0)
        order = [k for k in np.argsort(-scale) if scale[k] > 1e-12 and names[k] != "(intercept)"]
        named = [names[k] for k in order[:MAX_NAMED]]
        raise EstimationError(
            f"instrument '{z_names[j]}' is a linear combination of "
            + (", ".join(f"'{c}'" for c in named) or "the intercept")
            + ": a covariate that is another coding of the instrument cannot be a control; "
            f"remove {', '.join(named) or 'it'} from the covariates (or drop the instrument)",
            details={"instrument": z_names[j], "columns": named},
        )


def check_instrument_rank_qr(
    R: np.ndarray,
    W: np.ndarray,
    Zx: np.ndarray,
    w_names: Sequence[str],
    z_names: Sequence[str],
) -> None:
    """:func:`check_instrument_rank` from the R factor of the QR of ``[W, Z_x, …]``.

    ``W``'s first column is the intercept.  ``|R_jj|`` of an instrument's column is the
    norm of its residual on the columns before it, the quantity the per-instrument
    regressions compute, and the norm of the column's entries below the first row is
    the norm of the instrument net of its mean; only when the test fails (or the
    instrument is nearly constant, where that norm is rounding) are the regressions
    run, to name the spanning columns in the error.
    """
    kw, q = W.shape[1], Zx.shape[1]
    # the instruments' columns of R, as lists (q is small: Python beats NumPy calls here)
    cols = R[: kw + q, kw : kw + q].T.tolist()
    for j, col in enumerate(cols):
        centred = math.sqrt(sum(v * v for v in col[1 : kw + j + 1]))
        resid = abs(col[kw + j])
        if not (
            centred > NEAR_CONSTANT * abs(col[0]) and centred > 0.0 and resid > RANK_TOL * centred
        ):
            break
    else:
        return
    check_instrument_rank(W, Zx, w_names, z_names)


__all__ = ["check_instrument_rank", "check_instrument_rank_qr"]
