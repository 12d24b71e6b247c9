"""Sum of squares without BLAS, for gradient norms.

``np.dot(g, g)`` / ``np.vdot`` on the NumPy side goes through NumPy's own OpenBLAS, whose thread
pool is separate from the one Numba's ``np.dot`` uses; waking it for every gradient of every step made
whole train steps several times slower with 2 threads (measured; benchmarks/README.md, "The
trainer's gradient norm"). This single-threaded loop is BLAS-free and about as fast as ``np.dot``
(``python benchmarks/bench_kernels.py --micro``).

Squares are accumulated in float64, also for float32 gradients (more accurate than NumPy's float32
dot). ``reassoc`` lets LLVM split the sum into SIMD lanes; the split is fixed at compile time, so the
result is the same on every call, independent of threads.
"""

import numpy as np
from numba import njit

from fastrnn.kernels._jit import CACHE


# Not the kernels' JIT options: no division here, and fastmath's reassociation is the point.
@njit(cache=CACHE, nogil=True, fastmath={"reassoc"})
def _sum_squares(flat):
    s = 0.0
    for i in range(flat.shape[0]):
        a = np.float64(flat[i])
        s += a * a
    return s


def sum_squares(a: np.ndarray) -> float:
    """``sum(a**2)`` over all elements of a float32/float64 array, accumulated in float64."""
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    elif not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    return _sum_squares(a.reshape(-1))  # a Python float
