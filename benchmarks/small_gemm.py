"""Packed small-GEMM kernels against OpenBLAS: the measurements behind fastrnn.kernels._gemm's rule.

    python benchmarks/small_gemm.py [--repeat 9] [--rounds 2] [--json benchmarks/small-gemm-DATE.json]
                                    [--only gemms|steps]

1. **GEMMs**, the two per-step products of a recurrent layer as the kernels make them, one
   OpenBLAS thread: forward ``h (B, H) @ W_hhᵀ`` and backward ``da (B, G·H) @ W_hh``, each as
   OpenBLAS (``np.dot`` inside a Numba function: SciPy's OpenBLAS, what the kernels call) and as
   the packed kernel (:func:`fastrnn.kernels._smallgemm.gemm_rows`, weights packed outside the
   loop: once per sequence), for B, H in {1, 4, 8, 16, 32, 64}, G in {1, 3, 4}, float32 and
   float64. A sample is a Numba loop of calls lasting ~2 ms (as in a time loop); the two products
   alternate sample by sample; per case the median time of each and the quartiles of the paired
   ratios (BLAS time / packed time of the same round; > 1: packed faster).
2. **Training steps** (forward + BPTT through :mod:`fastrnn.functional`, linear head, MSE, SGD:
   ``fastrnn.bench.steps.FunctionalStep``; for the cases named after a shipped dataset, its
   default model's step as ``fastrnn train`` makes it: ``ModelStep`` with the dataset's optimizer,
   learning rate and clipping) with each product, in fresh processes (one per product,
   each with a Numba cache directory of its own, ``_gemm._OVERRIDE`` set before anything compiles),
   the products' processes alternated over ``--rounds``; PyTorch 2.x's step
   (``fastrnn.bench.steps.TorchStep``) in the same processes when torch is installed. Cases: the
   issue-12 "64 LSTMs" model (B 32, T 24, I 1, H 32), the bench grid's 64, 50, 8, 128 LSTM, the
   shipped datasets' default sizes and three batches of one sequence (B = 1, where both products
   take the packed kernel), at ``--threads`` (1 and 2).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from numba import njit

SIZES = (1, 4, 8, 16, 32, 64)
GATES = (1, 3, 4)
DTYPES = ("float32", "float64")
MODES = {"blas": 1, "packed": 2, "rule": 0}  # -> fastrnn.kernels._gemm._OVERRIDE
#: (label, cell, (B, T, I, H), dtype) of the training steps.
STEP_CASES = (
    ("64-LSTM model (issue 12)", "lstm", (32, 24, 1, 32), "float32"),
    ("64-LSTM model (issue 12)", "lstm", (32, 24, 1, 32), "float64"),
    ("bench grid", "lstm", (64, 50, 8, 128), "float32"),
    ("airline default", "lstm", (16, 13, 1, 64), "float32"),
    ("temperature default", "gru", (32, 30, 3, 16), "float32"),
    ("stock default", "lstm", (64, 10, 1, 32), "float32"),
    ("one sequence at a time", "lstm", (1, 24, 1, 32), "float32"),
    ("one sequence at a time", "gru", (1, 24, 1, 64), "float64"),
    ("bench grid", "lstm", (1, 1, 1, 256), "float32"),
    ("airline", "lstm", (16, 13, 1, 64), "float32"),
    ("temperature", "gru", (32, 30, 3, 16), "float32"),
    ("stock", "lstm", (64, 10, 1, 32), "float32"),
)
#: The labels of STEP_CASES that are a shipped dataset's name: timed as ``fastrnn train`` trains its
#: default model (model API, the dataset's optimizer, learning rate and clipping:
#: ``fastrnn.bench.dataset_case``), the others on fastrnn.functional with SGD.
DATASET_LABELS = ("airline", "temperature", "stock")


@njit(cache=False)
def _loop_blas_forward(h, w, out, n):
    for _ in range(n):
        np.dot(h, w.T, out)


@njit(cache=False)
def _loop_blas_backward(da, w, dh, n):
    for _ in range(n):
        np.dot(da, w, dh)


def _loop_packed():
    from fastrnn.kernels._smallgemm import gemm_rows

    @njit(cache=False)
    def loop(a, b, out, n):
        for _ in range(n):
            gemm_rows(a, b, out)

    return loop


def _time_loop(fn, args, n):
    t0 = time.perf_counter()
    fn(*args, n)
    return (time.perf_counter() - t0) / n


def _calls_for(fn, args, target_s=2e-3):
    fn(*args, 1)
    n = 1
    while True:
        dt = _time_loop(fn, args, n) * n
        if dt >= target_s / 4 or n >= 1 << 20:
            return max(1, int(n * target_s / max(dt, 1e-9)))
        n *= 4


def _quartiles(xs):
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], statistics.median(xs), q[2]


def bench_gemms(repeat):
    """Rows of part 1 (module docstring)."""
    from fastrnn.kernels._smallgemm import pack_transposed
    from fastrnn.threads import set_blas_threads

    set_blas_threads(1)
    packed = _loop_packed()
    rng = np.random.default_rng(0)
    rows = []
    for dtype in DTYPES:
        for G in GATES:
            for H in SIZES:
                for B in SIZES:
                    w = rng.uniform(-0.3, 0.3, (G * H, H)).astype(dtype)
                    for product in ("forward", "backward"):
                        if product == "forward":
                            a, out = rng.standard_normal((B, H)).astype(dtype), np.empty((B, G * H), dtype)
                            blas = (_loop_blas_forward, (a, w, out))
                            mine = (packed, (a, pack_transposed(w), out))
                        else:
                            a, out = rng.standard_normal((B, G * H)).astype(dtype), np.empty((B, H), dtype)
                            blas = (_loop_blas_backward, (a, w, out))
                            mine = (packed, (a, w, out))
                        n = _calls_for(*blas)
                        tb, tp = [], []
                        for _ in range(repeat):
                            tb.append(_time_loop(blas[0], blas[1], n))
                            tp.append(_time_loop(mine[0], mine[1], n))
                        ratios = [b / p for b, p in zip(tb, tp)]
                        q1, med, q3 = _quartiles(ratios)
                        rows.append({"dtype": dtype, "G": G, "H": H, "B": B, "product": product,
                                     "rows": B, "k": H if product == "forward" else G * H,
                                     "n": G * H if product == "forward" else H,
                                     "blas_us": statistics.median(tb) * 1e6, "packed_us": statistics.median(tp) * 1e6,
                                     "ratio_q1": q1, "ratio": med, "ratio_q3": q3, "calls_per_sample": n})
                        print(f"{dtype} G={G} H={H:2d} B={B:2d} {product:8s} blas {rows[-1]['blas_us']:7.2f} us "
                              f"packed {rows[-1]['packed_us']:7.2f} us  ratio {med:5.2f} ({q1:.2f}-{q3:.2f})",
                              flush=True)
    return rows


_WORKER = r"""
import json, sys, time
mode, threads, repeat = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
cases, clock = json.loads(sys.argv[4]), sys.argv[5]
from fastrnn.kernels import _gemm
_gemm._OVERRIDE = mode  # before anything compiles (this process has a Numba cache of its own)
from fastrnn.bench import steps, timing
from fastrnn.bench.threads import set_threads, torch_module
torch = torch_module()
set_threads(threads)
timing.set_clock(clock)
out = []
from fastrnn.bench import cases as bench_cases
for label, cell, size, dtype in cases:
    if label in bench_cases.DATASETS:
        train = bench_cases.dataset_case(label)["train"]
        assert tuple(bench_cases.dataset_case(label)["size"]) == tuple(size), label
        s = {"numba": steps.ModelStep("numba", cell, tuple(size), dtype, **train)}
    else:
        train = {}
        s = {"numba": steps.FunctionalStep("numba", cell, tuple(size), dtype)}
    if torch is not None:
        s["torch"] = steps.TorchStep("torch", cell, tuple(size), dtype, **train)
    res = timing.time_case(s, ["train"], repeat, 0.1, 2)
    out.append({k[0]: v["times_s"] for k, v in res.items()})
