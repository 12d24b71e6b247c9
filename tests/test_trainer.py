"""fastrnn.Trainer: steps, History, early stopping, non-finite losses, determinism, fit_stateful.

Clipping and SGD steps are compared with PyTorch in test_model_torch_parity.py; here everything is
checked against fastrnn's own model.forward/backward, done by hand.
"""

import warnings

import numpy as np
import pytest

import fastrnn as fr
from fastrnn.trainer import NonFiniteLossWarning


def _data(n=48, T=6, I=2, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, I)).astype(dtype)
    y = (X[:, :, 0].mean(axis=1) - 0.5 * X[:, -1, 1]).astype(dtype)
    return X, y


def _weights_equal(a, b):
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)


def _clone(model):
    cfg = model.config()
    kind = cfg.pop("kind")
    other = {"rnn": fr.RNN, "lstm": fr.LSTM, "gru": fr.GRU}[kind](**cfg)
    other.load_state_dict(model.state_dict())
    return other


def _trained_weights(epochs, seed=0, **fit_kw):
    m = fr.GRU(2, 4, num_layers=2, dropout=0.2, dtype="float64", seed=seed)
    tr = fr.Trainer(m, optimizer=fr.optim.Adam(m.parameters(), lr=0.02))
    X, y = _data()
    hist = tr.fit(X, y, epochs=epochs, batch_size=16, verbose=0, **fit_kw)
    return m.state_dict(), hist


# -------------------------------------------------------------------------------------------------
# train_step, evaluate, argument checks
# -------------------------------------------------------------------------------------------------


def test_train_step_returns_loss_before_the_update_and_follows_the_gradient():
    m = fr.LSTM(2, 5, dtype="float64", seed=0)
    X, y = _data(16)
    tr = fr.Trainer(m, optimizer=fr.optim.SGD(m.parameters(), lr=0.05))
    before = tr.evaluate(X, y)
    ref = _clone(m)
    pred, cache = ref.forward(X, training=True)
    value, d_pred = fr.losses.mse(pred, y[:, None])
    grads, _ = ref.backward(cache, d_pred)
    loss = tr.train_step(X, y)
    assert loss == pytest.approx(before, rel=1e-14) and loss == pytest.approx(value, rel=1e-14)
    for k, g in grads.items():
        np.testing.assert_allclose(m.parameters()[k], ref.parameters()[k] - 0.05 * g, rtol=0, atol=1e-15)
    assert tr.evaluate(X, y) < before
    assert tr.last_grad_norm == pytest.approx(np.sqrt(sum(float(np.sum(g * g)) for g in grads.values())), rel=1e-12)


def test_evaluate_is_the_mean_loss_over_batches():
    m = fr.GRU(2, 3, output_size=2, dtype="float64", seed=1)
    X, _ = _data(37)
    y = np.random.default_rng(1).standard_normal((37, 2))
    full = float(np.mean((m.predict(X) - y) ** 2))
    tr = fr.Trainer(m)
    assert tr.evaluate(X, y) == pytest.approx(full, rel=1e-13)
    assert tr.evaluate(X, y, batch_size=5) == pytest.approx(full, rel=1e-13)
    mae = float(np.mean(np.abs(m.predict(X) - y)))
    assert fr.Trainer(m, loss="mae").evaluate(X, y, batch_size=8) == pytest.approx(mae, rel=1e-13)


def test_fit_does_not_modify_the_data():
    X, y = _data(20)
    X0, y0 = X.copy(), y.copy()
    m = fr.RNN(2, 3, seed=0)
    fr.Trainer(m).fit(X, y, epochs=2, batch_size=7, verbose=0)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"clip_norm": 0}, "clip_norm"),
        ({"clip_norm": -1.0}, "clip_norm"),
        ({"clip_value": float("nan")}, "clip_value"),
        ({"clip_value": float("inf")}, "clip_value"),
        ({"loss": "hinge"}, "loss"),
        ({"optimizer": "lbfgs"}, "optimizer"),
    ],
)
def test_bad_trainer_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        fr.Trainer(fr.LSTM(1, 2, seed=0), **kwargs)


