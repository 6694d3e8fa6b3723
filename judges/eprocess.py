"""Anytime-valid tests: look after every data point, stop at the first conclusive look, keep the error rate.

A fixed-sample test re-run as data arrives rejects a true null far more often than its level (66 % of A/A runs at
10,000 looks, Netflix). The tests here are e-processes: non-negative (super)martingales under the null, so by
Ville's inequality ``P(ever E_t >= 1/alpha) <= alpha``. The anytime p-value is the running minimum of ``1/E_t``;
the confidence sequence is the running intersection of the per-look sets, valid at every look simultaneously.

* :func:`count_test`: event counts of two arms (errors, crashes) with known exposure shares, the Lindon-Malek
  Beta-mixture Bayes factor on which arm each event falls in; the time-varying common event rate cancels.
* :func:`mean_test`: a paired mean difference (canary - baseline per step), the Gaussian-mixture SPRT in its
  asymptotic confidence-sequence form, with the variance inflated for serial correlation.

References
----------
Lindon, Malek, "Anytime-Valid Inference for Multinomial Count Data", NeurIPS 2022 (and the ``savvi`` package).
Johari, Koomen, Pekelis, Walsh, "Always valid inference", Operations Research 70 (2022).
Waudby-Smith, Arbour, Sinha, Kennedy, Ramdas, "Time-uniform central limit theory and asymptotic confidence
sequences", Ann. Stat. 52 (2024), section 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import betaln, logsumexp

from judges.autocorrelation import MAX_PHI, MIN_POINTS

__all__ = ["ALTERNATIVES", "SequentialResult", "count_test", "mean_test"]

ALTERNATIVES = ("two-sided", "greater", "less")
# Grid for the mixture over the log rate ratio when exposure shares vary between looks: ratios up to e^8.
_GRID = np.linspace(-8.0, 8.0, 3201)
# the paired mean test estimates the autocorrelation on its first points and then keeps it (and never above 0.9)
FREEZE_PHI_AT = 30
PHI_CAP = 0.9


@dataclass(frozen=True, slots=True)
class SequentialResult:
    """Path of an anytime-valid test, one entry per look.

    ``log_e`` is the log e-value at each look, ``p_value`` the anytime p-value (running minimum of ``1/E``,
    clipped to 1), ``estimate`` the effect at each look, and ``[ci_lower, ci_upper]`` the running intersection of
    the ``1 - alpha`` confidence sequence (two-sided whatever the alternative; +/-inf while unbounded).
    """

    log_e: np.ndarray
    p_value: np.ndarray
    estimate: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    alpha: float

    @property
    def looks(self) -> int:
        return int(self.p_value.size)

    def stop(self, alpha: float | None = None) -> int | None:
        """Index (0-based) of the first look whose anytime p-value is at most ``alpha``; None if there is none."""
        level = self.alpha if alpha is None else alpha
        hit = np.flatnonzero(self.p_value <= level)
        return int(hit[0]) if hit.size else None


def _check(alpha: float, alternative: str) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"`alpha` must be in (0, 1), got {alpha!r}")
    if alternative not in ALTERNATIVES:
        raise ValueError(f"`alternative` must be one of {ALTERNATIVES}, got {alternative!r}")


def _anytime_p(log_e: np.ndarray) -> np.ndarray:
    return np.minimum(1.0, np.exp(-np.maximum.accumulate(log_e))) if log_e.size else log_e


def _counts(baseline, canary) -> tuple[np.ndarray, np.ndarray]:
    b = np.asarray(baseline, dtype=float).ravel()
    c = np.asarray(canary, dtype=float).ravel()
    if b.shape != c.shape:
        raise ValueError(f"`baseline` and `canary` need one count per look each; got {b.size} and {c.size}")
    if not (np.isfinite(b).all() and np.isfinite(c).all()) or (b < 0).any() or (c < 0).any():
        raise ValueError("counts must be finite and non-negative")
    return b, c


def _theta(delta: np.ndarray, share) -> np.ndarray:
    """Probability that an event is the canary's when its rate is ``exp(delta)`` times the baseline's."""
    return 1.0 / (1.0 + (1.0 - share) / share * np.exp(-delta))


def count_test(baseline, canary, canary_share=0.5, *, concentration: float = 30.0, alpha: float = 0.05,
               alternative: str = "two-sided") -> SequentialResult:
    """Anytime-valid test that the canary's event rate equals the baseline's, from event counts per look.

    Given an event, the arm it falls in is Bernoulli(theta) with ``theta = rho e^d / (1 - rho + rho e^d)``, where
    ``rho`` is the canary's exposure share (its share of requests, or of traffic) and ``d`` the log rate ratio;
    the null is ``d = 0``. The e-value is the Bayes factor of a ``Beta(k rho, k (1 - rho))`` mixture over theta
    against ``theta = rho``:
    ``ln E = lnB(k rho + C, k (1 - rho) + B) - lnB(k rho, k (1 - rho)) - C ln rho - B ln(1 - rho)``
    for cumulative counts B (baseline) and C (canary). One-sided alternatives restrict the mixture to ``d > 0``
    (greater) or ``d < 0`` (less). When the share varies from look to look the same mixture, mapped through the
    first look's share, is integrated on a grid of ``d`` (step 0.005, ``|d| <= 8``).

    Parameters
    ----------
    baseline, canary : array_like
        Event counts per look (one event per look reproduces the per-event test), non-negative.
    canary_share : float or array_like
        The canary's exposure share in (0, 1), fixed or per look (canary requests / all requests).
    concentration : float
        Prior concentration k; large k is most powerful for small rate ratios. 30 aims at 1.3-2x, the
        regressions a canary is there to catch (savvi's default is 100).
    alpha : float
        Level of the confidence sequence; the p-value path does not depend on it.
    alternative : {'two-sided', 'greater', 'less'}
        'greater' tests for a higher canary rate.

    Returns
    -------
    SequentialResult
        ``estimate`` and the confidence sequence are for the log rate ratio ``ln(canary rate / baseline rate)``.

    References
    ----------
    Lindon, Malek (NeurIPS 2022); the ``savvi`` example (shares [0.8, 0.2], seed 1, k = 100) stops at n = 210
    with p = 0.0455796 and the sequence [0.004646, 0.754940], which ``tests/judges/test_sequential.py`` reproduces.
    """
    _check(alpha, alternative)
    if not (math.isfinite(concentration) and concentration > 0):
        raise ValueError(f"`concentration` must be > 0, got {concentration!r}")
    b, c = _counts(baseline, canary)
    share = np.broadcast_to(np.asarray(canary_share, dtype=float), b.shape)
    active = (b + c) > 0
    if ((share <= 0) | (share >= 1) | ~np.isfinite(share))[active].any():
        raise ValueError("`canary_share` must be in (0, 1) at every look with events")
    if b.size == 0:
        empty = np.zeros(0)
        return SequentialResult(empty, empty, empty, empty, empty, alpha)
    rho = float(share[active][0]) if active.any() else 0.5
    if active.any() and np.ptp(share[active]) > 1e-9 * rho:
        return _count_grid(b, c, share, active, concentration, alpha, alternative)
    return _count_closed(b, c, rho, concentration, alpha, alternative)


def _count_closed(b, c, rho, k, alpha, alternative) -> SequentialResult:
    B, C = np.cumsum(b), np.cumsum(c)
    p0, q0 = k * rho, k * (1 - rho)
    log_mix = betaln(p0 + C, q0 + B) - betaln(p0, q0)
    log_e = log_mix - C * math.log(rho) - B * math.log(1 - rho)
    if alternative != "two-sided":
        from scipy.special import betainc

        # restricting the mixture to one side divides by its prior mass there and multiplies by its posterior mass
        with np.errstate(divide="ignore"):
            if alternative == "greater":
                post, prior = betainc(q0 + B, p0 + C, 1 - rho), betainc(q0, p0, 1 - rho)
            else:
                post, prior = betainc(p0 + C, q0 + B, rho), betainc(p0, q0, rho)
            log_e = log_e + np.log(post) - math.log(prior)
    with np.errstate(divide="ignore", invalid="ignore"):
        est = np.log(C) - np.log(B) + math.log((1 - rho) / rho)
    lo, hi = _closed_cs(B, C, rho, log_mix + math.log(alpha))
    return SequentialResult(log_e, _anytime_p(log_e), est, np.maximum.accumulate(lo), np.minimum.accumulate(hi),
                            alpha)


def _closed_cs(B, C, rho, level, span: float = 30.0, iterations: int = 80):
    """Per-look ``{d : C ln theta(d) + B ln(1 - theta(d)) >= level}``, by vectorised bisection (concave in d)."""
    def g(d):
        t = _theta(d, rho)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(C > 0, C * np.log(t), 0.0) + np.where(B > 0, B * np.log1p(-t), 0.0) - level

    with np.errstate(divide="ignore", invalid="ignore"):
        mle = np.log(C) - np.log(B) + math.log((1 - rho) / rho)
    centre = np.clip(np.nan_to_num(mle, nan=0.0), -span, span)
    ends = []
    for edge in (-span, span):
        inside, outside = centre.copy(), np.full_like(centre, edge)
        open_end = g(outside) >= 0
        for _ in range(iterations):
            mid = (inside + outside) / 2
            ok = g(mid) >= 0
            inside = np.where(ok, mid, inside)
            outside = np.where(ok, outside, mid)
        ends.append(np.where(open_end, math.copysign(math.inf, edge), (inside + outside) / 2))
    return ends[0], ends[1]


def _count_grid(b, c, share, active, k, alpha, alternative) -> SequentialResult:
    rho0 = float(share[active][0])
    t0 = _theta(_GRID, rho0)
    # Beta(k rho0, k (1 - rho0)) on theta, carried to d (the Jacobian theta (1 - theta) cancels the -1 exponents)
    log_prior = k * rho0 * np.log(t0) + k * (1 - rho0) * np.log1p(-t0)
    log_prior -= logsumexp(log_prior)
    log_w = log_prior
    if alternative != "two-sided":
        log_w = np.where(_GRID > 0 if alternative == "greater" else _GRID < 0, log_prior, -np.inf)
        log_w -= logsumexp(log_w)
    acc = np.zeros_like(_GRID)
    n = b.size
    log_e, est, lo, hi = np.zeros(n), np.zeros(n), np.full(n, -np.inf), np.full(n, np.inf)
    last = _GRID.size - 1
    for i in range(n):
        if active[i]:
            t = _theta(_GRID, share[i])
            acc += c[i] * np.log(t / share[i]) + b[i] * np.log((1 - t) / (1 - share[i]))
        log_e[i] = logsumexp(acc + log_w)
        top = int(np.argmax(acc))
        est[i] = _GRID[top] if 0 < top < last else (-np.inf if top == 0 else np.inf)
        inside = np.flatnonzero(acc >= logsumexp(acc + log_prior) + math.log(alpha))
        if inside.size:
            # one grid step outwards, so the grid never makes the sequence narrower than the exact one
            lo[i] = _GRID[inside[0] - 1] if inside[0] > 0 else -np.inf
            hi[i] = _GRID[inside[-1] + 1] if inside[-1] < last else np.inf
    return SequentialResult(log_e, _anytime_p(log_e), est, np.maximum.accumulate(lo), np.minimum.accumulate(hi),
                            alpha)


def _phi_path(d: np.ndarray) -> np.ndarray:
    """Bias-corrected lag-1 autocorrelation of ``d[:t]`` for every t plus the margin ``(1 - phi^2) / (2 sqrt(t))``,
    clipped to [0, MAX_PHI] (0 below 8 points). Under-estimating phi leaves positive correlation in the prewhitened
    series, which makes the test liberal; over-estimating it only adds noise, which the e-value sees."""
    t = np.arange(1, d.size + 1, dtype=float)
    s1 = np.cumsum(d)
    cross = np.concatenate([[0.0], np.cumsum(d[1:] * d[:-1])])
    m = s1 / t
    ss = np.cumsum(d * d) - t * m * m
    prev = np.concatenate([[0.0], s1[:-1]])
    lagged = cross - m * ((s1 - d[0]) + prev) + (t - 1) * m * m
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(ss > 0, lagged / ss, 0.0)
        phi = np.where(t >= MIN_POINTS, (t * r + 1) / (t - 4), 0.0)
    phi = np.where(t >= MIN_POINTS, phi + (1 - np.clip(phi, 0.0, 1.0) ** 2) / (2 * np.sqrt(t)), 0.0)
    return np.clip(phi, 0.0, MAX_PHI)


def mean_test(baseline, canary, *, alpha: float = 0.05, planned_n: int = 60, min_n: int = 10,
              autocorrelation: bool = True) -> SequentialResult:
    """Anytime-valid test that the paired mean difference canary - baseline is zero (two-sided).

    With ``d_t = canary_t - baseline_t`` (pairs taken in order: the same steps of both arms):

    1. Serial correlation is removed by predictable prewhitening: ``z_t = (d_t - f_t d_{t-1}) / (1 - f_t)``, where
       ``f_t`` is the bias-corrected lag-1 autocorrelation of ``d_1 .. d_{t-1}`` up to ``FREEZE_PHI_AT`` points and
       frozen after that, capped at ``PHI_CAP``. Under an AR(1) model ``z_t`` has
       the mean of ``d`` and nearly independent errors; only the past enters ``f_t``, so the process stays a test
       martingale up to the error in ``f_t``, which a margin (see ``_phi_path``) keeps on the safe side.
    2. The first ``min_n`` looks are a burn-in (no rejection). From then on, over the s values of z so far with sum
       S and sum of squares V, the scale-invariant Gaussian mixture (prior ``N(0, g)`` on the standardised mean,
       right-Haar on the scale) gives ``E = (1 + s g)^(-1/2) (V / (V - S^2 g / (1 + s g)))^(s / 2)``, an exact
       e-process for i.i.d. normal data at every s (no plug-in variance), with
       ``g = (-2 ln alpha + ln(1 - 2 ln alpha)) / planned_n``.
    3. Inverting it gives the sequence ``mean(z) +/- sqrt(q SS / (s (s - q)))``, ``SS`` the sum of squared
       deviations, ``q = (K - 1) (1 + s g) / (K g)``, ``K = (sqrt(1 + s g) / alpha)^(2 / s)``; unbounded while
       ``s <= q``.

    Parameters
    ----------
    baseline, canary : array_like
        Per-step values in time order, paired by position (equal length, finite).
    alpha : float
        Level the mixture is tuned for, and of the confidence sequence.
    planned_n : int
        Number of looks at which the sequence is made narrowest (Waudby-Smith et al., eq. 2.3).
    min_n : int
        Burn-in looks; the first that may reject is ``min_n + 1``.
    autocorrelation : bool
        Prewhiten (step 1); without it ``z = d``.

    Returns
    -------
    SequentialResult
        ``estimate`` is the running mean of ``d``; the sequence is for the mean of d.

    References
    ----------
    Lai, "On confidence sequences", Ann. Stat. 4 (1976); Perez-Ortiz, Lardy, de Heide, Grunwald, "E-statistics,
    group invariance and anytime-valid testing", Ann. Stat. (2024); Waudby-Smith et al., Ann. Stat. 52 (2024).
    A/A false alarms under continuous looking (``benchmarks/decision_quality.py``): at most alpha for AR(1)
    phi <= 0.8, about 2 alpha at phi = 0.95.
    """
    _check(alpha, "two-sided")
    if planned_n < 1 or min_n < 2:
        raise ValueError(f"`planned_n` must be >= 1 and `min_n` >= 2, got {planned_n!r} and {min_n!r}")
    x = np.asarray(baseline, dtype=float).ravel()
    y = np.asarray(canary, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"`baseline` and `canary` must be paired (equal length); got {x.size} and {y.size}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("values must be finite")
    d = y - x
    n = d.size
    est = np.cumsum(d) / np.arange(1, n + 1)
    log_e, lo, hi = np.zeros(n), np.full(n, -np.inf), np.full(n, np.inf)
    if n > min_n:
        z = d
        if autocorrelation:
            # phi from the first FREEZE_PHI_AT points, then frozen (and capped): re-estimated at every look it
            # drifts upwards under a shift and its prewhitening then hides the shift (paired-analysis.md 5)
            path = _phi_path(d - d[0])
            at = min(max(FREEZE_PHI_AT, min_n), n) - 1
            path[at:] = path[at]
            f = np.minimum(path, PHI_CAP)[min_n - 1:-1]
            z = (d[min_n:] - f * d[min_n - 1:-1]) / (1 - f)
        else:
            z = d[min_n:]
        s = np.arange(1, z.size + 1, dtype=float)
        zc = z - z[0]  # shifting first limits cancellation in the running sums
        S, V = np.cumsum(zc), np.cumsum(zc * zc)
        mz = S / s
        ss = np.maximum(V - s * mz * mz, 0.0)
        g = (-2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))) / planned_n
        # the sums must be those of z itself, not of the shifted copy
        Sz = S + s * z[0]
        Vz = ss + Sz * Sz / s
        with np.errstate(divide="ignore", invalid="ignore"):
            le = -0.5 * np.log1p(s * g) - s / 2 * np.log1p(-Sz * Sz * g / ((1 + s * g) * Vz))
        le = np.where(Vz > 0, le, np.where(Sz != 0, np.inf, -0.5 * np.log1p(s * g)))
        log_e[min_n:] = le
        K = np.exp(2 / s * (0.5 * np.log1p(s * g) - math.log(alpha)))
        q = (K - 1) * (1 + s * g) / (K * g)
        with np.errstate(divide="ignore", invalid="ignore"):
            half = np.where(s > q, np.sqrt(q * ss / (s * (s - q))), np.inf)
        lo[min_n:], hi[min_n:] = mz + z[0] - half, mz + z[0] + half
    p = _anytime_p(np.where(np.arange(n) < min_n, -np.inf, log_e))
    return SequentialResult(log_e, p, est, np.maximum.accumulate(lo), np.minimum.accumulate(hi), alpha)
