"""The cell registry: the one place where a recurrent cell is defined.

Every table that names cells is derived from :data:`REGISTRY`: ``fastrnn.functional.CELLS`` and
``GATES``, both backends' dispatch (:mod:`fastrnn.functional`, :mod:`fastrnn.kernels._pooled`), the
model kinds and classes (:func:`fastrnn.models.model_class`), the forecasting and benchmark choices,
and the test-suite's tables. This module imports neither NumPy nor Numba: the kernels are named by
dotted path and imported on first use (:meth:`Cell.reference_forward` and friends), so that the CLI
can read the names cheaply.

Adding a cell
-------------
Write its reference (NumPy) and kernel (Numba) functions, then add one :class:`Cell` entry below.
The functions follow one calling convention (``S`` the state arrays, ``(h,)`` or ``(h, c)``;
``static`` the entry's :attr:`Cell.static` arguments; ``saved`` the forward's cache)::

    reference / kernel forward:   f(x, w_ih, w_hh, b_ih, b_hh, *S0, *static) -> saved  (or hs alone)
    reference / kernel backward:  f(x, w_ih, w_hh, *saved, *static, d_out, *dS_T)
                                      -> (dx, dw_ih, dw_hh, db_ih, db_hh, *dS_0, dhs)
    forward_into (Numba):         f(x, w_ih, w_hh, b_ih, b_hh, *S0, *static, *saved)   writes saved
    backward_into (Numba):        f(x, w_ih, w_hh, *saved, *static, d_out, *dS, *scratch,
                                    dhs, dx, dw_ih, dw_hh, db_ih, db_hh, need_d_state0)
    stack_forward_into,           the same two with a leading model axis M on every array and
    stack_backward_into (Numba):  one more argument, ``active`` (int64 indices of the models to
                                  run), parallel over those models (:mod:`fastrnn.stacks`)

``saved`` starts with the state sequences (``hs``, then ``cs`` for an LSTM), each ``(T+1, B, H)``
with the initial state at index 0; :attr:`Cell.saved` gives the shapes of all its arrays, and
:attr:`Cell.scratch` those of the backward's per-step gradient buffers, so that the pooled Numba
path (:mod:`fastrnn.kernels._pooled`) can allocate them without knowing the cell. In
``backward_into`` the ``dS`` arrays hold the gradient at the final state on entry and at the initial
state on return (if ``need_d_state0``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Cell:
    """One registry entry. The constructor's arguments are its attributes (frozen).

    Parameters
    ----------
    name : str
        The name :mod:`fastrnn.functional` takes (``"rnn_tanh"``, ``"lstm"``, ...).
    kind : str
        The model kind (``fastrnn.models`` ``kind``, ``fastrnn train --model``); several cells
        may share a kind, told apart by :attr:`nonlinearity` (``"rnn"``: tanh or relu).
    gates : tuple of str
        Names of the gate blocks stacked in ``w_ih``, ``w_hh``, ``b_ih``, ``b_hh``, in order.
    kernels : str
        Dotted module path of the Numba kernels (``forward``, ``backward``, ``forward_into``,
        ``backward_into``).
    forward, backward : str
        Names of the allocating forward / backward functions, the same in :attr:`kernels` and in
        :attr:`reference`.
    saved : tuple of (str, int, int)
        The forward's cache, ``(name, extra_steps, width)`` per array: shape
        ``(T + extra_steps, B, width * H)``. The state sequences come first.
    scratch : tuple of (str, int)
        The backward's per-step gradient buffers, ``(name, width)``: shape ``(T, B, width * H)``.
    state : tuple of str, default ("h",)
        Names of the state arrays: ``("h",)``, or ``("h", "c")`` for an LSTM.
    static : tuple, default ()
        Extra positional arguments of every kernel of this cell, after the state (forward) or
        the saved arrays (backward), e.g. the RNN's ``relu`` flag.
    nonlinearity : str or None, default None
        For a kind with several cells, the model argument ``nonlinearity`` that selects this one;
        None if the kind has one cell.
    model_class : str, default ""
        Name of the model class in :mod:`fastrnn.models` (made generically if that module does not
        define it).
    torch : tuple (str, dict) or None, default None
        Name of the ``torch.nn`` twin and its keyword arguments (parity tests, benchmarks), or
        None if PyTorch has none.
    reference : str, default "fastrnn.reference"
        Dotted module path of the NumPy reference functions.
    """

    name: str
    kind: str
    gates: tuple[str, ...]
    kernels: str
    forward: str
    backward: str
    saved: tuple[tuple[str, int, int], ...]
    scratch: tuple[tuple[str, int], ...]
    state: tuple[str, ...] = ("h",)
    static: tuple = ()
    nonlinearity: str | None = None
    model_class: str = ""
    torch: tuple[str, dict] | None = None
    reference: str = "fastrnn.reference"

    @property
    def n_gates(self) -> int:
        """Number of gate blocks G: the weights have ``G * H`` rows."""
        return len(self.gates)

    @property
    def has_c(self) -> bool:
        """Whether the state carries a cell state ``c`` besides ``h`` (LSTM)."""
        return len(self.state) > 1

    def _load(self, module, name):
        return getattr(importlib.import_module(module), name)

    def reference_forward(self) -> Callable:
        """The NumPy forward function (imports :attr:`reference` on first use).

        Returns
        -------
        Callable
            ``f(x, w_ih, w_hh, b_ih, b_hh, *S0, *static) -> saved`` (see the module docstring).
        """
        return self._load(self.reference, self.forward)

    def reference_backward(self) -> Callable:
        """The NumPy backward function (imports :attr:`reference` on first use).

        Returns
        -------
        Callable
            ``f(x, w_ih, w_hh, *saved, *static, d_out, *dS_T) -> (dx, dw_ih, dw_hh, db_ih, db_hh,
            *dS_0, dhs)``.
        """
        return self._load(self.reference, self.backward)

    def kernel_forward(self) -> Callable:
        """The Numba forward function, allocating fresh arrays (imports :attr:`kernels`, and so
        Numba, on first use).

        Returns
        -------
        Callable
            Same signature and results as :meth:`reference_forward`'s function.
        """
        return self._load(self.kernels, self.forward)

    def kernel_backward(self) -> Callable:
        """The Numba backward function, allocating fresh arrays.

        Returns
        -------
        Callable
            Same signature and results as :meth:`reference_backward`'s function.
        """
        return self._load(self.kernels, self.backward)

    def kernel_forward_into(self) -> Callable:
        """The Numba forward into given arrays (the pooled path).

        Returns
        -------
        Callable
            ``f(x, w_ih, w_hh, b_ih, b_hh, *S0, *static, *saved)``, writing ``saved``.
        """
        return self._load(self.kernels, "forward_into")

    def kernel_backward_into(self) -> Callable:
        """The Numba backward into given arrays (the pooled path).

        Returns
        -------
        Callable
            ``f(x, w_ih, w_hh, *saved, *static, d_out, *dS, *scratch, dhs, dx, dw_ih, dw_hh, db_ih,
            db_hh, need_d_state0)``, writing the gradients.
        """
        return self._load(self.kernels, "backward_into")

    def kernel_stack_forward_into(self) -> Callable:
        """The Numba forward of a stack of models (:mod:`fastrnn.stacks`), parallel over the models.

        Returns
        -------
        Callable
            ``f(x, w_ih, w_hh, b_ih, b_hh, *S0, *static, *saved, active)``: :meth:`kernel_forward_into`'s
            arguments with a leading model axis M on every array (not on ``static``), for the models
            whose indices are in the int64 array ``active``.
        """
        return self._load(self.kernels, "stack_forward_into")

    def kernel_stack_backward_into(self) -> Callable:
        """The Numba backward of a stack of models, parallel over the models.

        Returns
        -------
        Callable
            ``f(x, w_ih, w_hh, *saved, *static, d_out, *dS, *scratch, dhs, dx, dw_ih, dw_hh, db_ih,
            db_hh, need_d_state0, active)``: :meth:`kernel_backward_into`'s arguments with a leading
            model axis M on every array, for the models in ``active``.
        """
        return self._load(self.kernels, "stack_backward_into")


_RNN = dict(kind="rnn", gates=("a",), kernels="fastrnn.kernels.rnn", forward="rnn_forward",
            backward="rnn_backward", saved=(("hs", 1, 1),), scratch=(("da", 1),), model_class="RNN")

#: Every cell, in this order (the order of :data:`CELLS` and :data:`KINDS`).
REGISTRY = (
    Cell(name="rnn_tanh", static=(False,), nonlinearity="tanh", torch=("RNN", {"nonlinearity": "tanh"}), **_RNN),
    Cell(name="rnn_relu", static=(True,), nonlinearity="relu", torch=("RNN", {"nonlinearity": "relu"}), **_RNN),
    Cell(name="lstm", kind="lstm", gates=("i", "f", "g", "o"), kernels="fastrnn.kernels.lstm",
         forward="lstm_forward", backward="lstm_backward", state=("h", "c"),
         saved=(("hs", 1, 1), ("cs", 1, 1), ("tcs", 0, 1), ("acts", 0, 4)), scratch=(("da", 4),),
         model_class="LSTM", torch=("LSTM", {})),
    Cell(name="gru", kind="gru", gates=("r", "z", "n"), kernels="fastrnn.kernels.gru",
         forward="gru_forward", backward="gru_backward",
         saved=(("hs", 1, 1), ("acts", 0, 3), ("hns", 0, 1)), scratch=(("dgi", 3), ("dgh", 3)),
         model_class="GRU", torch=("GRU", {})),
)

_BY_NAME = {c.name: c for c in REGISTRY}

#: Names of the cells, as :func:`fastrnn.functional.forward` takes them.
CELLS = tuple(_BY_NAME)
#: Cell name -> number of gate blocks G.
GATES = {c.name: c.n_gates for c in REGISTRY}
#: Model kinds (``fastrnn.models``, ``fastrnn train --model``), each one or more cells.
KINDS = tuple(dict.fromkeys(c.kind for c in REGISTRY))
#: Model kind -> number of gate blocks G.
KIND_GATES = {c.kind: c.n_gates for c in REGISTRY}


def get(name: str) -> Cell:
    """The registry entry of a cell.

    Parameters
    ----------
    name : str
        One of :data:`CELLS`.

    Returns
    -------
    Cell

    Raises
    ------
    ValueError
        No cell has that name (the message names the known cells).
    """
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise ValueError(f"cell must be one of {', '.join(map(repr, CELLS))}; got {name!r}") from None


def of_kind(kind: str) -> tuple[Cell, ...]:
    """The registry entries of a model kind.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.

    Returns
    -------
    tuple of Cell
        One entry, or one per nonlinearity (``"rnn"``), in registry order.

    Raises
    ------
    ValueError
        No cell has that kind (the message names the known kinds).
    """
    found = tuple(c for c in REGISTRY if c.kind == kind)
    if not found:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}; got {kind!r}")
    return found


def cell_for(kind: str, nonlinearity: str = "tanh") -> str:
    """The cell name of a model of ``kind``.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    nonlinearity : str, default "tanh"
        Picks among a kind's cells (``"tanh"`` or ``"relu"`` for ``"rnn"``); ignored for a kind
        with one cell.

    Returns
    -------
    str
        A name of :data:`CELLS`.

    Raises
    ------
    ValueError
        An unknown ``kind``, or a ``nonlinearity`` that none of its cells has.
    """
    found = of_kind(kind)
    if len(found) == 1:
        return found[0].name
    for c in found:
        if c.nonlinearity == nonlinearity:
            return c.name
    names = ", ".join(repr(c.nonlinearity) for c in found)
    raise ValueError(f"nonlinearity of a {kind} must be one of {names}; got {nonlinearity!r}")
