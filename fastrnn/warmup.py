"""Compile (or load from Numba's on-disk cache) the kernels a training run uses, ahead of time.

The first call of a Numba kernel with a new signature compiles it (seconds); later processes load
it from the on-disk cache (``cache=True``). :func:`warm_up` makes that cost happen at a time of the
caller's choosing: before a test session, a benchmark, or the first task of a worker process.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from fastrnn.cells import KINDS

__all__ = ["warm_up"]


def warm_up(kinds: Iterable[str] = KINDS,
            dtypes: Iterable[str] = ("float32", "float64")) -> float:
    """Run one tiny training step and one prediction of each model kind and dtype.

    This compiles the forward and backward kernels, the MSE loss, Adam's update and the gradient
    clipping that a default training run (:class:`fastrnn.Trainer` with ``clip_norm``) calls.

    Parameters
    ----------
    kinds : iterable of str, default :data:`fastrnn.cells.KINDS`
        Model kinds, any of :data:`fastrnn.cells.KINDS` (default: all of them).
    dtypes : iterable of str, default ("float32", "float64")
        ``"float32"`` and/or ``"float64"``.

    Returns
    -------
    float
        The seconds it took (the compile time on a cold cache, the cache's load time after).
    """
    import numpy as np

    from fastrnn import models, optim
    from fastrnn.trainer import Trainer

    t0 = time.perf_counter()
    for dtype in dtypes:
        x = np.linspace(-1.0, 1.0, 2 * 3, dtype=dtype).reshape(2, 3)  # (B, T), one input
        y = np.array([[0.5], [-0.5]], dtype=dtype)
        for kind in kinds:
            model = models.model_class(kind)(input_size=1, hidden_size=2, seed=0, dtype=dtype)
            trainer = Trainer(model, loss="mse", optimizer=optim.Adam(model.parameters()),
                              clip_norm=1.0)
            trainer.train_step(x, y)
            model.predict(x)
    return time.perf_counter() - t0
