"""The thread policy: how many threads BLAS (and, for model stacks, Numba) gets while fastrnn
trains or predicts.

A single model's kernels run no thread pool of their own; their only threads are OpenBLAS's,
inside the matrix products. Most of those products are per time step and small, and for them a
second OpenBLAS thread gains nothing: it costs a core, and when another process wants that core,
OpenBLAS's busy-waiting workers make the run many times slower. So:

* a training run (:meth:`fastrnn.Trainer.fit`, ``fit_stateful``, ``evaluate``) or a prediction
  (``model.predict``) starts by working out the work of its largest matrix product
  (:func:`largest_gemm_flops`);
* below the threshold of the model's dtype (:data:`THRESHOLD_FLOPS`) BLAS runs on **one** thread,
  at or above it on the CPUs this process may use (``os.sched_getaffinity``; at most
  ``NUMBA_NUM_THREADS`` when that is set) that no other process is busy on when the run starts
  (:func:`threads_for`);
* the count is set once when the run starts and put back when it ends (not around every product:
  OpenBLAS parks its workers when the count goes down, and waking them costs more than the small
  products gain), and only when it differs from the current one.

A stack of models (:mod:`fastrnn.stacks`) is parallel at the grain of whole models instead:
its kernels run one model per thread of Numba's pool, so :func:`run_stack_threads` gives BLAS one
thread and the pool :func:`stack_threads` threads (the CPUs no other process is busy on, at most
one per model).

The user's explicit settings win: with ``OPENBLAS_NUM_THREADS``, ``GOTO_NUM_THREADS`` or
``OMP_NUM_THREADS`` in the environment (OpenBLAS reads them when it loads) or after
:func:`set_blas_threads`, the policy leaves the thread count alone; with ``FASTRNN_THREADS=n`` every
run gets n threads (set and restored the same way). ``FASTRNN_THREADS=auto`` (or unset) is the
policy.

The thresholds were measured with ``python benchmarks/threads.py`` (2 vCPUs); the figures and the
host are in ``benchmarks/README.md`` ("Thread policy"), not here.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

from fastrnn.kernels import _threads

#: Work (floating-point operations, 2·M·N·K, see :func:`largest_gemm_flops`) of a run's largest
#: matrix product from which BLAS gets more than one thread, per dtype: below it, whole training
#: steps measured no faster with 2 OpenBLAS threads than with 1 (or slower). Measured with
#: ``python benchmarks/threads.py --repeat 5`` (GEMMs and training steps at the bench grid sizes,
#: 1 vs 2 threads, with and without a competing process); figures and host in
#: benchmarks/README.md, "Thread policy".
THRESHOLD_FLOPS: dict[str, float] = {"float32": 4.0e9, "float64": 2.0e8}

#: Environment variables through which a user sets BLAS's threads; any of them set: hands off.
#: (MKL_NUM_THREADS is not among them: only OpenBLAS builds are handled; NUMBA_NUM_THREADS sizes
#: Numba's own pool, which fastrnn does not use, and caps the policy's count above the threshold.)
BLAS_ENV_VARS = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")

#: The policy's own environment variable: a positive integer (that many BLAS threads, always) or
#: ``auto`` (the policy).
ENV_VAR = "FASTRNN_THREADS"

_explicit: int | None = None  # set_blas_threads(n)
_parallelism: int | None = None  # set_parallelism(n)
_lock = threading.Lock()
_depth = 0  # runs in progress (an evaluate inside a fit does not set the count again)


def set_blas_threads(n: int | None) -> None:
    """Give BLAS ``n`` threads from now on, and switch the policy off; ``None`` switches it back on.

    Parameters
    ----------
    n : int or None
        Threads for every OpenBLAS in the process (NumPy's and SciPy's, the one the kernels call);
        ``None``: the policy decides again at the start of each run (the current count stays until
        then).

    Raises
    ------
    ValueError
        If ``n`` is not a positive integer or None.
    """
    global _explicit
    if n is None:
        _explicit = None
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of BLAS threads must be a positive integer or None; got {n!r}")
    _threads.set_blas_threads(n)
    _explicit = n


def usable_cpus() -> int:
    """CPUs this process may run on (``os.sched_getaffinity``), at most ``NUMBA_NUM_THREADS`` if set."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    cap = os.environ.get("NUMBA_NUM_THREADS", "").strip()
    if cap.isdigit() and int(cap) >= 1:
        n = min(n, int(cap))
    return max(n, 1)


