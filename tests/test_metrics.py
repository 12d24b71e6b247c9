"""fastrnn.forecast.metrics against values worked out by hand on a toy panel of three series."""

import math

import numpy as np
import pytest

from fastrnn.forecast import metrics as M

# Season 2. Histories (the training parts), the next two actual values, a model's forecast.
HIST = [np.array([1.0, 3, 2, 4]), np.array([2.0, 2, 4, 6, 8]), np.array([5.0, 5, 5])]
ACTUAL = np.array([[5.0, 3], [0, 10], [5, 6]])
MODEL = np.array([[4.0, 4], [0, 6], [5, 5]])

# By hand:
# A: seasonal naive in-sample errors |2-1|, |4-3| -> scale 1; one-step diffs 2, -1, 2 -> squares
#    4, 1, 4, mean 3 -> RMSSE scale sqrt(3). Errors 1, -1: MAE 1, RMSE 1, MASE 1/1,
#    RMSSE 1/sqrt(3); sMAPE (200*1/(5+4) + 200*1/(3+4)) / 2 = 100/9 + 100/7.
# B: |4-2|, |6-2|, |8-4| = 2, 4, 4 -> scale 10/3; diffs 0, 2, 2, 2 -> squares mean 12/4 = 3.
#    Errors 0, 4: MAE 2, RMSE sqrt(16/2) = sqrt(8), MASE 2/(10/3) = 0.6, RMSSE sqrt(8)/sqrt(3);
#    sMAPE (0 [0/0 counts 0] + 200*4/(10+6)) / 2 = 25.
# C: constant history -> both scales 0: MASE and RMSSE undefined. Errors 0, 1: MAE 0.5,
#    RMSE sqrt(1/2); sMAPE (200*0/10 + 200*1/(6+5)) / 2 = 100/11.
A_SMAPE = 100 / 9 + 100 / 7


def test_per_series_values_by_hand():
    s = M.score(ACTUAL, MODEL, HIST, season=2)
    np.testing.assert_allclose(s.per_series["mae"], [1, 2, 0.5])
    np.testing.assert_allclose(s.per_series["rmse"], [1, math.sqrt(8), math.sqrt(0.5)])
    np.testing.assert_allclose(s.per_series["smape"], [A_SMAPE, 25, 100 / 11])
    np.testing.assert_allclose(s.per_series["mase"], [1, 0.6, np.nan])
    np.testing.assert_allclose(s.per_series["rmsse"], [1 / math.sqrt(3), math.sqrt(8 / 3), np.nan])


def test_means_count_only_defined_series_and_skipped_has_the_reason():
    s = M.score(ACTUAL, MODEL, HIST, season=2)
    assert s.mean["mase"] == pytest.approx((1 + 0.6) / 2) and s.counted["mase"] == 2
    assert s.mean["rmsse"] == pytest.approx((1 / math.sqrt(3) + math.sqrt(8 / 3)) / 2)
    assert s.mean["mae"] == pytest.approx(3.5 / 3) and s.counted["mae"] == 3
    assert s.mean["smape"] == pytest.approx((A_SMAPE + 25 + 100 / 11) / 3)
    assert list(s.skipped) == [2]
    assert "constant" in s.skipped[2] and "MASE" in s.skipped[2] and "RMSSE" in s.skipped[2]
    assert all(math.isfinite(v) for v in s.mean.values())  # never an inf


def test_per_step_by_hand():
    s = M.score(ACTUAL, MODEL, HIST, season=2)
    # step 1: |e| = 1, 0, 0; step 2: |e| = 1, 4, 1
    np.testing.assert_allclose(s.per_step["mae"], [1 / 3, 6 / 3])
    np.testing.assert_allclose(s.per_step["rmse"], [math.sqrt(1 / 3), math.sqrt(18 / 3)])
    # MASE over A and B only: step 1 (1/1 + 0) / 2, step 2 (1/1 + 4/(10/3)) / 2
    np.testing.assert_allclose(s.per_step["mase"], [0.5, (1 + 1.2) / 2])
    # RMSSE: root of the mean over A, B of (e / scale)^2: step 1 (1/3 + 0)/2, step 2 (1/3 + 16/3)/2
    np.testing.assert_allclose(s.per_step["rmsse"], [math.sqrt(1 / 6), math.sqrt(17 / 6)])
    # sMAPE step 1: 200/9, 0 (0/0), 0; step 2: 200/7, 50, 200/11
    np.testing.assert_allclose(s.per_step["smape"], [200 / 9 / 3, (200 / 7 + 50 + 200 / 11) / 3])


