"""Bounded work on untrusted files and arguments (issue 10): a changed model.npz or preprocessing.json,
a huge look-back, hidden size, number of steps or value, an empty --csv. Each is refused at once with
one clear error, before anything of its size is allocated or trained, and nothing is written.
"""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import fastrnn as fr
from fastrnn import _memory
from fastrnn import forecast as fc
from fastrnn.cli import main
from fastrnn.forecast import datasets
from fastrnn.forecast import preprocessing as pp
from fastrnn.forecast.datasets import DataError
from fastrnn.forecast.predict import RUN_FORMAT
from fastrnn.models import ModelFileError, parameter_shapes

TINY = ["--epochs", "1", "--hidden", "4", "--ensemble", "1", "--no-plot"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(result, *words, code=1):
    """Exit ``code``, no traceback, exactly one output line, ``Error: ...`` naming ``words``."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def assert_nothing_written(out):
    assert not out.exists() or not any(out.iterdir())
    assert not any(p.name.startswith(f".{out.name}.tmp") for p in out.parent.iterdir())


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny airline run written by ``fastrnn train``."""
    out = tmp_path_factory.mktemp("runs") / "airline"
    result = invoke("train", *TINY, "--out", out)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def copy_run(run_dir, tmp_path):
    """A fresh copy of the run, to change."""
    def make(name="run"):
        dst = tmp_path / name
        dst.mkdir()
        for f in run_dir.iterdir():
            (dst / f.name).write_bytes(f.read_bytes())
        return dst
    return make


# --- model.npz ------------------------------------------------------------------------------------


def _arrays(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _with_config(tmp_path, **changes):
    """A saved LSTM (hidden 4) whose stored config was then changed."""
    good = tmp_path / "good.npz"
    fr.LSTM(1, 4, seed=0).save(good)
    arrays = _arrays(good)
    cfg = json.loads(str(arrays["__config__"]))
    for k, v in changes.items():
        if v is _DROP:
            del cfg[k]
        else:
            cfg[k] = v
    path = tmp_path / "tampered.npz"
    np.savez(path, **{**arrays, "__config__": np.array(json.dumps(cfg))})
    return path


_DROP = object()


def test_parameter_shapes_is_the_models_shape_rule():
    for kind, cls in (("rnn", fr.RNN), ("lstm", fr.LSTM), ("gru", fr.GRU)):
        m = cls(3, 5, output_size=2, num_layers=2, bidirectional=True, seed=0)
        assert parameter_shapes(kind, 3, 5, 2, 2, True) == {k: v.shape for k, v in m.parameters().items()}


def test_huge_hidden_size_in_config_is_refused_before_allocating(tmp_path):
    path = _with_config(tmp_path, hidden_size=6000)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError) as info:
            fr.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100e6, f"peak {peak / 1e6:.0f} MB"
    msg = str(info.value)
    assert "weight_ih_l0" in msg and "(24000, 1)" in msg and "(16, 1)" in msg and str(path) in msg


@pytest.mark.parametrize("changes, words", [
    ({"hidden_size": 16000}, ["weight_ih_l0", "(64000, 1)"]),
    ({"num_layers": 10**6}, ["4000002 weight arrays", "stores 6"]),
    ({"hidden_size": "64"}, ["'hidden_size'", "'64' (str)"]),
    ({"hidden_size": True}, ["'hidden_size'", "True (bool)"]),
    ({"hidden_size": -5}, ["'hidden_size'", "-5"]),
    ({"hidden_size": 10**40}, ["'hidden_size'", "integer in 1..2147483647"]),
    ({"input_size": 1.0}, ["'input_size'", "1.0 (float)"]),
    ({"bidirectional": "false"}, ["'bidirectional'", "true or false"]),
    ({"dropout": 2.0}, ["'dropout'", "[0, 1)"]),
    ({"dtype": "float16"}, ["'dtype'", "'float16'"]),
    ({"nonlinearity": "relu"}, ["inconsistent", "relu"]),
    ({"seed": -1}, ["'seed'"]),
    ({"attention": True}, ["unknown keys ['attention']"]),
    ({"init": _DROP}, ["missing keys ['init']"]),
], ids=lambda v: "-".join(map(str, v)) if isinstance(v, dict) else None)
def test_each_kind_of_config_tampering_is_refused(tmp_path, changes, words):
    path = _with_config(tmp_path, **changes)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError) as info:
            fr.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100e6, f"peak {peak / 1e6:.0f} MB"
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def _with_array(tmp_path, name, value):
    good = tmp_path / "good.npz"
    fr.LSTM(1, 4, seed=0).save(good)
    path = tmp_path / "tampered.npz"
    np.savez(path, **{**_arrays(good), name: value})
    return path


