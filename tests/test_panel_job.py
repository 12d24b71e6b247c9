"""Panel forecasting end to end: the recurrent panel forecasters (global / local, direct /
recursive), the backtest with its validation-only selection (no leakage from the test part), the
run folder, fastrnn train / predict on a panel, fit_panel, and the panel runs' errors."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import fastrnn as fr
import fastrnn.forecast as ff
from fastrnn.cli import main
from fastrnn.cli import panel as cli_panel
from fastrnn.forecast import datasets, panel_job, panel_runs
from fastrnn.forecast import panel as _panel
from fastrnn.forecast import panel_model as pm

TINY = dict(hidden=4, epochs=3, patience=0, batch_size=16, look_back=4)


def _toy(n_series=4, n=40, seed=0):
    """Quarterly seasonal series of different levels and lengths, as a long Nixtla frame."""
    r = np.random.default_rng(seed)
    rows = []
    for k in range(n_series):
        m = n - 3 * k
        t = np.arange(m)
        y = 10 + 3 * k + (1 + k) * np.sin(2 * np.pi * t / 4) + 0.05 * t + r.normal(0, 0.1, m)
        rows += [(f"s{k}", d, v) for d, v in zip(pd.date_range("2000-01-01", periods=m, freq="QS"), y)]
    return pd.DataFrame(rows, columns=["unique_id", "ds", "y"])


@pytest.fixture(scope="module")
def toy_panel():
    return _panel.from_frame(_toy(), name="toy")


@pytest.mark.parametrize("strategy", pm.STRATEGIES)
@pytest.mark.parametrize("multi", pm.MULTI)
def test_forecasters_forecast_every_series_in_its_units(toy_panel, strategy, multi):
    hist = [v[:-4] for v in toy_panel.values]
    f = pm.fit(hist, 4, pm.PanelConfig(**TINY, strategy=strategy, multi=multi))
    out = f.forecast()
    assert out.shape == (4, 4) and np.isfinite(out).all()
    # in the series' units: each forecast near its own series' level, not the scaled one
    levels = np.array([h.mean() for h in hist])
    assert np.all(np.abs(out.mean(axis=1) - levels) < 3 * np.array([h.std() for h in hist]))
    from fastrnn.stacks import Stack
    assert isinstance(f.model, Stack) == (strategy == "local")
    assert f.model.output_size == (4 if multi == "direct" else 1)


def test_local_models_are_each_the_series_model_alone(toy_panel):
    """A local stack's model k is bitwise the model of series k trained alone (same seed)."""
    hist = [v[:-4] for v in toy_panel.values]
    cfg = pm.PanelConfig(**TINY, strategy="local", multi="direct", seed=7)
    stacked = pm.fit(hist, 4, cfg)
    alone = pm.fit(hist[2:3], 4, pm.PanelConfig(**{**cfg.to_dict(), "seed": 9}))  # series 2: seed 7 + 2
    for name, w in alone.model.members[0].parameters().items():
        np.testing.assert_array_equal(stacked.model.members[2].parameters()[name], w)


def test_a_history_too_short_is_refused():
    with pytest.raises(ValueError, match="at least 12 finite points"):
        pm.fit([np.arange(11.0)], 4, pm.PanelConfig(**TINY))


def test_backtest_chooses_on_validation_and_never_looks_at_the_test_part(toy_panel):
    """Changing the test part of every series changes the test scores only: the selection, the
    validation forecasts and the chosen strategy stay bitwise the same."""
    kw = dict(horizon=4, windows=3, config=pm.PanelConfig(**TINY), statistical=False)
    a = panel_job.backtest(toy_panel, **kw)
    assert set(a.selection) == {"global/direct", "global/recursive", "local/direct", "local/recursive"}
    assert f"{a.config.strategy}/{a.config.multi}" == min(a.selection, key=a.selection.get)
    changed = _panel.from_frame(_toy(), name="toy")
    for k, v in enumerate(changed.values):
        v[-4:] = v[-4:] * 3 + 100 * (k + 1)  # the test part only
    b = panel_job.backtest(changed, **kw)
    assert a.selection == b.selection and a.config == b.config
    for name in a.forecasts:
        np.testing.assert_array_equal(a.forecasts[name][:, :-1], b.forecasts[name][:, :-1])
    assert a.scores["model"].mean["mase"] != b.scores["model"].mean["mase"]


