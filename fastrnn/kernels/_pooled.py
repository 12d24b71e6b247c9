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

from fastrnn.kernels._finite import all_finite  # noqa: F401  (used by fastrnn.functional)
from fastrnn.kernels._workspace import POOL

_plans = {}  # cell name -> (forward_into, backward_into, saved layout, scratch widths, static arguments)
_stack_plans = {}  # cell name -> (stack_forward_into, stack_backward_into)


def _plan(cell):
    """What the pooled calls of ``cell`` need, looked up once (the kernels imported on first use)."""
    plan = _plans.get(cell.name)
    if plan is None:
        plan = _plans[cell.name] = (cell.kernel_forward_into(), cell.kernel_backward_into(),
                                    tuple((extra, width) for _, extra, width in cell.saved),
                                    tuple(width for _, width in cell.scratch), cell.static)
    return plan


def forward(cell, x, w_ih, w_hh, b_ih, b_hh, state0):
    """Returns the saved tuple of the cell's forward kernel (the state sequences first).

    ``cell`` is a :class:`fastrnn.cells.Cell`; ``state0`` a tuple of the initial state arrays."""
    forward_into, _, saved_layout, _, static = _plan(cell)
    T, B, _ = x.shape
    H = w_hh.shape[1]
    dt = x.dtype
    empty = POOL.empty
    saved = [empty((T + extra, B, width * H), dt) for extra, width in saved_layout]
    forward_into(x, w_ih, w_hh, b_ih, b_hh, *state0, *static, *saved)
    return tuple(saved)


def backward(cell, x, w_ih, w_hh, saved, d_out, d_state, need_d_state0=True):
    """Returns ``dx, dw_ih, dw_hh, db_ih, db_hh, d_state0, dhs``; ``d_out=None`` means zeros.
    ``d_state0`` is a tuple like ``d_state``, or None with ``need_d_state0=False``: the last GEMM
    (for dh_0) is then skipped."""
    _, backward_into, _, scratch_widths, static = _plan(cell)
    T, B, I = x.shape
    H = w_hh.shape[1]
    dt = x.dtype
    empty = POOL.empty
    if d_out is None:
        d_out = np.zeros((1, B, H), dt)  # broadcast over the steps by the kernels
    ds = [a.copy() for a in d_state]  # the kernels overwrite them with the initial state's
    scratch = [empty((T, B, width * H), dt) for width in scratch_widths]
    dhs, dx = empty((T, B, H), dt), empty((T, B, I), dt)
    dw_ih, dw_hh = empty(w_ih.shape, dt), empty(w_hh.shape, dt)
    db_ih, db_hh = np.empty(w_hh.shape[0], dt), np.empty(w_hh.shape[0], dt)
    backward_into(x, w_ih, w_hh, *saved, *static, d_out, *ds, *scratch, dhs, dx, dw_ih, dw_hh, db_ih, db_hh,
                  need_d_state0)
    return dx, dw_ih, dw_hh, db_ih, db_hh, tuple(ds) if need_d_state0 else None, dhs


def _stack_plan(cell):
    plan = _stack_plans.get(cell.name)
    if plan is None:
        plan = _stack_plans[cell.name] = (cell.kernel_stack_forward_into(), cell.kernel_stack_backward_into())
    return plan


def stack_forward(cell, x, w_ih, w_hh, b_ih, b_hh, state0, active):
    """:func:`forward` of the models ``active`` of a stack: every array with a leading model axis M
    (``x (M, T, B, I)``, ``w_ih (M, G*H, I)``, ``state0`` a tuple of ``(M, B, H)``), one kernel call
    parallel over the models. Returns the saved tuple, each array ``(M, ...)``; the entries of the
    models not in ``active`` are undefined."""
    _, _, saved_layout, _, static = _plan(cell)
    stack_forward_into, _ = _stack_plan(cell)
    M, T, B, _ = x.shape
    H = w_hh.shape[2]
    dt = x.dtype
    saved = [POOL.empty((M, T + extra, B, width * H), dt) for extra, width in saved_layout]
    stack_forward_into(x, w_ih, w_hh, b_ih, b_hh, *state0, *static, *saved, active)
    return tuple(saved)


def stack_backward(cell, x, w_ih, w_hh, saved, d_out, d_state, active):
    """:func:`backward` of the models ``active`` of a stack (arrays ``(M, ...)``), one kernel call
    parallel over the models, without the initial state's gradient. ``d_out=None`` means zeros.
    Returns ``dx, dw_ih, dw_hh, db_ih, db_hh, dhs``."""
    _, _, _, scratch_widths, static = _plan(cell)
    _, stack_backward_into = _stack_plan(cell)
    M, T, B, I = x.shape
    H = w_hh.shape[2]
    dt = x.dtype
    empty = POOL.empty
    if d_out is None:
        d_out = np.zeros((M, 1, B, H), dt)  # broadcast over the steps by the kernels
    ds = [a.copy() for a in d_state]  # the kernels overwrite them
    scratch = [empty((M, T, B, width * H), dt) for width in scratch_widths]
    dhs, dx = empty((M, T, B, H), dt), empty((M, T, B, I), dt)
    dw_ih, dw_hh = empty(w_ih.shape, dt), empty(w_hh.shape, dt)
    db_ih, db_hh = np.empty(w_hh.shape[:2], dt), np.empty(w_hh.shape[:2], dt)
    stack_backward_into(x, w_ih, w_hh, *saved, *static, d_out, *ds, *scratch, dhs, dx, dw_ih, dw_hh, db_ih, db_hh,
                        False, active)
    return dx, dw_ih, dw_hh, db_ih, db_hh, dhs
