"""Numba kernels of the Elman RNN:  h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).

Same signatures and results as :func:`fastrnn.reference.rnn_forward` / ``rnn_backward``;
:func:`forward_into` / :func:`backward_into` write into given arrays (the calling convention of
:mod:`fastrnn.cells`).

Layout of the work (shared by the LSTM and GRU kernels):

* forward: one GEMM for the input projection ``W_ih x_t`` of every step (``_forward_setup``); then
  the time loop (``_forward_loop``): per step one GEMM ``h_{t-1} @ W_hh^T`` and an elementwise pass
  (``_forward_step``) over the batch rows b, whose inner loop runs over contiguous hidden units j
  without branches so that LLVM vectorises it (``error_model="numpy"``; activations from
  :mod:`fastrnn.kernels.activations`);
* backward: the time loop (``_backward_loop``) going back in time: the elementwise pass
  (``_backward_step``) forms the pre-activation gradients, kept for every step, and sums the bias
  gradients as they are produced; then one GEMM for dh_{t-1}. After the loop, dx and the weight
  gradients are GEMMs over all T*B rows at once (:func:`fastrnn.kernels._gemm.weight_gradients`);
* the time loops are one per cell (ten lines each), not one shared loop taking the cell's step as
  an argument: Numba compiles such a loop, but never serves it from its on-disk cache (the type of
  a function argument differs in every process: checked with Numba 0.68, each new process missed
  the cache and wrote one more entry), so every process would compile the loops again. Besides,
  the steps take different arrays (c for the LSTM, the direct path dh ⊙ z for the GRU), and a
  loop per cell reads as its equations. What they share is shared: the GEMMs (:mod:`._gemm`), the
  JIT options (:mod:`._jit`) and the calling convention (:mod:`fastrnn.cells`);
* threads: only BLAS's, as configured. The elementwise passes stay on one thread: Numba's thread
  pool next to OpenBLAS's on the same cores lost more than it gained (measured; see
  benchmarks/README.md).
"""

import numpy as np
from numba import njit, prange

from fastrnn.kernels._gemm import is_zero, recurrent_product, weight_gradients
from fastrnn.kernels._jit import JIT, PARALLEL_JIT
from fastrnn.kernels.activations import tanh
from fastrnn.kernels._gemm import hidden_gradient, recurrent_weights  # the per-step products

# --------------------------------------------------------------------------------------------------
# forward
# --------------------------------------------------------------------------------------------------


@njit(**JIT)
def rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0, relu):
    """Forward pass. ``x (T, B, I)`` C-contiguous; returns ``hs (T+1, B, H)`` with ``hs[0] = h0``.

        a_t = W_ih x_t + W_hh h_{t-1} + (b_ih + b_hh)      h_t = tanh(a_t)  or  max(a_t, 0)
    """
    T, B, _ = x.shape
    hs = np.empty((T + 1, B, h0.shape[1]), dtype=x.dtype)
    forward_into(x, w_ih, w_hh, b_ih, b_hh, h0, relu, hs)
    return hs


@njit(**JIT)
def forward_into(x, w_ih, w_hh, b_ih, b_hh, h0, relu, hs):
    """:func:`rnn_forward` into a given ``hs``, on one thread (BLAS may use several)."""
    _forward_setup(x, w_ih, h0, hs)
    _forward_loop(w_hh, b_ih + b_hh, relu, hs)


@njit(**JIT)
def _forward_setup(x, w_ih, h0, hs):
    """h_0, and W_ih x_t of every step in one GEMM, into the slots of h_1..h_T (activated in place)."""
    T, B, I = x.shape
    hs[0] = h0
    np.dot(x.reshape(T * B, I), w_ih.T, hs[1:].reshape(T * B, hs.shape[2]))


@njit(**JIT)
def _forward_loop(w_hh, bias, relu, hs):
    """The time loop: per step ``h_{t-1} @ W_hh^T`` and the activation."""
    rec = np.empty((hs.shape[1], hs.shape[2]), dtype=hs.dtype)  # W_hh h_{t-1}
    w_rec = recurrent_weights(w_hh, hs.shape[1])  # packed once per sequence (if the shape uses it)
    h0_is_zero = is_zero(hs[0])
    for t in range(hs.shape[0] - 1):
        recurrent_product(hs[t], w_rec, rec, t == 0 and h0_is_zero)
        _forward_step(hs[t + 1], rec, bias, relu)


@njit(**JIT)
def _forward_step(h, rec, bias, relu):
    """One step's activation, (B, H) arrays: ``h`` holds W_ih x_t on entry and h_t on return;
    ``rec`` = W_hh h_{t-1}. (A function of its own: written inline in the time loop, LLVM stopped
    vectorising the loop over j.)"""
    zero = h.dtype.type(0.0)
    for b in range(h.shape[0]):
        h_b, rec_b = h[b], rec[b]
        if relu:
            for j in range(h.shape[1]):
                a = h_b[j] + rec_b[j] + bias[j]
                h_b[j] = a if a > zero else zero
        else:
            for j in range(h.shape[1]):
                h_b[j] = tanh(h_b[j] + rec_b[j] + bias[j])


# --------------------------------------------------------------------------------------------------
# backward
# --------------------------------------------------------------------------------------------------


