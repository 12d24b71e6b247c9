"""Pure-NumPy reference kernels: the readable oracle for the Numba kernels.

Every function here has the same signature and returns the same arrays as its twin in
:mod:`fastrnn.kernels`, so the two can be swapped and compared element by element. The code is
written to read as the equations (PyTorch's ``nn.RNN``, ``nn.LSTM``, ``nn.GRU``), vectorised over the
batch, one time step per loop iteration; speed is not a goal.

Conventions (shared with :mod:`fastrnn.kernels`; the full calling convention, and where each cell's
functions are registered, is in :mod:`fastrnn.cells`):

* ``x`` is ``(T, B, I)``, C-contiguous; weights are PyTorch-shaped: ``w_ih (G*H, I)``,
  ``w_hh (G*H, H)``, biases ``(G*H,)``; states ``(B, H)``; all arrays share one float dtype.
* A forward returns ``hs``, ``(T+1, B, H)`` with ``hs[0] = h0`` and ``hs[t+1] = h_t``, plus the
  activations the backward pass needs. ``hs[1:]`` is the output sequence.
* A backward takes the upstream gradients ``d_out (T, B, H)`` and ``d_hT`` (and ``d_cT``) and returns
  ``dx, dw_ih, dw_hh, db_ih, db_hh, dh0`` (and ``dc0``), then ``dhs (T, B, H)``: the total gradient
  reaching each h_t (from the output and from later steps), which gradient-flow diagnostics report.
"""

from __future__ import annotations

import numpy as np