def set_parallelism(n: int | None) -> int | None:
    """Let fastrnn's independent work use at most ``n`` CPUs from now on; ``None``: all usable.

    Independent work is what :func:`fastrnn.parallel.map_jobs` runs in parallel processes (its
    default ``n_jobs`` is :func:`parallelism`) and what a model stack spreads over Numba's threads
    (:func:`stack_threads`: ``n`` threads, at most one per model, instead of the free CPUs or
    ``FASTRNN_THREADS``). It never changes results, only how many cores compute them.
    ``fastrnn train --jobs N`` calls it. The BLAS thread count of a single model's run is not
    affected (that is :func:`set_blas_threads` and the policy).

    Parameters
    ----------
    n : int or None
        Processes (or threads) for independent work; ``None``: the defaults again
        (:func:`usable_cpus` processes, :func:`free_cpus` threads of a stack).

    Returns
    -------
    int or None
        The previous setting, so that a caller can put it back.

    Raises
    ------
    ValueError
        If ``n`` is not a positive integer or None.
    """
    global _parallelism
    if n is not None:
        from fastrnn.models import check_positive_int  # models imports this module

        n = check_positive_int("the number of CPUs for independent work", n, "or None")
    previous, _parallelism = _parallelism, n
    return previous


def parallelism() -> int:
    """CPUs for independent work (processes of :func:`fastrnn.parallel.map_jobs`, threads of a stack).

    Returns
    -------
    int
        The ``n`` of :func:`set_parallelism`, else :func:`usable_cpus`.
    """
    return _parallelism if _parallelism is not None else usable_cpus()


def _env_threads() -> str | None:
    """``FASTRNN_THREADS`` as a count (a string of digits), or None when unset or ``auto``."""
    v = os.environ.get(ENV_VAR, "").strip().lower()
    if v in ("", "auto"):
        return None
    if not v.isdigit() or int(v) < 1:
        raise ValueError(f"{ENV_VAR} must be a positive integer (BLAS threads for every run) or 'auto' "
                         f"(the thread policy); got {os.environ[ENV_VAR]!r}; set it to one of those or "
                         f"unset it")
    return v


def override() -> str | None:
    """Why the policy is off (e.g. ``"OPENBLAS_NUM_THREADS=1"``), or None when it is in force.

    Raises ValueError when ``FASTRNN_THREADS`` is neither a positive integer nor ``auto``."""
    if _explicit is not None:
        return f"fastrnn.threads.set_blas_threads({_explicit})"
    v = _env_threads()
    if v is not None:
        return f"{ENV_VAR}={v}"
    for name in BLAS_ENV_VARS:
        if os.environ.get(name, "").strip():
            return f"{name}={os.environ[name]}"
    return None


def largest_gemm_flops(model, batch_size: int, steps: int, training: bool = True) -> int:
    """Floating-point operations (2·M·N·K) of the largest matrix product a run of ``model`` makes.

    Parameters
    ----------
    model : a model of :mod:`fastrnn.models` (anything with ``parameters()`` naming ``weight_ih_*``
        and ``weight_hh_*`` arrays of shape (G·H, K)).
    batch_size : rows of a batch (B).
    steps : time steps of a sequence (T).
    training : count the weight gradients, products over all T·B rows; else the input product
        (also over T·B rows) and the recurrent one (B rows) only.

    Returns
    -------
    int
        The largest of ``2·T·B·G·H·K`` (input products and, training, weight gradients) and
        ``2·B·G·H·H`` (the per-step recurrent product) over the layers.
    """
    rows = batch_size * steps
    best = 0
    for name, w in model.parameters().items():
        if not name.startswith(("weight_ih", "weight_hh")):
            continue
        gh, k = w.shape
        if name.startswith("weight_hh"):
            best = max(best, 2 * (rows if training else batch_size) * gh * k)
        else:
            best = max(best, 2 * rows * gh * k)
    return best


