"""Benchmark of a full training step and of inference: NumPy path, Numba path and PyTorch.

The logic behind ``fastrnn bench``. One *train step* is the many-to-one regression step

    forward over the sequence -> linear head on h_T -> MSE loss -> BPTT -> update

and *inference* is the forward pass plus the head. Two kinds of case are timed:

* the default model of each shipped dataset (:data:`DATASETS`), read at run time from
  :func:`fastrnn.forecast.make_config`: its cell, sizes (batch, look-back, inputs, hidden), layers,
  optimizer, learning rate and gradient-norm clipping (:func:`dataset_case`); for an ensemble
  default, one member's step;
* the size grid (:data:`SIZES` x :data:`CELLS`): one layer, plain SGD (lr 1e-3), no clipping.

Every (case, dtype) is timed for each backend in the same process, the samples of the backends
interleaved (so machine noise hits them alike), and the median over ``repeat`` samples is reported,
with same-run ratios (``torch / numba``: > 1 means fastrnn is faster), GFLOP/s and the fraction of
a GEMM peak measured on the spot through the same BLAS, dtype and thread count as the kernels.

Thread counts: ``threads`` is given to Numba (``numba.set_num_threads``), to every OpenBLAS in the
process and to PyTorch (``torch.set_num_threads``), so all sides use the same number of cores.

Use it from Python as :func:`run`; ``python -m fastrnn.bench --help`` is a small stand-alone CLI.

The fastrnn side of a step is built by a factory (see :data:`STEP_FACTORIES`): the model API
(``fastrnn.LSTM`` + ``fastrnn.Trainer``) when the package provides it, else the same step written by
hand on top of :mod:`fastrnn.functional` (grid cases only: it does plain SGD).
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from fastrnn import cells as _cells

#: (B, T, I, H): batch, sequence length, input size, hidden size.
SIZES = ((1, 1, 1, 256), (32, 12, 1, 64), (64, 50, 8, 128), (128, 100, 64, 512))
#: The shipped datasets whose default models are timed (see :func:`dataset_case`).
DATASETS = ("airline", "temperature", "stock")
CELLS = _cells.KINDS
DTYPES = ("float32", "float64")
BACKENDS = ("numpy", "numba", "torch")
MODES = ("train", "infer")
#: Number of gate blocks per cell.
GATES = _cells.KIND_GATES
#: fastrnn.functional's name of each benchmark cell ("rnn" is the tanh Elman RNN).
FUNCTIONAL_CELL = {kind: _cells.cell_for(kind) for kind in CELLS}
OUTPUT_SIZE = 1
#: Learning rate of the grid's SGD step.
LR = 1e-3
#: fastrnn.optim's optimizer name -> the torch.optim class of the same update.
TORCH_OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad"}


# --------------------------------------------------------------------------------------------------
# FLOPs
# --------------------------------------------------------------------------------------------------


def flops(cell, size, mode="train", output_size=OUTPUT_SIZE, num_layers=1):
    """GEMM FLOPs of one step: forward ``2 T B G H (I + H)`` for the first layer, ``2 T B G H 2H``
    for each further one, plus the head ``2 B H O``; the backward pass is counted as twice the
    forward, so a train step is 3x the forward."""
    B, T, I, H = size
    fwd = 2 * T * B * GATES[cell] * H * ((I + H) + (num_layers - 1) * 2 * H) + 2 * B * H * output_size
    return fwd if mode == "infer" else 3 * fwd


# --------------------------------------------------------------------------------------------------
# Threads
# --------------------------------------------------------------------------------------------------


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def get_threads():
    """Current thread counts: ``{"numba": n, "blas": {lib: n}, "torch": n or None}``."""
    import numba

    from fastrnn.kernels._threads import blas_threads

    torch = _torch() if "torch" in sys.modules else None
    return {"numba": numba.get_num_threads(), "blas": blas_threads(), "torch": torch.get_num_threads() if torch else None}


def set_threads(n, torch_too=True, numpy_blas=None):
    """Give Numba, every OpenBLAS and (if imported or ``torch_too``) PyTorch ``n`` threads; NumPy's own
    OpenBLAS ``numpy_blas`` threads if given (it is a separate library from the one Numba's ``np.dot``
    calls, SciPy's).

    Numba cannot exceed ``NUMBA_NUM_THREADS`` (fixed at start-up); asking for more raises ValueError.
    """
    import numba

    from fastrnn.kernels._threads import set_blas_threads

    n = int(n)
    if n < 1:
        raise ValueError(f"threads must be >= 1; got {n}")
    if n > numba.config.NUMBA_NUM_THREADS:
        raise ValueError(
            f"threads={n} exceeds NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}; "
            "set the environment variable NUMBA_NUM_THREADS before starting Python"
        )
    numba.set_num_threads(n)
    set_blas_threads(n)
    if numpy_blas is not None:
        from fastrnn.kernels._threads import _openblas_libs

        for _, set_fn, _, ilp64 in _openblas_libs():
            if ilp64:
                set_fn(int(numpy_blas))
    torch = _torch() if torch_too or "torch" in sys.modules else None
    if torch is not None:
        torch.set_num_threads(n)


def _restore_threads(saved):
    import numba

    from fastrnn.kernels._threads import _openblas_libs

    numba.set_num_threads(saved["numba"])
    for path, set_fn, _, _ in _openblas_libs():
        n = saved["blas"].get(os.path.basename(path))
        if n:
            set_fn(n)
    torch = _torch() if "torch" in sys.modules else None
    if torch is not None and saved["torch"]:
        torch.set_num_threads(saved["torch"])


# --------------------------------------------------------------------------------------------------
# GEMM peak
# --------------------------------------------------------------------------------------------------

_gemm = None


def gemm_peak(dtype, n=None, repeat=9):
    """GFLOP/s of a square ``n x n`` matrix product through the BLAS the kernels use (Numba's
    ``np.dot``), with the current thread counts: the best of ``repeat`` (a peak; on a shared machine
    the median wanders with the load)."""
    global _gemm
    if _gemm is None:
        from numba import njit

        @njit(cache=True)
        def _gemm_kernel(a, b, c):
            np.dot(a, b, c)

        _gemm = _gemm_kernel
    dtype = np.dtype(dtype)
    n = n or (2048 if dtype == np.float32 else 1536)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    c = np.empty((n, n), dtype)
    _gemm(a, b, c)  # compile / warm up
    times = []
    for _ in range(repeat):
        t0 = CLOCK()
        _gemm(a, b, c)
        times.append(CLOCK() - t0)
    return 2.0 * n**3 / min(times) / 1e9


# --------------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------------


class Step:
    """One benchmark case on one backend: ``train()`` runs a train step, ``infer()`` a forward pass.

    Both return the loss / predictions so that nothing is optimised away.
    """

    name = "?"

    def train(self):
        raise NotImplementedError

    def infer(self):
        raise NotImplementedError


def _data(size, dtype, seed=0):
    B, T, I, H = size
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, I)).astype(dtype)  # time-major
    y = rng.standard_normal((B, OUTPUT_SIZE)).astype(dtype)
    return x, y


def _init_params(cell, I, H, dtype, seed=0):
    """PyTorch's default initialisation: uniform(-1/sqrt(H), 1/sqrt(H)) for every weight and bias."""
    G = GATES[cell]
    k = 1.0 / math.sqrt(H)
    rng = np.random.default_rng(seed + 1)
    shapes = {"w_ih": (G * H, I), "w_hh": (G * H, H), "b_ih": (G * H,), "b_hh": (G * H,)}
    params = {n: rng.uniform(-k, k, s).astype(dtype) for n, s in shapes.items()}
    head = {"w": rng.uniform(-k, k, (OUTPUT_SIZE, H)).astype(dtype), "b": rng.uniform(-k, k, OUTPUT_SIZE).astype(dtype)}
    return params, head


class FunctionalStep(Step):
    """The train step written by hand on :mod:`fastrnn.functional`: forward, head, MSE, BPTT, SGD."""

    def __init__(self, backend, cell, size, dtype, seed=0):
        from fastrnn import functional as F

        self.F = F
        self.name = backend
        self.backend = backend
        self.cell = FUNCTIONAL_CELL[cell]
        self.lstm = cell == "lstm"
        B, T, I, H = size
        self.x, self.y = _data(size, dtype, seed)
        self.params, self.head = _init_params(cell, I, H, dtype, seed)
        self.lr = np.dtype(dtype).type(LR)

    def infer(self):
        _, state, _ = self.F.forward(self.cell, self.x, self.params, None, backend=self.backend)
        h = state[0] if self.lstm else state
        return h @ self.head["w"].T + self.head["b"]

    def train(self):
        F, p, head, lr = self.F, self.params, self.head, self.lr
        _, state, cache = F.forward(self.cell, self.x, p, None, backend=self.backend)
        h = state[0] if self.lstm else state
        diff = h @ head["w"].T + head["b"] - self.y
        loss = np.mean(diff * diff)
        d_pred = diff * (2.0 / diff.size)  # dL/dpred of the mean squared error
        d_h = d_pred @ head["w"]
        grads = F.backward(self.cell, cache, None, (d_h, None) if self.lstm else d_h)
        head["w"] -= lr * (d_pred.T @ h)
        head["b"] -= lr * d_pred.sum(axis=0)
        for k in ("w_ih", "w_hh", "b_ih", "b_hh"):
            p[k] -= lr * grads[k]
        return loss


def _model_api_available():
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("fastrnn.models", "fastrnn.trainer"))