def test_one_window_uses_the_stated_defaults(toy_panel):
    r = panel_job.backtest(toy_panel, 4, windows=1, config=pm.PanelConfig(**TINY), statistical=False)
    assert r.selection == {} and (r.config.strategy, r.config.multi) == ("global", "direct")
    assert r.forecasts["model"].shape == (4, 1, 4)


def test_short_series_are_skipped_and_counted():
    df = _toy(n_series=3)
    df = pd.concat([df, pd.DataFrame({"unique_id": "short", "ds": pd.date_range("2000-01-01", periods=10, freq="QS"),
                                      "y": np.arange(10.0)})])
    r = panel_job.backtest(_panel.from_frame(df), 4, windows=2, config=pm.PanelConfig(**TINY), strategy="global",
                           multi="direct", statistical=False)
    assert [r.panel.ids[i] for i in r.plan.used] == ["s0", "s1", "s2"]
    assert list(r.plan.skipped) == [3] and "fewer than the" in r.plan.skipped[3]


def test_fit_panel_in_five_lines():
    fit = ff.fit_panel(_toy(), horizon=4, statistical=False, **TINY)
    table = fit.table()
    assert "model" in table.index and {"mase", "smape", "rmsse", "mae", "rmse"} <= set(table.columns)
    future = fit.predict()
    assert list(future.columns) == ["unique_id", "ds", "step", "y_hat"]
    assert len(future) == 4 * 4 and future.groupby("unique_id").ds.min().eq(
        _toy().groupby("unique_id").ds.max() + pd.offsets.QuarterBegin(startingMonth=1)).all()


# --- the command line ---------------------------------------------------------------------------

FAST = ["--epochs", "2", "--hidden", "4", "--patience", "0", "--look-back", "4"]


@pytest.fixture(scope="module")
def panel_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("panel") / "sales.csv"
    _toy().rename(columns={"unique_id": "store", "ds": "date", "y": "units"}).to_csv(path, index=False)
    return path


