"""``fastrnn.bench``: a tiny run returns well-formed results; the dataset cases follow the datasets'
defaults and time the same step on both sides. No assertions on wall-clock times.

Every test runs with a stub GEMM peak (the real one multiplies 2048² matrices for seconds), except
:func:`test_gemm_peak_is_measured`, which measures it."""

import importlib.util
import json
import math

import numpy as np
import pytest

from fastrnn import bench, forecast, optim

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_MPL = importlib.util.find_spec("matplotlib") is not None
SIZE = (2, 3, 2, 4)
#: The GEMM peak (GFLOP/s) every run of these tests "measures".
STUB_PEAK = {"float32": 4.0, "float64": 2.0}


@pytest.fixture(autouse=True)
def _stub_gemm_peak(monkeypatch):
    """Skip the GEMM peak measurement (seconds per dtype) in runs that only check the rows."""
    monkeypatch.setattr(bench, "gemm_peak", lambda dtype: STUB_PEAK[dtype])


def test_gemm_peak_is_measured():
    """The real measurement (not the stub), at its default matrix sizes: a positive, finite GFLOP/s
    per dtype."""
    from fastrnn.bench.threads import gemm_peak

    for dtype in ("float32", "float64"):
        peak = gemm_peak(dtype, repeat=1)
        assert math.isfinite(peak) and peak > 0


def _tiny_run(tmp_path, backends, **kw):
    return bench.run(sizes=[SIZE], datasets=(), cells=["rnn", "lstm", "gru"], dtypes=["float32", "float64"], threads=1,
                     repeat=1, backends=backends, min_sample_s=0.0, settle_s=0.0, echo=None, **kw)


def _check_results(out, backends, modes=("train", "infer")):
    meta = out["meta"]
    assert set(meta["gemm_peak_gflops"]) == {"float32", "float64"}
    assert all(v > 0 for v in meta["gemm_peak_gflops"].values())
    assert meta["gemm_peak_gflops"] == STUB_PEAK
    assert meta["requested_threads"] == 1 and meta["threads"]["numba"] == 1
    rows = out["results"]
    assert len(rows) == 3 * 2 * len(backends) * len(modes)
    for r in rows:
        assert r["case"] == "grid" and "optimizer" not in r
        assert (r["B"], r["T"], r["I"], r["H"]) == SIZE
        assert r["cell"] in bench.CELLS and r["dtype"] in bench.DTYPES
        assert r["backend"] in backends and r["mode"] in modes
        assert r["median_ms"] > 0 and len(r["times_ms"]) == 1 and r["first_call_ms"] > 0
        assert math.isclose(r["gflops"], bench.flops(r["cell"], SIZE, r["mode"]) / r["median_ms"] / 1e6)
        assert r["peak_fraction"] > 0
        assert math.isclose(r["peak_fraction"], r["gflops"] / STUB_PEAK[r["dtype"]])
    assert len(out["ratios"]) == 3 * 2 * len(modes)
    for r in out["ratios"]:
        for b in backends:
            assert r[f"{b}_ms"] > 0
        if "numba" in backends:
            for b in backends:
                if b != "numba":
                    assert r[f"{b}_over_numba"] == pytest.approx(r[f"{b}_ms"] / r["numba_ms"])


def test_tiny_run_numpy_numba(tmp_path):
    out = _tiny_run(tmp_path, ["numpy", "numba"], json_path=tmp_path / "r.json")
    _check_results(out, ["numpy", "numba"])
    assert out["startup"] is None
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["ratios"] == json.loads(json.dumps(out["ratios"]))
    table = bench.format_table(out)
    assert table.count("\n") == 1 + len(out["ratios"])  # header, rule, one line per row


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch not installed")
def test_tiny_run_with_torch(tmp_path):
    out = _tiny_run(tmp_path, ["numba", "torch"], modes=["train"])
    _check_results(out, ["numba", "torch"], modes=("train",))