def test_no_season_scales_by_the_one_step_naive_forecast():
    s = M.score(ACTUAL[:2], MODEL[:2], HIST[:2], season=None)
    # A: |3-1|, |2-3|, |4-2| -> 5/3; B: 0, 2, 2, 2 -> 6/4
    np.testing.assert_allclose(s.per_series["mase"], [1 / (5 / 3), 2 / 1.5])
    assert M.mase_scale(HIST[0], 1) == pytest.approx(5 / 3)
    assert M.mase_scale(HIST[1], 2) == pytest.approx(10 / 3)
    assert M.rmsse_scale(HIST[1]) == pytest.approx(math.sqrt(3))


def test_share_better_than_seasonal_naive():
    snaive = np.array([h[-2:] for h in HIST])  # season 2, H = 2: the last season repeated
    ref = M.score(ACTUAL, snaive, HIST, season=2)
    # A: forecast 2, 4 -> errors 3, -1 -> MASE 2; B: 6, 8 -> errors -6, 2 -> MAE 4, MASE 1.2
    np.testing.assert_allclose(ref.per_series["mase"], [2, 1.2, np.nan])
    model = M.score(ACTUAL, MODEL, HIST, season=2)
    assert M.share_better(model.per_series["mase"], ref.per_series["mase"]) == (1.0, 2)
    assert M.share_better(ref.per_series["mase"], model.per_series["mase"]) == (0.0, 2)
    # MAE: model 1, 2, 0.5 against 2, 4, 0.5: a tie is not a win
    assert M.share_better(model.per_series["mae"], ref.per_series["mae"]) == pytest.approx((2 / 3, 3))


def test_short_history_and_bad_forecast_are_skipped_with_a_reason():
    hist = [np.array([1.0, 2.0]), np.array([1.0, 3, 2, 4])]
    s = M.score([[1.0], [2.0]], [[np.nan], [1.0]], hist, season=2)
    assert np.isnan([s.per_series[k][0] for k in M.METRICS]).all()
    assert "not finite" in s.skipped[0]
    # series 1 is fine: error 1, scale 1
    assert s.per_series["mase"][1] == pytest.approx(1.0) and s.counted["mase"] == 1
    s = M.score([[1.0]], [[1.0]], [np.array([1.0, 2.0])], season=2)
    assert "2 training points, needs at least 3" in s.skipped[0]
    assert math.isnan(s.mean["mase"]) and s.counted["mase"] == 0
    assert s.mean["mae"] == 0.0


def test_one_series_as_1d():
    s = M.score(ACTUAL[0], MODEL[0], [HIST[0]], season=2)
    assert s.per_series["mase"].tolist() == [1.0]


@pytest.mark.parametrize("args, match", [
    (([[1.0, 2]], [[1.0]], [[1.0, 2]]), "same shape"),
    (([[1.0]], [[1.0]], [[1.0, 2], [3.0, 4]]), "one array per series"),
    (([[np.nan]], [[1.0]], [[1.0, 2]]), "actual values of series 0"),
    (([[1.0]], [[1.0]], [[1.0, np.inf]]), "history of series 0"),
    ((np.zeros((0, 2)), np.zeros((0, 2)), []), "empty"),
])
def test_bad_input_raises_valueerror(args, match):
    with pytest.raises(ValueError, match=match):
        M.score(*args, season=1)


def test_bad_season():
    with pytest.raises(ValueError, match="season must be an integer >= 1"):
        M.score(ACTUAL, MODEL, HIST, season=0)