def _own_running() -> int:
    """Runnable threads of this process (state R in /proc/self/task/*/stat): this one, and any of
    its thread pools' workers still spinning after their last task (Numba's, OpenBLAS's)."""
    n = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 1
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # the state follows the command name, which is in parentheses and may hold spaces
        if stat[stat.rfind(b")") + 2:stat.rfind(b")") + 3] == b"R":
            n += 1
    return max(n, 1)


def _others_running(samples: int = 5, pause: float = 0.001) -> int:
    """Threads of other processes that keep a CPU busy: the fewest runnable ones over a few reads of
    ``procs_running`` (/proc/stat, Linux) ``pause`` seconds apart, each less this process's own
    runnable threads (a worker of ours still spinning is not another process). The minimum: a
    CPU-bound process is runnable in every read, a short-lived one (a daemon waking up) is not.
    0 where it cannot be read."""
    import time

    counts = []
    for k in range(samples):
        if k:
            time.sleep(pause)
        try:
            with open("/proc/stat", "rb") as f:
                line = next(x for x in f if x.startswith(b"procs_running"))
            counts.append(int(line.split()[1]) - _own_running())
        except (OSError, StopIteration, ValueError, IndexError):
            return 0
        if counts[-1] <= 0:  # the minimum cannot go lower: no need to read (and wait) again
            return 0
    return max(min(counts), 0)


def threads_for(dtype, flops: float) -> int:
    """BLAS threads the policy gives a run whose largest product is ``flops`` in ``dtype``.

    1 below :data:`THRESHOLD_FLOPS`; at or above it the :func:`usable_cpus`, less one for every
    CPU another process is busy on at that moment (``procs_running`` in /proc/stat), at least 1:
    a BLAS worker on a core another process wants makes the run slower than one thread would.
    """
    import numpy as np

    if flops < THRESHOLD_FLOPS[np.dtype(dtype).name]:
        return 1
    return free_cpus()


def free_cpus() -> int:
    """The :func:`usable_cpus` less one for every CPU another process is busy on right now
    (``procs_running`` in /proc/stat), at least 1."""
    usable = usable_cpus()
    if usable == 1:
        return 1
    return max(1, min(usable, (os.cpu_count() or usable) - _others_running()))


def stack_threads(num_models: int) -> int:
    """Threads of Numba's pool for a run of a stack of ``num_models`` models (one model per thread
    at a time, BLAS single-threaded): the ``n`` of :func:`set_parallelism` (``--jobs``) when set,
    else ``FASTRNN_THREADS`` when it is a number, else the :func:`free_cpus`; never more than the
    models."""
    fixed = _env_threads()
    n = _parallelism if _parallelism is not None else int(fixed) if fixed else free_cpus()
    try:
        import numba

        n = min(n, numba.config.NUMBA_NUM_THREADS)
    except ImportError:  # pragma: no cover - numba is a dependency
        pass
    return max(1, min(n, int(num_models)))


