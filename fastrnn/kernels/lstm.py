"""Numba kernels of the LSTM (PyTorch gate order i, f, g, o)::

    i = σ(W_ii x + b_ii + W_hi h + b_hi)     f = σ(W_if x + b_if + W_hf h + b_hf)
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)  o = σ(W_io x + b_io + W_ho h + b_ho)
    c' = f ⊙ c + i ⊙ g                        h' = o ⊙ tanh(c')

Same signatures and results as :func:`fastrnn.reference.lstm_forward` / ``lstm_backward``.
"""

import numpy as np
from numba import njit

from fastrnn.kernels.activations import sigmoid, tanh


@njit(cache=True)
def lstm_forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0):
    """Forward pass. Returns ``hs, cs (T+1, B, H)``, ``tcs = tanh(c_t) (T, B, H)`` and the activated
    gates ``acts (T, B, 4H)``."""
    T, B, I = x.shape
    H = h0.shape[1]
    # Input projection of every time step in one GEMM: (T*B, I) @ (I, 4H).
    xw = np.dot(x.reshape(T * B, I), w_ih.T).reshape(T, B, 4 * H)
    b = b_ih + b_hh
    hs = np.empty((T + 1, B, H), dtype=x.dtype)
    cs = np.empty((T + 1, B, H), dtype=x.dtype)
    tcs = np.empty((T, B, H), dtype=x.dtype)
    acts = np.empty((T, B, 4 * H), dtype=x.dtype)
    hs[0] = h0
    cs[0] = c0
    for t in range(T):
        a = acts[t]
        np.dot(hs[t], w_hh.T, a)  # recurrent GEMM; the gate math below activates it in place
        for n in range(B):
            for j in range(H):
                i = sigmoid(a[n, j] + xw[t, n, j] + b[j])
                f = sigmoid(a[n, H + j] + xw[t, n, H + j] + b[H + j])
                g = tanh(a[n, 2 * H + j] + xw[t, n, 2 * H + j] + b[2 * H + j])
                o = sigmoid(a[n, 3 * H + j] + xw[t, n, 3 * H + j] + b[3 * H + j])
                c = f * cs[t, n, j] + i * g
                tc = tanh(c)
                a[n, j], a[n, H + j], a[n, 2 * H + j], a[n, 3 * H + j] = i, f, g, o
                cs[t + 1, n, j] = c
                tcs[t, n, j] = tc
                hs[t + 1, n, j] = o * tc
    return hs, cs, tcs, acts


@njit(cache=True)
def lstm_backward(x, w_ih, w_hh, hs, cs, tcs, acts, d_out, d_hT, d_cT):
    """BPTT. Per step, with ``dh``, ``dc`` the gradients reaching h_t and c_t::

        do = dh ⊙ tanh(c_t)            dc += dh ⊙ o ⊙ (1 - tanh(c_t)^2)
        da = [dc⊙g ⊙ i(1-i), dc⊙c_{t-1} ⊙ f(1-f), dc⊙i ⊙ (1-g^2), do ⊙ o(1-o)]
        dc_{t-1} = dc ⊙ f                dh_{t-1} = da @ W_hh

    The gate gradients ``da`` of every step are kept; the weight gradients are GEMMs over all T*B
    rows after the time loop.
    """
    T, B, I = x.shape
    H = hs.shape[2]
    da = np.empty((T, B, 4 * H), dtype=x.dtype)
    dhs = np.empty((T, B, H), dtype=x.dtype)  # total gradient reaching h_t, for diagnostics
    dh = d_hT.copy()
    dc = d_cT.copy()
    for t in range(T - 1, -1, -1):
        for n in range(B):
            for j in range(H):
                i = acts[t, n, j]
                f = acts[t, n, H + j]
                g = acts[t, n, 2 * H + j]
                o = acts[t, n, 3 * H + j]
                tc = tcs[t, n, j]
                gh = dh[n, j] + d_out[t, n, j]
                dhs[t, n, j] = gh
                gc = dc[n, j] + gh * o * (1.0 - tc * tc)
                da[t, n, j] = gc * g * i * (1.0 - i)
                da[t, n, H + j] = gc * cs[t, n, j] * f * (1.0 - f)
                da[t, n, 2 * H + j] = gc * i * (1.0 - g * g)
                da[t, n, 3 * H + j] = gh * tc * o * (1.0 - o)
                dc[n, j] = gc * f
        np.dot(da[t], w_hh, dh)
    da2 = da.reshape(T * B, 4 * H)
    x2 = x.reshape(T * B, I)
    dx = np.dot(da2, w_ih).reshape(T, B, I)
    dw_ih = np.dot(da2.T, x2)
    dw_hh = np.dot(da2.T, hs[:T].reshape(T * B, H))
    db = da2.sum(axis=0)
    return dx, dw_ih, dw_hh, db, db.copy(), dh, dc, dhs
