"""Independent jobs in parallel processes (issue 12, ``--jobs``): :func:`fastrnn.parallel.map_jobs`.

Results come back in job order and bitwise independent of ``n_jobs``; workers start with one BLAS
and one Numba thread; a job's exception comes back as its type with the job's index, the other
jobs cancelled and no worker left behind; Ctrl-C stops the workers (a real subprocess gets the
signal); bad arguments are ValueErrors; ``fastrnn train --jobs N``.

The job functions are at the top of this module so that spawned workers can import them. No
assertion depends on timing: jobs that must overlap wait for each other's files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fastrnn import parallel, threads
from fastrnn.parallel import map_jobs
from fastrnn.trainer import Callback

try:
    import _helpers as H
except ImportError:  # tests/ imported as a package
    from tests import _helpers as H

POSIX = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and process groups")
TIMINGS = ("train_seconds", "seconds_per_epoch", "created", "baseline_seconds")


# --- jobs (top level: the workers import them) ---------------------------------------------------

def _where(job):
    """The job, the process that ran it, the environment and the thread counts it ran with."""
    from fastrnn.kernels import _threads

    import numba

    try:  # the environment the process started with (Linux), before any module could read it
        start = dict(kv.split("=", 1) for kv in Path("/proc/self/environ").read_text().split("\0")
                     if "=" in kv)
    except OSError:
        start = dict(os.environ)
    env = {k: start.get(k) for k in parallel.WORKER_ENV}
    return (job, os.getpid(), env, numba.config.NUMBA_NUM_THREADS, _threads.numba_blas_threads(),
            signal.getsignal(signal.SIGINT) == signal.SIG_IGN)


def _train(job):
    """A tiny LSTM trained for two epochs from its own seed: its weights' bytes and the pid."""
    import fastrnn as fr

    seed, dtype = job
    series = np.sin(np.arange(120, dtype=dtype) / 4)
    X, y = np.lib.stride_tricks.sliding_window_view(series[:-1], 8), series[8:]
    model = fr.LSTM(input_size=1, hidden_size=4, seed=seed, dtype=dtype)
    trainer = fr.Trainer(model, loss="mse", optimizer=fr.optim.Adam(model.parameters(), lr=1e-2))
    trainer.fit(X, y, epochs=2, batch_size=16, verbose=0)
    return os.getpid(), {k: v.tobytes() for k, v in model.parameters().items()}


class JobError(ValueError):
    """An exception type of the caller's own."""


def _fail_at_3(job):
    i, folder = job
    if i == 3:
        raise JobError(f"bad job {i}")
    if folder is not None:  # the others start, say so, and wait (for a file that never comes)
        tmp = Path(folder) / f".started-{i}"  # written, then renamed: a worker stopped mid-write leaves no
        tmp.write_text(str(os.getpid()))       # empty started-* file behind
        tmp.rename(Path(folder) / f"started-{i}")
        if i > 3 and not H.wait_for_file(Path(folder) / "never", limit=20.0):
            (Path(folder) / f"finished-{i}").write_text("")
    return i


def _missing_file(i):
    if i == 1:
        open(f"/nonexistent-{os.getpid()}/x.csv")
    return i


class _Unpicklable(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a} and {b}")


def _raise_unpicklable(i):
    if i == 1:
        raise _Unpicklable("this", "that")
    return i


# --- results -------------------------------------------------------------------------------------

def test_results_come_in_job_order_not_completion_order(tmp_path):
    jobs = [(0, str(tmp_path)), (1, str(tmp_path))]
    assert map_jobs(H.finish_out_of_order, jobs, n_jobs=2) == [0, 10]


def test_results_are_bitwise_independent_of_n_jobs():
    jobs = [(seed, dtype) for dtype in ("float32", "float64") for seed in range(3)]
    one = map_jobs(_train, jobs, n_jobs=1)
    two = map_jobs(_train, jobs, n_jobs=2)
    assert {pid for pid, _ in one} == {os.getpid()}  # in this process, no pool
    assert os.getpid() not in {pid for pid, _ in two}  # in workers
    assert [w for _, w in one] == [w for _, w in two]
    assert one[0][1] != one[1][1]  # the seed matters: the comparison compares something


