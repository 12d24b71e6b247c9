"""Covariates of a single series forecast one step ahead: reading (load_csv), the model inputs
(prepare), training and predicting through the CLI (--covariates, --past-covariates, --future) and
the Python API (forecast(covariates=, future=)), and a behaviour test that a known covariate is used.

The window layout itself (fastrnn.forecast.covariates.window_inputs) is tested in
tests/test_covariate_windows.py.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from fastrnn import forecast as fc
from fastrnn.cli import main
from fastrnn.forecast import datasets, runs
from fastrnn.forecast.datasets import DataError
from fastrnn.forecast.preprocessing import prepare

FAST = ["--epochs", "2", "--hidden", "4", "--ensemble", "1", "--no-plot", "--no-statistical"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error(result, *words, code=None):
    """Non-zero exit, no traceback, exactly one 'Error:' line naming ``words``."""
    assert result.exit_code != 0, result.output
    if code is not None:
        assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for w in words:
        assert w in errors[0], (w, errors[0])
    return errors[0]


def holiday_series(n=400, seed=1):
    """A smooth signal plus 3 on holidays (a 0/1 covariate on random days), a little noise, and an
    unrelated past covariate."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2020-01-01", periods=n, freq="D")
    hol = (rng.random(n) < 0.2).astype(float)
    y = 10 + 2 * np.sin(2 * np.pi * np.arange(n) / 30) + 3 * hol + 0.2 * rng.normal(size=n)
    return pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "y": y, "holiday": hol,
                         "visits": rng.normal(size=n).round(3)})


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cov") / "shop.csv"
    holiday_series().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def known_run(csv_file, tmp_path_factory):
    """A run trained with --covariates holiday (module-wide: trained once)."""
    out = tmp_path_factory.mktemp("runs") / "known"
    result = invoke("train", "--csv", csv_file, "--column", "y", "--covariates", "holiday", *FAST, "--out", out)
    assert result.exit_code == 0, result.output
    return out, result.output


def future_csv(path, dates, holiday):
    pd.DataFrame({"date": dates, "holiday": holiday, "unused": 1}).to_csv(path, index=False)
    return path


# --- reading --------------------------------------------------------------------------------------