@pytest.mark.parametrize("value, words", [
    (np.zeros(1, dtype=np.int64), ["head.bias", "int64"]),
    (np.zeros(1, dtype=np.float16), ["head.bias", "float16"]),
    (np.array([None], dtype=object), ["head.bias", "object"]),
    (np.zeros((1, 1)), ["head.bias", "(1,)", "(1, 1)"]),
])
def test_stored_arrays_of_another_dtype_or_shape_are_refused(tmp_path, value, words):
    with pytest.raises(ModelFileError) as info:
        fr.load(_with_array(tmp_path, "head.bias", value))
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_an_array_whose_data_is_shorter_than_its_header_says_is_refused(tmp_path):
    """A header claiming a (4*6000, 1) array over a few bytes of data: refused by its size in the zip
    directory, never allocated."""
    good = tmp_path / "good.npz"
    fr.LSTM(1, 4, seed=0).save(good)
    path = tmp_path / "tampered.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "head.bias.npy":
                buf = io.BytesIO()
                np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False,
                                                           "shape": (10**9,)})
                data = buf.getvalue() + b"\0" * 4
            dst.writestr(info.filename, data)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="head.bias"):
            fr.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100e6


def test_a_saved_model_still_loads_exactly(tmp_path):
    m = fr.GRU(3, 5, num_layers=2, bidirectional=True, dtype="float64", seed=1)
    m.save(tmp_path / "m.npz")
    back = fr.load(tmp_path / "m.npz")
    assert back.config() == m.config()
    for k, v in m.parameters().items():
        np.testing.assert_array_equal(back.parameters()[k], v)


# --- preprocessing.json ---------------------------------------------------------------------------


def _tamper(folder, edit):
    path = folder / "preprocessing.json"
    info = json.loads(path.read_text())
    edit(info)
    path.write_text(json.dumps(info))


def _drop_mean(info):
    info["scaler"].pop("mean")


TAMPERINGS = {
    "scaler null": (lambda i: i.update(scaler=None), ["'scaler'", "got null;"]),
    "scaler without mean": (_drop_mean, ["'scaler.mean'", "missing"]),
    "scale 0": (lambda i: i["scaler"].update(scale=0), ["'scaler.scale'", "non-zero", "0"]),
    "scale NaN": (lambda i: i["scaler"].update(scale=float("nan")), ["'scaler.scale'"]),
    "scaler extra key": (lambda i: i["scaler"].update(min=3), ["'scaler'", "'min'"]),
    "source empty": (lambda i: i.update(source={}), ["'source'", "exactly one of", "neither"]),
    "source unknown key": (lambda i: i["source"].update(url="x"), ["'source'", "'url'"]),
    "unknown dataset": (lambda i: i["source"].update(dataset="sunspots"), ["'source.dataset'", "sunspots"]),
    "look_back -5": (lambda i: i.update(look_back=-5), ["'look_back'", "-5"]),
    "look_back five": (lambda i: i.update(look_back="five"), ["'look_back'", 'got "five" (a string)']),
    "look_back not the model's": (lambda i: i.update(look_back=12), ["'look_back'", "13", "metrics.json", "12"]),
    "look_back beyond n_points": (lambda i: i.update(look_back=500), ["'look_back'", "144 points"]),
    "calendar string": (lambda i: i.update(calendar="false"), ["'calendar'", "JSON boolean", 'got "false" (a string)']),
    "calendar not the model's": (lambda i: i.update(calendar=True, format=2), ["'calendar'", "1 input"]),
    "horizon 2": (lambda i: i.update(horizon=2), ["'horizon'"]),
    "transform unknown": (lambda i: i.update(transform="sqrt"), ["'transform'", "sqrt"]),
    "ensemble 0": (lambda i: i.update(ensemble=0), ["'ensemble'"]),
    "n_points missing": (lambda i: i.pop("n_points"), ["'n_points'", "missing"]),
    "season string": (lambda i: i.update(season="12"), ["'season'"]),
    "missing_dates unknown": (lambda i: i["source"].update(missing_dates="drop"), ["'source.missing_dates'"]),
}


@pytest.mark.parametrize("case", list(TAMPERINGS))
def test_tampered_preprocessing_is_refused_by_the_library(copy_run, case):
    edit, words = TAMPERINGS[case]
    folder = copy_run()
    _tamper(folder, edit)
    with pytest.raises(fc.RunError) as info:
        fc.load_run(folder)
    msg = str(info.value)
    assert "preprocessing.json" in msg and "retrain with `fastrnn train`" in msg, msg
    for w in words:
        assert w in msg, (w, msg)