def test_train_and_predict_a_csv_panel(panel_csv, tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    r = runner.invoke(main, ["train", "--csv", str(panel_csv), "--id-column", "store", "--horizon", "4",
                             "--windows", "2", *FAST, "--no-plot", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert sorted(os.listdir(out)) == ["forecasts.csv", "metrics.json", "model.npz", "panel.json", "per_series.csv"]
    m = json.loads((out / "metrics.json").read_text())
    assert m["protocol"]["horizon"] == 4 and m["protocol"]["windows"] == 2 and m["series"]["used"] == 4
    assert m["selection"]["chosen"]["strategy"] in ("global", "local")
    assert "fastrnn LSTM" in r.output and "seasonal naive" in r.output and "linear AR (pooled)" in r.output
    per = pd.read_csv(out / "per_series.csv")
    assert list(per.id) == ["s0", "s1", "s2", "s3"]
    fc_rows = pd.read_csv(out / "forecasts.csv")
    assert len(fc_rows) == 4 * 2 * 4 and {"id", "origin", "date", "step", "actual", "forecast"} <= set(fc_rows)
    # the test origin's actual values are the last 4 of each series
    toy = _toy()
    last = fc_rows[fc_rows.origin == fc_rows.groupby("id").origin.transform("max")]
    for sid, g in last.groupby("id"):
        np.testing.assert_allclose(g.actual, toy[toy.unique_id == sid].y.to_numpy()[-4:], rtol=1e-9)
    p = runner.invoke(main, ["predict", "--model", str(out), "--csv", str(panel_csv), "--id-column", "store",
                             "--output", str(tmp_path / "next.csv")])
    assert p.exit_code == 0, p.output
    nxt = pd.read_csv(tmp_path / "next.csv")
    assert list(nxt.columns) == ["id", "date", "step", "forecast"] and len(nxt) == 16
    assert isinstance(fr.load(out / "model.npz"), (fr.Stack, fr.models.LSTM))


@pytest.mark.parametrize("args, words", [
    (["--dataset", "airline", "--windows", "3"], "--windows goes with --horizon"),
    (["--dataset", "airline", "--horizon", "3", "--ensemble", "2"],
     "--ensemble does not apply to a forecast several steps ahead (--horizon)"),
    (["--dataset", "tourism", "--ensemble", "2"], "--ensemble does not apply to a panel run"),
    (["--dataset", "airline", "--id-column", "x"], "--id-column goes with --csv"),
])
def test_panel_option_misuse(args, words, tmp_path):
    r = CliRunner().invoke(main, ["train", *args, "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and words in r.output
    assert not (tmp_path / "x").exists()


def test_a_single_series_with_a_horizon_is_a_panel_of_one(tmp_path):
    """fastrnn train --horizon H on a single series: backtested as a panel of one series, saved as a
    panel run whose predict writes the H months after the data (re-reading the run's dataset)."""
    runner = CliRunner()
    out = tmp_path / "air"
    r = runner.invoke(main, ["train", "--dataset", "airline", "--horizon", "6", *FAST, "--no-plot",
                             "--out", str(out)])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["kind"] == "panel" and m["series"] == {"total": 1, "used": 1, "skipped": {}}
    assert m["protocol"]["horizon"] == 6 and m["protocol"]["windows"] == panel_job.GENERIC_WINDOWS
    assert m["config"]["window_level"] is True  # panel_job.GENERIC_CONFIG
    fc_rows = pd.read_csv(out / "forecasts.csv")
    air = ff.load_series(ff.make_config("airline"))
    test = fc_rows[fc_rows.origin == fc_rows.origin.max()]
    np.testing.assert_allclose(test.actual, air.values[-6:])  # the test part: the last 6 months
    p = runner.invoke(main, ["predict", "--model", str(out)])
    assert p.exit_code == 0, p.output
    lines = p.output.strip().splitlines()
    assert lines[0] == "id,date,step,forecast" and len(lines) == 7
    assert [ln.split(",")[1] for ln in lines[1:]] == [f"1961-0{k}-01" for k in range(1, 7)]
    assert all(ln.startswith("Passengers,") for ln in lines[1:])


def test_a_single_csv_series_with_a_horizon_predicts_from_its_file(tmp_path):
    runner = CliRunner()
    path = tmp_path / "sales.csv"
    dates = pd.date_range("2001-01-01", periods=60, freq="MS")
    pd.DataFrame({"month": dates, "units": 100 + 10 * np.sin(np.arange(60) * np.pi / 6)}).to_csv(path, index=False)
    out = tmp_path / "run"
    r = runner.invoke(main, ["train", "--csv", str(path), "--horizon", "3", *FAST, "--no-plot", "--out", str(out)])
    assert r.exit_code == 0, r.output
    p = runner.invoke(main, ["predict", "--model", str(out), "--output", str(tmp_path / "next.csv")])
    assert p.exit_code == 0, p.output
    nxt = pd.read_csv(tmp_path / "next.csv")
    assert list(nxt.id) == ["units"] * 3 and list(nxt.date) == ["2006-01-01", "2006-02-01", "2006-03-01"]
    # without dates a horizon has no calendar to forecast on: one line, nothing written
    bare = tmp_path / "bare.csv"
    bare.write_text("units\n" + "\n".join(str(v) for v in range(60)) + "\n")
    r = runner.invoke(main, ["train", "--csv", str(bare), "--horizon", "3", *FAST, "--out", str(tmp_path / "b")])
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1, r.output
    assert "need dates" in r.output and "--date-column" in r.output and not (tmp_path / "b").exists()


def test_panel_input_errors_are_one_line(panel_csv, tmp_path):
    runner = CliRunner()
    bad = tmp_path / "dup.csv"
    bad.write_text("store,date,units\na,2000-01-01,1\na,2000-01-01,2\n")
    r = runner.invoke(main, ["train", "--csv", str(bad), "--id-column", "store", *FAST, "--out", str(tmp_path / "a")])
    assert r.exit_code == 1 and r.output.strip().startswith("Error: ") and "duplicate" in r.output
    assert len(r.output.strip().splitlines()) == 1 and not (tmp_path / "a").exists()
    r = runner.invoke(main, ["train", "--csv", str(panel_csv), "--id-column", "store", "--horizon", "20",
                             *FAST, "--out", str(tmp_path / "b")])
    assert r.exit_code == 1 and "no series is long enough" in r.output and not (tmp_path / "b").exists()
    assert "Traceback" not in r.output


def test_shipped_panel_names_agree():
    assert list(cli_panel.PANELS) == datasets.panel_names() == list(panel_job.PANEL_DEFAULTS)


def test_a_damaged_panel_run_is_refused(tmp_path):
    (tmp_path / "panel.json").write_text('{"kind": "something else"}')
    with pytest.raises(ff.RunError, match="not a fastrnn panel run"):
        panel_runs.load(tmp_path)