class ModelStep(Step):
    """The train step through the model API: ``fr.Trainer(fr.LSTM(...)).train_step(x, y)``, with the
    optimizer ``optimizer`` (a :func:`fastrnn.optim.get` name) at learning rate ``lr`` and, unless
    ``clip_norm`` is None, the gradients clipped to that global norm."""

    def __init__(self, backend, cell, size, dtype, seed=0, optimizer="sgd", lr=LR, clip_norm=None, num_layers=1):
        import fastrnn as fr
        from fastrnn.models import model_class

        self.name = backend
        B, T, I, H = size
        cls = model_class(cell)
        self.model = cls(I, H, output_size=OUTPUT_SIZE, num_layers=num_layers, dtype=np.dtype(dtype).name,
                         backend=backend, seed=seed)
        opt = fr.optim.get(optimizer, self.model.parameters(), lr=lr)
        self.trainer = fr.Trainer(self.model, loss="mse", optimizer=opt, clip_norm=clip_norm)
        x, self.y = _data(size, dtype, seed)
        self.x = np.ascontiguousarray(x.transpose(1, 0, 2))  # the model API is batch-first

    def train(self):
        return self.trainer.train_step(self.x, self.y)

    def infer(self):
        return self.model.predict(self.x)


def fastrnn_step(backend, cell, size, dtype, seed=0, optimizer="sgd", lr=LR, clip_norm=None, num_layers=1):
    """The fastrnn side of a benchmark case: the model API when available, else :class:`FunctionalStep`.

    Set the environment variable ``FASTRNN_BENCH_STEP=functional`` to force the hand-written step.
    That step only does the grid's training (one layer, SGD at lr 1e-3, no clipping): any other
    ``optimizer``, ``lr``, ``clip_norm`` or ``num_layers`` needs the model API, and raises
    RuntimeError without it.
    """
    forced = os.environ.get("FASTRNN_BENCH_STEP", "") == "functional"
    grid_step = optimizer == "sgd" and lr == LR and clip_norm is None and num_layers == 1
    error = None
    if not forced and _model_api_available():
        try:
            return ModelStep(backend, cell, size, dtype, seed, optimizer, lr, clip_norm, num_layers)
        except (ImportError, AttributeError, TypeError) as e:
            error = e  # the model API is not (yet) what this module expects: fall back
    if not grid_step:
        why = "FASTRNN_BENCH_STEP=functional is set" if forced else "the model API is not available"
        raise RuntimeError(
            f"a {num_layers}-layer {cell} step with {optimizer} (lr {lr:g}), clip_norm {clip_norm} needs "
            f"fastrnn's model API (fastrnn.models + fastrnn.trainer), but {why}; the hand-written "
            f"fallback step only does one layer with SGD at lr {LR:g} and no clipping"
        ) from error
    return FunctionalStep(backend, cell, size, dtype, seed)


