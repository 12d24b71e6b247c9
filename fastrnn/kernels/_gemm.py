"""The GEMMs shared by the cells' kernels: the recurrent product and the weight gradients.

``dW = Σ_t d_tᵀ a_t = D2ᵀ @ A2`` over all N = T*B rows (``D2 (N, G)`` the gate gradients,
``A2 (N, K)`` the layer inputs x_t or h_{t-1}). For many rows OpenBLAS computes the transposed
product ``A2ᵀ @ D2`` faster (measured with one thread; figures in benchmarks/README.md), so it is
formed that way and copied transposed into ``out``; the copy (G*K entries) is small next to the
product's N*G*K multiply-adds only when N is large: for few rows the product is taken directly
(for a single row the copy costs more than the GEMM itself).

The per-step products (``h @ W_hhᵀ`` forward, ``da @ W_hh`` backward) take OpenBLAS or the packed
kernel of :mod:`fastrnn.kernels._smallgemm`, chosen by shape and dtype (:data:`PACKED_MIN_K`).
"""

import numpy as np
from numba import njit

from fastrnn.kernels._jit import JIT
from fastrnn.kernels._smallgemm import gemm_rows, pack_transposed

#: Rows (T*B) from which the weight gradients are formed transposed.
TRANSPOSED_FROM_ROWS = 64


@njit(**JIT)
def weight_gradient(d2, a2, out):
    """out = d2ᵀ @ a2 for C-contiguous ``d2 (N, G)``, ``a2 (N, K)``, ``out (G, K)``."""
    if d2.shape[0] < TRANSPOSED_FROM_ROWS:
        np.dot(d2.T, a2, out)
        return
    tmp = np.empty((a2.shape[1], d2.shape[1]), dtype=d2.dtype)
    np.dot(a2.T, d2, tmp)
    out[:] = tmp.T


# --------------------------------------------------------------------------------------------------
# The recurrent GEMMs when h_0 = 0 (the usual start: no state0 given)
# --------------------------------------------------------------------------------------------------


@njit(**JIT)
def is_zero(h):
    """Whether every entry of the C-contiguous array ``h`` is zero (±0)."""
    for v in h.reshape(h.size):
        if v != 0:
            return False
    return True


# --------------------------------------------------------------------------------------------------
# The per-step products: OpenBLAS or the packed small-GEMM kernel (fastrnn.kernels._smallgemm)
# --------------------------------------------------------------------------------------------------

#: Which product the per-step GEMMs use: the packed kernel of :mod:`fastrnn.kernels._smallgemm` for
#: the shapes where it measured faster than OpenBLAS (one thread) by more than the run-to-run spread
#: in repeated runs, OpenBLAS everywhere else, including every shape not measured (B or H above
#: 64). Measured with ``python benchmarks/small_gemm.py``; the figures and the host are in
#: benchmarks/README.md, "Small GEMMs". The rule depends on the shape and the dtype only (never on
#: threads, timing or load), so a model's result bits are the same wherever it trains (alone or in
#: a stack of models).
#:
#: * forward, ``h (B, H) @ W_hhᵀ`` (OpenBLAS's transposed-operand path is slow at these sizes):
#:   packed when B >= 2, H >= :data:`PACKED_MIN_K`, G >= 2, G*H >= :data:`PACKED_FORWARD_MIN_N`
#:   and B*H*G*H <= ``PACKED_FORWARD_MAX_WORK_F32/F64``;
#: * backward, ``da (B, G*H) @ W_hh`` (OpenBLAS's plain path is fast): packed only when B == 1
#:   (a matrix-vector product), H >= :data:`PACKED_MIN_K` and G*H*H <= :data:`PACKED_ROW_MAX`;
#: * neither for the (G*H, H, itemsize) of :data:`PACKED_OFF`.
PACKED_MIN_K = 4
PACKED_ROW_MAX = 64 * 256
PACKED_FORWARD_MIN_N = 64
PACKED_FORWARD_MAX_WORK_F32 = 64 * 64 * 256
PACKED_FORWARD_MAX_WORK_F64 = 64 * 32 * 128
#: (G*H, H, itemsize) left on OpenBLAS at every batch size: the float32 LSTMs of the shipped
#: datasets' default models (airline: H = 64, stock: H = 32), whose results (README.md's test
#: scores) the packed kernel would change while their whole training steps gained too little for
#: that (stock nothing, airline not clearly above 10 %; benchmarks/README.md, "Small GEMMs").
PACKED_OFF = ((256, 64, 4), (128, 32, 4))
#: For benchmarks/small_gemm.py only (which gives each setting a Numba cache of its own): 0 the rule
#: above, 1 always OpenBLAS, 2 always the packed kernel.
_OVERRIDE = 0


