"""Numba kernels of the GRU (PyTorch gate order r, z, n)::

    r = σ(W_ir x + b_ir + W_hr h + b_hr)     z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
    h' = (1 - z) ⊙ n + z ⊙ h

Same signatures and results as :func:`fastrnn.reference.gru_forward` / ``gru_backward``.
"""

import numpy as np
from numba import njit

from fastrnn.kernels.activations import sigmoid, tanh


@njit(cache=True)
def gru_forward(x, w_ih, w_hh, b_ih, b_hh, h0):
    """Forward pass. Returns ``hs (T+1, B, H)``, the activated gates ``acts (T, B, 3H)`` [r, z, n] and
    ``hns (T, B, H)`` = W_hn h_{t-1} + b_hn."""
    T, B, I = x.shape
    H = h0.shape[1]
    # Input projection of every time step in one GEMM: (T*B, I) @ (I, 3H), plus b_ih.
    xw = (np.dot(x.reshape(T * B, I), w_ih.T) + b_ih).reshape(T, B, 3 * H)
    hs = np.empty((T + 1, B, H), dtype=x.dtype)
    acts = np.empty((T, B, 3 * H), dtype=x.dtype)
    hns = np.empty((T, B, H), dtype=x.dtype)
    hs[0] = h0
    for t in range(T):
        a = acts[t]
        np.dot(hs[t], w_hh.T, a)  # recurrent GEMM; the gate math below activates it in place
        for n in range(B):
            for j in range(H):
                r = sigmoid(xw[t, n, j] + a[n, j] + b_hh[j])
                z = sigmoid(xw[t, n, H + j] + a[n, H + j] + b_hh[H + j])
                hn = a[n, 2 * H + j] + b_hh[2 * H + j]
                c = tanh(xw[t, n, 2 * H + j] + r * hn)  # the candidate n
                a[n, j], a[n, H + j], a[n, 2 * H + j] = r, z, c
                hns[t, n, j] = hn
                hs[t + 1, n, j] = (1.0 - z) * c + z * hs[t, n, j]
    return hs, acts, hns


@njit(cache=True)
def gru_backward(x, w_ih, w_hh, hs, acts, hns, d_out, d_hT):
    """BPTT. Per step, with ``dh`` the gradient reaching h_t::

        dn = dh ⊙ (1 - z)      dz = dh ⊙ (h_{t-1} - n)
        dan = dn ⊙ (1 - n^2)   dar = dan ⊙ hn ⊙ r(1-r)   daz = dz ⊙ z(1-z)
        dgi = [dar, daz, dan]          (gradient of W_ih x + b_ih)
        dgh = [dar, daz, dan ⊙ r]      (gradient of W_hh h + b_hh)
        dh_{t-1} = dh ⊙ z + dgh @ W_hh

    Both gate gradients of every step are kept; the weight gradients are GEMMs over all T*B rows
    after the time loop.
    """
    T, B, I = x.shape
    H = hs.shape[2]
    dgi = np.empty((T, B, 3 * H), dtype=x.dtype)
    dgh = np.empty((T, B, 3 * H), dtype=x.dtype)
    dhs = np.empty((T, B, H), dtype=x.dtype)  # total gradient reaching h_t, for diagnostics
    dh = d_hT.copy()
    dh_z = np.empty_like(dh)  # dh ⊙ z, the direct path to h_{t-1}
    for t in range(T - 1, -1, -1):
        for n in range(B):
            for j in range(H):
                r = acts[t, n, j]
                z = acts[t, n, H + j]
                c = acts[t, n, 2 * H + j]
                g = dh[n, j] + d_out[t, n, j]
                dhs[t, n, j] = g
                dan = g * (1.0 - z) * (1.0 - c * c)
                dar = dan * hns[t, n, j] * r * (1.0 - r)
                daz = g * (hs[t, n, j] - c) * z * (1.0 - z)
                dgi[t, n, j] = dar
                dgi[t, n, H + j] = daz
                dgi[t, n, 2 * H + j] = dan
                dgh[t, n, j] = dar
                dgh[t, n, H + j] = daz
                dgh[t, n, 2 * H + j] = dan * r
                dh_z[n, j] = g * z
        np.dot(dgh[t], w_hh, dh)
        dh += dh_z
    dgi2 = dgi.reshape(T * B, 3 * H)
    dgh2 = dgh.reshape(T * B, 3 * H)
    x2 = x.reshape(T * B, I)
    dx = np.dot(dgi2, w_ih).reshape(T, B, I)
    dw_ih = np.dot(dgi2.T, x2)
    dw_hh = np.dot(dgh2.T, hs[:T].reshape(T * B, H))
    return dx, dw_ih, dw_hh, dgi2.sum(axis=0), dgh2.sum(axis=0), dh, dhs
