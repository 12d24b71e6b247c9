"""``fastrnn train``, ``fastrnn predict`` and ``fastrnn datasets`` through click's CliRunner.

Training runs use a tiny model and a couple of epochs: these tests check the plumbing (options,
artefacts, error handling), not the forecast quality (that is scripts/select_forecast_defaults.py
and the README's figures).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import fastrnn as fr
from fastrnn import forecast as fc
from fastrnn.cli import forecast as cli_forecast
from fastrnn.cli import main
from fastrnn.forecast import baselines, datasets, runs
from fastrnn.forecast import panel_baselines as PB

FAST = ["--epochs", "2", "--hidden", "4", "--no-plot"]
METRIC_KEYS = {"dataset", "model", "look_back", "n_test", "test_start", "test", "baselines",
               "train_seconds", "epochs_run"}


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(main, [str(a) for a in args])


def assert_clean_error(result, *words, code=None):
    """Non-zero exit, SystemExit (no traceback), one 'Error:' line that names ``words``."""
    assert result.exit_code != 0, result.output
    if code is not None:
        assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for w in words:
        assert w in errors[0], (w, errors[0])
    return errors[0]


def write_csv(path, text):
    path.write_text(text)
    return path


@pytest.fixture
def monthly_csv(tmp_path):
    """Five years of a monthly series with a trend and a season."""
    dates = pd.date_range("2015-01-01", periods=60, freq="MS")
    t = np.arange(60)
    value = 100 + 2 * t + 15 * np.sin(2 * np.pi * t / 12)
    df = pd.DataFrame({"month": dates.strftime("%Y-%m"), "sales": value.round(2), "store": 1})
    path = tmp_path / "sales.csv"
    df.to_csv(path, index=False)
    return path


# --- help and listing ---------------------------------------------------------------------------


def test_commands_are_listed(runner):
    result = invoke(runner, "--help")
    assert result.exit_code == 0
    for name in ("train", "predict", "datasets"):
        assert name in result.output


def test_train_help_shows_the_defaults_table(runner):
    result = invoke(runner, "train", "--help")
    assert result.exit_code == 0, result.output
    assert "--look-back" in result.output and "Defaults" in result.output
    for name in ("airline", "temperature", "stock", "--csv"):
        assert any(line.strip().startswith(name) for line in result.output.splitlines()), name


def test_choices_match_the_library():
    assert cli_forecast.MODEL_CHOICES == fc.MODELS
    assert cli_forecast.TRANSFORM_CHOICES == fc.TRANSFORMS
    assert cli_forecast.SCALER_CHOICES == fc.SCALERS
    assert cli_forecast.OPTIMIZER_CHOICES == fc.OPTIMIZERS


def test_datasets_lists_every_shipped_dataset(runner):
    result = invoke(runner, "datasets")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["name", "rows", "from", "to"]
    for d in datasets.info():
        row = next(line for line in lines if line.startswith(d["name"] + " "))
        assert str(d["rows"]) in row and d["start"] in row and d["end"] in row
        assert d["source"] in row


# --- training on each dataset -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["airline", "temperature", "stock"])
def test_train_each_dataset(runner, tmp_path, name):
    out = tmp_path / "run"
    # two members (the defaults have five): still an ensemble, merged into the model.npz checked below
    # statsforecast's baselines on temperature take ~45 s: scored here on the shorter series only
    slow = ["--no-statistical"] if name == "temperature" else []
    result = invoke(runner, "train", "--dataset", name, *FAST, *slow, "--ensemble", "2", "--out", out)
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(out)) == ["metrics.json", "model.npz", "preprocessing.json"]
    assert sorted(os.listdir(tmp_path)) == ["run"]  # no temporary folder left beside it

    m = json.loads((out / "metrics.json").read_text())
    assert METRIC_KEYS <= set(m)
    assert m["dataset"] == name and m["epochs_run"] <= 2 and m["hidden"] == 4 and m["ensemble"] == 2
    statistical = set(baselines.STATISTICAL) if PB.statsforecast_available() and not slow else set()
    assert set(m["baselines"]) == {"persistence", "seasonal_naive", "linear_ar"} | statistical
    assert (m["baselines"]["seasonal_naive"] is None) == (name == "stock")

    # The printed table has the model and the baselines with the numbers of metrics.json.
    out_text = result.output
    assert "RMSE" in out_text and "MAE" in out_text and "persistence" in out_text
    assert f"linear AR({m['look_back']})" in out_text
    assert ("seasonal naive" in out_text) == (name != "stock")
    assert cli_forecast._fmt(m["test"]["rmse"]) in out_text
    assert "s/epoch" in out_text

    # Baselines equal baselines.evaluate on the same prepared data.
    cfg = fc.TrainConfig(**m["config"])
    prep = fc.prepare_series(fc.load_series(cfg), cfg)
    assert {k: m["baselines"][k] for k in baselines.NAMES} == baselines.evaluate(prep)
    assert m["n_test"] == len(prep.y_test)
    assert m["test_start"] == str(prep.target_dates("test")[0].date())

    # The saved model loads and reproduces the test score.
    model = fr.load(out / "model.npz")
    pred = prep.inverse(fc.predict_mean(model, prep.X_test), "test")
    assert baselines.rmse(prep.targets("test"), pred) == pytest.approx(m["test"]["rmse"], rel=1e-6)


def test_train_without_arguments_trains_the_airline_default(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # The wiring under test is "no arguments -> DEFAULTS['airline']": the real entry (LSTM 64,
    # look-back 13, ...) with a short training (2 epochs, one member), so the test does not train
    # the full five-member default for minutes; every value asserted below comes from this entry.
    d = dict(fc.DEFAULTS["airline"], epochs=2, ensemble=1)
    monkeypatch.setitem(fc.DEFAULTS, "airline", d)
    result = runner.invoke(main, ["train", "--no-plot"])
    assert result.exit_code == 0, result.output
    (run,) = os.listdir("runs")
    label = "+".join(d.get("combine", ())) or d["model"]  # a default combination names the folder
    assert run.startswith(f"airline-{label}-")
    m = json.loads(open(os.path.join("runs", run, "metrics.json")).read())
    assert m["dataset"] == "airline" and m["model"] == d["model"]
    assert m.get("combine", {}).get("members", []) == list(d.get("combine", ()))
    assert m["config"]["hidden"] == d["hidden"] and m["look_back"] == d["look_back"]
    assert m["config"]["epochs"] == d["epochs"] and m["ensemble"] == d["ensemble"]
    assert m["config"]["lr"] == d["lr"] and m["transform"] == d["transform"]


def test_train_options_reach_the_model(runner, tmp_path):
    out = tmp_path / "r"
    result = invoke(runner, "train", "--model", "rnn", "--layers", "2", "--hidden", "3",
                    "--look-back", "6", "--epochs", "1", "--batch-size", "8", "--lr", "0.005",
                    "--optimizer", "sgd", "--clip-norm", "0", "--patience", "0", "--seed", "7",
                    "--dtype", "float64", "--backend", "numpy", "--transform", "diff",
                    "--scaler", "minmax", "--start", "1950", "--end", "1959-12", "--no-plot", "--ensemble", "1",
                    "--out", out)
    assert result.exit_code == 0, result.output
    cfg = fr.load(out / "model.npz").config()
    assert (cfg["kind"], cfg["num_layers"], cfg["hidden_size"], cfg["dtype"], cfg["backend"],
            cfg["seed"]) == ("rnn", 2, 3, "float64", "numpy", 7)
    m = json.loads((out / "metrics.json").read_text())
    c = m["config"]
    assert (c["look_back"], c["batch_size"], c["lr"], c["optimizer"], c["clip_norm"], c["patience"],
            c["transform"], c["scaler"]) == (6, 8, 0.005, "sgd", None, 0, "diff", "minmax")
    assert m["data_start"] == "1950-01-01" and m["data_end"] == "1959-12-01"
    pre = json.loads((out / "preprocessing.json").read_text())
    assert pre["source"] == {"dataset": "airline", "csv": None, "column": None, "date_column": None,
                             "start": "1950", "end": "1959-12"}
    assert pre["scaler"]["name"] == "minmax" and pre["look_back"] == 6


def test_two_default_runs_never_share_a_folder(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        result = runner.invoke(main, ["train", *FAST])
        assert result.exit_code == 0, result.output
    runs = sorted(os.listdir("runs"))
    assert len(runs) == 2 and all(len(os.listdir(os.path.join("runs", r))) == 3 for r in runs)


def test_plots_are_written(runner, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "r"
    result = invoke(runner, "train", "--epochs", "2", "--hidden", "4", "--out", out)
    assert result.exit_code == 0, result.output
    for png in ("loss.png", "forecast.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_matplotlib_the_plots_are_skipped_with_one_note(runner, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out = tmp_path / "r"
    result = invoke(runner, "train", "--epochs", "1", "--hidden", "4", "--out", out)
    assert result.exit_code == 0, result.output
    assert result.output.count("matplotlib is not installed") == 1
    assert "fastrnn[plot]" in result.output
    assert not any(p.suffix == ".png" for p in out.iterdir())


def test_train_on_a_csv(runner, tmp_path, monthly_csv):
    out = tmp_path / "r"
    result = invoke(runner, "train", "--csv", monthly_csv, "--column", "sales", *FAST, "--out", out)
    assert result.exit_code == 0, result.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["dataset"] == "sales" and m["season"] == 12 and m["look_back"] == 13  # generic: season + 1
    assert m["baselines"]["seasonal_naive"] is not None
    pre = json.loads((out / "preprocessing.json").read_text())
    assert pre["source"]["csv"] == str(monthly_csv.resolve()) and pre["source"]["column"] == "sales"


# --- predict ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def airline_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "airline"
    result = CliRunner().invoke(main, ["train", *FAST, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def forecast_rows(output):
    lines = output.splitlines()
    i = next(k for k, line in enumerate(lines) if line.split()[-1:] == ["forecast"])
    rows = []
    for line in lines[i + 1:]:
        parts = line.split()
        try:
            rows.append((parts[0], float(parts[1])))
        except (IndexError, ValueError):
            break
    return rows


def test_predict_prints_n_steps(runner, airline_run):
    result = invoke(runner, "predict", "--model", airline_run, "--steps", "5")
    assert result.exit_code == 0, result.output
    rows = forecast_rows(result.output)
    assert [d for d, _ in rows] == ["1961-01-01", "1961-02-01", "1961-03-01", "1961-04-01", "1961-05-01"]
    expected = fc.forecast(fc.load_run(airline_run), datasets.load("airline").values, 5)
    np.testing.assert_allclose([v for _, v in rows], expected, rtol=1e-5)


def test_predict_accepts_the_model_file_and_writes_csv(runner, airline_run, tmp_path):
    target = tmp_path / "next.csv"
    result = invoke(runner, "predict", "--model", airline_run / "model.npz", "--steps", "3",
                    "--output", target)
    assert result.exit_code == 0, result.output
    df = pd.read_csv(target)
    assert list(df.columns) == ["date", "forecast"] and len(df) == 3
    assert os.listdir(tmp_path) == ["next.csv"]
    np.testing.assert_allclose(df["forecast"], [v for _, v in forecast_rows(result.output)], rtol=1e-5)


def test_predict_with_another_range_of_the_data(runner, airline_run):
    result = invoke(runner, "predict", "--model", airline_run, "--end", "1958-12", "--steps", "2")
    assert result.exit_code == 0, result.output
    assert [d for d, _ in forecast_rows(result.output)] == ["1959-01-01", "1959-02-01"]


def test_predict_from_a_csv_run_without_dates(runner, tmp_path):
    csv = write_csv(tmp_path / "plain.csv", "value\n" + "\n".join(str(10 + (k % 7)) for k in range(80)))
    out = tmp_path / "r"
    result = invoke(runner, "train", "--csv", csv, *FAST, "--look-back", "5", "--out", out)
    assert result.exit_code == 0, result.output
    result = invoke(runner, "predict", "--model", out, "--steps", "4")
    assert result.exit_code == 0, result.output
    assert [k for k, _ in forecast_rows(result.output)] == ["1", "2", "3", "4"]
    csv.rename(tmp_path / "moved.csv")
    assert_clean_error(invoke(runner, "predict", "--model", out), "plain.csv", "is gone", "--csv")
    result = invoke(runner, "predict", "--model", out, "--csv", tmp_path / "moved.csv", "--steps", "2")
    assert result.exit_code == 0, result.output


# --- bad input: one line, non-zero exit, no traceback, nothing left behind -----------------------


def test_missing_csv_file(runner, tmp_path):
    result = invoke(runner, "train", "--csv", tmp_path / "nope.csv", *FAST, "--out", tmp_path / "r")
    assert_clean_error(result, "CSV file not found", "nope.csv", "--csv")
    assert not (tmp_path / "r").exists()


def test_missing_column_lists_the_columns(runner, tmp_path, monthly_csv):
    result = invoke(runner, "train", "--csv", monthly_csv, "--column", "revenue", *FAST,
                    "--out", tmp_path / "r")
    assert_clean_error(result, "'revenue'", "month, sales, store", "--column")
    assert not (tmp_path / "r").exists()


def test_ambiguous_value_column_asks_for_column(runner, tmp_path):
    csv = write_csv(tmp_path / "two.csv", "a,b\n" + "\n".join(f"{k},{2 * k}" for k in range(50)))
    assert_clean_error(invoke(runner, "train", "--csv", csv, *FAST), "several numeric columns", "--column")


def test_non_numeric_values_give_line_numbers(runner, tmp_path):
    lines = [f"2000-01-{d:02d},{d}.5" for d in range(1, 29)]
    lines[3] = "2000-01-04,n/a"
    lines[9] = "2000-01-10,12,5"
    csv = write_csv(tmp_path / "bad.csv", "Date,Temp\n" + "\n".join(lines))
    result = invoke(runner, "train", "--csv", csv, *FAST, "--out", tmp_path / "r")
    # line 12 has an extra field: pandas reports it as unreadable, or the value is non-numeric
    msg = assert_clean_error(result, "bad.csv")
    assert "line" in msg
    csv = write_csv(tmp_path / "bad2.csv", "Date,Temp\n" + "\n".join(
        f"2000-01-{d:02d},{'x' if d in (4, 10) else d}" for d in range(1, 29)))
    assert_clean_error(invoke(runner, "train", "--csv", csv, *FAST), "non-numeric", "lines 5, 11")
    assert not (tmp_path / "r").exists()


def test_missing_values_give_line_numbers(runner, tmp_path):
    csv = write_csv(tmp_path / "gaps.csv", "Date,Temp\n" + "\n".join(
        f"2000-01-{d:02d},{'' if d == 7 else d}" for d in range(1, 29)))
    assert_clean_error(invoke(runner, "train", "--csv", csv, *FAST), "missing values", "line 8")


def test_series_too_short(runner, tmp_path):
    csv = write_csv(tmp_path / "short.csv", "value\n" + "\n".join(str(k) for k in range(20)))
    result = invoke(runner, "train", "--csv", csv, *FAST, "--look-back", "12", "--out", tmp_path / "r")
    assert_clean_error(result, "too short", "20", "--look-back")
    assert not (tmp_path / "r").exists()


def test_unknown_dataset(runner, tmp_path):
    result = invoke(runner, "train", "--dataset", "sunspots", *FAST, "--out", tmp_path / "r")
    assert_clean_error(result, "unknown dataset 'sunspots'", "airline, temperature, stock")
    assert not (tmp_path / "r").exists()


def test_bad_date_range(runner):
    assert_clean_error(invoke(runner, "train", "--start", "soon", *FAST), "--start", "not a date")
    assert_clean_error(invoke(runner, "train", "--start", "1990", *FAST), "no rows", "1949")


def test_log_of_non_positive_values(runner, tmp_path):
    csv = write_csv(tmp_path / "neg.csv", "value\n" + "\n".join(str(k - 10) for k in range(80)))
    assert_clean_error(invoke(runner, "train", "--csv", csv, "--transform", "log", *FAST),
                       "log transform needs positive values")


def test_unwritable_out(runner, tmp_path):
    (tmp_path / "file").write_text("x")
    result = invoke(runner, "train", *FAST, "--out", tmp_path / "file" / "run")
    assert_clean_error(result, "cannot write", "--out")
    result = invoke(runner, "train", *FAST, "--out", tmp_path / "file")
    assert_clean_error(result, "not a folder")
    assert sorted(os.listdir(tmp_path)) == ["file"]


def test_existing_non_empty_out_is_refused_and_untouched(runner, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = invoke(runner, "train", *FAST, "--out", out)
    assert_clean_error(result, "not empty", str(out))
    assert os.listdir(out) == ["notes.txt"]
    assert sorted(os.listdir(tmp_path)) == ["run"]


def test_existing_empty_out_is_used(runner, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    result = invoke(runner, "train", *FAST, "--out", out)
    assert result.exit_code == 0, result.output
    assert "model.npz" in os.listdir(out) and sorted(os.listdir(tmp_path)) == ["run"]


def test_failure_during_training_leaves_nothing(runner, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise ValueError("loss exploded; try a lower --lr")

    monkeypatch.setattr(fc, "train", fail)
    result = invoke(runner, "train", *FAST, "--out", tmp_path / "deep" / "run")
    assert_clean_error(result, "loss exploded")
    assert os.listdir(tmp_path) == []


def test_failure_while_writing_leaves_nothing(runner, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device", "metrics.json")

    monkeypatch.setattr(runs, "_write_json", fail)  # what write_files writes with
    result = invoke(runner, "train", *FAST, "--out", tmp_path / "run")
    assert_clean_error(result, "No space left on device")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("args, words", [
    (["--dataset", "airline", "--csv", "x.csv"], ["--dataset or --csv"]),
    (["--column", "Passengers"], ["--column", "--csv"]),
    (["--model", "transformer"], ["--model"]),
    (["--hidden", "0"], ["--hidden"]),
    (["--lr", "0"], ["--lr"]),
    (["--transform", "sqrt"], ["--transform"]),
])
def test_option_misuse_is_a_usage_error(runner, args, words):
    result = invoke(runner, "train", *args, "--epochs", "1")
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    for w in words:
        assert w in result.output


def test_predict_errors(runner, tmp_path, airline_run):
    assert_clean_error(invoke(runner, "predict", "--model", tmp_path / "nothing"), "does not exist",
                       "fastrnn train")
    assert_clean_error(invoke(runner, "predict", "--model", tmp_path), "no model.npz")
    assert_clean_error(invoke(runner, "predict", "--model", airline_run, "--dataset", "nope"),
                       "unknown dataset")
    assert_clean_error(invoke(runner, "predict", "--model", airline_run, "--csv", tmp_path / "x.csv"),
                       "CSV file not found")
    short = write_csv(tmp_path / "short.csv", "value\n1\n2\n3\n")
    assert_clean_error(invoke(runner, "predict", "--model", airline_run, "--csv", short),
                       "needs the last", "longer series")
    assert_clean_error(invoke(runner, "predict", "--model", airline_run, "--output", tmp_path),
                       "--output")
    result = invoke(runner, "predict", "--model", airline_run, "--steps", "0")
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)


def test_debug_shows_the_original_exception(runner, tmp_path):
    result = invoke(runner, "--debug", "train", "--dataset", "nope", *FAST, "--out", tmp_path / "r")
    assert result.exit_code == 1
    assert type(result.exception).__name__ == "DataError"
    assert not (tmp_path / "r").exists()


def test_errors_are_click_exceptions_without_the_group():
    """The commands do their own conversion: no reliance on the group's safety net."""
    result = CliRunner().invoke(cli_forecast.train, ["--dataset", "nope", *FAST])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output.startswith("Error: unknown dataset")