def test_workers_start_with_one_blas_and_one_numba_thread_and_ignore_ctrl_c():
    before = dict(os.environ)
    results = map_jobs(_where, range(3), n_jobs=2)
    assert [r[0] for r in results] == [0, 1, 2]
    assert len({r[1] for r in results} - {os.getpid()}) in (1, 2)
    for _, _, env, numba_threads, blas, ignores_ctrl_c in results:
        assert env == parallel.WORKER_ENV
        assert numba_threads == 1
        assert blas in (None, 1)  # None: no OpenBLAS found
        assert ignores_ctrl_c  # the parent stops the workers
    assert dict(os.environ) == before  # the parent's environment is as it was


def test_one_job_or_n_jobs_1_runs_in_this_process():
    assert map_jobs(_where, [7], n_jobs=2)[0][1] == os.getpid()
    assert {r[1] for r in map_jobs(_where, range(3), n_jobs=1)} == {os.getpid()}
    assert map_jobs(_where, [], n_jobs=2) == []


def test_default_n_jobs_is_the_parallelism_setting():
    previous = threads.set_parallelism(1)
    try:
        assert {r[1] for r in map_jobs(_where, range(3))} == {os.getpid()}
    finally:
        threads.set_parallelism(previous)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_progress_callback_counts_finished_jobs(n_jobs):
    seen = []
    assert map_jobs(abs, [-1, -2, -3], n_jobs=n_jobs, progress=lambda d, t: seen.append((d, t))) == [1, 2, 3]
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_progress_bar(capsys):
    assert map_jobs(abs, [-1, -2], n_jobs=1, progress=True) == [1, 2]
    assert "2/2" in capsys.readouterr().err


# --- errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_failing_job_raises_its_type_with_its_index(n_jobs):
    jobs = [(i, None) for i in range(8)]
    with pytest.raises(JobError, match=r"^job 3 of 8: bad job 3$") as info:
        map_jobs(_fail_at_3, jobs, n_jobs=n_jobs)
    assert type(info.value) is JobError
    assert str(info.value.__cause__) == "bad job 3"  # the original, with the worker's traceback


def test_a_failing_job_cancels_the_rest_and_leaves_no_worker(tmp_path):
    jobs = [(i, str(tmp_path)) for i in range(8)]
    with pytest.raises(JobError, match=r"^job 3 of 8: "):
        map_jobs(_fail_at_3, jobs, n_jobs=2)
    started = sorted(tmp_path.glob("started-*"))
    assert len(started) < 7  # not every other job ran
    assert not list(tmp_path.glob("finished-*"))  # the running ones were stopped, not waited for
    for f in started:
        assert not _alive(int(f.read_text()))


def test_an_os_error_keeps_its_type_and_errno():
    with pytest.raises(FileNotFoundError) as info:
        map_jobs(_missing_file, range(2), n_jobs=2)
    assert info.value.errno == 2 and "job 1 of 2: No such file or directory" in str(info.value)


def test_an_exception_that_does_not_pickle_still_comes_back():
    with pytest.raises(RuntimeError, match=r"^job 1 of 2: _Unpicklable: this and that$"):
        map_jobs(_raise_unpicklable, range(2), n_jobs=2)


def _die_at_1(i):
    if i == 1:
        os._exit(3)  # as if killed (out of memory, a crash in native code)
    return i


def test_a_worker_that_dies_ends_the_run_with_one_error():
    from concurrent.futures.process import BrokenProcessPool

    with pytest.raises(BrokenProcessPool, match=r"^job \d of 3: A process in the process pool was "
                                                r"terminated abruptly"):
        map_jobs(_die_at_1, range(3), n_jobs=2)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


_DRIVER = """
import os, sys, time
from pathlib import Path
from fastrnn.parallel import map_jobs

def sleeper(i):
    Path(f"started-{i}").write_text(str(os.getpid()))
    if i == 1 and sys.argv[1] == "idle":  # this worker then waits for a job that never comes
        Path("finished-1").write_text("")
        return i
    time.sleep(120)
    Path(f"finished-{i}").write_text("")
    return i

if __name__ == "__main__":
    map_jobs(sleeper, range(4 if sys.argv[1] == "busy" else 2), n_jobs=2)
"""


