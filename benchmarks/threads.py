"""When do 2 OpenBLAS threads beat 1? The measurements behind fastrnn.threads.THRESHOLD_FLOPS.

    python benchmarks/threads.py [--repeat 5] [--json benchmarks/threads-DATE.json] [--quick]

1. GEMMs as the kernels make them (``np.dot`` inside a Numba function, i.e. SciPy's OpenBLAS),
   per dtype: the recurrent product ``h @ W_hhᵀ`` (B, H) x (H, G·H), the input product
   (T·B, I) x (I, G·H) and the weight gradient ``dW_hh`` over T·B rows
   (``fastrnn.kernels._gemm.weight_gradient``). Each sample is a Numba loop of calls (as in a time
   loop), 1 and 2 threads alternated; medians over ``--repeat``.
2. Whole training steps (``Trainer.train_step``, SGD, many-to-one) at the bench grid sizes and the
   airline / temperature defaults, 1 vs 2 threads.
Both idle and with one competing CPU-bound process (``python -c "while True: pass"``, killed after).
3. Spinning pools: CPU time a process burns while it sleeps 1 s right after one small train step
   and after one large GEMM, with 1 and 2 BLAS threads (fresh process each), and its thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
from numba import njit

from fastrnn.kernels._gemm import weight_gradient
from fastrnn.kernels._threads import set_blas_threads

G = 4  # LSTM gates


@njit(cache=False)
def _loop_recurrent(h, w, out, k):
    for _ in range(k):
        np.dot(h, w.T, out)


@njit(cache=False)
def _loop_input(x, w, out, k):
    for _ in range(k):
        np.dot(x, w.T, out)


@njit(cache=False)
def _loop_wgrad(d, a, out, k):
    for _ in range(k):
        weight_gradient(d, a, out)


def _gemm_cases(dtype, quick):
    rng = np.random.default_rng(0)
    r = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    cases = []
    rec = [(16, 16), (16, 64), (32, 64), (64, 64), (32, 128), (64, 128), (128, 128), (64, 256),
           (128, 256), (128, 512)]
    for B, H in rec[::2] if quick else rec:
        cases.append(("recurrent", f"B={B} H={H}", 2 * B * G * H * H,
                      (_loop_recurrent, (r(B, H), r(G * H, H), np.empty((B, G * H), dtype)))))
    inp = [(192, 1, 64), (960, 3, 16), (384, 8, 64), (3200, 8, 128), (12800, 64, 512)]
    for N, I, H in inp:
        cases.append(("input", f"TB={N} I={I} H={H}", 2 * N * I * G * H,
                      (_loop_input, (r(N, I), r(G * H, I), np.empty((N, G * H), dtype)))))
    wg = [(192, 64), (384, 32), (960, 16), (384, 64), (3200, 64), (3200, 128), (12800, 128),
          (12800, 512)]
    for N, H in wg[::2] if quick else wg:
        cases.append(("wgrad", f"TB={N} H={H}", 2 * N * G * H * H,
                      (_loop_wgrad, (r(N, G * H), r(N, H), np.empty((G * H, H), dtype)))))
    return cases


def _time_calls(fn, args, k):
    t0 = time.perf_counter()
    fn(*args, k)
    return (time.perf_counter() - t0) / k


def measure_gemms(dtype, repeat, quick, target_s=0.02):
    rows = []
    for kind, label, flops, (fn, args) in _gemm_cases(dtype, quick):
        fn(*args, 1)
        k = {}
        for n in (1, 2):  # calls per sample, per thread count (2 threads can be 100x slower)
            set_blas_threads(n)
            k[n] = max(1, int(target_s / max(_time_calls(fn, args, 3), 1e-7)))
        samples = {1: [], 2: []}
        for _ in range(repeat):
            for n in (1, 2):
                set_blas_threads(n)
                fn(*args, 1)  # wake the workers / settle
                samples[n].append(_time_calls(fn, args, k[n]))
        t1, t2 = statistics.median(samples[1]), statistics.median(samples[2])
        rows.append(dict(kind=kind, shape=label, flops=flops, dtype=dtype, t1_us=t1 * 1e6, t2_us=t2 * 1e6,
                         speedup=t1 / t2))
    set_blas_threads(1)
    return rows


STEP_SIZES = [("grid", (1, 1, 1, 256)), ("grid", (32, 12, 1, 64)), ("grid", (64, 50, 8, 128)),
              ("grid", (128, 100, 64, 512)), ("airline", (16, 13, 1, 64)), ("temperature", (32, 30, 3, 16))]


def measure_steps(repeat, quick, cells=("lstm", "gru")):
    import fastrnn as fr
    from fastrnn.threads import largest_gemm_flops

    rows = []
    for dtype in ("float32", "float64"):
        for case, (B, T, I, H) in STEP_SIZES:
            for cell in cells:
                if case == "temperature" and cell != "gru" or case == "airline" and cell != "lstm":
                    continue
                big = B * T * H >= 128 * 100 * 512
                rep = max(3, repeat - 2) if big else repeat
                m = getattr(fr, cell.upper())(input_size=I, hidden_size=H, seed=0, dtype=dtype)
                tr = fr.Trainer(m, optimizer=fr.optim.SGD(m.parameters(), lr=1e-3))
                rng = np.random.default_rng(0)
                x, y = rng.standard_normal((B, T, I)).astype(dtype), rng.standard_normal(B).astype(dtype)
                x, y = tr._check_xy(x, y)
                k = {}
                for n in (1, 2):
                    set_blas_threads(n)
                    tr._step(x, y)
                    k[n] = 1 if big else max(1, int(0.05 / max(_time_step(tr, x, y, 2), 1e-6)))
                samples = {1: [], 2: []}
                for _ in range(rep):
                    for n in (1, 2):
                        set_blas_threads(n)
                        tr._step(x, y)
                        samples[n].append(_time_step(tr, x, y, k[n]))
                t1, t2 = statistics.median(samples[1]), statistics.median(samples[2])
                rows.append(dict(case=case, size=[B, T, I, H], cell=cell, dtype=dtype,
                                 largest_gemm_flops=largest_gemm_flops(m, B, T), t1_ms=t1 * 1e3, t2_ms=t2 * 1e3,
                                 speedup=t1 / t2))
                if quick and big:
                    break
    set_blas_threads(1)
    return rows


def _time_step(tr, x, y, k):
    t0 = time.perf_counter()
    for _ in range(k):
        tr._step(x, y)
    return (time.perf_counter() - t0) / k


_SPIN = r"""
import os, sys, time, resource, numpy as np
import fastrnn as fr
from fastrnn.kernels._threads import set_blas_threads
from fastrnn.kernels._gemm import weight_gradient
n, what = int(sys.argv[1]), sys.argv[2]
set_blas_threads(n)
m = fr.LSTM(input_size=1, hidden_size=64, seed=0)
tr = fr.Trainer(m)
x, y = np.zeros((16, 13, 1), np.float32), np.zeros(16, np.float32)
tr.train_step(x, y)
a = np.ones((1024, 1024), np.float32)
if what == "gemm":
    for _ in range(3):
        weight_gradient(a, a, np.empty((1024, 1024), np.float32))
