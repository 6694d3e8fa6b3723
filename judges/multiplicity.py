"""Family-wise error control across the gating metrics of one release: Holm's step-down procedure.

With 12 metrics each tested at 5 %, a healthy release fails somewhere 46 % of the time. A release gate blocks on
*any* regression, so the matching error notion is the family-wise error rate (FWER): the probability that even one
healthy metric is flagged. Holm (1979) controls it at ``alpha`` under any dependence between the metrics and is
uniformly more powerful than Bonferroni. Anytime-valid p-values (``judges.eprocess``) may be adjusted the same
way at every look: the first false rejection needs ``min p <= alpha / m0`` over the true nulls at some time, which
has probability at most ``alpha`` by a union bound over their time-uniform guarantees.
"""

from __future__ import annotations

import numpy as np

__all__ = ["holm"]


def holm(p_values) -> np.ndarray:
    """Holm-adjusted p-values; NaN entries are not in the family and stay NaN.

    Sorting the m finite p-values ascending, ``adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``; hypothesis i
    is rejected at FWER level alpha exactly when ``adj_i <= alpha``.

    Parameters
    ----------
    p_values : array_like
        Raw p-values in [0, 1], NaN for metrics without one.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values in the input order.

    References
    ----------
    S. Holm, "A simple sequentially rejective multiple test procedure", Scand. J. Statist. 6 (1979) 65-70;
    R ``p.adjust(p, method = "holm")``.
    """
    p = np.asarray(p_values, dtype=float).ravel()
    finite = ~np.isnan(p)
    if ((p[finite] < 0) | (p[finite] > 1)).any():
        raise ValueError("`p_values` must lie in [0, 1]")
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(finite)
    m = idx.size
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    steps = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(steps)
    return out
