"""Conformal prediction intervals (fastrnn.forecast.intervals): the finite-sample quantile by hand,
coverage on a series with known Gaussian noise, the recursive residuals, and predict's columns."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from fastrnn import forecast as fc
from fastrnn.cli import main
from fastrnn.forecast import intervals as I
from fastrnn.forecast.combine import Combination
from fastrnn.forecast.datasets import Dataset

FAST = ["--epochs", "2", "--hidden", "4", "--ensemble", "1", "--no-plot", "--no-statistical"]


# --- the quantile and the levels -----------------------------------------------------------------


def test_conformal_quantile_by_hand():
    scores = [3.0, 1.0, 2.0, 5.0, 4.0]  # sorted: 1 2 3 4 5, n = 5
    assert I.conformal_quantile(scores, 80) == 5.0  # ceil(6 * 0.8) = 5: the 5th smallest
    assert I.conformal_quantile(scores, 50) == 3.0  # ceil(6 * 0.5) = 3
    assert I.conformal_quantile(scores, 66) == 4.0  # ceil(3.96) = 4
    assert I.conformal_quantile(scores, 10) == 1.0  # ceil(0.6) = 1
    assert I.conformal_quantile(scores, 95) == math.inf  # ceil(5.7) = 6 > 5: too few scores
    assert I.conformal_quantile([], 80) == math.inf
    assert I.conformal_quantile([2.0, np.nan, 1.0, 3.0, 4.0], 80) == 4.0  # NaN left out: n = 4, ceil(4)
    assert I.conformal_quantile([2.0, np.nan, 1.0, 3.0], 80) == math.inf  # n = 3: ceil(3.2) = 4 > 3
    # n = 19 at 95 %: (19 + 1) * 0.95 = 19 exactly (not 19.000000000000004): the largest, finite
    assert I.conformal_quantile(np.arange(1.0, 20.0), 95) == 19.0
    assert I.half_widths([[-3, 1, -2, 5, 4], [1, -1]], [80, 50]) == {"50": [3.0, 1.0], "80": [5.0, math.inf]}


@pytest.mark.parametrize("text, message", [
    ("0", "got '0'"), ("100", "got '100'"), ("150", "got '150'"), ("abc", "got 'abc'"),
    ("80,", "got ''"), ("nan", "got 'nan'"), ("80,80", "level 80 is given twice"),
])
def test_bad_levels(text, message):
    with pytest.raises(ValueError, match=message):
        I.parse_levels(text)
    res = CliRunner().invoke(main, ["train", "--level", text, "--no-plot"])
    assert res.exit_code == 2
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "'--level'" in errors[0] and message in errors[0]
    assert "Traceback" not in res.output


def test_levels_parse_sorted_and_checked_in_the_config():
    assert I.parse_levels(" 95, 80 ,97.5") == (80.0, 95.0, 97.5)
    assert I.level_key(97.5) == "97.5" and I.level_key(80.0) == "80"
    assert fc.make_config(levels=[95, 80]).levels == (80.0, 95.0)
    with pytest.raises(ValueError, match="between 0 and 100"):
        fc.make_config(levels=[0])
    with pytest.raises(ValueError, match="levels must be a sequence"):
        fc.make_config(levels="80")


# --- coverage on a series with known noise -------------------------------------------------------


def _ar1(n, phi=0.7, sigma=1.0, seed=0):
    rng = np.random.default_rng(seed)
    e = rng.normal(0.0, sigma, n)
    y = np.empty(n)
    y[0] = e[0] / math.sqrt(1 - phi ** 2)
    for t in range(1, n):
        y[t] = phi * y[t - 1] + e[t]
    return y


def test_coverage_on_an_ar1_series_with_known_gaussian_noise():
    # AR(1), phi 0.7, sigma 1, 20000 points: 13400 train, 1340 validation (the calibration
    # residuals), 6600 test. Given the calibration set, the coverage of a new point is
    # Beta-distributed around the level with sd sqrt(p(1-p)/n_cal): 0.011 at 80 %, 0.006 at 95 %;
    # the test part's share adds sqrt(p(1-p)/n_test): 0.005 and 0.003 (the one-step errors of a
    # fitted AR model are nearly independent). Together 0.012 and 0.007: a tolerance of 0.05 and
    # 0.03 is about 4 standard deviations, so the test fails by chance about once in 10^4 runs.
    y = _ar1(20_000)
    ds = Dataset(name="ar1", values=y, dates=None, column="y", season=None, source="synthetic")
    cfg = fc.make_config(csv="ar1.csv", look_back=3, transform="none", hidden=4, epochs=3,
                         ensemble=1, levels=(80, 95), statistical=False, val_fraction=0.1)
    r = fc.train(cfg, data=ds)
    iv = r.metrics["intervals"]
    n_val = r.metrics["n_val"]
    assert iv["n_residuals"][:3] == [n_val, n_val - 1, n_val - 2]
    assert abs(iv["coverage"]["80"] - 0.80) < 0.05
    assert abs(iv["coverage"]["95"] - 0.95) < 0.03
    # No forecaster beats the innovations: the 95 % half-width is at least 1.96 sigma on average
    # (less 5 % for the quantile's own sampling error at n = 1340).
    assert iv["mean_half_width"]["95"] >= 0.95 * 1.96
    # and the coverage is what the saved forecasts give, with each window's scale: the mean
    # absolute change over its 3 values (a floor of a tenth of the training part's)
    v, s = r.prep.values, r.prep.starts["test"]
    floor = 0.1 * np.mean(np.abs(np.diff(v[:r.prep.split.train_end])))
    scale = np.maximum((np.abs(v[s - 1] - v[s - 2]) + np.abs(v[s - 2] - v[s - 3])) / 2, floor)
    y_test = r.prep.targets("test")[:, 0]
    q = iv["quantiles"]["80"][0]
    assert iv["coverage"]["80"] == np.mean(np.abs(y_test - r.test_pred) <= q * scale)
    # the recursive residuals spread out with the horizon on an AR(1) (error variance grows)
    assert iv["quantiles"]["80"][9] > iv["quantiles"]["80"][0]


def test_normalised_intervals_follow_a_series_whose_changes_grow():
    # A random walk whose step sd grows as exp(t / 1500): over the test part (points 4020-5999)
    # the steps are about 2.4 times those of the validation part (3618-4019). Widths fixed on the
    # validation residuals cover about 2 * Phi(1.28 / 2.4) - 1 = 40-50 % of the test points at
    # 80 %; the normalised intervals scale with the last look-back's changes and stay near 80 %
    # (sd of a coverage on 402 calibration and 1980 test points: about 0.022; tolerance 0.06).
    rng = np.random.default_rng(3)
    n = 6000
    y = 100 + np.cumsum(rng.normal(0.0, 1.0, n) * np.exp(np.arange(n) / 1500))
    ds = Dataset(name="rw", values=y, dates=None, column="y", season=None, source="synthetic")
    cfg = fc.make_config(csv="rw.csv", look_back=20, transform="diff", hidden=4, epochs=2,
                         ensemble=1, levels=(80,), statistical=False)
    r = fc.train(cfg, data=ds)
    iv = r.metrics["intervals"]
    y_test = r.prep.targets("test")[:, 0]
    fixed = I.conformal_quantile(np.abs(r.prep.targets("val")[:, 0] - r.prep.inverse(
        fc.predict_mean(r.model, r.prep.X_val), "val")[:, 0]), 80)
    assert np.mean(np.abs(y_test - r.test_pred) <= fixed) < 0.6  # what fixed widths would give
    assert abs(iv["coverage"]["80"] - 0.80) < 0.06


# --- the recursive residuals equal predict's forecasts -------------------------------------------


def test_series_residuals_are_predicts_recursive_forecasts_from_each_validation_origin(tmp_path):
    cfg = fc.make_config(dataset="airline", hidden=4, epochs=2, ensemble=2, statistical=False)
    r = fc.train(cfg)
    res = I.series_residuals(r.model, r.prep)
    s, v = r.prep.starts["val"], r.prep.values
    assert [len(x) for x in res] == list(range(len(s), 0, -1))
    # step 1: the validation part's one-step residuals, as scored
    val_pred = fc.score(r.model, r.prep, "val")["pred"]
    np.testing.assert_allclose(res[0], v[s] - val_pred, rtol=1e-12, atol=1e-9)
    path, _ = fc.write_run(r, tmp_path / "run", plot=False)
    run = fc.load_run(path)
    for i in (0, 3, len(s) - 3):
        steps = len(s) - i
        f = fc.forecast(run, v[:s[i]], steps)
        got = [res[h][i] for h in range(steps)]
        np.testing.assert_allclose(got, v[s[i]:s[i] + steps] - f, rtol=1e-6, atol=1e-6)


def test_series_residuals_with_calendar_inputs_follow_the_targets_dates(tmp_path):
    # Calendar inputs of step h are those of the target's own window: the same as predict's
    # forecast from the origin with the series' dates.
    cfg = fc.make_config(dataset="temperature", hidden=4, epochs=1, ensemble=1, statistical=False,
                         dtype="float64")
    r = fc.train(cfg)
    assert r.prep.calendar
    res = I.series_residuals(r.model, r.prep, max_work=2000)
    s, v, d = r.prep.starts["val"], r.prep.values, r.prep.dates
    steps = len(res)
    assert 1 < steps < len(s) and sum(len(x) for x in res) <= 2000  # max_work bounds the work
    run = fc.load_run(fc.write_run(r, tmp_path / "run", plot=False)[0])
    for i in (0, 17):
        f = fc.forecast(run, v[:s[i]], steps, dates=d[:s[i]])
        np.testing.assert_allclose([res[h][i] for h in range(steps)], v[s[i]:s[i] + steps] - f, atol=1e-8)


# --- combinations, the linear AR and persistence -------------------------------------------------


def _random_walk(n, sigma=1.0, seed=0):
    return 100.0 + np.cumsum(np.random.default_rng(seed).normal(0.0, sigma, n))


def test_persistence_residuals_are_the_changes_since_each_origin():
    ds = Dataset(name="rw", values=_random_walk(3000), dates=None, column="y", season=None, source="synthetic")
    cfg = fc.make_config(csv="rw.csv", look_back=5, transform="diff", combine=("persistence",),
                         levels=(80,), statistical=False)
    r = fc.train(cfg, data=ds)
    res = I.series_residuals(r.model, r.prep, max_work=5000)
    s, v = r.prep.starts["val"], r.prep.values
    assert len(res) > 10
    for h, x in enumerate(res):  # persistence repeats the value before the origin at every step
        np.testing.assert_allclose(x, v[s[:len(x)] + h] - v[s[:len(x)] - 1], rtol=0, atol=1e-9)


def test_coverage_of_persistence_on_a_random_walk_with_known_noise():
    # Gaussian steps, sigma 1: persistence's step-h error is N(0, h). 20000 points with a
    # validation fraction of 0.1: 1340 calibration residuals, 6600 test points; the tolerance is
    # about 4 standard deviations, as for the AR(1) above.
    ds = Dataset(name="rw", values=_random_walk(20_000, seed=1), dates=None, column="y", season=None,
                 source="synthetic")
    cfg = fc.make_config(csv="rw.csv", look_back=10, transform="diff", combine=("persistence",),
                         levels=(80, 95), statistical=False, val_fraction=0.1)
    iv = fc.train(cfg, data=ds).metrics["intervals"]
    assert abs(iv["coverage"]["80"] - 0.80) < 0.05
    assert abs(iv["coverage"]["95"] - 0.95) < 0.03
    assert iv["mean_half_width"]["95"] >= 0.95 * 1.96  # no forecaster beats the innovations
    # the error's sd grows as sqrt(h): step 4's quantile is about twice step 1's
    q = iv["quantiles"]["80"]
    assert 1.6 < q[3] / q[0] < 2.4


def test_the_linear_ar_alone_is_calibrated_by_its_fit_on_the_training_part():
    # airline's default: the AR fitted on the training and validation windows forecasts; its
    # intervals come from the AR fitted on the training windows only (out-of-sample validation
    # forecasts), here recomputed by the linear AR baseline's own least squares and recursion.
    from fastrnn.forecast import baselines

    cfg = fc.make_config("airline", levels=(80,), statistical=False)
    assert cfg.combine == ("linear",)
    r = fc.train(cfg)
    iv = r.metrics["intervals"]
    p = r.prep
    s, v, n = p.starts["val"], p.values, len(p.starts["val"])
    ar = baselines.linear_ar(v, s, p.look_back, horizon=n, transform=p.transform, fit_end=p.split.train_end)
    floor = I.scale_floor(v, p.split.train_end)
    scale = I.window_scale(v, s, p.look_back, floor)
    for h in (0, 1, 5):
        scores = np.abs(v[s[:n - h] + h] - ar[:n - h, h]) / scale[:n - h]
        want = I.conformal_quantile(scores, 80)
        assert iv["quantiles"]["80"][h] == pytest.approx(want, rel=1e-6)
    assert iv["n_residuals"] == list(range(n, 0, -1))
    assert iv["residuals_of"] == "the same AR fitted on the training windows only"


def test_combination_residuals_are_predicts_forecasts_from_each_validation_origin(tmp_path):
    # a network, the linear AR and persistence, with calendar inputs (temperature): step h of
    # origin i is predict's recursive forecast from the series before the origin
    cfg = fc.make_config(dataset="temperature", combine=("gru", "linear", "persistence"), hidden=4, epochs=1,
                         ensemble=1, statistical=False, levels=(80,), dtype="float64")
    r = fc.train(cfg)
    assert r.prep.calendar and isinstance(r.model, Combination)
    res = I.series_residuals(r.model, r.prep, max_work=2000)
    s, v, d = r.prep.starts["val"], r.prep.values, r.prep.dates
    steps = len(res)
    np.testing.assert_allclose(res[0], v[s] - fc.score(r.model, r.prep, "val")["pred"], atol=1e-8)
    run = fc.load_run(fc.write_run(r, tmp_path / "run", plot=False)[0])
    assert run.members is not None
    for i in (0, 17):
        f = fc.forecast(run, v[:s[i]], steps, dates=d[:s[i]])
        np.testing.assert_allclose([res[h][i] for h in range(steps)], v[s[i]:s[i] + steps] - f, atol=1e-8)


# --- predict's columns ---------------------------------------------------------------------------


def test_predict_writes_interval_columns_and_old_runs_still_predict(tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    res = runner.invoke(main, ["train", *FAST, "--level", "80,95", "--out", str(out)])
    assert res.exit_code == 0, res.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["intervals"]["levels"] == [80.0, 95.0]
    assert "80 %: test coverage" in res.output and "95 %: test coverage" in res.output
    info = json.loads((out / "preprocessing.json").read_text())
    assert info["intervals"]["quantiles"] == m["intervals"]["quantiles"]

    csv = tmp_path / "next.csv"
    res = runner.invoke(main, ["predict", "--model", str(out), "--steps", "14", "--output", str(csv)])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(csv)
    assert list(df.columns) == ["date", "forecast", "lo-80", "hi-80", "lo-95", "hi-95"]
    q80 = m["intervals"]["quantiles"]["80"]  # 12 validation points: steps 1-12 only
    assert len(q80) == 12
    # the scale of the last window: airline's look-back 13, the mean of its 12 absolute changes
    last = fc.load_series(fc.make_config(dataset="airline")).values[-13:]
    scale = max(np.mean(np.abs(np.diff(last))), m["intervals"]["scale"]["floor"])
    for k in range(14):
        want = q80[k] * scale if k < len(q80) and q80[k] is not None else math.inf
        assert df["hi-80"][k] - df["forecast"][k] == pytest.approx(want)
        assert df["forecast"][k] - df["lo-80"][k] == pytest.approx(want)
    assert np.isinf(df["hi-95"]).all()  # 12 residuals are too few for 95 % (19 needed)
    assert "Note: the 95 % interval is unbounded at 14 of 14 steps" in res.output
    assert "lo-80" in res.output.splitlines()[1]

    # a run saved before intervals existed (no "intervals" key) predicts as before
    del info["intervals"]
    (out / "preprocessing.json").write_text(json.dumps(info))
    res = runner.invoke(main, ["predict", "--model", str(out), "--steps", "3", "--output",
                               str(tmp_path / "old.csv")])
    assert res.exit_code == 0, res.output
    assert list(pd.read_csv(tmp_path / "old.csv").columns) == ["date", "forecast"]
    np.testing.assert_allclose(pd.read_csv(tmp_path / "old.csv")["forecast"], df["forecast"][:3])

    # a run saved with fixed half-widths (before intervals were normalised) still predicts them
    info["intervals"] = {"levels": [80], "half_widths": {"80": [2.5, 4.0]}}
    (out / "preprocessing.json").write_text(json.dumps(info))
    res = runner.invoke(main, ["predict", "--model", str(out), "--steps", "3", "--output",
                               str(tmp_path / "fixed.csv")])
    assert res.exit_code == 0, res.output
    fixed = pd.read_csv(tmp_path / "fixed.csv")
    np.testing.assert_allclose(fixed["hi-80"] - fixed["forecast"], [2.5, 4.0, math.inf])

    # a damaged intervals object is refused with the field named
    for bad, field in [({"levels": [80], "half_widths": {"80": [-1.0]}}, "'intervals.half_widths.80'"),
                       ({"levels": [80], "quantiles": {"80": [1.0]}, "scale": {"look_back": 13, "floor": 0}},
                        "'intervals.scale'")]:
        info["intervals"] = bad
        (out / "preprocessing.json").write_text(json.dumps(info))
        res = runner.invoke(main, ["predict", "--model", str(out), "--steps", "3"])
        assert res.exit_code == 1 and f"{field} must be" in res.output


def test_a_run_without_levels_has_no_intervals(tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", *FAST, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "intervals" not in json.loads((out / "metrics.json").read_text())
    assert "intervals" not in json.loads((out / "preprocessing.json").read_text())
    assert "Intervals" not in res.output


# --- panels --------------------------------------------------------------------------------------


def _panel_frame(n_series=12, n=48, seed=1):
    """Quarterly series of very different sizes with Gaussian noise proportional to their size."""
    r = np.random.default_rng(seed)
    rows = []
    for k in range(n_series):
        size = 10.0 ** (k % 4)
        t = np.arange(n)
        y = size * (10 + np.sin(2 * np.pi * t / 4) + r.normal(0, 0.3, n))
        rows += [(f"s{k}", d, v) for d, v in zip(pd.date_range("2000-01-01", periods=n, freq="QS"), y)]
    return pd.DataFrame(rows, columns=["unique_id", "ds", "y"])


PANEL_FAST = ["--epochs", "2", "--hidden", "4", "--patience", "0", "--look-back", "4", "--no-plot",
              "--no-statistical", "--horizon", "4"]


@pytest.mark.parametrize("windows, source", [("3", "validation origins"), ("1", "early-stopping hold-out")])
def test_panel_intervals_train_and_predict(tmp_path, windows, source):
    from fastrnn.forecast import panel as _panel
    from fastrnn.forecast.metrics import mase_scale

    csv = tmp_path / "p.csv"
    _panel_frame().to_csv(csv, index=False)
    out = tmp_path / "run"
    runner = CliRunner()
    r = runner.invoke(main, ["train", "--csv", str(csv), "--id-column", "unique_id", "--windows", windows,
                             "--strategy", "global", "--multi", "direct", *PANEL_FAST, "--level", "80,95",
                             "--out", str(out)])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    iv = m["intervals"]
    assert iv["source"] == source and iv["levels"] == [80.0, 95.0]
    # one scaled residual per series and step at each residual origin
    assert iv["n_residuals"] == [12 * (int(windows) - 1 if windows != "1" else 1)] * 4
    assert f"Intervals: split conformal from the {source}" in r.output and "80 %: test coverage" in r.output
    # the coverage is recomputed from forecasts.csv: |actual - forecast| <= q_step * scale(history)
    rows = pd.read_csv(out / "forecasts.csv")
    pan = _panel.from_frame(_panel_frame())
    test = rows[rows.origin == rows.groupby("id").origin.transform("max")]
    inside = []
    for sid, g in test.groupby("id"):
        y = pan.values[pan.ids.index(sid)]
        scale = mase_scale(y[:-4], 4)
        q = np.array([np.inf if x is None else x for x in iv["quantiles"]["80"]])
        inside += list(np.abs(g.actual.to_numpy() - g.forecast.to_numpy()) <= q[g.step.to_numpy() - 1] * scale)
    assert iv["coverage"]["80"] == pytest.approx(np.mean(inside))
    if windows != "1":  # the quantiles by hand from the validation origins' rows of forecasts.csv
        val = rows[rows.origin != rows.groupby("id").origin.transform("max")]
        scaled = {h: [] for h in range(1, 5)}
        for (sid, origin), g in val.groupby(["id", "origin"]):
            y, dates = pan.values[pan.ids.index(sid)], pan.dates(pan.ids.index(sid))
            scale = mase_scale(y[:list(dates.strftime("%Y-%m-%d")).index(origin)], 4)
            for h, a, f in zip(g.step, g.actual, g.forecast):
                scaled[h].append(abs(a - f) / scale)
        for key in ("80", "95"):
            want = [I.conformal_quantile(scaled[h], float(key)) for h in range(1, 5)]
            got = [math.inf if x is None else x for x in iv["quantiles"][key]]
            np.testing.assert_allclose(got, want, rtol=1e-6)

    nxt = tmp_path / "next.csv"
    p = runner.invoke(main, ["predict", "--model", str(out), "--csv", str(csv), "--id-column", "unique_id",
                             "--output", str(nxt)])
    assert p.exit_code == 0, p.output
    f = pd.read_csv(nxt)
    assert list(f.columns) == ["id", "date", "step", "forecast", "lo-80", "hi-80", "lo-95", "hi-95"]
    for sid, g in f.groupby("id"):
        scale = mase_scale(pan.values[pan.ids.index(sid)], 4)
        q = np.array([np.inf if x is None else x for x in iv["quantiles"]["80"]])
        np.testing.assert_allclose(g["hi-80"] - g.forecast, q * scale, rtol=1e-9)
        np.testing.assert_allclose(g.forecast - g["lo-80"], q * scale, rtol=1e-9)
    # a panel run without levels: no interval columns
    out2 = tmp_path / "run2"
    r = runner.invoke(main, ["train", "--csv", str(csv), "--id-column", "unique_id", "--windows", "1",
                             "--strategy", "global", "--multi", "direct", *PANEL_FAST, "--out", str(out2)])
    assert r.exit_code == 0, r.output
    assert "intervals" not in json.loads((out2 / "panel.json").read_text())
    p = runner.invoke(main, ["predict", "--model", str(out2), "--csv", str(csv), "--id-column", "unique_id"])
    assert p.exit_code == 0 and p.output.splitlines()[0] == "id,date,step,forecast"