class TorchStep(Step):
    """nn.RNN/LSTM/GRU + nn.Linear on the last layer's h_T + MSELoss + the torch.optim optimizer of
    ``optimizer`` (:data:`TORCH_OPTIMIZERS`) at ``lr``, after ``clip_grad_norm_`` unless ``clip_norm``
    is None; time-major input."""

    def __init__(self, backend, cell, size, dtype, seed=0, optimizer="sgd", lr=LR, clip_norm=None, num_layers=1):
        import torch

        self.torch = torch
        self.name = "torch"
        B, T, I, H = size
        tdtype = {np.float32: torch.float32, np.float64: torch.float64}[np.dtype(dtype).type]
        torch.manual_seed(seed)
        rnn_cls = getattr(torch.nn, _cells.get(_cells.cell_for(cell)).torch[0])
        self.rnn = rnn_cls(I, H, num_layers=num_layers, dtype=tdtype)
        self.head = torch.nn.Linear(H, OUTPUT_SIZE, dtype=tdtype)
        self.lstm = cell == "lstm"
        x, y = _data(size, dtype, seed)
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.loss = torch.nn.MSELoss()
        self.params = list(self.rnn.parameters()) + list(self.head.parameters())
        self.opt = getattr(torch.optim, TORCH_OPTIMIZERS[optimizer])(self.params, lr=lr)
        self.clip_norm = clip_norm

    def _forward(self):
        _, state = self.rnn(self.x)
        h = state[0] if self.lstm else state
        return self.head(h[-1])  # the last layer's final hidden state

    def train(self):
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(self._forward(), self.y)
        loss.backward()
        if self.clip_norm is not None:
            self.torch.nn.utils.clip_grad_norm_(self.params, self.clip_norm)
        self.opt.step()
        return loss

    def infer(self):
        with self.torch.no_grad():
            return self._forward()


