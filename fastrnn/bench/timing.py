"""How a step is timed: the clock, calls per sample, interleaved samples, and the start-up time of
a new process.

Every (backend, mode) of a case is sampled in the same process, the samples of the backends
interleaved so that machine noise hits them alike (:func:`time_case`). :func:`time_contended` takes
the same samples twice per repeat, once idle and once with a competing CPU-bound process
(:class:`Competitor`) running, alternated.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable

#: The clock of the samples: wall time. (``time.process_time``, see :func:`set_clock`, is useful when
#: developing on a busy machine with one thread: it does not count the time the process waits for a core.)
CLOCK = time.perf_counter
#: The names of :func:`set_clock`.
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def set_clock(kind: str) -> str:
    """Make :data:`CLOCK` the wall clock (``"wall"``) or this process's CPU time (``"cpu"``).

    Parameters
    ----------
    kind : "wall" or "cpu".

    Returns
    -------
    str
        The kind in force before, to restore it.

    Raises
    ------
    ValueError
        On another kind.
    """
    global CLOCK
    if kind not in CLOCKS:
        raise ValueError(f"clock must be one of {', '.join(CLOCKS)}; got {kind!r}")
    before = clock_kind()
    CLOCK = CLOCKS[kind]
    return before


def clock_kind() -> str:
    """The name ("wall" or "cpu") of :data:`CLOCK`."""
    return "cpu" if CLOCK is time.process_time else "wall"


def calibrate(fn: Callable[[], object], min_sample_s: float) -> int:
    """Calls per sample so that a sample lasts about ``min_sample_s`` (from one timed call), 1 to 1000."""
    t0 = CLOCK()
    fn()
    dt = CLOCK() - t0
    return max(1, min(1000, int(math.ceil(min_sample_s / max(dt, 1e-7)))))


def sample(fn: Callable[[], object], n: int) -> float:
    """One sample: the time per call of ``n`` calls of ``fn``, in seconds of :data:`CLOCK`."""
    t0 = CLOCK()
    for _ in range(n):
        fn()
    return (CLOCK() - t0) / n


def _prepare(steps: dict, modes: Iterable[str], min_sample_s: float, warmup: int, settle_s: float) -> tuple:
    """First call, warm-up and calibration of every (backend, mode): ``(fns, out)`` with
    ``fns[backend, mode] = (fn, calls per sample)`` and ``out[backend, mode] = {"first_call_s",
    "times_s": []}``."""
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
            fns[backend, mode] = (fn, calibrate(fn, min_sample_s))
            out[backend, mode] = {"first_call_s": first, "times_s": []}
    return fns, out


def _sample_round(fns: dict, out: dict, settle_s: float) -> None:
    """One sample of every (backend, mode) of ``fns``, appended to ``out``."""
    for key, (fn, n) in fns.items():
        if settle_s:
            time.sleep(settle_s)
            fn()
        out[key]["times_s"].append(sample(fn, n))


def time_case(steps: dict, modes: Iterable[str], repeat: int, min_sample_s: float, warmup: int,
              settle_s: float = 0.15) -> dict:
    """Time every (backend, mode) of one case, samples interleaved across backends.

    Before each sample the process sleeps ``settle_s`` and makes one untimed call: the thread pools
    of the previous backend (OpenMP, OpenBLAS workers busy-wait ~0.1 s after their last job) must
    go idle, or they steal the cores of the next one; and the untimed call wakes this backend's.

    Parameters
    ----------
    steps : backend -> :class:`fastrnn.bench.steps.Step`.
    modes : methods of the steps to time ("train", "infer").
    repeat : samples per (backend, mode).
    min_sample_s : about how long a sample lasts (see :func:`calibrate`).
    warmup : untimed calls after the first one.
    settle_s : pause before each sample.

    Returns
    -------
    dict
        ``{(backend, mode): {"first_call_s", "times_s"}}``.
    """
    fns, out = _prepare(steps, modes, min_sample_s, warmup, settle_s)
    for _ in range(repeat):
        _sample_round(fns, out, settle_s)
    return out


def time_contended(steps: dict, modes: Iterable[str], repeat: int, min_sample_s: float, warmup: int,
                   settle_s: float, competitor: Competitor) -> dict:
    """Time every (backend, mode) of one case idle and with ``competitor`` running, alternated.

    The first calls and the calibration run idle (the competitor paused); then each of the
    ``repeat`` rounds takes one sample of every (backend, mode) idle and one busy, in the order
    idle, busy in even rounds and busy, idle in odd ones, so that a drift of the machine hits both
    alike. The competitor is paused again at the end.

    Parameters
    ----------
    steps, modes, repeat, min_sample_s, warmup, settle_s : as :func:`time_case`.
    competitor : a started :class:`Competitor`.

    Returns
    -------
    dict
        ``{"idle": {(backend, mode): {"first_call_s", "times_s"}}, "busy": {...}}``, each as
        :func:`time_case` returns it (the busy ones without a first call of their own: ``first_call_s``
        is the idle one).
    """
    competitor.pause()
    fns, idle = _prepare(steps, modes, min_sample_s, warmup, settle_s)
    busy = {k: {"first_call_s": v["first_call_s"], "times_s": []} for k, v in idle.items()}
    try:
        for r in range(repeat):
            for cond in (("idle", "busy") if r % 2 == 0 else ("busy", "idle")):
                if cond == "busy":
                    competitor.resume()
                    _sample_round(fns, busy, max(settle_s, _RESUME_S))
                    competitor.pause()
                else:
                    _sample_round(fns, idle, settle_s)
    finally:
        competitor.pause()
    return {"idle": idle, "busy": busy}


#: The kinds of :class:`Competitor`.
COMPETITORS = ("blas", "python")
#: Seconds a resumed competitor gets to be back on a core before a busy sample.
_RESUME_S = 0.05
_COMPETITOR_SCRIPT = r"""
import ctypes, os, signal, sys
parent, kind = int(sys.argv[1]), sys.argv[2]
try:  # Linux: the kernel kills this process when its parent ends, however it ends (even stopped)
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
except Exception:
    pass
