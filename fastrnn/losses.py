"""Loss functions returning the value *and* the gradient w.r.t. the prediction.

Every loss is a callable ``loss(pred, target) -> (value, grad)`` where

* ``value`` is a Python ``float`` (accumulated in float64),
* ``grad`` is a fresh C-contiguous array with the same shape and dtype as
  ``pred`` (float32 or float64; any other input dtype is computed in float64).

The reduction follows PyTorch's default (``reduction="mean"``): the mean over
all elements for the element-wise losses, and the mean over samples for
``cross_entropy``.  ``reduction="sum"`` is also available on the classes.

Two spellings are provided:

* functions ``mse``, ``mae``, ``huber``, ``bce``, ``cross_entropy``
  (keyword options such as ``huber(pred, target, delta=2.0)``);
* classes ``MSE``, ``MAE``, ``Huber``, ``BCEWithLogits``, ``CrossEntropy``
  whose instances are the same callables with their options bound, e.g.
  ``Huber(delta=2.0)(pred, target)``.

``get(name_or_obj, **kw)`` resolves a name ("mse", "mae", "huber", "bce",
"cross_entropy" and a few aliases) to a loss object, or passes a callable
through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

#: What every loss is: ``f(pred, target) -> (value, grad)``.
LossFn = Callable[[ArrayLike, ArrayLike], "tuple[float, np.ndarray]"]

__all__ = [
    "Loss",
    "MSE",
    "MAE",
    "Huber",
    "BCEWithLogits",
    "CrossEntropy",
    "mse",
    "mae",
    "huber",
    "bce",
    "cross_entropy",
    "get",
]

_REDUCTIONS = ("mean", "sum")


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------
def _as_pred(pred) -> np.ndarray:
    pred = np.asarray(pred)
    if pred.dtype not in (np.float32, np.float64):
        pred = pred.astype(np.float64)
    if pred.size == 0:
        raise ValueError("loss: pred is empty (shape %s)" % (pred.shape,))
    return pred


def _same_shape_target(pred: np.ndarray, target, name: str) -> np.ndarray:
    target = np.asarray(target)
    if target.shape != pred.shape:
        raise ValueError(
            f"{name}: target shape must match pred shape: expected "
            f"{pred.shape}, got {target.shape}"
        )
    if target.dtype.kind not in "biuf":  # bool, integers, floats (not complex, objects, strings)
        raise ValueError(f"{name}: target must be numeric, got dtype {target.dtype}")
    return target.astype(pred.dtype, copy=False)


def _check_reduction(reduction: str) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(
            f"reduction must be one of {_REDUCTIONS}, got {reduction!r}"
        )
    return reduction


def _reduce(elem: np.ndarray, reduction: str) -> float:
    # np.add.reduce is what np.sum / np.mean run (same pairwise sum, same result), without their
    # Python-level dispatch, which cost more than the sum of a small batch's losses
    total = np.add.reduce(elem, axis=None, dtype=np.float64)
    return float(total / elem.size if reduction == "mean" else total)


def _scale(n: int, reduction: str, dtype) -> np.generic:
    return dtype.type(1.0 / n) if reduction == "mean" else dtype.type(1.0)


# ----------------------------------------------------------------------------
# element-wise losses
# ----------------------------------------------------------------------------
def mse(pred: ArrayLike, target: ArrayLike, *, reduction: str = "mean") -> tuple[float, np.ndarray]:
    """Mean squared error ``mean((pred - target)**2)`` and its gradient.

    Parameters
    ----------
    pred : array_like
        Predictions, any shape; float32 or float64 (other dtypes are computed in float64).
    target : array_like
        Targets of the same shape (bool, integer or float; cast to ``pred``'s dtype).
    reduction : {"mean", "sum"}, default "mean"
        Mean or sum over all elements.

    Returns
    -------
    value : float
        The loss, accumulated in float64.
    grad : np.ndarray
        ∂value/∂pred, a fresh C-contiguous array of ``pred``'s shape and dtype.

    Raises
    ------
    ValueError
        ``pred`` is empty, ``target`` has another shape or is not numeric, ``reduction`` is unknown.
    """
    _check_reduction(reduction)
    pred = _as_pred(pred)
    target = _same_shape_target(pred, target, "mse")
    diff = pred - target
    value = _reduce(diff * diff, reduction)
    grad = diff
    grad *= _scale(pred.size, reduction, pred.dtype) * pred.dtype.type(2.0)
    return value, np.ascontiguousarray(grad)


def mae(pred: ArrayLike, target: ArrayLike, *, reduction: str = "mean") -> tuple[float, np.ndarray]:
    """Mean absolute error ``mean(|pred - target|)``; gradient ``sign(diff)/n``
    (0 where the difference is exactly 0, as in PyTorch).

    Parameters
    ----------
    pred : array_like
        Predictions, any shape; float32 or float64 (other dtypes are computed in float64).
    target : array_like
        Targets of the same shape (bool, integer or float; cast to ``pred``'s dtype).
    reduction : {"mean", "sum"}, default "mean"
        Mean or sum over all elements.

    Returns
    -------
    value : float
        The loss, accumulated in float64.
    grad : np.ndarray
        ∂value/∂pred, a fresh C-contiguous array of ``pred``'s shape and dtype.

    Raises
    ------
    ValueError
        ``pred`` is empty, ``target`` has another shape or is not numeric, ``reduction`` is unknown.
    """
    _check_reduction(reduction)
    pred = _as_pred(pred)
    target = _same_shape_target(pred, target, "mae")
    diff = pred - target
    value = _reduce(np.abs(diff), reduction)
    grad = np.sign(diff)
    grad *= _scale(pred.size, reduction, pred.dtype)
    return value, np.ascontiguousarray(grad)


def huber(pred: ArrayLike, target: ArrayLike, *, delta: float = 1.0,
          reduction: str = "mean") -> tuple[float, np.ndarray]:
    """Huber loss (``torch.nn.functional.huber_loss``), with ``d = pred - target``::

        0.5 * d**2                   if |d| <= delta
        delta * (|d| - 0.5 * delta)  otherwise

    Parameters
    ----------
    pred : array_like
        Predictions, any shape; float32 or float64 (other dtypes are computed in float64).
    target : array_like
        Targets of the same shape (bool, integer or float; cast to ``pred``'s dtype).
    delta : float, default 1.0
        Where the loss turns from quadratic to linear; positive and finite.
    reduction : {"mean", "sum"}, default "mean"
        Mean or sum over all elements.

    Returns
    -------
    value : float
        The loss, accumulated in float64.
    grad : np.ndarray
        ∂value/∂pred, a fresh C-contiguous array of ``pred``'s shape and dtype.

    Raises
    ------
    ValueError
        ``pred`` is empty, ``target`` has another shape or is not numeric, ``reduction`` is unknown,
        or ``delta`` is not a positive finite number.
    """
    _check_reduction(reduction)
    delta = _check_delta(delta)
    pred = _as_pred(pred)
    target = _same_shape_target(pred, target, "huber")
    dt = pred.dtype.type
    diff = pred - target
    adiff = np.abs(diff)
    quad = adiff <= dt(delta)
    elem = np.where(
        quad, dt(0.5) * diff * diff, dt(delta) * (adiff - dt(0.5 * delta))
    )
    value = _reduce(elem, reduction)
    grad = np.where(quad, diff, dt(delta) * np.sign(diff))
    grad *= _scale(pred.size, reduction, pred.dtype)
    return value, np.ascontiguousarray(grad, dtype=pred.dtype)


def _check_delta(delta) -> float:
    try:
        delta = float(delta)
    except (TypeError, ValueError):
        raise ValueError(f"huber: delta must be a positive number, got {delta!r}") from None
    if not delta > 0.0 or not np.isfinite(delta):
        raise ValueError(f"huber: delta must be a positive finite number, got {delta!r}")
    return delta


def bce(pred: ArrayLike, target: ArrayLike, *, reduction: str = "mean") -> tuple[float, np.ndarray]:
    """Binary cross-entropy **from logits** (``binary_cross_entropy_with_logits``).

    ``loss = max(z, 0) - z*y + log1p(exp(-|z|))``, gradient
    ``(sigmoid(z) - y) / n``; stable for arbitrarily large ``|z|``.
    Targets may be soft labels in [0, 1].

    Parameters
    ----------
    pred : array_like
        Logits ``z``, any shape; float32 or float64 (other dtypes are computed in float64).
    target : array_like
        Targets of the same shape (bool, integer or float; cast to ``pred``'s dtype).
    reduction : {"mean", "sum"}, default "mean"
        Mean or sum over all elements.

    Returns
    -------
    value : float
        The loss, accumulated in float64.
    grad : np.ndarray
        ∂value/∂pred, a fresh C-contiguous array of ``pred``'s shape and dtype.

    Raises
    ------
    ValueError
        ``pred`` is empty, ``target`` has another shape or is not numeric, ``reduction`` is unknown.
    """
    _check_reduction(reduction)
    z = _as_pred(pred)
    y = _same_shape_target(z, target, "bce")
    dt = z.dtype.type
    e = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    elem = np.maximum(z, dt(0)) - z * y + np.log1p(e)
    value = _reduce(elem, reduction)
    inv = dt(1) / (dt(1) + e)
    sig = np.where(z >= 0, inv, e * inv)  # stable sigmoid
    grad = sig - y
    grad *= _scale(z.size, reduction, z.dtype)
    return value, np.ascontiguousarray(grad, dtype=z.dtype)


# ----------------------------------------------------------------------------
# cross-entropy over the last axis
# ----------------------------------------------------------------------------
def cross_entropy(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy from logits over the **last** axis.

    ``pred`` has shape ``(..., C)``.  ``target`` is either

    * integer class indices of shape ``pred.shape[:-1]`` (like
      ``torch.nn.CrossEntropyLoss``); entries equal to ``ignore_index`` are
      skipped and the mean is over the remaining samples; or
    * class probabilities / one-hot rows of shape ``pred.shape`` (float).

    ``label_smoothing`` mixes the targets with the uniform distribution as in
    PyTorch.  The value is the mean over samples (all leading axes).  If every
    sample is ignored the value is 0.0 and the gradient is zero (PyTorch
    returns NaN).

    Parameters
    ----------
    pred : array_like, shape (..., C)
        Logits, the classes on the last axis; float32 or float64 (others computed in float64).
    target : array_like, shape (...) of integers, or (..., C) of floats
        Class indices in ``[0, C)`` (or ``ignore_index``), or class probabilities per row.
    ignore_index : int, default -100
        A class index whose samples are left out (index targets only).
    label_smoothing : float, default 0.0
        In [0, 1]: the targets become ``(1 - label_smoothing) * target + label_smoothing / C``.
    reduction : {"mean", "sum"}, default "mean"
        Mean over the (not ignored) samples, or their sum.

    Returns
    -------
    value : float
        The loss, accumulated in float64.
    grad : np.ndarray, shape (..., C)
        ∂value/∂pred, a fresh C-contiguous array of ``pred``'s dtype.

    Raises
    ------
    ValueError
        ``pred`` is empty or has no class axis; ``target`` has neither shape, or float class
        indices, or an index out of range, or is not numeric; ``label_smoothing`` or ``reduction``
        is out of range.
    """
    _check_reduction(reduction)
    eps = _check_smoothing(label_smoothing)
    z = _as_pred(pred)
    if z.ndim < 1:
        raise ValueError("cross_entropy: pred must have a class axis (last axis)")
    C = z.shape[-1]
    dt = z.dtype.type
    target = np.asarray(target)

    # stable log-softmax
    m = np.max(z, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, dt(0))
    sh = z - m
    ex = np.exp(sh)
    s = np.sum(ex, axis=-1, keepdims=True)
    logp = sh - np.log(s)
    prob = ex / s

    if np.issubdtype(target.dtype, np.integer):
        if target.shape != z.shape[:-1]:
            raise ValueError(
                "cross_entropy: integer class targets must have shape "
                f"pred.shape[:-1]: expected {z.shape[:-1]}, got {target.shape}"
            )
        valid = target != ignore_index
        bad = valid & ((target < 0) | (target >= C))
        if np.any(bad):
            raise ValueError(
                f"cross_entropy: class index out of range [0, {C}): "
                f"{target[bad].ravel()[:5].tolist()}"
            )
        n = int(np.count_nonzero(valid))
        idx = np.where(valid, target, 0)[..., None]
        nll = -np.take_along_axis(logp, idx, axis=-1)[..., 0]
        if eps > 0.0:
            smooth = -np.mean(logp, axis=-1, dtype=np.float64)
            per = (1.0 - eps) * nll.astype(np.float64) + eps * smooth
        else:
            per = nll.astype(np.float64)
        per = np.where(valid, per, 0.0)
        total = float(np.sum(per))
        grad = prob
        if eps > 0.0:
            grad -= dt(eps / C)
            onehot_w = dt(1.0 - eps)
        else:
            onehot_w = dt(1.0)
        # subtract the (weighted) one-hot at the target class
        np.put_along_axis(
            grad, idx, np.take_along_axis(grad, idx, axis=-1) - onehot_w, axis=-1
        )
        grad *= valid[..., None].astype(z.dtype)
    else:
        if target.shape != z.shape:
            if target.shape == z.shape[:-1]:
                raise ValueError(
                    "cross_entropy: class-index targets must have an integer "
                    f"dtype, got {target.dtype} (use target.astype(np.int64))"
                )
            raise ValueError(
                "cross_entropy: probability targets must have the shape of "
                f"pred: expected {z.shape}, got {target.shape}"
            )
        if target.dtype.kind not in "biuf":  # bool, integers, floats (not complex, objects, strings)
            raise ValueError(
                f"cross_entropy: target must be numeric, got dtype {target.dtype}"
            )
        y = target.astype(z.dtype, copy=True)
        if eps > 0.0:
            y *= dt(1.0 - eps)
            y += dt(eps / C)
        n = int(np.prod(z.shape[:-1], dtype=np.int64))
        # avoid 0 * -inf = nan where a class has zero target mass
        contrib = np.where(y != 0, y * logp, dt(0))
        total = -float(np.sum(contrib, dtype=np.float64))
        grad = prob * np.sum(y, axis=-1, keepdims=True) - y

    if n == 0:
        return 0.0, np.zeros_like(z)
    if reduction == "mean":
        value = total / n
        grad *= dt(1.0 / n)
    else:
        value = total
    return float(value), np.ascontiguousarray(grad, dtype=z.dtype)


def _check_smoothing(eps) -> float:
    try:
        eps = float(eps)
    except (TypeError, ValueError):
        raise ValueError(f"label_smoothing must be a number in [0, 1], got {eps!r}") from None
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {eps!r}")
    return eps


# ----------------------------------------------------------------------------
# object API
# ----------------------------------------------------------------------------
class Loss:
    """Base class: ``loss(pred, target) -> (value: float, grad: ndarray)``.

    Subclasses set :attr:`name` and implement :meth:`__call__` with the options bound.

    Parameters
    ----------
    reduction : {"mean", "sum"}, default "mean"
        Mean or sum over the elements (over the samples for :class:`CrossEntropy`).

    Raises
    ------
    ValueError
        An unknown ``reduction``.
    """

    name = "loss"

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = _check_reduction(reduction)

    def __call__(self, pred: ArrayLike, target: ArrayLike) -> tuple[float, np.ndarray]:  # pragma: no cover
        """The loss and its gradient.

        Parameters
        ----------
        pred : array_like
            Predictions (logits for the classification losses).
        target : array_like
            Targets, as the loss function of the same name takes them.

        Returns
        -------
        value : float
            The loss.
        grad : np.ndarray
            ∂value/∂pred, of ``pred``'s shape and dtype.

        Raises
        ------
        NotImplementedError
            On the base class.
        """
        raise NotImplementedError

    def _opts(self) -> dict:
        return {"reduction": self.reduction}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self._opts().items())
        return f"{type(self).__name__}({opts})"


class MSE(Loss):
    """Mean squared error (``torch.nn.MSELoss``); :func:`mse`.

    Parameters
    ----------
    reduction : {"mean", "sum"}, default "mean"
        Mean or sum over all elements.
    """

    name = "mse"

    def __call__(self, pred: ArrayLike, target: ArrayLike) -> tuple[float, np.ndarray]:
        """``mse(pred, target, ...)`` with this object's options.

        Parameters
        ----------
        pred, target : array_like
            As :func:`mse` takes them.

        Returns
        -------
        value : float
            The loss.
        grad : np.ndarray
            ∂value/∂pred, of ``pred``'s shape and dtype.
        """
        return mse(pred, target, reduction=self.reduction)


class MAE(Loss):
    """Mean absolute error (``torch.nn.L1Loss``); :func:`mae`.

    Parameters
    ----------
    reduction : {"mean", "sum"}, default "mean"
        Mean or sum over all elements.
    """

    name = "mae"

    def __call__(self, pred: ArrayLike, target: ArrayLike) -> tuple[float, np.ndarray]:
        """``mae(pred, target, ...)`` with this object's options.

        Parameters
        ----------
        pred, target : array_like
            As :func:`mae` takes them.

        Returns
        -------
        value : float
            The loss.
        grad : np.ndarray
            ∂value/∂pred, of ``pred``'s shape and dtype.
        """
        return mae(pred, target, reduction=self.reduction)


class Huber(Loss):
    """Huber loss (``torch.nn.HuberLoss``); :func:`huber`.

    Parameters
    ----------
    delta : float, default 1.0
        Where the loss turns from quadratic to linear; positive and finite.
    reduction : {"mean", "sum"}, default "mean"
        Mean or sum over all elements.

    Raises
    ------
    ValueError
        ``delta`` is not a positive finite number, or ``reduction`` is unknown.
    """

    name = "huber"

    def __init__(self, delta: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.delta = _check_delta(delta)

    def __call__(self, pred: ArrayLike, target: ArrayLike) -> tuple[float, np.ndarray]:
        """``huber(pred, target, ...)`` with this object's options.

        Parameters
        ----------
        pred, target : array_like
            As :func:`huber` takes them.

        Returns
        -------
        value : float
            The loss.
        grad : np.ndarray
            ∂value/∂pred, of ``pred``'s shape and dtype.
        """
        return huber(pred, target, delta=self.delta, reduction=self.reduction)

    def _opts(self):
        return {"delta": self.delta, "reduction": self.reduction}


class BCEWithLogits(Loss):
    """Binary cross-entropy from logits (``torch.nn.BCEWithLogitsLoss``); :func:`bce`.

    Parameters
    ----------
    reduction : {"mean", "sum"}, default "mean"
        Mean or sum over all elements.
    """

    name = "bce"

    def __call__(self, pred: ArrayLike, target: ArrayLike) -> tuple[float, np.ndarray]:
        """``bce(pred, target, ...)`` with this object's options.

        Parameters
        ----------
        pred, target : array_like
            As :func:`bce` takes them.

        Returns
        -------
        value : float
            The loss.
        grad : np.ndarray
            ∂value/∂pred, of ``pred``'s shape and dtype.
        """
        return bce(pred, target, reduction=self.reduction)


class CrossEntropy(Loss):
    """Softmax cross-entropy over the last axis (``torch.nn.CrossEntropyLoss``
    with the class axis last); :func:`cross_entropy`.

    Parameters
    ----------
    ignore_index : int, default -100
        A class index whose samples are left out.
    label_smoothing : float, default 0.0
        In [0, 1], mixes the targets with the uniform distribution.
    reduction : {"mean", "sum"}, default "mean"
        Mean or sum over the samples.

    Raises
    ------
    ValueError
        ``label_smoothing`` outside [0, 1], or ``reduction`` unknown.
    """

    name = "cross_entropy"

    def __init__(
        self,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction)
        self.ignore_index = int(ignore_index)
        self.label_smoothing = _check_smoothing(label_smoothing)

    def __call__(self, pred: ArrayLike, target: ArrayLike) -> tuple[float, np.ndarray]:
        """``cross_entropy(pred, target, ...)`` with this object's options.

        Parameters
        ----------
        pred, target : array_like
            As :func:`cross_entropy` takes them.

        Returns
        -------
        value : float
            The loss.
        grad : np.ndarray
            ∂value/∂pred, of ``pred``'s shape and dtype.
        """
        return cross_entropy(
            pred,
            target,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            reduction=self.reduction,
        )

    def _opts(self):
        return {
            "ignore_index": self.ignore_index,
            "label_smoothing": self.label_smoothing,
            "reduction": self.reduction,
        }


_REGISTRY = {
    "mse": MSE,
    "mean_squared_error": MSE,
    "l2": MSE,
    "mae": MAE,
    "mean_absolute_error": MAE,
    "l1": MAE,
    "huber": Huber,
    "bce": BCEWithLogits,
    "bce_with_logits": BCEWithLogits,
    "binary_cross_entropy": BCEWithLogits,
    "cross_entropy": CrossEntropy,
    "crossentropy": CrossEntropy,
    "ce": CrossEntropy,
}


def get(name_or_obj: str | type[Loss] | LossFn, **kw: Any) -> LossFn:
    """Resolve a loss.

    * a string (case-insensitive; "mse", "mae", "huber", "bce",
      "cross_entropy" and aliases) -> a new loss object built with ``**kw``
      (e.g. ``get("huber", delta=0.5)``);
    * a ``Loss`` class -> instantiated with ``**kw``;
    * any other callable (a ``Loss`` instance or a function
      ``f(pred, target) -> (value, grad)``) -> returned unchanged (``kw`` must
      then be empty).

    Parameters
    ----------
    name_or_obj : str, Loss subclass or callable
        What to resolve.
    **kw
        The loss's options (``reduction``, ``delta``, ...), for a name or a class.

    Returns
    -------
    callable
        ``f(pred, target) -> (value, grad)``: a :class:`Loss` instance, or ``name_or_obj``.

    Raises
    ------
    ValueError
        An unknown name, options given with a callable, or something that is neither.
    """
    if isinstance(name_or_obj, str):
        key = name_or_obj.strip().lower().replace("-", "_")
        try:
            cls = _REGISTRY[key]
        except KeyError:
            raise ValueError(
                f"unknown loss {name_or_obj!r}; expected one of "
                "'mse', 'mae', 'huber', 'bce', 'cross_entropy'"
            ) from None
        return cls(**kw)
    if isinstance(name_or_obj, type) and issubclass(name_or_obj, Loss):
        return name_or_obj(**kw)
    if callable(name_or_obj):
        if kw:
            raise ValueError(
                "losses.get: keyword options are only accepted with a loss name "
                f"or class, got {name_or_obj!r} with {sorted(kw)}"
            )
        return name_or_obj
    raise ValueError(
        f"losses.get: expected a loss name or a callable, got {name_or_obj!r}"
    )
