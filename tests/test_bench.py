"""``fastrnn.bench``: a tiny run returns well-formed results; the dataset cases follow the datasets'
defaults and time the same step on both sides. No assertions on wall-clock times.

Every test runs with a stub GEMM peak (the real one multiplies 2048² matrices for seconds), except
:func:`test_gemm_peak_is_measured`, which measures it."""

import importlib.util
import json
import math
import os
import signal

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


# --------------------------------------------------------------------------------------------------
# --many: M independent models
# --------------------------------------------------------------------------------------------------

HAS_JAX = importlib.util.find_spec("jax") is not None
HAS_STACK = bench.steps.stack_function() is not None
MANY_SIZE = (4, 3, 1, 5)
#: Sides that need neither torch nor jax nor the stack.
LOOP_ONLY = ["loop"]


class _PerturbedStack(bench.steps.LoopStep):
    """A stand-in for the stack that trains like the loop except for model 1's loss in the last bit."""

    def __init__(self, cell, size, dtype, num_models, threads=None):
        super().__init__(cell, size, dtype, num_models)

    def train(self):
        losses = super().train()
        losses[1] = np.nextafter(losses[1], np.inf)
        return losses


class _LoopAsStack(bench.steps.LoopStep):
    """A stand-in for the stack that is the loop (so it trains bitwise like it)."""

    def __init__(self, cell, size, dtype, num_models, threads=None):
        super().__init__(cell, size, dtype, num_models)
        self.threads = threads


def _many_run(sides, **kw):
    kw = {"dtypes": ["float32", "float64"], "threads": 1, **kw}
    return bench.run(sizes=(), datasets=(), many=3, many_sides=sides, repeat=1, min_sample_s=0.0, settle_s=0.0,
                     echo=None, **kw)


def _fake_stack(monkeypatch, cls):
    monkeypatch.setattr(bench.steps, "stack_function", lambda: object)
    monkeypatch.setattr(bench.steps, "StackStep", cls)


def test_many_case_and_its_flops():
    case = bench.many_case(64)
    assert case == {"case": "many", "cell": "lstm", "size": (32, 24, 1, 32), "train": {"optimizer": "adam", "lr": 1e-3},
                    "num_models": 64}
    assert bench.case_row(case) == {"case": "many", "B": 32, "T": 24, "I": 1, "H": 32, "cell": "lstm", "num_models": 64}
    assert bench.case_label(bench.case_row(case)) == "64 models (adam)"
    for bad in (0, -3, 2.5, "4", True):
        with pytest.raises(ValueError, match="number of models must be an integer >= 1"):
            bench.many_case(bad)
    with pytest.raises(ValueError, match="cell"):
        bench.many_case(3, "transformer")


def test_many_rows_and_table(monkeypatch):
    """A tiny many run with the stack stood in by the loop: every side's column, the stack's ratios,
    GFLOP/s of all M models' FLOPs, and the results rows of each side."""
    _fake_stack(monkeypatch, _LoopAsStack)
    out = _many_run(["stack", "loop"], many_cells=["gru"])
    assert out["ratios"] == [] and len(out["many"]) == 2
    for r, d in zip(out["many"], ("float32", "float64")):
        assert (r["case"], r["cell"], r["dtype"], r["num_models"]) == ("many", "gru", d, 3)
        assert r["stack_ms"] > 0 and r["loop_ms"] > 0 and r["absent"] == {}
        assert r["loop_over_stack"] == pytest.approx(r["loop_ms"] / r["stack_ms"])
        flops = 3 * bench.flops("gru", bench.MANY_SIZE, "train")
        assert r["stack_gflops"] == pytest.approx(flops / r["stack_ms"] / 1e6)
        assert r["stack_peak_fraction"] == pytest.approx(r["stack_gflops"] / STUB_PEAK[d])
        assert r["best_peer"] is None and r["best_peer_over_stack"] is None
        assert r["threads_speedup"] is None  # one thread: no second stack side
    assert sorted((r["backend"], r["dtype"]) for r in out["results"]) == sorted(
        (s, d) for s in ("stack", "loop") for d in ("float32", "float64"))
    table = bench.format_many_table(out).splitlines()
    assert table[0] == ("| case | B, T, I, H | cell | dtype | stack 1 thread ms | fastrnn loop ms | stack threads/1 | "
                        "fastrnn loop/stack | best peer/stack | stack GFLOP/s | % GEMM peak |")
    assert table[2].startswith("| 3 models (adam) | 32, 24, 1, 32 | gru | float32 |")
    assert len(table) == 4


