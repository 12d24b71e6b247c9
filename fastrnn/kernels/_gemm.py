"""The GEMMs shared by the cells' kernels: the recurrent product and the weight gradients.

``dW = Σ_t d_tᵀ a_t = D2ᵀ @ A2`` over all N = T*B rows (``D2 (N, G)`` the gate gradients,
``A2 (N, K)`` the layer inputs x_t or h_{t-1}). For many rows OpenBLAS computes the transposed
product ``A2ᵀ @ D2`` faster (measured with one thread; figures in benchmarks/README.md), so it is
formed that way and copied transposed into ``out``; the copy (G*K entries) is small next to the
product's N*G*K multiply-adds only when N is large: for few rows the product is taken directly
(for a single row the copy costs more than the GEMM itself).
"""

import numpy as np
from numba import njit

from fastrnn.kernels._jit import JIT

#: Rows (T*B) from which the weight gradients are formed transposed.
TRANSPOSED_FROM_ROWS = 64


@njit(**JIT)
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


@njit(**JIT)
def is_zero(h):
    """Whether every entry of the C-contiguous array ``h`` is zero (±0)."""
    for v in h.reshape(h.size):
        if v != 0:
            return False
    return True


@njit(**JIT)
def recurrent_product(h, w_hh, out, h_is_zero):
    """out = h @ W_hhᵀ, the recurrent pre-activations; zeros without the GEMM when ``h`` is known to
    be zero (then the product is exactly zero: the weights are finite)."""
    if h_is_zero:
        out[:] = 0
    else:
        np.dot(h, w_hh.T, out)


@njit(**JIT)
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


@njit(**JIT)
def weight_gradients(x, w_ih, hs, dgi, dgh, dx, dw_ih, dw_hh):
    """dx = dgi @ W_ih, dW_ih = Σ_t dgi_tᵀ x_t, dW_hh = Σ_t dgh_tᵀ h_{t-1}: GEMMs over all T*B rows.

    ``dgi`` is the gradient of W_ih x_t + b_ih, ``dgh`` that of W_hh h_{t-1} + b_hh, both (T, B, G*H);
    they are the same array for the cells that add both products before any gate (RNN, LSTM)."""
    T, B, I = x.shape
    dgi2 = dgi.reshape(T * B, dgi.shape[2])
    np.dot(dgi2, w_ih, dx.reshape(T * B, I))
    weight_gradient(dgi2, x.reshape(T * B, I), dw_ih)
    hidden_weight_gradient(dgh, hs, dw_hh)
