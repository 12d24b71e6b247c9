"""Stacks of independent models: M models of one kind and shape, run and trained together.

    import fastrnn as fr
    st = fr.stack([fr.LSTM(1, 32, seed=s) for s in range(64)])
    histories = fr.Trainer(st).fit(X, y, epochs=20)      # one History per model
    y_hat = st.predict(X)                                 # (M, B, O)
    models = st.unstack()                                 # ordinary models again

The weights are stacked, ``(M, G·H, I)`` for ``weight_ih_l0`` and so on, and every layer's
forward (and BPTT) is **one** kernel call for all M models, parallel over the models across the
cores (each model on one thread, BLAS single-threaded; :func:`fastrnn.threads.run_stack_threads`).
The rest of a step (the linear head, the loss, clipping, the optimizer) runs per model, by the same
code as for a model alone. So model m of a stack computes exactly what it computes alone: training
a stack is equivalent to, and bitwise equal with, ::

    for m, model in enumerate(models):
        fr.Trainer(model).fit(X, y, epochs=20)

with each model's own seed (weights and shuffling), optimizer state, gradient clipping and early
stopping (a model that stops keeps its best weights and is left out of the later steps).

A stack holds one-direction, many-to-one models without dropout (what ensembles, seed sweeps and
per-series forecasters are); the models may differ in their weights and seeds only.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from fastrnn import cells
from fastrnn import threads as _threads
from fastrnn.models import _Recurrent, check_positive_int

#: Settings every model of a stack must share (all of :meth:`~fastrnn.RNN.config` but the seed).
SHARED = ("kind", "input_size", "hidden_size", "output_size", "num_layers", "bidirectional", "dropout",
          "nonlinearity", "return_sequences", "init", "forget_bias", "dtype", "backend",
          "ar_lags", "ar_frozen")  # the last two only for models with a linear path


def stack(models: Sequence[_Recurrent]) -> Stack:
    """Stack ``models`` (copies of their weights) into one :class:`Stack`.

    Parameters
    ----------
    models : sequence of RNN, LSTM or GRU
        At least one model; all with the same settings but the seed (:data:`SHARED`), one
        direction, no dropout, ``return_sequences=False``.

    Returns
    -------
    Stack
        Model m of the stack starts with a copy of ``models[m]``'s weights; training the stack
        does not change ``models``.

    Raises
    ------
    ValueError
        No models, something that is not a model, settings that differ (the message names the
        first model and setting), or a setting a stack does not support.
    """
    return Stack(models)


class Stack:
    """M independent models of one kind and shape, with stacked weights. Build it with :func:`stack`.

    Parameters
    ----------
    models : sequence of RNN, LSTM or GRU
        As :func:`stack` takes them.

    Attributes
    ----------
    num_models : int
        M.
    seeds : list of int or None
        Each model's seed (its shuffling in :meth:`fastrnn.Trainer.fit`).
    members : list of RNN, LSTM or GRU
        Model m as an ordinary model whose weights are views into the stack's arrays (changing one
        changes the other); :meth:`unstack` gives independent copies.
    kind, input_size, hidden_size, output_size, num_layers, bidirectional, return_sequences, dtype, backend, cell
        The shared settings, as on the models.
    ar_lags, ar_frozen
        The models' linear path (0 and False without one), as on the models.

    Raises
    ------
    ValueError
        As :func:`stack`.
    """

    def __init__(self, models: Sequence[_Recurrent]) -> None:
        if isinstance(models, (_Recurrent, Stack)) or not isinstance(models, Sequence):
            raise ValueError(f"stack() takes a list of models; got {type(models).__name__}")
        models = list(models)
        if not models:
            raise ValueError("stack() needs at least one model; got an empty list")
        for m, model in enumerate(models):
            if not isinstance(model, _Recurrent):
                raise ValueError(f"stack(): item {m} is a {type(model).__name__}, not a fastrnn RNN, LSTM or GRU")
        c0 = models[0].config()
        for m, model in enumerate(models[1:], 1):
            c = model.config()
            for key in SHARED:
                if c.get(key) != c0.get(key):
                    raise ValueError(f"stack(): the models must share every setting but the seed; model {m} "
                                     f"has {key}={c.get(key)!r}, model 0 has {key}={c0.get(key)!r}")
        for key, ok in (("bidirectional", False), ("return_sequences", False)):
            if c0[key] != ok:
                raise ValueError(f"stack(): a stack holds one-direction, many-to-one models; got {key}=True")
        if c0["dropout"]:
            raise ValueError(f"stack(): a stack holds models without dropout; got dropout={c0['dropout']}")
        self._config = {k: c0[k] for k in SHARED if k in c0}
        self.seeds = [model.seed for model in models]
        # every array, a frozen linear path included (model._params; parameters() are the trainable ones)
        self._params = {name: np.ascontiguousarray(np.stack([model._params[name] for model in models]))
                        for name in models[0]._params}
        self._bind_members(models)

    def _bind_members(self, models):
        """Member m: a shallow copy of ``models[m]`` whose arrays are views of the stacked ones."""
        self.members = []
        for m, model in enumerate(models):
            member = copy.copy(model)
            member._rng = np.random.default_rng(model.seed)
            member._bind({name: p[m] for name, p in self._params.items()})
            self.members.append(member)
        first = self.members[0]
        for attr in ("kind", "input_size", "hidden_size", "output_size", "num_layers", "bidirectional",
                     "return_sequences", "dtype", "backend", "cell", "ar_lags", "ar_frozen"):
            setattr(self, attr, getattr(first, attr))
        self._spec = cells.get(self.cell)
        # (layer) -> the stacked {w_ih, w_hh, b_ih, b_hh} of that layer, and their parameter names
        self._layer_keys = [first._layer_keys[layer, 0] for layer in range(self.num_layers)]
        self._layer_params = [{k: self._params[n] for k, n in names.items()} for names in self._layer_keys]

    # ---------------------------------------------------------------------------------------------
    # the stack as a collection

    @property
    def num_models(self) -> int:
        """M, the number of models."""
        return len(self.members)

    def __len__(self) -> int:
        return len(self.members)

    def config(self) -> dict[str, Any]:
        """The shared settings (:data:`SHARED`), ``num_models`` and ``seeds``, as :meth:`save` stores them.

        Returns
        -------
        dict[str, Any]
            JSON-serialisable values.
        """
        return {**self._config, "num_models": self.num_models, "seeds": list(self.seeds)}

    def parameters(self) -> dict[str, np.ndarray]:
        """The stacked parameter arrays, by name (no copies: training updates them in place).

        Returns
        -------
        dict[str, np.ndarray]
            The models' names (PyTorch's), each array ``(M, *shape)`` with model m's at index m;
            a frozen linear path included (it is saved with the stack; training leaves it alone).
        """
        return self._params

    def num_parameters(self) -> int:
        """The number of trainable scalars of all M models together.

        Returns
        -------
        int
            M times a model's (:meth:`fastrnn.RNN.num_parameters`: a frozen linear path not counted).
        """
        return int(sum(self._params[name].size for name in self.members[0].parameters()))

    def unstack(self) -> list[_Recurrent]:
        """The M models as ordinary, independent models (copies of their current weights).

        Returns
        -------
        list of RNN, LSTM or GRU
            Model m has model m's settings, seed and weights.
        """
        out = []
        for member in self.members:
            model = copy.copy(member)
            model._rng = np.random.default_rng(member.seed)
            model._bind({name: p.copy() for name, p in member._params.items()})
            out.append(model)
        return out

    def __repr__(self):
        cfg = ", ".join(f"{k}={v!r}" for k, v in self._config.items() if k != "kind")
        return f"Stack({self.num_models} x {type(self.members[0]).__name__}({cfg}))"

    # ---------------------------------------------------------------------------------------------
    # forward and backward

    def check_x(self, x: ArrayLike) -> np.ndarray:
        """``x`` as the stack takes it: ``(M, B, T, I)`` in the models' dtype, real and finite.

        Parameters
        ----------
        x : array_like
            One input per model, ``(M, B, T, I)`` (always 4-D, also when ``input_size`` is 1), or
            one input shared by all, as a single model takes it (``(B, T, I)``, or ``(B, T)`` when
            ``input_size`` is 1).

        Returns
        -------
        np.ndarray
            ``(M, B, T, I)``, C-contiguous (a shared input is repeated for every model).

        Raises
        ------
        ValueError
            As :meth:`fastrnn.RNN.check_x`, or a 4-D input whose leading axis is not M.
        """
        a = np.asarray(x)
        first = self.members[0]
        if a.ndim != 4:
            a = first.check_x(a)
            return np.ascontiguousarray(np.broadcast_to(a, (self.num_models, *a.shape)))
        if a.shape[0] != self.num_models:
            raise ValueError(f"x must have one input per model, shape ({self.num_models}, B, T, I), or one shared "
                             f"input (B, T, I); got shape {a.shape}")
        return np.stack([first.check_x(a[m]) for m in range(self.num_models)])

    def forward_unchecked(self, x: np.ndarray, active: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
        """The models' outputs for ``x`` as :meth:`check_x` returns it, keeping what
        :meth:`backward` needs.

        Parameters
        ----------
        x : np.ndarray
            ``(M, B, T, I)`` in the models' dtype, C-contiguous.
        active : np.ndarray of int64 or None, default None
            The models to run (indices); None: all. The other models' outputs are zeros.

        Returns
        -------
        y : np.ndarray
            ``(M, B, O)``.
        cache : dict
            For :meth:`backward`.
        """
        M, B, T, _ = x.shape
        if active is None:
            active = np.arange(M, dtype=np.int64)
        if self.backend != "numba":  # the NumPy reference: each model by its own code
            y = np.zeros((M, B, self.output_size), self.dtype)
            caches = {}
            for m in active:
                y[m], caches[m] = self.members[m].forward_unchecked(x[m])
            return y, {"members": caches, "active": active}
        from fastrnn.kernels import _pooled

        seq = np.ascontiguousarray(x.transpose(0, 2, 1, 3))  # time-major per model: (M, T, B, I)
        H, spec = self.hidden_size, self._spec
        zeros = np.zeros((M, B, H), self.dtype)
        s0 = (zeros,) * len(spec.state)
        layers = []
        for p in self._layer_params:
            saved = _pooled.stack_forward(spec, seq, p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], s0, active)
            layers.append((seq, saved))
            seq = np.ascontiguousarray(saved[0][:, 1:])  # hs[1:] of every model: the next layer's input
        feat = saved[0][:, T]  # h_T of the last layer, (M, B, H)
        lags = [self.members[m]._lags(x[m]) for m in range(M)] if self.ar_lags else [None] * M
        y = np.zeros((M, B, self.output_size), self.dtype)
        for m in active:
            y[m] = self.members[m]._head(feat[m], lags[m])
        return y, {"layers": layers, "feat": feat, "active": active, "lags": lags}

    def backward(self, cache: dict, d_y: np.ndarray,
                 active: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], dict[int, str]]:
        """The gradients of every active model's loss w.r.t. its parameters, by BPTT.

        Parameters
        ----------
        cache : dict
            The cache of the :meth:`forward_unchecked` call.
        d_y : np.ndarray
            ``(M, B, O)``, ∂L_m/∂y_m for every model.
        active : np.ndarray of int64 or None, default None
            The models whose gradients to compute (a subset of the forward's); None: the forward's.

        Returns
        -------
        grads : dict[str, np.ndarray]
            Name -> ``(M, *shape)``, for the names of the members' :meth:`~fastrnn.RNN.parameters`
            (not a frozen linear path); the entries of models not in ``active`` (or overflowed)
            are undefined.
        overflowed : dict[int, str]
            Model -> what overflowed, for the models whose gradient became NaN or infinite on its way
            down (as :meth:`fastrnn.RNN.backward` raises FloatingPointError for one model).
        """
        if active is None:
            active = cache["active"]
        M = d_y.shape[0]
        overflowed = {}
        trainable = self.members[0].parameters()
        if self.backend != "numba":
            grads = {name: np.zeros_like(self._params[name]) for name in trainable}
            for m in active:
                try:
                    g, _ = self.members[m].backward(cache["members"][m], d_y[m])
                except FloatingPointError as e:
                    overflowed[int(m)] = str(e)
                    continue
                for name, v in g.items():
                    grads[name][m] = v
            return grads, overflowed
        from fastrnn.kernels import _pooled

        spec, H = self._spec, self.hidden_size
        feat = cache["feat"]
        B = feat.shape[1]
        grads = {name: np.zeros_like(self._params[name]) for name in trainable if name.startswith("head.")}
        d_final = np.zeros((M, B, H), self.dtype)
        for m in active:
            head_grads, d_final[m] = self.members[m]._head_backward(d_y[m], feat[m], cache["lags"][m])
            for name, g in head_grads.items():
                grads[name][m] = g
        d_out = None
        live = [int(m) for m in active]
        for layer in reversed(range(self.num_layers)):
            for m in list(live):
                g = d_final[m] if d_out is None else d_out[m]
                if not np.isfinite(g).all():
                    overflowed[m] = f"the gradient reaching layer {layer} overflowed (NaN or inf)"
                    live.remove(m)
            if not live:
                break
            seq, saved = cache["layers"][layer]
            p = self._layer_params[layer]
            ds = (d_final, np.zeros_like(d_final)) if spec.has_c else (d_final,)
            dx, dw_ih, dw_hh, db_ih, db_hh, _ = _pooled.stack_backward(
                spec, seq, p["w_ih"], p["w_hh"], saved, d_out, ds, np.asarray(live, dtype=np.int64))
            for k, name in self._layer_keys[layer].items():
                grads[name] = {"w_ih": dw_ih, "w_hh": dw_hh, "b_ih": db_ih, "b_hh": db_hh}[k]
            d_out, d_final = dx, np.zeros_like(d_final)  # lower layers get gradients through their outputs
        return {name: grads[name] for name in trainable}, overflowed

    def predict(self, x: ArrayLike, batch_size: int | None = None) -> np.ndarray:
        """Every model's predictions for ``x``, in batches of ``batch_size`` rows.

        Parameters
        ----------
        x : array_like
            ``(M, B, T, I)`` (one input per model) or ``(B, T, I)`` (shared); ``(…, B, T)`` when
            ``input_size`` is 1. As :meth:`check_x` takes it.
        batch_size : int or None, default None
            Rows per forward pass; None: all at once.

        Returns
        -------
        np.ndarray
            ``(M, B, O)``: model m's predictions at index m.

        Raises
        ------
        ValueError
            ``x`` is not as :meth:`check_x` takes it; ``batch_size`` is not a positive integer or None.
        """
        x = self.check_x(x)
        B = x.shape[1]
        if batch_size is not None:
            check_positive_int("batch_size", batch_size, "or None")
        step = B if batch_size is None else int(batch_size)
        with _threads.run_stack_threads(self):
            return np.concatenate([self.forward_unchecked(np.ascontiguousarray(x[:, i:i + step]))[0]
                                   for i in range(0, B, step)], axis=1)

    def __call__(self, x: ArrayLike) -> np.ndarray:
        """``stack(x)`` is ``stack.predict(x)``.

        Parameters
        ----------
        x : array_like
            As :meth:`predict` takes it.

        Returns
        -------
        np.ndarray
            ``(M, B, O)``.
        """
        return self.predict(x)

    # ---------------------------------------------------------------------------------------------
    # persistence

    def save(self, path: str | os.PathLike) -> None:
        """Write the stack to one ``.npz`` file (the stacked weights, O(M·H²)), atomically;
        :func:`fastrnn.load` reads it back as a :class:`Stack`.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (replaced if it exists).
        """
        from fastrnn.models import FORMAT_VERSION, _write_npz

        _write_npz(path, {"__config__": np.array(json.dumps(self.config())),
                          "__stack__": np.array(self.num_models),
                          "__format_version__": np.array(FORMAT_VERSION), **self._params})

    @classmethod
    def _from_file(cls, config: dict, weights: dict) -> Stack:
        """The stack of a checked file's config and weights (see :func:`fastrnn.models.load`)."""
        from fastrnn.models import model_class

        kw = {k: v for k, v in config.items() if k in SHARED and k != "kind"}
        models = [model_class(config["kind"])(**kw, seed=seed) for seed in config["seeds"]]
        st = cls(models)
        for name, w in weights.items():
            if not np.isfinite(w).all():
                raise ValueError(f"{name} contains NaN or infinite values")
            st._params[name][...] = w
        return st
