"""Models: a recurrent stack (RNN, LSTM or GRU; stacked, optionally bidirectional) plus a linear head.

    import fastrnn as fr
    model = fr.LSTM(input_size=1, hidden_size=32, seed=0)
    y = model(x)                         # x: (B, T, I) batch-first, or (B, T) when I = 1

Parameters carry PyTorch's names (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``,
``…_reverse`` for the backward direction; ``head.weight``, ``head.bias`` for the head), so a PyTorch
``nn.LSTM`` + ``nn.Linear`` state dict loads as it is. Each layer runs on :mod:`fastrnn.functional`.

A model may also have a **linear path** (``ar_lags=L > 0``; a hybrid forecaster, LSTNet's linear
"highway"): the head adds ``head.ar_weight @ x[:, -L:, 0]``, a linear autoregression on the last
``L`` values of input feature 0, to ``W h_T + b``. :meth:`RNN.least_squares_init` sets it (and the
head bias) by least squares on training windows and the network's head weight to zero, so the model
starts as the least-squares AR; ``ar_frozen=True`` keeps that path fixed (the network then learns
the residuals of the AR). Everything that trains, saves or stacks a model gets it from the head.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.lib import format as npformat
from numpy.typing import ArrayLike

from fastrnn import _memory, cells
from fastrnn import threads as _threads
from fastrnn import functional as F

FORMAT_VERSION = 1
INITS = ("random", "xavier", "he", "uniform", "orthogonal")
_CELL_GATES = cells.KIND_GATES
_SIZES = ("input_size", "hidden_size", "output_size", "num_layers")


def check_positive_int(name: str, value: object, alternative: str = "") -> int:
    """``value`` as an int if it is a positive integer (not a bool), else a ValueError.

    The one spelling of this check in the library (models, trainer, stack).

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : object
        What was given.
    alternative : str, default ""
        What else the caller accepts, for the message (e.g. ``"or None"``).

    Returns
    -------
    int
        ``value``.

    Raises
    ------
    ValueError
        ``{name} must be a positive integer[ {alternative}]; got {value!r}``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        what = f"a positive integer {alternative}".rstrip()
        raise ValueError(f"{name} must be {what}; got {value!r}")
    return int(value)


def _check_settings(kind, input_size, hidden_size, output_size, num_layers, dropout, nonlinearity,
                    init, dtype, backend, ar_lags=0, ar_frozen=False, return_sequences=False):
    """The constructor's checks of its arguments (ValueError naming the argument)."""
    if isinstance(ar_lags, bool) or not isinstance(ar_lags, (int, np.integer)) or ar_lags < 0:
        raise ValueError(f"ar_lags must be a non-negative integer (0: no linear path); got {ar_lags!r}")
    if not isinstance(ar_frozen, (bool, np.bool_)):
        raise ValueError(f"ar_frozen must be True or False; got {ar_frozen!r}")
    if ar_frozen and not ar_lags:
        raise ValueError("ar_frozen=True needs a linear path to freeze; give ar_lags > 0")
    if ar_lags and return_sequences:
        raise ValueError("a linear path (ar_lags > 0) needs a last-step model; got return_sequences=True")
    for name, v in zip(_SIZES, (input_size, hidden_size, output_size, num_layers)):
        check_positive_int(name, v)
    if isinstance(dropout, bool) or not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
        raise ValueError(f"dropout must be a number in [0, 1); got {dropout!r}")
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu'; got {nonlinearity!r}")
    if nonlinearity != "tanh" and kind != "rnn":
        raise ValueError(f"nonlinearity applies to RNN only; {kind.upper()} got {nonlinearity!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}; got {init!r}")
    F.float_dtype(dtype)  # ValueError for anything but float32/float64
    if backend not in F.BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(F.BACKENDS)}; got {backend!r}")


def _layer_names(layer: int, direction: int) -> dict:
    """{w_ih, w_hh, b_ih, b_hh} -> PyTorch's parameter name for one layer and direction."""
    sfx = f"_l{layer}" + ("_reverse" if direction else "")
    return {"w_ih": "weight_ih" + sfx, "w_hh": "weight_hh" + sfx, "b_ih": "bias_ih" + sfx, "b_hh": "bias_hh" + sfx}


def parameter_shapes(kind: str, input_size: int, hidden_size: int, output_size: int = 1,
                     num_layers: int = 1, bidirectional: bool = False,
                     ar_lags: int = 0) -> dict[str, tuple[int, ...]]:
    """The shape of every parameter of a model, without building it.

    Parameters
    ----------
    kind : str
        A model kind, one of :data:`fastrnn.cells.KINDS` (``"rnn"``, ``"lstm"``, ``"gru"``).
    input_size, hidden_size, output_size, num_layers : int
        As the model's constructor (``I``, ``H``, ``O``, ``L``).
    bidirectional : bool
        As the model's constructor.
    ar_lags : int, default 0
        As the model's constructor: the lags ``L`` of the linear path (0: none).

    Returns
    -------
    dict[str, tuple[int, ...]]
        Parameter name -> shape, in PyTorch's order (stack first, then the head): ``weight_ih_l{k}``
        ``(G*H, I)`` for layer 0 and ``(G*H, D*H)`` above, ``weight_hh_l{k}`` ``(G*H, H)``, the two
        biases ``(G*H,)`` (``_reverse`` for the backward direction), ``head.weight`` ``(O, D*H)``,
        ``head.bias`` ``(O,)``, with G = 1, 4, 3 gates for RNN, LSTM, GRU and D = 2 if bidirectional;
        with ``ar_lags = L > 0`` last ``head.ar_weight`` ``(O, L)``.

    Raises
    ------
    ValueError
        ``kind`` is not a model kind of the cell registry.
    """
    if kind not in _CELL_GATES:
        raise ValueError(f"kind must be one of {', '.join(map(repr, _CELL_GATES))}; got {kind!r}")
    G, H, D = _CELL_GATES[kind], hidden_size, 2 if bidirectional else 1
    shapes = {}
    for layer in range(num_layers):
        n_in = input_size if layer == 0 else D * H
        for d in range(D):
            names = _layer_names(layer, d)
            shapes[names["w_ih"]] = (G * H, n_in)
            shapes[names["w_hh"]] = (G * H, H)
            shapes[names["b_ih"]] = (G * H,)
            shapes[names["b_hh"]] = (G * H,)
    shapes["head.weight"] = (output_size, D * H)
    shapes["head.bias"] = (output_size,)
    if ar_lags:
        shapes["head.ar_weight"] = (output_size, ar_lags)
    return shapes


