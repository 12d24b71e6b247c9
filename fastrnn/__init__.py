"""fastrnn: fast CPU training of recurrent networks (RNN, LSTM, GRU) with Numba.

    import fastrnn as fr
    model = fr.LSTM(input_size=1, hidden_size=32, seed=0)
    trainer = fr.Trainer(model, loss="mse", optimizer=fr.optim.Adam(model.parameters(), lr=1e-3))
    history = trainer.fit(X, y, epochs=20)

The names below are imported on first use (PEP 562 ``__getattr__``), so that ``import fastrnn``,
``fastrnn --help`` and ``fastrnn --version`` do not load numpy, numba or the kernels.
"""

from __future__ import annotations

import importlib
import importlib.util

from fastrnn._version import __version__

#: Public name -> the module that defines it (a module itself when the name is a submodule).
_LAZY = {
    "RNN": "fastrnn.models",
    "LSTM": "fastrnn.models",
    "GRU": "fastrnn.models",
    "load": "fastrnn.models",
    "stack": "fastrnn.stacks",
    "Stack": "fastrnn.stacks",
    "Trainer": "fastrnn.trainer",
    "EarlyStopping": "fastrnn.trainer",
    "History": "fastrnn.trainer",
    "NonFiniteLossWarning": "fastrnn.trainer",
    "ModelFileError": "fastrnn.models",
    "DataError": "fastrnn.datasets",
    "RunError": "fastrnn.forecast",
    "functional": None,
    "losses": None,
    "optim": None,
    "clip": None,
    "diagnostics": None,
}

__all__ = ["RNN", "LSTM", "GRU", "stack", "Stack", "Trainer", "EarlyStopping", "History", "load",
           "ModelFileError", "DataError", "RunError", "NonFiniteLossWarning",
           "functional", "losses", "optim", "clip", "diagnostics", "__version__"]


def __getattr__(name: str):
    if name in _LAZY and _LAZY[name] is not None:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif not name.startswith("__") and importlib.util.find_spec(f"fastrnn.{name}") is not None:
        value = importlib.import_module(f"fastrnn.{name}")  # any submodule: fr.models, fr.forecast
    else:
        raise AttributeError(f"module 'fastrnn' has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
