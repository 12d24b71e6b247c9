"""Numba kernels of the GRU (PyTorch gate order r, z, n)::

    r = σ(W_ir x + b_ir + W_hr h + b_hr)     z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
    h' = (1 - z) ⊙ n + z ⊙ h

Same signatures and results as :func:`fastrnn.reference.gru_forward` / ``gru_backward``;
:func:`forward_into` / :func:`backward_into` write into given arrays. The layout of the work is
described in :mod:`fastrnn.kernels.rnn`. Names follow the equations: ``b`` is a batch row, ``j`` a
hidden unit, ``n`` the candidate gate, ``hn`` = W_hn h + b_hn, ``dar``/``daz``/``dan`` the
gradients of the gates' pre-activations.
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
def gru_forward(x, w_ih, w_hh, b_ih, b_hh, h0):
    """Forward pass. Returns ``hs (T+1, B, H)``, the activated gates ``acts (T, B, 3H)`` [r, z, n] and
    ``hns (T, B, H)`` = W_hn h_{t-1} + b_hn."""
    T, B, _ = x.shape
    H = h0.shape[1]
    hs, acts, hns = np.empty((T + 1, B, H), x.dtype), np.empty((T, B, 3 * H), x.dtype), np.empty((T, B, H), x.dtype)
    forward_into(x, w_ih, w_hh, b_ih, b_hh, h0, hs, acts, hns)
    return hs, acts, hns


@njit(**JIT)
def forward_into(x, w_ih, w_hh, b_ih, b_hh, h0, hs, acts, hns):
    """:func:`gru_forward` into given arrays, on one thread (BLAS may use several)."""
    _forward_setup(x, w_ih, h0, hs, acts)
    _forward_loop(w_hh, _biases(b_ih, b_hh), hs, acts, hns)


@njit(**JIT)
def _biases(b_ih, b_hh):
    """The biases as the step uses them: [b_ir + b_hr, b_iz + b_hz, b_in, b_hn] (4H)."""
    H = b_ih.shape[0] // 3
    b = np.empty(4 * H, dtype=b_ih.dtype)
    b[:2 * H] = b_ih[:2 * H] + b_hh[:2 * H]
    b[2 * H:3 * H] = b_ih[2 * H:]
    b[3 * H:] = b_hh[2 * H:]
    return b


@njit(**JIT)
def _forward_setup(x, w_ih, h0, hs, acts):
    """h_0, and W_ih x_t of every step in one GEMM, into ``acts``."""
    T, B, I = x.shape
    hs[0] = h0
    np.dot(x.reshape(T * B, I), w_ih.T, acts.reshape(T * B, acts.shape[2]))


@njit(**JIT)
def _forward_loop(w_hh, bias, hs, acts, hns):
    """The time loop: per step one GEMM ``h_{t-1} @ W_hh^T``, then the gates. ``bias`` from
    :func:`_biases`; ``acts`` holds W_ih x_t on entry."""
    rec = np.empty((hs.shape[1], acts.shape[2]), dtype=acts.dtype)  # W_hh h_{t-1}
    w_rec = recurrent_weights(w_hh, hs.shape[1])  # packed once per sequence (if the shape uses it)
    h0_is_zero = is_zero(hs[0])
    for t in range(acts.shape[0]):
        recurrent_product(hs[t], w_rec, rec, t == 0 and h0_is_zero)
        _forward_step(acts[t], rec, bias, hs[t], hs[t + 1], hns[t])


@njit(**JIT)
def _forward_step(a, rec, bias, h_prev, h_new, hns):
    """The gate math of one step, (B, ·) arrays: ``a`` holds W_ih x_t on entry and the activated
    gates [r, z, n] on return; ``rec`` = W_hh h_{t-1}; writes h_t and hn = W_hn h_{t-1} + b_hn.
    (A function of its own: written inline in the time loop, LLVM stopped vectorising the loop.)"""
    H = h_new.shape[1]
    one = a.dtype.type(1.0)
    b_r, b_z, b_in, b_hn = bias[:H], bias[H:2 * H], bias[2 * H:3 * H], bias[3 * H:]
    for b in range(a.shape[0]):
        ar, az, an = a[b, :H], a[b, H:2 * H], a[b, 2 * H:]  # W_i· x_t in, the gates r, z, n out
        rec_r, rec_z, rec_n = rec[b, :H], rec[b, H:2 * H], rec[b, 2 * H:]  # W_h· h_{t-1}
        h_prev_b, h_new_b, hn_b = h_prev[b], h_new[b], hns[b]
        for j in range(H):
            r = sigmoid(ar[j] + rec_r[j] + b_r[j])
            z = sigmoid(az[j] + rec_z[j] + b_z[j])
            hn = rec_n[j] + b_hn[j]
            n = tanh(an[j] + b_in[j] + r * hn)
            ar[j], az[j], an[j] = r, z, n
            hn_b[j] = hn
            h_new_b[j] = (one - z) * n + z * h_prev_b[j]


# --------------------------------------------------------------------------------------------------
# backward
# --------------------------------------------------------------------------------------------------


@njit(**JIT)
def gru_backward(x, w_ih, w_hh, hs, acts, hns, d_out, d_hT):
    """BPTT. Per step, with ``dh`` the gradient reaching h_t (``d_out[t]`` included)::

        dn = dh ⊙ (1 - z)      dz = dh ⊙ (h_{t-1} - n)
        dan = dn ⊙ (1 - n²)    dar = dan ⊙ hn ⊙ r(1-r)   daz = dz ⊙ z(1-z)
        dgi = [dar, daz, dan]          (gradient of W_ih x + b_ih)
        dgh = [dar, daz, dan ⊙ r]      (gradient of W_hh h + b_hh)
        dh_{t-1} = dh ⊙ z + dgh @ W_hh

    Both gate gradients of every step are kept; the weight gradients are GEMMs over all T*B rows
    after the time loop; the bias gradients are summed per step as they are produced.
    """
    T, B, I = x.shape
    H = hs.shape[2]
    dtype = x.dtype
    dgi, dgh = np.empty((T, B, 3 * H), dtype), np.empty((T, B, 3 * H), dtype)
    dhs, dx = np.empty((T, B, H), dtype), np.empty((T, B, I), dtype)
    dw_ih, dw_hh = np.empty(w_ih.shape, dtype), np.empty(w_hh.shape, dtype)
    db_ih, db_hh = np.empty(3 * H, dtype), np.empty(3 * H, dtype)
    dh = d_hT.copy()
    backward_into(x, w_ih, w_hh, hs, acts, hns, d_out, dh, dgi, dgh, dhs, dx, dw_ih, dw_hh, db_ih, db_hh, True)
    return dx, dw_ih, dw_hh, db_ih, db_hh, dh, dhs


@njit(**JIT)
def backward_into(x, w_ih, w_hh, hs, acts, hns, d_out, dh, dgi, dgh, dhs, dx, dw_ih, dw_hh, db_ih, db_hh,
                  need_dh0):
    """:func:`gru_backward` into given arrays, on one thread (BLAS may use several). ``dh`` holds the
    gradient at h_T on entry and at h_0 on return (if ``need_dh0``; else it is left undefined);
    ``dgi``, ``dgh`` are scratch."""
    db = np.empty(4 * acts.shape[2] // 3, dtype=x.dtype)
    _backward_loop(w_hh, hs, acts, hns, d_out, dh, dgi, dgh, dhs, db, need_dh0)
    _bias_gradients(db, db_ih, db_hh)
    weight_gradients(x, w_ih, hs, dgi, dgh, dx, dw_ih, dw_hh)


@njit(**JIT)
def _backward_loop(w_hh, hs, acts, hns, d_out, dh, dgi, dgh, dhs, db, need_dh0):
    """The time loop of BPTT; ``db`` (4H) gets the sums over the batch and all steps of
    [dar, daz, dan, dan ⊙ r]. ``d_out`` may have one step only, then used for every step (a zero
    ``d_out`` costs no memory). The last GEMM, for dh_0, only if ``need_dh0``."""
    db[:] = 0
    db_t = np.empty(db.shape[0], dtype=db.dtype)
    dh_z = np.empty_like(dh)  # dh ⊙ z, the direct path to h_{t-1}
    for t in range(acts.shape[0] - 1, -1, -1):
        d_out_t = d_out[t] if d_out.shape[0] > 1 else d_out[0]
        _backward_step(acts[t], hns[t], hs[t], d_out_t, dh, dgi[t], dgh[t], dhs[t], dh_z, db_t)
        db += db_t  # summed per step, then over steps (as the reference does)
        if t > 0 or need_dh0:
            hidden_gradient(dgh[t], w_hh, dh)
            dh += dh_z


@njit(**JIT)
def _bias_gradients(db, db_ih, db_hh):
    """db_ih = [Σ dar, Σ daz, Σ dan], db_hh = [Σ dar, Σ daz, Σ dan ⊙ r] from the 4H sums ``db``."""
    H = db.shape[0] // 4
    db_ih[:] = db[:3 * H]
    db_hh[:2 * H] = db[:2 * H]
    db_hh[2 * H:] = db[3 * H:]


@njit(**JIT)
def _backward_step(a, hns, h_prev, d_out, dh, dgi, dgh, dhs, dh_z, db):
    """The elementwise part of one BPTT step, (B, ·) arrays: ``dhs = dh + d_out``, the gate
    gradients ``dgi``, ``dgh``, the direct path ``dh_z = dhs ⊙ z`` and the sums over the batch of
    [dar, daz, dan, dan ⊙ r] into ``db`` (4H).

    Two passes over each row: with all the arrays in one loop, LLVM gave up vectorising it (too many
    possibly-aliasing arrays to check at run time); split, both passes vectorise (several times
    faster; benchmarks/README.md).
    """
    H = hns.shape[1]
    one = a.dtype.type(1.0)
    db[:] = 0
    db_in, db_hn = db[2 * H:3 * H], db[3 * H:]
    for b in range(a.shape[0]):
        ar, az, an = a[b, :H], a[b, H:2 * H], a[b, 2 * H:]  # the gates r, z, n
        dar, daz, dan = dgi[b, :H], dgi[b, H:2 * H], dgi[b, 2 * H:]
        h_prev_b, hn_b, d_out_b, dhs_b, dh_b, dh_z_b = h_prev[b], hns[b], d_out[b], dhs[b], dh[b], dh_z[b]
        for j in range(H):
            r, z, n = ar[j], az[j], an[j]
            g = dh_b[j] + d_out_b[j]
            dhs_b[j] = g
            dan_j = g * (one - z) * (one - n * n)
            dar[j] = dan_j * hn_b[j] * r * (one - r)
            daz[j] = g * (h_prev_b[j] - n) * z * (one - z)
            dan[j] = dan_j
            dh_z_b[j] = g * z
        # dgh = [dar, daz, dan ⊙ r], and the sums
        dgi_b, dgh_b, dgh_n = dgi[b], dgh[b], dgh[b, 2 * H:]
        for k in range(2 * H):
            v = dgi_b[k]
            dgh_b[k] = v
            db[k] += v
        for j in range(H):
            v = dan[j]
            w = v * ar[j]
            dgh_n[j] = w
            db_in[j] += v
            db_hn[j] += w


# --------------------------------------------------------------------------------------------------
# a stack of M models: the same functions, one model per iteration of a parallel loop
# --------------------------------------------------------------------------------------------------


@njit(**PARALLEL_JIT)
def stack_forward_into(x, w_ih, w_hh, b_ih, b_hh, h0, hs, acts, hns, active):
    """:func:`forward_into` of the models ``active`` (int64 indices) of a stack, in parallel over
    them. Every array has a leading model axis M (``x (M, T, B, I)``, ``w_hh (M, 3H, H)``, ...);
    model m's slices are computed exactly as :func:`forward_into` computes them alone."""
    for k in prange(active.shape[0]):
        m = active[k]
        forward_into(x[m], w_ih[m], w_hh[m], b_ih[m], b_hh[m], h0[m], hs[m], acts[m], hns[m])


@njit(**PARALLEL_JIT)
def stack_backward_into(x, w_ih, w_hh, hs, acts, hns, d_out, dh, dgi, dgh, dhs, dx, dw_ih, dw_hh, db_ih, db_hh,
                        need_dh0, active):
    """:func:`backward_into` of the models ``active`` of a stack, in parallel over them (arrays with
    a leading model axis M, as in :func:`stack_forward_into`)."""
    for k in prange(active.shape[0]):
        m = active[k]
        backward_into(x[m], w_ih[m], w_hh[m], hs[m], acts[m], hns[m], d_out[m], dh[m], dgi[m], dgh[m], dhs[m],
                      dx[m], dw_ih[m], dw_hh[m], db_ih[m], db_hh[m], need_dh0)
