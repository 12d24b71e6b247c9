"""Benchmark of a full training step and of inference: NumPy path, Numba path and PyTorch.

The logic behind ``fastrnn bench`` (the command line is :mod:`fastrnn.cli.bench`); use it from
Python as :func:`run`. One *train step* is the many-to-one regression step

    forward over the sequence -> linear head on h_T -> MSE loss -> BPTT -> update

and *inference* is the forward pass plus the head. Two kinds of case are timed:

* the default model of each shipped dataset (:data:`DATASETS`), read at run time from
  :func:`fastrnn.forecast.make_config`: its cell, sizes (batch, look-back, inputs, hidden), layers,
  optimizer, learning rate and gradient-norm clipping (:func:`dataset_case`); for an ensemble
  default, one member's step;
* the size grid (:data:`SIZES` x :data:`CELLS`): one layer, plain SGD (lr 1e-3), no clipping;
* with ``many=M``, M independent models (:func:`many_case`, issue 12's case: 64 LSTMs with
  B, T, I, H = 32, 24, 1, 32), one train step of each (Adam), on the sides of :data:`MANY_SIDES`:
  the fastrnn stack on one thread and on ``threads``, a loop over fastrnn trainers, and the
  PyTorch loop, ``torch.func`` vmap and JAX vmap when installed. The stack is timed only after it
  has trained bitwise like the loop (:func:`check_stack_matches_loop`).

With ``contention="blas"`` (or ``"python"``) every case is timed idle and with one competing
CPU-bound child process (:class:`Competitor`), samples alternated (:func:`time_contended`), and
each row gets the busy medians and the slowdowns busy / idle.

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

Where the next modes go: a new kind of case is a case builder in ``cases`` and its steps in
``steps`` (as ``--many M``: :func:`many_case`, :func:`many_steps`), timed by the same
:func:`time_case`; a condition of the timing in ``timing`` (as ``--contention``:
:class:`Competitor`, :func:`time_contended`); a thread policy in ``threads``; their lines and
columns in ``report``; their options in :mod:`fastrnn.cli.bench`.
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
    MANY_DEFAULT,
    MANY_PEERS,
    MANY_SIDES,
    MANY_SIZE,
    MODES,
    OUTPUT_SIZE,
    SIZES,
    case_row,
    dataset_case,
    flops,
    grid_cases,
    many_case,
    parse_size,
)
from fastrnn.bench.report import (
    case_label,
    format_many_row,
    format_many_table,
    format_row,
    format_startup,
    format_table,
    load_average,
    machine,
    plot,
    plot_group,
    plot_many,
    versions,
)
from fastrnn.bench.steps import (
    STEP_FACTORIES,
    TORCH_OPTIMIZERS,
    FunctionalStep,
    ModelStep,
    StackMismatchError,
    Step,
    TorchStep,
    case_data,
    check_stack_matches_loop,
    fastrnn_step,
    init_params,
    many_steps,
)
from fastrnn.bench.threads import gemm_peak, get_threads, restore_threads, set_threads, torch_module
from fastrnn.bench.timing import (
    CLOCKS,
    COMPETITORS,
    Competitor,
    calibrate,
    sample,
    set_clock,
    startup_times,
    time_case,
    time_contended,
)

__all__ = [
    "BACKENDS", "CELLS", "CLOCKS", "COMPETITORS", "DATASETS", "DTYPES", "FUNCTIONAL_CELL", "GATES", "LR",
    "MANY_DEFAULT", "MANY_PEERS", "MANY_SIDES", "MANY_SIZE", "MODES", "OUTPUT_SIZE", "SIZES", "STEP_FACTORIES",
    "TORCH_OPTIMIZERS", "Competitor", "FunctionalStep", "ModelStep", "StackMismatchError", "Step", "TorchStep",
    "calibrate", "case_data",
    "case_label", "case_row", "check_stack_matches_loop", "dataset_case", "fastrnn_step", "flops",
    "format_many_row", "format_many_table", "format_row", "format_startup", "format_table", "gemm_peak",
    "get_threads", "grid_cases", "init_params", "load_average", "machine", "many_case", "many_steps",
    "parse_size", "plot", "plot_group", "plot_many", "restore_threads", "run", "sample", "set_clock",
    "set_threads", "startup_times", "time_case", "time_contended", "timing", "torch_module", "versions",
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
        startup: bool = False, numpy_blas_threads: int | None = None, clock: str = "wall",
        many: int | None = None, many_cells: Iterable[str] = ("lstm",), many_sides: Iterable[str] = MANY_SIDES,
        contention: str | None = None) -> dict:
    """Benchmark the default model of each of ``datasets``, then every (size, cell) of the grid, each
    in every dtype on ``backends``; return (and optionally save) the results.

    Parameters
    ----------
    sizes : iterable of (B, T, I, H) of the grid; empty to skip the grid.
    datasets : subset of :data:`DATASETS` whose default models are timed (see :func:`dataset_case`),
        in their own cell, sizes and training settings; empty to skip them. ``sizes``,
        ``datasets`` and ``many`` cannot all be empty.
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
    many : M, to also time M independent models of each of ``many_cells`` (:func:`many_case`; issue
        12's case is :data:`MANY_DEFAULT`); None: no such case. Train mode only.
    many_cells : cells of the many case (default the LSTM only).
    many_sides : subset of :data:`MANY_SIDES`; sides that cannot run here (a peer not installed, a
        fastrnn without ``fastrnn.stack``) are reported as absent, with the reason.
    contention : None, or a kind of :data:`COMPETITORS` ("blas": NumPy matmuls on one thread;
        "python": a pure-Python loop): time every case idle and with one such competing process,
        alternated (:func:`time_contended`); the child is killed on every way out of the run.

    Returns
    -------
    dict
        ``meta`` (versions, machine, threads, GEMM peak per dtype), ``results`` (one row per case,
        dtype, backend, mode: median and all samples in ms, GFLOP/s, fraction of the GEMM peak,
        first-call time), ``ratios`` (per case, dtype, mode: ``torch/numba`` and ``numpy/numba``,
        > 1 meaning the Numba path is faster), ``many`` (one row per many cell and dtype: each
        side's median ``{side}_ms`` (None if absent, with the reason in ``absent``), the stack's
        GFLOP/s and fraction of the GEMM peak, ``threads_speedup`` (stack on one thread / on
        ``threads``), ``{side}_over_stack`` and ``best_peer_over_stack``; > 1: the stack is
        faster) and ``startup`` (or None). Every row has ``case`` (the dataset name, "grid" or
        "many"), ``B``, ``T``, ``I``, ``H`` and ``cell``; dataset rows also ``optimizer``, ``lr``,
        ``clip_norm``, ``num_layers`` and ``ensemble``; many rows ``num_models``. With
        ``contention``, results rows have ``condition`` ("idle" or "busy"), and ratio and many rows
        also ``{backend}_busy_ms`` and ``{backend}_slowdown`` (busy median / idle median).

    Raises
    ------
    ValueError
        On an unknown dataset, cell, dtype, backend, mode, clock, side or competitor, a size that is
        not four positive integers, ``repeat`` < 1, too many threads, ``clock="cpu"`` without
        ``threads=1``, ``many`` < 1, or nothing to time.
    StackMismatchError
        If the stack does not train bitwise like the loop of its models (nothing is reported).
    """
    import numba

    echo = echo or (lambda *a, **k: None)
    sizes = [tuple(int(v) for v in s) for s in sizes]
    for s in sizes:
        if len(s) != 4 or min(s) < 1:
            raise ValueError(f"each size must be (B, T, I, H) with every entry >= 1; got {s}")
    cases = [dataset_case(name) for name in datasets]  # raises ValueError on an unknown name
    many_cases = [many_case(many, c) for c in many_cells] if many is not None else []
    if not sizes and not cases and not many_cases:
        raise ValueError("nothing to time: give at least one dataset, one grid size or a many case")
    many_sides = _check_choices("side of the many case", many_sides, MANY_SIDES)
    if contention is not None:
        _check_choices("competing process", [contention], COMPETITORS)
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
    if many_cases and "jax_vmap" in many_sides:
        notes.append("jax vmap runs on XLA's own thread pool, which --threads does not set")
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
    competitor = Competitor(contention) if contention else None
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
            "contention": None,
        }
        if competitor is not None:
            competitor.start()
            competitor.pause()  # until the first busy sample
            meta["contention"] = {"kind": contention, "pid": competitor.pid, "what": competitor.describe()}
            echo(f"competing process: {contention} (pid {competitor.pid}), paused for the idle samples")
        results, ratios, many_rows = [], [], []
        for case in cases:
            cell, size, key = case["cell"], case["size"], case_row(case)
            case_flops = {mode: flops(cell, size, mode, num_layers=case["train"].get("num_layers", 1))
                          for mode in modes}
            for d in dtypes:
                steps = {b: STEP_FACTORIES[b](b, cell, size, d, **case["train"]) for b in backends}
                step_kinds.update((type(s).__name__, None) for b, s in steps.items() if b != "torch")
                timed, busy = _time(steps, modes, repeat, min_sample_s, warmup, settle_s, competitor)
                results += _result_rows(key, d, timed, case_flops, peak[d], busy)
                for mode in modes:
                    med = {b: statistics.median(timed[b, mode]["times_s"]) for b in backends}
                    row = {**key, "dtype": d, "mode": mode}
                    row.update({f"{b}_ms": med[b] * 1e3 for b in backends})
                    if "numba" in med:
                        row["torch_over_numba"] = med["torch"] / med["numba"] if "torch" in med else None
                        row["numpy_over_numba"] = med["numpy"] / med["numba"] if "numpy" in med else None
                        row["numba_peak_fraction"] = case_flops[mode] / med["numba"] / 1e9 / peak[d]
                    if busy is not None:
                        _add_slowdowns(row, {b: med[b] for b in backends},
                                       {b: statistics.median(busy[b, mode]["times_s"]) for b in backends})
                    ratios.append(row)
                    echo(format_row(row, backends))
        for case in many_cases:
            key = case_row(case)
            case_flops = {"train": case["num_models"] * flops(case["cell"], case["size"], "train")}
            for d in dtypes:
                many_rows.append(_time_many(case, key, d, threads, many_sides, case_flops, peak[d], repeat,
                                            min_sample_s, warmup, settle_s, competitor, results, echo))
        meta["fastrnn_step"] = ", ".join(step_kinds) or None
        meta["loadavg_end"] = load_average()
        out = {"meta": meta, "results": results, "ratios": ratios, "many": many_rows, "startup": None}
        if startup:
            out["startup"] = {
                "cold": startup_times(cells, dtypes, cold=True, threads=threads),
                "warm": startup_times(cells[:1], dtypes[:1], cold=False, threads=threads),
            }
            echo(format_startup(out["startup"]))
    finally:
        if competitor is not None:
            competitor.stop()
        set_clock(saved_clock)
        restore_threads(saved)
    if ratios:
        echo("")
        echo(format_table(out))
    if many_rows:
        echo("")
        echo(format_many_table(out))
    if json_path:
        with open(json_path, "w") as f:
            json.dump(out, f, indent=1)
        echo(f"wrote {json_path}")
    if plot_path:
        if ratios:
            plot(out, plot_path)
            echo(f"wrote {plot_path}")
        if many_rows:
            many_path = _many_plot_path(plot_path) if ratios else plot_path
            plot_many(out, many_path)
            echo(f"wrote {many_path}")
    return out


def _many_plot_path(path) -> str:
    """``results.png`` -> ``results-many.png``: the many case's chart beside the main one."""
    import os

    root, ext = os.path.splitext(str(path))
    return f"{root}-many{ext or '.png'}"


def _time(steps: dict, modes, repeat: int, min_sample_s: float, warmup: int, settle_s: float,
          competitor: Competitor | None) -> tuple[dict, dict | None]:
    """(idle timings, busy timings or None): :func:`time_case`, or :func:`time_contended` with a competitor."""
    if competitor is None:
        return time_case(steps, modes, repeat, min_sample_s, warmup, settle_s), None
    both = time_contended(steps, modes, repeat, min_sample_s, warmup, settle_s, competitor)
    return both["idle"], both["busy"]


def _result_rows(key: dict, dtype: str, timed: dict, case_flops: dict, peak: float, busy: dict | None) -> list[dict]:
    """The ``results`` rows of one case and dtype (with ``condition`` under contention)."""
    rows = []
    for cond, tm in (("idle", timed), ("busy", busy)):
        if tm is None:
            continue
        for (b, mode), t in tm.items():
            med = statistics.median(t["times_s"])
            gflops = case_flops[mode] / med / 1e9
            row = {**key, "dtype": dtype, "backend": b, "mode": mode, "median_ms": med * 1e3,
                   "times_ms": [v * 1e3 for v in t["times_s"]], "first_call_ms": t["first_call_s"] * 1e3,
                   "gflops": gflops, "peak_fraction": gflops / peak}
            if busy is not None:
                row["condition"] = cond
            rows.append(row)
    return rows


def _add_slowdowns(row: dict, idle: dict, busy: dict) -> None:
    """Add ``{side}_busy_ms`` and ``{side}_slowdown`` (busy / idle median) to ``row``."""
    for b, t in busy.items():
        row[f"{b}_busy_ms"] = t * 1e3
        row[f"{b}_slowdown"] = t / idle[b]


def _time_many(case: dict, key: dict, dtype: str, threads: int, sides: list[str], case_flops: dict, peak: float,
               repeat: int, min_sample_s: float, warmup: int, settle_s: float, competitor: Competitor | None,
               results: list, echo: Callable) -> dict:
    """Check and time one many case in ``dtype``; append its results rows, echo and return its row."""
    if threads == 1 and "stack_1t" in sides and "stack" in sides:
        sides = [s for s in sides if s != "stack_1t"]  # the same step twice
    steps, absent = many_steps(case, dtype, threads, sides)
    if any(s.startswith("stack") for s in steps):
        check_stack_matches_loop(case["cell"], case["size"], dtype, case["num_models"])
    timed, busy = _time(steps, ["train"], repeat, min_sample_s, warmup, settle_s, competitor)
    results += _result_rows(key, dtype, timed, case_flops, peak, busy)
    med = {side: statistics.median(timed[side, "train"]["times_s"]) for side in steps}
    row = {**key, "dtype": dtype, "mode": "train", "threads": threads, "absent": absent}
    row.update({f"{side}_ms": med[side] * 1e3 if side in med else None for side in sides})
    stack = med.get("stack")
    row["threads_speedup"] = med["stack_1t"] / stack if stack and "stack_1t" in med else None
    for side in sides:
        if not side.startswith("stack"):
            row[f"{side}_over_stack"] = med[side] / stack if stack and side in med else None
    peers = [p for p in MANY_PEERS if p in med]
    row["best_peer"] = min(peers, key=med.get) if peers else None
    row["best_peer_over_stack"] = med[row["best_peer"]] / stack if stack and peers else None
    row["stack_gflops"] = case_flops["train"] / stack / 1e9 if stack else None
    row["stack_peak_fraction"] = row["stack_gflops"] / peak if stack else None
    if busy is not None:
        _add_slowdowns(row, med, {side: statistics.median(busy[side, "train"]["times_s"]) for side in steps})
    echo(format_many_row(row))
    return row
