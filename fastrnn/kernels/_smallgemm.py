"""Register-blocked matrix products for the per-step GEMMs of small recurrent layers.

``out (M, N) = a (M, K) @ b (K, N)`` with ``b`` C-contiguous: row k of ``b`` holds the N weights
that input k feeds. That is the layout both per-step products of a recurrent layer can stream:

* forward, ``rec (B, G*H) = h (B, H) @ W_hhᵀ``: ``b = W_hhᵀ (H, G*H)``, packed once per forward
  call by :func:`pack_transposed` (one copy of G*H*H entries for T steps);
* backward, ``dh (B, H) = da (B, G*H) @ W_hh``: ``b = W_hh (G*H, H)`` as it is (its rows already
  are the packed layout).

The micro-kernel (:func:`_rows4`) takes four rows of ``a`` and four k at a time: the 16 values
``a[i, k..k+3]`` stay in registers while one pass over n (which LLVM vectorises; contiguous in
``b`` and ``out``) adds their products with the four rows ``b[k..k+3]``, so each loaded vector of
``b`` serves four output rows and each load/store of ``out`` four k. Leftover rows (M mod 4) and
leftover k (K mod 4) take the same path with one row / one k.

**Accumulation order** (defines the result bits): every ``out[i, n]`` is the sum over k in
increasing order, one rounded product added at a time, starting from 0::

    out[i, n] = (((0 + a[i,0] b[0,n]) + a[i,1] b[1,n]) + ...) + a[i,K-1] b[K-1,n]

No FMA contraction and no reassociation (``fastmath`` off, as in every kernel: :mod:`._jit`), so
the bits depend on the inputs only, never on the CPU's vector width, on threads or on the
blocking. They differ from OpenBLAS's (which blocks and fuses k its own way) by rounding only.
Which of the two products a shape uses is decided in :mod:`fastrnn.kernels._gemm`.
"""

import numpy as np
from numba import njit

from fastrnn.kernels._jit import JIT


@njit(**JIT)
def pack_transposed(w):
    """``wᵀ`` as a new C-contiguous array: W_hh (G*H, H) -> the forward product's ``b`` (H, G*H)."""
    return np.ascontiguousarray(w.T)


@njit(**JIT)
def gemm_rows(a, b, out):
    """out = a @ b for C-contiguous ``a (M, K)``, ``b (K, N)``, ``out (M, N)`` (the order of the
    sums: module docstring)."""
    M = a.shape[0]
    i = 0
    while i + 4 <= M:
        _rows4(a[i], a[i + 1], a[i + 2], a[i + 3], b, out[i], out[i + 1], out[i + 2], out[i + 3])
        i += 4
    while i < M:
        _row1(a[i], b, out[i])
        i += 1


@njit(**JIT)
def _rows4(a0, a1, a2, a3, b, o0, o1, o2, o3):
    """Four output rows ``o_r = a_r @ b``, four k per pass over n."""
    K, N = b.shape
    K4 = K - K % 4
    for n in range(N):
        o0[n] = 0
        o1[n] = 0
        o2[n] = 0
        o3[n] = 0
    for k in range(0, K4, 4):
        b0, b1, b2, b3 = b[k], b[k + 1], b[k + 2], b[k + 3]
        p0, p1, p2, p3 = a0[k], a0[k + 1], a0[k + 2], a0[k + 3]
        q0, q1, q2, q3 = a1[k], a1[k + 1], a1[k + 2], a1[k + 3]
        r0, r1, r2, r3 = a2[k], a2[k + 1], a2[k + 2], a2[k + 3]
        s0, s1, s2, s3 = a3[k], a3[k + 1], a3[k + 2], a3[k + 3]
        for n in range(N):
            x0, x1, x2, x3 = b0[n], b1[n], b2[n], b3[n]
            o0[n] = o0[n] + p0 * x0 + p1 * x1 + p2 * x2 + p3 * x3
            o1[n] = o1[n] + q0 * x0 + q1 * x1 + q2 * x2 + q3 * x3
            o2[n] = o2[n] + r0 * x0 + r1 * x1 + r2 * x2 + r3 * x3
            o3[n] = o3[n] + s0 * x0 + s1 * x1 + s2 * x2 + s3 * x3
    for k in range(K4, K):
        bk, p, q, r, s = b[k], a0[k], a1[k], a2[k], a3[k]
        for n in range(N):
            x = bk[n]
            o0[n] = o0[n] + p * x
            o1[n] = o1[n] + q * x
            o2[n] = o2[n] + r * x
            o3[n] = o3[n] + s * x


@njit(**JIT)
def _row1(a0, b, o0):
    """One output row ``o0 = a0 @ b``, four k per pass over n."""
    K, N = b.shape
    K4 = K - K % 4
    for n in range(N):
        o0[n] = 0
    for k in range(0, K4, 4):
        b0, b1, b2, b3 = b[k], b[k + 1], b[k + 2], b[k + 3]
        p0, p1, p2, p3 = a0[k], a0[k + 1], a0[k + 2], a0[k + 3]
        for n in range(N):
            o0[n] = o0[n] + p0 * b0[n] + p1 * b1[n] + p2 * b2[n] + p3 * b3[n]
    for k in range(K4, K):
        bk, p = b[k], a0[k]
        for n in range(N):
            o0[n] = o0[n] + p * bk[n]
