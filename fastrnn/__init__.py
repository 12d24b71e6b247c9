"""fastrnn: fast CPU training of recurrent networks (RNN, LSTM, GRU) with Numba.

    import fastrnn as fr
    model = fr.LSTM(input_size=1, hidden_size=32, seed=0)
    trainer = fr.Trainer(model, loss="mse", optimizer=fr.optim.Adam(model.parameters(), lr=1e-3))
    history = trainer.fit(X, y, epochs=20)
"""

__version__ = "0.1.0"

from fastrnn import clip, diagnostics, functional, losses, optim  # noqa: E402
from fastrnn.models import GRU, LSTM, RNN, load  # noqa: E402
from fastrnn.trainer import EarlyStopping, History, Trainer  # noqa: E402

__all__ = ["RNN", "LSTM", "GRU", "Trainer", "EarlyStopping", "History", "load",
           "functional", "losses", "optim", "clip", "diagnostics", "__version__"]
