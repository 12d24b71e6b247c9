"""Benchmark of a full training step and of inference: NumPy path, Numba path and PyTorch.

The logic behind ``fastrnn bench`` (the command line is :mod:`fastrnn.cli.bench`); use it from
Python as :func:`run`. One *train step* is the many-to-one regression step

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

The package, one module per concern (each imports only those above it in this list):

* :mod:`~fastrnn.bench.cases`: the choices, the cases (dataset defaults, grid) and their FLOPs;
* :mod:`~fastrnn.bench.timing`: the clock, samples, :func:`time_case`, :func:`startup_times`;
* :mod:`~fastrnn.bench.threads`: thread counts of Numba, OpenBLAS and PyTorch, the GEMM peak;
* :mod:`~fastrnn.bench.steps`: the step of a case on each backend (:data:`STEP_FACTORIES`);
* :mod:`~fastrnn.bench.report`: machine and versions, table, start-up lines, chart;
* this module: :func:`run`, which puts them together.

Where the next modes go: a new kind of case (e.g. ``--many M``, a stack of models against a loop of
them and against PyTorch / JAX vmap) is a case builder in ``cases`` and its steps in ``steps``, timed
by the same :func:`time_case`; a condition of the timing (e.g. ``--contention``, a competing
CPU-bound process) goes in ``timing``; a thread policy in ``threads``; their lines and columns in
``report``; their options in :mod:`fastrnn.cli.bench`.
"""

from __future__ import annotations

import datetime
import json
import statistics
from collections.abc import Callable, Iterable

import numpy as np

from fastrnn.bench import timing
from fastrnn.bench.cases import (
    BACKENDS,
    CELLS,
    DATASETS,
    DTYPES,
    FUNCTIONAL_CELL,
    GATES,
    LR,
    MODES,
    OUTPUT_SIZE,
    SIZES,
    case_row,
    dataset_case,
    flops,
    grid_cases,
    parse_size,
)
from fastrnn.bench.report import (
    case_label,
    format_row,
    format_startup,
    format_table,
    load_average,
    machine,
    plot,
    plot_group,
    versions,
)
from fastrnn.bench.steps import (
    STEP_FACTORIES,
    TORCH_OPTIMIZERS,
    FunctionalStep,
    ModelStep,
    Step,
    TorchStep,
    case_data,
    fastrnn_step,
    init_params,
)
from fastrnn.bench.threads import gemm_peak, get_threads, restore_threads, set_threads, torch_module
from fastrnn.bench.timing import CLOCKS, calibrate, sample, set_clock, startup_times, time_case

__all__ = [
    "BACKENDS", "CELLS", "CLOCKS", "DATASETS", "DTYPES", "FUNCTIONAL_CELL", "GATES", "LR", "MODES", "OUTPUT_SIZE",
    "SIZES", "STEP_FACTORIES", "TORCH_OPTIMIZERS", "FunctionalStep", "ModelStep", "Step", "TorchStep",
    "calibrate", "case_data", "case_label", "case_row", "dataset_case", "fastrnn_step", "flops", "format_row",
    "format_startup", "format_table", "gemm_peak", "get_threads", "grid_cases", "init_params", "load_average",
    "machine", "parse_size", "plot", "plot_group", "restore_threads", "run", "sample", "set_clock", "set_threads",
    "startup_times", "time_case", "timing", "torch_module", "versions",
]


def _check_choices(what: str, values: Iterable[str], allowed: Iterable[str]) -> list[str]:
    values, allowed = list(values), tuple(allowed)
    for v in values:
        if v not in allowed:
            raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {v!r}")
    return values


