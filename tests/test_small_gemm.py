"""The packed small-GEMM kernel (fastrnn.kernels._smallgemm) and the per-shape choice between it
and OpenBLAS (fastrnn.kernels._gemm).

* ``gemm_rows`` against NumPy's product for awkward shapes (rows and k not multiples of the 4 x 4
  block, 1, primes), both dtypes, in the layouts of both per-step products.
* Its documented accumulation order, bit for bit: the sum over k in increasing order, one rounded
  product at a time (no FMA, no reassociation), written out here with NumPy.
* The cells' forward and backward, through shapes where the rule picks the packed kernel and
  shapes where it picks OpenBLAS, against the NumPy reference.
"""

import numpy as np
import pytest

try:
    import _helpers as H
except ImportError:  # tests/ imported as a package
    from tests import _helpers as H

from fastrnn import functional as F
from fastrnn.kernels import _gemm
from fastrnn.kernels._smallgemm import gemm_rows, pack_transposed

DTYPES = [np.float64, np.float32]
TOL = {np.float64: 1e-12, np.float32: 1e-5}
AWKWARD = (1, 2, 3, 4, 5, 7, 13, 17)


def _operands(product, B, Hs, G, dtype, seed=0):
    """``a`` and the weights for one per-step product: forward ``h (B, H) @ W_hhᵀ``, backward
    ``da (B, G*H) @ W_hh``; returns (a, w, packed b, NumPy's product in float64)."""
    rng = H.rng_for("small-gemm", product, B, Hs, G, np.dtype(dtype).name, seed)
    w = rng.uniform(-1, 1, (G * Hs, Hs)).astype(dtype)
    if product == "forward":
        a = rng.standard_normal((B, Hs)).astype(dtype)
        return a, w, pack_transposed(w), a.astype(np.float64) @ w.T.astype(np.float64)
    a = rng.standard_normal((B, G * Hs)).astype(dtype)
    return a, w, w, a.astype(np.float64) @ w.astype(np.float64)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("product", ["forward", "backward"])
@pytest.mark.parametrize("G", [1, 3, 4])
def test_gemm_rows_matches_numpy(product, G, dtype):
    for B in AWKWARD:
        for Hs in AWKWARD + (32,):
            a, _, b, ref = _operands(product, B, Hs, G, dtype)
            out = np.full((a.shape[0], b.shape[1]), np.nan, dtype)
            gemm_rows(a, b, out)
            assert H.rel_error(out, ref) <= TOL[dtype], (B, Hs, H.rel_error(out, ref))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("M,K,N", [(1, 1, 1), (4, 4, 8), (5, 7, 3), (13, 17, 33), (9, 64, 20)])
def test_gemm_rows_sums_in_the_documented_order(M, K, N, dtype):
    """out[i, n] = (((0 + a[i,0] b[0,n]) + a[i,1] b[1,n]) + ...): each product rounded to the dtype,
    added in increasing k; the same bits on every CPU (no FMA contraction)."""
    rng = H.rng_for("small-gemm-order", M, K, N, np.dtype(dtype).name)
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    expected = np.zeros((M, N), dtype)
    for k in range(K):
        expected = expected + a[:, k:k + 1] * b[k]  # dtype arithmetic, one rounding per operation
    out = np.empty((M, N), dtype)
    gemm_rows(a, b, out)
    H.assert_tree_equal(out, expected)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_rule_products_match_numpy_on_both_paths(dtype):
    """recurrent_product / hidden_gradient give NumPy's product whichever kernel the rule picks;
    the shapes below take each path of each product at least once."""
    shapes = [(1, 8, 4), (16, 16, 4), (5, 17, 4), (8, 4, 1), (32, 8, 3), (64, 64, 4), (1, 2, 3)]
    taken = set()
    for B, Hs, G in shapes:
        a, w, _, ref = _operands("forward", B, Hs, G, dtype)
        out = np.full((B, G * Hs), np.nan, dtype)
        _gemm.recurrent_product(a, _gemm.recurrent_weights(w, B), out, False)
        assert H.rel_error(out, ref) <= TOL[dtype], ("forward", B, Hs, G)
        taken.add(("forward", bool(_gemm.packed_forward(B, Hs, G * Hs, np.dtype(dtype).itemsize))))
        a, w, _, ref = _operands("backward", B, Hs, G, dtype)
        out = np.full((B, Hs), np.nan, dtype)
        _gemm.hidden_gradient(a, w, out)
        assert H.rel_error(out, ref) <= TOL[dtype], ("backward", B, Hs, G)
        taken.add(("backward", bool(_gemm.packed_backward(B, G * Hs, Hs, np.dtype(dtype).itemsize))))
    assert taken == {(p, k) for p in ("forward", "backward") for k in (False, True)}


