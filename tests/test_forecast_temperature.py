"""Calendar features and ensembles (the temperature recipe): preprocessing, merged ensembles,
training, saved runs, recursive forecasts and the CLI options.

Quality is not tested here (that is scripts/select_forecast_defaults.py, stage 3); these tests use
tiny models and check that the new inputs and the ensemble flow consistently through prepare,
train, the run folder and predict.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import fastrnn as fr
from fastrnn import forecast as fc
from fastrnn.cli import main
from fastrnn.forecast import baselines, datasets
from fastrnn.forecast.datasets import DataError
from fastrnn.forecast.preprocessing import calendar_features, calendar_windows, prepare
from fastrnn.models import GRU, LSTM, RNN


def tiny(**kw):
    # statistical=False: statsforecast's baselines take ~45 s on this series (tested on airline)
    kw = {"hidden": 4, "epochs": 2, "dtype": "float64", "statistical": False, **kw}
    return fc.make_config(dataset="temperature", **kw)


# --- calendar features --------------------------------------------------------------------------


def test_calendar_features_are_the_angle_in_the_year():
    d = pd.DatetimeIndex(["1981-01-01", "1981-07-02 12:00", "1984-12-31", "1985-01-01"])
    f = calendar_features(d)
    assert f.shape == (4, 2)
    np.testing.assert_allclose(f[0], [0.0, 1.0], atol=1e-12)  # 1 January: angle 0
    np.testing.assert_allclose(f[1], [0.0, -1.0], atol=1e-12)  # day 182.5 of 365: half a turn
    assert f[2, 0] == pytest.approx(np.sin(2 * np.pi * 365 / 366))  # leap year: 366 days
    np.testing.assert_allclose(f[3], f[0])
    np.testing.assert_allclose((f ** 2).sum(axis=1), 1.0)


def test_prepare_with_calendar_adds_the_features_of_the_next_date():
    ds = datasets.load("temperature")
    plain = prepare(ds, 30, scaler="standard")
    cal = prepare(ds, 30, scaler="standard", calendar=True)
    assert cal.calendar and not plain.calendar and cal.n_features == 3
    feats = calendar_features(ds.dates)
    for which in ("train", "val", "test"):
        X, X0 = getattr(cal, f"X_{which}"), getattr(plain, f"X_{which}")
        assert X.shape == X0.shape[:2] + (3,)
        np.testing.assert_array_equal(X[:, :, :1], X0)  # the values are untouched
        s = cal.starts[which]
        np.testing.assert_array_equal(X[:, -1, 1:], feats[s])  # last step: the target's date
        np.testing.assert_array_equal(X[:, 0, 1:], feats[s - 29])  # first step: the 2nd input's
        np.testing.assert_array_equal(getattr(cal, f"y_{which}"), getattr(plain, f"y_{which}"))
    np.testing.assert_array_equal(calendar_windows(feats, cal.starts["val"], 30), cal.X_val[:, :, 1:])


def test_calendar_needs_dates():
    with pytest.raises(DataError, match="calendar features need the dates"):
        prepare(np.arange(100.0), 5, calendar=True)


def test_calendar_does_not_change_the_baselines():
    ds = datasets.load("temperature")
    a = baselines.evaluate(prepare(ds, 30, scaler="standard"))
    b = baselines.evaluate(prepare(ds, 30, scaler="standard", calendar=True))
    assert a == b


# --- merged ensembles ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [GRU, LSTM, RNN])
@pytest.mark.parametrize("layers", [1, 2])
def test_merge_ensemble_is_the_mean_of_the_members(cls, layers):
    x = np.random.default_rng(0).standard_normal((6, 9, 3))
    members = [cls(input_size=3, hidden_size=5, num_layers=layers, dtype="float64", seed=s)
               for s in range(3)]
    merged = fc.merge_ensemble(members)
    assert merged.hidden_size == 15 and merged.kind == members[0].kind
    np.testing.assert_allclose(merged.predict(x), np.mean([m.predict(x) for m in members], axis=0),
                               rtol=1e-12, atol=1e-12)
    assert fc.merge_ensemble(members[:1]) is members[0]


def test_merge_ensemble_refuses_different_members():
    with pytest.raises(ValueError, match="same kind"):
        fc.merge_ensemble([GRU(1, 4, seed=0), GRU(1, 5, seed=1)])
    with pytest.raises(ValueError, match="at least one"):
        fc.merge_ensemble([])


# --- configuration and training -----------------------------------------------------------------


def test_temperature_defaults_use_calendar_and_an_ensemble():
    cfg = fc.make_config(dataset="temperature")
    assert cfg.calendar is True and cfg.ensemble == 5
    for name in ("airline", "stock"):  # no calendar (monthly / trading days); also 5 members
        cfg = fc.make_config(dataset=name)
        assert cfg.calendar is False and cfg.ensemble == 5
    assert fc.make_config(dataset="temperature", calendar=False, ensemble=1).calendar is False


@pytest.mark.parametrize("kw, word", [({"ensemble": 0}, "ensemble"), ({"ensemble": 1.5}, "ensemble"),
                                      ({"calendar": "yes"}, "calendar")])
def test_bad_new_settings(kw, word):
    with pytest.raises(ValueError, match=word):
        fc.make_config(dataset="temperature", **kw)


@pytest.fixture(scope="module")
def ensemble_result():
    return fc.train(tiny(ensemble=3, seed=2))


def test_ensemble_training(ensemble_result):
    r = ensemble_result
    m = r.metrics
    assert m["ensemble"] == 3 and m["calendar"] is True and m["hidden"] == 4
    assert [x["seed"] for x in m["members"]] == [2, 3, 4]
    assert len(r.histories) == 3 and r.history is r.histories[0]
    assert m["epochs_total"] == sum(h.epochs_run for h in r.histories)
    # the members are stored stacked: 3 models of hidden size 4, not one of 12
    assert isinstance(r.model, fr.Stack) and r.model.num_models == 3
    assert r.model.hidden_size == 4 and r.model.input_size == 3
    # each member (trained in one stack with the others) is bitwise the seed's model trained alone,
    # and the ensemble's forecasts are the mean of the members'
    members = []
    for k in range(3):
        member = fc.build_model(r.config, seed=2 + k)
        fc.fit_model(member, r.prep, r.config)
        members.append(member)
        for name, w in member.parameters().items():
            np.testing.assert_array_equal(r.model.members[k].parameters()[name], w)
    mean = np.mean([mm.predict(r.prep.X_test).astype(np.float64) for mm in members], axis=0)
    np.testing.assert_allclose(fc.predict_mean(r.model, r.prep.X_test), mean, rtol=1e-12, atol=1e-15)
    assert m["test"]["rmse"] == pytest.approx(
        baselines.rmse(r.prep.targets("test"), r.prep.inverse(mean, "test")), rel=1e-9)
    assert m["members"][0]["val_rmse"] == pytest.approx(fc.score(members[0], r.prep, "val")["rmse"])


def test_ensemble_run_folder_and_forecast(ensemble_result, tmp_path):
    r = ensemble_result
    # plot=False: this test is about the ensemble's files; the PNGs are tested in test_cli_train.py
    # (which skips them without matplotlib).
    path, _ = fc.write_run(r, tmp_path / "r", plot=False)
    assert sorted(os.listdir(path)) == ["metrics.json", "model.npz", "preprocessing.json"]
    info = json.loads((path / "preprocessing.json").read_text())
    assert info["calendar"] is True and info["ensemble"] == 3 and info["format"] == 2
    model = fr.load(path / "model.npz")  # one stack file
    np.testing.assert_array_equal(model.predict(r.prep.X_test), r.model.predict(r.prep.X_test))

    run = fc.load_run(path)
    assert run.calendar
    values, dates = r.prep.values, r.prep.dates
    one_step = r.prep.inverse(fc.predict_mean(r.model, r.prep.X_test), "test")[:, 0]
    for i in (0, 7, len(one_step) - 1):
        t = r.prep.starts["test"][i]
        got = fc.forecast(run, values[:t], 1, dates=dates[:t])
        assert got[0] == pytest.approx(one_step[i], rel=1e-9)
    # recursive: step 2 is the one-step forecast of the series extended by step 1 (on its date)
    two = fc.forecast(run, values, 2, dates=dates)
    ext_dates = dates.append(fc.future_dates(dates, 1))
    assert fc.forecast(run, np.append(values, two[0]), 1, dates=ext_dates)[0] == pytest.approx(two[1])
    with pytest.raises(DataError, match="calendar features"):
        fc.forecast(run, values, 2)


def test_runs_without_calendar_keep_format_1(tmp_path):
    r = fc.train(tiny(calendar=False, ensemble=1, epochs=1))
    path, _ = fc.write_run(r, tmp_path / "r", plot=False)
    info = json.loads((path / "preprocessing.json").read_text())
    assert info["format"] == 1 and info["calendar"] is False
    run = fc.load_run(path)
    assert fc.forecast(run, r.prep.values, 2).shape == (2,)  # no dates needed


# --- command line -------------------------------------------------------------------------------


def test_cli_train_and_predict_with_calendar_and_ensemble(tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    res = runner.invoke(main, ["train", "--dataset", "temperature", "--epochs", "2", "--hidden", "4",
                               "--ensemble", "2", "--seed", "4", "--no-plot", "--no-statistical",
                               "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "calendar features, ensemble of 2 (seeds 4-5)" in res.output
    assert "ensemble of 2)" in res.output and "2 members" in res.output and "s/epoch" in res.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["ensemble"] == 2 and m["calendar"] is True and len(m["members"]) == 2
    assert sorted(os.listdir(out)) == ["metrics.json", "model.npz", "preprocessing.json"]

    res = runner.invoke(main, ["predict", "--model", str(out), "--steps", "3"])
    assert res.exit_code == 0, res.output
    assert "calendar features, ensemble of 2" in res.output
    assert "1991-01-01" in res.output


def test_cli_no_calendar_and_ensemble_one(tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    res = runner.invoke(main, ["train", "--dataset", "temperature", "--epochs", "1", "--hidden", "4",
                               "--no-calendar", "--ensemble", "1", "--no-plot", "--no-statistical",
                               "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "calendar" not in res.output.splitlines()[0] and "ensemble" not in res.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["calendar"] is False and m["ensemble"] == 1


def test_cli_calendar_on_a_csv_without_dates_is_a_clean_error(tmp_path):
    csv = tmp_path / "nodates.csv"
    csv.write_text("value\n" + "\n".join(str(float(i % 7)) for i in range(120)) + "\n")
    res = CliRunner().invoke(main, ["train", "--csv", str(csv), "--calendar", "--epochs", "1",
                                    "--no-plot", "--out", str(tmp_path / "r")])
    assert res.exit_code == 1, res.output
    assert "Error: calendar features need the dates" in res.output
    assert not (tmp_path / "r").exists()


def test_cli_bad_ensemble_is_a_usage_error():
    res = CliRunner().invoke(main, ["train", "--dataset", "temperature", "--ensemble", "0"])
    assert res.exit_code == 2 and "--ensemble" in res.output


def test_old_runs_with_a_merged_ensemble_still_predict(tmp_path):
    """Runs written before model stacks hold one block-diagonal model; fastrnn predict reads them
    and forecasts what the stacked members forecast (up to rounding)."""
    out = tmp_path / "run"
    runner = CliRunner()
    r = runner.invoke(main, ["train", "--dataset", "airline", "--epochs", "2", "--hidden", "4", "--ensemble", "3",
                             "--no-plot", "--out", str(out)])
    assert r.exit_code == 0, r.output
    stacked = fr.load(out / "model.npz")
    assert isinstance(stacked, fr.Stack) and stacked.num_models == 3
    new = runner.invoke(main, ["predict", "--model", str(out), "--steps", "4"])
    assert new.exit_code == 0, new.output
    fc.merge_ensemble(stacked.unstack()).save(out / "model.npz")  # the old format
    old = runner.invoke(main, ["predict", "--model", str(out), "--steps", "4"])
    assert old.exit_code == 0, old.output

    def values(text):
        return [float(line.split()[1]) for line in text.splitlines() if line[:4].isdigit()]
    assert len(values(new.output)) == 4
    np.testing.assert_allclose(values(old.output), values(new.output), rtol=1e-4)
