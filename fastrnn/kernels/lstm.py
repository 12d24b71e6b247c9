"""Numba kernels of the LSTM (PyTorch gate order i, f, g, o)::

    i = σ(W_ii x + b_ii + W_hi h + b_hi)     f = σ(W_if x + b_if + W_hf h + b_hf)
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)  o = σ(W_io x + b_io + W_ho h + b_ho)
    c' = f ⊙ c + i ⊙ g                        h' = o ⊙ tanh(c')

Same signatures and results as :func:`fastrnn.reference.lstm_forward` / ``lstm_backward``;
:func:`forward_into` / :func:`backward_into` write into given arrays. The layout of the work is
described in :mod:`fastrnn.kernels.rnn`.
"""

import numpy as np
from numba import njit, prange

from fastrnn.kernels._gemm import is_zero, recurrent_product, weight_gradients
from fastrnn.kernels._jit import JIT, PARALLEL_JIT
from fastrnn.kernels.activations import sigmoid, tanh
from fastrnn.kernels._gemm import hidden_gradient, recurrent_weights  # the per-step products


# --------------------------------------------------------------------------------------------------
# forward
# --------------------------------------------------------------------------------------------------


@njit(**JIT)
def lstm_forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0):
    """Forward pass. Returns ``hs, cs (T+1, B, H)``, ``tcs = tanh(c_t) (T, B, H)`` and the activated
    gates ``acts (T, B, 4H)``."""
    T, B, _ = x.shape
    H = h0.shape[1]
    hs, cs = np.empty((T + 1, B, H), dtype=x.dtype), np.empty((T + 1, B, H), dtype=x.dtype)
    tcs, acts = np.empty((T, B, H), dtype=x.dtype), np.empty((T, B, 4 * H), dtype=x.dtype)
    forward_into(x, w_ih, w_hh, b_ih, b_hh, h0, c0, hs, cs, tcs, acts)
    return hs, cs, tcs, acts


@njit(**JIT)
def forward_into(x, w_ih, w_hh, b_ih, b_hh, h0, c0, hs, cs, tcs, acts):
    """:func:`lstm_forward` into given arrays, on one thread (BLAS may use several)."""
    _forward_setup(x, w_ih, h0, c0, hs, cs, acts)
    _forward_loop(w_hh, b_ih + b_hh, hs, cs, tcs, acts)


@njit(**JIT)
def _forward_setup(x, w_ih, h0, c0, hs, cs, acts):
    """h_0, c_0, and W_ih x_t of every step in one GEMM, into ``acts``."""
    T, B, I = x.shape
    hs[0] = h0
    cs[0] = c0
    np.dot(x.reshape(T * B, I), w_ih.T, acts.reshape(T * B, acts.shape[2]))


@njit(**JIT)
def _forward_loop(w_hh, bias, hs, cs, tcs, acts):
    """The time loop: per step one GEMM ``h_{t-1} @ W_hh^T``, then the gates. ``bias = b_ih + b_hh``;
    ``acts`` holds W_ih x_t on entry."""
    rec = np.empty((hs.shape[1], acts.shape[2]), dtype=acts.dtype)  # W_hh h_{t-1}
    w_rec = recurrent_weights(w_hh, hs.shape[1])  # packed once per sequence (if the shape uses it)
    h0_is_zero = is_zero(hs[0])
    for t in range(acts.shape[0]):
        recurrent_product(hs[t], w_rec, rec, t == 0 and h0_is_zero)
        _forward_step(acts[t], rec, bias, cs[t], cs[t + 1], tcs[t], hs[t + 1])


