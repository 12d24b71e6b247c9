"""Covariates of panels (and of a single series forecast several steps ahead, a panel of one):
reading, the window inputs of the panel forecaster, a backtest where the covariate matters, runs
and ``fastrnn predict --future``, and the Dask path."""

import numpy as np
import pandas as pd
import pytest

from fastrnn.forecast import panel as pn
from fastrnn.forecast import panel_job
from fastrnn.forecast import panel_model as pm
from fastrnn.forecast.backtest import Covariates
from fastrnn.forecast.covariates import CovariateScaler
from fastrnn.forecast.datasets import DataError, Dataset


def _frame(n=30, ids="abc", seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for sid in ids:
        for t, d in enumerate(pd.date_range("2020-01-01", periods=n, freq="MS")):
            rows.append((sid, d.date().isoformat(), 10 + t + rng.normal(), int(rng.integers(0, 2)),
                         round(float(rng.normal()), 6)))
    return pd.DataFrame(rows, columns=["store", "date", "sales", "promo", "visits"])


def _csv(tmp_path, df, name="p.csv"):
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


# --- reading ---------------------------------------------------------------------------------------


def test_read_csv_fills_covariates_aligned_with_the_values(tmp_path):
    df = _frame()
    shuffled = df.sample(frac=1.0, random_state=1)  # the reader sorts by series and date
    p = pn.read_csv(_csv(tmp_path, shuffled), id_column="store", column="sales", covariates="promo,visits")
    assert list(p.covariates) == ["promo", "visits"]
    for k, sid in enumerate(p.ids):
        part = df[df.store == sid]
        np.testing.assert_array_equal(p.values[k], part.sales.to_numpy())
        np.testing.assert_array_equal(p.covariates["promo"][k], part.promo.to_numpy(dtype=float))
        np.testing.assert_array_equal(p.covariates["visits"][k], part.visits.to_numpy())
    assert p.read_info["covariates"] == ["promo", "visits"]
    # without covariates= the extra columns are not read (and the value column must be named)
    assert pn.read_csv(_csv(tmp_path, df), id_column="store", column="sales").covariates == {}


def test_value_column_found_beside_the_covariates():
    df = _frame()[["store", "date", "sales", "promo"]]
    p = pn.from_frame(df, id_column="store", covariates=["promo"])  # the only other column: the values
    assert p.column == "sales"


def test_select_to_frame_and_from_series_keep_the_covariates():
    df = _frame()
    p = pn.from_frame(df, id_column="store", value_column="sales", covariates=["promo", "visits"])
    s = p.select(["c", "a"])
    np.testing.assert_array_equal(s.covariates["promo"][0], df[df.store == "c"].promo.to_numpy(dtype=float))
    np.testing.assert_array_equal(s.covariates["visits"][1], df[df.store == "a"].visits.to_numpy())
    f = p.to_frame()
    assert list(f.columns) == ["unique_id", "ds", "y", "promo", "visits"]
    np.testing.assert_array_equal(f.promo.to_numpy(), df.promo.to_numpy(dtype=float))
    # a single series' covariates become the panel of one's
    dates = pd.date_range("2021-01-04", periods=12, freq="D")
    ds = Dataset(name="one", values=np.arange(12.0), dates=dates, column="y", season=7, source="test",
                 covariates={"price": np.arange(12.0) * 2, "hol": np.r_[np.zeros(6), np.ones(6)]})
    one = pn.from_series(ds)
    assert list(one.covariates) == ["price", "hol"]
    np.testing.assert_array_equal(one.covariates["price"][0], np.arange(12.0) * 2)
    np.testing.assert_array_equal(one.covariates["hol"][0], np.r_[np.zeros(6), np.ones(6)])


@pytest.mark.parametrize("case, expect", [
    ("missing", r"p\.csv: covariate 'promo' is missing for series 'b' at 2020-03-01 \(line 34\)"),
    ("text", r"column 'promo' has non-numeric values at line 34 \(series 'b'"),
    ("unknown", r"covariate column 'price' is not in the data; its columns are store, date, sales, promo"),
    ("value", r"covariate 'sales' is the value column"),
    ("date", r"covariate 'date' is the date column"),
    ("twice", r"names promo more than once"),
])
def test_bad_covariate_columns_one_line(tmp_path, case, expect):
    df = _frame()[["store", "date", "sales", "promo", "visits"]].drop(columns="visits")
    names = {"unknown": "promo,price", "value": "sales", "date": "date", "twice": "promo,promo"}.get(case, "promo")
    df = df.astype({"promo": object})
    if case == "missing":
        df.loc[32, "promo"] = None  # line 34: series b, its third date
    if case == "text":
        df.loc[32, "promo"] = "yes"
    with pytest.raises(DataError, match=expect) as e:
        pn.read_csv(_csv(tmp_path, df), id_column="store", column="sales", covariates=names)
    assert "\n" not in str(e.value)


def test_wide_panel_cannot_carry_covariates(tmp_path):
    wide = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=10, freq="MS").date,
                         "a": np.arange(10.0), "b": np.arange(10.0)})
    with pytest.raises(DataError, match="covariates \\(a\\) go with a long panel"):
        pn.read_csv(_csv(tmp_path, wide), covariates=["a"])


