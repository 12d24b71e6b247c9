"""Small models learn something real (float32, numba backend, fixed seeds).

* The adding problem (Hochreiter & Schmidhuber 1997), T = 50: every step carries (value, marker),
  values U(0, 1), one marker in each half of the sequence; the target is the sum of the two marked
  values. Predicting the mean gives MSE 1/6 ≈ 0.167. An LSTM(2 → 16) with Adam(lr 0.02),
  clip_norm 1, batch 32, 2000 training sequences, 8 epochs reaches a test MSE < 0.01 (measured
  ≈ 0.002 with these seeds; it leaves the 0.167 plateau after 2–4 epochs for seeds 0–4). A tanh RNN
  of the same size, trained the same way, stays at the plateau (measured ≈ 0.165): it cannot carry
  the first value across ~25 steps.
* Sine forecasting: from the last 20 values of sin(2πt/25), predict the next one. A GRU(1 → 8),
  Adam(lr 0.01), 10 epochs on 800 windows, reaches a test MSE < 1e-3 (measured ≈ 2e-5), far below
  the persistence forecast (repeat the last value: MSE ≈ 0.031).

``pytest -s`` prints the measured losses and times.
"""

import time

import numpy as np
import pytest

import fastrnn as fr

T_ADD = 50


def adding_problem(n, T, rng):
    values = rng.uniform(0.0, 1.0, (n, T)).astype(np.float32)
    markers = np.zeros((n, T), np.float32)
    rows = np.arange(n)
    markers[rows, rng.integers(0, T // 2, n)] = 1.0
    markers[rows, rng.integers(T // 2, T, n)] = 1.0
    X = np.stack([values, markers], axis=-1)  # (n, T, 2)
    y = (values * markers).sum(axis=1)
    return X, y.astype(np.float32)


@pytest.fixture(scope="module")
def adding_data():
    rng = np.random.default_rng(0)
    train = adding_problem(2000, T_ADD, rng)
    test = adding_problem(1000, T_ADD, rng)
    return train, test


@pytest.fixture(scope="module")
def adding_results(adding_data):
    (X, y), (Xt, yt) = adding_data
    assert abs(np.mean((yt - yt.mean()) ** 2) - 1 / 6) < 0.02  # the plateau: predicting the mean
    results = {}
    for name, cls in (("lstm", fr.LSTM), ("rnn", fr.RNN)):
        model = cls(2, 16, dtype="float32", backend="numba", seed=0)
        trainer = fr.Trainer(model, loss="mse", optimizer=fr.optim.Adam(model.parameters(), lr=0.02), clip_norm=1.0)
        t0 = time.perf_counter()
        hist = trainer.fit(X, y, epochs=8, batch_size=32, verbose=0)
        seconds = time.perf_counter() - t0
        results[name] = {"test_mse": trainer.evaluate(Xt, yt), "train_loss": hist.loss, "seconds": seconds}
        print(f"\nadding problem T={T_ADD}, {name.upper()}(2->16): test MSE {results[name]['test_mse']:.4f}, "
              f"train loss per epoch {np.round(hist.loss, 4).tolist()}, {seconds:.1f} s")
    return results


def test_lstm_solves_the_adding_problem(adding_results):
    assert adding_results["lstm"]["test_mse"] < 0.01


def test_tanh_rnn_of_the_same_size_does_worse(adding_results):
    lstm, rnn = adding_results["lstm"]["test_mse"], adding_results["rnn"]["test_mse"]
    assert rnn >= 2 * lstm
    assert rnn > 0.1  # measured ≈ 0.165: it stays at the plateau


def test_gru_forecasts_a_sine_wave():
    t = np.arange(1200, dtype=np.float32)
    s = np.sin(2 * np.pi * t / 25).astype(np.float32)
    W = 20
    X = np.lib.stride_tricks.sliding_window_view(s[:-1], W)  # (1180, 20): the 20 values before ...
    y = s[W:]  # ... the next one
    Xtr, ytr, Xte, yte = X[:800], y[:800], X[800:], y[800:]
    model = fr.GRU(1, 8, dtype="float32", backend="numba", seed=0)
    trainer = fr.Trainer(model, optimizer=fr.optim.Adam(model.parameters(), lr=0.01))
    t0 = time.perf_counter()
    hist = trainer.fit(Xtr, ytr, epochs=10, batch_size=32, verbose=0)
    seconds = time.perf_counter() - t0
    mse = trainer.evaluate(Xte, yte)
    persistence = float(np.mean((Xte[:, -1] - yte) ** 2))
    print(f"\nsine forecast GRU(1->8): test MSE {mse:.2e} (persistence {persistence:.3f}), "
          f"train loss {np.round(hist.loss, 5).tolist()}, {seconds:.1f} s")
    assert mse < 1e-3
    assert mse < persistence / 100
    assert hist.loss[-1] < hist.loss[0] / 100
