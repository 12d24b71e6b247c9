"""Combinations of members of different kinds (``fastrnn train --combine``): the weights, the
forecasts, the saved run and its predict, the defaults that are combinations, and bad values."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from fastrnn import forecast as fc
from fastrnn.cli import main
from fastrnn.forecast import baselines
from fastrnn.forecast.combine import Combination, parse_members
from fastrnn.forecast.job import fit_combination, linear_member, member_forecasts

TINY = ["--epochs", "2", "--hidden", "4", "--ensemble", "2", "--no-plot", "--no-statistical"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def combo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "combo"
    res = invoke("train", "--combine", "lstm,linear,persistence", *TINY, "--out", out)
    assert res.exit_code == 0, res.output
    return out, res.output


@pytest.fixture(scope="module")
def combo_result():
    cfg = fc.make_config("airline", combine=("gru", "linear", "persistence"), epochs=2, hidden=4, ensemble=2,
                         statistical=False)
    return fc.train(cfg)


def test_weights_are_inverse_validation_mse_by_hand(combo_result):
    r = combo_result
    combo, prep = r.model, r.prep
    y = prep.targets("val")[:, 0]
    val = member_forecasts(combo.models, prep, "val")
    # by hand: 1 / MSE of each member on the validation part, normalised
    inv = {n: 1.0 / np.mean((val[n] - y) ** 2) for n in ("gru", "linear", "persistence")}
    total = sum(inv.values())
    for n, v in inv.items():
        assert combo.weights[n] == pytest.approx(v / total, rel=1e-12)
    # the persistence member is the value before each validation point
    np.testing.assert_array_equal(val["persistence"], prep.values[prep.starts["val"] - 1])


def test_the_forecast_is_the_weighted_sum_of_the_members(combo_result):
    r = combo_result
    test = member_forecasts(r.model.models, r.prep, "test")
    by_hand = sum(r.model.weights[n] * test[n] for n in test)
    np.testing.assert_allclose(r.test_pred, by_hand, rtol=1e-12)
    y = r.prep.targets("test")[:, 0]
    assert r.metrics["test"]["rmse"] == pytest.approx(baselines.rmse(y, by_hand), rel=1e-12)
    assert r.metrics["combine"]["weights"] == pytest.approx(r.model.weights)
    for n in test:
        assert r.metrics["combine"]["scores"][n]["test"]["rmse"] == pytest.approx(baselines.rmse(y, test[n]))


def test_weights_never_see_the_test_part(combo_result):
    """Changing every test value changes no weight: they are fitted on the validation part only."""
    cfg, data = combo_result.config, combo_result.data
    changed = type(data)(**{**data.__dict__, "values": data.values.copy()})
    prep = fc.prepare_series(changed, cfg)
    t = prep.split.test_start
    changed.values[t + 1:] *= 3.0  # the test part (but its first point, which the fit needs for nothing)
    prep2 = fc.prepare_series(changed, cfg)
    assert prep2.split.test_start == t
    w2 = fit_combination(cfg, prep2).weights
    assert w2 == pytest.approx(combo_result.model.weights, rel=1e-9)


def test_the_linear_member_is_the_least_squares_ar():
    cfg = fc.make_config("airline", statistical=False)
    prep = fc.prepare_series(fc.load_series(cfg), cfg)
    s = prep.starts["test"]
    alone = linear_member(cfg, prep, alone=True)  # training + validation windows: the table's AR
    ar = baselines.linear_ar(prep.values, s, prep.look_back, 1, prep.transform, fit_end=prep.split.test_start)
    np.testing.assert_allclose(fc.score(alone, prep, "test")["pred"], ar[:, 0], rtol=1e-9)
    part = linear_member(cfg, prep)  # training windows only (a member whose weight is fitted)
    ar = baselines.linear_ar(prep.values, s, prep.look_back, 1, prep.transform, fit_end=prep.split.train_end)
    np.testing.assert_allclose(fc.score(part, prep, "test")["pred"], ar[:, 0], rtol=1e-9)


def test_saved_combination_predicts_as_in_memory(combo_run, tmp_path):
    out, output = combo_run
    assert "combination (this model, 3 members)" in output
    for name in ("LSTM hidden 4, ensemble of 2, weight", "linear AR(13), training fit, weight", "persistence, weight"):
        assert name in output
    m = json.loads((out / "metrics.json").read_text())
    assert m["combine"]["members"] == ["lstm", "linear", "persistence"]
    assert sum(m["combine"]["weights"].values()) == pytest.approx(1.0)
    assert not (out / "model.npz").exists()
    assert (out / "combine-lstm.npz").is_file() and (out / "combine-linear.npz").is_file()
    run = fc.load_run(out)
    assert list(run.members) == ["lstm", "linear", "persistence"]
    ds = fc.load_series(run.source_config())
    # the first step of predict on the series cut before the last point = train's one-step forecast of it
    cfg = fc.make_config("airline", combine=("lstm", "linear", "persistence"), epochs=2, hidden=4, ensemble=2,
                         statistical=False)
    prep = fc.prepare_series(ds, cfg)
    combo = Combination(models={n: mdl for n, (mdl, _) in run.members.items()},
                        weights={n: w for n, (_, w) in run.members.items()})
    last = fc.score(combo, prep, "test")["pred"][-1]
    assert fc.forecast(run, ds.values[:-1], 1, dates=ds.dates[:-1])[0] == pytest.approx(last, rel=1e-9)
    np.testing.assert_allclose(m["test"]["rmse"], baselines.rmse(prep.targets("test")[:, 0],
                                                                 fc.score(combo, prep, "test")["pred"]), rtol=1e-6)
    # recursive: step 2 feeds the combination's step-1 forecast back to every member
    two = fc.forecast(run, ds.values, 2, dates=ds.dates)
    ext = np.append(ds.values, two[0])
    assert fc.forecast(run, ext, 1)[0] == pytest.approx(two[1], rel=1e-12)
    res = invoke("predict", "--model", out, "--steps", "2")
    assert res.exit_code == 0, res.output
    assert "combination" in res.output and f"{two[0]:.6g}" in res.output


def test_an_old_single_model_run_still_loads(tmp_path):
    out = tmp_path / "r"
    res = invoke("train", "--model", "gru", *TINY, "--out", out)
    assert res.exit_code == 0, res.output
    info = json.loads((out / "preprocessing.json").read_text())
    assert info["format"] == 1 and "combine" not in info
    run = fc.load_run(out)
    assert run.members is None and run.model is not None


def test_the_defaults_that_are_combinations():
    assert fc.make_config("airline").combine == ("linear",)
    assert fc.make_config("stock").combine == ("persistence",)
    assert fc.make_config("temperature").combine == ()
    # a network setting trains that network; intervals keep the default; an
    # explicit combination stays
    assert fc.make_config("airline", hidden=4).combine == ()
    assert fc.make_config("stock", levels=(80,)).combine == ("persistence",)
    assert fc.make_config("stock", ensemble=1).combine == ()
    assert fc.make_config("airline", hidden=4, combine=("lstm", "linear")).combine == ("lstm", "linear")
    assert fc.make_config("airline", combine=()).combine == ()


def test_linear_default_run_equals_the_linear_baseline(tmp_path):
    out = tmp_path / "a"
    res = invoke("train", "--no-plot", "--no-statistical", "--out", out)
    assert res.exit_code == 0, res.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["test"]["rmse"] == pytest.approx(m["baselines"]["linear_ar"]["rmse"], rel=1e-9)
    assert "linear AR(13) (this model, training + validation fit)" in res.output
    # predict continues the series as the least-squares AR does, recursively
    run = fc.load_run(out)
    ds = fc.load_series(run.source_config())
    ar = baselines.linear_ar(np.append(ds.values, np.nan), [len(ds)], 13, 3, "log+diff", fit_end=96)[0]
    np.testing.assert_allclose(fc.forecast(run, ds.values, 3, dates=ds.dates), ar, rtol=1e-9)


def test_level_keeps_the_default_and_predict_writes_its_intervals(tmp_path):
    # stock's default is persistence: --level gives its intervals, no network and no note
    out = tmp_path / "a"
    res = invoke("train", "--dataset", "stock", "--level", "80", "--no-plot", "--no-statistical", "--out", out)
    assert res.exit_code == 0, res.output
    assert "persistence (this model)" in res.output and "80 %: test coverage" in res.output
    assert "Note:" not in res.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["combine"] == ["persistence"] and 0.7 < m["intervals"]["coverage"]["80"] < 0.9
    csv = tmp_path / "next.csv"
    res = invoke("predict", "--model", out, "--steps", "3", "--output", csv)
    assert res.exit_code == 0, res.output
    df = pd.read_csv(csv)
    assert list(df.columns) == ["date", "forecast", "lo-80", "hi-80"]
    last = fc.load_series(fc.make_config("stock")).values
    assert (df["forecast"] == last[-1]).all()  # persistence
    scale = max(np.mean(np.abs(np.diff(last[-10:]))), m["intervals"]["scale"]["floor"])  # look-back 10
    q = m["intervals"]["quantiles"]["80"]
    np.testing.assert_allclose(df["hi-80"] - df["forecast"], np.array(q[:3]) * scale, rtol=1e-4)


def test_covariates_alone_say_they_train_the_network_instead_of_the_default(tmp_path):
    # covariates need a network: the run says so when they are the only reason
    n = 300
    dates = pd.date_range("2020-01-01", periods=n, freq="D")
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "y": 10 + np.cumsum(rng.normal(size=n)) + x,
                  "x": x}).to_csv(tmp_path / "s.csv", index=False)
    res = invoke("train", "--csv", tmp_path / "s.csv", "--covariates", "x",
                 "--no-plot", "--no-statistical", "--out", tmp_path / "a")
    assert res.exit_code == 0, res.output
    assert "Note: --covariates goes with a network, so this run trains the GRU of these settings instead of " \
           "the default, run-time choice among persistence, the linear AR and the network" in res.output


@pytest.mark.parametrize("value, words", [
    ("lstm,foo", ["unknown member 'foo'", "choose from"]),
    ("lstm,lstm", ["'lstm' is given twice"]),
    ("lstm,,linear", ["separated by commas"]),
    ("", ["separated by commas"]),
])
def test_bad_combine_values(value, words):
    with pytest.raises(ValueError):
        parse_members(value)
    res = invoke("train", "--combine", value, "--no-plot")
    assert res.exit_code == 2, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "'--combine'" in errors[0], res.output
    assert all(w in errors[0] for w in words), errors[0]
    assert "Traceback" not in res.output


def test_combine_with_covariates_or_horizon_is_one_error_line(tmp_path):
    dates = pd.date_range("2020-01-01", periods=100, freq="D").strftime("%Y-%m-%d")
    frame = pd.DataFrame({"date": dates, "y": np.arange(100.0), "x": np.arange(100.0) % 7})
    frame.to_csv(tmp_path / "s.csv", index=False)
    csv = ["--csv", str(tmp_path / "s.csv"), "--column", "y"]
    for args, code, word in ((["--combine", "lstm", "--covariates", "x", *csv], 1, "does not take them yet"),
                             (["--combine", "lstm", "--horizon", "3"], 2, "--combine goes with")):
        res = invoke("train", *args, "--no-plot", "--out", tmp_path / "x")
        assert res.exit_code == code, res.output
        errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and word in errors[0], res.output
        assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_a_damaged_combination_file_is_refused(combo_run, tmp_path):
    import shutil

    out = tmp_path / "c"
    shutil.copytree(combo_run[0], out)
    info = json.loads((out / "preprocessing.json").read_text())
    info["combine"]["members"][0]["weight"] = 0.9  # no longer sums to one
    (out / "preprocessing.json").write_text(json.dumps(info))
    with pytest.raises(fc.RunError, match="summing to 1"):
        fc.load_run(out)
    info["combine"]["members"][0]["weight"] = combo_run and json.loads(
        (combo_run[0] / "preprocessing.json").read_text())["combine"]["members"][0]["weight"]
    (out / "preprocessing.json").write_text(json.dumps(info))
    (out / "combine-lstm.npz").unlink()
    with pytest.raises(fc.RunError, match="no combine-lstm.npz"):
        fc.load_run(out)


# --- the generic CSV default: what to fit, chosen on rolling validation origins ------------------


def _csv(tmp_path, values, name="s"):
    import pandas as pd

    path = tmp_path / f"{name}.csv"
    dates = pd.date_range("1990-01-01", periods=len(values), freq="MS")
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "y": values}).to_csv(path, index=False)
    return path


def _seasonal(n=180, seed=0):
    t = np.arange(n)
    return 100 + 10 * np.sin(2 * np.pi * t / 12) + 0.3 * np.random.default_rng(seed).standard_normal(n)


def test_csv_runs_select_unless_told_what_to_fit(tmp_path):
    path = _csv(tmp_path, _seasonal())
    assert fc.make_config(csv=str(path), season=12).select
    assert not fc.make_config(csv=str(path), season=12, model="gru").select
    assert not fc.make_config(csv=str(path), season=12, combine=("linear",)).select
    assert not fc.make_config("airline").select


def test_selection_picks_the_linear_ar_on_a_seasonal_series_without_the_test_part(tmp_path):
    from fastrnn.forecast.job import rolling_folds, select_on_rolling_origins

    values = _seasonal()
    path = _csv(tmp_path, values)
    cfg = fc.make_config(csv=str(path), season=12, epochs=1, hidden=2)
    cfg.select = True
    data = fc.load_series(cfg)
    folds = rolling_folds(data, cfg)
    full = fc.prepare_series(data, cfg)
    assert len(folds) == 3 and folds[-1].split.test_start == full.split.train_end  # block 3: the validation part
    assert all(f.split.n <= full.split.test_start for f in folds)  # no fold reaches the test part
    combine, info = select_on_rolling_origins(cfg, data)
    assert combine == ("linear",) and info["choice"] == "linear", info
    assert info["scores"]["linear"] < info["scores"]["persistence"]
    # the test part changes nothing: the same choice and the same scores
    changed = values.copy()
    changed[full.split.test_start:] = changed[full.split.test_start:][::-1] * 2
    cfg2 = fc.make_config(csv=str(_csv(tmp_path, changed, "t")), season=12, epochs=1, hidden=2)
    cfg2.select = True
    combine2, info2 = select_on_rolling_origins(cfg2, fc.load_series(cfg2))
    assert combine2 == combine and info2["scores"] == pytest.approx(info["scores"], rel=1e-12)


def test_a_csv_run_prints_and_keeps_its_choice(tmp_path):
    path = _csv(tmp_path, _seasonal())
    out = tmp_path / "r"
    res = invoke("train", "--csv", path, "--column", "y", "--date-column", "date", "--no-plot", "--no-statistical",
                 "--out", out)
    assert res.exit_code == 0, res.output
    assert "Chosen on 3 rolling validation blocks" in res.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["selection"]["choice"] == "linear" and m["combine"]["members"] == ["linear"]
    assert m["config"]["select"] is False  # the run holds its choice: a resume does not choose again


def test_default_runs_with_nothing_trained_write_their_plots(tmp_path):
    pytest.importorskip("matplotlib")
    for dataset in ("airline", "stock"):  # the linear AR; persistence
        out = tmp_path / dataset
        res = invoke("train", "--dataset", dataset, "--no-statistical", "--out", out)
        assert res.exit_code == 0, res.output
        for png in ("loss.png", "forecast.png"):
            assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_help_says_what_each_default_fits():
    res = invoke("train", "--help")
    assert res.exit_code == 0
    rows = {line.split()[0]: line.split()[1] for line in res.output.splitlines()
            if line.strip().split()[:1] in (["airline"], ["temperature"], ["stock"], ["--csv"])
            and len(line.split()) > 10}
    assert rows == {"airline": "linear", "temperature": "network", "stock": "persistence", "--csv": "chosen*"}