def sigmoid(v: np.ndarray) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-v))``, written through tanh so that it never overflows.

    Parameters
    ----------
    v : np.ndarray
        Any shape.

    Returns
    -------
    np.ndarray
        The same shape and dtype.
    """
    return 0.5 * (1.0 + np.tanh(0.5 * v))


# --------------------------------------------------------------------------------------------------
# Elman RNN:  h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),  act = tanh or relu
# --------------------------------------------------------------------------------------------------


def rnn_forward(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray,
                h0: np.ndarray, relu: bool) -> np.ndarray:
    """Forward pass of an Elman RNN (G = 1).

    Parameters
    ----------
    x : np.ndarray, shape (T, B, I)
        The input sequence, time-major, C-contiguous.
    w_ih : np.ndarray, shape (G*H, I)
        Input-to-hidden weights, the gate blocks stacked in the cell's order.
    w_hh : np.ndarray, shape (G*H, H)
        Hidden-to-hidden weights.
    b_ih, b_hh : np.ndarray, shape (H,)
        The two biases.
    h0 : np.ndarray, shape (B, H)
        The initial state.
    relu : bool
        ReLU instead of tanh.

    Returns
    -------
    np.ndarray, shape (T+1, B, H)
        ``hs``: ``hs[0] = h0``, ``hs[t+1] = h_t``.
    """
    T, B, _ = x.shape
    hs = np.empty((T + 1,) + h0.shape, dtype=x.dtype)
    hs[0] = h0
    for t in range(T):
        pre = x[t] @ w_ih.T + b_ih + hs[t] @ w_hh.T + b_hh
        hs[t + 1] = np.maximum(pre, 0.0) if relu else np.tanh(pre)
    return hs


def rnn_backward(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, hs: np.ndarray, relu: bool,
                 d_out: np.ndarray, d_hT: np.ndarray) -> tuple[np.ndarray, ...]:
    """BPTT of an Elman RNN.

    With ``a_t`` the pre-activation, ``dL/da_t = dL/dh_t * act'(a_t)`` where
    ``tanh'(a_t) = 1 - h_t**2`` and ``relu'(a_t) = [h_t > 0]``; then
    ``dL/dh_{t-1} = dL/da_t @ W_hh``, ``dW_ih += dL/da_t^T x_t``, ``dW_hh += dL/da_t^T h_{t-1}``.

    Parameters
    ----------
    x : np.ndarray, shape (T, B, I)
        The input sequence, time-major, C-contiguous.
    w_ih : np.ndarray, shape (G*H, I)
        Input-to-hidden weights, the gate blocks stacked in the cell's order.
    w_hh : np.ndarray, shape (G*H, H)
        Hidden-to-hidden weights.
    hs : np.ndarray, shape (T+1, B, H)
        What :func:`rnn_forward` returned.
    relu : bool
        As given to the forward.
    d_out : np.ndarray, shape (T, B, H)
        Gradient of the loss w.r.t. the outputs ``hs[1:]``.
    d_hT : np.ndarray, shape (B, H)
        Gradient w.r.t. the final state.

    Returns
    -------
    dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dhs : np.ndarray
        Shapes ``(T, B, I)``, ``(H, I)``, ``(H, H)``, ``(H,)``, ``(H,)``, ``(B, H)``, ``(T, B, H)``;
        ``dhs[t]`` is the total gradient reaching ``h_t``.
    """
    T = x.shape[0]
    dw_ih, dw_hh = np.zeros_like(w_ih), np.zeros_like(w_hh)
    db = np.zeros(w_hh.shape[0], dtype=x.dtype)
    dx = np.empty_like(x)
    dhs = np.empty((T,) + d_hT.shape, dtype=x.dtype)
    dh = d_hT.copy()
    for t in reversed(range(T)):
        dh = dh + d_out[t]
        dhs[t] = dh
        h = hs[t + 1]
        da = dh * (h > 0) if relu else dh * (1.0 - h * h)
        dx[t] = da @ w_ih
        dw_ih += da.T @ x[t]
        dw_hh += da.T @ hs[t]
        db += da.sum(axis=0)
        dh = da @ w_hh
    return dx, dw_ih, dw_hh, db, db.copy(), dh, dhs


# --------------------------------------------------------------------------------------------------
# LSTM (gate order i, f, g, o as in PyTorch):
#   i = σ(W_ii x + b_ii + W_hi h + b_hi)    f = σ(W_if x + b_if + W_hf h + b_hf)
#   g = tanh(W_ig x + b_ig + W_hg h + b_hg)  o = σ(W_io x + b_io + W_ho h + b_ho)
#   c' = f ⊙ c + i ⊙ g                       h' = o ⊙ tanh(c')
# --------------------------------------------------------------------------------------------------


def lstm_forward(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray,
                 h0: np.ndarray, c0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Forward pass of an LSTM (G = 4, gates i, f, g, o).

    Parameters
    ----------
    x : np.ndarray, shape (T, B, I)
        The input sequence, time-major, C-contiguous.
    w_ih : np.ndarray, shape (G*H, I)
        Input-to-hidden weights, the gate blocks stacked in the cell's order.
    w_hh : np.ndarray, shape (G*H, H)
        Hidden-to-hidden weights.
    b_ih, b_hh : np.ndarray, shape (4H,)
        The two biases.
    h0, c0 : np.ndarray, shape (B, H)
        The initial hidden and cell states.

    Returns
    -------
    hs : np.ndarray, shape (T+1, B, H)
        ``hs[0] = h0``, ``hs[t+1] = h_t``.
    cs : np.ndarray, shape (T+1, B, H)
        The cell states, ``cs[0] = c0``.
    tcs : np.ndarray, shape (T, B, H)
        tanh(c_t).
    acts : np.ndarray, shape (T, B, 4H)
        The activated gates [i, f, g, o] of every step.
    """
    T, B, _ = x.shape
    H = h0.shape[1]
    hs = np.empty((T + 1, B, H), dtype=x.dtype)
    cs = np.empty((T + 1, B, H), dtype=x.dtype)
    tcs = np.empty((T, B, H), dtype=x.dtype)
    acts = np.empty((T, B, 4 * H), dtype=x.dtype)
    hs[0], cs[0] = h0, c0
    for t in range(T):
        a = x[t] @ w_ih.T + b_ih + hs[t] @ w_hh.T + b_hh
        i, f, g, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
        cs[t + 1] = f * cs[t] + i * g
        tcs[t] = np.tanh(cs[t + 1])
        hs[t + 1] = o * tcs[t]
        acts[t] = np.concatenate([i, f, g, o], axis=1)
    return hs, cs, tcs, acts


