"""Gradient health: is my model vanishing or exploding?"""

from __future__ import annotations

import numpy as np

from fastrnn import losses as _losses
from fastrnn.trainer import _as_targets


def gradient_flow(model, X, y, loss="mse"):
    """‖∂L/∂h_t‖ for every step and layer, for the loss of ``model`` on ``(X, y)``.

    Returns an array of shape ``(num_layers, num_directions, T)``: entry ``[l, d, t]`` is the
    Frobenius norm over the batch of the total gradient reaching layer ``l``'s hidden state at step
    ``t`` (direction ``d``; the backward direction is indexed in the input's time order too). For a
    many-to-one model the gradient enters at the last step, so a norm that falls by orders of
    magnitude towards ``t = 0`` means vanishing gradients (the early steps barely learn); one that
    grows means exploding gradients (clip them). No weights change, and dropout is off.
    """
    loss = _losses.get(loss)
    X = model._check_x(X)
    y = _as_targets(model, y)
    pred, cache = model._forward(X)  # X checked above
    _, d_pred = loss(pred, y)
    _, dhs = model.backward(cache, d_pred)
    return np.array([[np.sqrt(np.einsum("tbh,tbh->t", dh, dh)) for dh in layer] for layer in dhs])
