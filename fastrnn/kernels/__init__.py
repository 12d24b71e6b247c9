"""Numba kernels: batched forward and BPTT of each cell, one function per cell and pass.

Each has the same signature as its twin in :mod:`fastrnn.reference`. Call them through
:mod:`fastrnn.functional`, which validates and prepares the inputs (contiguous, one dtype). Which
module holds a cell's kernels, and the calling convention they share, is in the cell registry
(:mod:`fastrnn.cells`); the names below are the three original cells' public kernels.

Development: compiled kernels are cached on disk, and the cache does not see edits to the functions
a kernel inlines from another file (the activations). Set ``FASTRNN_NO_CACHE=1`` to compile
everything afresh and write nothing (:mod:`fastrnn.kernels._jit`), e.g.
``FASTRNN_NO_CACHE=1 python -m pytest tests/test_activations.py``.
"""

from fastrnn.kernels.gru import gru_backward, gru_forward
from fastrnn.kernels.lstm import lstm_backward, lstm_forward
from fastrnn.kernels.rnn import rnn_backward, rnn_forward

__all__ = ["rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward", "gru_forward", "gru_backward"]
