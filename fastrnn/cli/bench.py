"""``fastrnn bench``: time a training step and inference, fastrnn (Numba, NumPy) beside PyTorch;
``--many M``: M independent models, the fastrnn stack against a loop and the PyTorch / JAX peers;
``--contention``: every case idle and with one competing CPU-bound process."""

from __future__ import annotations

import click


class _OptionError(click.ClickException):
    """A bad option value, printed as the one line ``Error: ...`` (exit status 2, as click's usage errors)."""

    exit_code = 2


def _many(ctx, param, value):
    """'64' -> 64; anything but a whole number >= 1 is one ``Error:`` line."""
    if value is None:
        return None
    try:
        n = int(value)
    except ValueError:
        n = None
    if n is None or n < 1:
        from fastrnn.bench.cases import MANY_DEFAULT

        raise _OptionError(f"--many needs a whole number of models >= 1; got {value!r}; pass e.g. "
                           f"--many {MANY_DEFAULT} (issue 12's case)")
    return n


def _sizes(ctx, param, value):
    """'1,1,1,256;32,12,1,64' -> ((1, 1, 1, 256), (32, 12, 1, 64)); 'none' -> ()."""
    if value is None:
        return None
    if value.strip().lower() == "none":
        return ()
    from fastrnn.bench.cases import parse_size

    sizes = []
    for part in value.split(";"):
        try:
            sizes.append(parse_size(part))
        except ValueError:
            raise click.BadParameter(f"a size is four positive integers B,T,I,H (or 'none'); got {part!r}") from None
    return tuple(sizes)


def _pick(name, value, allowed, none_ok=False):
    """'a,b' -> ('a', 'b'), every item one of ``allowed``; 'none' -> () if ``none_ok``."""
    if none_ok and value.strip().lower() == "none":
        return ()
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        choices = ", ".join(allowed) + (" (or none)" if none_ok else "")
        raise click.BadParameter(f"unknown {', '.join(bad) or 'empty list'}; choose from {choices}", param_hint=name)
    return items


@click.command()
@click.option("--datasets", default="airline,temperature,stock", show_default=True,
              help="Comma-separated shipped datasets whose default models are timed, or 'none'.")
@click.option("--sizes", callback=_sizes, metavar="B,T,I,H[;B,T,I,H...]|none",
              help="Grid sizes to time, or 'none' (default: 1,1,1,256;32,12,1,64;64,50,8,128;128,100,64,512).")
@click.option("--cells", default="rnn,lstm,gru", show_default=True,
              help="Comma-separated cells of the grid: rnn, lstm, gru.")
@click.option("--dtype", "dtypes", default="float32,float64", show_default=True,
              help="Comma-separated: float32, float64.")
@click.option("--backends", default="numpy,numba,torch", show_default=True,
              help="Comma-separated: numpy, numba, torch (torch is skipped if not installed).")
@click.option("--mode", "modes", default="train,infer", show_default=True,
              help="Comma-separated: train (forward, head, MSE, BPTT, update), infer (forward + head).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads for Numba, BLAS and PyTorch alike (default: Numba's thread count).")
@click.option("--repeat", type=click.IntRange(min=1), default=7, show_default=True,
              help="Samples per measurement; medians are reported.")
@click.option("--min-sample", "min_sample_s", type=click.FloatRange(min=0), default=0.05, show_default=True,
              help="Seconds per sample: a sample repeats the step this long and gives the time per step.")
@click.option("--settle", "settle_s", type=click.FloatRange(min=0), default=0.15, show_default=True,
              help="Pause (s) before each sample, so that the previous backend's thread pools go idle.")
@click.option("--numpy-blas-threads", type=click.IntRange(min=1), default=None,
              help="Threads of NumPy's own OpenBLAS (default: --threads); the Numba kernels call SciPy's.")
@click.option("--clock", type=click.Choice(["wall", "cpu"]), default="wall", show_default=True,
              help="cpu: this process's CPU time instead of wall time (needs --threads 1: a busy machine "
                   "then delays but does not inflate the samples).")