def test_rule_depends_on_shape_and_dtype_only():
    """The documented rule, case by case (shipped rule: _OVERRIDE = 0)."""
    assert _gemm._OVERRIDE == 0
    f32, f64 = 4, 8
    assert not _gemm.packed_forward(1, 16, 64, f32) and _gemm.packed_backward(1, 64, 16, f32)  # B = 1
    assert not _gemm.packed_forward(8, 2, 64, f32)  # H below PACKED_MIN_K
    assert _gemm.packed_forward(32, 32, 96, f32) and not _gemm.packed_backward(32, 96, 32, f32)
    assert not _gemm.packed_forward(32, 16, 48, f32)  # G*H below PACKED_FORWARD_MIN_N
    assert not _gemm.packed_forward(8, 64, 64, f32) and _gemm.packed_forward(8, 32, 64, f32)  # G = 1: never
    assert not _gemm.packed_forward(64, 128, 512, f32)  # beyond the measured sizes: OpenBLAS
    assert _gemm.packed_forward(64, 64, 192, f32) and not _gemm.packed_forward(64, 64, 192, f64)
    # the shipped datasets' float32 LSTMs (airline H 64, stock H 32) stay on OpenBLAS at every batch
    for B in (1, 6, 16, 48, 64):
        assert not _gemm.packed_forward(B, 64, 256, f32) and not _gemm.packed_backward(B, 256, 64, f32)
        assert not _gemm.packed_forward(B, 32, 128, f32) and not _gemm.packed_backward(B, 128, 32, f32)
    assert _gemm.packed_forward(16, 64, 256, f64) and _gemm.packed_forward(2, 32, 128, f64)


def _problem(cell, T, B, I, Hs, dtype, seed):
    return H.layer_problem("small-gemm-cells", cell, T, B, I, Hs, dtype, seed)


def _run(cell, backend, x, params, state0, d_out, d_state):
    out, state, cache = F.forward(cell, x, params, state0, backend=backend)
    grads = F.backward(cell, cache, d_out, d_state)
    d = {"out": out, "grad.h": grads["h"]}
    d.update({f"state{i}": a for i, a in enumerate(H.state_arrays(cell, state))})
    d.update({f"grad.{k}": grads[k] for k in ("w_ih", "w_hh", "b_ih", "b_hh", "x")})
    d.update({f"grad.state0_{i}": a for i, a in enumerate(H.state_arrays(cell, grads["state0"]))})
    return d


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("B,Hs", [(1, 7), (5, 17), (16, 16), (3, 2)])
@pytest.mark.parametrize("cell", H.CELLS)
def test_cells_match_reference_through_the_chosen_path(cell, B, Hs, dtype):
    """Forward and BPTT of every cell against the NumPy reference, with a non-zero h_0 (so the
    product of t = 0 runs too). (1, 7): backward packed; (5, 17): forward packed for G >= 4;
    (16, 16): forward packed for G = 4; (3, 2): OpenBLAS."""
    T, I = 4, 3
    x, params, state0, d_out, d_state = _problem(cell, T, B, I, Hs, dtype, seed=1)
    got = _run(cell, "numba", x, params, state0, d_out, d_state)
    ref = _run(cell, "numpy", x, params, state0, d_out, d_state)
    tol = {np.float64: 1e-12, np.float32: 1e-5}[dtype]
    for k in ref:
        assert H.rel_error(got[k], ref[k]) <= tol, (k, H.rel_error(got[k], ref[k]))
