"""The thread policy (fastrnn.threads): one BLAS thread for small runs, the usable CPUs for large
ones, set once per run and restored, user settings first, same results either way."""

import os

import numpy as np
import pytest

import fastrnn as fr
from fastrnn import threads
from fastrnn.kernels import _threads

ENV = threads.BLAS_ENV_VARS + (threads.ENV_VAR, "NUMBA_NUM_THREADS")


_real_others_running = threads._others_running


@pytest.fixture(autouse=True)
def clean_policy(monkeypatch):
    """No user setting in the environment, no other process running (so that the counts do not
    depend on what else runs on the test machine); BLAS threads and the explicit setting restored
    after."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "_others_running", lambda: 0)
    saved = _threads.blas_threads()
    explicit = threads._explicit
    yield
    threads._explicit = explicit
    _threads.restore_blas_threads(saved)


def _two_threads():
    """Put BLAS at 2 threads (as a multi-threaded default would be), or skip where it cannot be."""
    if threads.usable_cpus() < 2:
        pytest.skip("one CPU usable by this process: the policy's count above the threshold is 1")
    _threads.set_blas_threads(2)
    if _threads.numba_blas_threads() != 2:
        pytest.skip("this OpenBLAS does not take 2 threads")


class Record(fr.trainer.Callback):
    """The BLAS thread count the kernels' OpenBLAS had after every epoch."""

    def __init__(self):
        self.seen = []

    def on_epoch_end(self, loop):
        self.seen.append(_threads.numba_blas_threads())


def _data(B, T, I, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((B, T, I)), rng.standard_normal(B)


def _small():
    return fr.LSTM(input_size=1, hidden_size=4, seed=0), _data(8, 5, 1)


def _large_for_policy(monkeypatch):
    """A model whose run is above the threshold: the threshold lowered below its largest GEMM."""
    m = fr.GRU(input_size=2, hidden_size=8, seed=0)
    X, y = _data(16, 6, 2)
    flops = threads.largest_gemm_flops(m, 16, 6)
    monkeypatch.setitem(threads.THRESHOLD_FLOPS, "float32", flops)  # at the threshold: above
    return m, (X, y)


def test_largest_gemm_flops_counts_the_weight_gradient_over_all_rows():
    m = fr.LSTM(input_size=3, hidden_size=10, num_layers=2, seed=0)
    B, T, G, H = 7, 5, 4, 10
    # training: dW_hh (and layer 1's dW_ih, K = H) over T*B rows: 2 * T*B * G*H * H
    assert threads.largest_gemm_flops(m, B, T) == 2 * T * B * G * H * H
    # inference: the input product of layer 1 over T*B rows (K = H) is the largest
    assert threads.largest_gemm_flops(m, B, T, training=False) == 2 * T * B * G * H * H
    m1 = fr.LSTM(input_size=1, hidden_size=10, seed=0)
    # one layer, I = 1, inference: the per-step recurrent product (B rows) beats the input one
    assert threads.largest_gemm_flops(m1, B, T, training=False) == max(2 * B * G * H * H, 2 * T * B * G * H)


def test_small_fit_runs_blas_on_one_thread():
    _two_threads()
    m, (X, y) = _small()
    rec = Record()
    fr.Trainer(m).fit(X, y, epochs=2, batch_size=4, verbose=0, callbacks=[rec])
    assert rec.seen == [1, 1]
    assert _threads.numba_blas_threads() == 2  # restored


def test_large_fit_uses_the_usable_cpus(monkeypatch):
    _two_threads()
    _threads.set_blas_threads(1)
    m, (X, y) = _large_for_policy(monkeypatch)
    rec = Record()
    fr.Trainer(m).fit(X, y, epochs=2, batch_size=16, verbose=0, callbacks=[rec])
    assert rec.seen == [threads.usable_cpus()] * 2
    assert _threads.numba_blas_threads() == 1  # restored


def test_a_large_fit_stays_on_one_thread_where_other_processes_fill_the_other_cpus(monkeypatch):
    _two_threads()
    m, (X, y) = _large_for_policy(monkeypatch)
    import os

    monkeypatch.setattr(threads, "_others_running", lambda: (os.cpu_count() or 2) - 1)
    rec = Record()
    fr.Trainer(m).fit(X, y, epochs=1, batch_size=16, verbose=0, callbacks=[rec])
    assert rec.seen == [1]


def test_others_running_reads_a_count():
    n = _real_others_running()
    assert isinstance(n, int) and n >= 0


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="Linux /proc only")
def test_others_running_counts_a_busy_process_but_not_our_own_threads():
    """A CPU-bound child process is another process busy on a CPU; a spinning thread of this
    process (as a thread pool's worker is after its last task) is not."""
    import subprocess
    import sys
    import threading
    import time

    stop = threading.Event()

    def spin():
        while not stop.is_set():
            pass

    t = threading.Thread(target=spin, daemon=True)
    t.start()
    try:
        time.sleep(0.05)
        ours = _real_others_running()
    finally:
        stop.set()
        t.join()
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        busy = _real_others_running()
    finally:
        child.kill()
        child.wait()
    assert busy >= 1
    assert ours < busy