def test_missing_dates_with_covariates_fill_refused_ignore_kept(tmp_path):
    df = _frame().drop(index=[5, 6])  # series a misses 2020-06-01 and 2020-07-01
    path = _csv(tmp_path, df)
    with pytest.raises(DataError, match="series 'a'.*2 missing dates.*would have to invent the values of its "
                                        "covariates \\(promo\\)"):
        pn.read_csv(path, id_column="store", column="sales", covariates="promo", missing_dates="fill")
    with pytest.raises(DataError, match="missing"):
        pn.read_csv(path, id_column="store", column="sales", covariates="promo")
    p = pn.read_csv(path, id_column="store", column="sales", covariates="promo", missing_dates="ignore")
    np.testing.assert_array_equal(p.covariates["promo"][0], df[df.store == "a"].promo.to_numpy(dtype=float))
    assert len(p.covariates["promo"][0]) == len(p.values[0]) == 28
    # without covariates, filling is unchanged
    assert len(pn.read_csv(path, id_column="store", column="sales", missing_dates="fill").values[0]) == 30


def test_backtest_names_a_covariate_the_panel_has_not():
    p = pn.from_frame(_frame(), id_column="store", value_column="sales", covariates=["promo"])
    with pytest.raises(DataError, match="panel 'panel' has no covariate column 'visits' \\(its covariates are "
                                        "promo\\)"):
        panel_job.backtest(p, 2, covariates=["promo", "visits"])


# --- the window inputs ---------------------------------------------------------------------------


class _Recorder:
    """A stand-in model: records its inputs, forecasts zeros."""

    def __init__(self, out):
        self.out, self.inputs = out, []

    def predict(self, X, batch_size=None):
        self.inputs.append(np.array(X))
        return np.zeros((len(X), self.out))


def _forecaster(multi, window_level=False, past=False):
    y = np.arange(8.0)  # scaled by (0, 1): the inputs are the values
    known = {"promo": [np.arange(10.0, 20.0)]}  # points 0 .. 9: 8 of history and the 2 forecast
    cov = Covariates(known=known, past={"visits": [np.arange(100.0, 108.0)]} if past else {})
    cfg = pm.PanelConfig(look_back=2, multi=multi, window_level=window_level)
    rec = _Recorder(2 if multi == "direct" else 1)
    C = 2 if past else 1
    f = pm.PanelForecaster(cfg, 2, rec, [(0.0, 1.0)], [y], covariates=cov,
                           covariate_scaler=CovariateScaler(np.zeros(C), np.ones(C)))
    return f, rec


def test_forecast_inputs_direct_known_with_lead_h_and_past_at_the_step():
    f, rec = _forecaster("direct", past=True)
    f.forecast()
    # step at point 6: value 6, promo at 7 and 8, visits at 6; step at point 7: 7, promo 8 and 9, visits 7
    np.testing.assert_array_equal(rec.inputs[0], [[[6, 17, 18, 106], [7, 18, 19, 107]]])


def test_forecast_inputs_window_level_moves_the_value_only():
    f, rec = _forecaster("direct", window_level=True, past=True)
    out = f.forecast()
    np.testing.assert_array_equal(rec.inputs[0], [[[-1, 17, 18, 106], [0, 18, 19, 107]]])
    np.testing.assert_array_equal(out, [[7, 7]])  # zeros + the last value


def test_forecast_inputs_recursive_known_with_lead_1_fed_forward():
    f, rec = _forecaster("recursive")
    f.forecast()
    np.testing.assert_array_equal(rec.inputs[0], [[[6, 17], [7, 18]]])  # forecasts point 8
    np.testing.assert_array_equal(rec.inputs[1], [[[7, 18], [0, 19]]])  # point 9, fed the forecast (0)


