"""The machinery around the Numba kernels that test_functional.py does not reach.

* Numba against NumPy with T*B >= 64 rows, where the weight gradients are formed transposed
  (``fastrnn.kernels._gemm``; test_functional.py's shapes have fewer rows).
* The public kernels (fresh arrays) and the pooled path that fastrnn.functional runs agree exactly.
* The buffer pool: buffers are reused, but never while an array handed out still uses them; where
  ``sys.getrefcount`` does not count as the pool expects, it falls back to fresh arrays.
* The fast finiteness test agrees with ``np.isfinite``.
* The shortcuts for h_0 = 0 (no recurrent GEMM at t = 0, the rows of t = 0 left out of dW_hh) and
  for a backward without the state gradient (no GEMM for dh_0) give the reference's results.
"""

import numpy as np
import pytest

try:
    import _helpers as H
except ImportError:  # tests/ imported as a package
    from tests import _helpers as H

from fastrnn import functional as F
from fastrnn.kernels._finite import all_finite
from fastrnn.kernels._workspace import BufferPool



def _problem(cell, T, B, I, Hs, dtype, seed):
    return H.layer_problem("kernels", cell, T, B, I, Hs, dtype, seed)


def _flat(cell, out, state, grads):
    d = {"out": out, "grad.h": grads["h"]}
    d.update({f"state{i}": a for i, a in enumerate(H.state_arrays(cell, state))})
    d.update({f"grad.{k}": grads[k] for k in ("w_ih", "w_hh", "b_ih", "b_hh", "x")})
    d.update({f"grad.state0_{i}": a for i, a in enumerate(H.state_arrays(cell, grads["state0"]))})
    return d


def _run(cell, backend, x, params, state0, d_out, d_state):
    out, state, cache = F.forward(cell, x, params, state0, backend=backend)
    return _flat(cell, out, state, F.backward(cell, cache, d_out, d_state))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("cell", H.CELLS)
def test_many_rows_match_reference(cell, dtype):
    from fastrnn.kernels._gemm import TRANSPOSED_FROM_ROWS

    T, B, I, Hs = 9, 8, 3, 5
    assert T * B >= TRANSPOSED_FROM_ROWS
    x, params, state0, d_out, d_state = _problem(cell, T, B, I, Hs, dtype, seed=3)
    got = _run(cell, "numba", x, params, state0, d_out, d_state)
    ref = _run(cell, "numpy", x, params, state0, d_out, d_state)
    tol = {np.float64: 1e-12, np.float32: 1e-5}[dtype]
    for k in ref:
        assert H.rel_error(got[k], ref[k]) <= tol, (k, H.rel_error(got[k], ref[k]))


def _zero_state(cell, B, Hs, dtype, hot=None):
    """Zeros (None: F's default), or zeros with one entry ``hot`` = (index, value) in h_0."""
    h = np.zeros((B, Hs), dtype)
    if hot is not None:
        h[hot[0]] = hot[1]
    return H.make_state(cell, [h] + [np.zeros((B, Hs), dtype) for _ in H.state_names(cell)[1:]])


@pytest.mark.parametrize("T,B", [(1, 1), (1, 4), (3, 2), (9, 8)])
@pytest.mark.parametrize("start", ["none", "zeros", "-0.0", "one-hot"])
@pytest.mark.parametrize("cell", H.CELLS)
def test_zero_initial_state_shortcuts_match_reference(cell, start, T, B):
    """h_0 = 0 takes the shortcuts (T = 1: dW_hh is zero without a GEMM; T * B = 72 rows: the
    transposed weight gradient); one non-zero entry of h_0 must take the full path again."""
    Hs, I, dtype = 5, 3, np.float64
    x, params, _, d_out, d_state = _problem(cell, T, B, I, Hs, dtype, seed=4)
    state0 = {"none": None, "zeros": _zero_state(cell, B, Hs, dtype),
              "-0.0": _zero_state(cell, B, Hs, dtype, ((0, 0), -0.0)),
              "one-hot": _zero_state(cell, B, Hs, dtype, ((B - 1, Hs - 1), 0.7))}[start]
    got = _run(cell, "numba", x, params, state0, d_out, d_state)
    ref = _run(cell, "numpy", x, params, state0, d_out, d_state)
    for k in ref:
        assert H.rel_error(got[k], ref[k]) <= 1e-12, (k, H.rel_error(got[k], ref[k]))
    if start == "one-hot" and T == 1:  # the test has teeth: h_0 reaches dW_hh
        assert np.abs(ref["grad.w_hh"]).max() > 0.01
    if start != "one-hot" and T == 1:
        assert not got["grad.w_hh"].any()


