"""GEMM shapes shared by the kernels' weight-gradient step.

``dW = Σ_t d_tᵀ a_t = D2ᵀ @ A2`` over all N = T*B rows (``D2 (N, G)`` the gate gradients,
``A2 (N, K)`` the layer inputs x_t or h_{t-1}). For many rows OpenBLAS computes the transposed
product ``A2ᵀ @ D2`` faster here (measured with one thread: float64 1.3-1.8x, float32 about the
same), so it is formed that way and copied transposed into ``out``; the copy (G*K entries) is
small next to the product's N*G*K multiply-adds only when N is large: for few rows the product is
taken directly (at N = 1, the outer product of an LSTM with H = 256, the copy cost 3x the GEMM).
"""

import numpy as np
from numba import njit

#: Rows (T*B) from which the weight gradients are formed transposed.
TRANSPOSED_FROM_ROWS = 64


@njit(cache=True, error_model="numpy", nogil=True)
def weight_gradient(d2, a2, out):
    """out = d2ᵀ @ a2 for C-contiguous ``d2 (N, G)``, ``a2 (N, K)``, ``out (G, K)``."""
    if d2.shape[0] < TRANSPOSED_FROM_ROWS:
        np.dot(d2.T, a2, out)
        return
    tmp = np.empty((a2.shape[1], d2.shape[1]), dtype=d2.dtype)
    np.dot(a2.T, d2, tmp)
    out[:] = tmp.T