@pytest.mark.skipif(not HAS_MPL, reason="matplotlib not installed")
def test_plot(tmp_path):
    out = _tiny_run(tmp_path, ["numpy", "numba"], modes=["train"], plot_path=tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out["ratios"]


def test_train_step_learns_and_matches_flops():
    """The fastrnn step is a real training step: the loss goes down on a fixed batch."""
    step = bench.fastrnn_step("numba", "lstm", (8, 5, 3, 6), "float64")
    losses = [float(step.train()) for _ in range(300)]
    assert losses[-1] < losses[0]
    assert bench.flops("lstm", (8, 5, 3, 6), "train") == 3 * bench.flops("lstm", (8, 5, 3, 6), "infer")
    assert bench.flops("rnn", (1, 1, 1, 1), "infer") == 2 * 1 * 1 * 1 * 1 * 2 + 2


def test_functional_and_model_steps_agree():
    """The hand-written step (on fastrnn.functional) and the model API step compute the same thing
    when started from the same weights."""
    f = bench.FunctionalStep("numba", "gru", (4, 3, 2, 5), "float64")
    m = bench.ModelStep("numba", "gru", (4, 3, 2, 5), "float64")
    params = m.model.parameters()
    for k in ("w_ih", "w_hh", "b_ih", "b_hh"):
        f.params[k][...] = params[k.replace("w_", "weight_").replace("b_", "bias_") + "_l0"]
    f.head["w"][...] = params["head.weight"]
    f.head["b"][...] = params["head.bias"]
    np.testing.assert_allclose(float(f.train()), float(m.train()), rtol=1e-12)
    np.testing.assert_allclose(f.params["w_hh"], params["weight_hh_l0"], rtol=1e-12, atol=1e-15)


def test_bad_arguments():
    with pytest.raises(ValueError, match="cell"):
        bench.run(sizes=[SIZE], cells=["transformer"], echo=None)
    with pytest.raises(ValueError, match="size"):
        bench.run(sizes=[(1, 2, 3)], echo=None)
    with pytest.raises(ValueError, match="dtype"):
        bench.run(sizes=[SIZE], dtypes=["float16"], echo=None)
    with pytest.raises(ValueError, match="repeat"):
        bench.run(sizes=[SIZE], repeat=0, echo=None)
    with pytest.raises(ValueError, match="threads"):
        bench.run(sizes=[SIZE], threads=10_000, echo=None)
    with pytest.raises(ValueError, match="airline, temperature, stock; got 'weather'"):
        bench.run(sizes=[SIZE], datasets=["weather"], echo=None)
    with pytest.raises(ValueError, match="nothing to time"):
        bench.run(sizes=(), datasets=(), echo=None)


def test_startup_warm(tmp_path):
    """A new process to its first train step (on-disk cache as it is): a well-formed report."""
    res = bench.startup_times(["rnn"], ["float64"], size=(2, 2, 1, 3), cold=False, threads=1)
    assert res["cold"] is False and res["import_s"] > 0
    assert res["launch_to_first_step_s"] >= res["steps"][0]["first_step_s"] > 0
    assert [(r["cell"], r["dtype"]) for r in res["steps"]] == [("rnn", "float64")]


# --------------------------------------------------------------------------------------------------
# Dataset cases
# --------------------------------------------------------------------------------------------------


def _patch_stock(monkeypatch):
    """Other stock defaults (two layers, RMSprop, no clipping): the cases must follow them."""
    stock = dict(forecast.DEFAULTS["stock"], layers=2, optimizer="rmsprop", clip_norm=0, lr=2e-3)
    monkeypatch.setitem(forecast.DEFAULTS, "stock", stock)


def test_datasets_are_the_shipped_ones():
    assert set(bench.DATASETS) == set(forecast.DEFAULTS)


@pytest.mark.parametrize("patched", [False, True], ids=["defaults", "patched-stock"])
@pytest.mark.parametrize("name", bench.DATASETS)
def test_dataset_case_follows_the_default_model(monkeypatch, name, patched):
    """The case is the model build_model makes and the training fit_model runs, from make_config."""
    if patched:
        _patch_stock(monkeypatch)
    cfg = forecast.make_config(dataset=name)
    model = forecast.build_model(cfg)
    case = bench.dataset_case(name)
    assert case["case"] == name and case["cell"] == model.kind
    assert case["size"] == (cfg.batch_size, cfg.look_back, model.input_size, model.hidden_size)
    assert case["train"] == {"optimizer": cfg.optimizer, "lr": cfg.lr, "clip_norm": cfg.clip_norm,
                             "num_layers": model.num_layers}
    assert case["ensemble"] == cfg.ensemble
    if patched and name == "stock":
        assert case["train"] == {"optimizer": "rmsprop", "lr": 2e-3, "clip_norm": None, "num_layers": 2}


def test_dataset_case_rejects_unknown_names():
    with pytest.raises(ValueError, match="airline, temperature, stock"):
        bench.dataset_case("weather")


@pytest.mark.parametrize("patched", [False, True], ids=["defaults", "patched-stock"])
def test_dataset_model_step_trains_like_the_config(monkeypatch, patched):
    """The fastrnn step of a dataset case uses the config's optimizer class, lr and clip_norm."""
    if patched:
        _patch_stock(monkeypatch)
    cfg = forecast.make_config(dataset="stock")
    case = bench.dataset_case("stock")
    step = bench.fastrnn_step("numba", case["cell"], case["size"], "float32", **case["train"])
    assert isinstance(step, bench.ModelStep)
    opt = step.trainer.optimizer
    assert type(opt) is type(optim.get(cfg.optimizer, step.model.parameters(), lr=cfg.lr))
    assert opt.lr == cfg.lr and step.trainer.clip_norm == cfg.clip_norm
    assert step.model.num_layers == cfg.layers and step.model.dtype == np.float32
    assert np.isfinite(step.train())


def test_functional_step_refuses_dataset_training(monkeypatch):
    """The hand-written step only does the grid's SGD: with FASTRNN_BENCH_STEP=functional a dataset
    case fails clearly instead of timing a different step."""
    monkeypatch.setenv("FASTRNN_BENCH_STEP", "functional")
    case = bench.dataset_case("airline")
    with pytest.raises(RuntimeError, match="model API.*FASTRNN_BENCH_STEP=functional"):
        bench.fastrnn_step("numba", case["cell"], case["size"], "float64", **case["train"])
    assert isinstance(bench.fastrnn_step("numba", "gru", SIZE, "float64"), bench.FunctionalStep)
    monkeypatch.delenv("FASTRNN_BENCH_STEP")
    assert isinstance(bench.fastrnn_step("numba", "gru", SIZE, "float64"), bench.ModelStep)


@pytest.mark.parametrize("error", [TypeError, AttributeError, ImportError])
def test_model_step_errors_surface(monkeypatch, error):
    """A real error while building the model step is raised, not replaced by another step to time."""
    from fastrnn import models

    def broken(kind):
        raise error("broken model API")

    monkeypatch.setattr(models, "model_class", broken)
    with pytest.raises(error, match="broken model API"):
        bench.fastrnn_step("numba", "gru", SIZE, "float64")
    with pytest.raises(error, match="broken model API"):
        bench.run(sizes=[SIZE], datasets=(), cells=["gru"], dtypes=["float64"], threads=1, repeat=1,
                  backends=["numba"], modes=["train"], min_sample_s=0.0, settle_s=0.0, echo=None)


def _torch_state(step):
    """The torch step's weights under the fastrnn model's (PyTorch's) key names."""
    state = {k: v.detach().numpy().copy() for k, v in step.rnn.state_dict().items()}
    state.update({f"head.{k}": v.detach().numpy().copy() for k, v in step.head.state_dict().items()})
    return state


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch not installed")
@pytest.mark.parametrize("name", [*bench.DATASETS, "stock-patched"])
def test_fastrnn_and_torch_dataset_steps_agree(monkeypatch, name):
    """From the same weights, the fastrnn and PyTorch steps of a dataset case give the same losses and
    weights over a few steps (float64): both time the same computation, optimizer and clipping
    included. The targets are scaled up so that the gradient norm exceeds clip_norm."""
    if name == "stock-patched":
        _patch_stock(monkeypatch)
        name = "stock"
    case = bench.dataset_case(name)
    fr_step = bench.fastrnn_step("numba", case["cell"], case["size"], "float64", **case["train"])
    th_step = bench.TorchStep("torch", case["cell"], case["size"], "float64", **case["train"])
    assert type(th_step.opt).__name__ == bench.TORCH_OPTIMIZERS[case["train"]["optimizer"]]
    assert th_step.rnn.num_layers == case["train"]["num_layers"]
    fr_step.model.load_state_dict(_torch_state(th_step))
    fr_step.y = fr_step.y * 100
    th_step.y = th_step.y * 100
    clip = case["train"]["clip_norm"]
    for _ in range(3):
        loss = fr_step.train()
        np.testing.assert_allclose(loss, th_step.train().item(), rtol=1e-9)
        if clip is not None:
            assert fr_step.trainer.last_grad_norm > clip  # clipping was active
    updated = _torch_state(th_step)
    for k, v in fr_step.model.parameters().items():
        np.testing.assert_allclose(v, updated[k], rtol=0, atol=1e-9, err_msg=k)


@pytest.mark.parametrize("datasets, sizes, cases", [
    (["temperature"], (), ["temperature"]),
    ((), [SIZE], ["grid"]),
    (["airline", "stock"], [SIZE], ["airline", "stock", "grid"]),
])
def test_run_rows_name_their_case(monkeypatch, datasets, sizes, cases):
    """Dataset cases run first, in their own cell and sizes (``cells`` is the grid's), then the grid."""
    out = bench.run(sizes=sizes, datasets=datasets, cells=["rnn"], dtypes=["float32"], threads=1, repeat=1,
                    backends=["numba"], modes=["train"], min_sample_s=0.0, settle_s=0.0, echo=None)
    for rows in (out["results"], out["ratios"]):
        assert [r["case"] for r in rows] == cases
        for r in rows:
            if r["case"] == "grid":
                assert (r["B"], r["T"], r["I"], r["H"], r["cell"]) == (*SIZE, "rnn")
                assert "optimizer" not in r
            else:
                case = bench.dataset_case(r["case"])
                assert (r["B"], r["T"], r["I"], r["H"]) == case["size"] and r["cell"] == case["cell"]
                assert {k: r[k] for k in case["train"]} == case["train"] and r["ensemble"] == case["ensemble"]
    assert out["meta"]["fastrnn_step"] == "ModelStep"
    table = bench.format_table(out).splitlines()
    assert table[0].startswith("| case | mode | B, T, I, H |")
    assert [line.split(" | ")[0][2:] for line in table[2:]] == [bench.case_label(r) for r in out["ratios"]]


def test_case_label():
    case = bench.dataset_case("temperature")
    row = bench.case_row(case)
    label = bench.case_label(row)
    assert label.startswith(f"temperature ({case['train']['optimizer']}")
    assert (f"×{case['ensemble']} members" in label) == (case["ensemble"] > 1)
    row.update(clip_norm=None, num_layers=2, ensemble=1, optimizer="sgd")
    assert bench.case_label(row) == "temperature (sgd, 2 layers)"
    assert bench.case_label({"B": 1, "T": 1, "I": 1, "H": 1, "cell": "rnn"}) == "grid"  # rows of older runs


@pytest.mark.skipif(not HAS_MPL, reason="matplotlib not installed")
def test_plot_groups_cases_apart(monkeypatch, tmp_path):
    """A grid size equal to a dataset's size is its own group of bars."""
    case = bench.dataset_case("stock")
    out = bench.run(sizes=[case["size"]], datasets=["stock"], cells=[case["cell"]], dtypes=["float32"],
                    threads=1, repeat=1, backends=["numpy", "numba"], modes=["train"], min_sample_s=0.0,
                    settle_s=0.0, echo=None, plot_path=tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [bench.plot_group(r) for r in out["ratios"]] == [("stock", case["size"]), ("grid", case["size"])]


def test_cpu_clock_for_one_run(monkeypatch):
    """``clock="cpu"`` times that run with the process's CPU time and restores the wall clock after."""
    import time

    seen = []
    monkeypatch.setattr(bench, "gemm_peak", lambda dtype: seen.append(bench.timing.CLOCK) or 1.0)
    out = bench.run(sizes=[SIZE], datasets=(), cells=["rnn"], dtypes=["float64"], threads=1, repeat=1,
                    backends=["numba"], modes=["train"], min_sample_s=0.0, settle_s=0.0, echo=None, clock="cpu")
    assert seen == [time.process_time] and out["meta"]["clock"] == "cpu (process time)"
    assert bench.timing.CLOCK is time.perf_counter
    with pytest.raises(ValueError, match="clock 'cpu' needs threads=1"):
        bench.run(sizes=[SIZE], threads=2, clock="cpu", echo=None)
    with pytest.raises(ValueError, match="clock must be one of wall, cpu; got 'sun'"):
        bench.run(sizes=[SIZE], clock="sun", echo=None)
