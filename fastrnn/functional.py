"""Functional interface: one batched forward and one BPTT call per recurrent layer.

    from fastrnn import functional as F
    out, state, cache = F.forward(cell, x, params, state0=None, backend="numba")
    grads = F.backward(cell, cache, d_out, d_state=None)

Equations, gate order and weight layout are PyTorch's (``nn.RNN``, ``nn.LSTM`` with gates
i, f, g, o, ``nn.GRU`` with gates r, z, n), so PyTorch weights can be used as they are.

This module validates and prepares the inputs (shapes, one float dtype, finite values, contiguous
copies where needed) and hands them to the kernels: :mod:`fastrnn.kernels` (Numba, through
:mod:`fastrnn.kernels._pooled`, which recycles the large arrays between calls) or
:mod:`fastrnn.reference` (NumPy). Both compute the same thing; NumPy is the readable oracle. Which
functions run for a cell, and the shapes of what its forward saves, come from its entry in the
cell registry (:mod:`fastrnn.cells`); nothing here names a particular cell.

Internal API of the package (public names, used by the model classes; not checked for misuse):
:func:`forward_unchecked` and :func:`backward_unchecked` (the two calls without validation),
:func:`check_state` and :func:`finite_check`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from fastrnn import cells as _cells

#: Names of the cells (see :mod:`fastrnn.cells`, the registry they come from).
CELLS = _cells.CELLS
#: The backends: the Numba kernels and the NumPy reference.
BACKENDS = ("numba", "numpy")
#: Cell name -> number of gate blocks G stacked in the weights (``w_ih`` is ``(G*H, I)``).
GATES = _cells.GATES
_DTYPES = (np.float32, np.float64)


def float_dtype(dtype: object) -> np.dtype:
    """``dtype`` as a NumPy dtype, if it is one the kernels run in.

    Parameters
    ----------
    dtype : object
        ``"float32"``, ``"float64"``, ``np.float32``, ``np.dtype("float64")``, ...

    Returns
    -------
    np.dtype
        float32 or float64.

    Raises
    ------
    ValueError
        For anything else (another dtype, or something that is no dtype at all).
    """
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in _DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
    return dt


@dataclass
class Cache:
    """What :func:`backward` needs from a :func:`forward` call. Treat it as opaque.

    It holds references to the weights as they were passed to :func:`forward`: update the weights
    only after :func:`backward` (as an optimizer step does), or the gradients will not match.

    Parameters
    ----------
    cell : str
        The cell of the forward call, one of :data:`CELLS`.
    backend : str
        ``"numba"`` or ``"numpy"``.
    x : np.ndarray, shape (T, B, I)
        The checked, C-contiguous input.
    w_ih, w_hh : np.ndarray, shape (G*H, I) and (G*H, H)
        The weights the forward used.
    saved : tuple of np.ndarray
        The forward's activations: the state sequences first (``hs``, then ``cs`` for an LSTM,
        each ``(T+1, B, H)``), then the cell's others (:attr:`fastrnn.cells.Cell.saved`).
    """

    cell: str
    backend: str
    x: np.ndarray
    w_ih: np.ndarray
    w_hh: np.ndarray
    saved: tuple  # the state sequences first, then the cell's other activations (see fastrnn.cells)


_numba_backend = None


def _pooled():
    """The Numba kernels with pooled large arrays (imported on first use: importing numba is slow)."""
    global _numba_backend
    if _numba_backend is None:
        from fastrnn.kernels import _pooled

        _numba_backend = _pooled
    return _numba_backend


def _np_all_finite(a):
    return np.isfinite(a).all()


def finite_check(backend: str) -> Callable[[np.ndarray], bool]:
    """The finiteness test of a backend. Internal API of the package (the model classes use it).

    Parameters
    ----------
    backend : str
        ``"numba"`` or ``"numpy"``.

    Returns
    -------
    Callable[[np.ndarray], bool]
        ``f(array)``, true if every element is finite: NumPy's test, or for backend numba a Numba
        scan (same answer, faster; :mod:`fastrnn.kernels._finite`).
    """
    return _pooled().all_finite if backend == "numba" else _np_all_finite


def _no_check(a):
    return True


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def _check_array(name, a, shape, dtype, all_finite=_np_all_finite):
    """Return ``a`` as a C-contiguous array of ``dtype`` and ``shape``, or raise ValueError."""
    if type(a) is not np.ndarray:
        a = np.asarray(a)
    if a.dtype != dtype:
        raise ValueError(f"{name} must have dtype {np.dtype(dtype).name} (the dtype of x); got {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {a.shape}")
    if not all_finite(a):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def check_state(name: str, state: ArrayLike | tuple | None, cell: str, shape: tuple[int, int],
                dtype: np.dtype | type, all_finite: Callable[[np.ndarray], bool] = _np_all_finite
                ) -> tuple[np.ndarray, ...]:
    """Validate a state of ``cell``. Internal API of the package.

    Parameters
    ----------
    name : str
        What to call the state in an error message (``"state0"``, ``"d_state"``).
    state : array_like, tuple or None
        ``h`` (B, H), or ``(h, c)`` for a cell whose state carries c (LSTM); None means zeros (also
        for either part of a tuple).
    cell : str
        One of :data:`CELLS`.
    shape : tuple of int
        ``(B, H)``, the shape of each part.
    dtype : np.dtype
        The dtype each part must have (that of ``x``).
    all_finite : Callable[[np.ndarray], bool]
        The finiteness test (:func:`finite_check`).

    Returns
    -------
    tuple of np.ndarray
        ``(h,)`` or ``(h, c)``, C-contiguous, as :func:`forward_unchecked` takes it.

    Raises
    ------
    ValueError
        The state is not one array (or a tuple of as many arrays as the cell's state has parts), or
        a part has the wrong shape or dtype, or is not finite.
    """
    names = _cells.get(cell).state
    if len(names) > 1:
        if state is None:
            return tuple(np.zeros(shape, dtype) for _ in names)
        if not isinstance(state, (tuple, list)) or len(state) != len(names):
            raise ValueError(f"{name} for cell {cell!r} must be a tuple ({', '.join(names)}) of {len(names)} arrays "
                             f"of shape {shape}")
        return tuple(np.zeros(shape, dtype) if a is None else _check_array(f"{name}[{k}] ({n})", a, shape, dtype,
                                                                           all_finite)
                     for k, (n, a) in enumerate(zip(names, state)))
    if state is None:
        return (np.zeros(shape, dtype),)
    if isinstance(state, (tuple, list)):
        raise ValueError(f"{name} for cell {cell!r} must be one array of shape {shape}; got a {type(state).__name__}")
    return (_check_array(name, state, shape, dtype, all_finite),)


def _as_state(cell, arrays):
    """A state tuple as the user sees it: the array ``h``, or the tuple ``(h, c)``."""
    return arrays[0] if len(cell.state) == 1 else tuple(arrays)


def forward(cell: str, x: ArrayLike, params: dict[str, ArrayLike],
            state0: ArrayLike | tuple | None = None, backend: str = "numba",
            check_finite: bool = True) -> tuple[np.ndarray, np.ndarray | tuple[np.ndarray, np.ndarray], Cache]:
    """Run one recurrent layer over a whole sequence.

    Parameters
    ----------
    cell : str
        One of :data:`CELLS`: "rnn_tanh", "rnn_relu", "lstm", "gru" (see :mod:`fastrnn.cells`).
    x : array_like, shape (T, B, I)
        Time-major input, float32 or float64; any memory layout.
    params : dict[str, array_like]
        A ``dict`` with ``w_ih (G*H, I)``, ``w_hh (G*H, H)``, ``b_ih (G*H,)``, ``b_hh (G*H,)``
        (PyTorch's ``weight_ih_l0`` & co. under these four names) with G = :data:`GATES` ``[cell]``
        (1 for the RNNs, 4 for LSTM, 3 for GRU), all of x's dtype.
    state0 : array_like, tuple or None, default None
        ``h0 (B, H)``, ``(h0, c0)`` for LSTM, or None for zeros.
    backend : {"numba", "numpy"}, default "numba"
        The Numba kernels, or the NumPy reference (:mod:`fastrnn.reference`).
    check_finite : bool, default True
        Test every input for NaN and infinity (a ValueError names the first bad one).
        ``False`` skips that scan (shapes and dtypes are still checked), for callers that know their
        inputs are finite: the model classes check ``x`` themselves and keep their weights finite, and
        for small layers the scan of the weights is a large part of a train step.
        Non-finite inputs then give non-finite outputs instead of an error.

    Returns
    -------
    out : np.ndarray, shape (T, B, H)
        The hidden state of every step.
    state : np.ndarray or tuple of np.ndarray
        The final state, ``h_T`` (B, H) or ``(h_T, c_T)``.
    cache : Cache
        What :func:`backward` needs.

    Raises
    ------
    ValueError
        An unknown ``cell`` or ``backend``; ``params`` not a dict with the four keys; an array of
        the wrong shape or dtype, or (with ``check_finite``) not finite. The message names it.
    """
    _check_choice("cell", cell, CELLS)
    _check_choice("backend", backend, BACKENDS)
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"x must have shape (T, B, I) (time-major); got shape {x.shape}")
    if x.dtype not in _DTYPES:
        raise ValueError(f"x must have dtype float32 or float64; got {x.dtype}")
    T, B, I = x.shape
    if T == 0 or B == 0 or I == 0:
        raise ValueError(f"x must have T, B, I >= 1; got shape {x.shape}")
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dict with keys w_ih, w_hh, b_ih, b_hh; got {type(params).__name__}")
    missing = [k for k in ("w_ih", "w_hh", "b_ih", "b_hh") if k not in params]
    if missing:
        raise ValueError(f"params is missing {', '.join(missing)}; expected keys w_ih, w_hh, b_ih, b_hh")
    G = GATES[cell]
    w_hh = np.asarray(params["w_hh"])
    if w_hh.ndim != 2 or w_hh.shape[1] == 0 or w_hh.shape[0] != G * w_hh.shape[1]:
        raise ValueError(f"w_hh must have shape ({G}*H, H) for cell {cell!r}; got {w_hh.shape}")
    H = w_hh.shape[1]
    dtype = x.dtype
    fin = finite_check(backend) if check_finite else _no_check
    x = _check_array("x", x, (T, B, I), dtype, fin)
    w_ih = _check_array("w_ih", params["w_ih"], (G * H, I), dtype, fin)
    w_hh = _check_array("w_hh", w_hh, (G * H, H), dtype, fin)
    b_ih = _check_array("b_ih", params["b_ih"], (G * H,), dtype, fin)
    b_hh = _check_array("b_hh", params["b_hh"], (G * H,), dtype, fin)
    s0 = check_state("state0", state0, cell, (B, H), dtype, fin)
    return forward_unchecked(cell, x, w_ih, w_hh, b_ih, b_hh, s0, backend)


def forward_unchecked(cell: str, x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray,
                      b_hh: np.ndarray, s0: tuple[np.ndarray, ...], backend: str
                      ) -> tuple[np.ndarray, np.ndarray | tuple[np.ndarray, np.ndarray], Cache]:
    """:func:`forward` on checked inputs, skipping the per-call validation.

    For callers that guarantee the inputs (the model classes). Internal API of the package: nothing
    is checked, wrong inputs give wrong results or crash.

    Parameters
    ----------
    cell : str
        One of :data:`CELLS`.
    x : np.ndarray, shape (T, B, I)
        C-contiguous, float32 or float64; every other array has its dtype.
    w_ih, w_hh, b_ih, b_hh : np.ndarray
        C-contiguous, shapes ``(G*H, I)``, ``(G*H, H)``, ``(G*H,)``, ``(G*H,)``.
    s0 : tuple of np.ndarray
        The initial state, ``(h0,)`` or ``(h0, c0)``, each ``(B, H)``, as :func:`check_state`
        returns it.
    backend : str
        ``"numba"`` or ``"numpy"``.

    Returns
    -------
    out, state, cache
        As :func:`forward`.
    """
    spec = _cells.get(cell)
    T, B, _ = x.shape
    H = w_hh.shape[1]
    if backend == "numba":
        pooled = _pooled()
        saved = pooled.forward(spec, x, w_ih, w_hh, b_ih, b_hh, s0)
    else:
        saved = spec.reference_forward()(x, w_ih, w_hh, b_ih, b_hh, *s0, *spec.static)
        if not isinstance(saved, tuple):  # a cell that saves only hs may return it alone
            saved = (saved,)
    hs = saved[0]
    state = hs[T].copy() if len(spec.state) == 1 else tuple([seq[T].copy() for seq in saved[:len(spec.state)]])
    # A copy, so that changing `out` in place cannot change what backward sees.
    if backend == "numba":
        out = pooled.POOL.empty((T, B, H), x.dtype)
        np.copyto(out, hs[1:])
    else:
        out = hs[1:].copy()
    return out, state, Cache(cell, backend, x, w_ih, w_hh, saved)


def backward(cell: str, cache: Cache, d_out: ArrayLike | None = None,
             d_state: ArrayLike | tuple | None = None) -> dict[str, np.ndarray | tuple | None]:
    """Backpropagation through time for one :func:`forward` call.

    Parameters
    ----------
    cell : str
        The cell given to :func:`forward`.
    cache : Cache
        The :class:`Cache` that :func:`forward` returned.
    d_out : array_like, shape (T, B, H), or None, default None
        Gradient of the loss w.r.t. ``out``; None: zeros (many-to-one).
    d_state : array_like, tuple or None, default None
        Gradient w.r.t. the final state, shaped like it (``(dh, dc)`` for LSTM; either part may be
        None); None: zeros.

    Returns
    -------
    dict
        ``w_ih`` (G*H, I), ``w_hh`` (G*H, H), ``b_ih`` (G*H,), ``b_hh`` (G*H,), ``x`` (T, B, I) and
        ``state0`` (shaped like the state: an array (B, H), or a tuple ``(dh0, dc0)`` for LSTM), all
        of x's dtype; and ``h`` (T, B, H), the total gradient ∂L/∂h_t reaching each step's hidden
        state (through ``d_out`` and through later steps), which shows whether gradients vanish or
        explode over time.

    Raises
    ------
    ValueError
        An unknown ``cell`` or one that does not match the cache; ``cache`` not a :class:`Cache`;
        ``d_out`` or ``d_state`` of the wrong shape or dtype, or not finite.
    """
    _check_choice("cell", cell, CELLS)
    if not isinstance(cache, Cache):
        raise ValueError(f"cache must be the Cache returned by forward(); got {type(cache).__name__}")
    if cache.cell != cell:
        raise ValueError(f"cell must match the forward call: the cache is for {cache.cell!r}; got {cell!r}")
    T, B, _ = cache.x.shape
    H = cache.w_hh.shape[1]
    dtype = cache.x.dtype
    fin = finite_check(cache.backend)
    if d_out is not None:
        d_out = _check_array("d_out", d_out, (T, B, H), dtype, fin)
    ds = check_state("d_state", d_state, cell, (B, H), dtype, fin)
    return backward_unchecked(cell, cache, d_out, ds)


def backward_unchecked(cell: str, cache: Cache, d_out: np.ndarray | None, ds: tuple[np.ndarray, ...],
                       need_d_state0: bool = True) -> dict[str, np.ndarray | tuple | None]:
    """:func:`backward` on checked inputs. Internal API of the package, like
    :func:`forward_unchecked`: nothing is checked.

    Parameters
    ----------
    cell : str
        The cell of the cache.
    cache : Cache
        What :func:`forward_unchecked` returned.
    d_out : np.ndarray, shape (T, B, H), or None
        C-contiguous, of x's dtype; None for zeros.
    ds : tuple of np.ndarray
        The gradient w.r.t. the final state, ``(dh,)`` or ``(dh, dc)``, each C-contiguous ``(B, H)``,
        like :func:`forward_unchecked`'s ``s0``.
    need_d_state0 : bool, default True
        ``False`` lets the Numba backend skip the last GEMM (``state0`` is then None).

    Returns
    -------
    dict
        As :func:`backward`.
    """
    spec = _cells.get(cell)
    x, w_ih, w_hh, saved = cache.x, cache.w_ih, cache.w_hh, cache.saved
    if cache.backend == "numba":
        dx, dw_ih, dw_hh, db_ih, db_hh, d_state0, dhs = _pooled().backward(spec, x, w_ih, w_hh, saved, d_out, ds,
                                                                           need_d_state0)
    else:
        if d_out is None:
            d_out = np.zeros(saved[0][1:].shape, x.dtype)
        dx, dw_ih, dw_hh, db_ih, db_hh, *d_state0, dhs = spec.reference_backward()(x, w_ih, w_hh, *saved, *spec.static,
                                                                                    d_out, *ds)
    if d_state0 is not None:
        d_state0 = _as_state(spec, d_state0)
    return {"w_ih": dw_ih, "w_hh": dw_hh, "b_ih": db_ih, "b_hh": db_hh, "x": dx, "state0": d_state0, "h": dhs}