#: backend -> factory(backend, cell, size, dtype, seed=0, optimizer="sgd", lr=LR, clip_norm=None,
#: num_layers=1) -> Step. Replace an entry to plug in another implementation of the step. Grid cases
#: call it with (backend, cell, size, dtype) only; dataset cases add the four training settings.
STEP_FACTORIES = {"numpy": fastrnn_step, "numba": fastrnn_step, "torch": TorchStep}


def dataset_case(name):
    """The benchmark case of ``name``'s default model, derived from
    :func:`fastrnn.forecast.make_config` as :func:`fastrnn.forecast.build_model` and
    :func:`fastrnn.forecast.fit_model` use it.

    Returns ``{"case": name, "cell", "size": (B, T, I, H), "train": {"optimizer", "lr",
    "clip_norm", "num_layers"}, "ensemble"}``: B is the training batch size, T the look-back, I the
    inputs per step (3 with calendar features, else 1), H the hidden size. ``train`` holds the
    keyword arguments of the step factories. An ensemble default trains ``ensemble`` members of
    this size one after the other, so one member's step is the case.
    """
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {name!r}")
    from fastrnn.forecast import make_config

    cfg = make_config(dataset=name)
    return {
        "case": name, "cell": cfg.model, "size": (cfg.batch_size, cfg.look_back, 3 if cfg.calendar else 1, cfg.hidden),
        "train": {"optimizer": cfg.optimizer, "lr": cfg.lr, "clip_norm": cfg.clip_norm, "num_layers": cfg.layers},
        "ensemble": cfg.ensemble,
    }


# --------------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------------


#: The clock of the samples: wall time. (``time.process_time`` is useful when developing on a busy
#: machine with one thread: it does not count the time the process waits for a core.)
CLOCK = time.perf_counter


def _calibrate(fn, min_sample_s):
    """Calls per sample so that a sample lasts about ``min_sample_s`` (from one timed call)."""
    t0 = CLOCK()
    fn()
    dt = CLOCK() - t0
    return max(1, min(1000, int(math.ceil(min_sample_s / max(dt, 1e-7)))))


def _sample(fn, n):
    t0 = CLOCK()
    for _ in range(n):
        fn()
    return (CLOCK() - t0) / n


def _time_case(steps, modes, repeat, min_sample_s, warmup, settle_s=0.15):
    """Time every (backend, mode) of one case, samples interleaved across backends.

    Before each sample the process sleeps ``settle_s`` and makes one untimed call: the thread pools
    of the previous backend (OpenMP, OpenBLAS workers busy-wait ~0.1 s after their last job) must
    go idle, or they steal the cores of the next one; and the untimed call wakes this backend's.
    Returns ``{(backend, mode): {"first_call_s", "times_s"}}``.
    """
    out = {}
    fns = {}
    for backend, step in steps.items():
        for mode in modes:
            fn = getattr(step, mode)
            time.sleep(settle_s)
            t0 = time.perf_counter()
            fn()  # first call: JIT compilation or on-disk cache load, first-touch allocations
            first = time.perf_counter() - t0
            for _ in range(warmup):
                fn()
            fns[backend, mode] = (fn, _calibrate(fn, min_sample_s))
            out[backend, mode] = {"first_call_s": first, "times_s": []}
    for _ in range(repeat):
        for key, (fn, n) in fns.items():
            if settle_s:
                time.sleep(settle_s)
                fn()
            out[key]["times_s"].append(_sample(fn, n))
    return out


# --------------------------------------------------------------------------------------------------
# Start-up (JIT compile cold, on-disk cache warm)
# --------------------------------------------------------------------------------------------------

_STARTUP_SCRIPT = r"""
import time
t0 = time.perf_counter()
import json, sys
launched = float(sys.argv[2])  # the parent's time.time() just before starting this process
import numpy as np
import fastrnn
from fastrnn import bench
t_import = time.perf_counter() - t0
res = []
for cell, dtype, size in json.loads(sys.argv[1]):
    t1 = time.perf_counter()
    step = bench.fastrnn_step("numba", cell, tuple(size), dtype)
    step.train()
    res.append({"cell": cell, "dtype": dtype, "first_step_s": time.perf_counter() - t1,
                "since_launch_s": time.time() - launched})
print(json.dumps({"import_s": t_import, "steps": res}))
"""