@njit(**JIT)
def _left_on_blas(n, hidden, itemsize):
    """Whether (n = G*H, H, itemsize) is one of :data:`PACKED_OFF`."""
    for off in PACKED_OFF:
        if n == off[0] and hidden == off[1] and itemsize == off[2]:
            return True
    return False


@njit(**JIT)
def packed_forward(batch, hidden, n, itemsize):
    """Whether the forward product ``(batch, hidden) @ (hidden, n)`` of ``itemsize``-byte floats takes
    the packed kernel (the rule: the comment above :data:`PACKED_MIN_K`)."""
    if _OVERRIDE != 0:
        return _OVERRIDE == 2
    if hidden < PACKED_MIN_K or _left_on_blas(n, hidden, itemsize):
        return False
    if batch == 1:  # W_hhᵀ's packing copy costs up to 1/T of the products' work; whole steps lost
        return False
    limit = PACKED_FORWARD_MAX_WORK_F32 if itemsize == 4 else PACKED_FORWARD_MAX_WORK_F64
    return n >= PACKED_FORWARD_MIN_N and n > hidden and batch * hidden * n <= limit


@njit(**JIT)
def packed_backward(batch, n, hidden, itemsize):
    """Whether the backward product ``(batch, n) @ (n, hidden)`` takes the packed kernel (the rule:
    the comment above :data:`PACKED_MIN_K`)."""
    if _OVERRIDE != 0:
        return _OVERRIDE == 2
    if _left_on_blas(n, hidden, itemsize):
        return False
    return batch == 1 and hidden >= PACKED_MIN_K and n * hidden <= PACKED_ROW_MAX


@njit(**JIT)
def recurrent_weights(w_hh, batch):
    """W_hh in the form :func:`recurrent_product` takes for a batch of ``batch`` rows: packed once
    per sequence (``W_hhᵀ``, C-contiguous) when that product takes the packed kernel, else
    ``w_hh`` itself."""
    n, hidden = w_hh.shape
    if packed_forward(batch, hidden, n, w_hh.itemsize):
        return pack_transposed(w_hh)
    return w_hh


@njit(**JIT)
def recurrent_product(h, w_rec, out, h_is_zero):
    """out = h @ W_hhᵀ, the recurrent pre-activations, with ``w_rec`` from :func:`recurrent_weights`;
    zeros without the GEMM when ``h`` is known to be zero (then the product is exactly zero: the
    weights are finite)."""
    if h_is_zero:
        out[:] = 0
    elif packed_forward(h.shape[0], h.shape[1], out.shape[1], h.itemsize):
        gemm_rows(h, w_rec, out)
    else:
        np.dot(h, w_rec.T, out)


@njit(**JIT)
def hidden_gradient(da, w_hh, dh):
    """dh = da @ W_hh, the gradient reaching h_{t-1} through the recurrent product (``w_hh`` as it
    is: its rows are the packed kernel's layout)."""
    if packed_backward(da.shape[0], da.shape[1], dh.shape[1], da.itemsize):
        gemm_rows(da, w_hh, dh)
    else:
        np.dot(da, w_hh, dh)


@njit(**JIT)
def hidden_weight_gradient(d, hs, out):
    """out = dW_hh = Σ_t d_tᵀ h_{t-1} for ``d (T, B, G)`` and ``hs (T+1, B, H)`` (``hs[0]`` = h_0),
    one GEMM over the T*B rows; when h_0 = 0 the rows of t = 0 add exactly nothing and are left out
    (at T = 1 nothing is left: dW_hh = 0, without forming the outer product)."""
    T, B, G = d.shape
    H = hs.shape[2]
    if not is_zero(hs[0]):
        weight_gradient(d.reshape(T * B, G), hs[:T].reshape(T * B, H), out)
    elif T == 1:
        out[:] = 0
    else:
        weight_gradient(d[1:].reshape((T - 1) * B, G), hs[1:T].reshape((T - 1) * B, H), out)


@njit(**JIT)
def weight_gradients(x, w_ih, hs, dgi, dgh, dx, dw_ih, dw_hh):
    """dx = dgi @ W_ih, dW_ih = Σ_t dgi_tᵀ x_t, dW_hh = Σ_t dgh_tᵀ h_{t-1}: GEMMs over all T*B rows.

    ``dgi`` is the gradient of W_ih x_t + b_ih, ``dgh`` that of W_hh h_{t-1} + b_hh, both (T, B, G*H);
    they are the same array for the cells that add both products before any gate (RNN, LSTM)."""
    T, B, I = x.shape
    dgi2 = dgi.reshape(T * B, dgi.shape[2])
    np.dot(dgi2, w_ih, dx.reshape(T * B, I))
    weight_gradient(dgi2, x.reshape(T * B, I), dw_ih)
    hidden_weight_gradient(dgh, hs, dw_hh)