@njit(**JIT)
def _forward_step(a, rec, bias, c_prev, c_new, tc_new, h_new):
    """The gate math of one step, all (B, ·) arrays: ``a`` holds W_ih x_t on entry and the
    activated gates [i, f, g, o] on return; ``rec`` = W_hh h_{t-1}; writes c_t, tanh(c_t) and h_t.

    A function of its own: written inline in the time loop, LLVM stopped vectorising the loop over j.
    """
    H = h_new.shape[1]
    bi, bf, bg, bo = bias[:H], bias[H:2 * H], bias[2 * H:3 * H], bias[3 * H:]
    for b in range(a.shape[0]):
        ai, af, ag, ao = a[b, :H], a[b, H:2 * H], a[b, 2 * H:3 * H], a[b, 3 * H:]
        ri, rf, rg, ro = rec[b, :H], rec[b, H:2 * H], rec[b, 2 * H:3 * H], rec[b, 3 * H:]
        cp, cn, tcn, hn = c_prev[b], c_new[b], tc_new[b], h_new[b]
        for j in range(H):
            i = sigmoid(ai[j] + ri[j] + bi[j])
            f = sigmoid(af[j] + rf[j] + bf[j])
            g = tanh(ag[j] + rg[j] + bg[j])
            o = sigmoid(ao[j] + ro[j] + bo[j])
            c = f * cp[j] + i * g
            tc = tanh(c)
            ai[j], af[j], ag[j], ao[j] = i, f, g, o
            cn[j] = c
            tcn[j] = tc
            hn[j] = o * tc


# --------------------------------------------------------------------------------------------------
# backward
# --------------------------------------------------------------------------------------------------


@njit(**JIT)
def lstm_backward(x, w_ih, w_hh, hs, cs, tcs, acts, d_out, d_hT, d_cT):
    """BPTT. Per step, with ``dh``, ``dc`` the gradients reaching h_t and c_t::

        dh += d_out[t]                 dc += dh ⊙ o ⊙ (1 - tanh(c_t)²)
        da = [dc⊙g ⊙ i(1-i), dc⊙c_{t-1} ⊙ f(1-f), dc⊙i ⊙ (1-g²), dh⊙tanh(c_t) ⊙ o(1-o)]
        dc_{t-1} = dc ⊙ f              dh_{t-1} = da @ W_hh

    The gate gradients ``da`` of every step are kept; the weight gradients are GEMMs over all T*B
    rows after the time loop; ``db = Σ_t da_t`` is summed per step as it is produced.
    """
    T, B, I = x.shape
    H = hs.shape[2]
    dtype = x.dtype
    da, dhs, dx = np.empty((T, B, 4 * H), dtype), np.empty((T, B, H), dtype), np.empty((T, B, I), dtype)
    dw_ih, dw_hh = np.empty(w_ih.shape, dtype), np.empty(w_hh.shape, dtype)
    db_ih, db_hh = np.empty(4 * H, dtype), np.empty(4 * H, dtype)
    dh, dc = d_hT.copy(), d_cT.copy()
    backward_into(x, w_ih, w_hh, hs, cs, tcs, acts, d_out, dh, dc, da, dhs, dx, dw_ih, dw_hh, db_ih, db_hh, True)
    return dx, dw_ih, dw_hh, db_ih, db_hh, dh, dc, dhs


@njit(**JIT)
def backward_into(x, w_ih, w_hh, hs, cs, tcs, acts, d_out, dh, dc, da, dhs, dx, dw_ih, dw_hh, db_ih, db_hh,
                  need_dh0):
    """:func:`lstm_backward` into given arrays, on one thread (BLAS may use several). ``dh``, ``dc``
    hold the gradients at h_T, c_T on entry and at h_0, c_0 on return (if ``need_dh0``; else ``dh``
    is left undefined); ``da`` is scratch."""
    _backward_loop(w_hh, cs, tcs, acts, d_out, dh, dc, da, dhs, db_ih, need_dh0)
    db_hh[:] = db_ih  # both biases are added to the same pre-activations
    weight_gradients(x, w_ih, hs, da, da, dx, dw_ih, dw_hh)