def lstm_backward(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, hs: np.ndarray, cs: np.ndarray,
                  tcs: np.ndarray, acts: np.ndarray, d_out: np.ndarray, d_hT: np.ndarray,
                  d_cT: np.ndarray) -> tuple[np.ndarray, ...]:
    """BPTT of an LSTM.

    Per step, going back in time with ``dh`` and ``dc`` the gradients reaching h_t and c_t::

        do = dh ⊙ tanh(c_t)            dc += dh ⊙ o ⊙ (1 - tanh(c_t)^2)
        di = dc ⊙ g    df = dc ⊙ c_{t-1}    dg = dc ⊙ i
        da = [di ⊙ i(1-i), df ⊙ f(1-f), dg ⊙ (1-g^2), do ⊙ o(1-o)]   (pre-activation gradients)
        dc_{t-1} = dc ⊙ f                dh_{t-1} = da @ W_hh

    Parameters
    ----------
    x : np.ndarray, shape (T, B, I)
        The input sequence, time-major, C-contiguous.
    w_ih : np.ndarray, shape (G*H, I)
        Input-to-hidden weights, the gate blocks stacked in the cell's order.
    w_hh : np.ndarray, shape (G*H, H)
        Hidden-to-hidden weights.
    hs, cs, tcs, acts : np.ndarray
        What :func:`lstm_forward` returned.
    d_out : np.ndarray, shape (T, B, H)
        Gradient of the loss w.r.t. the outputs ``hs[1:]``.
    d_hT, d_cT : np.ndarray, shape (B, H)
        Gradients w.r.t. the final hidden and cell states.

    Returns
    -------
    dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0, dhs : np.ndarray
        Shapes ``(T, B, I)``, ``(4H, I)``, ``(4H, H)``, ``(4H,)``, ``(4H,)``, ``(B, H)``, ``(B, H)``,
        ``(T, B, H)``; ``dhs[t]`` is the total gradient reaching ``h_t``.
    """
    T = x.shape[0]
    H = hs.shape[2]
    dw_ih, dw_hh = np.zeros_like(w_ih), np.zeros_like(w_hh)
    db = np.zeros(4 * H, dtype=x.dtype)
    dx = np.empty_like(x)
    dhs = np.empty((T,) + d_hT.shape, dtype=x.dtype)
    dh, dc = d_hT.copy(), d_cT.copy()
    for t in reversed(range(T)):
        dh = dh + d_out[t]
        dhs[t] = dh
        i, f, g, o = acts[t, :, :H], acts[t, :, H:2 * H], acts[t, :, 2 * H:3 * H], acts[t, :, 3 * H:]
        tc = tcs[t]
        do = dh * tc
        dc = dc + dh * o * (1.0 - tc * tc)
        di, df, dg = dc * g, dc * cs[t], dc * i
        da = np.concatenate([di * i * (1.0 - i), df * f * (1.0 - f), dg * (1.0 - g * g), do * o * (1.0 - o)], axis=1)
        dx[t] = da @ w_ih
        dw_ih += da.T @ x[t]
        dw_hh += da.T @ hs[t]
        db += da.sum(axis=0)
        dc = dc * f
        dh = da @ w_hh
    return dx, dw_ih, dw_hh, db, db.copy(), dh, dc, dhs


# --------------------------------------------------------------------------------------------------
# GRU (gate order r, z, n as in PyTorch):
#   r = σ(W_ir x + b_ir + W_hr h + b_hr)     z = σ(W_iz x + b_iz + W_hz h + b_hz)
#   n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
#   h' = (1 - z) ⊙ n + z ⊙ h
# --------------------------------------------------------------------------------------------------


