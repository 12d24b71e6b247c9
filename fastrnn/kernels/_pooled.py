"""The Numba kernels as :mod:`fastrnn.functional` runs them: large arrays from the buffer pool
(:mod:`._workspace`). Same code and results as the public kernels (``lstm_forward`` etc., which
allocate fresh arrays). Nothing here knows a particular cell: the shapes of what a cell's forward
saves and of its backward's scratch come from its :mod:`fastrnn.cells` entry, and the kernels
follow the calling convention described there.

Threads: only BLAS's, as configured (OPENBLAS_NUM_THREADS, threadpoolctl, ...); OpenBLAS itself runs
small GEMMs on one thread. Changing its thread count around the small GEMMs of the time loops was
tried and dropped: OpenBLAS parks its threads when the count goes down, and waking them again made
training steps slower (measured, see benchmarks/README.md).
"""

from __future__ import annotations

import numpy as np

from fastrnn import cells
from fastrnn.kernels._finite import all_finite  # noqa: F401  (used by fastrnn.functional)
from fastrnn.kernels._workspace import POOL

_kernels = {}  # cell name -> (forward_into, backward_into)


def _into(cell):
    """The cell's Numba functions writing into given arrays (imported on first use)."""
    k = _kernels.get(cell.name)
    if k is None:
        k = _kernels[cell.name] = (cell.kernel_forward_into(), cell.kernel_backward_into())
    return k


def forward(cell, x, w_ih, w_hh, b_ih, b_hh, state0):
    """Returns the saved tuple of the cell's forward kernel (the state sequences first).

    ``cell`` is a :class:`fastrnn.cells.Cell`; ``state0`` a tuple of the initial state arrays."""
    T, B, _ = x.shape
    H = w_hh.shape[1]
    dt = x.dtype
    saved = tuple(POOL.empty((T + extra, B, width * H), dt) for _, extra, width in cell.saved)
    _into(cell)[0](x, w_ih, w_hh, b_ih, b_hh, *state0, *cell.static, *saved)
    return saved


def backward(cell, x, w_ih, w_hh, saved, d_out, d_state, need_d_state0=True):
    """Returns ``dx, dw_ih, dw_hh, db_ih, db_hh, d_state0, dhs``; ``d_out=None`` means zeros.
    ``d_state0`` is a tuple like ``d_state``, or None with ``need_d_state0=False``: the last GEMM
    (for dh_0) is then skipped."""
    T, B, I = x.shape
    H = w_hh.shape[1]
    dt = x.dtype
    empty = POOL.empty
    if d_out is None:
        d_out = np.zeros((1, B, H), dt)  # broadcast over the steps by the kernels
    ds = tuple(a.copy() for a in d_state)  # the kernels overwrite them with the initial state's
    scratch = tuple(empty((T, B, width * H), dt) for _, width in cell.scratch)
    dhs, dx = empty((T, B, H), dt), empty((T, B, I), dt)
    dw_ih, dw_hh = empty(w_ih.shape, dt), empty(w_hh.shape, dt)
    db_ih, db_hh = np.empty(w_hh.shape[0], dt), np.empty(w_hh.shape[0], dt)
    _into(cell)[1](x, w_ih, w_hh, *saved, *cell.static, d_out, *ds, *scratch, dhs, dx, dw_ih, dw_hh, db_ih, db_hh,
                   need_d_state0)
    return dx, dw_ih, dw_hh, db_ih, db_hh, ds if need_d_state0 else None, dhs