def test_many_stack_on_one_and_more_threads(monkeypatch):
    """With two threads the stack is timed on one and on two, and the speed-up is their ratio."""
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs NUMBA_NUM_THREADS >= 2")
    _fake_stack(monkeypatch, _LoopAsStack)
    out = _many_run(["stack_1t", "stack"], dtypes=["float64"], threads=2)
    r = out["many"][0]
    assert r["threads"] == 2 and r["threads_speedup"] == pytest.approx(r["stack_1t_ms"] / r["stack_ms"])


def test_many_refuses_a_stack_that_differs_from_the_loop(monkeypatch):
    """The self-check: one loss one ulp off and the run raises before timing anything."""
    _fake_stack(monkeypatch, _PerturbedStack)
    with pytest.raises(bench.StackMismatchError, match=r"step 1, model 1: .* the stack's results are not reported"):
        _many_run(["stack", "loop"], dtypes=["float64"])
    _fake_stack(monkeypatch, _LoopAsStack)
    bench.check_stack_matches_loop("lstm", MANY_SIZE, "float32", 3)  # the same: no error


def test_many_absent_sides_say_why(monkeypatch):
    """No torch, no jax, no stack: those columns say why, the loop is still timed (one thread: no
    second stack side)."""
    real = importlib.util.find_spec
    monkeypatch.setattr(bench.steps.importlib.util, "find_spec",
                        lambda name, *a: None if name in ("torch", "jax") else real(name, *a))
    monkeypatch.setattr(bench.steps, "stack_function", lambda: None)
    out = _many_run(list(bench.MANY_SIDES), dtypes=["float32"])
    r = out["many"][0]
    assert r["absent"] == {"stack": "no fastrnn.stack", "torch_loop": "not installed", "torch_vmap": "not installed",
                           "jax_vmap": "not installed"}
    assert r["loop_ms"] > 0 and r["stack_ms"] is None and r["torch_loop_over_stack"] is None
    line = bench.format_many_table(out).splitlines()[2]
    assert line.count("not installed") == 6 and line.count("no fastrnn.stack") == 1  # ms and ratio columns
    assert "torch vmap" not in line and bench.format_many_row(r).count("not installed") == 3


@pytest.mark.skipif(not HAS_STACK, reason="fastrnn.stack is not on this branch yet")
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_stack_trains_bitwise_like_the_loop(cell, dtype):
    """The stack's contract, as the benchmark checks it: the same losses, bit for bit, two steps."""
    bench.check_stack_matches_loop(cell, MANY_SIZE, dtype, 3)
    st = bench.steps.StackStep(cell, MANY_SIZE, dtype, 3)
    assert st.stack.num_models == 3 and st.x.shape == (3, 4, 3, 1)


_JAX_CHECK = """
import sys
import numpy as np
from fastrnn import bench
size = tuple(int(v) for v in sys.argv[1].split(","))
for cell in ("lstm", "gru"):
    loop = bench.steps.LoopStep(cell, size, "float64", 3)
    jx = bench.steps.JaxVmapStep(cell, size, "float64", 3)
    np.testing.assert_allclose(np.asarray(jx.train()), loop.train(), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(jx.train()), loop.train(), rtol=1e-2)
print("same")
"""


@pytest.mark.skipif(not HAS_JAX, reason="jax not installed")
def test_jax_step_computes_what_the_loop_does():
    """JAX vmap starts from the loop's weights and data: the same losses up to rounding; after one
    Adam step still close (Adam turns a gradient that is zero up to rounding into a step of ±lr,
    so the two may differ by lr in such weights). In a new process: JAX's threads would make this
    one's later forks (the signal tests') unsafe."""
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-c", _JAX_CHECK, ",".join(map(str, MANY_SIZE))], capture_output=True,
                       text=True)
    assert p.returncode == 0 and p.stdout.strip() == "same", p.stderr[-3000:]


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch not installed")
def test_torch_vmap_computes_what_the_torch_loop_does():
    """torch.func vmap over the stacked modules of the torch loop: the same losses, two Adam steps."""
    loop = bench.steps.TorchLoopStep("gru", MANY_SIZE, "float64", 2)
    vm = bench.steps.TorchVmapStep("gru", MANY_SIZE, "float64", 2)
    for _ in range(2):
        np.testing.assert_allclose(vm.train().detach().numpy(), [v.item() for v in loop.train()], rtol=1e-10)


