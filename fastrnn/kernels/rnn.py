"""Numba kernels of the Elman RNN:  h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).

Same signatures and results as :func:`fastrnn.reference.rnn_forward` / ``rnn_backward``.
"""

import numpy as np
from numba import njit


@njit(cache=True)
def rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0, relu):
    """Forward pass. ``x (T, B, I)`` C-contiguous; returns ``hs (T+1, B, H)`` with ``hs[0] = h0``."""
    T, B, I = x.shape
    H = h0.shape[1]
    # Input projection of every time step in one GEMM: (T*B, I) @ (I, H).
    xw = np.dot(x.reshape(T * B, I), w_ih.T).reshape(T, B, H)
    b = b_ih + b_hh
    hs = np.empty((T + 1, B, H), dtype=x.dtype)
    hs[0] = h0
    for t in range(T):
        a = hs[t + 1]
        np.dot(hs[t], w_hh.T, a)  # recurrent GEMM, written straight into h_t's slot
        for n in range(B):
            for j in range(H):
                v = a[n, j] + xw[t, n, j] + b[j]
                if relu:
                    a[n, j] = v if v > 0.0 else 0.0
                else:
                    a[n, j] = np.tanh(v)
    return hs


@njit(cache=True)
def rnn_backward(x, w_ih, w_hh, hs, relu, d_out, d_hT):
    """BPTT. ``da_t = dh_t * act'(a_t)`` with tanh' = 1 - h², relu' = [h > 0];
    ``dh_{t-1} = da_t @ W_hh``. The weight gradients are GEMMs over all T*B rows after the loop."""
    T, B, I = x.shape
    H = hs.shape[2]
    da = np.empty((T, B, H), dtype=x.dtype)  # pre-activation gradients of every step
    dhs = np.empty((T, B, H), dtype=x.dtype)  # total gradient reaching h_t, for diagnostics
    dh = d_hT.copy()
    for t in range(T - 1, -1, -1):
        for n in range(B):
            for j in range(H):
                g = dh[n, j] + d_out[t, n, j]
                dhs[t, n, j] = g
                h = hs[t + 1, n, j]
                if relu:
                    da[t, n, j] = g if h > 0.0 else 0.0
                else:
                    da[t, n, j] = g * (1.0 - h * h)
        np.dot(da[t], w_hh, dh)
    da2 = da.reshape(T * B, H)
    x2 = x.reshape(T * B, I)
    dx = np.dot(da2, w_ih).reshape(T, B, I)
    dw_ih = np.dot(da2.T, x2)
    dw_hh = np.dot(da2.T, hs[:T].reshape(T * B, H))
    db = da2.sum(axis=0)
    return dx, dw_ih, dw_hh, db, db.copy(), dh, dhs
