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


# --------------------------------------------------------------------------------------------------
# The recurrent GEMMs when h_0 = 0 (the usual start: no state0 given)
# --------------------------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy", nogil=True)
def is_zero(h):
    """Whether every entry of the C-contiguous array ``h`` is zero (±0)."""
    for v in h.reshape(h.size):
        if v != 0:
            return False
    return True


@njit(cache=True, error_model="numpy", nogil=True)
def recurrent_product(h, w_hh, out, h_is_zero):
    """out = h @ W_hhᵀ, the recurrent pre-activations; zeros without the GEMM when ``h`` is known to
    be zero (then the product is exactly zero: the weights are finite)."""
    if h_is_zero:
        out[:] = 0
    else:
        np.dot(h, w_hh.T, out)


@njit(cache=True, error_model="numpy", nogil=True)
def hidden_weight_gradient(d, hs, out):
    """out = dW_hh = Σ_t d_tᵀ h_{t-1} for ``d (T, B, G)`` and ``hs (T+1, B, H)`` (``hs[0]`` = h_0),
    one GEMM over the T*B rows; when h_0 = 0 the rows of t = 0 add exactly nothing and are left out
    (at T = 1 nothing is left: dW_hh = 0, without forming the outer product)."""
    T, B, G = d.shape
    H = hs.shape[2]
    if not is_zero(hs[0]):
        weight_gradient(d.reshape(T * B, G), hs[:T].reshape(T * B, H), out)
    elif T == 1:
        out[:] = 0
    else:
        weight_gradient(d[1:].reshape((T - 1) * B, G), hs[1:T].reshape((T - 1) * B, H), out)
