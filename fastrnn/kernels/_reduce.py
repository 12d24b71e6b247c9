"""Sum of squares without BLAS, for gradient norms.

``np.dot(g, g)`` / ``np.vdot`` on the NumPy side goes through NumPy's own OpenBLAS, whose thread
pool is separate from the one Numba's ``np.dot`` uses; waking it for every gradient of every step made
whole train steps several times slower with 2 threads (measured on this machine, LSTM/GRU float64 at
B, T, I, H = 32, 12, 1, 64). This single-threaded loop is BLAS-free and cheap next to a train step.

Squares are accumulated in float64 (also for float32 gradients) in 8 independent partial sums, added
in a fixed order, so the result does not depend on threads and rounds no worse than NumPy's.
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _sum_squares(flat):
    n = flat.shape[0]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    m = n - n % 8
    for i in range(0, m, 8):  # 8 independent chains: the adds overlap in the pipeline
        a0 = np.float64(flat[i]); a1 = np.float64(flat[i + 1])
        a2 = np.float64(flat[i + 2]); a3 = np.float64(flat[i + 3])
        a4 = np.float64(flat[i + 4]); a5 = np.float64(flat[i + 5])
        a6 = np.float64(flat[i + 6]); a7 = np.float64(flat[i + 7])
        s0 += a0 * a0; s1 += a1 * a1; s2 += a2 * a2; s3 += a3 * a3
        s4 += a4 * a4; s5 += a5 * a5; s6 += a6 * a6; s7 += a7 * a7
    for i in range(m, n):
        a = np.float64(flat[i])
        s0 += a * a
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


def sum_squares(a: np.ndarray) -> float:
    """``sum(a**2)`` over all elements of a float32/float64 array, accumulated in float64."""
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    return float(_sum_squares(np.ascontiguousarray(a).reshape(-1)))