def test_training_windows_with_covariates_by_hand(monkeypatch):
    seen = {}

    def capture(cfg, model, X, Y, Xv, Yv, progress):
        seen.update(X=X, Y=Y, Xv=Xv, Yv=Yv, input_size=model.input_size)

    monkeypatch.setattr(pm, "_train", capture)
    y = np.array([1, -1, 1, -1, 1, -1, 1, -1.0])  # mean 0, sd 1: scaled as it is
    promo = np.array([0, 1, 1, 0, 0, 1, 1, 0, 1, 1.0])  # history: mean .5, sd .5 -> 2 promo - 1
    cfg = pm.PanelConfig(look_back=2, hidden=2, epochs=1, multi="direct")
    pm.fit([y], 2, cfg, covariates=Covariates(known={"promo": [promo]}))
    assert seen["input_size"] == 3
    np.testing.assert_array_equal(seen["X"], [[[1, 1, 1], [-1, 1, -1]],
                                              [[-1, 1, -1], [1, -1, -1]],
                                              [[1, -1, -1], [-1, -1, 1]]])
    np.testing.assert_array_equal(seen["Y"], [[1, -1], [-1, 1], [1, -1]])
    np.testing.assert_array_equal(seen["Xv"], [[[1, 1, 1], [-1, 1, -1]]])
    np.testing.assert_array_equal(seen["Yv"], [[1, -1]])
    # the values beyond the history (the points it forecasts) are not in any training window
    seen.clear()
    pm.fit([y], 2, cfg, covariates=Covariates(known={"promo": [np.r_[promo[:8], 50.0, -50.0]]}))
    np.testing.assert_array_equal(seen["X"][0], [[1, 1, 1], [-1, 1, -1]])


def test_recursive_model_refuses_past_covariates():
    y = [np.arange(20.0)]
    cov = Covariates(past={"visits": [np.ones(20)]})
    with pytest.raises(ValueError, match="recursive model cannot use them beyond its first step"):
        pm.fit(y, 2, pm.PanelConfig(look_back=2, multi="recursive", epochs=1, hidden=2), covariates=cov)


# --- the covariate is used ---------------------------------------------------------------------


def _promo_panel(seed=0, S=6, n=96):
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(S):
        level = 20 + 5 * k
        promo = (rng.random(n) < 0.3).astype(int)
        t = np.arange(n)
        y = level + 2 * np.sin(2 * np.pi * t / 12) + 3 * promo + 0.2 * rng.normal(size=n)
        for d, v, p in zip(pd.date_range("2015-01-01", periods=n, freq="MS"), y, promo):
            rows.append((f"s{k}", d, v, p))
    return pd.DataFrame(rows, columns=["unique_id", "ds", "y", "promo"])


def test_a_known_covariate_lowers_the_backtest_mase():
    df = _promo_panel()
    # patience=0: a fixed 100 epochs (early stopping on one noisy hold-out of 6 points can stop at random)
    settings = dict(hidden=16, epochs=100, patience=0, look_back=12, statistical=False, strategy="global",
                    multi="direct", windows=1)
    with_promo = panel_job.fit_panel(df, horizon=6, covariates=["promo"], **settings)
    without = panel_job.fit_panel(df, horizon=6, **settings)
    m_with = with_promo.result.scores["model"].mean["mase"]
    m_without = without.result.scores["model"].mean["mase"]
    assert m_with < 0.6 * m_without, (m_with, m_without)


# --- backtests: what a forecaster sees at each origin ------------------------------------------------


def test_forecast_windows_gives_known_covariates_over_the_horizon_and_past_ones_up_to_the_origin():
    from fastrnn.forecast import backtest as bt

    series = [np.arange(20.0), np.arange(16.0)]
    known = [np.arange(100.0, 120.0), np.arange(200.0, 216.0)]
    past = [np.arange(300.0, 320.0), np.arange(400.0, 416.0)]
    p = bt.plan(series, look_back=4, horizon=3, windows=2)
    seen = []

    def f(histories, horizon, covariates=None):
        seen.append(([len(h) for h in histories], covariates))
        return np.zeros((len(histories), horizon))

    bt.forecast_windows(p, series, f, bt.Covariates(known={"k": known}, past={"p": past}))
    for w, (lengths, cov) in enumerate(seen):
        o = p.origins[:, w]
        assert lengths == list(o)
        for k in range(2):  # known: up to origin + horizon (values at the points forecast); past: up to the origin
            np.testing.assert_array_equal(cov.known["k"][k], known[k][:o[k] + 3])
            np.testing.assert_array_equal(cov.past["p"][k], past[k][:o[k]])
    # a univariate forecaster (a baseline) is called as before, without covariates
    assert bt.forecast_windows(p, series, lambda h, H: np.ones((len(h), H))).shape == (2, 2, 3)


