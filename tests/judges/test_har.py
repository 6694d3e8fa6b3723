"""The EWC long-run variance and the CUSUM change statistic of ``judges._har`` against independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft
import scipy.stats

from _ar import ar1 as _ar1
from judges._har import (ar1_rows, band_flatness, change_point, ewc_bandwidth, ewc_lrv, null_draws, phi_key,
                         quantile, sim_setting, t_draws, tail_p)



@pytest.mark.parametrize("n, b, seed", [(30, 5, 1), (60, 8, 2), (17, 3, 3), (240, 19, 4)])
def test_ewc_equals_the_dct_of_scipy(n, b, seed):
    # independent implementation: the EWC projections are the orthonormal DCT-II coefficients 1..B
    # (LLSW 2018 eq. 8): Omega = mean(scipy.fft.dct(u - mean(u), type=2, norm='ortho')[1:B+1] ** 2)
    u = _ar1(np.random.default_rng(seed), 0.5, n)
    ref = np.mean(scipy.fft.dct(u - u.mean(), type=2, norm="ortho")[1:b + 1] ** 2)
    assert ewc_lrv(u, b) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("n, seed", [(5, 1), (30, 2), (61, 3)])
def test_ewc_on_all_cosines_is_the_sample_variance_of_statsmodels_ols(n, seed):
    # Parseval: with B = T - 1 the EWC estimate is the sample variance; statsmodels' plain OLS on a constant gives
    # it as T * bse^2:  sm.OLS(d, np.ones(T)).fit().bse[0] ** 2 * T
    sm = pytest.importorskip("statsmodels.api")  # imported here: it takes seconds, and only this test needs it
    d = np.random.default_rng(seed).normal(0.1, 1.0, n)
    fit = sm.OLS(d, np.ones(n)).fit()
    assert ewc_lrv(d, n - 1) == pytest.approx(fit.bse[0] ** 2 * n, rel=1e-10)


def test_ewc_t_on_all_cosines_is_the_one_sample_t_test_of_scipy():
    # scipy.stats.ttest_1samp(d, 0): the EWC t with B = T - 1 on T - 1 degrees of freedom is the textbook t
    d = np.random.default_rng(9).normal(0.3, 1.0, 12)
    t = d.mean() / math.sqrt(ewc_lrv(d, 11) / 12)
    ref = scipy.stats.ttest_1samp(d, 0.0)
    assert t == pytest.approx(ref.statistic, rel=1e-10)
    assert 2 * scipy.stats.t.sf(abs(t), 11) == pytest.approx(ref.pvalue, rel=1e-9)


def test_bandwidth_grows_as_t_to_two_thirds_within_its_limits():
    assert [ewc_bandwidth(n) for n in (1, 2, 3, 10, 30, 60, 120, 1440, 10 ** 6)] == [0, 1, 2, 2, 5, 8, 12, 64, 400]


def test_change_point_matches_a_direct_computation():
    rng = np.random.default_rng(5)
    d = rng.normal(0, 0.1, 50)
    d[32:] += 0.4
    cp = change_point(d, 8)
    s = np.cumsum(d - d.mean())[:-1]
    k = int(np.argmax(np.abs(s))) + 1
    resid = np.concatenate([d[:k] - d[:k].mean(), d[k:] - d[k:].mean()])
    ref = abs(s[k - 1]) / math.sqrt(50 * ewc_lrv(resid, 8))
    assert (cp.index, cp.statistic) == (k, pytest.approx(ref, rel=1e-10))
    assert cp.index == 32 and cp.after - cp.before == pytest.approx(0.4, abs=0.1)


def test_simulated_nulls_are_calibrated_and_seeded():
    t_null, change_null = null_draws(40, 6, 0.0)
    # under independent normal noise the EWC t is exactly Student t on B degrees of freedom (draws are of |t|)
    assert quantile(t_null, 0.95) == pytest.approx(scipy.stats.t.isf(0.025, 6), rel=0.03)
    assert tail_p(change_null, float(np.median(change_null))) == pytest.approx(0.5, abs=0.01)
    assert np.array_equal(null_draws(40, 6, 0.0)[1], change_null)
    # autocorrelated noise needs a wider critical value than the fixed-b reference
    assert quantile(null_draws(40, 6, 0.8)[0], 0.99) > quantile(t_null, 0.99)


@pytest.mark.parametrize("phi, key", [(-0.3, 0.0), (0.0, 0.0), (0.01, 0.05), (0.5, 0.5), (0.51, 0.55), (0.99, 0.95)])
def test_phi_grid_rounds_up(phi, key):
    assert phi_key(phi) == pytest.approx(key)


def test_the_filteredar1_rows_are_the_recursion():
    # x_0 = e_0, x_t = phi x_{t-1} + sqrt(1 - phi^2) e_t, written out against scipy.signal.lfilter's rows
    rows = ar1_rows(np.random.default_rng(4), 3, 50, 0.7)
    e = np.random.default_rng(4).standard_normal((3, 50))
    x = e.copy()
    for t in range(1, 50):
        x[:, t] = 0.7 * x[:, t - 1] + math.sqrt(1 - 0.49) * e[:, t]
    assert np.allclose(rows, x, rtol=1e-12, atol=1e-12)


def test_t_draws_are_the_null_draws_t_without_the_change_statistic():
    assert np.array_equal(t_draws(45, 6, 0.5), null_draws(45, 6, 0.5)[0])


def test_long_windows_simulate_a_spectrum_as_flat_over_their_cosines():
    # beyond 240 points the nulls are simulated at 240 (or 2 B) points under the coefficient whose spectrum is as
    # flat over the B cosines: at 3,000 points and 0.8 the band pi j / 3000, j <= 104, is nearly flat
    n, b = 3000, ewc_bandwidth(3000)
    sim_n, phi_s = sim_setting(n, b, 0.8)
    assert (sim_n, b) == (240, 104) and 0 < phi_s < 0.2
    assert band_flatness(phi_s, sim_n, b) == pytest.approx(band_flatness(0.8, n, b), rel=1e-6)
    assert sim_setting(200, 8, 0.8) == (200, 0.8) and sim_setting(10 ** 6, 400, 0.0) == (800, 0.0)
    # so the critical value stays near Student t on B (it was 5.5 with the 240-point spectrum, against 2.5)
    assert quantile(t_draws(n, b, 0.8), 0.99) < 1.1 * scipy.stats.t.isf(0.005, b)


def test_long_window_level_test_keeps_its_level_at_high_autocorrelation():
    # A/A at 600 points, AR 0.8: the level test's two-sided 2 % is kept, neither far above nor far below
    from judges.paired import paired_test

    rng = np.random.default_rng(12)
    x = ar1_rows(rng, 600, 600, 0.8)
    rate = np.mean([paired_test(row, 0.98).p_level <= 0.013 for row in x])
    assert 0.003 <= rate <= 0.03