@pytest.mark.parametrize("cell", H.CELLS)
def test_backward_without_state_gradient_matches(cell):
    """need_d_state0=False skips the GEMM for dh_0 and returns no state gradient; every other
    gradient is the same as with it."""
    x, params, state0, d_out, d_state = _problem(cell, 4, 3, 2, 6, np.float64, seed=5)
    _, _, cache = F.forward(cell, x, params, state0)
    ds = F.check_state("d_state", d_state, cell, (3, 6), np.float64)
    full = F.backward_unchecked(cell, cache, d_out, tuple(a.copy() for a in ds), need_d_state0=True)
    lean = F.backward_unchecked(cell, cache, d_out, tuple(a.copy() for a in ds), need_d_state0=False)
    assert lean["state0"] is None and full["state0"] is not None
    for k in ("w_ih", "w_hh", "b_ih", "b_hh", "x", "h"):
        np.testing.assert_array_equal(lean[k], full[k])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("cell", H.CELLS)
def test_public_kernels_match_the_pooled_path(cell, dtype):
    from fastrnn import cells

    spec = cells.get(cell)
    T, B, I, Hs = 4, 3, 2, 5
    x, p, state0, d_out, d_state = _problem(cell, T, B, I, Hs, dtype, seed=1)
    args = (x, p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"])
    out, state, cache = F.forward(cell, x, p, state0)
    g = F.backward(cell, cache, d_out, d_state)
    saved = spec.kernel_forward()(*args, *H.state_arrays(cell, state0), *spec.static)
    if not isinstance(saved, tuple):
        saved = (saved,)
    got = spec.kernel_backward()(x, p["w_ih"], p["w_hh"], *saved, *spec.static, d_out, *H.state_arrays(cell, d_state))
    grads = got[:5] + (H.make_state(cell, got[5:-1]), got[-1])
    assert len(saved) == len(cache.saved)
    for a, b in zip(saved, cache.saved):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(out, saved[0][1:])
    for a, k in zip(grads, ("x", "w_ih", "w_hh", "b_ih", "b_hh")):
        np.testing.assert_array_equal(a, g[k], err_msg=k)
    for a, b in zip(H.state_arrays(cell, grads[5]), H.state_arrays(cell, g["state0"])):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(grads[6], g["h"])


def test_outputs_survive_later_calls():
    """Arrays returned by forward/backward come from the buffer pool; later calls must not reuse
    their memory while they are alive."""
    x, params, state0, d_out, d_state = _problem("gru", 6, 8, 3, 40, np.float32, seed=2)
    out1, _, cache1 = F.forward("gru", x, params, state0)
    g1 = F.backward("gru", cache1, d_out, d_state)
    keep = {"out": out1.copy(), **{k: g1[k].copy() for k in ("w_hh", "x", "h")}}
    params2 = {k: v * 1.5 for k, v in params.items()}
    for _ in range(3):
        out2, _, cache2 = F.forward("gru", x * 2, params2, None)
        F.backward("gru", cache2, d_out * 3, None)
    np.testing.assert_array_equal(out1, keep["out"])
    for k in ("w_hh", "x", "h"):
        np.testing.assert_array_equal(g1[k], keep[k])


def test_buffer_pool_reuses_free_buffers_only():
    pool = BufferPool(max_bytes=1 << 24, min_bytes=1024)
    a = pool.empty((100, 50), np.dtype(np.float64))
    assert a.shape == (100, 50) and a.dtype == np.float64 and a.flags.c_contiguous
    assert a.ctypes.data % 64 == 0
    b = pool.empty((100, 50), np.dtype(np.float64))
    assert not np.shares_memory(a, b)  # a is alive
    addr = a.ctypes.data
    del a
    c = pool.empty((50, 100), np.dtype(np.float64))
    assert c.ctypes.data == addr  # a's buffer, free again
    view = c[10:20]
    del c
    d = pool.empty((100, 50), np.dtype(np.float64))
    assert not np.shares_memory(view, d)  # a view keeps its buffer in use
    assert len(pool) == 3
    small = pool.empty((10,), np.dtype(np.float32))
    assert small.base is None  # below min_bytes: not pooled
    big = pool.empty((1 << 22,), np.dtype(np.float64))  # 32 MiB > max_bytes: plain allocation
    assert big.base is None
    pool.release()
    assert len(pool) == 0 and pool.nbytes == 0
    np.testing.assert_array_equal(view.shape, (10, 100))  # still usable


def test_buffer_pool_evicts_least_recently_used():
    pool = BufferPool(max_bytes=3 * 8000 + 200, min_bytes=1024)
    for _ in range(5):
        pool.empty((1000,), np.dtype(np.float64))  # freed at once: reused
    assert len(pool) == 1
    f64 = np.dtype(np.float64)
    a, b, c = pool.empty((1000,), f64), pool.empty((1000,), f64), pool.empty((1000,), f64)
    assert len(pool) == 3
    del a
    d = pool.empty((900,), np.dtype(np.float64))  # fits in a's buffer
    assert len(pool) == 3 and pool.nbytes <= pool.max_bytes
    del b, c, d
    e = pool.empty((2500,), np.dtype(np.float64))  # needs room: evicts free buffers
    assert pool.nbytes <= pool.max_bytes and e.base is not None


def test_buffer_pool_falls_back_to_fresh_arrays_when_refcounts_differ(monkeypatch):
    """The pool tells free buffers by sys.getrefcount; where the interpreter counts differently the
    start-up check fails and the pool hands out fresh arrays, with the same results."""
    from fastrnn.kernels import _workspace

    assert _workspace.refcounts_tell_free()  # this interpreter: the pool is in use
    cell, T, B, I, Hs = "lstm", 20, 16, 8, 64  # hs: 21 * 16 * 64 float64 = 172 kB, above min_bytes
    problem = _problem(cell, T, B, I, Hs, np.float64, seed=6)
    pooled = {k: v.copy() for k, v in _run(cell, "numba", *problem).items()}
    assert _run(cell, "numba", *problem)["out"].base is not None  # a view of a pool buffer

    monkeypatch.setattr(_workspace, "_REFS_WHEN_FREE", _workspace._REFS_WHEN_FREE - 1)  # counts one fewer
    assert not _workspace.refcounts_tell_free()
    monkeypatch.setattr(_workspace.POOL, "_pooling", None)  # as at start-up: check on first use
    with pytest.warns(RuntimeWarning, match="getrefcount"):
        fresh = _run(cell, "numba", *problem)
    assert _workspace.POOL._pooling is False
    assert fresh["out"].base is None and fresh["grad.x"].base is None  # plain np.empty arrays
    for k in pooled:
        np.testing.assert_array_equal(fresh[k], pooled[k], err_msg=k)
    pool = BufferPool(max_bytes=1 << 24, min_bytes=1024)
    with pytest.warns(RuntimeWarning, match="getrefcount"):
        a = pool.empty((100, 50), np.dtype(np.float64))
    assert a.base is None and len(pool) == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_agrees_with_numpy(dtype):
    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 64, 1000, 4097):
        a = rng.standard_normal(n).astype(dtype)
        assert all_finite(a) is True or all_finite(a) == True  # noqa: E712
        for bad in (np.nan, np.inf, -np.inf):
            for pos in {0, n // 2, n - 1} if n else set():
                b = a.copy()
                b[pos] = bad
                assert not all_finite(b)
                assert not all_finite(b.reshape(1, -1))
    m = rng.standard_normal((6, 8)).astype(dtype)
    m[3, 5] = np.nan
    assert not all_finite(m.T) and not all_finite(m[:, 1::2]) and all_finite(m[:, ::2]) and all_finite(m[:, :5])
    big = np.full(10, np.finfo(dtype).max, dtype)  # huge but finite
    tiny = np.full(10, np.finfo(dtype).smallest_subnormal, dtype)
    assert all_finite(big) and all_finite(tiny) and all_finite(-big)


@pytest.mark.parametrize("value, cached", [("1", False), ("0", True), ("", True)])
def test_no_cache_switch(value, cached):
    """FASTRNN_NO_CACHE=1 compiles the kernels without Numba's on-disk cache (edits to the
    activations, which the cache does not notice, are then picked up)."""
    import os
    import subprocess
    import sys

    code = ("from fastrnn.kernels import _gemm, _finite, activations, gru, lstm, rnn\n"
            "fns = [rnn.rnn_forward, lstm.backward_into, gru.forward_into, _gemm.weight_gradients,\n"
            "       _finite._finite32, activations.tanh_array]\n"
            "print(sorted({type(f._cache).__name__ for f in fns}))")
    env = dict(os.environ, FASTRNN_NO_CACHE=value)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == ("['FunctionCache']" if cached else "['NullCache']")