def startup_times(cells, dtypes, size=(32, 12, 1, 64), cold=True, threads=None):
    """Time a new Python process from its launch to the end of its first Numba train step.

    With ``cold=True`` Numba's on-disk cache points to an empty temporary directory, so every kernel
    is compiled (the JIT compile time); with ``cold=False`` the normal cache is used (warm after any
    earlier run). Returns ``{"launch_to_first_step_s", "import_s", "steps": [...]}`` where ``steps``
    gives, per (cell, dtype) in order, the time of its first step (compile or cache load + run) and
    the time since the launch at its end.
    """
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in [root, env.get("PYTHONPATH")] if p)
    if threads:
        env["NUMBA_NUM_THREADS"] = env.get("NUMBA_NUM_THREADS", str(threads))
        env["OPENBLAS_NUM_THREADS"] = str(threads)
    cases = [[c, d, list(size)] for c in cells for d in dtypes]
    with tempfile.TemporaryDirectory(prefix="fastrnn-bench-cache-") as tmp:
        if cold:
            env["NUMBA_CACHE_DIR"] = tmp
        launched = time.time()
        proc = subprocess.run([sys.executable, "-c", _STARTUP_SCRIPT, json.dumps(cases), repr(launched)], env=env,
                              capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"start-up benchmark failed:\n{proc.stderr[-2000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["launch_to_first_step_s"] = res["steps"][0]["since_launch_s"] if res["steps"] else None
    res["cold"] = cold
    return res


# --------------------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------------------


def _fmt_ms(s):
    if s is None:
        return "-"
    ms = s * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def _fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}x"


def _versions():
    v = {"python": platform.python_version()}
    for m in ("numpy", "numba", "llvmlite", "scipy", "torch"):
        try:
            v[m] = __import__(m).__version__
        except Exception:  # noqa: BLE001 - optional
            v[m] = None
    return v


def _loadavg():
    """The 1, 5 and 15-minute load averages (other processes competing for the cores), or None."""
    try:
        return list(os.getloadavg())
    except (AttributeError, OSError):
        return None


def _machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "platform": platform.platform()}


def _case_row(case):
    """The keys of a result or ratio row that identify ``case``: ``case`` (the dataset name or
    "grid"), sizes and cell; for a dataset also its training settings and ensemble size."""
    B, T, I, H = case["size"]
    row = {"case": case["case"], "B": B, "T": T, "I": I, "H": H, "cell": case["cell"]}
    if case["case"] != "grid":
        row.update(case["train"], ensemble=case["ensemble"])
    return row