def test_numba_num_threads_caps_the_count_above_the_threshold(monkeypatch):
    _two_threads()
    _threads.set_blas_threads(1)
    monkeypatch.setenv("NUMBA_NUM_THREADS", "1")
    m, (X, y) = _large_for_policy(monkeypatch)
    rec = Record()
    fr.Trainer(m).fit(X, y, epochs=1, batch_size=16, verbose=0, callbacks=[rec])
    assert rec.seen == [1]


@pytest.mark.parametrize("name", threads.BLAS_ENV_VARS)
def test_a_blas_environment_variable_wins(monkeypatch, name):
    _two_threads()
    monkeypatch.setenv(name, "2")
    m, (X, y) = _small()
    rec = Record()
    fr.Trainer(m).fit(X, y, epochs=1, batch_size=4, verbose=0, callbacks=[rec])
    assert rec.seen == [2]
    assert name in threads.describe()


def test_the_policy_setter_wins_until_reset():
    _two_threads()
    threads.set_blas_threads(2)
    m, (X, y) = _small()
    rec = Record()
    fr.Trainer(m).fit(X, y, epochs=1, batch_size=4, verbose=0, callbacks=[rec])
    assert rec.seen == [2]
    assert "set_blas_threads(2)" in threads.describe()
    threads.set_blas_threads(None)
    fr.Trainer(m).fit(X, y, epochs=1, batch_size=4, verbose=0, callbacks=[rec])
    assert rec.seen == [2, 1]


def test_fastrnn_threads_gives_every_run_that_count(monkeypatch):
    _two_threads()
    _threads.set_blas_threads(1)
    monkeypatch.setenv("FASTRNN_THREADS", "2")
    m, (X, y) = _small()
    rec = Record()
    fr.Trainer(m).fit(X, y, epochs=1, batch_size=4, verbose=0, callbacks=[rec])
    assert rec.seen == [2]
    assert _threads.numba_blas_threads() == 1


@pytest.mark.parametrize("bad", ["0", "two", "-1"])
def test_a_bad_fastrnn_threads_is_a_value_error_with_the_fix(monkeypatch, bad):
    monkeypatch.setenv("FASTRNN_THREADS", bad)
    m, (X, y) = _small()
    with pytest.raises(ValueError, match="FASTRNN_THREADS must be a positive integer.*or 'auto'"):
        fr.Trainer(m).fit(X, y, epochs=1, verbose=0)
    with pytest.raises(ValueError):
        threads.set_blas_threads(0)


def test_restored_after_predict_evaluate_fit_stateful_and_an_error(monkeypatch):
    _two_threads()
    m, (X, y) = _small()
    seen = []
    real_set = _threads.set_blas_threads
    monkeypatch.setattr(_threads, "set_blas_threads", lambda n: (seen.append(n), real_set(n))[1])
    m.predict(X)
    m.predict(X, batch_size=3)
    fr.Trainer(m).evaluate(X, y)
    s = fr.LSTM(input_size=1, hidden_size=4, return_sequences=True, seed=0)
    fr.Trainer(s).fit_stateful(np.arange(20.0), np.arange(20.0), k=5, epochs=1, verbose=0)
    assert seen == [1] * 4 and _threads.numba_blas_threads() == 2  # set once per run, restored

    class Boom(fr.trainer.Callback):
        def on_epoch_end(self, loop):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fr.Trainer(m).fit(X, y, epochs=2, verbose=0, callbacks=[Boom()])
    assert _threads.numba_blas_threads() == 2


def test_validation_inside_fit_does_not_switch_again(monkeypatch):
    _two_threads()
    _threads.set_blas_threads(1)
    m, (X, y) = _large_for_policy(monkeypatch)  # training above the threshold, inference below
    assert threads.largest_gemm_flops(m, 16, 6, training=False) < threads.THRESHOLD_FLOPS["float32"]
    seen = []
    real_set = _threads.set_blas_threads
    monkeypatch.setattr(_threads, "set_blas_threads", lambda n: (seen.append(n), real_set(n))[1])
    fr.Trainer(m).fit(X, y, validation_data=(X, y), epochs=3, batch_size=16, verbose=0)
    assert seen == [2]  # set once for the run; the three evaluations inside it set nothing
    assert _threads.numba_blas_threads() == 1  # restored


@pytest.mark.parametrize("large", [False, True])
def test_same_bits_with_one_or_two_threads(monkeypatch, large):
    _two_threads()
    out = []
    for n in ("1", "2"):
        monkeypatch.setenv("FASTRNN_THREADS", n)
        if large:
            m, (X, y) = fr.LSTM(input_size=8, hidden_size=128, seed=1), _data(64, 10, 8)
        else:
            m, (X, y) = _small()
        fr.Trainer(m).fit(X, y, epochs=1, batch_size=32, verbose=0)
        out.append((m.state_dict(), m.predict(X)))
    (w1, p1), (w2, p2) = out
    assert all(np.array_equal(w1[k], w2[k]) for k in w1)
    assert np.array_equal(p1, p2)


def test_fastrnn_info_prints_the_policy(monkeypatch):
    from fastrnn import _info

    assert _info.thread_policy_info().startswith("auto (BLAS 1 thread below ")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    line = dict(_info.collect_info())["thread policy"]
    assert line.startswith("off: OPENBLAS_NUM_THREADS=1")