@click.option("--many", callback=_many, metavar="M",
              help="Also time M independent models (issue 12's case: --many 64; B,T,I,H = 32,24,1,32, Adam), "
                   "one train step of each: the fastrnn stack on 1 thread and on --threads, a loop over fastrnn "
                   "trainers, and the PyTorch loop, torch.func vmap and JAX vmap when installed.")
@click.option("--many-cells", default="lstm", show_default=True,
              help="Comma-separated cells of the --many case: rnn, lstm, gru.")
@click.option("--many-sides", default="stack_1t,stack,loop,torch_loop,torch_vmap,jax_vmap", show_default=True,
              help="Comma-separated sides of the --many case to time.")
@click.option("--contention", type=click.Choice(["blas", "python"]), is_flag=False, flag_value="blas", default=None,
              help="Time every case idle and with one competing CPU-bound process, samples alternated, and "
                   "report the slowdowns busy/idle: blas (the default value; NumPy matmuls on one thread) or "
                   "python (a pure-Python loop). Without --sizes, the grid is skipped.")
@click.option("--startup", is_flag=True,
              help="Also time a new process to its first training step (cold and warm cache).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, writable=True), help="Write all results as JSON.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, writable=True),
              help="Write a PNG chart (needs matplotlib).")
def bench(datasets, sizes, cells, dtypes, backends, modes, threads, repeat, min_sample_s, settle_s, numpy_blas_threads,
          clock, many, many_cells, many_sides, contention, startup, json_path, plot_path):
    """Time a many-to-one training step and inference: the shipped datasets' default models, then a
    grid of sizes.

    A dataset case is the dataset's default model (as `fastrnn train` builds it): its cell, batch
    size, look-back, inputs, hidden size and layers, trained with its optimizer, learning rate and
    gradient clipping; with an ensemble default, one member's step. The grid times every size and
    cell with one layer, SGD (lr 1e-3) and no clipping.

    Each case and dtype is timed for every backend in the same process, samples interleaved, and the
    table shows medians, the ratios measured in this run (> 1: fastrnn's Numba path is faster),
    GFLOP/s and the fraction of a GEMM peak measured on the spot.

    --many M adds a second table: M independent models, one train step of each, on every side
    (a side that cannot run says why, e.g. "not installed"), the stack's speed-up from one thread
    to --threads, side/stack ratios, the best peer's ratio and the stack's share of the GEMM peak.
    The stack is timed only after it has trained bitwise like the loop of its models.

    --contention adds, per case and side, the median with one competing process running and the
    slowdown busy/idle; the competing process is killed on every way out, Ctrl-C included.
    """
    from fastrnn import bench as B

    datasets = _pick("--datasets", datasets, B.DATASETS, none_ok=True)
    if sizes is None and contention:
        sizes = ()  # contention: the datasets' cases (and --many), not the grid, unless --sizes is given
    if not datasets and sizes == () and many is None:
        raise click.UsageError("nothing to time: --datasets none and --sizes none (and no --many)")
    many_cells = _pick("--many-cells", many_cells, B.CELLS)
    many_sides = _pick("--many-sides", many_sides, B.MANY_SIDES)
    if clock == "cpu" and threads != 1:
        raise click.UsageError("--clock cpu needs --threads 1 (the CPU time of several threads adds up)")
    cells = _pick("--cells", cells, B.CELLS)
    dtypes = _pick("--dtype", dtypes, B.DTYPES)
    backends = _pick("--backends", backends, B.BACKENDS)
    modes = _pick("--mode", modes, B.MODES)
    if plot_path:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise click.ClickException("--plot needs matplotlib: pip install 'fastrnn[plot]'") from None
    try:
        B.run(sizes=B.SIZES if sizes is None else sizes, datasets=datasets, cells=cells, dtypes=dtypes,
              threads=threads, repeat=repeat, backends=backends, json_path=json_path, plot_path=plot_path,
              echo=click.echo, modes=modes, min_sample_s=min_sample_s, settle_s=settle_s, startup=startup,
              numpy_blas_threads=numpy_blas_threads, clock=clock, many=many, many_cells=many_cells,
              many_sides=many_sides, contention=contention)
    except B.StackMismatchError as e:  # the stack's results are not reported
        raise click.ClickException(str(e)) from None