def test_bad_fit_arguments():
    X, y = _data(10)
    tr = fr.Trainer(fr.LSTM(2, 2, seed=0))
    for kw, pattern in [({"epochs": 0}, "epochs"), ({"batch_size": 0}, "batch_size"), ({"epochs": 1.5}, "epochs")]:
        with pytest.raises(ValueError, match=pattern):
            tr.fit(X, y, verbose=0, **kw)
    with pytest.raises(ValueError, match="same number of samples"):
        tr.fit(X, y[:-1], verbose=0)
    with pytest.raises(ValueError, match="x must have shape"):
        tr.fit(X[:, :, :1], y, verbose=0)
    with pytest.raises(ValueError, match="y must hold numbers"):
        tr.fit(X, np.array(["a"] * 10), verbose=0)
    with pytest.raises(ValueError, match="patience"):
        fr.EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="min_delta"):
        fr.EarlyStopping(min_delta=-0.1)


def test_optimizer_by_name_and_default():
    m = fr.GRU(2, 3, seed=0)
    assert isinstance(fr.Trainer(m).optimizer, fr.optim.Adam)
    assert fr.Trainer(m).optimizer.lr == 1e-3
    tr = fr.Trainer(m, optimizer="sgd")
    assert isinstance(tr.optimizer, fr.optim.SGD)
    X, y = _data(8)
    before = m.state_dict()
    tr.train_step(X, y)
    assert not _weights_equal(before, m.parameters())


# -------------------------------------------------------------------------------------------------
# History
# -------------------------------------------------------------------------------------------------


def test_history_has_one_entry_per_epoch(capsys):
    m = fr.LSTM(2, 4, num_layers=2, bidirectional=True, seed=0)
    X, y = _data(30)
    hist = fr.Trainer(m).fit(X, y, validation_data=(X[:10], y[:10]), epochs=3, batch_size=8, verbose=1)
    assert "epoch 3/3" in capsys.readouterr().out
    assert hist.epoch == [1, 2, 3]
    for name in ("loss", "val_loss", "grad_norm", "layer_grad_norms", "seconds"):
        assert len(getattr(hist, name)) == 3, name
    assert all(g > 0 and np.isfinite(g) for g in hist.grad_norm)
    assert all(s > 0 for s in hist.seconds)
    assert all(list(d) == ["l0", "l1", "head"] for d in hist.layer_grad_norms)
    assert all(v > 0 for d in hist.layer_grad_norms for v in d.values())
    assert hist.best_epoch in (1, 2, 3)
    assert hist.stop_reason == "completed all epochs"
    assert set(hist.history) == {"loss", "val_loss", "grad_norm", "seconds"}


def test_history_loss_and_grad_norms_by_hand():
    """One batch per epoch and no shuffling: loss[e] is the loss before the e-th update,
    grad_norm[e] the global gradient norm, and the layer norms combine to it."""
    m = fr.GRU(2, 3, num_layers=2, dtype="float64", seed=0)
    X, y = _data(12)
    ref = _clone(m)
    hist = fr.Trainer(m, optimizer=fr.optim.SGD(m.parameters(), lr=0.1)).fit(
        X, y, epochs=2, batch_size=12, shuffle=False, verbose=0)
    pred, cache = ref.forward(X)
    value, d = fr.losses.mse(pred, y[:, None])
    grads, _ = ref.backward(cache, d)
    assert hist.loss[0] == pytest.approx(value, rel=1e-14)
    layer = {
        "l0": [k for k in grads if k.endswith("_l0")],
        "l1": [k for k in grads if k.endswith("_l1")],
        "head": ["head.weight", "head.bias"],
    }
    norms = {name: np.sqrt(sum(np.sum(grads[k] ** 2) for k in keys)) for name, keys in layer.items()}
    for name, v in norms.items():
        assert hist.layer_grad_norms[0][name] == pytest.approx(v, rel=1e-12)
    assert hist.grad_norm[0] == pytest.approx(np.sqrt(sum(v * v for v in norms.values())), rel=1e-12)


def test_grad_norm_is_recorded_before_clip_norm():
    X, y = _data(16)
    a, b = fr.GRU(2, 3, dtype="float64", seed=0), fr.GRU(2, 3, dtype="float64", seed=0)
    ha = fr.Trainer(a).fit(X, y, epochs=1, batch_size=16, verbose=0)
    hb = fr.Trainer(b, clip_norm=1e-4).fit(X, y, epochs=1, batch_size=16, verbose=0)
    assert hb.grad_norm[0] > 1e-3
    assert hb.grad_norm[0] == pytest.approx(ha.grad_norm[0], rel=1e-14)


