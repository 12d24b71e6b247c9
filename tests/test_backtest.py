"""Rolling-origin bookkeeping (fastrnn.forecast.backtest): origins, train/validation/test, skips,
and no leakage from the test part into anything but the test score."""

import numpy as np
import pytest

from fastrnn.datasets import DataError
from fastrnn.forecast import backtest as B
from fastrnn.forecast import panel_baselines as PB


def test_origins_at_the_end_step_apart():
    # 20 points, horizon 3, 3 windows, step 3: last origin 20 - 3 = 17, then 14, 11
    assert B.origins(20, 3, 3).tolist() == [11, 14, 17]
    assert B.origins(20, 3, 3, step=4).tolist() == [9, 13, 17]
    assert B.origins(6, 5).tolist() == [1]


def test_step_shorter_than_horizon_is_refused():
    with pytest.raises(ValueError, match="step=2 is shorter than horizon=3.*use step >= horizon"):
        B.origins(20, 3, 2, step=2)


def test_origin_without_history_is_an_error():
    with pytest.raises(DataError, match="needs at least 6 points"):
        B.origins(5, 5)


def test_min_length_is_look_back_plus_horizon_plus_windows_times_step():
    assert B.min_length(4, 3, 2) == 4 + 3 + 2 * 3
    assert B.min_length(4, 3, 2, step=5) == 4 + 3 + 2 * 5


def test_plan_skips_short_series_with_the_reason():
    series = [np.arange(30.0), np.arange(12.0), np.arange(13.0)]
    p = B.plan(series, look_back=4, horizon=3, windows=2)
    assert p.used == (0, 2) and p.lengths == (30, 12, 13)
    assert p.skipped == {1: "12 points, fewer than the 13 that look_back=4, horizon=3, windows=2, "
                            "step=3 need"}
    assert p.origins.tolist() == [[24, 27], [7, 10]]
    assert p.validation == (0,) and p.test == 1
    # the first origin of the shortest used series keeps one whole window (4 inputs, 3 targets)
    assert p.origins[1, 0] == 4 + 3
    h = p.histories(series, 0)
    assert [x.tolist() for x in h] == [list(range(24)), list(range(7))]
    assert p.actuals(series, 1).tolist() == [[27, 28, 29], [10, 11, 12]]
    assert p.actuals(series, 0).tolist() == [[24, 25, 26], [7, 8, 9]]


def test_no_series_long_enough_names_the_length_needed():
    with pytest.raises(DataError, match=r"no series is long enough: look_back=4, horizon=3, windows=2, "
                                        r"step=3 need at least 13 points .* longest of the 2 series has 12"):
        B.plan([np.arange(12.0), np.arange(5.0)], 4, 3, 2)


def test_plan_refuses_other_series_and_bad_windows():
    series = [np.arange(30.0)]
    p = B.plan(series, 4, 3, 2)
    with pytest.raises(ValueError, match="do not match the plan"):
        p.histories([np.arange(31.0)], 0)
    with pytest.raises(ValueError, match="window must be in 0 .. 1"):
        p.actuals(series, 2)
    with pytest.raises(ValueError, match="returned shape"):
        B.forecast_windows(p, series, lambda hs, h: np.zeros((len(hs), h + 1)))


def test_missing_values_are_refused_with_the_series_and_position():
    with pytest.raises(DataError, match="series 1 has 2 missing or infinite value.*first at position 3"):
        B.plan([np.arange(30.0), np.r_[np.arange(3.0), np.nan, np.inf, np.arange(20.0)]], 4, 3)


def test_histories_are_copies():
    series = [np.arange(30.0)]
    p = B.plan(series, 4, 3)
    p.histories(series, 0)[0][:] = -1
    assert series[0][0] == 0


def _panel(seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(60)
    return [10 * (k + 1) + np.sin(2 * np.pi * t[: 40 + 5 * k] / 4) * (k + 1)
            + rng.normal(0, 0.3, 40 + 5 * k) for k in range(4)]


def _backtest(series):
    """A small backtest with a choice made on validation: the best baseline by mean validation
    MASE, then its test score."""
    p = B.plan(series, look_back=4, horizon=3, windows=3)
    b = PB.panel_baselines(p, series, season=4, statistical_models=False)
    scores = {n: B.score_windows(p, series, f, season=4) for n, f in b.forecasts.items()}
    val = {n: np.mean([s[w].mean["mase"] for w in p.validation]) for n, s in scores.items()}
    best = min(val, key=val.get)
    return p, b, scores, val, best


def test_perturbing_the_test_part_changes_only_the_test_score():
    series = _panel()
    p, b, scores, val, best = _backtest(series)
    test_origin = p.origins[:, p.test]
    changed = [s.copy() for s in series]
    rng = np.random.default_rng(1)
    for s, o in zip(changed, test_origin):
        s[o:] += rng.normal(0, 5, len(s) - o)
    p2, b2, scores2, val2, best2 = _backtest(changed)

    assert np.array_equal(p.origins, p2.origins)
    for w in (*p.validation, p.test):  # the training data of every origin, the test one too
        for h1, h2 in zip(p.histories(series, w), p2.histories(changed, w)):
            assert np.array_equal(h1, h2)
    for w in p.validation:
        assert np.array_equal(p.actuals(series, w), p2.actuals(changed, w))
    assert not np.array_equal(p.actuals(series, p.test), p2.actuals(changed, p.test))
    for name in b.forecasts:
        assert np.array_equal(b.forecasts[name], b2.forecasts[name])  # forecasts never see the future
        for w in p.validation:
            for m in scores[name][w].per_series:
                assert np.array_equal(scores[name][w].per_series[m], scores2[name][w].per_series[m],
                                      equal_nan=True)
        assert scores[name][p.test].mean["mase"] != scores2[name][p.test].mean["mase"]
    assert val == val2 and best == best2
