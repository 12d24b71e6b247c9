"""A fast "no NaN, no infinity" test for the Numba backend's input validation.

``np.isfinite(a).all()`` makes a boolean temporary and a second pass; this scans the bits once: a
float is NaN or infinite exactly when all its exponent bits are set, so the array is finite exactly
when the maximum over ``bits & exponent_mask`` is below the mask (an unsigned max reduction, which
LLVM vectorises). Faster than NumPy's two passes (``python benchmarks/bench_kernels.py --micro``;
figures in benchmarks/README.md).
"""

import numpy as np
from numba import njit

from fastrnn.kernels._jit import JIT

_EXP32 = np.uint32(0x7F800000)
_EXP64 = np.uint64(0x7FF0000000000000)


@njit(**JIT)
def _finite32(u):
    acc = np.uint32(0)
    for i in range(u.shape[0]):
        acc = max(acc, u[i] & _EXP32)
    return acc != _EXP32


@njit(**JIT)
def _finite64(u):
    acc = np.uint64(0)
    for i in range(u.shape[0]):
        acc = max(acc, u[i] & _EXP64)
    return acc != _EXP64


def all_finite(a):
    """``np.isfinite(a).all()`` for a float32/float64 array (any layout)."""
    if not a.flags.c_contiguous:
        return bool(np.isfinite(a).all())
    flat = a.reshape(-1)
    if a.dtype == np.float32:
        return _finite32(flat.view(np.uint32))
    if a.dtype == np.float64:
        return _finite64(flat.view(np.uint64))
    return bool(np.isfinite(a).all())
