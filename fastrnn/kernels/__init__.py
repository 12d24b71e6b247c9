"""Numba kernels: batched forward and BPTT of each cell, one function per cell and pass.

Each has the same signature as its twin in :mod:`fastrnn.reference`. Call them through
:mod:`fastrnn.functional`, which validates and prepares the inputs (contiguous, one dtype).
"""

from fastrnn.kernels.gru import gru_backward, gru_forward
from fastrnn.kernels.lstm import lstm_backward, lstm_forward
from fastrnn.kernels.rnn import rnn_backward, rnn_forward

__all__ = ["rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward", "gru_forward", "gru_backward"]
