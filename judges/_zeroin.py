"""Brent's zeroin root finder, ported operation for operation from Kayenta's ``BrentSolver.java``.

Kayenta's solver is R's ``zeroin.c`` (the ``uniroot`` engine) with fixed constants. Reproducing its iterates, not
just *a* root, is what makes the Kayenta judge's interval endpoints match Kayenta's to 1e-6: the Wilcoxon function
it solves is a step function, so any other bracketing method (``scipy.optimize.brentq`` included) stops at a
different point of the flat step, up to ``TOLERANCE`` away.
"""

from __future__ import annotations

import math
from typing import Callable

TOLERANCE = 1e-4
EPSILON = 2.220446049250313e-16
MAX_ITERATIONS = 1000

# Commons Math ``Precision.equals(v, 0)`` (one ulp): true for +-0.0 and the smallest subnormals only.
_ONE_ULP = math.ulp(0.0)


def _is_zero(v: float) -> bool:
    return abs(v) <= _ONE_ULP


def zeroin(f: Callable[[float], float], ax: float, bx: float, fa: float | None = None, fb: float | None = None, *,
           tol: float = TOLERANCE, max_iterations: int = MAX_ITERATIONS) -> float:
    """Find a zero of ``f`` in ``[ax, bx]`` by Brent's method, exactly as Kayenta's ``BrentSolver.solve``.

    Parameters
    ----------
    f : callable
        Function of one float. It should change sign on ``[ax, bx]``; this is not checked, as in Kayenta.
    ax, bx : float
        Ends of the search interval.
    fa, fb : float, optional
        ``f(ax)`` and ``f(bx)`` when the caller already has them (Kayenta passes them in); computed otherwise.
    tol : float
        Absolute tolerance; each step is at least ``2 * EPSILON * |b| + tol / 2``.
    max_iterations : int
        Iteration budget. Kayenta counts down from ``MAX_ITERATIONS + 1``, so ``max_iterations + 1`` steps run.

    Returns
    -------
    float
        An end point whose ``f`` is exactly zero (checked first), else the best iterate ``b`` once the bracket is
        within tolerance. On non-convergence the last iterate is returned silently, as Kayenta does.

    References
    ----------
    R. P. Brent, *Algorithms for Minimization Without Derivatives*, Prentice-Hall, 1973, ch. 4.
    R ``src/library/stats/src/zeroin.c``; Kayenta ``kayenta-mannwhitney/.../BrentSolver.java``.
    """
    a, b = float(ax), float(bx)
    fa = float(f(a)) if fa is None else float(fa)
    fb = float(f(b)) if fb is None else float(fb)
    c, fc = a, fa

    if _is_zero(fa):
        return a
    if _is_zero(fb):
        return b

    for _ in range(max_iterations + 1):
        prev_step = b - a

        if abs(fc) < abs(fb):
            # Keep b the best approximation, c the other end of the bracket.
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * EPSILON * abs(b) + tol / 2
        new_step = (c - b) / 2

        if abs(new_step) <= tol_act or _is_zero(fb):
            return b

        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                # Two distinct points: secant step.
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                # Inverse quadratic interpolation.
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0.0:
                q = -q
            else:
                p = -p
            # Accept the interpolated point only if it falls inside [b, c] and shrinks faster than bisection.
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q

        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act

        a, fa = b, fb
        b += new_step
        fb = float(f(b))
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa

    return b