def run(sizes: Iterable[tuple[int, int, int, int]] = SIZES, datasets: Iterable[str] = DATASETS,
        cells: Iterable[str] = CELLS, dtypes: Iterable[str] = DTYPES, threads: int | None = None, repeat: int = 7,
        backends: Iterable[str] = BACKENDS, json_path=None, plot_path=None, echo: Callable | None = print,
        modes: Iterable[str] = MODES, min_sample_s: float = 0.05, warmup: int = 1, settle_s: float = 0.15,
        startup: bool = False, numpy_blas_threads: int | None = None, clock: str = "wall") -> dict:
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
    min_sample_s, warmup, settle_s : timing details, see :func:`time_case`.
    startup : also time a new process to its first train step, compile cold and cache warm.
    numpy_blas_threads : threads of NumPy's own OpenBLAS (default ``threads``). The Numba path's
        kernels do not use it (Numba calls SciPy's), only NumPy code around them does (the model's
        head, the trainer's gradient norms) and the NumPy backend.
    clock : "wall" (the default) or "cpu": this process's CPU time (only with ``threads=1``: a busy
        machine then delays but does not inflate the samples); see :func:`set_clock`.

    Returns
    -------
    dict
        ``meta`` (versions, machine, threads, GEMM peak per dtype), ``results`` (one row per case,
        dtype, backend, mode: median and all samples in ms, GFLOP/s, fraction of the GEMM peak,
        first-call time), ``ratios`` (per case, dtype, mode: ``torch/numba`` and ``numpy/numba``,
        > 1 meaning the Numba path is faster) and ``startup`` (or None). Every row has ``case``
        (the dataset name or "grid"), ``B``, ``T``, ``I``, ``H`` and ``cell``; dataset rows also
        ``optimizer``, ``lr``, ``clip_norm``, ``num_layers`` and ``ensemble``.

    Raises
    ------
    ValueError
        On an unknown dataset, cell, dtype, backend, mode or clock, a size that is not four positive
        integers, ``repeat`` < 1, too many threads, ``clock="cpu"`` without ``threads=1``, or
        nothing to time.
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
    cells = _check_choices("cell", cells, CELLS)
    dtypes = _check_choices("dtype", [np.dtype(d).name for d in dtypes], DTYPES)
    backends = _check_choices("backend", backends, BACKENDS)
    modes = _check_choices("mode", modes, MODES)
    repeat = int(repeat)
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1; got {repeat}")
    _check_choices("clock", [clock], CLOCKS)
    if clock == "cpu" and threads != 1:
        raise ValueError(f"clock 'cpu' needs threads=1 (CPU time of several threads adds up); got threads={threads}")
    notes = []
    if "torch" in backends and torch_module() is None:
        backends.remove("torch")
        notes.append("PyTorch is not importable: torch skipped")
        echo("note: PyTorch is not importable; skipping it")

    from fastrnn.threads import describe

    policy = describe()  # before set_threads below, which holds the policy off while timing
    saved = get_threads()
    threads = int(threads or numba.get_num_threads())
    set_threads(threads, torch_too="torch" in backends, numpy_blas=numpy_blas_threads)
    saved_clock = set_clock(clock)
    try:
        echo(f"thread policy of training runs: {policy}; while timing, every side runs on "
             f"{threads} thread(s)")
        peak = {}
        for d in dtypes:
            peak[d] = gemm_peak(d)
            echo(f"GEMM peak ({d}, {threads} thread(s), Numba np.dot): {peak[d]:.1f} GFLOP/s")
        cases += grid_cases(sizes, cells)
        step_kinds = {}  # the class names of the fastrnn steps, in order
        meta = {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "versions": versions(),
            "machine": machine(),
            "threads": get_threads(),
            "thread_policy": policy,
            "requested_threads": threads,
            "numpy_blas_threads": threads if numpy_blas_threads is None else int(numpy_blas_threads),
            "gemm_peak_gflops": peak,
            "repeat": repeat,
            "min_sample_s": min_sample_s,
            "settle_s": settle_s,
            "clock": "cpu (process time)" if clock == "cpu" else "wall",
            "fastrnn_step": None,
            "train_step": "many-to-one: forward, linear head on h_T (output size 1), MSE, BPTT, update. "
                          "grid: one layer, SGD (lr 1e-3), no clipping. Datasets: the dataset's default "
                          "model (fastrnn.forecast.make_config): its layers, optimizer, lr and clip_norm, "
                          "batch = its batch size, T = its look-back; with an ensemble default, one "
                          "member's step (the default trains `ensemble` of them)",
            "flops": "GEMM FLOPs: forward 2*T*B*G*H*(I+H) for the first layer, 2*T*B*G*H*2H for each "
                     "further one, + head 2*B*H*O; train = 3x forward",
            "notes": notes,
            "loadavg_start": load_average(),
        }
        results, ratios = [], []
        for case in cases:
            cell, size, key = case["cell"], case["size"], case_row(case)
            case_flops = {mode: flops(cell, size, mode, num_layers=case["train"].get("num_layers", 1))
                          for mode in modes}
            for d in dtypes:
                steps = {b: STEP_FACTORIES[b](b, cell, size, d, **case["train"]) for b in backends}
                step_kinds.update((type(s).__name__, None) for b, s in steps.items() if b != "torch")
                timed = time_case(steps, modes, repeat, min_sample_s, warmup, settle_s)
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
                    echo(format_row(row, backends))
        meta["fastrnn_step"] = ", ".join(step_kinds) or None
        meta["loadavg_end"] = load_average()
        out = {"meta": meta, "results": results, "ratios": ratios, "startup": None}
        if startup:
            out["startup"] = {
                "cold": startup_times(cells, dtypes, cold=True, threads=threads),
                "warm": startup_times(cells[:1], dtypes[:1], cold=False, threads=threads),
            }
            echo(format_startup(out["startup"]))
    finally:
        set_clock(saved_clock)
        restore_threads(saved)
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