def run(sizes=SIZES, datasets=DATASETS, cells=CELLS, dtypes=DTYPES, threads=None, repeat=7, backends=BACKENDS,
        json_path=None, plot_path=None, echo=print, modes=MODES, min_sample_s=0.05, warmup=1,
        settle_s=0.15, startup=False, numpy_blas_threads=None):
    """Benchmark the default model of each of ``datasets``, then every (size, cell) of the grid, each
    in every dtype on ``backends``; return (and optionally save) the results.

    Parameters
    ----------
    sizes : iterable of (B, T, I, H) of the grid; empty to skip the grid.
    datasets : subset of :data:`DATASETS` whose default models are timed (see :func:`dataset_case`),
        in their own cell, sizes and training settings; empty to skip them. ``sizes`` and
        ``datasets`` cannot both be empty.
    cells : subset of ("rnn", "lstm", "gru") for the grid.
    dtypes : subset of ("float32", "float64").
    threads : threads for Numba, BLAS and PyTorch (default: Numba's current count).
    repeat : samples per measurement; the median is reported. A sample runs the step as many
        times as fits in ``min_sample_s`` (at least once) and gives the time per step.
    backends : subset of ("numpy", "numba", "torch"); "torch" is skipped (with a note) if PyTorch
        is not importable.
    json_path, plot_path : where to write the results as JSON and a PNG chart (needs matplotlib).
    echo : a print-like function for progress and the table, or None for silence.
    modes : subset of ("train", "infer").
    min_sample_s, warmup, settle_s : timing details, see :func:`_time_case`.
    startup : also time a new process to its first train step, compile cold and cache warm.
    numpy_blas_threads : threads of NumPy's own OpenBLAS (default ``threads``). The Numba path's
        kernels do not use it (Numba calls SciPy's), only NumPy code around them does (the model's
        head, the trainer's gradient norms) and the NumPy backend.

    Returns
    -------
    dict with ``meta`` (versions, machine, threads, GEMM peak per dtype), ``results`` (one row per
    case, dtype, backend, mode: median and all samples in ms, GFLOP/s, fraction of the GEMM peak,
    first-call time), ``ratios`` (per case, dtype, mode: ``torch/numba`` and ``numpy/numba``, > 1
    meaning the Numba path is faster) and ``startup`` (or None). Every row has ``case`` (the dataset
    name or "grid"), ``B``, ``T``, ``I``, ``H`` and ``cell``; dataset rows also ``optimizer``,
    ``lr``, ``clip_norm``, ``num_layers`` and ``ensemble``.
    """
    import numba

    echo = echo or (lambda *a, **k: None)
    sizes = [tuple(int(v) for v in s) for s in sizes]
    for s in sizes:
        if len(s) != 4 or min(s) < 1:
            raise ValueError(f"each size must be (B, T, I, H) with every entry >= 1; got {s}")
    cases = [dataset_case(name) for name in datasets]  # raises ValueError on an unknown name
    if not sizes and not cases:
        raise ValueError("nothing to time: give at least one dataset or one grid size")
    cells = list(cells)
    for c in cells:
        if c not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}; got {c!r}")
    dtypes = [np.dtype(d).name for d in dtypes]
    for d in dtypes:
        if d not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {d!r}")
    backends = list(backends)
    for b in backends:
        if b not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {b!r}")
    modes = list(modes)
    for m in modes:
        if m not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {m!r}")
    repeat = int(repeat)
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1; got {repeat}")
    notes = []
    if "torch" in backends and _torch() is None:
        backends.remove("torch")
        notes.append("PyTorch is not importable: torch skipped")
        echo("note: PyTorch is not importable; skipping it")

    saved = get_threads()
    threads = int(threads or numba.get_num_threads())
    set_threads(threads, torch_too="torch" in backends, numpy_blas=numpy_blas_threads)
    try:
        peak = {}
        for d in dtypes:
            peak[d] = gemm_peak(d)
            echo(f"GEMM peak ({d}, {threads} thread(s), Numba np.dot): {peak[d]:.1f} GFLOP/s")
        cases += [{"case": "grid", "cell": cell, "size": size, "train": {}} for size in sizes for cell in cells]
        step_kinds = {}  # the class names of the fastrnn steps, in order
        meta = {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "versions": _versions(),
            "machine": _machine(),
            "threads": get_threads(),
            "requested_threads": threads,
            "numpy_blas_threads": threads if numpy_blas_threads is None else int(numpy_blas_threads),
            "gemm_peak_gflops": peak,
            "repeat": repeat,
            "min_sample_s": min_sample_s,
            "settle_s": settle_s,
            "clock": "cpu (process time)" if CLOCK is time.process_time else "wall",
            "fastrnn_step": None,
            "train_step": "many-to-one: forward, linear head on h_T (output size 1), MSE, BPTT, update. "
                          "grid: one layer, SGD (lr 1e-3), no clipping. Datasets: the dataset's default "
                          "model (fastrnn.forecast.make_config): its layers, optimizer, lr and clip_norm, "
                          "batch = its batch size, T = its look-back; with an ensemble default, one "
                          "member's step (the default trains `ensemble` of them)",
            "flops": "GEMM FLOPs: forward 2*T*B*G*H*(I+H) for the first layer, 2*T*B*G*H*2H for each "
                     "further one, + head 2*B*H*O; train = 3x forward",
            "notes": notes,
            "loadavg_start": _loadavg(),
        }
        results, ratios = [], []
        for case in cases:
            cell, size, key = case["cell"], case["size"], _case_row(case)
            case_flops = {mode: flops(cell, size, mode, num_layers=case["train"].get("num_layers", 1))
                          for mode in modes}
            for d in dtypes:
                steps = {b: STEP_FACTORIES[b](b, cell, size, d, **case["train"]) for b in backends}
                step_kinds.update((type(s).__name__, None) for b, s in steps.items() if b != "torch")
                timed = _time_case(steps, modes, repeat, min_sample_s, warmup, settle_s)
                for (b, mode), t in timed.items():
                    med = statistics.median(t["times_s"])
                    gflops = case_flops[mode] / med / 1e9
                    results.append({
                        **key, "dtype": d, "backend": b, "mode": mode, "median_ms": med * 1e3,
                        "times_ms": [v * 1e3 for v in t["times_s"]], "first_call_ms": t["first_call_s"] * 1e3,
                        "gflops": gflops, "peak_fraction": gflops / peak[d],
                    })
                for mode in modes:
                    med = {b: statistics.median(timed[b, mode]["times_s"]) for b in backends}
                    row = {**key, "dtype": d, "mode": mode}
                    row.update({f"{b}_ms": med[b] * 1e3 for b in backends})
                    if "numba" in med:
                        row["torch_over_numba"] = med["torch"] / med["numba"] if "torch" in med else None
                        row["numpy_over_numba"] = med["numpy"] / med["numba"] if "numpy" in med else None
                        row["numba_peak_fraction"] = case_flops[mode] / med["numba"] / 1e9 / peak[d]
                    ratios.append(row)
                    echo(_format_row(row, backends))
        meta["fastrnn_step"] = ", ".join(step_kinds) or None
        meta["loadavg_end"] = _loadavg()
        out = {"meta": meta, "results": results, "ratios": ratios, "startup": None}
        if startup:
            out["startup"] = {
                "cold": startup_times(cells, dtypes, cold=True, threads=threads),
                "warm": startup_times(cells[:1], dtypes[:1], cold=False, threads=threads),
            }
            echo(format_startup(out["startup"]))
    finally:
        _restore_threads(saved)
    echo("")
    echo(format_table(out))
    if json_path:
        with open(json_path, "w") as f:
            json.dump(out, f, indent=1)
        echo(f"wrote {json_path}")
    if plot_path:
        plot(out, plot_path)
        echo(f"wrote {plot_path}")
    return out


