"""The steps a case times, one per backend: fastrnn through its model API, PyTorch, and the same
step written by hand on :mod:`fastrnn.functional` as an independent check of the model path.

One *train step* is the many-to-one regression step

    forward over the sequence -> linear head on h_T -> MSE loss -> BPTT -> update

and *inference* is the forward pass plus the head. A step for another kind of case (e.g. a stack
of models) is another :class:`Step` here, registered in :data:`STEP_FACTORIES` or built by its case.
"""

from __future__ import annotations

import math
import os

import numpy as np

from fastrnn import cells as _cells
from fastrnn.bench.cases import FUNCTIONAL_CELL, GATES, LR, OUTPUT_SIZE

#: fastrnn.optim's optimizer name -> the torch.optim class of the same update.
TORCH_OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad"}


class Step:
    """One benchmark case on one backend: ``train()`` runs a train step, ``infer()`` a forward pass.

    Both return the loss / predictions so that nothing is optimised away.
    """

    name = "?"

    def train(self):
        """One train step; returns the loss."""
        raise NotImplementedError

    def infer(self):
        """One forward pass and head; returns the predictions."""
        raise NotImplementedError


def case_data(size: tuple[int, int, int, int], dtype: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The inputs ``x`` (time-major, ``(T, B, I)``) and targets ``y`` (``(B, OUTPUT_SIZE)``) of a case,
    standard normal from ``seed``."""
    B, T, I, H = size
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, I)).astype(dtype)  # time-major
    y = rng.standard_normal((B, OUTPUT_SIZE)).astype(dtype)
    return x, y


def init_params(cell: str, I: int, H: int, dtype: str, seed: int = 0) -> tuple[dict, dict]:
    """One layer's weights and the head's, with PyTorch's default initialisation.

    Every weight and bias is uniform(-1/sqrt(H), 1/sqrt(H)).

    Returns
    -------
    params : dict
        ``w_ih (G H, I)``, ``w_hh (G H, H)``, ``b_ih``, ``b_hh`` (:mod:`fastrnn.functional`'s names).
    head : dict
        ``w (OUTPUT_SIZE, H)``, ``b (OUTPUT_SIZE,)``.
    """
    G = GATES[cell]
    k = 1.0 / math.sqrt(H)
    rng = np.random.default_rng(seed + 1)
    shapes = {"w_ih": (G * H, I), "w_hh": (G * H, H), "b_ih": (G * H,), "b_hh": (G * H,)}
    params = {n: rng.uniform(-k, k, s).astype(dtype) for n, s in shapes.items()}
    head = {"w": rng.uniform(-k, k, (OUTPUT_SIZE, H)).astype(dtype), "b": rng.uniform(-k, k, OUTPUT_SIZE).astype(dtype)}
    return params, head


class FunctionalStep(Step):
    """The grid's train step written by hand on :mod:`fastrnn.functional`: forward, head, MSE, BPTT,
    SGD at :data:`~fastrnn.bench.cases.LR` (one layer, no clipping).

    An independent check of :class:`ModelStep` (the tests compare the two) and, with
    ``FASTRNN_BENCH_STEP=functional``, the step the grid times (see :func:`fastrnn_step`).

    Parameters
    ----------
    backend : "numba" or "numpy".
    cell : one of :data:`~fastrnn.bench.cases.CELLS`.
    size : (B, T, I, H).
    dtype : "float32" or "float64".
    seed : seed of the data and the weights.
    """

    def __init__(self, backend: str, cell: str, size: tuple[int, int, int, int], dtype: str, seed: int = 0):
        from fastrnn import functional as F

        self.F = F
        self.name = backend
        self.backend = backend
        self.cell = FUNCTIONAL_CELL[cell]
        self.lstm = _cells.get(self.cell).has_c
        B, T, I, H = size
        self.x, self.y = case_data(size, dtype, seed)
        self.params, self.head = init_params(cell, I, H, dtype, seed)
        self.lr = np.dtype(dtype).type(LR)

    def infer(self):
        _, state, _ = self.F.forward(self.cell, self.x, self.params, None, backend=self.backend)
        h = state[0] if self.lstm else state
        return h @ self.head["w"].T + self.head["b"]

    def train(self):
        F, p, head, lr = self.F, self.params, self.head, self.lr
        _, state, cache = F.forward(self.cell, self.x, p, None, backend=self.backend)
        h = state[0] if self.lstm else state
        diff = h @ head["w"].T + head["b"] - self.y
        loss = np.mean(diff * diff)
        d_pred = diff * (2.0 / diff.size)  # dL/dpred of the mean squared error
        d_h = d_pred @ head["w"]
        grads = F.backward(self.cell, cache, None, (d_h, None) if self.lstm else d_h)
        head["w"] -= lr * (d_pred.T @ h)
        head["b"] -= lr * d_pred.sum(axis=0)
        for k in ("w_ih", "w_hh", "b_ih", "b_hh"):
            p[k] -= lr * grads[k]
        return loss


class ModelStep(Step):
    """The train step through the model API: ``fr.Trainer(fr.LSTM(...)).train_step(x, y)``.

    Parameters
    ----------
    backend : "numba" or "numpy".
    cell : one of :data:`~fastrnn.bench.cases.CELLS`.
    size : (B, T, I, H).
    dtype : "float32" or "float64".
    seed : seed of the data and the weights.
    optimizer : a :func:`fastrnn.optim.get` name.
    lr : its learning rate.
    clip_norm : the global norm the gradients are clipped to, or None.
    num_layers : stacked layers.
    """

    def __init__(self, backend: str, cell: str, size: tuple[int, int, int, int], dtype: str, seed: int = 0,
                 optimizer: str = "sgd", lr: float = LR, clip_norm: float | None = None, num_layers: int = 1):
        import fastrnn as fr
        from fastrnn.models import model_class

        self.name = backend
        B, T, I, H = size
        cls = model_class(cell)
        self.model = cls(I, H, output_size=OUTPUT_SIZE, num_layers=num_layers, dtype=np.dtype(dtype).name,
                         backend=backend, seed=seed)
        opt = fr.optim.get(optimizer, self.model.parameters(), lr=lr)
        self.trainer = fr.Trainer(self.model, loss="mse", optimizer=opt, clip_norm=clip_norm)
        x, self.y = case_data(size, dtype, seed)
        self.x = np.ascontiguousarray(x.transpose(1, 0, 2))  # the model API is batch-first

    def train(self):
        return self.trainer.train_step(self.x, self.y)

    def infer(self):
        return self.model.predict(self.x)


def fastrnn_step(backend: str, cell: str, size: tuple[int, int, int, int], dtype: str, seed: int = 0,
                 optimizer: str = "sgd", lr: float = LR, clip_norm: float | None = None,
                 num_layers: int = 1) -> Step:
    """The fastrnn side of a benchmark case: a :class:`ModelStep` (arguments as there).

    With the environment variable ``FASTRNN_BENCH_STEP=functional``, the hand-written
    :class:`FunctionalStep` instead. That step only does the grid's training (one layer, SGD at
    lr 1e-3, no clipping): any other ``optimizer``, ``lr``, ``clip_norm`` or ``num_layers`` then
    raises RuntimeError rather than timing a different step.
    """
    if os.environ.get("FASTRNN_BENCH_STEP", "") != "functional":
        return ModelStep(backend, cell, size, dtype, seed, optimizer, lr, clip_norm, num_layers)
    if not (optimizer == "sgd" and lr == LR and clip_norm is None and num_layers == 1):
        raise RuntimeError(
            f"a {num_layers}-layer {cell} step with {optimizer} (lr {lr:g}), clip_norm {clip_norm} needs "
            f"fastrnn's model API, but FASTRNN_BENCH_STEP=functional is set; the hand-written step only "
            f"does one layer with SGD at lr {LR:g} and no clipping: unset FASTRNN_BENCH_STEP to time this case"
        )
    return FunctionalStep(backend, cell, size, dtype, seed)


class TorchStep(Step):
    """nn.RNN/LSTM/GRU + nn.Linear on the last layer's h_T + MSELoss + a torch.optim optimizer.

    The optimizer is :data:`TORCH_OPTIMIZERS` ``[optimizer]`` at ``lr``, after ``clip_grad_norm_``
    unless ``clip_norm`` is None; time-major input. Arguments as :class:`ModelStep` (``backend`` is
    ignored: always "torch").
    """

    def __init__(self, backend: str, cell: str, size: tuple[int, int, int, int], dtype: str, seed: int = 0,
                 optimizer: str = "sgd", lr: float = LR, clip_norm: float | None = None, num_layers: int = 1):
        import torch

        self.torch = torch
        self.name = "torch"
        B, T, I, H = size
        tdtype = {np.float32: torch.float32, np.float64: torch.float64}[np.dtype(dtype).type]
        torch.manual_seed(seed)
        rnn_cls = getattr(torch.nn, _cells.get(_cells.cell_for(cell)).torch[0])
        self.rnn = rnn_cls(I, H, num_layers=num_layers, dtype=tdtype)
        self.head = torch.nn.Linear(H, OUTPUT_SIZE, dtype=tdtype)
        self.lstm = _cells.get(_cells.cell_for(cell)).has_c
        x, y = case_data(size, dtype, seed)
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.loss = torch.nn.MSELoss()
        self.params = list(self.rnn.parameters()) + list(self.head.parameters())
        self.opt = getattr(torch.optim, TORCH_OPTIMIZERS[optimizer])(self.params, lr=lr)
        self.clip_norm = clip_norm

    def _forward(self):
        _, state = self.rnn(self.x)
        h = state[0] if self.lstm else state
        return self.head(h[-1])  # the last layer's final hidden state

    def train(self):
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(self._forward(), self.y)
        loss.backward()
        if self.clip_norm is not None:
            self.torch.nn.utils.clip_grad_norm_(self.params, self.clip_norm)
        self.opt.step()
        return loss

    def infer(self):
        with self.torch.no_grad():
            return self._forward()


#: backend -> factory(backend, cell, size, dtype, seed=0, optimizer="sgd", lr=LR, clip_norm=None,
#: num_layers=1) -> Step. Replace an entry to plug in another implementation of the step. Grid cases
#: call it with (backend, cell, size, dtype) only; dataset cases add the four training settings.
STEP_FACTORIES = {"numpy": fastrnn_step, "numba": fastrnn_step, "torch": TorchStep}