@pytest.mark.parametrize("clip", [dict(clip_norm=0.01), dict(clip_norm=1e6), dict(clip_norm=0.01, clip_value=0.005)],
                         ids=["clipping", "not-clipping", "value-then-norm"])
def test_train_step_clips_as_clip_grad_norm(clip):
    """The trainer clips by norm from the sums of squares it already has; the step must equal the
    hand-written forward, backward, clip_grad_value, clip_grad_norm, optimizer step, bit for bit."""
    X, y = _data(16)
    a = fr.LSTM(2, 5, num_layers=2, dtype="float64", seed=3)
    b = _clone(a)
    tr = fr.Trainer(a, optimizer=fr.optim.SGD(a.parameters(), lr=0.5), **clip)
    tr.train_step(X, y)
    pred, cache = b.forward(X, training=True)
    _, d_pred = fr.losses.mse(pred, y[:, None])
    grads, _ = b.backward(cache, d_pred)
    if "clip_value" in clip:
        fr.clip.clip_grad_value(grads, clip["clip_value"])
    total = fr.clip.clip_grad_norm(grads, clip["clip_norm"])
    if clip["clip_norm"] < 1:
        assert total > 2 * clip["clip_norm"]  # the clipping did happen
    fr.optim.SGD(b.parameters(), lr=0.5).step(grads)
    assert _weights_equal(a.state_dict(), b.state_dict())


def test_grad_norm_is_recorded_before_clip_value():
    """BUG (fastrnn/trainer.py, Trainer._step): History documents grad_norm as "the global gradient L2
    norm (before clipping)", but with clip_value the norm is measured after the element-wise
    clipping, so the history hides exactly the exploding gradients clip_value is there for."""
    X, y = _data(16)
    a, b = fr.GRU(2, 3, dtype="float64", seed=0), fr.GRU(2, 3, dtype="float64", seed=0)
    ha = fr.Trainer(a).fit(X, y, epochs=1, batch_size=16, verbose=0)
    hb = fr.Trainer(b, clip_value=1e-4).fit(X, y, epochs=1, batch_size=16, verbose=0)
    assert hb.grad_norm[0] == pytest.approx(ha.grad_norm[0], rel=1e-14)


# -------------------------------------------------------------------------------------------------
# early stopping
# -------------------------------------------------------------------------------------------------


