"""``fastrnn.bench``: a tiny run returns well-formed results. No assertions on wall-clock times."""

import importlib.util
import json
import math

import numpy as np
import pytest

from fastrnn import bench

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_MPL = importlib.util.find_spec("matplotlib") is not None
SIZE = (2, 3, 2, 4)


def _tiny_run(tmp_path, backends, **kw):
    return bench.run(sizes=[SIZE], cells=["rnn", "lstm", "gru"], dtypes=["float32", "float64"], threads=1,
                     repeat=1, backends=backends, min_sample_s=0.0, settle_s=0.0, echo=None, **kw)


def _check_results(out, backends, modes=("train", "infer")):
    meta = out["meta"]
    assert set(meta["gemm_peak_gflops"]) == {"float32", "float64"}
    assert all(v > 0 for v in meta["gemm_peak_gflops"].values())
    assert meta["requested_threads"] == 1 and meta["threads"]["numba"] == 1
    rows = out["results"]
    assert len(rows) == 3 * 2 * len(backends) * len(modes)
    for r in rows:
        assert (r["B"], r["T"], r["I"], r["H"]) == SIZE
        assert r["cell"] in bench.CELLS and r["dtype"] in bench.DTYPES
        assert r["backend"] in backends and r["mode"] in modes
        assert r["median_ms"] > 0 and len(r["times_ms"]) == 1 and r["first_call_ms"] > 0
        assert math.isclose(r["gflops"], bench.flops(r["cell"], SIZE, r["mode"]) / r["median_ms"] / 1e6)
        assert r["peak_fraction"] > 0
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
    if not bench._model_api_available():
        pytest.skip("model API not available")
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


def test_startup_warm(tmp_path):
    """A new process to its first train step (on-disk cache as it is): a well-formed report."""
    res = bench.startup_times(["rnn"], ["float64"], size=(2, 2, 1, 3), cold=False, threads=1)
    assert res["cold"] is False and res["import_s"] > 0
    assert res["launch_to_first_step_s"] >= res["steps"][0]["first_step_s"] > 0
    assert [(r["cell"], r["dtype"]) for r in res["steps"]] == [("rnn", "float64")]