if kind == "blas":
    import numpy as np
    a = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
    b = a.T.copy()
    def work():
        for _ in range(20):
            a @ b
else:
    def work():
        for _ in range(100000):
            pass
sys.stdout.write("ready\n")
sys.stdout.flush()
while os.getppid() == parent:  # elsewhere: stop when the parent is gone
    work()
"""


class Competitor:
    """A child process that keeps one core busy, for timing under contention.

    ``kind`` "blas": NumPy multiplies 256 x 256 float32 matrices in a loop on one OpenBLAS thread;
    "python": a pure-Python busy loop. Use it as a context manager (or :meth:`start` /
    :meth:`stop`): the child is killed and reaped on every way out of the block, an exception or
    Ctrl-C included; if this process dies without clean-up (SIGKILL), the kernel kills the child
    too (Linux's parent-death signal; elsewhere the child notices within milliseconds that its
    parent is gone and exits, unless it is paused). :meth:`pause` and :meth:`resume` stop and
    continue it (SIGSTOP / SIGCONT), so idle and busy samples can alternate without a new process.

    Parameters
    ----------
    kind : one of :data:`COMPETITORS`.

    Raises
    ------
    ValueError
        On another kind.
    """

    def __init__(self, kind: str = "blas"):
        if kind not in COMPETITORS:
            raise ValueError(f"the competing process must be one of {', '.join(COMPETITORS)}; got {kind!r}")
        self.kind = kind
        self.proc = None

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs, else None."""
        return self.proc.pid if self.proc is not None else None

    def describe(self) -> str:
        """What the child does, in a sentence."""
        work = ("NumPy multiplies 256 x 256 float32 matrices on one OpenBLAS thread" if self.kind == "blas"
                else "a pure-Python busy loop")
        return f"one child process keeping a core busy: {work}; paused (SIGSTOP) while idle samples are taken"

    def start(self) -> Competitor:
        """Start the child (running) and wait until it works; returns ``self``.

        Raises
        ------
        RuntimeError
            If the child cannot be started or ends at once, or on a system without SIGSTOP.
        """
        if not hasattr(signal, "SIGSTOP"):
            raise RuntimeError("timing under contention needs SIGSTOP/SIGCONT (Linux or macOS)")
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, "-c", _COMPETITOR_SCRIPT, str(os.getpid()), self.kind],
                                     env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        try:
            line = self.proc.stdout.readline()
            if line.strip() != "ready":
                err = self.proc.stderr.read()[-500:] if self.proc.poll() is not None else ""
                raise RuntimeError(f"the competing {self.kind} process did not start: {err or line!r}")
        except BaseException:
            self.stop()
            raise
        return self

    def pause(self) -> None:
        """Stop the child (SIGSTOP); its core is free."""
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Let the child run again (SIGCONT)."""
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        """Kill and reap the child (if it runs); safe to call more than once."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            proc.kill()  # SIGKILL ends a stopped process too
        except ProcessLookupError:
            pass
        proc.wait()
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()

    def __enter__(self) -> Competitor:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


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


def startup_times(cells: Iterable[str], dtypes: Iterable[str], size: tuple[int, int, int, int] = (32, 12, 1, 64),
                  cold: bool = True, threads: int | None = None) -> dict:
    """Time a new Python process from its launch to the end of its first Numba train step.

    Parameters
    ----------
    cells, dtypes : every (cell, dtype) gets a first step, in order.
    size : (B, T, I, H) of the steps.
    cold : True: Numba's on-disk cache points to an empty temporary directory, so every kernel is
        compiled (the JIT compile time); False: the normal cache is used (warm after any earlier run).
    threads : NUMBA_NUM_THREADS (unless set) and OPENBLAS_NUM_THREADS of the new process.

    Returns
    -------
    dict
        ``{"launch_to_first_step_s", "import_s", "cold", "steps": [...]}`` where ``steps`` gives,
        per (cell, dtype), the time of its first step (compile or cache load + run) and the time
        since the launch at its end.

    Raises
    ------
    RuntimeError
        If the new process fails (its stderr's end in the message).
    """
    import fastrnn

    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastrnn.__file__)))
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