def _overfitting_run(early_stopping, epochs=20):
    """Train on y; validate on 0.3*y (same inputs): the validation loss falls for a few epochs while the
    prediction passes 0.3*y, then rises as it approaches y."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 6, 1))
    y = 2 * X.mean(axis=1)[:, 0]
    m = fr.GRU(1, 4, dtype="float64", seed=0)
    tr = fr.Trainer(m, optimizer=fr.optim.Adam(m.parameters(), lr=0.05))
    hist = tr.fit(X, y, validation_data=(X, 0.3 * y), epochs=epochs, batch_size=16, verbose=0,
                  early_stopping=early_stopping)
    return m, tr, hist, (X, 0.3 * y)


def test_validation_loss_of_the_construction_rises():
    _, _, hist, _ = _overfitting_run(None, epochs=10)
    best = int(np.argmin(hist.val_loss))
    assert 1 <= best <= 6, hist.val_loss
    assert hist.val_loss[-1] > 3 * hist.val_loss[best]
    assert hist.best_epoch == best + 1
    assert hist.loss[-1] < hist.loss[best]  # the training loss keeps falling


def test_early_stopping_restores_the_best_epoch():
    m, tr, hist, (Xv, yv) = _overfitting_run(fr.EarlyStopping(patience=2))
    best = hist.best_epoch
    assert best == int(np.argmin(hist.val_loss)) + 1
    assert best < len(hist.epoch) < 20
    assert hist.stop_reason.startswith(f"early stopping at epoch {hist.epoch[-1]}")
    assert tr.evaluate(Xv, yv) == hist.val_loss[best - 1]
    # the weights are those the same run had at the end of its best epoch
    ref, _, _, _ = _overfitting_run(None, epochs=best)
    assert _weights_equal(m.parameters(), ref.parameters())


def test_early_stopping_patience_counts_epochs_without_improvement():
    """BUG (fastrnn/trainer.py, Trainer.fit): with patience=p training should stop after p epochs
    without improvement (Keras and Lightning do; the docstring and the stop message say so:
    "has not improved for p epochs"), but it stops after p + 1 (``waited > patience``)."""
    for patience in (1, 2, 3):
        _, _, hist, _ = _overfitting_run(fr.EarlyStopping(patience=patience))
        assert len(hist.epoch) == hist.best_epoch + patience, (patience, hist.best_epoch, hist.epoch)


def test_early_stopping_patience_zero_and_min_delta():
    _, _, hist, _ = _overfitting_run(fr.EarlyStopping(patience=0))
    assert len(hist.epoch) == hist.best_epoch + 1
    # min_delta larger than any improvement: only the first epoch counts as one
    _, _, hist, _ = _overfitting_run(fr.EarlyStopping(patience=1, min_delta=1e6), epochs=10)
    assert hist.best_epoch == 1
    assert len(hist.epoch) <= 3


def test_early_stopping_without_restore_keeps_the_last_weights():
    _, tr, hist, (Xv, yv) = _overfitting_run(fr.EarlyStopping(patience=2, restore_best=False))
    assert hist.best_epoch < hist.epoch[-1]
    assert tr.evaluate(Xv, yv) == hist.val_loss[-1]


def test_early_stopping_monitors_training_loss_without_validation_data():
    X, y = _data(32)

    def run(epochs, early_stopping=None):
        m = fr.GRU(2, 3, dtype="float64", seed=0)
        tr = fr.Trainer(m, optimizer=fr.optim.SGD(m.parameters(), lr=0.3))  # high: the loss goes up and down
        return m, tr.fit(X, y, epochs=epochs, batch_size=8, verbose=0, early_stopping=early_stopping)

    m, hist = run(15, fr.EarlyStopping(patience=1))
    assert hist.val_loss == []
    assert hist.best_epoch == int(np.argmin(hist.loss)) + 1
    assert hist.best_epoch < hist.epoch[-1] < 15, hist.loss  # measured: best epoch 7, stopped at 9
    assert "loss has not improved" in hist.stop_reason
    ref, _ = run(hist.best_epoch)
    assert _weights_equal(m.parameters(), ref.parameters())


# -------------------------------------------------------------------------------------------------
# non-finite losses
# -------------------------------------------------------------------------------------------------


def _fit_catching(tr, *args, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hist = tr.fit(*args, verbose=0, **kw)
    return hist, [w for w in caught if issubclass(w.category, NonFiniteLossWarning)]


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_overflowing_loss_stops_with_a_warning_and_keeps_the_initial_weights(kind):
    """float32 and lr = 1e10: the loss overflows to inf within the first epoch."""
    m = {"rnn": fr.RNN, "lstm": fr.LSTM, "gru": fr.GRU}[kind](2, 6, seed=0)
    init = m.state_dict()
    X, y = _data(64, dtype=np.float32)
    tr = fr.Trainer(m, optimizer=fr.optim.SGD(m.parameters(), lr=1e10))
    with np.errstate(over="ignore", invalid="ignore"):
        hist, caught = _fit_catching(tr, X, y, epochs=5, batch_size=16)
    assert len(caught) == 1
    assert "loss became" in str(caught[0].message) and "the start" in str(caught[0].message)
    assert hist.stop_reason == str(caught[0].message)
    assert hist.epoch == [] and hist.best_epoch is None
    assert all(np.isfinite(v).all() for v in m.parameters().values())
    assert _weights_equal(m.parameters(), init)


class _NaNAfter:
    """MSE that turns NaN from its n-th call on (a stand-in for a blow-up in the middle of training)."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def __call__(self, pred, target):
        self.calls += 1
        value, grad = fr.losses.mse(pred, target)
        return (float("nan"), grad) if self.calls >= self.n else (value, grad)


def test_nan_in_a_later_epoch_keeps_the_best_epoch_weights():
    X, y = _data(48)  # 3 batches of 16 per epoch: the 8th call is epoch 3, batch 2

    def run(epochs, loss):
        m = fr.LSTM(2, 4, dtype="float64", seed=0)
        tr = fr.Trainer(m, loss=loss, optimizer=fr.optim.Adam(m.parameters(), lr=0.05))
        return m, _fit_catching(tr, X, y, epochs=epochs, batch_size=16)

    m, (hist, caught) = run(6, _NaNAfter(8))
    assert len(caught) == 1
    assert hist.epoch == [1, 2]
    assert "loss became nan at epoch 3, batch 2" in hist.stop_reason
    assert f"epoch {hist.best_epoch}" in hist.stop_reason
    ref, (ref_hist, _) = run(hist.best_epoch, "mse")
    assert ref_hist.loss == hist.loss[:hist.best_epoch]
    assert _weights_equal(m.parameters(), ref.parameters())


