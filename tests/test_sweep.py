"""``fastrnn sweep`` and :func:`fastrnn.forecast.sweep`: grid parsing, sampling, validation-only
scoring, the files, results independent of ``--jobs``, the best equal to ``fastrnn train``, and
interruptions. Tiny models and grids: these check the plumbing, not the forecasts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import fastrnn as fr
from fastrnn.cli import main
from fastrnn.forecast import sweeps

SERIES_FIXED = ["--epochs", "2", "--ensemble", "1", "--look-back", "6", "--batch-size", "16"]
PANEL_FIXED = ["--horizon", "4", "--epochs", "2", "--patience", "0", "--look-back", "4"]
POSIX = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error(result, *words, code):
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and len(result.output.strip().splitlines()) == 1, result.output
    for w in words:
        assert w in errors[0], (w, errors[0])


def series_csv(path, n=120, test_change=None):
    """A monthly series with a trend and a season; ``test_change`` is added to its last 20 values
    (inside the test part, the last 33 % of the points)."""
    t = np.arange(n)
    y = 100 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(1).normal(0, 1, n)
    if test_change is not None:
        y[-20:] += test_change
    pd.DataFrame({"month": pd.date_range("2000-01-01", periods=n, freq="MS").strftime("%Y-%m-%d"),
                  "sales": y}).to_csv(path, index=False)
    return path


def panel_frame(test_change=None):
    """Four quarterly series of different lengths; ``test_change`` is added to the last 4 points of
    every series (the test origin's window, horizon 4)."""
    r = np.random.default_rng(0)
    rows = []
    for k in range(4):
        m = 40 - 3 * k
        t = np.arange(m)
        y = 10 + 3 * k + (1 + k) * np.sin(2 * np.pi * t / 4) + 0.05 * t + r.normal(0, 0.1, m)
        if test_change is not None:
            y[-4:] += test_change
        rows += [(f"s{k}", d, v) for d, v in zip(pd.date_range("2000-01-01", periods=m, freq="QS"), y)]
    return pd.DataFrame(rows, columns=["store", "date", "units"])


def panel_csv(path, test_change=None):
    panel_frame(test_change).to_csv(path, index=False)
    return path


def without_time(path):
    return pd.read_csv(path).drop(columns="seconds")


# --- the grid -------------------------------------------------------------------------------------


def test_a_grid_is_parsed_to_the_fields_types():
    g = sweeps.parse_grid(" hidden=16,32 ; lr=1e-3,3e-3;calendar=true,no; clip_norm=none,1;transform=none,log+diff;")
    assert g == {"hidden": [16, 32], "lr": [1e-3, 3e-3], "calendar": [True, False], "clip_norm": [None, 1.0],
                 "transform": ["none", "log+diff"]}
    assert all(type(v) is int for v in g["hidden"]) and all(type(v) is float for v in g["lr"])
    p = sweeps.parse_grid("strategy=global,local;multi=direct;window_level=0,1;look-back=4,8", "panel")
    assert p == {"strategy": ["global", "local"], "multi": ["direct"], "window_level": [False, True],
                 "look_back": [4, 8]}
    assert sweeps.parse_grid({"hidden": 8, "lr": [0.01]}) == {"hidden": [8], "lr": [0.01]}


@pytest.mark.parametrize("grid, kind, words", [
    ("", "series", ["the grid is empty"]),
    (" ; ", "series", ["the grid is empty"]),
    ("hidden", "series", ["'hidden' has no '='", "KEY=V1,V2"]),
    ("hiden=4", "series", ["unknown grid key 'hiden'", "hidden, layers, look_back"]),
    ("seed=1,2", "series", ["unknown grid key 'seed'"]),
    ("csv=a.csv", "series", ["unknown grid key 'csv'"]),
    ("strategy=global", "series", ["unknown grid key 'strategy'", "for a single series"]),
    ("optimizer=sgd", "panel", ["unknown grid key 'optimizer'", "for a panel", "window_level"]),
    ("hidden=4;hidden=8", "series", ["'hidden' is given twice", "hidden=4,..."]),
    ("hidden=4,,8", "series", ["'hidden' has an empty value"]),
    ("hidden=", "series", ["'hidden' has an empty value"]),
    ("hidden=4,4", "series", ["lists the value 4 twice"]),
    ("hidden=4.5", "series", ["hidden=4.5 is not an integer", "takes integers"]),
    ("hidden=0", "series", ["hidden=0", "must be an integer >= 1"]),
    ("lr=abc", "series", ["lr=abc is not a number"]),
    ("lr=nan", "series", ["lr=nan is not a number"]),
    ("lr=-1", "series", ["lr=-1", "lr must be a positive number"]),
    ("model=lstm,xyz", "series", ["model=xyz", "model must be one of"]),
    ("calendar=maybe", "series", ["calendar=maybe is not true or false"]),
    ("transform=log+diff", "panel", ["transform=log+diff", "transform must be one of none, log"]),
    ("strategy=auto", "panel", ["strategy=auto", "strategy must be one of global, local"]),
])
def test_every_bad_grid_is_refused_naming_the_key(grid, kind, words):
    with pytest.raises(sweeps.GridError) as info:
        sweeps.parse_grid(grid, kind)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


@pytest.mark.parametrize("args, words", [
    (["--grid", "hiden=4"], ["--grid: unknown grid key 'hiden'", "look_back"]),
    (["--grid", "hidden=4,4"], ["--grid:", "twice"]),
    (["--grid", "hidden=4,8", "--hidden", "4"], ["--hidden and --grid both set hidden", "one place"]),
    (["--grid", "look_back=4,8", "--look-back", "4"], ["--look-back and --grid both set look_back"]),
])
def test_a_bad_grid_on_the_command_line_is_one_line_exit_2_nothing_written(tmp_path, args, words):
    out = tmp_path / "sweep"
    one_error(invoke("sweep", *args, "--out", out), *words, code=2)
    assert not out.exists() and os.listdir(tmp_path) == []


@pytest.mark.parametrize("args, words, code", [
    (["--dataset", "airline", "--horizon", "3"], ["--horizon goes with a panel"], 2),
    (["--windows", "1"], ["--windows 1: a panel sweep needs at least 2 origins"], 2),
    (["--strategy", "auto"], ["--strategy auto is a choice on validation", "strategy=... in --grid"], 2),
    (["--ensemble", "2"], ["--ensemble does not apply to a panel"], 2),
])
def test_option_misuse_is_one_line(tmp_path, args, words, code):
    extra = [] if "--dataset" in args else ["--csv", panel_csv(tmp_path / "p.csv"), "--id-column", "store"]
    r = CliRunner().invoke(main, ["sweep", *map(str, extra), *args, "--grid", "hidden=4,8",
                                  "--out", str(tmp_path / "x")])
    assert r.exit_code == code, r.output
    assert any(all(w in line for w in words) for line in r.output.splitlines() if line.startswith("Error:")), r.output
    assert not (tmp_path / "x").exists()


def test_a_candidate_the_data_cannot_take_is_named_before_any_training(tmp_path):
    csv = series_csv(tmp_path / "s.csv")
    out = tmp_path / "sweep"
    one_error(invoke("sweep", "--csv", csv, "--grid", "look_back=6,500", *SERIES_FIXED[:4], "--out", out),
              "candidate look_back=500", "series too short", code=1)
    assert os.listdir(tmp_path) == ["s.csv"]  # no folder, no hidden staging folder
    pcsv = panel_csv(tmp_path / "p.csv")
    one_error(invoke("sweep", "--csv", pcsv, "--id-column", "store", "--horizon", "4", "--grid", "look_back=4,30",
                     "--out", out), "with the grid's largest look_back, 30: no series is long enough", code=1)
    assert sorted(os.listdir(tmp_path)) == ["p.csv", "s.csv"]


# --- sampling -------------------------------------------------------------------------------------


def test_samples_are_distinct_reproducible_and_in_grid_order():
    grid = sweeps.parse_grid("hidden=4,8,16;lr=1e-3,3e-3,1e-2;layers=1,2")
    whole, index, total = sweeps.grid_candidates(grid)
    assert total == 18 and index == list(range(18)) and len(whole) == 18
    assert whole[0] == {"hidden": 4, "lr": 1e-3, "layers": 1} and whole[1] == {"hidden": 4, "lr": 1e-3, "layers": 2}
    assert whole[-1] == {"hidden": 16, "lr": 1e-2, "layers": 2}
    draws = [sweeps.grid_candidates(grid, samples=5, seed=s) for s in range(6)]
    for cands, idx, n in draws:
        assert n == 18 and len(set(idx)) == 5 and idx == sorted(idx)
        assert cands == [whole[i] for i in idx]
    assert sweeps.grid_candidates(grid, samples=5, seed=3) == draws[3]  # the same seed, the same draw
    assert len({tuple(d[1]) for d in draws}) > 1  # the seed decides the draw
    assert sweeps.grid_candidates(grid, samples=50, seed=0)[1] == list(range(18))
    with pytest.raises(ValueError, match="samples must be an integer >= 1"):
        sweeps.grid_candidates(grid, samples=0)


# --- single series, end to end -----------------------------------------------------------------


@pytest.fixture(scope="module")
def series_sweep(tmp_path_factory):
    """One sweep through the CLI on a CSV series, kept for several tests."""
    tmp = tmp_path_factory.mktemp("series")
    csv = series_csv(tmp / "sales.csv")
    out = tmp / "sweep1"
    r = invoke("sweep", "--csv", csv, "--grid", "hidden=3,5;lr=1e-3,1e-2", *SERIES_FIXED, "--out", out, "--jobs", "1")
    assert r.exit_code == 0, r.output
    return tmp, csv, out, r.output


def test_a_series_sweep_writes_the_table_the_plot_and_a_usable_best_run(series_sweep):
    tmp, csv, out, output = series_sweep
    assert sorted(os.listdir(out)) == ["best", "sweep.csv", "sweep.png"]
    assert {"model.npz", "metrics.json", "preprocessing.json"} <= set(os.listdir(out / "best"))
    t = pd.read_csv(out / "sweep.csv")
    assert list(t.columns) == ["candidate", "hidden", "lr", "val_rmse", "seconds", "epochs", "rank"]
    assert list(t.candidate) == [0, 1, 2, 3] and list(t.hidden) == [3, 3, 5, 5]
    assert sorted(t["rank"]) == [1, 2, 3, 4] and (t.epochs == 2).all()
    best = t[t["rank"] == 1].iloc[0]
    assert best.val_rmse == t.val_rmse.min()
    assert list(t.sort_values("rank").val_rmse) == sorted(t.val_rmse)
    import json

    m = json.loads((out / "best" / "metrics.json").read_text())
    assert m["hidden"] == best.hidden and m["config"]["lr"] == best.lr
    assert m["val"]["rmse"] == pytest.approx(best.val_rmse, rel=1e-9)  # the same fit as the candidate's
    assert "Sweep: 4 candidates, ranked by validation RMSE" in output
    assert f"Best: hidden={int(best.hidden)} lr={best.lr:g}; refitted and tested once" in output
    assert "persistence" in output and "linear AR(6)" in output
    p = invoke("predict", "--model", out / "best", "--steps", "3")
    assert p.exit_code == 0, p.output
    assert len(p.output.strip().splitlines()) == 1 + 1 + 3


def test_jobs_do_not_change_the_sweep(series_sweep):
    tmp, csv, out, _ = series_sweep
    out2 = tmp / "sweep2"
    r = invoke("sweep", "--csv", csv, "--grid", "hidden=3,5;lr=1e-3,1e-2", *SERIES_FIXED, "--out", out2,
               "--jobs", "2", "--no-plot")
    assert r.exit_code == 0, r.output
    pd.testing.assert_frame_equal(without_time(out / "sweep.csv"), without_time(out2 / "sweep.csv"))
    a, b = np.load(out / "best" / "model.npz"), np.load(out2 / "best" / "model.npz")
    assert sorted(a.files) == sorted(b.files) and all(np.array_equal(a[k], b[k]) for k in a.files)


def test_the_best_run_is_what_fastrnn_train_gives_with_its_settings(series_sweep):
    tmp, csv, out, _ = series_sweep
    best = pd.read_csv(out / "sweep.csv").query("rank == 1").iloc[0]
    run = tmp / "train"
    r = invoke("train", "--csv", csv, *SERIES_FIXED, "--hidden", int(best.hidden), "--lr", repr(float(best.lr)),
               "--out", run, "--no-plot")
    assert r.exit_code == 0, r.output
    a, b = np.load(out / "best" / "model.npz"), np.load(run / "model.npz")
    assert sorted(a.files) == sorted(b.files)
    for k in a.files:
        assert np.array_equal(a[k], b[k]), k
    import json

    ms, mt = (json.loads((d / "metrics.json").read_text()) for d in (out / "best", run))
    assert ms["test"] == mt["test"] and ms["val"] == mt["val"] and ms["baselines"] == mt["baselines"]


def test_the_test_part_is_never_used_for_a_choice(tmp_path):
    """Changing the test part changes the best's test score, and nothing in the sweep table."""
    runs = {}
    for name, change in (("same", None), ("changed", 50.0)):
        csv = series_csv(tmp_path / f"{name}.csv", test_change=change)
        out = tmp_path / f"sweep-{name}"
        r = invoke("sweep", "--csv", csv, "--grid", "hidden=3,5;lr=1e-3,1e-2", *SERIES_FIXED, "--out", out,
                   "--no-plot", "--jobs", "1")
        assert r.exit_code == 0, r.output
        runs[name] = out
    pd.testing.assert_frame_equal(without_time(runs["same"] / "sweep.csv"), without_time(runs["changed"] / "sweep.csv"))
    import json

    test = [json.loads((runs[k] / "best" / "metrics.json").read_text())["test"]["rmse"] for k in runs]
    assert test[0] != test[1]  # the change did reach the test part


def test_samples_larger_than_the_grid_sweep_it_whole_with_one_note(tmp_path):
    csv = series_csv(tmp_path / "s.csv")
    r = invoke("sweep", "--csv", csv, "--grid", "hidden=3,4", "--samples", "5", *SERIES_FIXED, "--out",
               tmp_path / "o", "--no-plot", "--jobs", "1")
    assert r.exit_code == 0, r.output
    notes = [line for line in r.output.splitlines() if line.startswith("Note:") and "statsforecast" not in line]
    assert notes == ["Note: --samples 5 is not less than the grid's 2 candidates: the whole grid is swept"]
    assert len(pd.read_csv(tmp_path / "o" / "sweep.csv")) == 2


def test_without_matplotlib_one_note_and_no_png(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    csv = series_csv(tmp_path / "s.csv")
    r = invoke("sweep", "--csv", csv, "--grid", "hidden=3,4", *SERIES_FIXED, "--out", tmp_path / "o", "--jobs", "1")
    assert r.exit_code == 0, r.output
    assert r.output.count("matplotlib is not installed") == 1
    assert sorted(os.listdir(tmp_path / "o")) == ["best", "sweep.csv"]
    assert not any(f.endswith(".png") for f in os.listdir(tmp_path / "o" / "best"))


def test_the_library_call_in_five_lines(tmp_path):
    import fastrnn.forecast as ff

    result = ff.sweep("airline", "hidden=3,4", epochs=1, ensemble=1, n_jobs=1)
    assert list(result.table.hidden) == [3, 4] and result.metric == "val_rmse"
    assert result.best.metrics["hidden"] == result.settings["hidden"] == result.config.hidden
    path, note = result.save(tmp_path / "s", plot=False)
    assert path == tmp_path / "s" and note is None
    assert sorted(os.listdir(path)) == ["best", "sweep.csv"]
    with pytest.raises(sweeps.GridError, match="hidden is both in the grid and a fixed setting"):
        ff.sweep("airline", "hidden=3,4", hidden=3)


# --- panels -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def panel_sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("panel")
    csv = panel_csv(tmp / "stores.csv")
    out = tmp / "sweep"
    r = invoke("sweep", "--csv", csv, "--id-column", "store", *PANEL_FIXED, "--grid",
               "strategy=global,local;hidden=3,5", "--out", out, "--jobs", "1", "--no-plot")
    assert r.exit_code == 0, r.output
    return tmp, csv, out, r.output


def test_a_panel_sweep_scores_validation_origins_and_writes_a_panel_run(panel_sweep):
    tmp, csv, out, output = panel_sweep
    assert sorted(os.listdir(out)) == ["best", "sweep.csv"]
    assert {"model.npz", "panel.json", "metrics.json", "forecasts.csv"} <= set(os.listdir(out / "best"))
    t = pd.read_csv(out / "sweep.csv")
    assert list(t.columns) == ["candidate", "strategy", "hidden", "val_mase", "seconds", "epochs", "rank"]
    assert list(t.strategy) == ["global", "global", "local", "local"] and sorted(t["rank"]) == [1, 2, 3, 4]
    assert (t.epochs[t.strategy == "local"] == 4 * 2).all()  # one model per series, 2 epochs each
    assert "ranked by mean validation MASE" in output and "seasonal naive" in output
    p = invoke("predict", "--model", out / "best", "--csv", csv, "--id-column", "store")
    assert p.exit_code == 0, p.output
    assert p.output.splitlines()[0] == "id,date,step,forecast" and len(p.output.strip().splitlines()) == 1 + 16


def test_the_best_panel_run_is_what_fastrnn_train_gives(panel_sweep):
    tmp, csv, out, _ = panel_sweep
    best = pd.read_csv(out / "sweep.csv").query("rank == 1").iloc[0]
    run = tmp / "train"
    r = invoke("train", "--csv", csv, "--id-column", "store", *PANEL_FIXED, "--windows", "2", "--strategy",
               best.strategy, "--multi", "direct", "--hidden", int(best.hidden), "--out", run, "--no-plot")
    assert r.exit_code == 0, r.output
    a, b = np.load(out / "best" / "model.npz"), np.load(run / "model.npz")
    assert sorted(a.files) == sorted(b.files) and all(np.array_equal(a[k], b[k]) for k in a.files)


def test_a_panel_sweep_never_uses_the_test_origin(panel_sweep, tmp_path):
    _, _, out, _ = panel_sweep
    csv = panel_csv(tmp_path / "changed.csv", test_change=5.0)
    out2 = tmp_path / "sweep"
    r = invoke("sweep", "--csv", csv, "--id-column", "store", *PANEL_FIXED, "--grid",
               "strategy=global,local;hidden=3,5", "--out", out2, "--jobs", "1", "--no-plot")
    assert r.exit_code == 0, r.output
    pd.testing.assert_frame_equal(without_time(out / "sweep.csv"), without_time(out2 / "sweep.csv"))
    import json

    mase = [json.loads((o / "best" / "metrics.json").read_text())["test"]["model"]["mase"] for o in (out, out2)]
    assert mase[0] != mase[1]


def test_a_panel_library_sweep_on_a_frame():
    import fastrnn.forecast as ff

    df = panel_frame().rename(columns={"store": "unique_id", "date": "ds", "units": "y"})
    result = ff.sweep(df, {"hidden": [3, 4]}, horizon=4, epochs=1, look_back=4, patience=0, n_jobs=1)
    assert result.kind == "panel" and list(result.table.hidden) == [3, 4]
    assert result.best.config.hidden == result.settings["hidden"]
    assert isinstance(result.best.fitted.model, fr.models.LSTM)
    with pytest.raises(ValueError, match="windows >= 2"):
        ff.sweep(df, {"hidden": [3]}, horizon=4, windows=1)


# --- interruptions ------------------------------------------------------------------------------


def _default_signals():
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


@POSIX
@pytest.mark.parametrize("sig, code, name, jobs", [(signal.SIGINT, 130, "Ctrl-C", "1"),
                                                   (signal.SIGTERM, 143, "SIGTERM", "1"),
                                                   (signal.SIGTERM, 143, "SIGTERM", "2")])
def test_an_interrupted_sweep_leaves_nothing(tmp_path, sig, code, name, jobs):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "fastrnn.cli", "sweep", "--grid", "hidden=3,4", "--ensemble", "1",
                             "--epochs", "100000", "--patience", "0", "--jobs", jobs, "--no-plot"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=_default_signals)
    assert proc.stdout.readline().startswith("airline (")  # printed once the folder is reserved
    assert (tmp_path / "runs").is_dir()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == f"Interrupted ({name}) before the sweep finished; nothing was kept"
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists()
