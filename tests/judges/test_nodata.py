"""Missing data never passes: a side that is all NaN is nodata for every judge, whatever its NaN strategy."""

from __future__ import annotations

import numpy as np
import pytest

from judges import Classification, JudgeParams, NanStrategy, get_judge

JUDGES = ["kayenta", "mann-whitney", "threshold", "rate", "sequential-rate", "sequential-mean"]


@pytest.mark.parametrize("strategy", list(NanStrategy))
@pytest.mark.parametrize("judge", JUDGES)
@pytest.mark.parametrize("missing", ["baseline", "canary"])
def test_an_unmeasured_side_is_nodata(judge, strategy, missing):
    n = 30
    measured = np.linspace(1.0, 3.0, n)
    nan = np.full(n, np.nan)
    baseline, canary = (nan, measured) if missing == "baseline" else (measured, nan)
    params = JudgeParams(name="err", nan_strategy=strategy, upper=10.0, max_ratio=2.0, critical=True,
                         options={"baseline_denominator": np.full(n, 100.0), "canary_denominator": np.full(n, 100.0)})
    if judge == "threshold" and missing == "baseline":
        params = JudgeParams(name="err", nan_strategy=strategy, max_ratio=2.0, critical=True)
    j = get_judge(judge)(baseline, canary, params)
    assert j.classification is Classification.NODATA, (judge, j.reason)
    assert j.critical  # a critical metric's missing data can never let the run pass


def test_replace_still_fills_gaps_in_a_measured_series():
    from judges.preprocessing import prepare

    p = prepare(np.array([1.0, np.nan, 3.0]), JudgeParams(nan_strategy=NanStrategy.REPLACE))
    assert p.values.tolist() == [1.0, 0.0, 3.0] and p.n_nan == 1
