"""Tests of the train/predict job logic in :mod:`fastrnn.forecast` (the CLI is in test_cli_train.py)."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

import fastrnn as fr
from fastrnn import forecast as fc
from fastrnn.forecast import baselines, datasets, runs
from fastrnn.forecast import panel_baselines as PB
from fastrnn.forecast.datasets import DataError

METRIC_KEYS = {"dataset", "model", "look_back", "n_test", "test_start", "test", "baselines",
               "train_seconds", "epochs_run"}


def small(dataset="airline", **kw):
    """A quick configuration: tiny model, few epochs."""
    kw = {"hidden": 4, "epochs": 3, **kw}
    return fc.make_config(dataset=dataset, **kw)


@pytest.fixture(scope="module")
def airline_result():
    return fc.train(small(epochs=4))


# --- configuration ------------------------------------------------------------------------------


def test_defaults_cover_every_shipped_dataset():
    assert set(fc.DEFAULTS) == set(datasets.names())
    for name in fc.DEFAULTS:
        cfg = fc.make_config(dataset=name)
        assert cfg.dataset == name and cfg.csv is None
        assert cfg.model in fc.MODELS


def test_train_config_defaults_are_the_generic_ones():
    cfg = fc.TrainConfig()
    for key, value in fc.GENERIC.items():
        # select: the run-time choice make_config turns on for a CSV; a bare TrainConfig (and the
        # settings an older run stored, read back by --resume) fits what it names
        if key not in ("look_back", "select"):
            assert getattr(cfg, key) == (None if value == "none" else value), key


def test_make_config_without_source_is_airline():
    cfg = fc.make_config()
    assert cfg.dataset == "airline"
    assert cfg.look_back == fc.DEFAULTS["airline"]["look_back"]


def test_overrides_apply_and_none_keeps_default():
    cfg = fc.make_config(dataset="stock", hidden=7, lr=None, transform="none", clip_norm=0)
    assert cfg.hidden == 7
    assert cfg.lr == fc.DEFAULTS["stock"]["lr"]
    assert cfg.transform is None  # "none" normalised
    assert cfg.clip_norm is None  # 0 disables clipping


def test_generic_csv_defaults_use_the_season():
    assert fc.make_config(csv="x.csv", season=12).look_back == 13
    assert fc.make_config(csv="x.csv", season=None).look_back == 12
    assert fc.make_config(csv="x.csv", season=12, look_back=5).look_back == 5
    assert fc.make_config(csv="x.csv").name == "x"


@pytest.mark.parametrize("kw, word", [
    ({"model": "transformer"}, "model"),
    ({"hidden": 0}, "hidden"),
    ({"lr": -1.0}, "lr"),
    ({"transform": "sqrt"}, "transform"),
    ({"optimizer": "lbfgs"}, "optimizer"),
    ({"patience": -1}, "patience"),
])
def test_bad_settings_raise_value_error(kw, word):
    with pytest.raises(ValueError, match=word):
        fc.make_config(dataset="airline", **kw)


def test_unknown_dataset_is_a_data_error():
    with pytest.raises(DataError, match="unknown dataset 'nope'.*airline"):
        fc.make_config(dataset="nope")


@pytest.mark.parametrize("source", [{"csv": ""}, {"csv": "  ", "dataset": None}])
def test_an_empty_csv_path_is_a_data_error(source):
    """As ``fastrnn train --csv ''``: not the current folder, not a KeyError for the dataset."""
    with pytest.raises(DataError, match=r"^csv is empty; pass the path of a CSV file"):
        fc.load_series(source)
    with pytest.raises(DataError, match=r"^csv is empty; pass the path of a CSV file"):
        fc.make_config(csv=source["csv"])


def test_dataset_and_csv_are_exclusive():
    with pytest.raises(ValueError, match="not both"):
        fc.make_config(dataset="airline", csv="x.csv")


def test_selection_script_candidates_are_valid_configs():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "select_forecast_defaults.py"
    spec = importlib.util.spec_from_file_location("select_forecast_defaults", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert set(mod.CANDIDATES) == set(fc.DEFAULTS)

    def norm(v):
        return None if v == "none" else v

    for name, cands in mod.CANDIDATES.items():
        for cand in cands:
            fc.make_config(dataset=name, **cand)
        # the chosen default is one of the candidates that were scored
        chosen = fc.DEFAULTS[name]
        assert any(all(norm(chosen[k]) == norm(v) for k, v in c.items()) for c in cands), name


# --- training -----------------------------------------------------------------------------------


def test_train_metrics(airline_result):
    m = airline_result.metrics
    assert METRIC_KEYS <= set(m)
    assert m["dataset"] == "airline" and m["n_test"] == 48 and m["test_start"] == "1957-01-01"
    assert set(m["test"]) == {"rmse", "mae"} and m["test"]["rmse"] >= m["test"]["mae"] > 0
    assert m["epochs_run"] == len(airline_result.history.loss) == 4
    json.dumps(m, allow_nan=False)


def test_baselines_are_those_of_the_same_prepared_data(airline_result):
    r = airline_result
    own = {k: r.metrics["baselines"][k] for k in baselines.NAMES}
    assert own == baselines.evaluate(r.prep)
    prep = fc.prepare_series(datasets.load("airline"), r.config)
    assert own == baselines.evaluate(prep)
    statistical = set(baselines.STATISTICAL) if PB.statsforecast_available() else set()
    assert set(r.metrics["baselines"]) == {"persistence", "seasonal_naive", "linear_ar"} | statistical


def test_test_metrics_match_the_model_predictions(airline_result):
    r = airline_result
    pred = r.prep.inverse(fc.predict_mean(r.model, r.prep.X_test), "test")
    assert r.metrics["test"]["rmse"] == pytest.approx(baselines.rmse(r.prep.targets("test"), pred))
    np.testing.assert_allclose(r.test_pred, pred[:, 0])


def test_fit_model_restores_the_best_validation_epoch():
    cfg = small(epochs=12, patience=3, lr=0.05)
    prep = fc.prepare_series(datasets.load("airline"), cfg)
    model = fc.build_model(cfg)
    hist = fc.fit_model(model, prep, cfg)
    assert hist.best_epoch == int(np.argmin(hist.val_loss)) + 1
    val = float(np.mean((model.predict(prep.X_val) - prep.y_val) ** 2))
    assert val == pytest.approx(min(hist.val_loss), rel=1e-4)
    if hist.epochs_run < 12:
        assert "early stopping" in hist.stop_reason
        assert hist.epochs_run - hist.best_epoch == 3


def test_patience_zero_trains_every_epoch():
    cfg = small(epochs=5, patience=0)
    hist = fc.fit_model(fc.build_model(cfg), fc.prepare_series(datasets.load("airline"), cfg), cfg)
    assert hist.epochs_run == 5


def test_training_is_reproducible_with_a_seed():
    a = fc.train(small(epochs=2, seed=3)).metrics["test"]
    b = fc.train(small(epochs=2, seed=3)).metrics["test"]
    assert a == b


# --- run folders --------------------------------------------------------------------------------


def test_write_and_load_run(airline_result, tmp_path):
    out = tmp_path / "run1"
    path, note = fc.write_run(airline_result, out, plot=False)
    assert path == out and note is None
    assert sorted(os.listdir(out)) == ["metrics.json", "model.npz", "preprocessing.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["run1"]  # no temporary folder left
    model = fr.load(out / "model.npz")
    np.testing.assert_array_equal(model.predict(airline_result.prep.X_test),
                                  airline_result.model.predict(airline_result.prep.X_test))
    run = fc.load_run(out)
    assert run.look_back == airline_result.config.look_back
    assert run.transform == airline_result.config.transform
    assert fc.load_run(out / "model.npz").path == out
    info = json.loads((out / "preprocessing.json").read_text())
    assert info["source"]["dataset"] == "airline" and info["scaler"]["name"] == "standard"


def test_default_out_dir_is_fresh(tmp_path):
    from datetime import datetime

    now = datetime(2026, 11, 23, 17, 45, 1)
    first = fc.default_out_dir("airline", "lstm", tmp_path, now)
    assert first.name == "airline-lstm-20261123-174501"
    first.mkdir()
    assert fc.default_out_dir("airline", "lstm", tmp_path, now).name == "airline-lstm-20261123-174501-2"


def test_staging_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(fc.RunError, match="not empty"):
        fc.Staging(tmp_path / "out")
    assert os.listdir(tmp_path / "out") == ["keep.txt"]


def test_staging_accepts_an_empty_folder(tmp_path):
    (tmp_path / "out").mkdir()
    st = fc.Staging(tmp_path / "out")
    (st.path / "a.txt").write_text("x")
    assert st.commit() == tmp_path / "out"
    assert os.listdir(tmp_path) == ["out"] and os.listdir(tmp_path / "out") == ["a.txt"]


def test_staging_discard_removes_everything_it_made(tmp_path):
    st = fc.Staging(tmp_path / "a" / "b" / "run")
    (st.path / "model.npz").write_bytes(b"half")
    st.discard()
    assert os.listdir(tmp_path) == []


def test_staging_as_a_with_block_commits_or_leaves_nothing(tmp_path):
    st = fc.Staging.for_out(None, "airline", "lstm", root=tmp_path / "runs")
    with st:
        (st.path / "model.npz").write_bytes(b"whole")
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [st.final.name]
    assert os.listdir(st.final) == ["model.npz"]

    st = fc.Staging.for_out(tmp_path / "a" / "run", "airline", "lstm")
    with pytest.raises(KeyboardInterrupt):
        with st:
            (st.path / "model.npz").write_bytes(b"half")
            raise KeyboardInterrupt  # no finished member (no resume state): nothing is kept
    assert st.kept == 0 and not (tmp_path / "a").exists()


def test_staging_under_a_file_is_unwritable(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(fc.RunError, match="cannot write"):
        fc.Staging(tmp_path / "file" / "run")
    with pytest.raises(fc.RunError, match="not a folder"):
        fc.Staging(tmp_path / "file")


def test_run_cleans_up_when_training_fails(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise DataError("boom")

    monkeypatch.setattr(runs, "train", boom)  # the train that fc.run calls
    with pytest.raises(DataError):
        fc.run(small(), out=tmp_path / "runs" / "x")
    assert os.listdir(tmp_path) == []


def test_load_run_errors(tmp_path):
    with pytest.raises(fc.RunError, match="does not exist"):
        fc.load_run(tmp_path / "missing")
    with pytest.raises(fc.RunError, match="no model.npz"):
        fc.load_run(tmp_path)


# --- forecasting --------------------------------------------------------------------------------


@pytest.mark.parametrize("transform, scaler", [(None, "minmax"), ("diff", "standard"),
                                               ("log", "standard"), ("log+diff", None)])
def test_first_recursive_step_equals_the_one_step_test_forecast(transform, scaler, tmp_path):
    cfg = small(epochs=1, transform=transform or "none", scaler=scaler or "none", dtype="float64")
    res = fc.train(cfg)
    path, _ = fc.write_run(res, tmp_path / "r", plot=False)
    run = fc.load_run(path)
    values = res.prep.values
    one_step = res.prep.inverse(fc.predict_mean(res.model, res.prep.X_test), "test")[:, 0]
    for i in (0, 5, len(one_step) - 1):
        t = res.prep.starts["test"][i]
        got = fc.forecast(run, values[:t], 1)
        assert got[0] == pytest.approx(one_step[i], rel=1e-9)


def test_forecast_is_recursive(airline_result, tmp_path):
    path, _ = fc.write_run(airline_result, tmp_path / "r", plot=False)
    run = fc.load_run(path)
    v = airline_result.prep.values
    three = fc.forecast(run, v, 3)
    assert three.shape == (3,) and np.isfinite(three).all()
    # the second step is the one-step forecast from the series extended by the first forecast
    assert fc.forecast(run, np.append(v, three[0]), 1)[0] == pytest.approx(three[1], rel=1e-6)


def test_forecast_needs_enough_history(airline_result, tmp_path):
    path, _ = fc.write_run(airline_result, tmp_path / "r", plot=False)
    run = fc.load_run(path)
    with pytest.raises(DataError, match="needs the last"):
        fc.forecast(run, np.arange(1.0, 6.0), 2)


def test_future_dates():
    monthly = pd.date_range("1960-01-01", periods=12, freq="MS")
    assert list(fc.future_dates(monthly, 2)) == [pd.Timestamp("1961-01-01"), pd.Timestamp("1961-02-01")]
    daily = pd.date_range("1990-12-01", periods=31, freq="D")
    assert fc.future_dates(daily, 1)[0] == pd.Timestamp("1991-01-01")
    stock = datasets.load("stock").dates  # business days with holidays: no inferable frequency
    nxt = fc.future_dates(stock, 3)
    assert stock[-1] == pd.Timestamp("2017-11-10")  # a Friday
    assert list(nxt) == [pd.Timestamp("2017-11-13"), pd.Timestamp("2017-11-14"), pd.Timestamp("2017-11-15")]
    assert fc.future_dates(None, 3) is None