else:
    tr.train_step(x, y)
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
c0 = cpu(); time.sleep(1.0); c1 = cpu()
import numba
try:
    layer = numba.threading_layer()
except ValueError as e:
    layer = "none started (" + str(e).split(".")[0] + ")"
print(f"{c1 - c0:.4f} {len(os.listdir('/proc/self/task'))} {layer}")
"""


def measure_spin():
    rows = []
    for env_extra in ({}, {"OPENBLAS_THREAD_TIMEOUT": "4"}):
        for what in ("step", "gemm"):
            for n in (1, 2):
                env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
                env.update(env_extra)
                out = subprocess.run([sys.executable, "-c", _SPIN, str(n), what], env=env, capture_output=True,
                                     text=True).stdout.split(maxsplit=2)
                rows.append(dict(env=" ".join(f"{k}={v}" for k, v in env_extra.items()) or "-", after=what,
                                 threads=n, idle_cpu_s_in_1s=float(out[0]), os_threads=int(out[1]),
                                 numba_layer=out[2].strip()))
    return rows


def _hog():
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def _fmt_gemms(rows):
    lines = ["| dtype | product | shape | flop | 1 thread µs | 2 threads µs | 1t/2t |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dtype']} | {r['kind']} | {r['shape']} | {r['flops']:.2g} | {r['t1_us']:.3g} | "
                     f"{r['t2_us']:.3g} | {r['speedup']:.2f} |")
    return "\n".join(lines)


def _fmt_steps(rows):
    lines = ["| case | B, T, I, H | cell | dtype | largest GEMM flop | 1 thread ms | 2 threads ms | 1t/2t |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {', '.join(map(str, r['size']))} | {r['cell']} | {r['dtype']} | "
                     f"{r['largest_gemm_flops']:.2g} | {r['t1_ms']:.3g} | {r['t2_ms']:.3g} | {r['speedup']:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--json", default=None)
    p.add_argument("--quick", action="store_true", help="fewer shapes")
    p.add_argument("--no-contended", action="store_true")
    a = p.parse_args(argv)
    out = {"host": _host(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "loadavg_start": os.getloadavg()[0],
           "command": "python benchmarks/threads.py " + " ".join(argv or sys.argv[1:])}
    for cond in ("idle",) if a.no_contended else ("idle", "contended"):
        hog = _hog() if cond == "contended" else None
        try:
            time.sleep(0.3 if hog else 0)
            gem = [r for dt in ("float32", "float64") for r in measure_gemms(dt, a.repeat, a.quick)]
            print(f"## GEMMs, {cond}\n\n{_fmt_gemms(gem)}\n", flush=True)
            steps = measure_steps(a.repeat, a.quick)
            print(f"## Train steps (SGD), {cond}\n\n{_fmt_steps(steps)}\n", flush=True)
        finally:
            if hog:
                hog.kill()
                hog.wait()
        out[cond] = {"gemms": gem, "steps": steps}
    spin = measure_spin()
    out["spin"] = spin
    print("## CPU time burnt in 1 s of sleep after the work (fresh process each)\n")
    print("| env | after | BLAS threads | CPU s in 1 s idle | OS threads | Numba threading layer |\n"
          "|---|---|---|---|---|---|")
    for r in spin:
        print(f"| {r['env']} | {r['after']} | {r['threads']} | {r['idle_cpu_s_in_1s']:.3f} | {r['os_threads']} | "
              f"{r['numba_layer']} |")
    out["loadavg_end"] = os.getloadavg()[0]
    print(f"\nhost: {out['host']}; load average {out['loadavg_start']:.2f} at start, {out['loadavg_end']:.2f} at end")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


def _host():
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        name = "unknown CPU"
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count()
    return f"{name}, {n} CPUs usable"


if __name__ == "__main__":
    main()
