"""The Dask backend of :mod:`fastrnn.parallel` (issue 14); imported only when that backend is used.

* :func:`start` connects a ``dask.distributed.Client`` to a running scheduler, or starts a
  ``LocalCluster`` of worker processes on the loopback interface, and registers
  :class:`WorkerSetup` on every worker (also on those that join or restart later);
* :func:`run` sends the jobs as tasks of one top-level function, each distinct piece of their data
  once, and gathers the results in job order;
* :func:`stop` closes the client and the local cluster.

The worker processes of a local cluster start with :data:`fastrnn.parallel.WORKER_ENV` (one BLAS,
one Numba thread) in their environment from the first instruction: it is put into Dask's
``distributed.nanny.pre-spawn-environ``, which the nanny sets in its own process before it spawns
a worker (importing ``distributed`` loads NumPy, so a variable set later in the worker would come
too late for OpenBLAS). The nanny runs in this process, so the variables are removed from this
process's environment once the workers run, and again when the cluster is closed (a nanny that
restarts a dead worker sets them again meanwhile).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dask
import distributed
from distributed import WorkerPlugin

from fastrnn import parallel

#: Seconds :func:`start` waits for a scheduler to answer.
CONNECT_TIMEOUT_S = 10.0

#: Values of a job's parts sent with the task itself (small); every other part is scattered.
_INLINE = (type(None), bool, int, float, complex, str)


class WorkerSetup(WorkerPlugin):
    """Prepares every worker process for fastrnn's jobs, once, when it starts (or joins).

    It sets the thread variables of :data:`fastrnn.parallel.WORKER_ENV` that are read at run time
    (``FASTRNN_THREADS``; ``NUMBA_NUM_THREADS`` while Numba is not loaded yet) and fastrnn's
    parallelism to one CPU (:func:`fastrnn.threads.set_parallelism`: a job's own ``map_jobs``
    runs in the worker's process, which as a daemon may not start any), points
    ``NUMBA_CACHE_DIR`` to a writable folder when the kernels' own ``__pycache__`` is not writable
    and no cache folder is set, for a local cluster's workers ignores Ctrl-C (the client cancels
    the jobs, the cluster stops the process; the workers of a user's ``dask worker`` keep theirs),
    and loads the kernels of the given kinds and dtypes (:func:`warm_up`: single models
    and stacks), so that loading (or compiling) them is not billed to the worker's first task. A
    warm-up of the LSTM in float32 (the shipped defaults' model) costs what the first task would
    pay to load its kernels otherwise; one of every kind and dtype costs several times that at
    every worker start, for kernels most runs never call.

    Parameters
    ----------
    kinds : tuple of str, default ("lstm",)
        Model kinds to warm up; empty: none.
    dtypes : tuple of str, default ("float32",)
        Dtypes to warm up.
    ignore_interrupt : bool, default False
        Ignore Ctrl-C in the worker (the workers of a local cluster started by :func:`start`).
    """

    name = "fastrnn-worker-setup"

    def __init__(self, kinds: tuple[str, ...] = ("lstm",), dtypes: tuple[str, ...] = ("float32",),
                 ignore_interrupt: bool = False) -> None:
        self.kinds, self.dtypes, self.ignore_interrupt = tuple(kinds), tuple(dtypes), bool(ignore_interrupt)

    async def setup(self, worker: Any) -> None:
        """Run in the worker process when the plugin is registered or the worker starts.

        The warm-up runs in a thread, so that the worker keeps answering the scheduler meanwhile
        (a cold cache compiles for minutes; a worker silent that long is taken for dead).

        Parameters
        ----------
        worker : distributed.Worker
        """
        import asyncio

        prepare_worker(getattr(worker, "local_directory", None), self.ignore_interrupt)
        if self.kinds and self.dtypes:
            await asyncio.get_running_loop().run_in_executor(None, warm_up, self.kinds, self.dtypes)


def warm_up(kinds: tuple[str, ...], dtypes: tuple[str, ...]) -> None:
    """:func:`fastrnn.warmup.warm_up` of ``kinds`` and ``dtypes``, and one training step of a
    stack of two models of each (the kernels of a panel's local models).

    Parameters
    ----------
    kinds, dtypes : tuple of str
        As :func:`fastrnn.warmup.warm_up` takes them.
    """
    import numpy as np

    import fastrnn as fr
    from fastrnn import models, warmup

    warmup.warm_up(kinds, dtypes)
    for dtype in dtypes:
        x = np.linspace(-1.0, 1.0, 6, dtype=dtype).reshape(2, 3, 1)
        y = np.array([[0.5], [-0.5]], dtype=dtype)
        for kind in kinds:
            cls = models.model_class(kind)
            st = fr.stack([cls(input_size=1, hidden_size=2, seed=s, dtype=dtype) for s in range(2)])
            fr.Trainer(st, optimizer="adam", clip_norm=1.0).fit(x, y, epochs=1, verbose=0)
            st.predict(x)


def prepare_worker(local_directory: str | None = None, ignore_interrupt: bool = False) -> dict[str, str]:
    """Environment, Numba cache and Ctrl-C of a worker process (:class:`WorkerSetup`).

    Parameters
    ----------
    local_directory : str or None
        The worker's scratch folder: the Numba cache's last resort.
    ignore_interrupt : bool
        Ignore Ctrl-C from now on.

    Returns
    -------
    dict[str, str]
        The environment variables it set.
    """
    changed = {"FASTRNN_THREADS": parallel.WORKER_ENV["FASTRNN_THREADS"]}
    if "numba" not in sys.modules:
        changed["NUMBA_NUM_THREADS"] = parallel.WORKER_ENV["NUMBA_NUM_THREADS"]
        cache = _numba_cache_dir(local_directory)
        if cache is not None:
            changed["NUMBA_CACHE_DIR"] = cache
    os.environ.update(changed)
    from fastrnn import threads  # loads Numba: after its variables

    threads.set_parallelism(1)  # a job's own map_jobs runs in this process (a worker cannot have children)
    if ignore_interrupt:
        with contextlib.suppress(ValueError):  # not the main thread: leave Ctrl-C alone
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    return changed


def _writable(folder: Path) -> bool:
    """Whether files can be created in ``folder`` (or it can be created)."""
    while not folder.exists():
        if folder.parent == folder:
            return False
        folder = folder.parent
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def _numba_cache_dir(local_directory: str | None) -> str | None:
    """A writable ``NUMBA_CACHE_DIR`` when Numba's default (the kernels' ``__pycache__``) is not
    writable and none is set: the user's cache folder, else the worker's scratch folder; None when
    nothing needs to change."""
    import importlib.util

    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    spec = importlib.util.find_spec("fastrnn.kernels")
    kernels = Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None
    if kernels is not None and _writable(kernels / "__pycache__"):
        return None
    candidates = [Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fastrnn" / "numba"]
    if local_directory:
        candidates.append(Path(local_directory) / "numba-cache")
    for folder in candidates:
        if _writable(folder):
            return str(folder)
    return None


@contextlib.contextmanager
def _worker_environ(env: dict[str, str]) -> Iterator[None]:
    """While a local cluster starts: ``env`` in this process's environment and in Dask's
    ``pre-spawn-environ`` (the nanny reads both, now and when it restarts a worker); afterwards
    this process's environment as it was."""
    pre = {**{k: v for k, v in _pre_spawn().items() if v}, **env}
    with parallel._env_lock:
        saved = {k: os.environ.get(k) for k in {**_pre_spawn(), **env}}
        try:
            os.environ.update(env)
            with dask.config.set({"distributed.nanny.pre-spawn-environ": pre}):
                yield
        finally:
            _restore(saved)


def _pre_spawn() -> dict:
    """Dask's ``distributed.nanny.pre-spawn-environ`` and ``PYTHONHASHSEED``: what a nanny sets in
    this process's environment before it spawns a worker."""
    return {"PYTHONHASHSEED": "", **(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {})}


def _restore(saved: dict[str, str | None]) -> None:
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


class Session:
    """A client and, for ``workers=N``, the local cluster it talks to (:func:`start`).

    Attributes
    ----------
    client : distributed.Client
    local : distributed.LocalCluster or None
    saved_env : dict
        This process's values of the variables a nanny sets (:data:`fastrnn.parallel.WORKER_ENV`,
        Dask's ``pre-spawn-environ``) before the cluster started.
    """

    def __init__(self, client, local, saved_env) -> None:
        self.client, self.local, self.saved_env = client, local, saved_env


def start(scheduler: str | None, workers: int | None, timeout: float | None = None) -> Session:
    """Connect to ``scheduler`` or start a local cluster of ``workers`` processes; register
    :class:`WorkerSetup`.

    Parameters
    ----------
    scheduler : str or None
        Address of a running ``dask scheduler``.
    workers : int or None
        Worker processes of a ``LocalCluster`` on 127.0.0.1 (one thread each, no dashboard).
    timeout : float or None
        Seconds to wait for the scheduler (default :data:`CONNECT_TIMEOUT_S`).

    Returns
    -------
    Session

    Raises
    ------
    ConnectionError
        The scheduler cannot be reached.
    """
    saved = {k: os.environ.get(k) for k in {**_pre_spawn(), **parallel.WORKER_ENV}}
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    local = None
    try:
        if scheduler is None:
            with _worker_environ(parallel.WORKER_ENV):
                local = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                 host="127.0.0.1", scheduler_port=0, dashboard_address=None,
                                                 silence_logs=logging.ERROR,  # a worker stopped mid-task warns
                                                 # no dashboard; its HTTP server (health) on any free port
                                                 scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
            client = distributed.Client(local)
        else:
            try:
                client = distributed.Client(scheduler, timeout=timeout)
            except Exception as exc:
                why = " ".join(str(exc).split()) or type(exc).__name__
                raise ConnectionError(f"cannot reach the Dask scheduler at {scheduler} ({why}); start one with: "
                                      f"dask scheduler") from None
    except BaseException:  # Ctrl-C while the workers start, too
        if local is not None:
            stop(Session(_Closed(), local, saved))
        raise
    try:
        client.register_plugin(WorkerSetup(ignore_interrupt=scheduler is None))
        if scheduler is not None:
            _check_workers(client, scheduler)
    except BaseException:
        stop(Session(client, local, saved))
        raise
    return Session(client, local, saved)


class _Closed:
    """A stand-in client that is closed already."""

    def close(self) -> None:
        pass


def _check_workers(client, scheduler: str) -> None:
    """Warn when the scheduler's workers run several threads each (fastrnn's jobs want one)."""
    workers = client.scheduler_info().get("workers", {})
    threads = sorted({w.get("nthreads", 1) for w in workers.values()})
    if threads and threads[-1] > 1:
        warnings.warn(f"the Dask workers of {scheduler} run up to {threads[-1]} threads each, so several "
                      f"fastrnn jobs share one process; start them with --nthreads 1 (and "
                      f"OPENBLAS_NUM_THREADS=1), and --nworkers for more processes", stacklevel=3)


def stop(session: Session) -> None:
    """Close the client and the local cluster (its worker processes end), and put back this
    process's environment. Carries on through a KeyboardInterrupt raised meanwhile (the CLI
    raises one again while its clean-up has not run)."""
    for close in (session.client.close, *((session.local.close,) if session.local is not None else ())):
        for _ in range(100):
            try:
                close()
                break
            except KeyboardInterrupt:
                continue
    if session.local is not None:
        with parallel._env_lock:
            _restore(session.saved_env)


def _call_parts(fn: Callable, is_tuple: bool, *parts: Any) -> Any:
    """A task: the job put back together from its parts, then ``fn(job)`` (:func:`parallel._call`)."""
    return parallel._call(fn, parts if is_tuple else parts[0])


def run(client, fn: Callable, jobs: list, report: Callable[[int], None]) -> list:
    """``[fn(job) for job in jobs]`` on the cluster of ``client``, in job order.

    A job that is a tuple is sent as its parts; every part that is not a plain scalar or string is
    scattered once per distinct value (by content: Dask's ``tokenize``), so data that several jobs
    share (a panel's histories, say) travels to the cluster once, and each task fetches the parts
    it needs.

    Parameters
    ----------
    client : distributed.Client
    fn : callable
        The job function (sent by reference when importable, else by value: cloudpickle).
    jobs : list
    report : callable
        ``report(done)`` after each finished job.

    Returns
    -------
    list

    Raises
    ------
    Exception
        The first failing job's exception, as :func:`fastrnn.parallel.map_jobs` raises it; the other
        tasks are cancelled. KeyboardInterrupt: the tasks are cancelled first.
    """
    import uuid

    from dask.base import tokenize

    n = len(jobs)
    if n == 0:
        return []
    split = [(type(j) is tuple, j if type(j) is tuple else (j,)) for j in jobs]
    call = uuid.uuid4().hex  # this call's own keys: another call's release cannot take them
    data: dict[str, Any] = {}
    keys = [[None if isinstance(p, _INLINE) else f"fastrnn-data-{call}-{tokenize(p)}" for p in parts]
            for _, parts in split]
    for (_, parts), ks in zip(split, keys):
        for p, k in zip(parts, ks):
            if k is not None:
                data.setdefault(k, p)
    futures, scattered = [], {}
    try:
        if data:
            scattered = client.scatter(data, broadcast=False, hash=False)
        for (is_tuple, parts), ks in zip(split, keys):
            args = [p if k is None else scattered[k] for p, k in zip(parts, ks)]
            futures.append(client.submit(_call_parts, fn, is_tuple, *args, pure=False))
        index = {f.key: i for i, f in enumerate(futures)}
        results: list = [None] * n
        done = 0
        for f in distributed.as_completed(futures):
            i = index[f.key]
            if f.status == "error":
                exc = f.exception()
                with contextlib.suppress(Exception):
                    exc = exc.with_traceback(f.traceback())
                _cancel(client, futures)
                if isinstance(exc, Exception):
                    parallel._raise_indexed(exc, i, n)
                raise exc
            results[i] = f.result()
            done += 1
            report(done)
        return results
    except BaseException:
        _cancel(client, futures)
        raise
    finally:
        _cancel(client, list(scattered.values()))


def _cancel(client, futures: list) -> None:
    """Cancel ``futures`` (a KeyboardInterrupt meanwhile does not stop it; a closed client is fine)."""
    if not futures:
        return
    for _ in range(100):
        try:
            client.cancel(futures)
            return
        except KeyboardInterrupt:
            continue
        except Exception:
            return
