"""Combinations: forecasts of members of different kinds (linear, networks, hybrids), weighted by
their errors on validation data.

    w = inverse_mse_weights({"linear": ar_val, "lstm": net_val, "hybrid": hyb_val}, y_val)
    y_hat = combine({"linear": ar_test, "lstm": net_test, "hybrid": hyb_test}, w)

Weights are inverse validation mean squared errors, normalised to sum to one (Bates & Granger's
classic combination): with as few as 12 validation points (airline), weights fitted by least
squares, even non-negative ones, overfit the validation part that also chose the members' early
stopping, while inverse-MSE weights estimate one error level per member and give no member more
weight than its validation accuracy earns. The members' forecasts must be made without the
validation targets (e.g. a linear AR fitted on the training part only).

A run of ``fastrnn train --combine lstm,linear[,persistence,hybrid-lstm]`` fits each member as it
fits it alone (:func:`fastrnn.forecast.fit_combination`): networks with early stopping on the
validation part, the linear AR by least squares on the training windows (on the training and
validation windows when it is the only member: no weight is fitted then), persistence as it is;
:class:`Combination` holds them and their weights, which :func:`inverse_mse_weights` fits on the
members' one-step forecasts of the validation part, never on the test part.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["inverse_mse_weights", "combine", "parse_members", "Combination"]


def _checked(forecasts: Mapping, what: str) -> dict[str, np.ndarray]:
    if not isinstance(forecasts, Mapping) or not forecasts:
        raise ValueError(f"{what} must be a non-empty mapping name -> forecasts; got {forecasts!r:.60}")
    out = {name: np.asarray(f, dtype=np.float64) for name, f in forecasts.items()}
    shapes = {name: f.shape for name, f in out.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"{what}: every member must forecast the same points; got shapes {shapes}")
    bad = [name for name, f in out.items() if not np.isfinite(f).all()]
    if bad:
        raise ValueError(f"{what}: the forecasts of {', '.join(bad)} are not all finite; leave "
                         f"{'that member' if len(bad) == 1 else 'those members'} out")
    return out


def inverse_mse_weights(val_forecasts: Mapping[str, np.ndarray], y_val) -> dict[str, float]:
    """Each member's weight: the inverse of its validation MSE, normalised to sum to one.

    Parameters
    ----------
    val_forecasts : Mapping[str, array_like]
        Member name -> its forecasts of the validation points (all of one shape).
    y_val : array_like
        The validation targets, of that shape.

    Returns
    -------
    dict[str, float]
        Member name -> weight in [0, 1], summing to one; members with zero error (if any) share
        all the weight equally.

    Raises
    ------
    ValueError
        No members, forecasts of different shapes or not of the targets' shape, or values that are
        not finite.
    """
    preds = _checked(val_forecasts, "val_forecasts")
    y = np.asarray(y_val, dtype=np.float64)
    shape = next(iter(preds.values())).shape
    if y.shape != shape or not np.isfinite(y).all():
        raise ValueError(f"y_val must be finite targets of the forecasts' shape {shape}; got shape {y.shape}")
    mse = {name: float(np.mean((f - y) ** 2)) for name, f in preds.items()}
    exact = [name for name, e in mse.items() if e == 0.0]
    if exact:
        return {name: (1.0 / len(exact) if name in exact else 0.0) for name in preds}
    inv = {name: 1.0 / e for name, e in mse.items()}
    total = sum(inv.values())
    return {name: v / total for name, v in inv.items()}


def combine(forecasts: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """The weighted sum of the members' forecasts.

    Parameters
    ----------
    forecasts : Mapping[str, array_like]
        Member name -> its forecasts (all of one shape).
    weights : Mapping[str, float]
        Member name -> weight, for exactly the members of ``forecasts`` (as
        :func:`inverse_mse_weights` returns them).

    Returns
    -------
    np.ndarray
        ``sum_k weights[k] * forecasts[k]``, float64, of the forecasts' shape.

    Raises
    ------
    ValueError
        The names of ``forecasts`` and ``weights`` differ, a weight is negative or not finite, or
        the forecasts are not as :func:`inverse_mse_weights` takes them.
    """
    preds = _checked(forecasts, "forecasts")
    if set(weights) != set(preds):
        raise ValueError(f"weights must name exactly the members {sorted(preds)}; got {sorted(weights)}")
    w = {name: float(v) for name, v in weights.items()}
    if not all(np.isfinite(v) and v >= 0 for v in w.values()):
        raise ValueError(f"weights must be finite and non-negative; got {w}")
    return sum(w[name] * f for name, f in preds.items())


def parse_members(text: str) -> tuple[str, ...]:
    """The members of ``--combine``: ``"lstm,linear"`` -> ``("lstm", "linear")``; ``"none"`` -> ``()``.

    Parameters
    ----------
    text : str
        Comma-separated names of :data:`fastrnn.forecast.config.COMBINE_MEMBERS`.

    Returns
    -------
    tuple of str

    Raises
    ------
    ValueError
        An empty name, an unknown one or one given twice (the message lists the choices).
    """
    from fastrnn.forecast.config import COMBINE_MEMBERS, check_combine

    if text.strip().lower() == "none":
        return ()
    names = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not t for t in names):
        raise ValueError(f"expected member names separated by commas, such as lstm,linear (choices: "
                         f"{', '.join(COMBINE_MEMBERS)}; none: no combination); got {text!r}")
    return check_combine(names)


@dataclass
class Combination:
    """A fitted combination: its members and their weights (:func:`fastrnn.forecast.fit_combination`).

    Attributes
    ----------
    models : dict
        Member name -> its fitted model (a stack for an ensemble; the linear AR is a hybrid model
        whose network output is zero, :meth:`fastrnn.RNN.least_squares_init`), or ``None`` for
        persistence.
    weights : dict
        Member name -> weight (:func:`inverse_mse_weights` on the validation part).
    histories : list
        One :class:`~fastrnn.trainer.History` per trained network (ensemble) member, in member order.
    members : list
        The trained networks' individual models, matching ``histories``.
    train_seconds : float
        Wall time of the networks' training.
    """

    models: dict
    weights: dict
    histories: list = field(default_factory=list)
    members: list = field(default_factory=list)
    train_seconds: float = 0.0