def test_backtest_past_covariates_direct_only():
    df = _promo_panel(S=3, n=40)
    df["visits"] = df.y.shift(1).fillna(0)
    with pytest.raises(ValueError, match="recursive model cannot use them"):
        panel_job.fit_panel(df, horizon=3, past_covariates=["visits"], multi="recursive", statistical=False,
                            hidden=4, epochs=1)
    fit = panel_job.fit_panel(df, horizon=3, past_covariates=["visits"], statistical=False, hidden=4, epochs=1)
    assert set(fit.result.selection) == {"global/direct", "local/direct"}  # "auto" picks direct


def test_fit_panel_predict_needs_the_future_values():
    df = _promo_panel(S=3, n=40)
    fit = panel_job.fit_panel(df, horizon=3, covariates=["promo"], statistical=False, hidden=4, epochs=1,
                              windows=1)
    with pytest.raises(DataError, match=r"uses covariates known in advance \(promo\); pass their values at the "
                                        r"next 3 dates of every series with future FILE \(columns unique_id, ds, "
                                        r"promo\)"):
        fit.predict()
    future = pd.DataFrame([(f"s{k}", d, 1) for k in range(3) for d in pd.date_range("2018-05-01", periods=3,
                                                                                      freq="MS")],
                          columns=["unique_id", "ds", "promo"])
    a = fit.predict(future=future)
    b = fit.predict(future=future.assign(promo=0))
    assert list(a.columns) == ["unique_id", "ds", "step", "y_hat"] and len(a) == 9
    assert np.isfinite(a.y_hat).all() and not np.allclose(a.y_hat, b.y_hat)  # the future values are used
    with pytest.raises(DataError, match="series 's1' has no row for 2018-06-01"):
        fit.predict(future=future.drop(index=[4]))


# --- runs and predict (CLI) ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def promo_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("cov") / "sales.csv"
    df = _promo_panel(S=4, n=48).rename(columns={"unique_id": "store", "ds": "date", "y": "sales"})
    df["visits"] = df.sales.shift(1).fillna(0).round(3)
    df.to_csv(path, index=False)
    return path


def _future(path, drop=None, **change):
    rows = [(f"s{k}", d.date().isoformat(), (k + i) % 2)
            for k in range(4) for i, d in enumerate(pd.date_range("2019-01-01", periods=3, freq="MS"))]
    df = pd.DataFrame(rows, columns=["store", "date", "promo"]).astype({"promo": object})
    if drop is not None:
        df = df.drop(index=drop) if isinstance(drop, list) else df.drop(columns=drop)
    for k, v in change.items():
        df.loc[int(k[1:]), "promo"] = v
    df.to_csv(path, index=False)
    return path