def case_label(row):
    """The case of a result or ratio row as text: "grid", or the dataset with its training settings,
    e.g. "airline (adam, clip 1, ×5 members)" (rows without ``case``, from before dataset cases
    existed, are grid rows)."""
    name = row.get("case", "grid")
    if name == "grid":
        return name
    settings = [row["optimizer"]]
    if row["clip_norm"] is not None:
        settings.append(f"clip {row['clip_norm']:g}")
    if row["num_layers"] > 1:
        settings.append(f"{row['num_layers']} layers")
    if row["ensemble"] > 1:
        settings.append(f"×{row['ensemble']} members")
    return f"{name} ({', '.join(settings)})"


def _format_row(row, backends):
    parts = [f"{case_label(row)} {row['mode']:5s} {row['cell']:4s} {row['dtype']:7s} "
             f"B,T,I,H={row['B']},{row['T']},{row['I']},{row['H']}:"]
    parts += [f"{b} {_fmt_ms(row[f'{b}_ms'] / 1e3)} ms" for b in backends]
    if row.get("torch_over_numba") is not None:
        parts.append(f"torch/numba {_fmt_ratio(row['torch_over_numba'])}")
    if row.get("numpy_over_numba") is not None:
        parts.append(f"numpy/numba {_fmt_ratio(row['numpy_over_numba'])}")
    if row.get("numba_peak_fraction") is not None:
        parts.append(f"numba {100 * row['numba_peak_fraction']:.0f}% of GEMM peak")
    return "  ".join(parts)


