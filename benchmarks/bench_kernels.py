"""Kernel-level benchmark: one forward + BPTT call, fastrnn (Numba, NumPy) against PyTorch.

    PYTHONPATH=. python benchmarks/bench_kernels.py [--threads 2] [--repeat 7] [--size 32,12,1,64 ...]
        [--cell lstm ...] [--dtype float32 ...] [--backend numba ...] [--json out.json]
    PYTHONPATH=. python benchmarks/bench_kernels.py --micro [--repeat 7]

Times ``F.forward`` + ``F.backward`` (many-to-one: the gradient arrives on the final hidden state) on
the ``numba`` and ``numpy`` backends, and ``nn.RNN``/``nn.LSTM``/``nn.GRU`` forward + ``backward``
(input and weights requiring gradients, so that PyTorch computes what ``F.backward`` returns).
Samples of the backends are interleaved (each after a pause and an untimed call, so that the
previous backend's thread pools are idle); medians over ``--repeat`` samples; ratios are same-run
(``torch / numba`` > 1: Numba faster). The GEMM peak (square matrix product through Numba's
``np.dot``, the BLAS the kernels use) is measured in the same run. Numba, BLAS and PyTorch all get
``--threads`` threads (default: Numba's count).

``--micro`` times, on one thread, the building blocks whose speed the kernels' docstrings argue
from: the activations per element (against ``np.tanh`` in a Numba loop and NumPy's ufunc), the
finiteness scan (against ``np.isfinite(a).all()``) and the sum of squares (against ``np.dot``).

The full training step (head, loss, optimizer) is benchmarked by ``fastrnn bench`` (:mod:`fastrnn.bench`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

from fastrnn import bench, cells
from fastrnn import functional as F
from fastrnn.bench.report import fmt_ms


class KernelStep:
    """forward + backward of one layer through fastrnn.functional."""

    def __init__(self, backend, cell, size, dtype, seed=0):
        B, T, I, H = size
        self.cell = bench.FUNCTIONAL_CELL[cell]
        self.backend = backend
        self.x, _ = bench.case_data(size, dtype, seed)
        self.params, _ = bench.init_params(cell, I, H, dtype, seed)
        dh = np.random.default_rng(seed + 2).standard_normal((B, H)).astype(dtype)
        self.d_state = (dh, None) if cell == "lstm" else dh

    def run(self):
        _, _, cache = F.forward(self.cell, self.x, self.params, None, backend=self.backend)
        return F.backward(self.cell, cache, None, self.d_state)


class TorchKernelStep:
    def __init__(self, cell, size, dtype, seed=0):
        import torch

        B, T, I, H = size
        tdtype = {np.float32: torch.float32, np.float64: torch.float64}[np.dtype(dtype).type]
        torch.manual_seed(seed)
        self.rnn = getattr(torch.nn, cells.get(cells.cell_for(cell)).torch[0])(I, H, dtype=tdtype)
        x, _ = bench.case_data(size, dtype, seed)
        self.x = torch.from_numpy(x).requires_grad_(True)
        self.dh = torch.from_numpy(np.random.default_rng(seed + 2).standard_normal((1, B, H)).astype(dtype))
        self.lstm = cell == "lstm"

    def run(self):
        self.x.grad = None
        for p in self.rnn.parameters():
            p.grad = None
        _, state = self.rnn(self.x)
        h = state[0] if self.lstm else state
        h.backward(self.dh)


def measure(sizes, cells, dtypes, backends, repeat, min_sample_s, settle_s=0.15, echo=print):
    rows = []
    for size in sizes:
        for cell in cells:
            for d in dtypes:
                fns = {}
                for b in backends:
                    step = TorchKernelStep(cell, size, d) if b == "torch" else KernelStep(b, cell, size, d)
                    step.run()  # compile / warm up
                    step.run()
                    fns[b] = (step.run, bench.calibrate(step.run, min_sample_s))
                times = {b: [] for b in backends}
                for _ in range(repeat):
                    for b, (fn, n) in fns.items():
                        time.sleep(settle_s)  # let the previous backend's thread pools go idle
                        fn()
                        times[b].append(bench.sample(fn, n))
                med = {b: statistics.median(v) for b, v in times.items()}
                fl = bench.flops(cell, size, "train")  # forward + backward GEMM flops (no head: negligible)
                row = {"B": size[0], "T": size[1], "I": size[2], "H": size[3], "cell": cell, "dtype": d}
                row.update({f"{b}_ms": med[b] * 1e3 for b in backends})
                row.update({f"{b}_samples_ms": [v * 1e3 for v in times[b]] for b in backends})
                if "numba" in med:
                    for b in backends:
                        if b != "numba":
                            row[f"{b}_over_numba"] = med[b] / med["numba"]
                    row["numba_gflops"] = fl / med["numba"] / 1e9
                rows.append(row)
                parts = [f"{cell:4s} {d:7s} B,T,I,H={','.join(map(str, size))}:"]
                parts += [f"{b} {fmt_ms(med[b])} ms" for b in backends]
                parts += [f"{b}/numba {row[f'{b}_over_numba']:.2f}x" for b in backends
                          if b != "numba" and "numba" in med]
                if "numba" in med:
                    parts.append(f"numba {row['numba_gflops']:.1f} GFLOP/s")
                echo("  ".join(parts))
    return rows


def micro(repeat, min_sample_s, echo=print):
    """Median time per call (and per element) of the kernels' building blocks, one thread."""
    from numba import njit

    from fastrnn.kernels._finite import all_finite
    from fastrnn.kernels._reduce import sum_squares
    from fastrnn.kernels.activations import sigmoid_array, tanh_array

    @njit(cache=False, error_model="numpy")
    def libm_tanh(x):  # np.tanh inside a Numba loop: a scalar libm call per element
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = np.tanh(x[i])
        return out

    rng = np.random.default_rng(0)
    rows = []

    def case(name, fn, n_elements):
        fn()  # compile / warm up
        n = bench.calibrate(fn, min_sample_s)
        t = statistics.median(bench.sample(fn, n) for _ in range(repeat))
        rows.append({"case": name, "us": t * 1e6, "ns_per_element": t * 1e9 / n_elements})
        echo(f"{name:44s} {t * 1e6:10.2f} µs  {t * 1e9 / n_elements:7.3f} ns/element")

    for d in ("float32", "float64"):
        x = rng.uniform(-5, 5, 1 << 20).astype(d)
        case(f"tanh_array {d} (1M)", lambda x=x: tanh_array(x), x.size)
        case(f"sigmoid_array {d} (1M)", lambda x=x: sigmoid_array(x), x.size)
        case(f"np.tanh in a Numba loop {d} (1M)", lambda x=x: libm_tanh(x), x.size)
        case(f"np.tanh ufunc {d} (1M)", lambda x=x: np.tanh(x), x.size)
    a = rng.standard_normal(262_144).astype(np.float32)
    case("all_finite float32 (262,144)", lambda: all_finite(a), a.size)
    case("np.isfinite(a).all() float32 (262,144)", lambda: np.isfinite(a).all(), a.size)
    for d in ("float32", "float64"):
        g = rng.standard_normal(65_536).astype(d)
        case(f"sum_squares {d} (65,536)", lambda g=g: sum_squares(g), g.size)
        case(f"np.dot(g, g) {d} (65,536)", lambda g=g: np.dot(g, g), g.size)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", action="append", type=bench.parse_size)
    p.add_argument("--cell", action="append", choices=bench.CELLS)
    p.add_argument("--dtype", action="append", choices=bench.DTYPES)
    p.add_argument("--backend", action="append", choices=bench.BACKENDS)
    p.add_argument("--threads", type=int)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--min-sample", type=float, default=0.05)
    p.add_argument("--settle", type=float, default=0.15, help="pause before each sample (s)")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="cpu: process CPU time (development on a busy machine; meaningful with --threads 1 only)")
    p.add_argument("--micro", action="store_true", help="time the kernels' building blocks instead (one thread)")
    p.add_argument("--json")
    a = p.parse_args(argv)
    if a.clock == "cpu":
        bench.set_clock("cpu")
    import numba

    if a.micro:
        bench.set_threads(1, torch_too=False)
        rows = micro(a.repeat, a.min_sample)
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"threads": 1, "argv": sys.argv, "rows": rows}, f, indent=1)
        return

    backends = a.backend or list(bench.BACKENDS)
    if "torch" in backends and bench.torch_module() is None:
        backends.remove("torch")
        print("note: PyTorch not importable; skipped")
    threads = a.threads or numba.get_num_threads()
    bench.set_threads(threads, torch_too="torch" in backends)
    dtypes = a.dtype or list(bench.DTYPES)
    peak = {d: bench.gemm_peak(d) for d in dtypes}
    print(f"threads {bench.get_threads()}; GEMM peak (Numba np.dot): "
          + ", ".join(f"{d} {v:.1f} GFLOP/s" for d, v in peak.items()))
    rows = measure(a.size or bench.SIZES, a.cell or bench.CELLS, dtypes, backends, a.repeat, a.min_sample, a.settle)
    for r in rows:
        if "numba_gflops" in r:
            r["numba_peak_fraction"] = r["numba_gflops"] / peak[r["dtype"]]
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"threads": bench.get_threads(), "gemm_peak_gflops": peak, "argv": sys.argv, "rows": rows}, f,
                      indent=1)


if __name__ == "__main__":
    main()