def _default_signals():
    """The signal dispositions of a command typed at a terminal (a runner started in the
    background passes SIGINT on as ignored; see tests/test_runs.py)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux: /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@POSIX
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("mode, to_group", [("busy", False), ("busy", True), ("idle", True)],
                         ids=["busy-workers-kill-parent", "busy-workers-ctrl-c", "idle-worker-ctrl-c"])
def test_ctrl_c_stops_the_workers_and_raises_keyboard_interrupt(tmp_path, mode, to_group):
    """Ctrl-C at a terminal reaches the whole process group (workers busy with a job or waiting
    for one); ``kill -INT`` only the parent."""
    (tmp_path / "driver.py").write_text(_DRIVER)
    proc = subprocess.Popen([sys.executable, "driver.py", mode], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_default_signals)
    ready = ["started-0", "started-1"] + (["finished-1"] if mode == "idle" else [])
    t_end = time.monotonic() + 120  # a guard against a hang, no timing assertion
    while not all((tmp_path / f).exists() for f in ready):
        if proc.poll() is not None or time.monotonic() > t_end:
            proc.kill()
            pytest.fail(f"the two workers did not start: {proc.communicate()}")
        time.sleep(0.02)
    children = _children(proc.pid)  # the workers (and multiprocessing's resource tracker)
    assert len(children) >= 2
    if to_group:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert err.rstrip().splitlines()[-1] == "KeyboardInterrupt", err
    assert err.count("Traceback") == 1, err  # the parent's; no worker printed one
    assert sorted(f.name for f in tmp_path.glob("started-*")) == ["started-0", "started-1"]
    assert [f.name for f in tmp_path.glob("finished-*")] == (["finished-1"] if mode == "idle" else [])
    t_end = time.monotonic() + 60
    while any(_alive(pid) for pid in children) and time.monotonic() < t_end:
        time.sleep(0.05)  # the resource tracker ends once it sees the parent gone
    assert not [pid for pid in children if _alive(pid)], "processes left behind"


_CLI_DRIVER = """
import os, sys, time
from pathlib import Path
import fastrnn.cli.forecast as cli
from fastrnn.parallel import map_jobs

def sleeper(i):
    Path(f"started-{i}").write_text(str(os.getpid()))
    time.sleep(120)
    Path(f"finished-{i}").write_text("")
    return i

if __name__ == "__main__":
    cli._RETRY_S = 0.002  # the interruption is raised again and again during the clean-up
    with cli.interrupt_signals() as signals:
        try:
            map_jobs(sleeper, range(4), n_jobs=2)
        except KeyboardInterrupt as exc:
            signals.caught()
            print(type(exc).__name__, getattr(exc, "signum", None))
