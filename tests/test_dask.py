"""The Dask backend of :func:`fastrnn.parallel.map_jobs` on a real ``dask.distributed`` cluster
(issue 14): a scheduler and two worker processes on 127.0.0.1, started by the tests.

Results in job order and bitwise those of the local backend (a panel's local models, whole
``fastrnn train`` runs); the workers' threads and environment; the first failing job raised as
locally; data shared by jobs scattered once; a worker killed mid-run survived; a missing Dask and
an unreachable scheduler each one clear line. No assertion depends on timing.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed "
                                  "(pip install 'fastrnn[dask]'; the test extra has it)")

from fastrnn import _dask, parallel  # noqa: E402
from fastrnn.forecast import panel_model as pm  # noqa: E402
from fastrnn.parallel import map_jobs  # noqa: E402

try:
    import _helpers as H
except ImportError:  # tests/ imported as a package
    from tests import _helpers as H

TIMINGS = ("seconds", "created", "train_seconds", "seconds_per_epoch")


@pytest.fixture(scope="module")
def client():
    """A client of a local cluster of two worker processes, NOT the default backend of the tests
    (as ``with parallel.cluster(...)`` in a fixture would make it for the whole module)."""
    session = _dask.start(None, 2)
    try:
        yield session.client
    finally:
        _dask.stop(session)


def test_the_tests_run_on_the_local_backend_unless_they_say_otherwise(client):
    assert parallel.current_backend() == "local"


# --- jobs (top level: the workers import them) ---------------------------------------------------

def _where(job):
    """The job, its process, the environment it started with, Numba's and the stack's threads,
    BLAS's threads, whether Ctrl-C is ignored."""
    import numba

    from fastrnn import threads
    from fastrnn.kernels import _threads

    start = dict(kv.split("=", 1) for kv in Path("/proc/self/environ").read_text().split("\0") if "=" in kv)
    return (job, os.getpid(), {k: start.get(k) for k in parallel.WORKER_ENV}, numba.config.NUMBA_NUM_THREADS,
            threads.stack_threads(8), _threads.numba_blas_threads(),
            signal.getsignal(signal.SIGINT) == signal.SIG_IGN, threads.parallelism())


class JobError(ValueError):
    """An exception type of the caller's own."""


def _fail_at_2(i):
    if i == 2:
        raise JobError(f"bad job {i}")
    return i


def _sum(job):
    data, i = job
    return float(np.asarray(data).sum()) + i


def _slow_train(job):
    """A tiny LSTM trained from its own seed after a pause (a job of a second or two): the weights'
    bytes. Writes ``started-<i>-<pid>`` first."""
    import fastrnn as fr

    seed, folder = job
    if folder is not None:
        tmp = Path(folder) / f".started-{seed}-{os.getpid()}"  # written, then renamed: never read half-written
        tmp.write_text(str(os.getpid()))
        tmp.rename(Path(folder) / f"started-{seed}-{os.getpid()}")
        time.sleep(1.5)
    series = np.sin(np.arange(80, dtype="float32") / 4)
    X, y = np.lib.stride_tricks.sliding_window_view(series[:-1], 6), series[6:]
    model = fr.LSTM(input_size=1, hidden_size=4, seed=seed)
    fr.Trainer(model, optimizer="adam").fit(X, y, epochs=2, batch_size=16, verbose=0)
    return {k: v.tobytes() for k, v in model.parameters().items()}


# --- map_jobs on Dask ----------------------------------------------------------------------------

def test_results_come_in_job_order_not_completion_order(client, tmp_path):
    jobs = [(0, str(tmp_path)), (1, str(tmp_path))]
    assert map_jobs(H.finish_out_of_order, jobs, backend="dask", client=client) == [0, 10]