def test_nan_validation_loss_stops_and_keeps_the_best_weights():
    X, y = _data(32)
    Xv, yv = X[:7], y[:7]
    state = {"epoch_calls": 0}

    def loss(pred, target):
        value, grad = fr.losses.mse(pred, target)
        if len(pred) == 7:  # the validation set (training batches have 16 rows)
            state["epoch_calls"] += 1
            if state["epoch_calls"] >= 3:
                value = float("inf")
        return value, grad

    m = fr.GRU(2, 3, dtype="float64", seed=0)
    tr = fr.Trainer(m, loss=loss, optimizer=fr.optim.Adam(m.parameters(), lr=0.05))
    hist, caught = _fit_catching(tr, X, y, validation_data=(Xv, yv), epochs=6, batch_size=16)
    assert len(caught) == 1 and "val_loss became inf at epoch 3" in hist.stop_reason
    assert hist.best_epoch == int(np.argmin(hist.val_loss[:2])) + 1
    ref = fr.GRU(2, 3, dtype="float64", seed=0)
    fr.Trainer(ref, optimizer=fr.optim.Adam(ref.parameters(), lr=0.05)).fit(X, y, epochs=hist.best_epoch,
                                                                            batch_size=16, verbose=0)
    assert _weights_equal(m.parameters(), ref.parameters())


def test_overflowing_gradient_with_a_finite_loss_stops_cleanly():
    """BUG (robustness; fastrnn/trainer.py, Trainer._step): only the loss is checked for NaN/inf. When
    the loss is finite but the gradient overflows (float32; here d_y @ head.weight ~ 1e40), the
    non-finite gradient reaches fastrnn.functional.backward, whose input check raises
    ``ValueError: d_state contains NaN or infinite values`` out of fit(), instead of the clean stop
    with NonFiniteLossWarning and the best weights. (A non-finite grad that got past it would write
    NaN/inf into the weights; the next forward would raise the same way.)"""
    m = fr.RNN(1, 1, dtype="float32", seed=0)
    p = m.parameters()
    p["weight_ih_l0"][...] = 1e-12
    p["weight_hh_l0"][...] = 0.0
    p["head.weight"][...] = 1e26  # pred ~ 1e14: loss ~ 1e28 is finite in float32, d_feat ~ 1e40 is not
    init = m.state_dict()
    X, y = np.ones((4, 3, 1), np.float32), np.zeros(4, np.float32)
    tr = fr.Trainer(m, optimizer=fr.optim.SGD(m.parameters(), lr=1e-3))
    with np.errstate(over="ignore", invalid="ignore"):
        hist, caught = _fit_catching(tr, X, y, epochs=2, batch_size=4)
    assert len(caught) == 1
    assert all(np.isfinite(v).all() for v in m.parameters().values())
    assert _weights_equal(m.parameters(), init)


# -------------------------------------------------------------------------------------------------
# determinism
# -------------------------------------------------------------------------------------------------


def test_same_seed_gives_bitwise_identical_weights():
    a, ha = _trained_weights(3, seed=5)
    b, hb = _trained_weights(3, seed=5)
    assert _weights_equal(a, b)
    assert ha.loss == hb.loss and ha.grad_norm == hb.grad_norm


def test_different_seeds_give_different_weights():
    a, _ = _trained_weights(2, seed=5)
    b, _ = _trained_weights(2, seed=6)
    assert all(not np.array_equal(a[k], b[k]) for k in a if k.startswith("weight"))


def test_trainer_seed_controls_the_shuffling():
    X, y = _data()
    out = []
    for trainer_seed in (1, 1, 2):
        m = fr.GRU(2, 3, dtype="float64", seed=0)
        fr.Trainer(m, seed=trainer_seed).fit(X, y, epochs=2, batch_size=8, verbose=0)
        out.append(m.state_dict())
    assert _weights_equal(out[0], out[1])
    assert not _weights_equal(out[0], out[2])