def gru_forward(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray,
                h0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward pass of a GRU (G = 3, gates r, z, n).

    Parameters
    ----------
    x : np.ndarray, shape (T, B, I)
        The input sequence, time-major, C-contiguous.
    w_ih : np.ndarray, shape (G*H, I)
        Input-to-hidden weights, the gate blocks stacked in the cell's order.
    w_hh : np.ndarray, shape (G*H, H)
        Hidden-to-hidden weights.
    b_ih, b_hh : np.ndarray, shape (3H,)
        The two biases (kept apart: ``b_hn`` is inside ``r ⊙ (...)``).
    h0 : np.ndarray, shape (B, H)
        The initial state.

    Returns
    -------
    hs : np.ndarray, shape (T+1, B, H)
        ``hs[0] = h0``, ``hs[t+1] = h_t``.
    acts : np.ndarray, shape (T, B, 3H)
        The activated gates [r, z, n] of every step.
    hns : np.ndarray, shape (T, B, H)
        W_hn h_{t-1} + b_hn, which the gradient of r needs.
    """
    T, B, _ = x.shape
    H = h0.shape[1]
    hs = np.empty((T + 1, B, H), dtype=x.dtype)
    acts = np.empty((T, B, 3 * H), dtype=x.dtype)
    hns = np.empty((T, B, H), dtype=x.dtype)
    hs[0] = h0
    for t in range(T):
        gi = x[t] @ w_ih.T + b_ih
        gh = hs[t] @ w_hh.T + b_hh
        r = sigmoid(gi[:, :H] + gh[:, :H])
        z = sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        hn = gh[:, 2 * H:]
        n = np.tanh(gi[:, 2 * H:] + r * hn)
        hs[t + 1] = (1.0 - z) * n + z * hs[t]
        acts[t] = np.concatenate([r, z, n], axis=1)
        hns[t] = hn
    return hs, acts, hns


def gru_backward(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, hs: np.ndarray, acts: np.ndarray,
                 hns: np.ndarray, d_out: np.ndarray, d_hT: np.ndarray) -> tuple[np.ndarray, ...]:
    """BPTT of a GRU.

    Per step, with ``dh`` the gradient reaching h_t::

        dn = dh ⊙ (1 - z)      dz = dh ⊙ (h_{t-1} - n)
        dan = dn ⊙ (1 - n^2)   dar = dan ⊙ hn ⊙ r(1-r)   daz = dz ⊙ z(1-z)
        input side:  dgi = [dar, daz, dan]          (gradient of W_ih x + b_ih)
        hidden side: dgh = [dar, daz, dan ⊙ r]      (gradient of W_hh h + b_hh)
        dh_{t-1} = dh ⊙ z + dgh @ W_hh

    Parameters
    ----------
    x : np.ndarray, shape (T, B, I)
        The input sequence, time-major, C-contiguous.
    w_ih : np.ndarray, shape (G*H, I)
        Input-to-hidden weights, the gate blocks stacked in the cell's order.
    w_hh : np.ndarray, shape (G*H, H)
        Hidden-to-hidden weights.
    hs, acts, hns : np.ndarray
        What :func:`gru_forward` returned.
    d_out : np.ndarray, shape (T, B, H)
        Gradient of the loss w.r.t. the outputs ``hs[1:]``.
    d_hT : np.ndarray, shape (B, H)
        Gradient w.r.t. the final state.

    Returns
    -------
    dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dhs : np.ndarray
        Shapes ``(T, B, I)``, ``(3H, I)``, ``(3H, H)``, ``(3H,)``, ``(3H,)``, ``(B, H)``, ``(T, B, H)``;
        ``dhs[t]`` is the total gradient reaching ``h_t``.
    """
    T = x.shape[0]
    H = hs.shape[2]
    dw_ih, dw_hh = np.zeros_like(w_ih), np.zeros_like(w_hh)
    db_ih = np.zeros(3 * H, dtype=x.dtype)
    db_hh = np.zeros(3 * H, dtype=x.dtype)
    dx = np.empty_like(x)
    dhs = np.empty((T,) + d_hT.shape, dtype=x.dtype)
    dh = d_hT.copy()
    for t in reversed(range(T)):
        dh = dh + d_out[t]
        dhs[t] = dh
        r, z, n = acts[t, :, :H], acts[t, :, H:2 * H], acts[t, :, 2 * H:]
        dn = dh * (1.0 - z)
        dz = dh * (hs[t] - n)
        dan = dn * (1.0 - n * n)
        dar = dan * hns[t] * r * (1.0 - r)
        daz = dz * z * (1.0 - z)
        dgi = np.concatenate([dar, daz, dan], axis=1)
        dgh = np.concatenate([dar, daz, dan * r], axis=1)
        dx[t] = dgi @ w_ih
        dw_ih += dgi.T @ x[t]
        dw_hh += dgh.T @ hs[t]
        db_ih += dgi.sum(axis=0)
        db_hh += dgh.sum(axis=0)
        dh = dh * z + dgh @ w_hh
    return dx, dw_ih, dw_hh, db_ih, db_hh, dh, dhs