def test_load_csv_reads_covariates_with_the_value_columns_rules(tmp_path):
    # semicolon separator, decimal comma, unsorted rows, a missing date filled: all as for the values
    p = tmp_path / "s.csv"
    p.write_text("date;y;a;c\n2020-01-03;3,0;30,5;1\n2020-01-01;1,0;10,5;0\n2020-01-02;2,0;20,5;0\n"
                 "2020-01-05;5,0;50,5;0\n2020-01-06;6,0;60,5;1\n", encoding="utf-8")
    ds = datasets.load_csv(p, column="y", covariates=["a"], past_covariates=["c"], missing_dates="fill")
    assert list(ds.covariates) == ["a", "c"]
    # sorted by date, and 2020-01-04 filled by linear interpolation, as y is
    np.testing.assert_array_equal(ds.values, [1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(ds.covariates["a"], [10.5, 20.5, 30.5, 40.5, 50.5, 60.5])
    np.testing.assert_array_equal(ds.covariates["c"], [0, 0, 1, 0.5, 0, 1])
    cut = datasets.load_csv(p, column="y", covariates=["a"], start="2020-01-03", missing_dates="fill")
    np.testing.assert_array_equal(cut.covariates["a"], [30.5, 40.5, 50.5, 60.5])
    with pytest.raises(DataError, match="1 of 6 daily dates"):  # missing dates: refused by default, as for y
        datasets.load_csv(p, column="y", covariates=["a"])


def test_the_value_column_is_the_one_numeric_column_besides_the_covariates(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("date,y,a,c\n2020-01-01,1,10,0\n2020-01-02,2,20,1\n2020-01-03,3,30,0\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"several numeric columns \(y, a, c\)"):
        datasets.load_csv(p)
    with pytest.raises(DataError, match=r"several numeric columns \(y, c\)"):
        datasets.load_csv(p, covariates=["a"])  # c is neither named nor the value: still ambiguous
    ds = datasets.load_csv(p, covariates=["a"], past_covariates=["c"])
    assert ds.column == "y" and list(ds.covariates) == ["a", "c"]
    np.testing.assert_array_equal(ds.values, [1, 2, 3])


@pytest.mark.parametrize("kw, words", [
    (dict(covariates=["b"]), ["covariate column 'b' is not in the data", "date, y, a, c"]),
    (dict(covariates=["y"]), ["'y' is the value column"]),
    (dict(covariates=["date"]), ["'date' is the date column"]),
    (dict(covariates=["a"], past_covariates=["a"]), ["known in advance and as past covariate"]),
])
def test_load_csv_refuses_bad_covariate_names(tmp_path, kw, words):
    p = tmp_path / "s.csv"
    p.write_text("date,y,a,c\n2020-01-01,1,2,3\n2020-01-02,2,3,4\n2020-01-03,3,4,5\n")
    with pytest.raises(DataError) as e:
        datasets.load_csv(p, column="y", **kw)
    for w in words:
        assert w in str(e.value)


@pytest.mark.parametrize("cell, words", [("x", ["column 'a' has non-numeric values at line 3", "'x'"]),
                                         ("", ["column 'a' has missing values at line 3"])])
def test_load_csv_names_the_line_of_a_bad_covariate_cell(tmp_path, cell, words):
    p = tmp_path / "s.csv"
    p.write_text(f"date,y,a\n2020-01-01,1,2\n2020-01-02,2,{cell}\n2020-01-03,3,4\n")
    with pytest.raises(DataError) as e:
        datasets.load_csv(p, column="y", covariates=["a"])
    for w in words:
        assert w in str(e.value)


# --- model inputs ---------------------------------------------------------------------------------


def test_prepare_appends_scaled_covariates_after_the_value():
    # 10 points: train 0-5, validation 6, test 7-9 (test_fraction 0.3, val_fraction 0.15)
    y = np.arange(10.0)
    a = np.array([0, 2, 0, 2, 0, 2, 5, 5, 5, 5.0])  # training part: mean 1, sd 1
    c = np.array([1, 1, 3, 3, 1, 3, 9, 9, 9, 9.0])  # training part: mean 2, sd 1
    ds = datasets.Dataset(name="t", values=y, dates=None, column="y", season=None, source="test",
                          covariates={"a": a, "c": c})
    prep = prepare(ds, look_back=2, scaler=None, transform=None, test_fraction=0.3, val_fraction=0.15,
                   covariates=["a"], past_covariates=["c"])
    # step at point s: [y[s], scaled a[s + 1], scaled c[s]]; scaled a: -1, 1, ..., 4; scaled c: -1, -1, 1, 1, -1, 1, 7
    assert prep.X_train.tolist() == [[[0, 1, -1], [1, -1, -1]], [[1, -1, -1], [2, 1, 1]],
                                     [[2, 1, 1], [3, -1, 1]], [[3, -1, 1], [4, 1, -1]]]
    assert prep.X_val.tolist() == [[[4, 1, -1], [5, 4, 1]]]
    assert prep.X_test.tolist() == [[[5, 4, 1], [6, 4, 7]], [[6, 4, 7], [7, 4, 7]], [[7, 4, 7], [8, 4, 7]]]
    assert prep.n_features == 3


def test_prepare_refuses_a_covariate_constant_on_the_training_part():
    y = np.arange(10.0)
    a = np.array([1, 1, 1, 1, 1, 1, 5, 5, 5, 5.0])
    ds = datasets.Dataset(name="t", values=y, dates=None, column="y", season=None, source="test",
                          covariates={"a": a})
    with pytest.raises(DataError, match="covariate 'a' is constant"):
        prepare(ds, look_back=2, scaler=None, test_fraction=0.3, val_fraction=0.15, covariates=["a"])


def test_hybrid_linear_path_reads_only_the_series_lags(csv_file):
    ds = datasets.load_csv(csv_file, column="y", covariates=["holiday"], past_covariates=["visits"])
    cfg = fc.make_config(csv=str(csv_file), column="y", covariates="holiday", past_covariates="visits",
                         model="hybrid-gru", hidden=4, epochs=1, ensemble=1)
    prep = fc.prepare_series(ds, cfg)
    model = fc.build_model(cfg, prep=prep)
    assert model.input_size == 3 == prep.X_train.shape[2]
    L = cfg.look_back
    A = np.column_stack([np.ones(len(prep.X_train)), prep.X_train[:, -L:, 0]])
    coef = np.linalg.lstsq(A, prep.y_train[:, 0], rcond=None)[0]
    np.testing.assert_allclose(model.state_dict()["head.ar_weight"][0], coef[1:], rtol=1e-5, atol=1e-6)


def test_resume_digest_covers_the_covariates():
    base = dict(name="t", values=np.arange(5.0), dates=None, column="y", season=None, source="s")
    plain = datasets.Dataset(**base)
    one = datasets.Dataset(**base, covariates={"a": np.arange(5.0)})
    other = datasets.Dataset(**base, covariates={"a": np.arange(5.0) + 1})
    assert len({runs._data_digest(d) for d in (plain, one, other)}) == 3
    # a series without covariates keeps the digest of the values alone (runs written before)
    import hashlib
    assert runs._data_digest(plain) == hashlib.sha256(np.arange(5.0).tobytes()).hexdigest()


# --- CLI: train and predict -----------------------------------------------------------------------


def test_train_saves_a_run_with_covariates(known_run):
    out, output = known_run
    assert "covariates holiday (known in advance)" in output.splitlines()[0]
    assert "(the baselines see the series only, not the covariates)" in output
    info = json.loads((out / "preprocessing.json").read_text())
    assert info["covariates"]["known"] == ["holiday"] and info["source"]["covariates"] == ["holiday"]
    assert info["format"] == 3
    run = fc.load_run(out)
    assert run.model.input_size == 2 and run.covariates == ("holiday",)


def test_a_changed_run_file_is_refused(known_run, tmp_path):
    import shutil

    out, _ = known_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    info = json.loads((copy / "preprocessing.json").read_text())
    for change, words in ((lambda i: (i.pop("covariates"), i["source"].pop("covariates")),
                           "'covariates' must be present for this model.npz"),
                          (lambda i: i["covariates"]["scaler"]["scale"].append(1.0), "'covariates.scaler.scale'"),
                          (lambda i: i["source"].update(covariates=["other"]), "'source.covariates'")):
        changed = json.loads(json.dumps(info))
        change(changed)
        (copy / "preprocessing.json").write_text(json.dumps(changed))
        with pytest.raises(fc.RunError, match=re.escape(words)):
            fc.load_run(copy)


def test_predict_with_future_values(known_run, tmp_path):
    out, _ = known_run
    # rows in any order, an earlier and a later date besides the three forecast (the series ends 2021-02-03)
    fut = future_csv(tmp_path / "future.csv", ["2021-02-01", "2021-02-06", "2021-02-04", "2021-02-07", "2021-02-05"],
                     [1, 0, 1, 1, 0])
    dest = tmp_path / "next.csv"
    result = invoke("predict", "--model", out, "--steps", 3, "--future", fut, "--output", dest)
    assert result.exit_code == 0, result.output
    written = pd.read_csv(dest)
    assert written["date"].tolist() == ["2021-02-04", "2021-02-05", "2021-02-06"]
    assert np.isfinite(written["forecast"]).all()
    run = fc.load_run(out)
    ds = fc.load_series(run.source_config())
    want = fc.forecast(run, ds.values, 3, dates=ds.dates, covariates=ds.covariates, future={"holiday": [1, 0, 0]})
    np.testing.assert_allclose(written["forecast"], want, rtol=1e-12)
    assert "covariates holiday (known in advance)" in result.output


def test_predict_without_future_says_so_and_writes_nothing(known_run, tmp_path):
    out, _ = known_run
    dest = tmp_path / "next.csv"
    line = one_error(invoke("predict", "--model", out, "--steps", 3, "--output", dest))
    assert line == ("Error: this run uses covariates known in advance (holiday); pass their values at the next "
                    "3 dates with --future FILE (a CSV with columns date, holiday)")
    assert not dest.exists()


@pytest.mark.parametrize("rows, words", [
    ({"date": ["2021-02-04", "2021-02-06"], "holiday": [1, 0]},
     ["1 of the 3 dates forecast is not in column 'date' (2021-02-05)", "add rows"]),
    ({"date": ["2021-02-04", "2021-02-05", "2021-02-06"], "holi": [1, 0, 0]},
     ["no column 'holiday'", "columns are: date, holi"]),
    ({"date": ["2021-02-04", "2021-02-05", "2021-02-06"], "holiday": ["1", "yes", "0"]},
     ["column 'holiday' has non-numeric values at line 3", "'yes'"]),
])
def test_predict_refuses_a_bad_future_file(known_run, tmp_path, rows, words):
    out, _ = known_run
    fut = tmp_path / "future.csv"
    pd.DataFrame(rows).to_csv(fut, index=False)
    dest = tmp_path / "next.csv"
    one_error(invoke("predict", "--model", out, "--steps", 3, "--future", fut, "--output", dest), *words)
    assert not dest.exists()


def test_train_refuses_bad_covariates(csv_file, tmp_path):
    out = tmp_path / "r"
    one_error(invoke("train", "--csv", csv_file, "--column", "y", "--covariates", "holidays", *FAST, "--out", out),
              "covariate column 'holidays' is not in the data", "date, y, holiday, visits")
    bad = tmp_path / "bad.csv"
    df = holiday_series()
    df["holiday"] = df["holiday"].astype(object)
    df.loc[7, "holiday"] = "yes"
    df.to_csv(bad, index=False)
    one_error(invoke("train", "--csv", bad, "--column", "y", "--covariates", "holiday", *FAST, "--out", out),
              "column 'holiday' has non-numeric values at line 9")
    one_error(invoke("train", "--dataset", "airline", "--covariates", "holiday", *FAST), "pass --csv FILE", code=2)
    assert not out.exists()


def test_past_covariates_forecast_one_step(csv_file, tmp_path):
    out = tmp_path / "past"
    result = invoke("train", "--csv", csv_file, "--column", "y", "--past-covariates", "visits", *FAST, "--out", out)
    assert result.exit_code == 0, result.output
    assert "--steps 1" in result.output.splitlines()[-1]
    one_error(invoke("predict", "--model", out, "--steps", 3), "past covariates (visits)", "one step ahead only",
              code=2)
    result = invoke("predict", "--model", out)
    assert result.exit_code == 0, result.output
    assert len([ln for ln in result.output.splitlines() if ln.startswith("2021-")]) == 1
    one_error(invoke("predict", "--model", out, "--future", csv_file), "this run has none", code=2)


# --- Python API -------------------------------------------------------------------------------------


def test_api_forecast_needs_the_covariates(known_run):
    out, _ = known_run
    run = fc.load_run(out)
    ds = fc.load_series(run.source_config())
    with pytest.raises(DataError, match=r"covariates known in advance \(holiday\); pass their values at the next 2"):
        fc.forecast(run, ds.values, 2, dates=ds.dates, covariates=ds.covariates)
    with pytest.raises(DataError, match="their values over the series are missing"):
        fc.forecast(run, ds.values, 2, dates=ds.dates, future={"holiday": [0, 1]})
    with pytest.raises(DataError, match="1 given, but 2 steps"):
        fc.forecast(run, ds.values, 2, dates=ds.dates, covariates=ds.covariates, future={"holiday": [0]})
    got = fc.forecast(run, ds.values, 2, dates=ds.dates, covariates=ds.covariates, future={"holiday": [0, 1]})
    assert got.shape == (2,) and np.isfinite(got).all()


def test_first_forecast_equals_the_test_forecast_of_train(csv_file):
    ds = datasets.load_csv(csv_file, column="y", covariates=["holiday"], past_covariates=["visits"])
    cfg = fc.make_config(csv=str(csv_file), column="y", covariates=("holiday",), past_covariates=("visits",),
                         hidden=4, epochs=2, ensemble=1, statistical=False, dtype="float64", calendar=True)
    result = fc.train(cfg, data=ds)
    run = fc.Run(path=None, model=result.model, info=fc.predict.preprocessing_info(result))
    k = 7
    t = result.prep.starts["test"][k]
    got = fc.forecast(run, ds.values[:t], 1, dates=ds.dates[:t],
                      covariates={c: v[:t] for c, v in ds.covariates.items()},
                      future={"holiday": ds.covariates["holiday"][t:t + 1]})
    np.testing.assert_allclose(got[0], result.test_pred[k], rtol=1e-12)


# --- behaviour: the covariate is used -----------------------------------------------------------------


def test_a_known_covariate_lowers_the_test_error_and_moves_the_forecast(tmp_path):
    """y = smooth signal + 3 * holiday: without the holiday the jumps are unpredictable (test RMSE
    about 1.4-1.5 over seeds 0-2), with it the model learns them (about 0.4)."""
    path = tmp_path / "holidays.csv"
    holiday_series().to_csv(path, index=False)
    settings = ["--hidden", "8", "--epochs", "40", "--lr", "0.01", "--ensemble", "1", "--no-plot", "--no-statistical"]
    rmse = {}
    for name, extra in (("without", []), ("with", ["--covariates", "holiday"])):
        out = tmp_path / name
        result = invoke("train", "--csv", path, "--column", "y", *settings, *extra, "--out", out)
        assert result.exit_code == 0, result.output
        rmse[name] = json.loads((out / "metrics.json").read_text())["test"]["rmse"]
    assert rmse["with"] < 0.6 * rmse["without"], rmse
    # and the forecast follows the future holiday: about +3 on a holiday
    run = fc.load_run(tmp_path / "with")
    ds = fc.load_series(run.source_config())
    on, off = (fc.forecast(run, ds.values, 1, dates=ds.dates, covariates=ds.covariates, future={"holiday": [h]})[0]
               for h in (1.0, 0.0))
    assert on - off > 1.5, (on, off)


def test_resume_keeps_the_covariates_and_refuses_changed_ones(tmp_path, monkeypatch):
    """Interrupted after the first member's checkpoint, a run with covariates resumes with them
    (stored with the run) to the same result; a changed covariate column is refused."""
    from fastrnn.forecast import job

    csv = tmp_path / "s.csv"
    holiday_series(200).to_csv(csv, index=False)

    def config():
        return fc.make_config(csv=str(csv), column="y", covariates="holiday", past_covariates="visits",
                              epochs=3, hidden=4, ensemble=3, patience=0, statistical=False)

    real_save, calls = job.save_member, []

    def interrupt_second(folder, k, *a, **kw):
        calls.append(k)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_save(folder, k, *a, **kw)

    monkeypatch.setattr(job, "save_member", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        fc.run(config(), plot=False, progress=False, root=tmp_path / "runs")
    monkeypatch.setattr(job, "save_member", real_save)
    (reserved,) = [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]

    text = csv.read_text()
    df = holiday_series(200)
    df.loc[50, "holiday"] = 1 - df.loc[50, "holiday"]  # one covariate value changed, the series not
    df.to_csv(csv, index=False)
    with pytest.raises(fc.RunError, match="changed since it was interrupted"):
        fc.run(None, resume=reserved, plot=False)
    csv.write_text(text)

    res, path, _ = fc.run(None, plot=False, progress=False, resume=reserved)
    assert res.resumed == 1 and res.config.covariates == ("holiday",) and res.config.past_covariates == ("visits",)
    ref, _, _ = fc.run(config(), out=tmp_path / "ref", plot=False, progress=False)
    assert res.metrics["test"] == ref.metrics["test"]


def test_a_series_with_a_horizon_takes_its_covariates_to_the_panel_of_one(csv_file, tmp_path):
    # --horizon runs the series as a panel of one: its covariates must be read with it, kept by
    # the run, and asked for again (with their future values) by predict, also from another --csv
    out = tmp_path / "h"
    res = invoke("train", "--csv", csv_file, "--column", "y", "--covariates", "holiday", "--horizon", 5,
                 "--epochs", 2, "--hidden", 4, "--no-plot", "--no-statistical", "--out", out)
    assert res.exit_code == 0, res.output
    assert json.loads((out / "panel.json").read_text())["covariates"]["known"] == ["holiday"]
    one_error(invoke("predict", "--model", out), "covariates known in advance (holiday)", "--future")
    future = tmp_path / "future.csv"
    dates = pd.date_range(pd.Timestamp("2020-01-01") + pd.Timedelta(days=400), periods=5, freq="D")
    forecasts = []
    for hol in (0.0, 1.0):
        pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "holiday": hol}).to_csv(future, index=False)
        res = invoke("predict", "--model", out, "--csv", csv_file, "--future", future,
                     "--output", tmp_path / f"p{hol}.csv")
        assert res.exit_code == 0, res.output
        forecasts.append(pd.read_csv(tmp_path / f"p{hol}.csv")["forecast"].to_numpy())
    assert forecasts[0].shape == (5,) and np.isfinite(forecasts[0]).all()
    assert not np.allclose(forecasts[0], forecasts[1])  # the future values are inputs
