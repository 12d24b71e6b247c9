"""Independent jobs in parallel processes: :func:`map_jobs`.

A *job* is one unit of independent work (an ensemble member or a stack of them, a group of series,
a backtest window, a hyperparameter candidate): a picklable value that carries everything its
result depends on, its seed included. ``fn(job)`` turns it into a result. :func:`map_jobs` runs
``fn`` over the jobs, in this process, in a pool of worker processes on this machine (the
``local`` backend) or on a ``dask.distributed`` cluster (the ``dask`` backend), and returns the
results in the order of the jobs, so a result never depends on how many processes there were or
on which one ran it.

Worker processes of the local backend are started with the ``spawn`` method (a fresh interpreter:
a fork of a process whose BLAS or Numba threads exist can deadlock), with ``OPENBLAS_NUM_THREADS``,
``OMP_NUM_THREADS``, ``NUMBA_NUM_THREADS`` and ``FASTRNN_THREADS`` set to 1 in their environment
from the start (:data:`WORKER_ENV`), so that BLAS and Numba load single-threaded: the parallelism
is the processes', and no worker's thread pool competes with another's for the cores. A worker
ignores Ctrl-C; the parent, which receives it too, stops the workers and raises
:class:`KeyboardInterrupt`. These workers run no warm-up: each loads the kernels it needs from
Numba's on-disk cache with its first job, which costs what a warm-up of those kernels would.

The ``dask`` backend sends every job as a task of one top-level function to the workers of a
``dask.distributed.Client``. Each distinct piece of the jobs' data (the parts of a tuple job that
are not plain scalars) is scattered to the cluster once, by content, however many jobs share it;
results are gathered in job order, never in the order the tasks finished; the first failing job
is raised as with the local backend; Ctrl-C (or an error) cancels the tasks. A worker that dies
has its task run again elsewhere by Dask (the results do not change: a job carries its seed).
:func:`cluster` opens such a client for a block: a ``LocalCluster`` of worker processes on
127.0.0.1 (``workers=N``: one thread each, :data:`WORKER_ENV` set before they start) or a running
scheduler (``scheduler=ADDRESS``; start its workers with ``--nthreads 1`` and
``OPENBLAS_NUM_THREADS=1``); on every worker a plugin (:class:`fastrnn._dask.WorkerSetup`) sets
the run-time thread variables, a writable ``NUMBA_CACHE_DIR`` when the kernels' own cache folder
is not writable, and loads the LSTM float32 kernels once, before the first task.

The backend a ``map_jobs`` call uses when it names none is the one :func:`use_backend` (or
:func:`cluster`, which the CLI's ``--scheduler`` / ``--dask-workers`` enter) set for the block
around it, and ``"local"`` outside any: code deep inside a run calls ``map_jobs(fn, jobs)`` and
runs wherever the caller chose, with no backend argument passed down through every function. In a
worker (of either backend) that block is not there: a job's own ``map_jobs`` runs locally, and
there in the worker's process (its parallelism is one CPU).

A job should do about a second of work or more, so that sending it to a worker costs little beside
it: :func:`group_jobs` cuts a sequence of small jobs, by an estimate of their cost, into
consecutive groups of at least a given cost, one task each (results still in job order).

Importing this module loads neither NumPy nor Numba (a worker loads them with its first job), nor
Dask (only ``backend="dask"`` and :func:`cluster` look for it).
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

__all__ = ["map_jobs", "use_backend", "cluster", "current_backend", "group_jobs", "BACKENDS", "WORKER_ENV"]

J = TypeVar("J")
R = TypeVar("R")

#: The backends of :func:`map_jobs`: ``local`` (processes on this machine) and ``dask``
#: (a ``dask.distributed`` cluster).
BACKENDS = ("local", "dask")

#: The environment every worker process starts with (on top of the parent's): one BLAS thread,
#: one Numba thread, and the thread policy fixed at one thread (:mod:`fastrnn.threads`).
WORKER_ENV: dict[str, str] = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                              "NUMBA_NUM_THREADS": "1", "FASTRNN_THREADS": "1"}

#: A progress callback: called as ``progress(done, total)`` after each finished job.
ProgressCallback = Callable[[int, int], Any]

_env_lock = threading.Lock()  # the parent's environment is changed while workers are spawned

# (backend, client) of the map_jobs calls that name no backend: use_backend() / cluster()
_current: contextvars.ContextVar[tuple[str, Any]] = contextvars.ContextVar("fastrnn_parallel_backend",
                                                                           default=("local", None))


@contextlib.contextmanager
def use_backend(backend: str = "local", client: Any = None) -> Iterator[None]:
    """Within the block, every :func:`map_jobs` call that names no backend runs on this one.

    Parameters
    ----------
    backend : {"local", "dask"}
        As :func:`map_jobs` takes it.
    client : optional
        The ``dask.distributed.Client`` of the ``dask`` backend; None with ``"local"``.

    Yields
    ------
    None

    Raises
    ------
    ValueError, ImportError
        As :func:`map_jobs` raises them for these arguments.

    Examples
    --------
    >>> from fastrnn.parallel import map_jobs, use_backend
    >>> with use_backend("local"):
    ...     map_jobs(abs, [-1, 2], n_jobs=1)
    [1, 2]
    """
    _check_backend(backend, client)
    token = _current.set((backend, client))
    try:
        yield
    finally:
        _current.reset(token)


def current_backend() -> str:
    """The backend of the :func:`map_jobs` calls that name none, here and now.

    Returns
    -------
    str
        ``"dask"`` inside a :func:`cluster` (or ``use_backend("dask", ...)``) block, else the
        enclosing :func:`use_backend`'s, ``"local"`` outside any (and in any worker process).

    Examples
    --------
    >>> from fastrnn.parallel import current_backend
    >>> current_backend()
    'local'
    """
    return _current.get()[0]


@contextlib.contextmanager
def cluster(scheduler: str | None = None, workers: int | None = None,
            timeout: float | None = None) -> Iterator[Any]:
    """A ``dask.distributed`` cluster for the block: every :func:`map_jobs` call within that names
    no backend runs on it (:func:`use_backend`).

    Every worker gets a plugin (:class:`fastrnn._dask.WorkerSetup`) that sets the thread variables
    read at run time (``FASTRNN_THREADS=1``; ``NUMBA_NUM_THREADS=1`` while Numba is not loaded), a
    writable ``NUMBA_CACHE_DIR`` when the kernels' own cache folder is not writable, ignores
    Ctrl-C (a local cluster's workers only), and loads the LSTM float32 kernels once, before its
    first task.

    Parameters
    ----------
    scheduler : str, optional
        The address of a running scheduler (``dask scheduler``), e.g. ``"tcp://10.0.0.5:8786"``.
        Its workers should run one thread each, with one BLAS thread: start them with
        ``OPENBLAS_NUM_THREADS=1 dask worker ADDRESS --nworkers N --nthreads 1`` (a warning says
        so when they run more threads).
    workers : int, optional
        Without ``scheduler``: start a ``LocalCluster`` of this many worker processes on 127.0.0.1
        for the block (one thread each, no dashboard, :data:`WORKER_ENV` in their environment
        before they start), and close it after.
    timeout : float, optional
        Seconds to wait for ``scheduler`` to answer (default 10).

    Yields
    ------
    dask.distributed.Client

    Raises
    ------
    ValueError
        Both or neither of ``scheduler`` and ``workers``, or ``workers`` not a positive integer.
    ImportError
        ``dask.distributed`` is not installed (the message names the install).
    ConnectionError
        The scheduler cannot be reached: ``cannot reach the Dask scheduler at ADDRESS (...);
        start one with: dask scheduler``.

    Examples
    --------
    >>> from fastrnn.parallel import cluster, map_jobs
    >>> with cluster(workers=2):  # doctest: +SKIP
    ...     map_jobs(abs, [-1, 2, -3])
    [1, 2, 3]
    """
    if (scheduler is None) == (workers is None):
        raise ValueError("give either scheduler (the address of a running dask scheduler) or workers "
                         "(the worker processes of a local cluster), not both or neither")
    if workers is not None:
        workers = _check_n_jobs(workers)
        _check_not_starting()
    _import_dask()
    from fastrnn import _dask

    session = _dask.start(scheduler, workers, timeout)
    try:
        with use_backend("dask", session.client):
            yield session.client
    finally:
        _dask.stop(session)


def group_jobs(costs: Sequence[float], min_cost: float) -> list[range]:
    """Cut jobs ``0 .. len(costs) - 1`` into consecutive groups of at least ``min_cost`` each.

    A group closes as soon as the costs of its jobs add up to ``min_cost``; a last group that
    falls short joins the one before it. The groups depend on the costs only (never on the
    workers), so a run is cut the same way everywhere; results stay in job order when the
    groups' results are concatenated.

    Parameters
    ----------
    costs : sequence of float
        An estimate of each job's work (seconds, operations: any unit, the same as ``min_cost``).
    min_cost : float
        The least work of a group (e.g. about a second's worth, so that sending a task costs
        little beside it); ``inf``: all jobs in one group.

    Returns
    -------
    list of range
        The jobs of each group, in order; empty for no jobs.

    Raises
    ------
    ValueError
        A negative or non-finite cost, or a ``min_cost`` that is not a positive number.

    Examples
    --------
    >>> from fastrnn.parallel import group_jobs
    >>> group_jobs([0.4, 0.4, 0.4, 1.5, 0.2], min_cost=1.0)
    [range(0, 3), range(3, 5)]
    """
    import math

    if isinstance(min_cost, bool) or not isinstance(min_cost, (int, float)) or not min_cost > 0:
        raise ValueError(f"min_cost must be a positive number (inf: one group); got {min_cost!r}")
    groups: list[range] = []
    start, total = 0, 0.0
    for i, c in enumerate(costs):
        c = float(c)
        if not math.isfinite(c) or c < 0:
            raise ValueError(f"costs must be finite and >= 0; job {i} has {c!r}")
        total += c
        if total >= min_cost:
            groups.append(range(start, i + 1))
            start, total = i + 1, 0.0
    if start < len(costs):
        if groups:
            groups[-1] = range(groups[-1].start, len(costs))
        else:
            groups.append(range(0, len(costs)))
    return groups


def map_jobs(fn: Callable[[J], R], jobs: Iterable[J], n_jobs: int | None = None,
             backend: str | None = None, client: Any = None,
             progress: bool | ProgressCallback | None = None) -> list[R]:
    """Run ``fn(job)`` for every job, in parallel processes, and return the results in job order.

    Parameters
    ----------
    fn : callable
        A function of one job. With more than one process it is sent to the workers by reference,
        so for the local backend it must be defined at the top level of an importable module (not
        a lambda, not a function defined inside another one or typed in an interactive session;
        Dask sends those by value), and the jobs and results must be picklable.
    jobs : iterable
        The jobs. Each carries everything its result depends on (its seed included), so that the
        results do not depend on ``n_jobs`` or on which process ran a job. With the ``dask``
        backend, a job that is a tuple is sent as its parts, and each distinct part that is not a
        plain scalar or string is scattered to the cluster once, however many jobs hold it.
    n_jobs : int, optional
        Processes to run the jobs in; default :func:`fastrnn.threads.parallelism` (the CPUs this
        process may use, or what ``fastrnn train --jobs`` / :func:`fastrnn.threads.set_parallelism`
        set). With ``n_jobs=1`` or a single job, the jobs run in this process, one after another,
        with no pool to start; otherwise in ``min(n_jobs, len(jobs))`` worker processes, each
        started with one BLAS and one Numba thread (:data:`WORKER_ENV`). Ignored by the ``dask``
        backend (checked all the same): the cluster runs as many jobs at once as its workers have
        threads, and sends every job, even a single one, to a worker.
    backend : {"local", "dask"}, optional
        ``"local"``: this machine. ``"dask"``: the ``dask.distributed`` cluster of ``client``.
        Default: the backend (and client) of the enclosing :func:`use_backend` or :func:`cluster`
        block, ``"local"`` outside any.
    client : optional
        The ``dask.distributed.Client`` of the ``dask`` backend (required with it, unless the
        enclosing block gives one); must be None with ``"local"``.
    progress : bool or callable, optional
        ``True``: a progress bar over the finished jobs; a callable: called as
        ``progress(done, total)`` after each finished job (in the order they finish).

    Returns
    -------
    list
        ``[fn(job) for job in jobs]``: the results in the order of ``jobs``, never in the order
        the jobs finished.

    Raises
    ------
    ValueError
        On bad arguments: ``n_jobs`` not a positive integer, an unknown ``backend``, a ``client``
        with the local backend or none with the dask backend, an ``fn`` the workers cannot import.
    ImportError
        For ``backend="dask"`` when ``dask.distributed`` is not installed.
    Exception
        The first exception a job raised, as the same type with ``job I of N: `` (``I`` its index
        in ``jobs``, from 0) before its message, the original exception (and the worker's
        traceback) as its cause. The jobs not finished yet are cancelled and the workers stopped
        (the local backend's; a Dask cluster's workers stay for the next call).
    RuntimeError
        ``concurrent.futures.process.BrokenProcessPool`` (a RuntimeError, ``job I of N: ...``) when
        a local worker process ended abruptly (killed, out of memory, or failed while it started);
        a RuntimeError when this is a worker process still importing its parent's script. Both
        messages say that a script which calls ``map_jobs`` (or ``fit_panel``, ``sweep``,
        ``cluster``) at its top level needs an ``if __name__ == "__main__":`` guard: without one
        it runs again in every worker.
    KeyboardInterrupt
        On Ctrl-C (or an interruption the caller raises for SIGTERM): the workers are stopped
        (Dask: the tasks cancelled) first, none is left behind.

    Examples
    --------
    >>> from fastrnn.parallel import map_jobs
    >>> map_jobs(abs, [-2, 3, -5], n_jobs=1)
    [2, 3, 5]
    """
    _check_not_starting()
    jobs = list(jobs)
    if backend is None:
        backend, current_client = _current.get()
        client = current_client if client is None else client
    _check_backend(backend, client)
    if not callable(fn):
        raise ValueError(f"fn must be a function of one job; got {fn!r}")
    if n_jobs is not None:
        n_jobs = _check_n_jobs(n_jobs)
    with _reporter(progress, len(jobs)) as report:
        if backend == "dask":
            from fastrnn import _dask

            return _dask.run(client, fn, jobs, report)
        if n_jobs is None:
            from fastrnn import threads

            n_jobs = threads.parallelism()
        if n_jobs == 1 or len(jobs) <= 1:
            return _run_here(fn, jobs, report)
        _check_importable(fn)
        return _run_pool(fn, jobs, min(n_jobs, len(jobs)), report)


#: What goes wrong when a script runs fastrnn's parallel work at its top level, and the fix.
_UNGUARDED = ("a script that runs fastrnn's parallel work (map_jobs, fit_panel, sweep, cluster) at "
              "its top level runs again in every worker process, which imports it; put that code under "
              "`if __name__ == \"__main__\":`, or pass n_jobs=1 (no worker processes)")


def _check_not_starting() -> None:
    """RuntimeError in a worker process that is still importing the parent's script (a spawned
    worker imports the ``__main__`` of its parent before its first job): the script has no
    ``if __name__ == "__main__":`` guard, and its top-level code would start workers of its own
    (or, in a worker of one thread, do all of the parent's work again, silently)."""
    import multiprocessing

    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise RuntimeError(_UNGUARDED)


def _check_n_jobs(n_jobs) -> int:
    """``n_jobs`` as an int; ValueError unless it is a positive integer (not a bool)."""
    from fastrnn.models import check_positive_int

    return check_positive_int("n_jobs", n_jobs, "(processes) or None (the CPUs this process may use)")


def _check_backend(backend, client) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    if backend == "local":
        if client is not None:
            raise ValueError("client goes with backend='dask'; drop it, or pass backend='dask'")
        return
    _import_dask()
    if client is None:
        raise ValueError("backend='dask' needs a client: pass client=dask.distributed.Client(...), or call "
                         "map_jobs inside a fastrnn.parallel.cluster(...) block")


def _import_dask() -> None:
    """ImportError naming the install unless ``dask.distributed`` can be imported."""
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        raise ImportError("backend='dask' needs dask.distributed, which is not installed; "
                          "pip install 'fastrnn[dask]' (or pip install 'dask[distributed]'), "
                          "or use backend='local'", name="dask.distributed") from None


def _check_importable(fn) -> None:
    """ValueError unless a spawned worker can import ``fn`` (it is sent by reference)."""
    try:
        pickle.dumps(fn)
    except Exception as exc:
        raise ValueError(f"fn must be a function defined at the top level of a module, to be sent "
                         f"to worker processes; {fn!r} is not ({exc}); define it at module level, or "
                         f"pass n_jobs=1") from None
    main = sys.modules.get("__main__")
    if getattr(fn, "__module__", None) == "__main__" and getattr(main, "__file__", None) is None:
        raise ValueError(f"fn must be importable by worker processes; {fn!r} was defined in an "
                         f"interactive session or with python -c; define it in a module (a .py file), "
                         f"or pass n_jobs=1")


@contextlib.contextmanager
def _reporter(progress, total: int) -> Iterator[Callable[[int], None]]:
    """``report(done)`` for ``progress``: a bar (True), a callback, or nothing (None, False)."""
    if progress is None or progress is False:
        yield lambda done: None
        return
    if progress is True:
        from fastrnn._progress import progress_bar

        bar = progress_bar(total=total, desc="jobs", unit="job")
        try:
            yield lambda done: bar.update(done - bar.n)
        finally:
            bar.close()
        return
    if not callable(progress):
        raise ValueError(f"progress must be True, False, None or a callable progress(done, total); "
                         f"got {progress!r}")
    yield lambda done: progress(done, total)


def _run_here(fn, jobs: list, report) -> list:
    """The jobs in this process, one after another."""
    results = []
    for i, job in enumerate(jobs):
        try:
            results.append(fn(job))
        except Exception as exc:
            _raise_indexed(exc, i, len(jobs))
        report(i + 1)
    return results


def _run_pool(fn, jobs: list, workers: int, report) -> list:
    """The jobs in a pool of ``workers`` spawned processes; results in job order."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker)
    n = len(jobs)
    try:
        with _spawning():  # submit() starts the workers (the first `workers` submits)
            futures = [pool.submit(_call, fn, job) for job in jobs]
        index = {f: i for i, f in enumerate(futures)}
        results: list = [None] * n
        pending, done = set(futures), 0
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in sorted(finished, key=index.__getitem__):
                exc = f.exception()
                if exc is not None:
                    if isinstance(exc, Exception):
                        _raise_indexed(exc, index[f], n)
                    raise exc
                results[index[f]] = f.result()
                done += 1
                report(done)
    except BrokenProcessPool as exc:  # a worker ended abruptly, or failed while it started
        _stop(pool)
        raise BrokenProcessPool(f"{str(exc).rstrip('.')}: it was killed (out of memory?), or it failed "
                                f"while it started; {_UNGUARDED}") from exc
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown(wait=True)
    return results


@contextlib.contextmanager
def _spawning() -> Iterator[None]:
    """While worker processes are started: :data:`WORKER_ENV` in the environment they inherit,
    and SIGINT blocked in this thread (a spawned process inherits the signal mask, so a Ctrl-C
    cannot reach a worker before its initializer ignores it; here it waits until unblocked)."""
    block = hasattr(signal, "pthread_sigmask")
    with _env_lock:
        saved = {k: os.environ.get(k) for k in WORKER_ENV}
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if block else None
        try:
            os.environ.update(WORKER_ENV)
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            if old_mask is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def _stop(pool) -> None:
    """Cancel the jobs not started, end the workers (SIGTERM, then SIGKILL), wait for them.
    Carries on through a KeyboardInterrupt raised meanwhile (the CLI raises one again while its
    clean-up has not run)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for _ in range(100):
        try:
            pool.shutdown(wait=False, cancel_futures=True)
            for p in processes:
                if p.is_alive():
                    p.terminate()
            for p in processes:
                p.join(5.0)
                if p.is_alive():
                    p.kill()
                    p.join()
            pool.shutdown(wait=True)
            return
        except KeyboardInterrupt:
            continue


def _init_worker() -> None:
    """In each worker, before its first job: ignore Ctrl-C (the parent stops the workers), then
    unblock it (blocked by :func:`_spawning`); make sure of the environment of :data:`WORKER_ENV`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    os.environ.update(WORKER_ENV)


def _call(fn, job):
    """``fn(job)`` in a worker; an exception that cannot travel back to the parent (it does not
    pickle) is sent as a RuntimeError naming its type and message, its traceback kept."""
    try:
        return fn(job)
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            raise RuntimeError(f"{type(exc).__qualname__}: {exc}") from exc
        raise


def _raise_indexed(exc: Exception, i: int, n: int):
    """Raise :func:`_indexed` ``(exc, i, n)`` from ``exc`` (``exc`` itself if it cannot be made)."""
    new = _indexed(exc, i, n)
    if new is exc:
        raise exc
    raise new from exc


def _indexed(exc: Exception, i: int, n: int) -> Exception:
    """``exc`` again, as the same type, with ``job i of n: `` before its message (``exc`` itself
    when no such copy can be made)."""
    prefix = f"job {i} of {n}: "
    new = None
    try:
        if isinstance(exc, OSError) and exc.errno is not None and exc.strerror:
            new = type(exc)(exc.errno, prefix + exc.strerror, *([exc.filename] if exc.filename else []))
        else:
            new = type(exc)(prefix + str(exc))
    except Exception:
        new = None
    if new is None and exc.args and isinstance(exc.args[0], str):  # constructors with more arguments
        try:
            new = copy.copy(exc)
            new.args = (prefix + exc.args[0], *exc.args[1:])
        except Exception:
            new = None
    if new is None:
        return exc
    with contextlib.suppress(AttributeError, TypeError):
        new.__dict__.update(exc.__dict__)
    return new
