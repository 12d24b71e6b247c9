"""Gradient health: is my model vanishing or exploding?"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from fastrnn import losses as _losses
from fastrnn.trainer import as_targets

if TYPE_CHECKING:
    from fastrnn.models import GRU, LSTM, RNN


def gradient_flow(model: RNN | LSTM | GRU, X: ArrayLike, y: ArrayLike,
                  loss: str | _losses.Loss | Callable = "mse") -> np.ndarray:
    """‖∂L/∂h_t‖ for every step and layer, for the loss of ``model`` on ``(X, y)``.

    For a many-to-one model the gradient enters at the last step, so a norm that falls by orders of
    magnitude towards ``t = 0`` means vanishing gradients (the early steps barely learn); one that
    grows means exploding gradients (clip them). No weights change, and dropout is off.

    Parameters
    ----------
    model : RNN, LSTM or GRU
        The model to inspect.
    X : array_like, shape (B, T, I), or (B, T) when the model has one input
        Inputs, as :meth:`~fastrnn.models.RNN.predict` takes them.
    y : array_like
        Targets for ``X``, as :meth:`fastrnn.Trainer.fit` takes them.
    loss : str or callable, default "mse"
        A loss name or a loss from :mod:`fastrnn.losses`.

    Returns
    -------
    np.ndarray, shape (num_layers, num_directions, T)
        Entry ``[l, d, t]`` is the Frobenius norm over the batch of the total gradient reaching
        layer ``l``'s hidden state at step ``t`` (direction ``d``; the backward direction is indexed
        in the input's time order too).

    Raises
    ------
    ValueError
        ``X`` is not as the model takes it, or an unknown loss name.
    """
    loss = _losses.get(loss)
    X = model.check_x(X)
    y = as_targets(model, y)
    pred, cache = model.forward_unchecked(X)  # X checked above
    _, d_pred = loss(pred, y)
    _, dhs = model.backward(cache, d_pred)
    return np.array([[np.sqrt(np.einsum("tbh,tbh->t", dh, dh)) for dh in layer] for layer in dhs])
