"""Panel baselines (fastrnn.forecast.panel_baselines) on series whose forecasts are known exactly."""

import sys

import numpy as np
import pytest

from fastrnn.forecast import backtest as B
from fastrnn.forecast import panel_baselines as PB

HIST = [np.array([1.0, 2, 3, 4, 5, 6]), np.array([7.0, 1, 8, 2, 9])]


def test_naive_and_seasonal_naive_by_hand():
    assert PB.naive(HIST, 3).tolist() == [[6, 6, 6], [9, 9, 9]]
    # season 2: the last two values repeated (5, 6, 5 and 2, 9, 2)
    assert PB.seasonal_naive(HIST, 3, 2).tolist() == [[5, 6, 5], [2, 9, 2]]
    # a history shorter than the season cannot be forecast: NaN, scored as skipped
    f = PB.seasonal_naive([np.array([1.0, 2])], 2, 3)
    assert np.isnan(f).all()


def test_local_ar_recovers_an_exact_ar1_recursively():
    # x_t = 0.5 x_{t-1} + 2 from x_0 = 0: the AR(1) is exact, so is its recursive forecast
    x = [0.0]
    for _ in range(11):
        x.append(0.5 * x[-1] + 2)
    f = PB.linear_ar_local([np.array(x)], 3, look_back=1)
    want = [0.5 * x[-1] + 2]
    want += [0.5 * want[-1] + 2, 0.5 * (0.5 * want[-1] + 2) + 2]
    np.testing.assert_allclose(f[0], want, rtol=1e-9)
    # too few windows for the coefficients: NaN
    assert np.isnan(PB.linear_ar_local([np.array(x[:3])], 2, look_back=2)).all()


def _cycle(level, amp, n):
    # period 4: level, level + amp, level, level - amp, ... (n a multiple of 4: mean = level)
    return level + amp * np.array([0.0, 1, 0, -1] * (n // 4))


def test_pooled_ar_scales_each_series_by_its_own_history():
    # Three series with one shape and very different levels and amplitudes. After per-series
    # standardisation they are one series z_t = -z_{t-2}, which one pooled AR(2) fits exactly,
    # so every forecast is the exact continuation in each series' own units. Without the
    # per-series scaling no single (intercept, coefficients) fits all three.
    hist = [_cycle(10, 1, 16), _cycle(1000, 300, 12), _cycle(-5, 0.1, 20)]
    f = PB.linear_ar_pooled(hist, 5, look_back=2)
    want = [[10, 11, 10, 9, 10], [1000, 1300, 1000, 700, 1000], [-5, -4.9, -5, -5.1, -5]]
    np.testing.assert_allclose(f, want, rtol=1e-9, atol=1e-9)


def test_pooled_ar_skips_series_shorter_than_the_look_back():
    f = PB.linear_ar_pooled([_cycle(10, 1, 16), np.array([1.0])], 2, look_back=2)
    assert np.isfinite(f[0]).all() and np.isnan(f[1]).all()


def test_panel_baselines_rows_and_shapes_without_statsforecast(monkeypatch):
    monkeypatch.setitem(sys.modules, "statsforecast", None)  # import statsforecast -> ImportError
    series = [_cycle(10, 1, 24), _cycle(50, 5, 28)]
    p = B.plan(series, look_back=4, horizon=4, windows=2)
    b = PB.panel_baselines(p, series, season=4)
    assert list(b.forecasts) == ["naive", "seasonal_naive", "linear_ar_pooled", "linear_ar_local"]
    assert all(f.shape == (2, 2, 4) for f in b.forecasts.values())
    assert b.notes == ["Note: AutoETS and AutoTheta baselines skipped: statsforecast is not installed "
                       "(pip install 'fastrnn[baselines]' to get them)"]
    # seasonal naive is exact on a pure cycle, at every origin
    for w in range(2):
        np.testing.assert_array_equal(b.forecasts["seasonal_naive"][:, w], p.actuals(series, w))
    b = PB.panel_baselines(p, series, season=4, arima=True)
    assert "AutoETS, AutoTheta and AutoARIMA baselines skipped" in b.notes[0]
    with pytest.raises(ImportError, match=r"pip install 'fastrnn\[baselines\]'"):
        PB.statistical(series, 2, 4, "auto_ets")
    # no season: no seasonal naive row
    assert "seasonal_naive" not in PB.panel_baselines(p, series, season=None).forecasts


def test_unknown_statistical_model():
    with pytest.raises(ValueError, match="unknown statsforecast model 'ets'"):
        PB.statistical(HIST, 2, 2, "ets")


@pytest.mark.skipif(not PB.statsforecast_available(),
                    reason="statsforecast is not installed (pip install 'fastrnn[baselines]')")
def test_autoets_and_autotheta_on_a_tiny_panel():
    # Two linear trends of very different levels, different lengths: the forecasts must come
    # back in the input order (ids mapped, not assumed) and follow each trend.
    hist = [100 + 2.0 * np.arange(30), 1 + 0.01 * np.arange(25)]
    for model in ("auto_ets", "auto_theta"):
        f = PB.statistical(hist, 3, None, model)
        assert f.shape == (2, 3) and np.isfinite(f).all()
        np.testing.assert_allclose(f[0], 100 + 2.0 * np.arange(30, 33), rtol=0.02)
        np.testing.assert_allclose(f[1], 1 + 0.01 * np.arange(25, 28), rtol=0.02)
    series = [np.concatenate([h, h[-1] + np.arange(1, 4) * (h[1] - h[0])]) for h in hist]
    p = B.plan(series, look_back=2, horizon=3)
    b = PB.panel_baselines(p, series, season=None)
    assert {"auto_ets", "auto_theta"} <= set(b.forecasts) and not b.notes
    assert b.forecasts["auto_ets"].shape == (2, 1, 3)


@pytest.mark.skipif(not PB.statsforecast_available(),
                    reason="statsforecast is not installed (pip install 'fastrnn[baselines]')")
def test_statistical_models_split_over_processes_give_the_same_forecasts(monkeypatch):
    from fastrnn import threads

    r = np.random.default_rng(3)
    hist = [10 + np.cumsum(r.normal(0, 1, 24 + k % 5)) + 3 * np.sin(np.arange(24 + k % 5) * np.pi / 2)
            for k in range(40)]
    serial = PB.statistical(hist, 4, 4, "auto_theta")
    previous = threads.set_parallelism(2)
    try:
        split = PB._statistical_parallel(hist, 4, 4, "auto_theta")  # 2 chunks in 2 worker processes
    finally:
        threads.set_parallelism(previous)
    np.testing.assert_array_equal(split, serial)