def test_without_shuffle_batches_are_taken_in_order():
    X, y = _data(24)
    m = fr.LSTM(2, 3, dtype="float64", seed=0)
    ref = _clone(m)
    fr.Trainer(m, optimizer=fr.optim.SGD(m.parameters(), lr=0.1)).fit(X, y, epochs=1, batch_size=10,
                                                                     shuffle=False, verbose=0)
    opt = fr.optim.SGD(ref.parameters(), lr=0.1)
    for s in (0, 10, 20):
        pred, cache = ref.forward(X[s:s + 10], training=True)
        opt.step(ref.backward(cache, fr.losses.mse(pred, y[s:s + 10, None])[1])[0])
    assert _weights_equal(m.parameters(), ref.parameters())


# -------------------------------------------------------------------------------------------------
# fit_stateful (truncated BPTT)
# -------------------------------------------------------------------------------------------------


def _stream(B=3, T=23, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((B, T, 2))
    y = np.cumsum(X[:, :, :1], axis=1) * 0.2  # the target depends on the whole past
    return X, y


def _state_arrays(states):
    out = []
    for s in states:
        out.extend(s if isinstance(s, tuple) else (s,))
    return out


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_fit_stateful_carries_the_state_and_resets_it_each_epoch(kind, monkeypatch):
    m = {"lstm": fr.LSTM, "gru": fr.GRU}[kind](2, 4, num_layers=2, return_sequences=True, dtype="float64", seed=0)
    X, y = _stream()
    calls = []
    forward = m.forward_unchecked  # what the trainer calls (on inputs it has checked)

    def spy(x, training=False, state0=None):
        out, cache = forward(x, training=training, state0=state0)
        calls.append((np.array(x), state0, cache["states"]))
        return out, cache

    monkeypatch.setattr(m, "forward_unchecked", spy)
    hist = fr.Trainer(m, optimizer=fr.optim.SGD(m.parameters(), lr=0.05)).fit_stateful(X, y, k=5, epochs=2, verbose=0)
    assert len(hist.loss) == 2 and len(calls) == 10  # windows at 0, 5, 10, 15, 20 (the last one 3 steps)
    for i, (x, state0, _) in enumerate(calls):
        s = 5 * (i % 5)
        np.testing.assert_array_equal(x, X[:, s:s + 5])
        if i % 5 == 0:  # each epoch starts from zeros
            assert state0 is None or all(not a.any() for a in _state_arrays(state0))
        else:  # later windows start from the previous window's final states
            prev = _state_arrays(calls[i - 1][2])
            got = _state_arrays(state0)
            assert len(got) == len(prev) == (4 if kind == "lstm" else 2)
            for a, b in zip(got, prev):
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["lstm", "rnn"])
def test_fit_stateful_update_is_truncated_bptt(kind):
    """The weights after fit_stateful equal a hand-made truncated BPTT: forward each window from the
    carried state (a constant: no gradient flows into earlier windows), backward that window only,
    SGD step. Dropping the carried state gives different weights, so the comparison has teeth."""
    cls = {"lstm": fr.LSTM, "rnn": fr.RNN}[kind]
    m = cls(2, 4, num_layers=2, return_sequences=True, dtype="float64", seed=1)
    X, y = _stream()
    k, lr, epochs = 5, 0.05, 2

    def by_hand(carry):
        ref = _clone(m)
        losses = []
        for _ in range(epochs):
            state, total = None, 0.0
            for s in range(0, X.shape[1], k):
                pred, cache = ref.forward(X[:, s:s + k], training=True, state0=state if carry else None)
                value, d = fr.losses.mse(pred, y[:, s:s + k])
                grads, _ = ref.backward(cache, d)
                for name, g in grads.items():
                    ref.parameters()[name][...] -= lr * g
                state = cache["states"]
                total += value * min(k, X.shape[1] - s)
            losses.append(total / X.shape[1])
        return ref, losses

    ref, ref_losses = by_hand(carry=True)
    no_carry, _ = by_hand(carry=False)
    tr = fr.Trainer(m, optimizer=fr.optim.SGD(m.parameters(), lr=lr))
    hist = tr.fit_stateful(X, y, k=k, epochs=epochs, verbose=0)
    for name, v in ref.parameters().items():
        np.testing.assert_allclose(m.parameters()[name], v, rtol=0, atol=1e-13, err_msg=name)
    np.testing.assert_allclose(hist.loss, ref_losses, rtol=1e-13)
    assert max(np.abs(no_carry.parameters()[n] - v).max() for n, v in ref.parameters().items()) > 1e-6
    assert len(hist.grad_norm) == epochs and all(g > 0 for g in hist.grad_norm)
    assert list(hist.layer_grad_norms[0]) == ["l0", "l1", "head"]


