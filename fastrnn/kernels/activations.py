"""Scalar activations used inside the Numba kernels.

They are exact (libm ``tanh``); faster vectorisable approximations, each with an accuracy test
against NumPy, belong here too so that every kernel picks them up at once.
"""

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def sigmoid(v):
    """Logistic function through tanh: σ(v) = (1 + tanh(v/2)) / 2, which never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * v))


@njit(cache=True, inline="always")
def tanh(v):
    return np.tanh(v)
