"""Baselines: hand-computed toy cases and the reference figures in PROVENANCE.md."""

import math

import numpy as np
import pytest

from fastrnn.forecast import baselines
from fastrnn.forecast.baselines import evaluate, linear_ar, mae, persistence, rmse, seasonal_naive
from fastrnn.forecast.datasets import load
from fastrnn.forecast.preprocessing import prepare

# Differences 1, 2, ..., 9. split(10) puts the test part at points 6..9 = 22, 29, 37, 46.
TOY = np.array([1, 2, 4, 7, 11, 16, 22, 29, 37, 46], dtype=float)


def test_rmse_mae():
    assert rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3))
    assert mae([1, 2, 3], [1, 2, 5]) == pytest.approx(2 / 3)
    assert rmse([[1], [2]], [1, 2]) == 0  # shapes are flattened
    with pytest.raises(ValueError, match="differ in size"):
        rmse([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="empty"):
        mae([], [])


def test_toy_persistence_by_hand():
    p = prepare(TOY, look_back=2, val_fraction=0)
    assert p.starts["test"].tolist() == [6, 7, 8, 9]
    scores = evaluate(p)
    # forecasts 16, 22, 29, 37 -> errors 6, 7, 8, 9
    assert scores["persistence"]["rmse"] == pytest.approx(math.sqrt((36 + 49 + 64 + 81) / 4))
    assert scores["persistence"]["mae"] == pytest.approx(7.5)
    assert scores["seasonal_naive"] is None  # no season given


def test_toy_seasonal_naive_by_hand():
    p = prepare(TOY, look_back=2, val_fraction=0, season=2)
    # forecasts 11, 16, 22, 29 -> errors 11, 13, 15, 17
    s = evaluate(p)["seasonal_naive"]
    assert s["rmse"] == pytest.approx(math.sqrt((121 + 169 + 225 + 289) / 4))
    assert s["mae"] == pytest.approx(14.0)
    # season 3: forecasts 7, 11, 16, 22 -> errors 15, 18, 21, 24
    assert evaluate(p, season=3)["seasonal_naive"]["mae"] == pytest.approx((15 + 18 + 21 + 24) / 4)


def test_toy_linear_ar_is_exact_on_quadratic():
    # y[t] = 2 y[t-1] - y[t-2] + 1 holds exactly, so AR(2) with intercept is perfect ...
    p = prepare(TOY, look_back=2, val_fraction=0)
    assert evaluate(p)["linear_ar"]["rmse"] == pytest.approx(0, abs=1e-9)
    # ... and so is AR(1) on differences (d[t] = d[t-1] + 1), undone with the last actual value.
    q = prepare(TOY, look_back=1, transform="diff", val_fraction=0)
    pred = baselines.forecasts(q)["linear_ar"]
    np.testing.assert_allclose(pred[:, 0], [22, 29, 37, 46], atol=1e-9)


def test_linear_ar_matches_explicit_least_squares():
    rng = np.random.default_rng(0)
    v = np.cumsum(rng.normal(size=60)) + 50
    starts = np.arange(40, 60)
    pred = linear_ar(v, starts, look_back=3)[:, 0]
    rows = range(3, 40)
    A = np.array([[1, v[t - 3], v[t - 2], v[t - 1]] for t in rows])
    coef = np.linalg.lstsq(A, v[3:40], rcond=None)[0]
    expected = [coef @ [1, v[t - 3], v[t - 2], v[t - 1]] for t in starts]
    np.testing.assert_allclose(pred, expected, rtol=1e-10)


def test_linear_ar_too_few_windows():
    assert linear_ar(TOY, [6, 7, 8, 9], look_back=5) is None  # 1 window, 6 coefficients


def test_multi_step_forms():
    v = np.arange(10.0) ** 2
    assert persistence(v, [5, 6], horizon=3).tolist() == [[16] * 3, [25] * 3]
    # season 2, horizon 3: lags 2, 2, 4 -> points t-2, t-1, t-2
    assert seasonal_naive(v, [5], 2, horizon=3).tolist() == [[v[3], v[4], v[3]]]
    assert seasonal_naive(v, [1, 5], 2) is None  # not enough history for the first window
    assert seasonal_naive(v, [5], None) is None
    # AR(2) iterated on the quadratic: exact for every step
    np.testing.assert_allclose(linear_ar(v, [6, 7], 2, horizon=3), [v[6:9], v[7:10]], atol=1e-8)


def test_multi_step_through_prepare():
    p = prepare(load("airline"), look_back=12, horizon=3, transform="log+diff")
    scores = evaluate(p)
    assert set(scores) == set(baselines.NAMES)
    assert all(s is not None and s["rmse"] > 0 for s in scores.values())


def test_forecasts_on_other_parts():
    p = prepare(TOY, look_back=2, val_fraction=0)
    f = baselines.forecasts(p, "train")
    assert f["persistence"][:, 0].tolist() == TOY[1:5].tolist()


# ---------------------------------------------------------------------------
# Reference figures (fastrnn/data/PROVENANCE.md): chronological 67 % / 33 % split,
# one-step-ahead test RMSE in original units. They do not depend on val_fraction.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("val_fraction", [0.0, 0.1])
@pytest.mark.parametrize("name, look_back, transform, baseline, expected", [
    ("airline", 12, None, "persistence", 48.04),
    ("temperature", 30, None, "persistence", 2.624),
    ("stock", 10, None, "persistence", 0.727),
    ("airline", 12, None, "seasonal_naive", 41.85),
    ("airline", 13, "diff", "linear_ar", 13.07),
    ("temperature", 30, None, "linear_ar", 2.344),
])
def test_reference_figures(name, look_back, transform, baseline, expected, val_fraction):
    p = prepare(load(name), look_back=look_back, transform=transform, val_fraction=val_fraction)
    assert len(p.y_test) == len(load(name)) - int(len(load(name)) * 0.67)
    got = evaluate(p)[baseline]["rmse"]
    decimals = len(str(expected).split(".")[1])
    assert round(got, decimals) == expected


# --- statsforecast's models on the test points (issue 15) ---------------------------------------

_needs_sf = pytest.mark.skipif(not __import__("fastrnn.forecast.panel_baselines", fromlist=["x"])
                               .statsforecast_available(),
                               reason="statsforecast is not installed (pip install 'fastrnn[baselines]')")


def _airline():
    from fastrnn import forecast as fc

    cfg = fc.make_config(dataset="airline")
    return fc.prepare_series(fc.load_series(cfg), cfg)


@_needs_sf
def test_statsforecast_naive_is_fastrnns_persistence_on_the_test_points():
    # statsforecast's own protocol on the run's test points: its Naive must be persistence.
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import Naive

    for name in ("airline", "stock"):
        from fastrnn import forecast as fc

        cfg = fc.make_config(dataset=name)
        prep = fc.prepare_series(fc.load_series(cfg), cfg)
        s = prep.starts["test"]
        df = pd.DataFrame({"unique_id": 0, "ds": np.arange(len(prep.values)), "y": prep.values})
        cv = StatsForecast(models=[Naive()], freq=1, n_jobs=1).cross_validation(
            df=df, h=1, step_size=1, n_windows=len(s), refit=False)
        assert cv["ds"].tolist() == s.tolist()
        np.testing.assert_allclose(cv["Naive"].to_numpy(), persistence(prep.values, s)[:, 0], atol=1e-6)
        assert round(rmse(prep.targets("test"), cv["Naive"].to_numpy()), 6) == \
            round(evaluate(prep)["persistence"]["rmse"], 6)


@_needs_sf
def test_statistical_one_step_is_statsforecasts_cross_validation_without_refit():
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import AutoTheta

    prep = _airline()
    s = prep.starts["test"]
    df = pd.DataFrame({"unique_id": 0, "ds": np.arange(len(prep.values)), "y": prep.values})
    cv = StatsForecast(models=[AutoTheta(season_length=12)], freq=1, n_jobs=1).cross_validation(
        df=df, h=1, step_size=1, n_windows=len(s), refit=False)
    ours = baselines.statistical_one_step(prep.values, s, 12, "auto_theta")
    np.testing.assert_allclose(ours, cv["AutoTheta"].to_numpy(), rtol=1e-10)


@_needs_sf
def test_statistical_rows_on_airline_are_the_issues_figures():
    # Issue 15 measured these with statsforecast 2.1.1's cross_validation on the same test points.
    prep = _airline()
    st = baselines.statistical(prep, "test")
    assert list(st.forecasts) == ["auto_ets", "auto_theta", "auto_arima"] and not st.notes
    assert st.seasons == {"auto_ets": 12, "auto_theta": 12, "auto_arima": 12}
    y = prep.targets("test")[:, 0]
    got = {k: round(rmse(y, f), 2) for k, f in st.forecasts.items()}
    assert got == {"auto_ets": 25.53, "auto_theta": 17.20, "auto_arima": 14.62}
    assert all(v >= 0 for v in st.seconds.values())


def test_statistical_without_statsforecast_is_one_note(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "statsforecast", None)  # import statsforecast -> ImportError
    st = baselines.statistical(_airline(), "test")
    assert st.forecasts == {} and st.seconds == {}
    assert st.notes == ["Note: AutoETS, AutoTheta and AutoARIMA baselines skipped: statsforecast is not "
                        "installed (pip install 'fastrnn[baselines]' to get them)"]


def test_arima_gets_no_season_above_24():
    assert baselines.statistical_season("auto_arima", 365) == 1
    assert baselines.statistical_season("auto_arima", 24) == 24
    assert baselines.statistical_season("auto_ets", 365) == 365
    assert baselines.statistical_season("auto_theta", None) == 1


def test_train_table_has_the_statistical_rows_or_one_note(monkeypatch, tmp_path):
    import json
    import sys

    from click.testing import CliRunner

    from fastrnn.cli import main
    from fastrnn.forecast import panel_baselines

    args = ["train", "--epochs", "1", "--hidden", "4", "--ensemble", "1", "--no-plot"]
    if panel_baselines.statsforecast_available():
        res = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "a")])
        assert res.exit_code == 0, res.output
        m = json.loads((tmp_path / "a" / "metrics.json").read_text())
        for label, key in (("AutoETS (12)", "auto_ets"), ("AutoTheta (12)", "auto_theta"),
                           ("AutoARIMA (12)", "auto_arima")):
            row = next(line for line in res.output.splitlines() if line.strip().startswith(label))
            assert f"{m['baselines'][key]['rmse']:.2f}" in row
        assert set(m["baseline_seconds"]) == {"auto_ets", "auto_theta", "auto_arima"}
        assert "Baselines: AutoETS" in res.output and "skipped" not in res.output
    monkeypatch.setitem(sys.modules, "statsforecast", None)
    res = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    notes = [line for line in res.output.splitlines() if "statsforecast is not installed" in line]
    assert notes == ["Note: AutoETS, AutoTheta and AutoARIMA baselines skipped: statsforecast is not "
                     "installed (pip install 'fastrnn[baselines]' to get them)"]
    m = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert set(m["baselines"]) == {"persistence", "seasonal_naive", "linear_ar"}
    assert m["baseline_notes"] == notes