def test_fit_stateful_accepts_one_series_and_checks_its_arguments():
    t = np.arange(120)
    series = np.sin(t / 5)
    m = fr.GRU(1, 4, return_sequences=True, dtype="float64", seed=0)
    tr = fr.Trainer(m, optimizer=fr.optim.Adam(m.parameters(), lr=0.02))
    hist = tr.fit_stateful(series[:-1], series[1:], k=20, epochs=3, verbose=0)  # (T,) input and targets
    assert len(hist.loss) == 3 and np.isfinite(hist.loss).all()
    with pytest.raises(ValueError, match="k must be a positive integer"):
        tr.fit_stateful(series[:-1], series[1:], k=0, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="target for every step"):
        tr.fit_stateful(series[None, :-1, None], series[None, 1:60, None], k=5, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="return_sequences=True"):
        fr.Trainer(fr.GRU(1, 2, seed=0)).fit_stateful(series[:-1], series[1:], k=5, epochs=1, verbose=0)


# ---------------------------------------------------------------------------------------------------
# The training loop's callbacks (one loop behind fit and fit_stateful)


class _Recorder(fr.trainer.Callback):
    """Records each hook with the epoch it saw, the weights at every epoch end, and stops at
    ``stop_at``."""

    def __init__(self, stop_at=None):
        self.calls, self.weights, self.stop_at = [], {}, stop_at

    def on_train_begin(self, loop):
        self.calls.append(("begin", loop.epoch))

    def on_epoch_end(self, loop):
        self.calls.append(("epoch", loop.epoch))
        self.weights[loop.epoch] = loop.trainer.model.state_dict()
        if loop.epoch == self.stop_at:
            loop.stop("stopped by the recorder")

    def on_train_end(self, loop):
        self.calls.append(("end", loop.epoch))


def test_callbacks_see_every_epoch_and_can_stop_training():
    rec = _Recorder(stop_at=3)
    _, hist = _trained_weights(10, callbacks=[rec])
    assert rec.calls == [("begin", 0), ("epoch", 1), ("epoch", 2), ("epoch", 3), ("end", 3)]
    assert hist.epoch == [1, 2, 3] and hist.stop_reason == "stopped by the recorder"
    # stopping at epoch 3 leaves the model exactly as 3 epochs of training do
    assert _weights_equal(rec.weights[3], _trained_weights(3)[0])


def test_early_stopping_without_patience_runs_every_epoch_and_restores_the_best():
    rec = _Recorder()
    X, y = _data()
    Xv, yv = _data(n=16, seed=1)
    m = fr.GRU(2, 4, dtype="float64", seed=0)
    tr = fr.Trainer(m, optimizer=fr.optim.Adam(m.parameters(), lr=0.2))  # noisy: not monotone
    hist = tr.fit(X, y, validation_data=(Xv, yv), epochs=12, batch_size=8, verbose=0,
                  early_stopping=fr.EarlyStopping(patience=None), callbacks=[rec])
    assert hist.epoch == list(range(1, 13)) and hist.stop_reason == "completed all epochs"
    best = int(np.argmin(hist.val_loss)) + 1
    assert hist.best_epoch == best < 12  # the test needs a best epoch before the last one
    assert _weights_equal(m.state_dict(), rec.weights[best])


def test_epochs_of_one_fit_equal_fits_of_one_epoch():
    """The loop keeps no state between fits but the trainer's (optimizer, shuffling RNG)."""
    once, _ = _trained_weights(4)
    m = fr.GRU(2, 4, num_layers=2, dropout=0.2, dtype="float64", seed=0)
    tr = fr.Trainer(m, optimizer=fr.optim.Adam(m.parameters(), lr=0.02))
    X, y = _data()
    for _ in range(4):
        tr.fit(X, y, epochs=1, batch_size=16, verbose=0)
    assert _weights_equal(once, m.state_dict())


def test_history_round_trips_through_a_dict():
    import json

    _, hist = _trained_weights(2)
    back = fr.History.from_dict(json.loads(json.dumps(hist.to_dict())))
    assert back == hist and back.epochs_run == 2 and not back.diverged


def test_progress_bar_callback_ends_full_when_stopped_early(capsys):
    bar = fr.trainer.ProgressBar("training", disable=False)
    _trained_weights(10, callbacks=[_Recorder(stop_at=4), bar])
    err = capsys.readouterr().err
    assert "4/4" in err and "/10" not in err.splitlines()[-1]
