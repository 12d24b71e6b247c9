"""fastrnn: fast CPU training of recurrent networks (RNN, LSTM, GRU) with Numba."""

__version__ = "0.1.0"

from fastrnn import functional  # noqa: E402,F401