@njit(**JIT)
def rnn_backward(x, w_ih, w_hh, hs, relu, d_out, d_hT):
    """BPTT. With ``dh`` the total gradient reaching h_t (``d_out[t]`` plus the path through h_{t+1})::

        da_t = dh ⊙ act'(a_t),  tanh' = 1 - h_t²,  relu' = [h_t > 0]
        dh_{t-1} = da_t @ W_hh      dW_ih = Σ_t da_tᵀ x_t     dW_hh = Σ_t da_tᵀ h_{t-1}     db = Σ_t da_t
    """
    T, B, I = x.shape
    H = hs.shape[2]
    dtype = x.dtype
    da, dhs, dx = np.empty((T, B, H), dtype), np.empty((T, B, H), dtype), np.empty((T, B, I), dtype)
    dw_ih, dw_hh = np.empty(w_ih.shape, dtype), np.empty(w_hh.shape, dtype)
    db_ih, db_hh = np.empty(H, dtype), np.empty(H, dtype)
    dh = d_hT.copy()
    backward_into(x, w_ih, w_hh, hs, relu, d_out, dh, da, dhs, dx, dw_ih, dw_hh, db_ih, db_hh, True)
    return dx, dw_ih, dw_hh, db_ih, db_hh, dh, dhs


@njit(**JIT)
def backward_into(x, w_ih, w_hh, hs, relu, d_out, dh, da, dhs, dx, dw_ih, dw_hh, db_ih, db_hh, need_dh0):
    """:func:`rnn_backward` into given arrays, on one thread (BLAS may use several). ``dh`` holds the
    gradient at h_T on entry and at h_0 on return (if ``need_dh0``; else it is left undefined);
    ``da`` is scratch."""
    _backward_loop(w_hh, hs, relu, d_out, dh, da, dhs, db_ih, need_dh0)
    db_hh[:] = db_ih  # both biases are added to the same pre-activation
    weight_gradients(x, w_ih, hs, da, da, dx, dw_ih, dw_hh)


@njit(**JIT)
def _backward_loop(w_hh, hs, relu, d_out, dh, da, dhs, db, need_dh0):
    """The time loop of BPTT; ``db`` gets Σ da over the batch and all steps. ``d_out`` may have one
    step only, then used for every step (a zero ``d_out`` costs no memory). The last GEMM, dh_0,
    only if ``need_dh0`` (a model's training step has no use for it)."""
    db[:] = 0
    db_t = np.empty(db.shape[0], dtype=db.dtype)
    for t in range(da.shape[0] - 1, -1, -1):
        d_out_t = d_out[t] if d_out.shape[0] > 1 else d_out[0]
        _backward_step(hs[t + 1], d_out_t, dh, da[t], dhs[t], db_t, relu)
        db += db_t  # summed per step, then over steps (as the reference does)
        if t > 0 or need_dh0:
            hidden_gradient(da[t], w_hh, dh)


@njit(**JIT)
def _backward_step(h, d_out, dh, da, dhs, db, relu):
    """The elementwise part of one BPTT step, (B, H) arrays: ``dhs = dh + d_out``,
    ``da = dhs ⊙ act'``, and the sums of ``da`` over the batch into ``db``."""
    one, zero = h.dtype.type(1.0), h.dtype.type(0.0)
    db[:] = zero
    for b in range(h.shape[0]):
        h_b, d_out_b, dh_b, da_b, dhs_b = h[b], d_out[b], dh[b], da[b], dhs[b]
        if relu:
            for j in range(h.shape[1]):
                g = dh_b[j] + d_out_b[j]
                dhs_b[j] = g
                v = g if h_b[j] > zero else zero
                da_b[j] = v
                db[j] += v
        else:
            for j in range(h.shape[1]):
                g = dh_b[j] + d_out_b[j]
                dhs_b[j] = g
                v = g * (one - h_b[j] * h_b[j])
                da_b[j] = v
                db[j] += v


# --------------------------------------------------------------------------------------------------
# a stack of M models: the same functions, one model per iteration of a parallel loop
# --------------------------------------------------------------------------------------------------


@njit(**PARALLEL_JIT)
def stack_forward_into(x, w_ih, w_hh, b_ih, b_hh, h0, relu, hs, active):
    """:func:`forward_into` of the models ``active`` (int64 indices) of a stack, in parallel over
    them. Every array has a leading model axis M (``x (M, T, B, I)``, ``w_hh (M, H, H)``, ...);
    model m's slices are computed exactly as :func:`forward_into` computes them alone."""
    for k in prange(active.shape[0]):
        m = active[k]
        forward_into(x[m], w_ih[m], w_hh[m], b_ih[m], b_hh[m], h0[m], relu, hs[m])


@njit(**PARALLEL_JIT)
def stack_backward_into(x, w_ih, w_hh, hs, relu, d_out, dh, da, dhs, dx, dw_ih, dw_hh, db_ih, db_hh, need_dh0,
                        active):
    """:func:`backward_into` of the models ``active`` of a stack, in parallel over them (arrays with
    a leading model axis M, as in :func:`stack_forward_into`)."""
    for k in prange(active.shape[0]):
        m = active[k]
        backward_into(x[m], w_ih[m], w_hh[m], hs[m], relu, d_out[m], dh[m], da[m], dhs[m], dx[m], dw_ih[m],
                      dw_hh[m], db_ih[m], db_hh[m], need_dh0)