def test_cli_train_save_predict_with_covariates(promo_csv, tmp_path):
    import json

    from click.testing import CliRunner

    from fastrnn.cli import main

    runner = CliRunner()
    out = tmp_path / "run"
    base = ["--csv", str(promo_csv), "--id-column", "store", "--column", "sales"]
    r = runner.invoke(main, ["train", *base, "--horizon", "3", "--covariates", "promo", "--past-covariates",
                             "visits", "--epochs", "2", "--hidden", "4", "--no-plot", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "covariates known in advance: promo; past covariates: visits" in r.output
    info = json.loads((out / "panel.json").read_text())
    assert info["covariates"]["known"] == ["promo"] and info["covariates"]["past"] == ["visits"]
    assert len(info["covariates"]["scaler"]["mean"]) == 2
    m = json.loads((out / "metrics.json").read_text())
    assert m["covariates"] == {"known": ["promo"], "past": ["visits"]}
    assert set(m["selection"]["validation_mase"]) == {"global/direct", "local/direct"}
    # without --future: one line, nothing written
    nxt = tmp_path / "next.csv"
    p = runner.invoke(main, ["predict", "--model", str(out), *base, "--output", str(nxt)])
    assert p.exit_code != 0 and not nxt.exists()
    assert p.output.strip() == ("Error: this run uses covariates known in advance (promo); pass their values at the "
                                "next 3 dates of every series with --future FILE (columns store, date, promo)")
    # with --future: finite forecasts of every series
    p = runner.invoke(main, ["predict", "--model", str(out), *base, "--future", str(_future(tmp_path / "f.csv")),
                             "--output", str(nxt)])
    assert p.exit_code == 0, p.output
    f = pd.read_csv(nxt)
    assert len(f) == 12 and np.isfinite(f.forecast).all() and list(f.date[:3]) == ["2019-01-01", "2019-02-01",
                                                                                   "2019-03-01"]


@pytest.mark.parametrize("kind, words", [
    ("date", "f.csv: series 's1' has no row for 2019-02-01; give the covariates' values at its next 3 dates "
             "(2019-01-01 .. 2019-03-01)"),
    ("series", "f.csv: no rows for series 's3'; give the covariates' values at its next 3 dates"),
    ("column", "f.csv: no column 'promo' (columns: store, date); the future covariates need the columns store, "
               "date, promo"),
    ("cell", "f.csv: column 'promo' has non-numeric values at line 6 (series 's1', e.g. 'yes')"),
    ("empty", "f.csv: covariate 'promo' is missing for series 's1' at 2019-02-01 (line 6)"),
])
def test_cli_predict_bad_future_file_one_line(promo_csv, tmp_path, kind, words):
    from click.testing import CliRunner

    from fastrnn.cli import main

    runner = CliRunner()
    out = tmp_path / "run"
    base = ["--csv", str(promo_csv), "--id-column", "store", "--column", "sales"]
    r = runner.invoke(main, ["train", *base, "--horizon", "3", "--covariates", "promo", "--epochs", "1",
                             "--hidden", "4", "--windows", "1", "--no-plot", "--out", str(out)])
    assert r.exit_code == 0, r.output
    change = {"date": dict(drop=[4]), "series": dict(drop=[9, 10, 11]), "column": dict(drop="promo"),
              "cell": {"r4": "yes"}, "empty": {"r4": None}}[kind]
    fut = _future(tmp_path / "f.csv", **change)
    nxt = tmp_path / "next.csv"
    p = runner.invoke(main, ["predict", "--model", str(out), *base, "--future", str(fut), "--output", str(nxt)])
    assert p.exit_code != 0 and not nxt.exists()
    assert p.output.count("\n") == 1 and p.output.startswith("Error: ") and words in p.output, p.output


@pytest.mark.parametrize("args, words", [
    (["--dataset", "tourism", "--covariates", "price"], "--covariates goes with a CSV panel (--csv with "
                                                          "--id-column); the shipped panel tourism has no covariates"),
    (["--csv", "{csv}", "--id-column", "store", "--column", "sales", "--past-covariates", "visits", "--multi",
      "recursive"], "past covariates (visits) are known only up to the forecast origin"),
    (["--csv", "{csv}", "--id-column", "store", "--column", "sales", "--covariates", "price"],
     "covariate column 'price' is not in the data; its columns are store, date, sales, promo, visits"),
])
def test_cli_train_refusals_one_line(promo_csv, tmp_path, args, words):
    from click.testing import CliRunner

    from fastrnn.cli import main

    args = [a.replace("{csv}", str(promo_csv)) for a in args]
    r = CliRunner().invoke(main, ["train", *args, "--epochs", "1", "--hidden", "4", "--out", str(tmp_path / "x")])
    assert r.exit_code != 0 and not (tmp_path / "x").exists()
    errors = [line for line in r.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and words in errors[0], r.output


def test_cli_predict_future_for_a_run_without_covariates(promo_csv, tmp_path):
    from click.testing import CliRunner

    from fastrnn.cli import main

    runner = CliRunner()
    out = tmp_path / "run"
    base = ["--csv", str(promo_csv), "--id-column", "store", "--column", "sales"]
    assert runner.invoke(main, ["train", *base, "--horizon", "3", "--epochs", "1", "--hidden", "4", "--windows", "1",
                                "--no-plot", "--out", str(out)]).exit_code == 0
    p = runner.invoke(main, ["predict", "--model", str(out), *base, "--future", str(_future(tmp_path / "f.csv"))])
    assert p.exit_code != 0 and "--future goes with a run trained with --covariates; this run has none" in p.output


# --- the Dask path ----------------------------------------------------------------------------------


def test_local_models_with_covariates_on_dask_equal_one_stack(monkeypatch):
    pytest.importorskip("distributed", reason="dask[distributed] is not installed (pip install 'fastrnn[dask]')")
    from fastrnn import _dask, parallel

    rng = np.random.default_rng(5)
    hist, known, past = [], [], []
    for k in range(4):
        n = 30 - 2 * k
        promo = (rng.random(n + 3) < 0.4).astype(float)
        hist.append(10 + k + np.sin(np.arange(n)) + 2 * promo[:n] + rng.normal(0, 0.1, n))
        known.append(promo)
        past.append(rng.normal(size=n))
    cov = Covariates(known={"promo": known}, past={"visits": past})
    cfg = pm.PanelConfig(hidden=4, epochs=3, look_back=4, strategy="local", ensemble=2, seed=1, model="hybrid-gru")

    def run():
        f = pm.fit(hist, 3, cfg, covariates=cov)
        return f.forecast(), {k: v.copy() for k, v in f.model.parameters().items()}

    monkeypatch.setattr(pm, "LOCAL_GROUP_FLOPS", 1.0)  # on Dask: one task per series
    here = run()
    session = _dask.start(None, 2)
    try:
        with parallel.use_backend("dask", session.client):
            assert len(pm._local_groups(cfg, 3, hist)) == 4
            there = run()
    finally:
        _dask.stop(session)
    assert np.isfinite(here[0]).all() and np.array_equal(here[0], there[0])
    for k in here[1]:
        assert np.array_equal(here[1][k], there[1][k]), k


def test_single_series_as_a_panel_of_one_run_and_future_file_without_id(tmp_path):
    from fastrnn.forecast import panel_runs

    rng = np.random.default_rng(2)
    n = 60
    dates = pd.date_range("2020-01-06", periods=n, freq="W-MON")
    promo = (rng.random(n) < 0.3).astype(float)
    ds = Dataset(name="one", values=50 + 3 * promo + rng.normal(0, 0.3, n), dates=dates, column="sales",
                 season=None, source="test", read_info={"date_column": "week"}, covariates={"promo": promo})
    pan = pn.from_series(ds)
    r = panel_job.backtest(pan, 4, windows=1, config=pm.PanelConfig(hidden=4, epochs=1, look_back=4),
                           statistical=False, covariates=["promo"])
    out = tmp_path / "run"
    out.mkdir()
    panel_runs.write(r, out, plot=False)
    with pytest.raises(DataError, match=r"with --future FILE \(columns week, promo\)"):
        panel_runs.predict(out, pan)
    fut = tmp_path / "f.csv"
    pd.DataFrame({"week": pd.date_range("2021-03-01", periods=4, freq="W-MON").date, "promo": [1, 0, 0, 1]}).to_csv(
        fut, index=False)
    f = panel_runs.predict(out, pan, future=fut)
    assert list(f.date) == ["2021-03-01", "2021-03-08", "2021-03-15", "2021-03-22"] and np.isfinite(f.forecast).all()


@pytest.mark.parametrize("strategy, multi, model, ensemble", [
    ("global", "direct", "hybrid-lstm", 2), ("global", "recursive", "gru", 1), ("local", "recursive", "hybrid-rnn", 2),
])
def test_every_strategy_uses_the_future_known_values(strategy, multi, model, ensemble):
    rng = np.random.default_rng(3)
    hist = [10 + np.sin(np.arange(n)) + rng.normal(0, 0.1, n) for n in (30, 26, 28)]
    known = [(rng.random(n + 3) < 0.5).astype(float) for n in (30, 26, 28)]
    cfg = pm.PanelConfig(hidden=4, epochs=2, look_back=4, strategy=strategy, multi=multi, model=model,
                         ensemble=ensemble, window_level=True)
    f = pm.fit(hist, 3, cfg, covariates=Covariates(known={"promo": known}))
    a = f.forecast()
    f.covariates = Covariates(known={"promo": [np.r_[k[:-3], 1 - k[-3:]] for k in known]})  # other future values
    b = f.forecast()
    assert a.shape == (3, 3) and np.isfinite(a).all() and np.isfinite(b).all()
    assert not np.allclose(a[:, -1], b[:, -1])
    if model.startswith("hybrid"):  # the linear path: the series' own 4 lags, not the covariates
        assert f.model.parameters()["head.ar_weight"].shape[-1] == 4