@contextlib.contextmanager
def run_stack_threads(stack) -> Iterator[int]:
    """Run the body (a fit, evaluate or predict of a :class:`fastrnn.stacks.Stack`) with Numba's pool
    at :func:`stack_threads` threads and BLAS at one thread, then restore both.

    Each model of the stack runs on one of Numba's threads, whose BLAS calls must not start
    threads of their own (they would compete for the same cores, and OpenBLAS warns that a BLAS
    call with threads inside an OpenMP loop may hang); so BLAS gets one thread for the run, also
    when the user fixed BLAS's count (OPENBLAS_NUM_THREADS & co. or :func:`set_blas_threads`,
    which apply to single models). The stack's own parallelism is set with ``FASTRNN_THREADS=n``,
    ``--jobs`` (:func:`set_parallelism`) or capped by ``NUMBA_NUM_THREADS``. A run inside a run
    (an evaluate inside a fit) keeps the outer run's counts.

    Parameters
    ----------
    stack : fastrnn.stacks.Stack
        The stack about to run.

    Yields
    ------
    int
        The number of Numba threads in force.
    """
    import numba

    global _depth
    with _lock:
        outer = _depth == 0
        _depth += 1
    try:
        if not outer:
            yield numba.get_num_threads()
            return
        n = stack_threads(stack.num_models)
        libs = _threads.blas_threads()
        blas_changed = any(v != 1 for v in libs.values())
        if blas_changed:
            _threads.set_blas_threads(1)
        before = numba.get_num_threads()
        numba.set_num_threads(n)
        try:
            yield n
        finally:
            numba.set_num_threads(before)
            if blas_changed:
                _threads.restore_blas_threads(libs)
    finally:
        with _lock:
            _depth -= 1


@contextlib.contextmanager
def run_threads(model, X, batch_size: int | None = None, steps: int | None = None,
                training: bool = True) -> Iterator[int | None]:
    """Run the body with the policy's BLAS thread count for this run of ``model``, then restore it.

    Parameters
    ----------
    model : the model about to be trained or run.
    X : its input, (B, T, ...): the number of sequences and their length.
    batch_size : rows per batch (default, or when larger: all of ``X``).
    steps : time steps per forward (default ``X.shape[1]``; the window of ``fit_stateful``).
    training : as :func:`largest_gemm_flops`.

    Yields
    ------
    int or None
        The thread count in force: the policy's, or ``FASTRNN_THREADS`` when that is a number.
        None when the thread count is left alone: another override (:func:`override`), no OpenBLAS
        found, or a run already in progress (an ``evaluate`` inside ``fit``: the outer run's count
        stays).
    """
    global _depth
    with _lock:
        outer = _depth == 0
        _depth += 1
    try:
        why = override() if outer else "nested"
        fixed = _env_threads() if why is not None and why.startswith(ENV_VAR) else None
        before = _threads.numba_blas_threads() if why is None or fixed else None
        if before is None:  # hands off, or no OpenBLAS found
            yield None
            return
        libs = _threads.blas_threads()
        if fixed:
            n = int(fixed)
        else:
            rows = len(X) if batch_size is None else max(1, min(int(batch_size), len(X)))
            T = X.shape[1] if steps is None else max(1, min(int(steps), X.shape[1]))
            n = threads_for(model.dtype, largest_gemm_flops(model, rows, T, training))
        changed = any(v != n for v in libs.values())
        if changed:
            _threads.set_blas_threads(n)
        try:
            yield n
        finally:
            if changed:
                _threads.restore_blas_threads(libs)
    finally:
        with _lock:
            _depth -= 1


def describe() -> str:
    """One line on the policy in force, for ``fastrnn info`` and ``fastrnn bench``, e.g.
    ``auto (BLAS 1 thread below 2e+08 flop per GEMM in float32, 1e+08 in float64, 2 above);
    OPENBLAS_NUM_THREADS, GOTO_NUM_THREADS, OMP_NUM_THREADS not set``."""
    why = override()
    if why is not None:
        now = _threads.numba_blas_threads()
        what = ("every run gets that many BLAS threads" if why.startswith(ENV_VAR)
                else "the thread count is left alone")
        return f"off: {why} ({what}; BLAS now {now if now else 'unknown'})"
    t = THRESHOLD_FLOPS
    return (f"auto (BLAS 1 thread below {t['float32']:.2g} flop for a run's largest GEMM in float32, "
            f"{t['float64']:.2g} in float64, up to {usable_cpus()} at or above, fewer on CPUs other "
            f"processes are busy on); "
            f"{', '.join(BLAS_ENV_VARS)} not set")