"""


@POSIX
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_sigterm_under_the_cli_handler_stops_the_workers(tmp_path):
    """``fastrnn train``'s handler turns SIGTERM into a KeyboardInterrupt and raises it again until
    the command's clean-up has it: the workers are stopped all the same."""
    (tmp_path / "driver.py").write_text(_CLI_DRIVER)
    proc = subprocess.Popen([sys.executable, "driver.py"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_signals)
    t_end = time.monotonic() + 120  # a guard against a hang, no timing assertion
    while len(list(tmp_path.glob("started-*"))) < 2:
        if proc.poll() is not None or time.monotonic() > t_end:
            proc.kill()
            pytest.fail(f"the two workers did not start: {proc.communicate()}")
        time.sleep(0.02)
    children = _children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and out.split() == ["_Interrupted", str(int(signal.SIGTERM))], err
    assert "Traceback" not in err
    assert not list(tmp_path.glob("finished-*"))
    t_end = time.monotonic() + 60
    while any(_alive(pid) for pid in children) and time.monotonic() < t_end:
        time.sleep(0.05)
    assert not [pid for pid in children if _alive(pid)], "processes left behind"


# --- bad arguments -------------------------------------------------------------------------------

@pytest.mark.parametrize("n_jobs", [0, -1, True, 2.0, "2"])
def test_n_jobs_must_be_a_positive_integer(n_jobs):
    with pytest.raises(ValueError, match=r"^n_jobs must be a positive integer .*; got "):
        map_jobs(abs, [1, 2], n_jobs=n_jobs)


def test_n_jobs_accepts_numpy_integers():
    assert map_jobs(abs, [-1, -2], n_jobs=np.int64(1)) == [1, 2]


def test_unknown_backend_and_stray_client():
    with pytest.raises(ValueError, match=r"^unknown backend 'spark'; choose one of: local, dask$"):
        map_jobs(abs, [1], backend="spark")
    with pytest.raises(ValueError, match=r"^client goes with backend='dask'"):
        map_jobs(abs, [1], client=object())


def test_dask_backend_without_dask_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask", None)  # import dask -> ImportError
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'fastrnn\[dask\]'"):
        map_jobs(abs, [1], backend="dask")


def test_dask_backend_needs_a_client_or_a_cluster_block(monkeypatch):
    import types

    dask = types.ModuleType("dask")  # a stand-in: dask need not be installed for this check
    dask.distributed = types.ModuleType("dask.distributed")
    monkeypatch.setitem(sys.modules, "dask", dask)
    monkeypatch.setitem(sys.modules, "dask.distributed", dask.distributed)
    with pytest.raises(ValueError, match=r"^backend='dask' needs a client: pass client=dask.distributed.Client"
                                         r"\(...\), or call map_jobs inside a fastrnn.parallel.cluster\(...\) block$"):
        map_jobs(abs, [1], backend="dask")


def test_cluster_needs_one_of_scheduler_and_workers():
    for kw in ({}, {"scheduler": "tcp://127.0.0.1:8786", "workers": 2}):
        with pytest.raises(ValueError, match=r"^give either scheduler"):
            with parallel.cluster(**kw):
                pass
    with pytest.raises(ValueError, match=r"^n_jobs must be a positive integer"):
        with parallel.cluster(workers=0):
            pass


def test_group_jobs_cuts_consecutive_groups_of_at_least_min_cost():
    from fastrnn.parallel import group_jobs

    assert group_jobs([0.4, 0.4, 0.4, 1.5, 0.2], 1.0) == [range(0, 3), range(3, 5)]
    assert group_jobs([2.0, 2.0, 0.1], 1.0) == [range(0, 1), range(1, 3)]  # a short last group joins
    assert group_jobs([0.1, 0.1], 1.0) == [range(0, 2)]
    assert group_jobs([5.0] * 3, float("inf")) == [range(0, 3)]
    assert group_jobs([], 1.0) == []
    costs = list(np.random.default_rng(0).uniform(0, 1, 50))
    groups = group_jobs(costs, 2.0)
    assert [i for g in groups for i in g] == list(range(50))  # every job once, in order
    assert all(sum(costs[i] for i in g) >= 2.0 for g in groups)
    for bad in (0, -1.0, float("nan"), True, "1"):
        with pytest.raises(ValueError, match="^min_cost must be a positive number"):
            group_jobs([1.0], bad)
    with pytest.raises(ValueError, match=r"^costs must be finite and >= 0; job 1 has -1.0$"):
        group_jobs([1.0, -1.0], 1.0)


def test_fn_must_be_importable_by_the_workers():
    with pytest.raises(ValueError, match=r"^fn must be a function defined at the top level"):
        map_jobs(lambda x: x, [1, 2], n_jobs=2)
    assert map_jobs(lambda x: -x, [1, 2], n_jobs=1) == [-1, -2]  # fine in this process
    with pytest.raises(ValueError, match=r"^fn must be a function of one job; got 3"):
        map_jobs(3, [1, 2])
    with pytest.raises(ValueError, match=r"^progress must be True, False, None or a callable"):
        map_jobs(abs, [1, 2], progress="yes")


def test_fn_typed_in_python_c_is_refused_with_the_fix():
    code = ("from fastrnn.parallel import map_jobs\n"
            "def f(x):\n    return x\n"
            "try:\n    map_jobs(f, [1, 2], n_jobs=2)\n"
            "except ValueError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "defined in an interactive session or with python -c" in out.stdout, out.stderr


def test_importing_it_loads_neither_numpy_nor_numba_nor_dask():
    code = ("import sys, fastrnn.parallel\n"
            "print([m for m in ('numpy', 'numba', 'dask') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr


def test_set_parallelism():
    previous = threads.set_parallelism(3)
    try:
        assert threads.parallelism() == 3
        assert threads.set_parallelism(None) == 3
        assert threads.parallelism() == threads.usable_cpus()
        for bad in (0, -2, True, 1.5):
            with pytest.raises(ValueError, match="positive integer"):
                threads.set_parallelism(bad)
    finally:
        threads.set_parallelism(previous)


class _NumbaThreads(Callback):
    """A whole-stack callback that records Numba's thread count during training."""

    per_model = False

    def on_epoch_end(self, loop):
        import numba

        self.seen = numba.get_num_threads()


@pytest.mark.parametrize("fixed", [None, "1"], ids=["policy", "FASTRNN_THREADS=1"])
def test_a_stack_uses_the_parallelism_setting_for_its_threads(monkeypatch, fixed):
    """--jobs N (set_parallelism) gives a stack's run N threads (at most one per model), instead
    of the free CPUs or FASTRNN_THREADS; the weights are the same."""
    import numba

    import fastrnn as fr

    if fixed is None:
        monkeypatch.delenv(threads.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(threads.ENV_VAR, fixed)
    r = np.random.default_rng(0)
    X, y = r.standard_normal((16, 5, 1)), r.standard_normal((16, 1))
    weights, seen = [], []
    previous = threads.set_parallelism(None)
    try:
        for n in (1, 2):
            threads.set_parallelism(n)
            st = fr.stack([fr.LSTM(1, 3, seed=s) for s in range(3)])
            spy = _NumbaThreads()
            fr.Trainer(st).fit(X, y, epochs=2, verbose=0, callbacks=[spy])
            weights.append(st.parameters())
            seen.append(spy.seen)
    finally:
        threads.set_parallelism(previous)
    assert seen == [1, min(2, numba.config.NUMBA_NUM_THREADS)]
    assert weights[0].keys() == weights[1].keys()
    for k in weights[0]:
        assert np.array_equal(weights[0][k], weights[1][k]), k


def test_public_api_is_documented_and_typed():
    from test_docs import api_problems

    problems = api_problems(["fastrnn.parallel"])
    assert not problems, "\n".join(problems)


# --- fastrnn train --jobs ------------------------------------------------------------------------

TINY = ["--hidden", "4", "--no-plot", "--ensemble", "2", "--epochs", "2"]


def test_train_jobs_0_is_a_one_line_usage_error():
    from fastrnn.cli import main

    result = CliRunner().invoke(main, ["train", "--jobs", "0", *TINY])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert errors == ["Error: Invalid value for '--jobs': 0 is not in the range x>=1."]


def test_train_jobs_does_not_change_the_run(tmp_path, monkeypatch):
    from fastrnn import forecast as fc
    from fastrnn.cli import main

    seen = []
    real_train = fc.train

    def recording_train(*args, **kwargs):
        seen.append(threads.parallelism())
        return real_train(*args, **kwargs)

    monkeypatch.setattr(fc, "train", recording_train)
    before = threads.parallelism()
    metrics = []
    for n in (1, 2):
        out = tmp_path / f"jobs{n}"
        result = CliRunner().invoke(main, ["train", *TINY, "--jobs", str(n), "--out", str(out)])
        assert result.exit_code == 0, result.output
        m = json.loads((out / "metrics.json").read_text())
        for k in TIMINGS:
            m.pop(k)
        metrics.append(m)
        with np.load(out / "model.npz") as z:
            metrics[-1]["weights"] = {k: z[k].tobytes().hex() for k in z.files}
    assert seen == [1, 2]  # the option reached the setting, for the command's duration
    assert threads.parallelism() == before
    assert metrics[0] == metrics[1]
    assert "jobs" not in json.dumps(metrics[0])


def test_train_resume_accepts_jobs(tmp_path):
    from fastrnn.cli import main

    result = CliRunner().invoke(main, ["train", "--resume", str(tmp_path / "missing"), "--jobs", "2"])
    assert result.exit_code == 1 and "does not exist" in result.output, result.output


def test_a_script_without_a_main_guard_gets_the_fix_not_a_silent_rerun(tmp_path):
    """A spawned worker imports its parent's script: without an ``if __name__ == "__main__":``
    guard its top-level map_jobs would run again in every worker (in a worker of one thread: all
    of the parent's work, silently). The worker refuses, and the parent says what to do."""
    (tmp_path / "unguarded.py").write_text("from fastrnn.parallel import map_jobs\n"
                                           "print(map_jobs(abs, [-1, -2, -3], n_jobs=2))\n")
    r = subprocess.run([sys.executable, "unguarded.py"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode != 0 and r.stdout == ""
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("concurrent.futures.process.BrokenProcessPool: job ") and "failed while it started" in last
    assert 'if __name__ == "__main__":' in last
    guarded = ("from fastrnn.parallel import map_jobs\nif __name__ == '__main__':\n"
               "    print(map_jobs(abs, [-1, -2, -3], n_jobs=2))\n")
    (tmp_path / "guarded.py").write_text(guarded)
    r = subprocess.run([sys.executable, "guarded.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and r.stdout.strip() == "[1, 2, 3]", r.stderr


def test_map_jobs_in_a_worker_still_importing_its_parents_script_refuses(monkeypatch):
    """While a spawned worker imports its parent's unguarded script, map_jobs would run the
    parent's jobs again in the worker (one process there: silently, all of them); it refuses."""
    import multiprocessing

    monkeypatch.setattr(multiprocessing.current_process(), "_inheriting", True, raising=False)
    with pytest.raises(RuntimeError, match=r'put that code under `if __name__ == "__main__":`'):
        map_jobs(abs, [-1], n_jobs=1)
    with pytest.raises(RuntimeError, match=r"runs again in every worker process"):
        with parallel.cluster(workers=2):
            pass