def test_workers_run_one_thread_each_and_ignore_ctrl_c(client):
    with parallel.use_backend("dask", client):
        results = map_jobs(_where, range(4))  # the block's backend
    assert [r[0] for r in results] == [0, 1, 2, 3]
    assert os.getpid() not in {r[1] for r in results}
    for _, _, env, numba_threads, stack_threads, blas, ignores, cpus in results:
        assert env == parallel.WORKER_ENV  # in the environment the process started with
        assert numba_threads == 1 and stack_threads == 1 and cpus == 1
        assert blas in (None, 1)
        assert ignores
    assert len(client.scheduler_info()["workers"]) == 2
    assert all(w["nthreads"] == 1 for w in client.scheduler_info()["workers"].values())


def test_a_failing_job_raises_its_type_with_its_index(client):
    with pytest.raises(JobError, match=r"^job 2 of 5: bad job 2$") as info:
        map_jobs(_fail_at_2, range(5), backend="dask", client=client)
    assert type(info.value) is JobError and str(info.value.__cause__) == "bad job 2"
    assert map_jobs(abs, [-1, 2], backend="dask", client=client) == [1, 2]  # the cluster is still fine


def test_data_shared_by_jobs_is_scattered_once(client, monkeypatch):
    big = np.arange(100_000, dtype=np.float64)
    sent = []
    real = client.scatter

    def recording(data, **kw):
        sent.append(len(data))
        return real(data, **kw)

    monkeypatch.setattr(client, "scatter", recording)
    out = map_jobs(_sum, [(big, i) for i in range(6)] + [(big + 1, 0)], backend="dask", client=client)
    assert out == [big.sum() + i for i in range(6)] + [big.sum() + big.size]
    assert sent == [2]  # two distinct arrays, each once; the ints go with the tasks