def format_table(out):
    """A Markdown table of the medians (ms) and same-run ratios, the case first (:func:`case_label`)."""
    rows = out["ratios"]
    backends = [b for b in BACKENDS if any(f"{b}_ms" in r for r in rows)]
    head = ["case", "mode", "B, T, I, H", "cell", "dtype"] + [f"{b} ms" for b in backends]
    if "numba" in backends:
        head += [f"{b}/numba" for b in backends if b != "numba"] + ["numba GFLOP/s", "% GEMM peak"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [case_label(r), r["mode"], f"{r['B']}, {r['T']}, {r['I']}, {r['H']}", r["cell"], r["dtype"]]
        cells += [_fmt_ms(r[f"{b}_ms"] / 1e3) for b in backends]
        if "numba" in backends:
            cells += [_fmt_ratio(r.get(f"{b}_over_numba")) for b in backends if b != "numba"]
            peak = out["meta"]["gemm_peak_gflops"][r["dtype"]]
            frac = r.get("numba_peak_fraction")
            cells += [f"{frac * peak:.1f}" if frac is not None else "-", f"{100 * frac:.0f}%" if frac is not None else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_startup(st):
    lines = []
    for kind in ("cold", "warm"):
        s = st.get(kind)
        if not s:
            continue
        what = "JIT compile (empty cache)" if kind == "cold" else "on-disk cache warm"
        lines.append(f"start-up, {what}: new process to the end of its first train step "
                     f"{s['launch_to_first_step_s']:.2f} s (import of numpy + fastrnn {s['import_s']:.2f} s)")
        for r in s["steps"]:
            lines.append(f"  first step {r['cell']} {r['dtype']}: {r['first_step_s']:.2f} s")
    return "\n".join(lines)


def _plot_group(row):
    """The x-axis group of a row in :func:`plot`: (case, size), as a dataset's size may equal a grid size."""
    return row.get("case", "grid"), (row["B"], row["T"], row["I"], row["H"])


def plot(out, path):
    """Bar chart of the same-run speed-ups of the Numba path over PyTorch and over NumPy: one group of
    bars per (case, size), the dataset cases labelled with their name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rows = out["ratios"]
    modes = [m for m in MODES if any(r["mode"] == m for r in rows)]
    keys = [k for k in ("torch_over_numba", "numpy_over_numba") if any(r.get(k) is not None for r in rows)]
    if not keys:
        keys = ["numba_ms"]
    fig, axes = plt.subplots(len(modes), len(keys), figsize=(7 * len(keys), 4.5 * len(modes)), squeeze=False)
    for i, mode in enumerate(modes):
        mrows = [r for r in rows if r["mode"] == mode]
        groups = list(dict.fromkeys(_plot_group(r) for r in mrows))
        series = list(dict.fromkeys((r["cell"], r["dtype"]) for r in mrows))
        for j, key in enumerate(keys):
            ax = axes[i][j]
            width = 0.8 / max(1, len(series))
            for k, (cell, d) in enumerate(series):
                vals = []
                for g in groups:
                    r = next((r for r in mrows if _plot_group(r) == g and r["cell"] == cell and r["dtype"] == d),
                             None)
                    vals.append(r.get(key) if r and r.get(key) is not None else np.nan)
                xs = np.arange(len(groups)) + (k - (len(series) - 1) / 2) * width
                ax.bar(xs, vals, width, label=f"{cell} {d}", hatch="//" if d == "float64" else None,
                       color=f"C{CELLS.index(cell) if cell in CELLS else k}", alpha=0.9 if d == "float32" else 0.6)
            ax.axhline(1.0, color="k", lw=0.8)
            ax.set_xticks(np.arange(len(groups)))
            ax.set_xticklabels([("" if case == "grid" else f"{case}\n") + f"B={s[0]} T={s[1]}\nI={s[2]} H={s[3]}"
                                for case, s in groups], fontsize=8)
            if key.endswith("_over_numba"):
                ax.set_yscale("log")
                fmt = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
                ax.yaxis.set_major_formatter(fmt)
                ax.yaxis.set_minor_formatter(fmt)
                ax.tick_params(axis="y", which="minor", labelsize=7)
                ax.set_ylabel(f"{key.split('_')[0]} time / numba time")
                ax.set_title(f"{mode}: Numba speed-up over {key.split('_')[0]} (same run; > 1 = faster)")
            else:
                ax.set_ylabel("ms")
            ax.legend(fontsize=7, ncol=2)
    th = out["meta"]["threads"]
    fig.suptitle(f"fastrnn bench, {out['meta']['machine']['cpu']}, {out['meta']['requested_threads']} thread(s) "
                 f"(numba {th['numba']}, torch {th['torch']}), {out['meta']['date']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------------------
# Stand-alone CLI (the `fastrnn bench` command will wrap run())
# --------------------------------------------------------------------------------------------------


def _parse_size(s):
    parts = [int(v) for v in s.replace("x", ",").split(",")]
    if len(parts) != 4:
        raise ValueError(f"a size is B,T,I,H; got {s!r}")
    return tuple(parts)


def main(argv=None):
    import argparse

    p = argparse.ArgumentParser(prog="python -m fastrnn.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", action="append", choices=DATASETS,
                   help="time this dataset's default model (repeatable; default: all of them)")
    p.add_argument("--no-datasets", action="store_true", help="time no dataset's default model")
    p.add_argument("--size", action="append", type=_parse_size, help="B,T,I,H (repeatable; default: the grid)")
    p.add_argument("--no-grid", action="store_true", help="time no grid size")
    p.add_argument("--cell", action="append", choices=CELLS, help="cell of the grid (repeatable; default: all)")
    p.add_argument("--dtype", action="append", choices=DTYPES)
    p.add_argument("--backend", action="append", choices=BACKENDS)
    p.add_argument("--mode", action="append", choices=MODES)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--min-sample", type=float, default=0.05, help="seconds per sample (default 0.05)")
    p.add_argument("--settle", type=float, default=0.15, help="pause before each sample (default 0.15 s)")
    p.add_argument("--numpy-blas-threads", type=int, default=None,
                   help="threads of NumPy's own OpenBLAS (default: --threads)")
    p.add_argument("--startup", action="store_true", help="also time a new process to its first train step")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="cpu: this process's CPU time instead of wall time (only meaningful with --threads 1: "
                        "a busy machine then delays but does not inflate the samples)")
    p.add_argument("--json", dest="json_path")
    p.add_argument("--plot", dest="plot_path")
    a = p.parse_args(argv)
    if a.no_datasets and a.dataset:
        p.error("--dataset and --no-datasets exclude each other")
    if a.no_grid and a.size:
        p.error("--size and --no-grid exclude each other")
    if a.no_datasets and a.no_grid:
        p.error("nothing to time: --no-datasets and --no-grid together")
    global CLOCK
    if a.clock == "cpu":
        if a.threads != 1:
            p.error("--clock cpu needs --threads 1")
        CLOCK = time.process_time
    run(sizes=() if a.no_grid else a.size or SIZES, datasets=() if a.no_datasets else a.dataset or DATASETS,
        cells=a.cell or CELLS, dtypes=a.dtype or DTYPES, threads=a.threads, repeat=a.repeat,
        backends=a.backend or BACKENDS, json_path=a.json_path, plot_path=a.plot_path, modes=a.mode or MODES,
        min_sample_s=a.min_sample, settle_s=a.settle, startup=a.startup, numpy_blas_threads=a.numpy_blas_threads)


if __name__ == "__main__":
    main()