print(json.dumps(out))
"""


def bench_steps(repeat, rounds, threads_list, clock="wall"):
    """Rows of part 2 (module docstring)."""
    cache_root = os.path.join(tempfile.gettempdir(), "fastrnn-smallgemm-cache")  # kept: later runs load it
    cases = [list(c) for c in STEP_CASES]
    samples = {}  # (threads, mode) -> [per case: {"numba": [...], "torch": [...]}] over rounds
    for r in range(rounds):
        for threads in threads_list:
            for mode, override in MODES.items():
                env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(cache_root, mode), FASTRNN_NO_CACHE="0")
                p = subprocess.run([sys.executable, "-c", _WORKER, str(override), str(threads), str(repeat),
                                    json.dumps(cases), clock], env=env, capture_output=True, text=True)
                if p.returncode != 0:
                    raise SystemExit(f"worker ({mode}, {threads} threads) failed:\n{p.stderr}")
                res = json.loads(p.stdout.strip().splitlines()[-1])
                samples.setdefault((threads, mode), []).append(res)
                print(f"round {r + 1}, {threads} threads, {mode}: " + ", ".join(
                    f"{statistics.median(c['numba']) * 1e3:.3f} ms" for c in res), flush=True)
    rows = []
    for threads in threads_list:
        for i, (label, cell, size, dtype) in enumerate(STEP_CASES):
            row = {"case": label, "cell": cell, "size": list(size), "dtype": dtype, "threads": threads}
            for mode in MODES:
                runs = [run[i] for run in samples[threads, mode]]
                numba_t = [t for run in runs for t in run["numba"]]
                row[f"{mode}_ms"] = statistics.median(numba_t) * 1e3
                row[f"{mode}_ms_range"] = [min(numba_t) * 1e3, max(numba_t) * 1e3]
                if "torch" in runs[0]:
                    # same-process ratio fastrnn / torch speed, median over the rounds
                    row[f"{mode}_vs_torch"] = statistics.median(
                        statistics.median(run["torch"]) / statistics.median(run["numba"]) for run in runs)
                    row.setdefault("torch_ms_all", []).extend(t * 1e3 for run in runs for t in run["torch"])
            if "torch_ms_all" in row:
                row["torch_ms"] = statistics.median(row.pop("torch_ms_all"))
            rows.append(row)
    return rows


def _host():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        return "unknown"


def markdown(res):
    """The tables of benchmarks/README.md's section from a results dict."""
    lines = []
    if res.get("gemms"):
        lines += ["| dtype | product | G | H | " + " | ".join(f"B={b}" for b in SIZES) + " |",
                  "|---|---|---|---|" + "---|" * len(SIZES)]
        idx = {(r["dtype"], r["product"], r["G"], r["H"], r["B"]): r for r in res["gemms"]}
        for dtype in DTYPES:
            for product in ("forward", "backward"):
                for G in GATES:
                    for H in SIZES:
                        cells = []
                        for B in SIZES:
                            r = idx[dtype, product, G, H, B]
                            mark = "**" if r["ratio_q1"] > 1.1 else ""
                            cells.append(f"{mark}{r['ratio']:.2f}{mark}")
                        lines.append(f"| {dtype} | {product} | {G} | {H} | " + " | ".join(cells) + " |")
        lines.append("")
    if res.get("steps"):
        lines += ["| case (B, T, I, H) | cell | dtype | threads | OpenBLAS ms | packed ms | rule ms | "
                  "OpenBLAS/packed | x torch (OpenBLAS / packed / rule) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in res["steps"]:
            vs = " / ".join(f"{r[m + '_vs_torch']:.2f}x" for m in MODES) if "blas_vs_torch" in r else "-"
            lines.append(f"| {r['case']} ({', '.join(map(str, r['size']))}) | {r['cell']} | {r['dtype']} | "
                         f"{r['threads']} | {r['blas_ms']:.3f} | {r['packed_ms']:.3f} | {r['rule_ms']:.3f} | "
                         f"{r['blas_ms'] / r['packed_ms']:.2f} | {vs} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", default="1,2", help="thread counts of the training steps (comma-separated)")
    ap.add_argument("--only", choices=("gemms", "steps"))
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="clock of the training steps: cpu (this process's CPU time) for 1 thread on a busy machine")
    ap.add_argument("--json", default=f"benchmarks/small-gemm-{datetime.date.today().isoformat()}.json")
    ap.add_argument("--markdown", help="print the tables of an existing results file and exit")
    args = ap.parse_args()
    if args.markdown:
        with open(args.markdown) as f:
            print(markdown(json.load(f)))
        return
    import numba
    import scipy

    res = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "host": _host(),
           "cpus": len(os.sched_getaffinity(0)), "load_average_start": list(os.getloadavg()),
           "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "numba": numba.__version__},
           "repeat": args.repeat, "rounds": args.rounds}
    try:
        import torch

        res["versions"]["torch"] = torch.__version__
    except ImportError:
        pass
    if args.only != "steps":
        res["gemms"] = bench_gemms(args.repeat)
    if args.only != "gemms":
        res["steps"] = bench_steps(args.repeat, args.rounds, [int(t) for t in args.threads.split(",")], args.clock)
        res["steps_clock"] = args.clock
    res["load_average_end"] = list(os.getloadavg())
    if args.only and os.path.exists(args.json):  # one part again: keep the other part of the file
        with open(args.json) as f:
            old = json.load(f)
        old[f"{args.only}_run"] = {k: res[k] for k in ("date", "load_average_start", "load_average_end")}
        old[args.only] = res[args.only]
        if "steps_clock" in res:
            old["steps_clock"] = res["steps_clock"]
        res = old
    with open(args.json, "w") as f:
        json.dump(res, f, indent=1)
    print(markdown(res))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