def test_progress_follows_task_completion(client):
    seen = []
    map_jobs(abs, [-1, -2, -3], backend="dask", client=client, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_dask_backend_needs_a_client():
    with pytest.raises(ValueError, match=r"^backend='dask' needs a client"):
        map_jobs(abs, [1], backend="dask")


def test_the_parent_environment_is_left_as_it_was():
    keys = set(parallel.WORKER_ENV) | set(_dask._pre_spawn())
    before = {k: os.environ.get(k) for k in keys}
    with parallel.cluster(workers=1) as c:
        assert {k: os.environ.get(k) for k in keys} == before  # also while the cluster runs
        assert map_jobs(abs, [-4], backend="dask", client=c) == [4]
    assert {k: os.environ.get(k) for k in keys} == before


# --- a panel's local models: bitwise the same on Dask ---------------------------------------------

def _histories(n_series=6, seed=0):
    r = np.random.default_rng(seed)
    out = []
    for k in range(n_series):
        t = np.arange(36 - 2 * k)
        out.append(10 + k + (1 + k) * np.sin(2 * np.pi * t / 4) + 0.05 * t + r.normal(0, 0.1, t.size))
    return out


def _fitted(monkeypatch, group_flops, histories, cfg, horizon, groups=None):
    monkeypatch.setattr(pm, "LOCAL_GROUP_FLOPS", group_flops)
    if groups is None:
        f = pm.fit(histories, horizon, cfg)
    else:  # the groups' jobs on the local backend: spawned processes
        scalers = pm._scalers(histories)
        model, _ = pm._fit_local(cfg, horizon, [(h - m) / s for h, (m, s) in zip(histories, scalers)], None, None,
                                 groups)
        f = pm.PanelForecaster(cfg, horizon, model, scalers, histories)
    return f.forecast(), {k: v.copy() for k, v in f.model.parameters().items()}, f.model.seeds


def test_local_panel_models_in_groups_and_on_dask_are_bitwise_one_stack(client, monkeypatch):
    hist = _histories()
    cfg = pm.PanelConfig(hidden=4, epochs=4, patience=2, batch_size=8, look_back=4, strategy="local",
                         ensemble=2, seed=3)
    assert len(pm._local_groups(cfg, 3, hist)) == 1  # a tiny panel is one job of ~a second
    monkeypatch.setattr(pm, "LOCAL_GROUP_FLOPS", 1.0)
    assert [len(g) for g in pm._local_groups(cfg, 3, hist)] == [1] * 6  # each series a job
    one = _fitted(monkeypatch, 1.0, hist, cfg, 3)  # one stack in this process (local backend: no groups)
    jobs = _fitted(monkeypatch, 1.0, hist, cfg, 3, groups=[range(0, 2), range(2, 3), range(3, 6)])  # processes
    with parallel.use_backend("dask", client):
        dask = _fitted(monkeypatch, 1.0, hist, cfg, 3)  # 6 tasks on the cluster
        dask_one = _fitted(monkeypatch, float("inf"), hist, cfg, 3)  # 1 task
    assert one[2] == list(range(3, 3 + 12))
    for other in (jobs, dask, dask_one):
        assert np.array_equal(one[0], other[0])
        assert one[1].keys() == other[1].keys()
        for k in one[1]:
            assert np.array_equal(one[1][k], other[1][k]), k
        assert one[2] == other[2]
    assert not np.array_equal(one[1]["weight_hh_l0"][0], one[1]["weight_hh_l0"][1])  # models differ


def test_local_panel_models_go_to_dask_in_groups(client, monkeypatch):
    """On Dask, one task per group of series; on this machine, no task at all (one stack here)."""
    seen = []
    real = parallel.map_jobs

    def recording(fn, jobs, *a, **kw):
        jobs = list(jobs)
        seen.append((parallel.current_backend(), len(jobs)))
        return real(fn, jobs, *a, **kw)

    monkeypatch.setattr(parallel, "map_jobs", recording)
    monkeypatch.setattr(pm, "LOCAL_GROUP_FLOPS", 1.0)
    cfg = pm.PanelConfig(hidden=4, epochs=2, look_back=4, strategy="local")
    pm.fit(_histories(), 3, cfg)
    assert seen == []
    with parallel.use_backend("dask", client):
        pm.fit(_histories(), 3, cfg)
    assert seen == [("dask", 6)]


def _panel_csv(path: Path) -> Path:
    rows = []
    for k, h in enumerate(_histories(5)):
        rows += [(f"s{k}", d, v) for d, v in zip(pd.date_range("2000-01-01", periods=len(h), freq="QS"), h)]
    pd.DataFrame(rows, columns=["id", "date", "value"]).to_csv(path, index=False)
    return path


def _strip(d):
    if isinstance(d, dict):
        return {k: _strip(v) for k, v in d.items() if not any(t in k for t in TIMINGS)}
    if isinstance(d, list):
        return [_strip(v) for v in d]
    return d


def test_cli_panel_run_on_dask_writes_the_same_files(tmp_path):
    from fastrnn.cli import main

    csv = _panel_csv(tmp_path / "panel.csv")
    args = ["train", "--csv", str(csv), "--id-column", "id", "--horizon", "3", "--windows", "2", "--strategy",
            "local", "--epochs", "3", "--hidden", "4", "--look-back", "4", "--no-plot"]
    runs = {}
    for name, extra in (("here", []), ("dask", ["--dask-workers", "2"])):
        out = tmp_path / name
        r = CliRunner().invoke(main, [*args, *extra, "--out", str(out)])
        assert r.exit_code == 0, r.output
        with np.load(out / "model.npz") as z:
            weights = {k: z[k].tobytes() for k in z.files}
        runs[name] = (_strip(json.loads((out / "metrics.json").read_text())), weights,
                      (out / "forecasts.csv").read_text(), (out / "per_series.csv").read_text())
    assert runs["here"][0] == runs["dask"][0]
    assert runs["here"][0]["selection"]  # the validation fits (two candidates) ran as jobs too
    assert runs["here"][1] == runs["dask"][1]
    assert runs["here"][2:] == runs["dask"][2:]


@pytest.mark.parametrize("data", [["--dataset", "airline", "--ensemble", "1"],
                                  ["--id-column", "id", "--horizon", "3", "--windows", "2", "--look-back", "4"]],
                         ids=["series", "panel"])
def test_cli_sweep_on_dask_gives_the_same_table_and_best_run(tmp_path, data):
    """A sweep's candidates are jobs: on a local Dask cluster the table (but its times), the choice
    and the best run's weights are those of the run on this machine."""
    from fastrnn.cli import main

    if "--id-column" in data:
        data = ["--csv", str(_panel_csv(tmp_path / "panel.csv")), *data]
    args = ["sweep", *data, "--grid", "hidden=3,4", "--epochs", "3", "--no-plot"]
    runs = {}
    for name, extra in (("here", ["--jobs", "1"]), ("dask", ["--dask-workers", "2"])):
        out = tmp_path / name
        r = CliRunner().invoke(main, [*args, *extra, "--out", str(out)])
        assert r.exit_code == 0, r.output
        table = pd.read_csv(out / "sweep.csv").drop(columns=["seconds"])
        with np.load(out / "best" / "model.npz") as z:
            runs[name] = (table, {k: z[k].tobytes() for k in z.files})
    pd.testing.assert_frame_equal(runs["here"][0], runs["dask"][0])
    assert len(runs["here"][0]) == 2 and runs["here"][1] == runs["dask"][1]


# --- a worker killed mid-run -----------------------------------------------------------------------

def test_a_killed_worker_is_survived_with_the_same_results(tmp_path):
    jobs = [(seed, str(tmp_path)) for seed in range(6)]
    with parallel.cluster(workers=2) as c:
        pids = set(c.run(os.getpid).values())
        assert len(pids) == 2 and os.getpid() not in pids
        killed = []

        def kill_the_first_to_start():
            t_end = time.monotonic() + 120  # a guard, no timing assertion
            while time.monotonic() < t_end:
                started = sorted(tmp_path.glob("started-*"))
                if started:
                    pid = int(started[0].read_text())
                    os.kill(pid, signal.SIGKILL)
                    killed.append((started[0].name, pid))
                    return
                time.sleep(0.01)

        killer = threading.Thread(target=kill_the_first_to_start)
        killer.start()
        results = map_jobs(_slow_train, jobs, backend="dask", client=c)
        killer.join()
        assert killed, "no job started"
        name, pid = killed[0]
        seed = int(name.split("-")[1])
        restarted = [p.name for p in tmp_path.glob(f"started-{seed}-*") if p.name != name]
        assert restarted, "the killed worker's job did not run again"
        assert pid not in set(c.run(os.getpid).values())  # the nanny started a new process
        for _, _, env, numba_threads, stack_threads, _, ignores, _ in c.run(_where, "after").values():
            assert env == parallel.WORKER_ENV and numba_threads == 1 and stack_threads == 1 and ignores
    assert results == map_jobs(_slow_train, [(seed, None) for seed in range(6)], n_jobs=1)


# --- no Dask, no scheduler -----------------------------------------------------------------------

def _hide_dask(monkeypatch):
    for name in ("dask", "dask.distributed", "distributed"):
        monkeypatch.setitem(sys.modules, name, None)  # import -> ImportError


def test_cluster_without_dask_says_what_to_install(monkeypatch):
    _hide_dask(monkeypatch)
    with pytest.raises(ImportError, match=r"pip install 'fastrnn\[dask\]'"):
        with parallel.cluster(workers=2):
            pass


@pytest.mark.parametrize("option, value", [("--dask-workers", "2"), ("--scheduler", "tcp://127.0.0.1:8786")])
def test_cli_without_dask_is_one_line(monkeypatch, tmp_path, option, value):
    from fastrnn.cli import main

    _hide_dask(monkeypatch)
    r = CliRunner().invoke(main, ["train", "--hidden", "4", "--epochs", "1", "--no-plot", option, value,
                                  "--out", str(tmp_path / "run")])
    assert r.exit_code == 1, r.output
    assert r.output.strip().splitlines() == [
        f"Error: {option} needs dask.distributed, which is not installed; pip install 'fastrnn[dask]', "
        f"or drop {option}"]
    assert not (tmp_path / "run").exists()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_is_one_line(monkeypatch, tmp_path):
    from fastrnn.cli import main

    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(ConnectionError, match=rf"^cannot reach the Dask scheduler at {address} \(.*\); start one "
                                              r"with: dask scheduler$"):
        with parallel.cluster(scheduler=address, timeout=1):
            pass
    monkeypatch.setattr(_dask, "CONNECT_TIMEOUT_S", 1.0)
    r = CliRunner().invoke(main, ["train", "--hidden", "4", "--epochs", "1", "--no-plot", "--scheduler", address,
                                  "--out", str(tmp_path / "run")])
    assert r.exit_code == 1, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: cannot reach the Dask scheduler at {address} ("), lines
    assert lines[0].endswith("; start one with: dask scheduler")
    assert not (tmp_path / "run").exists()


def test_a_running_scheduler_is_used_and_its_workers_set_up(tmp_path):
    """``cluster(scheduler=...)``: the plugin reaches workers the user started (here without
    fastrnn's environment: only Dask's default thread variables)."""
    local = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                     dashboard_address=None, scheduler_port=0)
    try:
        with parallel.cluster(scheduler=local.scheduler_address) as c:
            (_, pid, _, _, stack_threads, _, ignores, cpus), = map_jobs(_where, [0])
            assert pid != os.getpid() and stack_threads == 1
            # the user's workers keep their Ctrl-C (dask worker --no-nanny stops on it): the plugin does
            # not ignore it; they ignore it only if they inherited that (a run started in the background)
            assert ignores == (signal.getsignal(signal.SIGINT) is signal.SIG_IGN)
            assert cpus == 1  # a job's own map_jobs stays in the worker, also if Numba saw more CPUs
            assert c.scheduler.address == local.scheduler_address
    finally:
        local.close()


# --- Ctrl-C ----------------------------------------------------------------------------------------

_DRIVER = """
import os, sys, time
from pathlib import Path
from fastrnn.parallel import cluster, map_jobs

def sleeper(i):
    tmp = Path(f".started-{i}")
    tmp.write_text(str(os.getpid()))
    tmp.rename(f"started-{i}")
    time.sleep(120)
    Path(f"finished-{i}").write_text("")
    return i

if __name__ == "__main__":
    with cluster(workers=2):
        map_jobs(sleeper, range(4))
"""


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_ctrl_c_cancels_the_tasks_and_stops_the_local_cluster(tmp_path):
    """Ctrl-C at a terminal reaches the whole process group: the workers ignore it, the parent
    raises KeyboardInterrupt, cancels the tasks and closes the cluster; no process is left."""
    import subprocess

    def default_signals():
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)

    (tmp_path / "driver.py").write_text(_DRIVER)
    proc = subprocess.Popen([sys.executable, "driver.py"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=default_signals)
    t_end = time.monotonic() + 180  # a guard against a hang, no timing assertion
    while len(list(tmp_path.glob("started-*"))) < 2:
        if proc.poll() is not None or time.monotonic() > t_end:
            proc.kill()
            pytest.fail(f"the two workers did not start: {proc.communicate()}")
        time.sleep(0.02)
    workers = {int(f.read_text()) for f in tmp_path.glob("started-*")}
    children = _children(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert err.rstrip().splitlines()[-1] == "KeyboardInterrupt", err
    assert err.count("Traceback") == 1, err  # the parent's; no worker printed one
    assert not list(tmp_path.glob("finished-*"))
    t_end = time.monotonic() + 60
    while any(_alive(pid) for pid in [*children, *workers]) and time.monotonic() < t_end:
        time.sleep(0.05)
    assert not [pid for pid in [*children, *workers] if _alive(pid)], "processes left behind"