class _Recurrent:
    """Common code of :class:`RNN`, :class:`LSTM` and :class:`GRU`. Use those."""

    kind = None  # "rnn" | "lstm" | "gru"

    def __init__(self, input_size: int, hidden_size: int, output_size: int = 1, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, nonlinearity: str = "tanh",
                 return_sequences: bool = False, init: str = "xavier", forget_bias: float = 1.0,
                 dtype: str | np.dtype = "float32", backend: str = "numba", seed: int | None = None,
                 ar_lags: int = 0, ar_frozen: bool = False) -> None:
        _check_settings(self.kind, input_size, hidden_size, output_size, num_layers, dropout,
                        nonlinearity, init, dtype, backend, ar_lags, ar_frozen, return_sequences)
        self.ar_lags = int(ar_lags)
        self.ar_frozen = bool(ar_frozen)
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.output_size = int(output_size)
        self.num_layers = int(num_layers)
        self.bidirectional = bool(bidirectional)
        self.dropout = float(dropout)
        self.nonlinearity = nonlinearity
        self.return_sequences = bool(return_sequences)
        self.init = init
        self.forget_bias = float(forget_bias)
        self.dtype = np.dtype(dtype)
        self.backend = backend
        self.seed = seed
        self.cell = cells.cell_for(self.kind, nonlinearity)
        self._spec = cells.get(self.cell)  # the registry entry: gates, state (h) or (h, c)
        self._rng = np.random.default_rng(seed)  # initialisation, then dropout masks
        self._bind(self._init_params())

    def _bind(self, params):
        """Make ``params`` (name -> array, as :meth:`parameters` returns them) the model's own arrays
        (a :class:`fastrnn.stacks.Stack` binds views of its stacked arrays)."""
        self._params = params
        # what the optimizers see: every array but a frozen linear path (same arrays, no copies)
        self._trainable = {k: v for k, v in params.items() if not (self.ar_frozen and k == "head.ar_weight")}
        # Built once, not every step: (layer, direction) -> {w_ih, w_hh, b_ih, b_hh} -> the parameter's
        # name, and -> the model's own array (arrays keep their identity: load_state_dict and the
        # optimizers write into them).
        self._layer_keys = {(layer, d): self._layer_names(layer, d)
                            for layer in range(self.num_layers) for d in range(self.num_directions)}
        self._layer_params = {key: {k: self._params[n] for k, n in names.items()}
                              for key, names in self._layer_keys.items()}

    # ---------------------------------------------------------------------------------------------
    # configuration and parameters

    @property
    def num_directions(self) -> int:
        """Directions per layer, ``D``: 2 if ``bidirectional``, else 1."""
        return 2 if self.bidirectional else 1

    def config(self) -> dict[str, Any]:
        """The constructor arguments, as saved by :meth:`save`.

        Returns
        -------
        dict[str, Any]
            ``kind`` (``"rnn"``, ``"lstm"``, ``"gru"``) and every constructor argument by name, as
            JSON-serialisable values (``dtype`` as its name): ``type(model)(**config)`` without
            ``kind`` builds the same architecture. ``ar_lags`` and ``ar_frozen`` appear only for a
            model with a linear path (so a plain model's config, and file, is as before them).
        """
        hybrid = {"ar_lags": self.ar_lags, "ar_frozen": self.ar_frozen} if self.ar_lags else {}
        return {
            "kind": self.kind, "input_size": self.input_size, "hidden_size": self.hidden_size,
            "output_size": self.output_size, "num_layers": self.num_layers,
            "bidirectional": self.bidirectional, "dropout": self.dropout,
            "nonlinearity": self.nonlinearity, "return_sequences": self.return_sequences,
            "init": self.init, "forget_bias": self.forget_bias, "dtype": self.dtype.name,
            "backend": self.backend, "seed": self.seed, **hybrid,
        }

    def _layer_names(self, layer, direction):
        return _layer_names(layer, direction)

    def _shapes(self):
        """Parameter name -> shape, in PyTorch's order (stack first, then the head)."""
        return parameter_shapes(self.kind, self.input_size, self.hidden_size, self.output_size,
                                self.num_layers, self.bidirectional, self.ar_lags)

    def _init_params(self):
        """Initialise the weights.

        ``uniform`` is PyTorch's default: every weight and bias U(-1/√H, 1/√H) (head: U(±1/√fan_in)).
        The others initialise each gate's block of ``w_ih`` and ``w_hh`` on its own and set biases to 0:
        ``random`` N(0, 0.01²) (min-char-rnn), ``xavier`` Glorot uniform (Keras' default),
        ``he`` N(0, 2/fan_in), ``orthogonal`` Glorot uniform inputs and orthogonal recurrent blocks
        (Keras' recurrent default). The head is Glorot uniform with zero bias. For an LSTM, the forget
        gate's ``bias_ih`` is then set to ``forget_bias`` (1.0 by default, as Keras does). A linear
        path starts at zero (drawing nothing, so the other weights are those of the plain model);
        :meth:`least_squares_init` sets it.
        """
        rng, H = self._rng, self.hidden_size
        params = {}

        def block(fan_in, fan_out, recurrent):
            if self.init == "random":
                return 0.01 * rng.standard_normal((fan_out, fan_in))
            if self.init == "he":
                return rng.standard_normal((fan_out, fan_in)) * np.sqrt(2.0 / fan_in)
            if self.init == "orthogonal" and recurrent:
                q, r = np.linalg.qr(rng.standard_normal((fan_out, fan_in)))
                return q * np.sign(np.diag(r))  # sign fix makes q uniformly distributed
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            return rng.uniform(-limit, limit, (fan_out, fan_in))

        for name, shape in self._shapes().items():
            if name == "head.ar_weight":
                params[name] = np.zeros(shape)
            elif self.init == "uniform":  # torch: nn.LSTM & co. use 1/√H; nn.Linear 1/√fan_in
                fan = self.num_directions * H if name.startswith("head.") else H
                params[name] = rng.uniform(-1.0 / np.sqrt(fan), 1.0 / np.sqrt(fan), shape)
            elif len(shape) == 1:
                params[name] = np.zeros(shape)
            elif name == "head.weight":
                limit = np.sqrt(6.0 / (shape[0] + shape[1]))
                params[name] = rng.uniform(-limit, limit, shape)
            else:
                G = shape[0] // H
                recurrent = "_hh_" in name
                params[name] = np.concatenate([block(shape[1], H, recurrent) for _ in range(G)], axis=0)
        if "f" in self._spec.gates:  # a forget gate (LSTM): its bias_ih block starts at forget_bias
            f = self._spec.gates.index("f")
            for name in params:
                if name.startswith("bias_ih"):
                    params[name][f * H:(f + 1) * H] = self.forget_bias
        return {k: np.ascontiguousarray(v, dtype=self.dtype) for k, v in params.items()}

    def parameters(self) -> dict[str, np.ndarray]:
        """The model's own trainable parameter arrays, by name (no copies: optimizers update them
        in place).

        Returns
        -------
        dict[str, np.ndarray]
            PyTorch's names and shapes (see :func:`parameter_shapes`), stack first, then the head;
            all C-contiguous, of the model's dtype. A frozen linear path (``ar_frozen``) is not
            among them (it is in :meth:`state_dict` and in the saved file).
        """
        return self._trainable

    def num_parameters(self) -> int:
        """The number of trainable scalars.

        Returns
        -------
        int
            The total size of all arrays of :meth:`parameters`.
        """
        return int(sum(p.size for p in self._trainable.values()))

    def least_squares_init(self, X: ArrayLike, y: ArrayLike) -> np.ndarray:
        """Start the model as the least-squares AR of its linear path: fit ``y ≈ c + A x_lags``
        on the windows ``(X, y)`` (ordinary least squares with intercept, in float64, as
        :func:`numpy.linalg.lstsq` solves it), set ``head.ar_weight = A`` and ``head.bias = c``,
        and ``head.weight = 0``, so that the network's output is zero and the model's predictions
        are the AR's until training moves them. The recurrent weights are left as they are.

        Parameters
        ----------
        X : array_like, shape (B, T, I), or (B, T) when ``input_size`` is 1
            Training windows, as :meth:`predict` takes them; the fit reads the last ``ar_lags``
            values of feature 0 of each.
        y : array_like, shape (B,) or (B, O)
            Their targets.

        Returns
        -------
        np.ndarray
            The fitted coefficients in float64, ``(1 + L, O)``: the intercept, then lag
            ``T - L + 1 .. T`` (oldest first, as in the window).

        Raises
        ------
        ValueError
            The model has no linear path (``ar_lags = 0``), ``X`` is not as :meth:`check_x` takes
            it, ``y`` does not have one finite target row of ``O`` values per window, or there are
            fewer windows than coefficients (``1 + ar_lags``).
        """
        L, O = self.ar_lags, self.output_size
        if not L:
            raise ValueError("least_squares_init needs a linear path; build the model with ar_lags > 0")
        B = len(self.check_x(X))  # shapes, real and finite numbers, T >= L
        lags = np.asarray(X, dtype=np.float64).reshape(B, -1, self.input_size)[:, -L:, 0]  # not rounded to dtype
        t = np.asarray(y, dtype=np.float64)
        t = t.reshape(-1, 1) if t.ndim == 1 and O == 1 else t
        if t.shape != (len(lags), O) or not np.isfinite(t).all():
            raise ValueError(f"y must be finite targets of shape ({len(lags)}, {O}); got shape {np.shape(y)}"
                             + ("" if t.shape != (len(lags), O) else " with NaN or infinite values"))
        if len(lags) < L + 1:
            raise ValueError(f"least squares for {L} lags and an intercept needs at least {L + 1} windows; "
                             f"got {len(lags)}: use fewer ar_lags or more data")
        A = np.column_stack([np.ones(len(lags)), lags])
        coef, *_ = np.linalg.lstsq(A, t, rcond=None)
        self._params["head.bias"][...] = coef[0]
        self._params["head.ar_weight"][...] = coef[1:].T
        self._params["head.weight"][...] = 0.0
        return coef

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter, with PyTorch's key names.

        Returns
        -------
        dict[str, np.ndarray]
            Name -> a copy of the array (later training does not change it), as
            :meth:`load_state_dict` takes it.
        """
        return {k: v.copy() for k, v in self._params.items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Load weights by name (PyTorch key names), in place.

        The values are copied into the model's own arrays (cast to its dtype), so an optimizer built
        on :meth:`parameters` keeps updating them. Nothing is changed unless every entry is valid.

        Parameters
        ----------
        state : Mapping[str, array_like]
            Exactly the names of :meth:`state_dict` (a frozen linear path included), each with the
            same shape: NumPy arrays or, through ``np.asarray``, anything array-like, including
            torch tensors (torch itself is not needed), e.g. an ``nn.LSTM`` + ``nn.Linear`` state
            dict.

        Raises
        ------
        ValueError
            A key is missing or unexpected, a shape does not match, or a value is NaN or infinite.
        """
        expected = self._shapes()
        missing = [k for k in expected if k not in state]
        unexpected = [k for k in state if k not in expected]
        if missing or unexpected:
            raise ValueError(
                "state dict does not match the model: "
                + (f"missing keys {missing}" if missing else "")
                + ("; " if missing and unexpected else "")
                + (f"unexpected keys {unexpected}" if unexpected else "")
            )
        new = {}
        for k, shape in expected.items():
            v = state[k]
            if hasattr(v, "detach"):  # a torch tensor, possibly requiring grad
                v = v.detach().cpu().numpy()
            v = np.asarray(v)
            if v.shape != shape:
                raise ValueError(f"{k} must have shape {shape}; got {v.shape}")
            if not np.isfinite(v).all():
                raise ValueError(f"{k} contains NaN or infinite values")
            new[k] = v
        for k, v in new.items():  # all checked: now copy in place, keeping the optimizers' references
            self._params[k][...] = v

    # ---------------------------------------------------------------------------------------------
    # forward and backward

    def check_x(self, x: ArrayLike) -> np.ndarray:
        """``x`` as the model takes it: ``(B, T, I)`` in the model's dtype, real and finite.

        Parameters
        ----------
        x : array_like
            ``(B, T, I)``, or ``(B, T)`` when ``I = 1``; bool, integer or float numbers.

        Returns
        -------
        numpy.ndarray
            ``(B, T, I)``, C-contiguous, ``self.dtype``.

        Raises
        ------
        ValueError
            A ragged or wrongly shaped ``x``, fewer steps than ``ar_lags``, values that are not real
            numbers, NaN or infinity.
        """
        try:
            x = np.asarray(x)
        except ValueError as e:  # ragged nested lists
            raise ValueError(f"x must be a rectangular array of real numbers; got {type(x).__name__} "
                             f"that NumPy cannot turn into one ({e})") from None
        if x.ndim == 2 and self.input_size == 1:
            x = x[:, :, None]
        if x.ndim != 3 or x.shape[2] != self.input_size or x.shape[0] == 0 or x.shape[1] == 0:
            want = "(B, T, I) or (B, T)" if self.input_size == 1 else "(B, T, I)"
            hint = ("; for one sequence of T steps use x.reshape(1, T)" if x.ndim == 1 and
                    self.input_size == 1 else "")
            raise ValueError(f"x must have shape {want} with I = {self.input_size} (B samples of T "
                             f"steps); got {x.shape}{hint}")
        if x.dtype.kind not in "biuf":  # bool, integers, floats: real numbers
            raise ValueError(f"x must hold real numbers; got dtype {x.dtype}")
        if x.shape[1] < self.ar_lags:
            raise ValueError(f"x must have at least T = {self.ar_lags} steps for the linear path "
                             f"(ar_lags={self.ar_lags}); got {x.shape[1]}")
        x = x.astype(self.dtype, copy=False)
        if not F.finite_check(self.backend)(x):
            raise ValueError("x contains NaN or infinite values")
        return x

    def forward(self, x: ArrayLike, training: bool = False,
                state0: list | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Run the model on ``x``, keeping what :meth:`backward` needs.

        Parameters
        ----------
        x : array_like, shape (B, T, I), or (B, T) when ``input_size`` is 1
            Batch-first input of real numbers, taken as by :meth:`predict`.
        training : bool, default False
            Apply dropout between the layers (with ``dropout > 0``).
        state0 : list or None, default None
            One initial state per layer and direction, in the order ``layer * D + direction``: an
            array ``(B, H)`` (``(h0, c0)`` for an LSTM), or None for zeros. None: all zeros.

        Returns
        -------
        y : np.ndarray
            ``(B, O)``, or ``(B, T, O)`` with ``return_sequences``.
        cache : dict
            For :meth:`backward`; ``cache["states"]`` holds the final state of every layer and
            direction, in the order of ``state0`` (to carry over to the next window).

        Raises
        ------
        ValueError
            ``x`` or a ``state0`` entry has the wrong shape, is not real numbers, or is not finite.
        """
        return self.forward_unchecked(self.check_x(x), training, state0)

    def forward_unchecked(self, x: np.ndarray, training: bool = False,
                          state0: list | None = None) -> tuple[np.ndarray, dict]:
        """:meth:`forward` of an ``x`` that :meth:`check_x` returned (the trainer checks its
        inputs once per fit, not once per step).

        Parameters
        ----------
        x : numpy.ndarray
            ``(B, T, I)`` in the model's dtype, as :meth:`check_x` returns it.
        training : bool, default False
            Apply dropout.
        state0 : list or None
            As in :meth:`forward`.

        Returns
        -------
        tuple
            ``(y, cache)`` as :meth:`forward`.
        """
        L, D = self.num_layers, self.num_directions
        if state0 is None:
            state0 = [None] * (L * D)
        seq = x.transpose(1, 0, 2)  # time-major (T, B, I); functional copies it contiguous
        layers, states = [], []
        for layer in range(L):
            mask = None
            if layer > 0 and training and self.dropout > 0.0:
                # inverted dropout on the layer's input, as torch applies between stacked layers
                keep = 1.0 - self.dropout
                mask = (self._rng.random(seq.shape) < keep).astype(self.dtype) / self.dtype.type(keep)
                seq = seq * mask
            outs, caches = [], []
            for d in range(D):
                p = self._layer_params[layer, d]
                inp = seq if d == 0 else seq[::-1]  # the reverse direction reads time backwards
                # x was checked by check_x, the weights have the right shapes and dtype and are kept
                # finite (load_state_dict checks them, the trainer stops on a non-finite loss or
                # gradient): skip F.forward's validation, except for a state0 the caller gave.
                s0 = state0[layer * D + d]
                if s0 is None:
                    s0 = self._zero_state(None, x.shape[0])
                else:
                    s0 = F.check_state(f"state0[{layer * D + d}]", s0, self.cell, (x.shape[0], self.hidden_size),
                                       self.dtype, F.finite_check(self.backend))
                out, state, cache = F.forward_unchecked(self.cell, np.ascontiguousarray(inp), p["w_ih"], p["w_hh"],
                                                        p["b_ih"], p["b_hh"], s0, self.backend)
                outs.append(out if d == 0 else out[::-1])
                caches.append(cache)
                states.append(state)
            layers.append((mask, caches))
            seq = outs[0] if D == 1 else np.concatenate(outs, axis=2)
        if self.return_sequences:
            feat = seq  # (T, B, D*H)
        else:  # final state of each direction of the last layer: forward h_T, backward h_0 (torch's h_n)
            last = states[-D:]
            feat = np.concatenate([s[0] if self._spec.has_c else s for s in last], axis=1)
        lags = self._lags(x)
        y = self._head(feat, lags)
        if self.return_sequences:
            y = y.transpose(1, 0, 2)  # back to batch-first (B, T, O)
        return y, {"layers": layers, "feat": feat, "states": states, "T": x.shape[1], "lags": lags}

    def _lags(self, x):
        """The linear path's inputs of ``x (B, T, I)``: the last ``ar_lags`` values of feature 0,
        ``(B, L)`` (:meth:`check_x` made sure that ``T >= L``), or None."""
        L = self.ar_lags
        if not L:
            return None
        return np.ascontiguousarray(x[:, -L:, 0])

    def _head(self, feat, lags=None):
        """The linear head: ``feat @ W^T + b``, plus ``lags @ W_ar^T`` with a linear path (``lags``
        as :meth:`_lags` returns them)."""
        y = feat @ self._params["head.weight"].T + self._params["head.bias"]
        if lags is not None:
            y += lags @ self._params["head.ar_weight"].T
        return y

    def _head_backward(self, d_y, feat, lags=None):
        """The head's gradients for a last-step model, ``d_y (B, O)``, ``feat (B, D*H)``, ``lags``
        as :meth:`_head` took them: ``(grads, d_feat)``, ``grads`` the head's trainable parameters'
        (``head.weight``, ``head.bias``, and ``head.ar_weight`` unless it is frozen)."""
        grads = {"head.weight": d_y.T @ feat, "head.bias": d_y.sum(axis=0)}
        if lags is not None and not self.ar_frozen:
            grads["head.ar_weight"] = d_y.T @ lags
        return grads, d_y @ self._params["head.weight"]

    def _zero_state(self, dh, B):
        """A state tuple as F.forward_unchecked / F.backward_unchecked take it: ``(dh,)`` or
        ``(dh, dc = 0)``; None means zeros."""
        if dh is None:
            dh = np.zeros((B, self.hidden_size), self.dtype)
        return (dh, np.zeros_like(dh)) if self._spec.has_c else (dh,)

    def backward(self, cache: dict[str, Any],
                 d_y: ArrayLike) -> tuple[dict[str, np.ndarray], list[list[np.ndarray]]]:
        """Gradients of the loss w.r.t. every parameter, by backpropagation through time.

        Parameters
        ----------
        cache : dict
            The cache of the :meth:`forward` call that produced ``y``.
        d_y : array_like, shape of ``y``: (B, O), or (B, T, O) with ``return_sequences``
            ∂L/∂y, the gradient of the loss w.r.t. the forward's output.

        Returns
        -------
        grads : dict[str, np.ndarray]
            Name -> gradient, with the names and shapes of :meth:`parameters` (so none for a
            frozen linear path).
        dhs : list[list[np.ndarray]]
            ``dhs[layer][direction]`` is ∂L/∂h_t, ``(T, B, H)``, the total gradient reaching that
            layer's hidden state at each step, in the input's time order.

        Raises
        ------
        ValueError
            ``d_y`` does not have the shape of the forward's output.
        FloatingPointError
            The gradient overflows (NaN or infinite) on its way down the stack.
        """
        L, D, H = self.num_layers, self.num_directions, self.hidden_size
        d_y = np.asarray(d_y, dtype=self.dtype)
        W = self._params["head.weight"]
        feat = cache["feat"]
        # the shape of the forward's output y: the kernels below trust the shapes they are given
        y_shape = ((feat.shape[1], feat.shape[0]) if self.return_sequences else (feat.shape[0],)) + (W.shape[0],)
        if d_y.shape != y_shape:
            raise ValueError(f"d_y must have the shape of the forward's output {y_shape}; got {d_y.shape}")
        grads = {}
        if self.return_sequences:
            d_y = d_y.transpose(1, 0, 2)  # (T, B, O)
            grads["head.weight"] = d_y.reshape(-1, d_y.shape[2]).T @ feat.reshape(-1, feat.shape[2])
            grads["head.bias"] = d_y.sum(axis=(0, 1))
            d_seq = d_y @ W  # (T, B, D*H): gradient reaching the last layer's outputs
            d_final = [None] * D
        else:
            # d_feat (B, D*H): the gradient reaching each direction's final state
            head_grads, d_feat = self._head_backward(d_y, feat, cache.get("lags"))
            grads.update(head_grads)
            d_seq = None
            d_final = [d_feat[:, d * H:(d + 1) * H] for d in range(D)]
        dhs = [None] * L
        names = self._layer_keys
        for layer in reversed(range(L)):
            for g in (d_seq, *d_final):
                if g is not None and not np.isfinite(g).all():
                    raise FloatingPointError(f"the gradient reaching layer {layer} overflowed (NaN or inf)")
            mask, caches = cache["layers"][layer]
            d_in, dhs[layer] = None, [None] * D
            for d in range(D):
                d_out = None if d_seq is None else d_seq[:, :, d * H:(d + 1) * H]
                if d_out is not None:
                    d_out = np.ascontiguousarray(d_out[::-1] if d else d_out)
                d_state = d_final[d]
                if d_state is not None:
                    d_state = np.ascontiguousarray(d_state)
                # shapes, dtype and finiteness checked above: skip F.backward's validation
                g = F.backward_unchecked(self.cell, caches[d], d_out,
                                         self._zero_state(d_state, caches[d].x.shape[1]),
                                         need_d_state0=False)  # the initial states are not trained
                for k, n in names[layer, d].items():
                    grads[n] = g[k]
                dx = g["x"] if d == 0 else g["x"][::-1]
                dhs[layer][d] = g["h"] if d == 0 else g["h"][::-1]
                d_in = dx if d_in is None else d_in + dx
            if mask is not None:
                d_in = d_in * mask
            d_seq, d_final = d_in, [None] * D  # lower layers feed the next one only through outputs
        return {k: grads[k] for k in self._trainable}, dhs

    def __call__(self, x: ArrayLike) -> np.ndarray:
        """``model(x)`` is ``model.predict(x)``.

        Parameters
        ----------
        x : array_like, shape (B, T, I), or (B, T) when ``input_size`` is 1
            As :meth:`predict` takes it.

        Returns
        -------
        np.ndarray
            ``(B, O)``, or ``(B, T, O)`` with ``return_sequences``.
        """
        return self.predict(x)

    def predict(self, x: ArrayLike, batch_size: int | None = None) -> np.ndarray:
        """Predictions for ``x`` (no dropout), in batches of ``batch_size`` rows.

        Parameters
        ----------
        x : array_like, shape (B, T, I), or (B, T) when ``input_size`` is 1
            Anything ``np.asarray`` turns into real numbers of that shape: nested lists, a pandas
            DataFrame of B rows and T columns, bool or integer arrays (converted to the model's
            dtype).
        batch_size : int or None, default None
            Rows per forward pass (bounds the memory of long inputs); None: all at once.

        Returns
        -------
        np.ndarray
            ``(B, O)``, or ``(B, T, O)`` with ``return_sequences``, of the model's dtype.

        Raises
        ------
        ValueError
            ``x`` has another shape (a 1-D array included), holds strings, objects or complex
            numbers, NaN or infinite values; ``batch_size`` is not a positive integer or None.
        """
        x = self.check_x(x)
        if batch_size is None:
            with _threads.run_threads(self, x, training=False):
                return self.forward_unchecked(x)[0]
        check_positive_int("batch_size", batch_size, "or None")
        with _threads.run_threads(self, x, batch_size, training=False):
            return np.concatenate([self.forward_unchecked(x[i:i + batch_size])[0]
                                   for i in range(0, len(x), batch_size)])

    # ---------------------------------------------------------------------------------------------
    # persistence

    def save(self, path: str | os.PathLike) -> None:
        """Write config, weights and format version to one ``.npz`` file, atomically (a temporary
        file in the same folder, then renamed), so a failure never leaves a half-written model.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (replaced if it exists); :func:`load` reads it back.
        """
        _write_npz(path, {"__config__": np.array(json.dumps(self.config())),
                          "__format_version__": np.array(FORMAT_VERSION), **self._params})

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "kind")
        return f"{type(self).__name__}({args})"


_PARAMETERS_DOC = """
    Parameters
    ----------
    input_size : int
        Features per time step, ``I``.
    hidden_size : int
        Hidden units per layer and direction, ``H``.
    output_size : int, default 1
        Outputs of the linear head, ``O``.
    num_layers : int, default 1
        Stacked recurrent layers; layer ``l > 0`` reads the hidden states of layer ``l - 1``.
    bidirectional : bool, default False
        Add a second direction per layer that reads the sequence backwards; the head then sees
        ``2 H`` features (forward and backward states concatenated, PyTorch's layout).
    dropout : float, default 0.0
        Dropout probability on the outputs of every layer but the last, in training only.
    nonlinearity : {"tanh", "relu"}, default "tanh"
        The RNN's activation (RNN only).
    return_sequences : bool, default False
        ``False``: the head reads the last step's state, ``y`` is ``(B, O)``; ``True``: it reads
        every step's, ``y`` is ``(B, T, O)``.
    init : {"xavier", "orthogonal", "he", "uniform", "random"}, default "xavier"
        Weight initialisation: ``xavier`` Glorot uniform per gate block (Keras' default),
        ``orthogonal`` the same for inputs and orthogonal recurrent blocks, ``he`` N(0, 2/fan_in),
        ``random`` N(0, 0.01²), ``uniform`` U(±1/√H) for every weight and bias (PyTorch's default).
    forget_bias : float, default 1.0
        Initial forget-gate bias of the LSTM: ``bias_ih``'s f block is set to it (``bias_hh``'s
        stays as ``init`` made it).
    dtype : {"float32", "float64"}, default "float32"
        Precision of the weights and of the computation.
    backend : {"numba", "numpy"}, default "numba"
        The kernels: Numba-JIT, or the readable NumPy reference (same results up to rounding).
    seed : int or None, default None
        Seed of the initialisation and of the dropout masks (and, by default, of the
        :class:`~fastrnn.Trainer`'s shuffling); ``None`` draws fresh entropy.
    ar_lags : int, default 0
        Lags ``L`` of a linear path in the head (a hybrid model): ``y = W h + b + A x[:, -L:, 0]``,
        ``A`` = ``head.ar_weight`` ``(O, L)``, on the last ``L`` values of input feature 0 (inputs
        need ``T >= L``); 0: none. It starts at zero; :meth:`least_squares_init` sets it.
    ar_frozen : bool, default False
        Keep the linear path fixed in training (it is not among :meth:`parameters`; saved and
        loaded all the same): the network then learns the residuals of the linear path.

    Shapes
    ------
    ``x``: ``(B, T, I)`` batch-first (``(B, T)`` when ``I = 1``); ``y``: ``(B, O)``, or
    ``(B, T, O)`` with ``return_sequences``. Parameters: ``weight_ih_l{k}`` ``(G H, I)`` (layer 0)
    or ``(G H, D H)``, ``weight_hh_l{k}`` ``(G H, H)``, ``bias_ih_l{k}``, ``bias_hh_l{k}``
    ``(G H,)``, ``…_reverse`` for the backward direction, ``head.weight`` ``(O, D H)``,
    ``head.bias`` ``(O,)``; ``G`` gates, ``D`` directions. These are PyTorch's names and shapes.

    Raises
    ------
    ValueError
        An argument is out of its range or of the wrong type (the message names it), e.g.
        ``nonlinearity="relu"`` for an LSTM or GRU.
"""


class RNN(_Recurrent):
    kind = "rnn"
    __doc__ = """Elman RNN stack plus a linear head.

    Each layer computes, for t = 1 … T (PyTorch's ``nn.RNN``)::

        h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)      (relu with nonlinearity="relu")

    and the head ``y = W h + b`` reads the last layer's state. Equivalent to this loop (one layer,
    one direction, ``h_0 = 0``; the kernels run all batch rows and gates in one pass)::

        h = np.zeros((B, H))
        for t in range(T):
            h = np.tanh(x[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh)
        y = h @ head_w.T + head_b
""" + _PARAMETERS_DOC


class LSTM(_Recurrent):
    kind = "lstm"
    __doc__ = """LSTM stack plus a linear head.

    Each layer computes, for t = 1 … T (PyTorch's ``nn.LSTM``, gate order i, f, g, o)::

        i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
        f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
        o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        h_t = o_t ⊙ tanh(c_t)

    and the head ``y = W h + b`` reads the last layer's ``h``. Equivalent to this loop (one layer,
    one direction, zero initial state; ``sigmoid(v) = 1 / (1 + exp(-v))``)::

        h, c = np.zeros((B, H)), np.zeros((B, H))
        for t in range(T):
            i, f, g, o = np.split(x[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh, 4, axis=1)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
        y = h @ head_w.T + head_b
""" + _PARAMETERS_DOC


class GRU(_Recurrent):
    kind = "gru"
    __doc__ = """GRU stack plus a linear head.

    Each layer computes, for t = 1 … T (PyTorch's ``nn.GRU``, gate order r, z, n)::

        r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    and the head ``y = W h + b`` reads the last layer's state. Equivalent to this loop (one layer,
    one direction, ``h_0 = 0``)::

        h = np.zeros((B, H))
        for t in range(T):
            xr, xz, xn = np.split(x[:, t] @ w_ih.T + b_ih, 3, axis=1)
            hr, hz, hn = np.split(h @ w_hh.T + b_hh, 3, axis=1)
            r, z = sigmoid(xr + hr), sigmoid(xz + hz)
            h = (1 - z) * np.tanh(xn + r * hn) + z * h
        y = h @ head_w.T + head_b
""" + _PARAMETERS_DOC


def model_class(kind: str) -> type[_Recurrent]:
    """The model class of a kind.

    Parameters
    ----------
    kind : str
        One of :data:`fastrnn.cells.KINDS` (``"rnn"``, ``"lstm"``, ``"gru"``).

    Returns
    -------
    type
        :class:`RNN`, :class:`LSTM`, :class:`GRU`, or, for a cell of the registry without a class
        written here, a subclass of the common base named after its entry (made once, at import,
        and kept in this module).

    Raises
    ------
    ValueError
        ``kind`` is not a kind of the registry.
    """
    spec = cells.of_kind(kind)[0]  # ValueError for an unknown kind
    cls = globals().get(spec.model_class)
    if not (isinstance(cls, type) and issubclass(cls, _Recurrent) and cls.kind == kind):
        doc = f"{spec.model_class} stack (gates {', '.join(spec.gates)}) plus a linear head."
        cls = globals()[spec.model_class] = type(spec.model_class, (_Recurrent,),
                                                 {"kind": kind, "__doc__": doc, "__module__": __name__})
    return cls


_KINDS = {k: model_class(k) for k in cells.KINDS}


def _write_npz(path, arrays):
    """Write ``arrays`` (name -> array) to the ``.npz`` file ``path`` atomically: a temporary file in
    the same folder, then renamed, so a failure never leaves a half-written file."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(suffix=".npz.tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class ModelFileError(ValueError):
    """A model file that cannot be read as a fastrnn model (damaged, changed by hand, not a model)."""


#: The keys of :meth:`_Recurrent.config`, as every model file stores them.
_CONFIG_KEYS = ("kind", "input_size", "hidden_size", "output_size", "num_layers", "bidirectional",
                "dropout", "nonlinearity", "return_sequences", "init", "forget_bias", "dtype",
                "backend", "seed")
#: The keys a model with a linear path adds (files of plain models, and older files, have none).
_LINEAR_KEYS = ("ar_lags", "ar_frozen")
_MAX_SIZE = 2**31 - 1  # no real model comes near; beyond it the arithmetic below would be absurd
_MAX_CONFIG_CHARS = 1 << 16  # a config is a few hundred characters
_RESAVE = "the file was changed or damaged; save the model again with model.save(path)"


def _type_name(v) -> str:
    return "null" if v is None else type(v).__name__


def _check_file_config(config, path) -> dict:
    """The constructor arguments stored in a model file, checked as strictly as JSON allows: exactly
    the keys :meth:`config` writes, each of its type (a JSON bool is not an int, ``"64"`` is not a
    number), sizes in 1 .. 2**31-1. Raises :class:`ModelFileError` naming the first bad key."""
    if not isinstance(config, dict) or config.get("kind") not in _KINDS:
        got = config.get("kind") if isinstance(config, dict) else config
        raise ModelFileError(f"{path} has no valid model config (kind must be one of "
                             f"{', '.join(_KINDS)}; got {got!r}); {_RESAVE}")
    missing = [k for k in _CONFIG_KEYS if k not in config]
    unknown = sorted(set(config) - set(_CONFIG_KEYS) - set(_LINEAR_KEYS))
    if missing or unknown:
        what = "; ".join(p for p in (f"missing keys {missing}" if missing else "",
                                     f"unknown keys {unknown}" if unknown else "") if p)
        raise ModelFileError(f"{path}: model config does not match this fastrnn ({what}); {_RESAVE}")

    def bad(key, expected):
        v = config[key]
        return ModelFileError(f"{path}: model config {key!r} must be {expected}; got {v!r} "
                              f"({_type_name(v)}); {_RESAVE}")

    for key in _SIZES:
        v = config[key]
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= _MAX_SIZE:
            raise bad(key, f"an integer in 1..{_MAX_SIZE}")
    for key in ("bidirectional", "return_sequences"):
        if not isinstance(config[key], bool):
            raise bad(key, "true or false")
    for key in ("dropout", "forget_bias"):
        v = config[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            raise bad(key, "a finite number")
    if not 0 <= config["dropout"] < 1:
        raise bad("dropout", "a number in [0, 1)")
    choices = {"nonlinearity": ("tanh", "relu"), "init": INITS, "dtype": ("float32", "float64"),
               "backend": F.BACKENDS}
    for key, allowed in choices.items():
        if not isinstance(config[key], str) or config[key] not in allowed:
            raise bad(key, "one of " + ", ".join(repr(a) for a in allowed))
    seed = config["seed"]
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise bad("seed", "a non-negative integer or null")
    if "ar_lags" in config or "ar_frozen" in config:
        for key in _LINEAR_KEYS:
            if key not in config:
                raise ModelFileError(f"{path}: model config has {' '.join(k for k in _LINEAR_KEYS if k != key)} "
                                     f"but not {key}; {_RESAVE}")
        v = config["ar_lags"]
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= _MAX_SIZE:
            raise bad("ar_lags", f"an integer in 1..{_MAX_SIZE}")
        if not isinstance(config["ar_frozen"], bool):
            raise bad("ar_frozen", "true or false")
    try:
        _check_settings(config["kind"], *(config[k] for k in _SIZES), config["dropout"],
                        config["nonlinearity"], config["init"], config["dtype"], config["backend"],
                        config.get("ar_lags", 0), config.get("ar_frozen", False), config["return_sequences"])
    except ValueError as e:  # e.g. relu for an LSTM
        raise ModelFileError(f"{path}: model config is inconsistent ({e}); {_RESAVE}") from None
    return dict(config)


def _npy_headers(zf: zipfile.ZipFile, path) -> dict:
    """Name -> (shape, dtype, ZipInfo, bytes before the data) of every array in an ``.npz``, read
    from the ``.npy`` headers only: no array data is read, nothing of the arrays' size allocated."""
    headers = {}
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            raise ModelFileError(f"{path} holds {info.filename!r}, which is not an array; {_RESAVE}")
        with zf.open(info) as f:
            version = npformat.read_magic(f)
            if version == (1, 0):
                shape, _fortran, dtype = npformat.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _fortran, dtype = npformat.read_array_header_2_0(f)
            else:
                raise ModelFileError(f"{path}: array {info.filename!r} has .npy format version "
                                     f"{version}, not 1.0 or 2.0; {_RESAVE}")
            headers[info.filename[:-4]] = (shape, dtype, info, f.tell())
    return headers


def _read_small(zf, headers, key, kinds, path):
    """The 0-d array ``key`` (dtype kind in ``kinds``, at most ``_MAX_CONFIG_CHARS`` long)."""
    if key not in headers:
        raise ModelFileError(f"{path} is not a fastrnn model file (no {key}); write one with "
                             f"model.save(path)")
    shape, dtype, info, _ = headers[key]
    if shape != () or dtype.kind not in kinds or dtype.itemsize > 4 * _MAX_CONFIG_CHARS:
        raise ModelFileError(f"{path}: {key} must be a single {'string' if 'U' in kinds else 'integer'}"
                             f"; got shape {shape}, dtype {dtype}; {_RESAVE}")
    with zf.open(info) as f:
        return npformat.read_array(f, allow_pickle=False)[()]


def _check_stored_arrays(headers, config, path, models: int = 0) -> None:
    """Compare every stored weight array's header with the shape the config implies (with a leading
    axis of ``models`` for a stack), before any array is read. Raises :class:`ModelFileError` naming
    the first mismatch."""
    stored = {k: h for k, h in headers.items() if not k.startswith("__")}
    D = 2 if config["bidirectional"] else 1
    ar_lags = config.get("ar_lags", 0)
    # counted before listing: num_layers may be huge
    n_expected = 4 * config["num_layers"] * D + 2 + (1 if ar_lags else 0)
    if len(stored) != n_expected:
        raise ModelFileError(
            f"{path}: the config ({config['num_layers']} layer(s), {D} direction(s)"
            f"{', a linear path' if ar_lags else ''}) implies "
            f"{n_expected} weight arrays; the file stores {len(stored)}; {_RESAVE}")
    expected = parameter_shapes(config["kind"], *(config[k] for k in _SIZES), config["bidirectional"], ar_lags)
    if models:
        expected = {k: (models, *shape) for k, shape in expected.items()}
    missing = [k for k in expected if k not in stored]
    if missing:
        unexpected = sorted(set(stored) - set(expected))
        raise ModelFileError(f"{path}: weight arrays {missing[:3]} are missing (the file stores "
                             f"{unexpected[:3]} instead); {_RESAVE}")
    sizes = ", ".join(f"{k} {config[k]}" for k in _SIZES)
    for name, shape in expected.items():
        got, dtype, info, offset = stored[name]
        if got != shape:
            raise ModelFileError(f"{path}: array {name} should have shape {shape} for the config "
                                 f"({config['kind']}, {sizes}); the file stores shape {got}; {_RESAVE}")
        if dtype.hasobject or dtype.kind != "f" or dtype.itemsize not in (4, 8):
            raise ModelFileError(f"{path}: array {name} must hold float32 or float64 numbers; the "
                                 f"file stores dtype {dtype}; {_RESAVE}")
        if info.file_size != offset + math.prod(shape) * dtype.itemsize:
            raise ModelFileError(f"{path}: array {name} is truncated or damaged ({info.file_size} "
                                 f"bytes for shape {shape}, {dtype}); {_RESAVE}")
    n = sum(math.prod(s) for s in expected.values())
    # reading the file, the float64 arrays of the constructor's initialisation, the model's own
    need = sum(math.prod(expected[k]) * stored[k][1].itemsize for k in expected) \
        + n * (8 + np.dtype(config["dtype"]).itemsize)
    if not _memory.fits(need):
        raise ModelFileError(f"{path}: loading this model ({n:,} parameters) needs about "
                             f"{_memory.format_bytes(need)} of memory; only "
                             f"{_memory.format_bytes(_memory.available_bytes())} are available")


def _check_stack_config(config, path) -> tuple[dict, int]:
    """A stack file's config (:meth:`fastrnn.stacks.Stack.config`) as one model's config (the first
    seed) and M, checked like a model's. Raises :class:`ModelFileError`."""
    if not isinstance(config, dict):
        raise ModelFileError(f"{path} has no valid stack config; {_RESAVE}")
    config = dict(config)
    n, seeds = config.pop("num_models", None), config.pop("seeds", None)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= _MAX_SIZE:
        raise ModelFileError(f"{path}: stack config 'num_models' must be an integer in 1..{_MAX_SIZE}; "
                             f"got {n!r}; {_RESAVE}")
    if not isinstance(seeds, list) or len(seeds) != n:
        raise ModelFileError(f"{path}: stack config 'seeds' must be a list of {n} seeds; got "
                             f"{_type_name(seeds)}; {_RESAVE}")
    for seed in seeds:
        _check_file_config({**config, "seed": seed}, path)
    return _check_file_config({**config, "seed": seeds[0]}, path), n


def load(path: str | os.PathLike) -> _Recurrent:
    """Load a model written by :meth:`~RNN.save`, or a stack written by
    :meth:`fastrnn.stacks.Stack.save`.

    Nothing of the weights' size is allocated before the file is known to be consistent: the
    config is checked key by key (exactly the keys :meth:`config` writes, each of its JSON type),
    and every stored array's shape and dtype, read from its ``.npy`` header, is compared with the
    shape the config implies (:func:`parameter_shapes`), so a config changed to a huge
    ``hidden_size`` is refused at once.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npz`` model file.

    Returns
    -------
    RNN, LSTM, GRU or Stack
        The model, of the class, configuration, dtype and weights it was saved with (a
        :class:`fastrnn.stacks.Stack` for a stack file).

    Raises
    ------
    ModelFileError
        The file is not a readable fastrnn model (not an ``.npz``, damaged, a newer format, a config
        or an array that does not match); the message names the path and the first problem.
    FileNotFoundError
        There is no such file.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            headers = _npy_headers(zf, path)
            version = int(_read_small(zf, headers, "__format_version__", "iu", path))
            if version > FORMAT_VERSION:
                raise ModelFileError(f"{path} has format version {version}; this fastrnn reads up "
                                     f"to {FORMAT_VERSION}: upgrade fastrnn")
            text = str(_read_small(zf, headers, "__config__", "U", path))
            try:
                config = json.loads(text)
            except ValueError as e:
                raise ModelFileError(f"{path}: the model config is not valid JSON ({e}); "
                                     f"{_RESAVE}") from None
            models = 0
            if "__stack__" in headers:
                models = int(_read_small(zf, headers, "__stack__", "iu", path))
                stack_config = config
                config, n = _check_stack_config(config, path)
                if n != models:
                    raise ModelFileError(f"{path}: the stack config says {n} models, the file {models}; {_RESAVE}")
            else:
                config = _check_file_config(config, path)
            _check_stored_arrays(headers, config, path, models)
            weights = {}
            for k, (_shape, _dtype, info, _off) in headers.items():
                if not k.startswith("__"):
                    with zf.open(info) as f:
                        weights[k] = npformat.read_array(f, allow_pickle=False)
    except ModelFileError:
        raise
    except MemoryError:
        raise
    except Exception as e:  # zipfile.BadZipFile, EOFError, a malformed .npy header, ...
        raise ModelFileError(f"{path} is not a fastrnn model file ({type(e).__name__}: {e}); "
                             "write one with model.save(path)") from e
    if models:
        from fastrnn.stacks import Stack

        try:
            return Stack._from_file(stack_config, weights)
        except (TypeError, ValueError) as e:
            raise ModelFileError(f"{path} holds an inconsistent stack ({e}); {_RESAVE}") from e
    kind = config.pop("kind")
    try:
        model = _KINDS[kind](**config)
        model.load_state_dict(weights)
    except (TypeError, ValueError) as e:  # e.g. NaN weights
        raise ModelFileError(f"{path} holds an inconsistent model ({e}); {_RESAVE}") from e
    return model
