"""The Numba kernels as :mod:`fastrnn.functional` runs them: large arrays from the buffer pool
(:mod:`._workspace`). Same code and results as the public kernels (``lstm_forward`` etc., which
allocate fresh arrays).

Threads: only BLAS's, as configured (OPENBLAS_NUM_THREADS, threadpoolctl, ...); OpenBLAS itself runs
small GEMMs on one thread. Changing its thread count around the small GEMMs of the time loops was
tried and dropped: OpenBLAS parks its threads when the count goes down, and waking them again made
training steps 1.5-2x slower (measured, see benchmarks/README.md).
"""

from __future__ import annotations

import numpy as np

from fastrnn.kernels import gru, lstm, rnn
from fastrnn.kernels._finite import all_finite  # noqa: F401  (used by fastrnn.functional)
from fastrnn.kernels._workspace import POOL


def forward(cell, x, w_ih, w_hh, b_ih, b_hh, state0):
    """Returns the saved tuple of the cell's forward kernel (``hs`` first)."""
    T, B, _ = x.shape
    H = w_hh.shape[1]
    dt = x.dtype
    empty = POOL.empty
    hs = empty((T + 1, B, H), dt)
    if cell == "lstm":
        cs, tcs, acts = empty((T + 1, B, H), dt), empty((T, B, H), dt), empty((T, B, 4 * H), dt)
        lstm._forward(x, w_ih, w_hh, b_ih, b_hh, state0[0], state0[1], hs, cs, tcs, acts)
        return hs, cs, tcs, acts
    if cell == "gru":
        acts, hns = empty((T, B, 3 * H), dt), empty((T, B, H), dt)
        gru._forward(x, w_ih, w_hh, b_ih, b_hh, state0[0], hs, acts, hns)
        return hs, acts, hns
    rnn._forward(x, w_ih, w_hh, b_ih, b_hh, state0[0], cell == "rnn_relu", hs)
    return (hs,)


def backward(cell, x, w_ih, w_hh, saved, d_out, d_state, need_d_state0=True):
    """Returns ``dx, dw_ih, dw_hh, db_ih, db_hh, d_state0, dhs``; ``d_out=None`` means zeros.
    With ``need_d_state0=False`` the last GEMM (for dh_0) is skipped and ``d_state0`` is None."""
    T, B, I = x.shape
    H = w_hh.shape[1]
    dt = x.dtype
    empty = POOL.empty
    if d_out is None:
        d_out = np.zeros((1, B, H), dt)  # broadcast over the steps by the kernels
    dh = d_state[0].copy()  # the kernels overwrite it with dh_0
    dhs, dx = empty((T, B, H), dt), empty((T, B, I), dt)
    dw_ih, dw_hh = empty(w_ih.shape, dt), empty(w_hh.shape, dt)
    if cell == "lstm":
        dc = d_state[1].copy()
        db, da = np.empty(4 * H, dt), empty((T, B, 4 * H), dt)
        lstm._backward(x, w_ih, w_hh, *saved, d_out, dh, dc, da, dhs, dx, dw_ih, dw_hh, db, need_d_state0)
        return dx, dw_ih, dw_hh, db, db.copy(), (dh, dc) if need_d_state0 else None, dhs
    if cell == "gru":
        db_ih, db_hh = np.empty(3 * H, dt), np.empty(3 * H, dt)
        dgi, dgh = empty((T, B, 3 * H), dt), empty((T, B, 3 * H), dt)
        gru._backward(x, w_ih, w_hh, *saved, d_out, dh, dgi, dgh, dhs, dx, dw_ih, dw_hh, db_ih, db_hh,
                      need_d_state0)
        return dx, dw_ih, dw_hh, db_ih, db_hh, dh if need_d_state0 else None, dhs
    db, da = np.empty(H, dt), empty((T, B, H), dt)
    rnn._backward(x, w_ih, w_hh, saved[0], cell == "rnn_relu", d_out, dh, da, dhs, dx, dw_ih, dw_hh, db,
                  need_d_state0)
    return dx, dw_ih, dw_hh, db, db.copy(), dh if need_d_state0 else None, dhs