@pytest.mark.parametrize("case", ["scaler null", "scaler without mean", "source empty", "look_back -5",
                                  "look_back not the model's", "calendar string", "look_back five",
                                  "scale 0"])
def test_tampered_preprocessing_is_one_line_in_the_cli(copy_run, case, tmp_path):
    edit, words = TAMPERINGS[case]
    folder = copy_run()
    _tamper(folder, edit)
    out = tmp_path / "next.csv"
    one_error_line(invoke("predict", "--model", folder, "--steps", "2", "--output", out), *words)
    assert not out.exists()


def test_unknown_top_level_keys_are_ignored(copy_run):
    folder = copy_run()
    _tamper(folder, lambda i: i.update(written_by="a newer fastrnn"))
    assert fc.load_run(folder).look_back == 13


def test_a_future_format_asks_for_an_upgrade(copy_run):
    folder = copy_run()
    _tamper(folder, lambda i: i.update(format=RUN_FORMAT + 1))
    with pytest.raises(fc.RunError, match="upgrade fastrnn"):
        fc.load_run(folder)


def test_predict_on_a_file_of_the_run_says_what_a_run_folder_is(run_dir):
    line = one_error_line(invoke("predict", "--model", run_dir / "metrics.json"))
    assert line == (f"Error: --model {run_dir / 'metrics.json'} is not a run folder or its model.npz; "
                    f"pass the folder written by `fastrnn train` (it holds model.npz and "
                    f"preprocessing.json)")


# --- look-back: O(1) -----------------------------------------------------------------------------


def _brute_min_length(look_back, horizon, offset, tf, vf):
    n = look_back + horizon + offset
    while True:
        sp = pp.split(n, tf, vf)
        counts = [len(pp._target_starts(sp, w, look_back, horizon, offset)) for w in ("train", "val", "test")]
        if pp._enough(counts, vf):
            return n
        n += 1


@pytest.mark.parametrize("tf, vf", [(0.33, 0.1), (0.33, 0.125), (0.2, 0.0), (0.5, 0.3)])
def test_length_arithmetic_equals_counting_the_windows(tf, vf):
    for look_back in (1, 2, 5, 13, 40):
        for offset in (0, 1):
            for horizon in (1, 3):
                need = pp._min_length(look_back, horizon, offset, tf, vf)
                assert need == _brute_min_length(look_back, horizon, offset, tf, vf)
                longest = pp._max_look_back(need, horizon, offset, tf, vf)
                assert longest >= look_back
                counts = pp._window_counts(need, longest + 1, horizon, offset, tf, vf)
                assert not pp._enough(counts, vf)
    sp = pp.split(100, tf, vf)
    for w in ("train", "val", "test"):  # the arithmetic count is the index array's length
        got = pp._window_counts(100, 7, 2, 1, tf, vf)[("train", "val", "test").index(w)]
        assert got == len(pp._target_starts(sp, w, 7, 2, 1))


def test_a_huge_look_back_fails_at_once_naming_both_lengths(tmp_path):
    """The old check searched the minimum length one point at a time (208 s for 10**6)."""
    out = tmp_path / "r"
    line = one_error_line(invoke("train", *TINY, "--look-back", "1000000", "--out", out))
    assert "needs at least 1705760 points" in line and "got 144" in line
    assert "--look-back (at most 82 for this series)" in line
    assert_nothing_written(out)
    # 82 is the longest that works: it prepares, 83 does not
    cfg = fc.make_config(dataset="airline", look_back=82)
    fc.prepare_series(fc.load_series(cfg), cfg)
    with pytest.raises(DataError, match="at most 82"):
        fc.prepare_series(fc.load_series(cfg), fc.make_config(dataset="airline", look_back=83))


# --- memory and size bounds ----------------------------------------------------------------------


@pytest.fixture
def eight_gb(monkeypatch):
    monkeypatch.setattr(_memory, "available_bytes", lambda: 8 * 10**9)


def test_a_huge_hidden_size_is_refused_before_training_with_one_that_fits(eight_gb, tmp_path):
    out = tmp_path / "r"
    line = one_error_line(invoke("train", "--hidden", "100000", "--no-plot", "--out", out),
                          "hidden=100000", "ensemble of 5", "8 GB are available", "--hidden")
    assert_nothing_written(out)
    fit = int(line.rsplit("--hidden ", 1)[1].rstrip(")"))
    ok = fc.make_config(dataset="airline", hidden=fit)  # the size it names fits, one more does not
    assert fc.training_memory(ok) <= 8 * 10**9
    with pytest.raises(ValueError, match=f"hidden={fit + 1}, "):
        fc.make_config(dataset="airline", hidden=fit + 1)


