"""Gradient clipping, in place, with the formulas of ``torch.nn.utils``.

``grads`` is a dict ``name -> ndarray`` (or any iterable of arrays); arrays are
modified in place, so they must be writeable.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from .kernels._reduce import sum_squares

__all__ = ["clip_grad_norm", "clip_grad_value", "global_norm"]


def _arrays(grads, what):
    items = grads.values() if isinstance(grads, Mapping) else grads
    if isinstance(items, np.ndarray):
        items = [items]
    out = []
    for g in items:
        if g is None:
            continue
        if not isinstance(g, np.ndarray):
            raise ValueError(f"{what}: gradients must be numpy arrays, got {type(g).__name__}")
        if not np.issubdtype(g.dtype, np.floating):
            raise ValueError(f"{what}: gradients must be floating point, got {g.dtype}")
        out.append(g)
    return out


def _norm_type(norm_type) -> float:
    try:
        p = float(norm_type)
    except (TypeError, ValueError):
        raise ValueError(f"norm_type must be a positive number or inf, got {norm_type!r}") from None
    if not p > 0.0:
        raise ValueError(f"norm_type must be > 0 (or inf), got {norm_type!r}")
    return p


def _array_norm(g: np.ndarray, p: float) -> float:
    flat = g.reshape(-1)
    if flat.size == 0:
        return 0.0
    if p == 2.0:  # BLAS-free: see fastrnn/kernels/_reduce.py
        return math.sqrt(sum_squares(flat))
    if math.isinf(p):
        return float(np.max(np.abs(flat)))
    if p == 1.0:
        return float(np.sum(np.abs(flat), dtype=np.float64))
    return float(np.sum(np.abs(flat).astype(np.float64) ** p) ** (1.0 / p))


def global_norm(grads: Mapping[str, np.ndarray | None] | Iterable[np.ndarray | None] | np.ndarray,
                norm_type: float = 2.0) -> float:
    """The norm of all gradients together, as if concatenated into one vector
    (the norm of the per-array norms, as ``torch.nn.utils.get_total_norm``).

    Parameters
    ----------
    grads : Mapping[str, np.ndarray], iterable of np.ndarray, or np.ndarray
        The gradients (float arrays of any shapes; ``None`` entries are skipped).
    norm_type : float, default 2.0
        The order ``p`` of the norm, > 0; ``math.inf`` for the largest absolute value.

    Returns
    -------
    float
        The global norm (0.0 when there are no gradients).

    Raises
    ------
    ValueError
        A gradient is not a float NumPy array, or ``norm_type`` is not a positive number.
    """
    p = _norm_type(norm_type)
    norms = [_array_norm(g, p) for g in _arrays(grads, "global_norm")]
    if not norms:
        return 0.0
    if math.isinf(p):
        return max(norms)
    if p == 2.0:
        return l2_total(norms)
    return float(np.sum(np.asarray(norms) ** p) ** (1.0 / p))


def l2_total(norms: Iterable[float]) -> float:
    """The global L2 norm from the per-array L2 norms.

    The trainer, which has the sums of squares already, calls it too: one formula, so clipping
    there gives the same result as :func:`clip_grad_norm`.

    Parameters
    ----------
    norms : iterable of float
        The L2 norm of each array.

    Returns
    -------
    float
        ``sqrt(sum(n ** 2))``, summed exactly (``math.fsum``).
    """
    return math.sqrt(math.fsum(n * n for n in norms))


def clip_grad_norm(grads: Mapping[str, np.ndarray | None] | Iterable[np.ndarray | None] | np.ndarray,
                   max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> float:
    """Rescale ``grads`` in place so that their global norm is at most ``max_norm``.

    Same formula as ``torch.nn.utils.clip_grad_norm_``: with ``total`` the
    global norm, every array is multiplied by ``max_norm / (total + 1e-6)``
    when that coefficient is < 1.  Returns ``total`` (the norm *before*
    clipping) as a float.  With ``error_if_nonfinite=True`` a NaN/inf total
    raises ``FloatingPointError`` (nothing is modified).  Otherwise an
    infinite total scales everything by 0, and a NaN total leaves the arrays
    untouched (PyTorch would multiply them all by NaN).

    Parameters
    ----------
    grads : Mapping[str, np.ndarray], iterable of np.ndarray, or np.ndarray
        The gradients (float arrays of any shapes; ``None`` entries are skipped).
        Modified in place, so they must be writeable.
    max_norm : float
        The largest global norm allowed, >= 0.
    norm_type : float, default 2.0
        The order of the norm, > 0, or ``math.inf``.
    error_if_nonfinite : bool, default False
        Raise instead of clipping when the global norm is NaN or infinite.

    Returns
    -------
    float
        The global norm before clipping.

    Raises
    ------
    ValueError
        ``max_norm`` is not a number >= 0, a gradient is not a writeable float array, or
        ``norm_type`` is invalid.
    FloatingPointError
        With ``error_if_nonfinite``, the global norm is NaN or infinite (nothing is modified).
    """
    try:
        max_norm = float(max_norm)
    except (TypeError, ValueError):
        raise ValueError(f"max_norm must be a number >= 0, got {max_norm!r}") from None
    if not max_norm >= 0.0:
        raise ValueError(f"max_norm must be >= 0, got {max_norm!r}")
    arrays = _arrays(grads, "clip_grad_norm")
    for g in arrays:
        if not g.flags.writeable:
            raise ValueError("clip_grad_norm: gradients are modified in place but one is read-only")
    total = global_norm(arrays, norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise FloatingPointError(
            f"the total norm of order {norm_type} of the gradients is non-finite ({total})"
        )
    scale_to_norm(arrays, max_norm, total)
    return total


def scale_to_norm(arrays: Iterable[np.ndarray], max_norm: float, total: float) -> None:
    """The rescaling step of :func:`clip_grad_norm`, given the global norm ``total`` (for the
    trainer, which has the sums of squares already).

    Parameters
    ----------
    arrays : iterable of numpy.ndarray
        The gradients, scaled in place by ``max_norm / (total + 1e-6)`` when that is below 1.
    max_norm : float
        The largest global norm allowed.
    total : float
        The global norm of ``arrays``.
    """
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        with np.errstate(invalid="ignore"):  # inf * 0 -> nan, as in torch
            for g in arrays:
                g *= g.dtype.type(coef)


def clip_grad_value(grads: Mapping[str, np.ndarray | None] | Iterable[np.ndarray | None] | np.ndarray,
                    clip_value: float) -> None:
    """Clamp every gradient entry to ``[-clip_value, clip_value]`` in place
    (``torch.nn.utils.clip_grad_value_``).

    Parameters
    ----------
    grads : Mapping[str, np.ndarray], iterable of np.ndarray, or np.ndarray
        The gradients (float arrays of any shapes; ``None`` entries are skipped).
        Modified in place, so they must be writeable.
    clip_value : float
        The largest absolute value allowed, >= 0.

    Raises
    ------
    ValueError
        ``clip_value`` is not a number >= 0, or a gradient is not a writeable float array.
    """
    try:
        c = float(clip_value)
    except (TypeError, ValueError):
        raise ValueError(f"clip_value must be a number >= 0, got {clip_value!r}") from None
    if not c >= 0.0:
        raise ValueError(f"clip_value must be >= 0, got {clip_value!r}")
    arrays = _arrays(grads, "clip_grad_value")
    for g in arrays:
        if not g.flags.writeable:
            raise ValueError("clip_grad_value: gradients are modified in place but one is read-only")
    for g in arrays:
        np.clip(g, -c, c, out=g)