@njit(**JIT)
def _backward_loop(w_hh, cs, tcs, acts, d_out, dh, dc, da, dhs, db, need_dh0):
    """The time loop of BPTT; ``db`` gets Σ da over the batch and all steps. ``d_out`` may have one
    step only, then used for every step (a zero ``d_out`` costs no memory). The last GEMM, dh_0,
    only if ``need_dh0`` (a model's training step has no use for it)."""
    db[:] = 0
    db_t = np.empty(db.shape[0], dtype=db.dtype)
    for t in range(acts.shape[0] - 1, -1, -1):
        d_out_t = d_out[t] if d_out.shape[0] > 1 else d_out[0]
        _backward_step(acts[t], tcs[t], cs[t], d_out_t, dh, dc, da[t], dhs[t], db_t)
        db += db_t  # summed per step, then over steps (as the reference does)
        if t > 0 or need_dh0:
            hidden_gradient(da[t], w_hh, dh)


@njit(**JIT)
def _backward_step(a, tc, c_prev, d_out, dh, dc, da, dhs, db):
    """The elementwise part of one BPTT step, all (B, ·) arrays. On entry ``dh``, ``dc`` are the
    gradients arriving from step t+1; writes the gate gradients ``da``, the total ``dhs = dh + d_out``,
    ``dc`` ← dc_{t-1} and the sums of ``da`` over the batch into ``db``."""
    H = tc.shape[1]
    one = a.dtype.type(1.0)
    db[:] = 0
    dbi, dbf, dbg, dbo = db[:H], db[H:2 * H], db[2 * H:3 * H], db[3 * H:]
    for b in range(a.shape[0]):
        ai, af, ag, ao = a[b, :H], a[b, H:2 * H], a[b, 2 * H:3 * H], a[b, 3 * H:]
        di, df, dg, do = da[b, :H], da[b, H:2 * H], da[b, 2 * H:3 * H], da[b, 3 * H:]
        tcr, cp, dout, g_row, dh_row, dc_row = tc[b], c_prev[b], d_out[b], dhs[b], dh[b], dc[b]
        for j in range(H):
            i, f, g, o, tcj = ai[j], af[j], ag[j], ao[j], tcr[j]
            gh = dh_row[j] + dout[j]
            g_row[j] = gh
            gc = dc_row[j] + gh * o * (one - tcj * tcj)
            vi = gc * g * i * (one - i)
            vf = gc * cp[j] * f * (one - f)
            vg = gc * i * (one - g * g)
            vo = gh * tcj * o * (one - o)
            di[j], df[j], dg[j], do[j] = vi, vf, vg, vo
            dbi[j] += vi
            dbf[j] += vf
            dbg[j] += vg
            dbo[j] += vo
            dc_row[j] = gc * f


# --------------------------------------------------------------------------------------------------
# a stack of M models: the same functions, one model per iteration of a parallel loop
# --------------------------------------------------------------------------------------------------


@njit(**PARALLEL_JIT)
def stack_forward_into(x, w_ih, w_hh, b_ih, b_hh, h0, c0, hs, cs, tcs, acts, active):
    """:func:`forward_into` of the models ``active`` (int64 indices) of a stack, in parallel over
    them. Every array has a leading model axis M (``x (M, T, B, I)``, ``w_hh (M, 4H, H)``, ...);
    model m's slices are computed exactly as :func:`forward_into` computes them alone."""
    for k in prange(active.shape[0]):
        m = active[k]
        forward_into(x[m], w_ih[m], w_hh[m], b_ih[m], b_hh[m], h0[m], c0[m], hs[m], cs[m], tcs[m], acts[m])


@njit(**PARALLEL_JIT)
def stack_backward_into(x, w_ih, w_hh, hs, cs, tcs, acts, d_out, dh, dc, da, dhs, dx, dw_ih, dw_hh, db_ih, db_hh,
                        need_dh0, active):
    """:func:`backward_into` of the models ``active`` of a stack, in parallel over them (arrays with
    a leading model axis M, as in :func:`stack_forward_into`)."""
    for k in prange(active.shape[0]):
        m = active[k]
        backward_into(x[m], w_ih[m], w_hh[m], hs[m], cs[m], tcs[m], acts[m], d_out[m], dh[m], dc[m], da[m], dhs[m],
                      dx[m], dw_ih[m], dw_hh[m], db_ih[m], db_hh[m], need_dh0)