# --------------------------------------------------------------------------------------------------
# --contention: a competing process
# --------------------------------------------------------------------------------------------------


def _alive(pid):
    """Whether ``pid`` is a process that has not ended (a zombie nobody reaped counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _wait_gone(pid, timeout=10.0):
    import time

    t0 = time.monotonic()
    while _alive(pid) and time.monotonic() - t0 < timeout:
        time.sleep(0.05)
    return not _alive(pid)


needs_sigstop = pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP/SIGCONT")


@needs_sigstop
@pytest.mark.parametrize("kind", bench.COMPETITORS)
def test_contention_rows_and_the_child_is_gone(kind):
    """Every sample idle and busy; the rows get busy medians and slowdowns; the child is gone after."""
    lines = []
    out = bench.run(sizes=[SIZE], datasets=(), cells=["gru"], dtypes=["float64"], threads=1, repeat=2,
                    backends=["numpy", "numba"], modes=["train"], min_sample_s=0.0, settle_s=0.0, echo=lines.append,
                    contention=kind)
    pid = out["meta"]["contention"]["pid"]
    assert out["meta"]["contention"]["kind"] == kind
    assert f"competing process: {kind} (pid {pid}), paused for the idle samples" in lines
    assert not _alive(pid)
    assert sorted((r["backend"], r["condition"]) for r in out["results"]) == [
        ("numba", "busy"), ("numba", "idle"), ("numpy", "busy"), ("numpy", "idle")]
    assert all(len(r["times_ms"]) == 2 for r in out["results"])
    row = out["ratios"][0]
    for b in ("numpy", "numba"):
        assert row[f"{b}_slowdown"] == pytest.approx(row[f"{b}_busy_ms"] / row[f"{b}_ms"])
    head = bench.format_table(out).splitlines()[0]
    assert head.endswith("| numpy busy ms | numba busy ms | numpy busy/idle | numba busy/idle |")


@needs_sigstop
def test_contention_child_is_killed_on_ctrl_c(monkeypatch):
    """A KeyboardInterrupt while the competitor runs: the run ends with it, and the child is gone."""
    seen = {}

    def interrupted(steps, modes, repeat, min_sample_s, warmup, settle_s, competitor):
        seen["pid"] = competitor.pid
        competitor.resume()
        assert _alive(competitor.pid)
        raise KeyboardInterrupt

    monkeypatch.setattr(bench, "time_contended", interrupted)
    with pytest.raises(KeyboardInterrupt):
        bench.run(sizes=[SIZE], datasets=(), cells=["gru"], dtypes=["float64"], threads=1, repeat=1,
                  backends=["numba"], modes=["train"], min_sample_s=0.0, settle_s=0.0, echo=None, contention="blas")
    assert not _alive(seen["pid"])


_HOLDER = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # a runner in the background passes it on as ignored
from fastrnn.bench.timing import Competitor
with Competitor(sys.argv[1]) as c:
    c.pause() if sys.argv[2] == "paused" else None
    print(c.pid, flush=True)
    time.sleep(60)
"""


@needs_sigstop
@pytest.mark.parametrize("how, state", [("SIGINT", "running"), ("SIGKILL", "running"), ("SIGKILL", "paused"),
                                        ("SIGTERM", "paused")])
def test_competitor_dies_with_its_parent(how, state):
    """The competitor of a process stopped by Ctrl-C (its clean-up), or killed outright (the kernel's
    parent-death signal, even for a paused child), does not outlive it."""
    import subprocess
    import sys

    if how != "SIGINT" and not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux's")
    p = subprocess.Popen([sys.executable, "-c", _HOLDER, "python", state], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(p.stdout.readline())
        assert _alive(pid)
        p.send_signal(getattr(signal, how))
        p.wait(timeout=20)
        assert _wait_gone(pid), f"competitor {pid} outlived its parent ({how})"
    finally:
        p.kill()
        p.wait()
        p.stdout.close()


def test_competitor_rejects_unknown_kinds():
    with pytest.raises(ValueError, match="blas, python; got 'gpu'"):
        bench.Competitor("gpu")
    with pytest.raises(ValueError, match="competing process must be one of blas, python; got 'gpu'"):
        bench.run(sizes=[SIZE], datasets=(), contention="gpu", echo=None)