def test_training_memory_grows_with_every_size():
    base = fc.make_config(dataset="airline")
    m0 = fc.training_memory(base, 100)
    for k in ("hidden", "layers", "ensemble", "look_back", "batch_size"):
        bigger = fc.TrainConfig(**{**base.to_dict(), k: getattr(base, k) * 2 + 1})
        assert fc.training_memory(bigger, 100) > m0, k
    # at least the members, the stack they train in and the stack that is saved
    small = fc.TrainConfig(**{**base.to_dict(), "hidden": 8, "ensemble": 3})
    members = [fc.build_model(small, seed=k) for k in range(3)]
    built = 3 * sum(m.num_parameters() for m in members) * 4
    assert fc.training_memory(small) >= built


def test_many_layers_name_the_layers(eight_gb, tmp_path):
    one_error_line(invoke("train", "--layers", "100000", "--no-plot", "--out", tmp_path / "r"),
                   "layers=100000", "--layers")


def test_windows_that_cannot_fit_are_refused_before_building_them(monkeypatch):
    monkeypatch.setattr(_memory, "available_bytes", lambda: 10**6)
    with pytest.raises(DataError) as info:
        pp.prepare(np.arange(1.0, 2001.0), look_back=200)
    assert "windows of look_back=200" in str(info.value) and "at most" in str(info.value)


def test_predict_steps_past_the_last_date_says_the_largest_possible(run_dir, tmp_path):
    out = tmp_path / "f.csv"
    dates = datasets.load("airline").dates
    # The last date: Python's datetime.max day, or pandas' nanosecond limit (pandas 2 indexes).
    last = pd.Timestamp.max.normalize() if dates.unit == "ns" else pd.Timestamp("9999-12-31")
    line = one_error_line(invoke("predict", "--model", run_dir, "--steps", "100000", "--output", out),
                          "--steps 100000", str(last.date()), "after 1960-12-01")
    assert not out.exists()
    most = int(line.rsplit(" ", 1)[1])
    assert fc.future_dates(dates, most)[-1] <= last
    assert most == (last.year - 1960) * 12 + last.month - 12  # monthly from 1960-12-01
    with pytest.raises(DataError, match="largest steps possible"):
        fc.future_dates(dates, most + 1)


@pytest.mark.parametrize("command", ["train", "predict"])
def test_empty_csv_path_is_one_line(command, run_dir, tmp_path):
    args = ["--model", run_dir] if command == "predict" else ["--out", tmp_path / "r"]
    one_error_line(invoke(command, *args, "--csv", ""), "--csv is empty")
    assert not (tmp_path / "r").exists()


def _csv_with(tmp_path, value, at=50):
    dates = pd.date_range("2000-01-01", periods=60, freq="MS")
    v = 100 + np.arange(60.0)
    v[at] = value
    path = tmp_path / "data.csv"
    pd.DataFrame({"month": dates.strftime("%Y-%m"), "units": v}).to_csv(path, index=False)
    return path


def test_a_value_too_large_to_score_is_refused_before_training(tmp_path):
    out = tmp_path / "r"
    one_error_line(invoke("train", *TINY, "--csv", _csv_with(tmp_path, 1e300), "--out", out),
                   "value 1e+300 at date 2004-03-01", "rescale the data")
    assert_nothing_written(out)


def test_a_value_too_large_for_float32_suggests_float64(tmp_path):
    out = tmp_path / "r"
    path = _csv_with(tmp_path, 1e30)
    one_error_line(invoke("train", *TINY, "--csv", path, "--transform", "none", "--out", out),
                   "value 1e+30 at date 2004-03-01", "float32", "--dtype float64")
    assert_nothing_written(out)
    result = invoke("train", *TINY, "--csv", path, "--transform", "none", "--dtype", "float64",
                    "--out", out)
    assert result.exit_code == 0, result.output


def test_predict_with_a_tampered_model_is_one_line(copy_run):
    folder = copy_run()
    arrays = _arrays(folder / "model.npz")
    cfg = json.loads(str(arrays["__config__"]))
    cfg["hidden_size"] = 6000
    np.savez(folder / "model.npz", **{**arrays, "__config__": np.array(json.dumps(cfg))})
    one_error_line(invoke("predict", "--model", folder, "--steps", "2"),
                   "model.npz: array weight_ih_l0 should have shape (24000, 1)", "(16, 1)")
