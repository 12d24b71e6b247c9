"""Model stacks (fastrnn.stacks): M models trained together must end bitwise equal to each model
trained alone (same seed, data and settings), with its own early stopping, optimizer and clipping;
one kernel call per layer for all models; save/load, unstack, errors, threads."""

import warnings

import numba
import numpy as np
import pytest

import fastrnn as fr
from fastrnn import threads
from fastrnn.kernels import _threads
from fastrnn.trainer import Callback, EarlyStopping, NonFiniteLossWarning

# (kind, extra model settings, dtype, layers): every cell, both dtypes, one and two layers
CASES = [
    ("lstm", {}, "float32", 1),
    ("lstm", {}, "float64", 2),
    ("gru", {}, "float32", 2),
    ("gru", {}, "float64", 1),
    ("rnn", {"nonlinearity": "tanh"}, "float64", 2),
    ("rnn", {"nonlinearity": "relu"}, "float32", 1),
]


def _data(n=48, T=6, I=2, seed=0):
    r = np.random.default_rng(seed)
    X = r.standard_normal((n, T, I))
    y = np.tanh(X[:, -1, :1] - 0.5 * X[:, 0, 1:]) + 0.1 * r.standard_normal((n, 1))
    return X, y


def _models(kind, extra, dtype, layers, M=4, **kw):
    cls = fr.models.model_class(kind)
    return [cls(2, 5, num_layers=layers, dtype=dtype, seed=s, **extra, **kw) for s in range(M)]


def _weights_equal(a, b):
    pa, pb = a.parameters(), b.parameters()
    return pa.keys() == pb.keys() and all(np.array_equal(pa[k], pb[k]) for k in pa)


def _fit(trainer, X, y, val, patience):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonFiniteLossWarning)
        return trainer.fit(X, y, validation_data=val, epochs=30, batch_size=16, verbose=0,
                           early_stopping=EarlyStopping(patience=patience))


@pytest.mark.parametrize("kind,extra,dtype,layers", CASES)
def test_stack_trains_each_model_bitwise_as_alone(kind, extra, dtype, layers):
    X, y = _data()
    val = _data(20, seed=1)
    lrs = [0.05, 0.02, 0.01, 0.03]  # a learning rate per model: different stopping epochs
    alone = _models(kind, extra, dtype, layers)
    hist_alone = [_fit(fr.Trainer(m, optimizer=fr.optim.Adam(m.parameters(), lr=lr), clip_norm=0.5), X, y, val, 3)
                  for m, lr in zip(alone, lrs)]
    st = fr.stack(_models(kind, extra, dtype, layers))
    opts = [fr.optim.Adam(st.members[m].parameters(), lr=lr) for m, lr in enumerate(lrs)]
    hist_stack = _fit(fr.Trainer(st, optimizer=opts, clip_norm=0.5), X, y, val, 3)
    assert len(hist_stack) == 4
    for m in range(4):
        assert _weights_equal(alone[m], st.members[m]), f"model {m}"
        a, b = hist_alone[m], hist_stack[m]
        assert (a.loss, a.val_loss, a.grad_norm, a.best_epoch, a.stop_reason) == \
            (b.loss, b.val_loss, b.grad_norm, b.best_epoch, b.stop_reason), f"model {m}"
    # the test has teeth only if the models stopped at different epochs
    assert len({h.epochs_run for h in hist_stack}) > 1
    np.testing.assert_array_equal(st.predict(val[0]), np.stack([m.predict(val[0]) for m in alone]))


def test_per_model_data_and_shuffling_seeds():
    """Each model its own data (M, N, T, I) and its own shuffling seed, as alone."""
    datas = [_data(seed=10 + m) for m in range(3)]
    alone = _models("lstm", {}, "float64", 1, M=3)
    for m, (X, y) in enumerate(datas):
        fr.Trainer(alone[m], optimizer="sgd", seed=100 + m).fit(X, y, epochs=3, batch_size=8, verbose=0)
    st = fr.stack(_models("lstm", {}, "float64", 1, M=3))
    X = np.stack([d[0] for d in datas])
    y = np.stack([d[1] for d in datas])
    hist = fr.Trainer(st, optimizer="sgd", seed=[100, 101, 102]).fit(X, y, epochs=3, batch_size=8, verbose=0)
    for m in range(3):
        assert _weights_equal(alone[m], st.members[m])
        assert hist[m].epochs_run == 3


def test_train_step_and_evaluate_match_alone():
    X, y = _data(16)
    alone = _models("gru", {}, "float32", 2, M=3)
    losses = [fr.Trainer(m, optimizer=lambda p: fr.optim.Adam(p, lr=0.01)).train_step(X, y) for m in alone]
    st = fr.stack(_models("gru", {}, "float32", 2, M=3))
    tr = fr.Trainer(st, optimizer=lambda p: fr.optim.Adam(p, lr=0.01))
    got = tr.train_step(X, y)
    assert got.shape == (3,)
    np.testing.assert_array_equal(got, np.array(losses))
    for m in range(3):
        assert _weights_equal(alone[m], st.members[m])
    ev = tr.evaluate(X, y, batch_size=5)
    np.testing.assert_array_equal(ev, [fr.Trainer(m).evaluate(X, y, batch_size=5) for m in alone])


def test_a_diverging_model_stops_alone_and_keeps_its_best_weights():
    """Model 1 gets a learning rate that blows up; the others train on, all as alone."""
    X, y = _data()
    lrs = [1e-2, 1e3, 1e-2]  # model 1: the loss becomes inf in epoch 2, after a best epoch 1
    alone = _models("rnn", {"nonlinearity": "relu"}, "float32", 1, M=3)
    with warnings.catch_warnings(record=True) as w_alone:
        warnings.simplefilter("always", NonFiniteLossWarning)
        ha = [fr.Trainer(m, optimizer=fr.optim.SGD(m.parameters(), lr=lr)).fit(X, y, epochs=6, verbose=0)
              for m, lr in zip(alone, lrs)]
    assert [h.diverged for h in ha] == [False, True, False]
    st = fr.stack(_models("rnn", {"nonlinearity": "relu"}, "float32", 1, M=3))
    opts = [fr.optim.SGD(st.members[m].parameters(), lr=lr) for m, lr in enumerate(lrs)]
    with warnings.catch_warnings(record=True) as w_stack:
        warnings.simplefilter("always", NonFiniteLossWarning)
        hs = fr.Trainer(st, optimizer=opts).fit(X, y, epochs=6, verbose=0)
    assert [h.diverged for h in hs] == [False, True, False]
    assert [str(w.message) for w in w_stack] == [str(w.message) for w in w_alone]
    for m in range(3):
        assert _weights_equal(alone[m], st.members[m])
        assert hs[m].stop_reason == ha[m].stop_reason
        assert np.isfinite(st.members[m].parameters()["head.weight"]).all()


def test_one_kernel_call_per_layer_and_step(monkeypatch):
    """A step of a 2-layer stack of 5 models makes 2 stacked forward and 2 stacked backward calls,
    and no single-model kernel call."""
    from fastrnn.kernels import _pooled

    calls = {"stack_forward": 0, "stack_backward": 0, "forward": 0, "backward": 0}
    for name in calls:
        real = getattr(_pooled, name)

        def counted(*a, _real=real, _name=name, **k):
            calls[_name] += 1
            return _real(*a, **k)
        monkeypatch.setattr(_pooled, name, counted)
    st = fr.stack(_models("lstm", {}, "float32", 2, M=5))
    fr.Trainer(st).train_step(*_data(8))
    assert calls == {"stack_forward": 2, "stack_backward": 2, "forward": 0, "backward": 0}


def test_results_do_not_depend_on_the_thread_count(monkeypatch):
    X, y = _data()
    out = []
    for n in ("1", "2"):
        monkeypatch.setenv(threads.ENV_VAR, n)
        st = fr.stack(_models("lstm", {}, "float32", 1, M=3))
        fr.Trainer(st).fit(X, y, epochs=2, verbose=0)
        out.append(st.parameters())
    for k in out[0]:
        np.testing.assert_array_equal(out[0][k], out[1][k])


class _Spy(Callback):
    per_model = False

    def on_epoch_end(self, loop):
        self.seen = (_threads.numba_blas_threads(), numba.get_num_threads(), len(loop.loops))


def test_stack_runs_blas_on_one_thread_and_numba_on_the_free_cpus(monkeypatch):
    for name in threads.BLAS_ENV_VARS + (threads.ENV_VAR, "NUMBA_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "_others_running", lambda: 0)
    saved = _threads.blas_threads()
    try:
        if threads.usable_cpus() >= 2:
            _threads.set_blas_threads(2)
        before = numba.get_num_threads()
        spy = _Spy()
        st = fr.stack(_models("gru", {}, "float32", 1, M=3))
        fr.Trainer(st).fit(*_data(8), epochs=1, verbose=0, callbacks=[spy])
        blas, nb, loops = spy.seen
        assert blas in (1, None)  # None: no OpenBLAS found to set
        assert nb == min(threads.usable_cpus(), 3, numba.config.NUMBA_NUM_THREADS)
        assert loops == 3
        assert numba.get_num_threads() == before  # restored
    finally:
        _threads.restore_blas_threads(saved)


def test_per_model_callbacks_are_copied_and_the_whole_stack_ones_not():
    seen = []

    class PerModel(Callback):
        def on_epoch_end(self, loop):
            seen.append(id(self))

    st = fr.stack(_models("rnn", {}, "float64", 1, M=3))
    cb, spy = PerModel(), _Spy()
    fr.Trainer(st).fit(*_data(8), epochs=2, verbose=0, callbacks=[cb, spy])
    assert len(seen) == 6 and len(set(seen)) == 3 and id(cb) not in seen
    assert spy.seen[2] == 3


def test_unstack_gives_independent_copies():
    models = _models("lstm", {}, "float32", 2, M=3)
    st = fr.stack(models)
    fr.Trainer(st).fit(*_data(8), epochs=1, verbose=0)
    # the stack copied the weights: the models given to it are untouched
    assert _weights_equal(models[0], _models("lstm", {}, "float32", 2, M=1)[0])
    out = st.unstack()
    assert [m.seed for m in out] == [0, 1, 2]
    assert all(_weights_equal(a, b) for a, b in zip(out, st.members))
    out[0].parameters()["head.bias"][:] += 1
    assert not _weights_equal(out[0], st.members[0])
    X = _data(5)[0]
    np.testing.assert_array_equal(out[1].predict(X), st.predict(X)[1])


def test_save_load_round_trip(tmp_path):
    st = fr.stack(_models("gru", {}, "float64", 2, M=3))
    fr.Trainer(st).fit(*_data(8), epochs=1, verbose=0)
    st.save(tmp_path / "s.npz")
    back = fr.load(tmp_path / "s.npz")
    assert isinstance(back, fr.Stack) and back.num_models == 3 and back.seeds == [0, 1, 2]
    for a, b in zip(st.members, back.members):
        assert _weights_equal(a, b)
    X = _data(4)[0]
    np.testing.assert_array_equal(back.predict(X), st.predict(X))
    # stored stacked: M times one model's parameters, not a block-diagonal model of M*H units
    assert back.num_parameters() == 3 * st.members[0].num_parameters()


def test_a_damaged_stack_file_is_refused(tmp_path):
    st = fr.stack(_models("lstm", {}, "float32", 1, M=2))
    st.save(tmp_path / "s.npz")
    with np.load(tmp_path / "s.npz") as z:
        arrays = dict(z)
    arrays["weight_hh_l0"] = arrays["weight_hh_l0"][:1]  # one model's recurrent weights missing
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(fr.ModelFileError, match=r"weight_hh_l0 should have shape \(2, 20, 5\)"):
        fr.load(tmp_path / "bad.npz")
    arrays = dict(np.load(tmp_path / "s.npz"))
    arrays["__stack__"] = np.array(3)
    np.savez(tmp_path / "bad2.npz", **arrays)
    with pytest.raises(fr.ModelFileError, match="stack config says 2 models, the file 3"):
        fr.load(tmp_path / "bad2.npz")


def test_predict_shared_and_per_model_inputs():
    st = fr.stack(_models("lstm", {}, "float32", 1, M=2))
    X = _data(7)[0]
    shared = st.predict(X)
    assert shared.shape == (2, 7, 1)
    per = st.predict(np.stack([X, X[::-1]]))
    np.testing.assert_array_equal(per[0], shared[0])
    np.testing.assert_array_equal(per[1], st.members[1].predict(X[::-1]))
    batched = st.predict(X, batch_size=3)  # other GEMM shapes: equal up to rounding, as for one model
    np.testing.assert_allclose(batched, shared, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(batched[1], st.members[1].predict(X, batch_size=3))


@pytest.mark.parametrize("build,match", [
    (lambda: fr.stack([]), "at least one model"),
    (lambda: fr.stack(fr.LSTM(1, 4)), "takes a list of models"),
    (lambda: fr.stack([fr.LSTM(1, 4), "x"]), "item 1 is a str"),
    (lambda: fr.stack([fr.LSTM(1, 4), fr.LSTM(1, 5)]), "model 1 has hidden_size=5, model 0 has hidden_size=4"),
    (lambda: fr.stack([fr.LSTM(1, 4), fr.GRU(1, 4)]), "model 1 has kind='gru'"),
    (lambda: fr.stack([fr.LSTM(1, 4, bidirectional=True)]), "one-direction"),
    (lambda: fr.stack([fr.LSTM(1, 4, num_layers=2, dropout=0.2)]), "without dropout"),
])
def test_bad_stacks_are_refused(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_bad_trainer_arguments_and_data():
    st = fr.stack(_models("lstm", {}, "float32", 1, M=2))
    with pytest.raises(ValueError, match="one optimizer per model"):
        fr.Trainer(st, optimizer=fr.optim.Adam(st.members[0].parameters()))
    with pytest.raises(ValueError, match=r"one optimizer per model \(2\); got 1"):
        fr.Trainer(st, optimizer=[fr.optim.Adam(st.members[0].parameters())])
    with pytest.raises(ValueError, match=r"optimizer\[1\] must be an Optimizer built on stack.members\[1\]"):
        fr.Trainer(st, optimizer=[fr.optim.Adam(st.members[0].parameters())] * 2)
    tr = fr.Trainer(st)
    X, y = _data(8)
    with pytest.raises(ValueError, match=r"list of 2 arrays \(N_m, T, I\); got shape \(3, 8, 6, 2\)"):
        tr.fit(np.stack([X] * 3), np.stack([y] * 3), epochs=1)
    with pytest.raises(ValueError, match="leading axis of 2"):
        tr.fit(np.stack([X] * 2), y, epochs=1)
    with pytest.raises(ValueError, match="epochs must be a positive integer; got 0"):
        tr.fit(X, y, epochs=0)
    with pytest.raises(ValueError, match="fit_stateful trains one model"):
        tr.fit_stateful(X, y, k=2)


def test_each_models_training_ends_when_it_stops():
    """on_train_end of a model's callbacks runs at the epoch it stopped (a checkpoint can be
    written then), with loop.index and loop.finished; the others train on."""
    ends = []

    class End(Callback):
        def on_train_end(self, loop):
            ends.append((loop.index, loop.epoch, loop.finished, len(ends)))

    X, y = _data()
    st = fr.stack(_models("gru", {}, "float64", 1, M=3))
    opts = [fr.optim.Adam(st.members[m].parameters(), lr=lr) for m, lr in enumerate([0.2, 0.001, 0.05])]
    hist = fr.Trainer(st, optimizer=opts).fit(X, y, validation_data=_data(20, seed=1), epochs=12, verbose=0,
                                              early_stopping=EarlyStopping(patience=2), callbacks=[End()])
    by_model = {m: (epoch, finished) for m, epoch, finished, _ in ends}
    assert by_model == {m: (h.epochs_run, True) for m, h in enumerate(hist)}
    order = [m for m, *_ in ends]
    assert order == sorted(range(3), key=lambda m: (hist[m].epochs_run, m))  # in the order they stopped
    assert len({h.epochs_run for h in hist}) > 1


def test_models_with_different_amounts_of_data():
    """Per-model data of different lengths (one model per series): lists of arrays; each model's
    epochs cover its own data, as alone (the last, smaller batches of each in their own calls)."""
    datas = [_data(n, seed=20 + n) for n in (40, 23, 31)]
    val = [_data(k, seed=5) for k in (9, 12, 7)]
    alone = _models("lstm", {}, "float32", 2, M=3)
    ha = [fr.Trainer(m).fit(X, y, validation_data=v, epochs=4, batch_size=8, verbose=0)
          for m, (X, y), v in zip(alone, datas, val)]
    st = fr.stack(_models("lstm", {}, "float32", 2, M=3))
    tr = fr.Trainer(st)
    hs = tr.fit([d[0] for d in datas], [d[1] for d in datas],
                validation_data=([v[0] for v in val], [v[1] for v in val]), epochs=4, batch_size=8, verbose=0)
    for m in range(3):
        assert _weights_equal(alone[m], st.members[m])
        assert hs[m].loss == ha[m].loss and hs[m].val_loss == ha[m].val_loss
    np.testing.assert_array_equal(tr.evaluate([v[0] for v in val], [v[1] for v in val]),
                                  [fr.Trainer(m).evaluate(*v) for m, v in zip(alone, val)])


def test_a_stack_runs_blas_on_one_thread_even_when_the_user_fixed_it(monkeypatch):
    """An explicit BLAS count is for single models: inside a stack's parallel loop BLAS threads would
    oversubscribe the cores (and OpenBLAS warns an OpenMP loop may hang)."""
    if threads.usable_cpus() < 2:
        pytest.skip("one CPU: BLAS cannot be given 2 threads here")
    saved, explicit = _threads.blas_threads(), threads._explicit
    try:
        threads.set_blas_threads(2)
        spy = _Spy()
        st = fr.stack(_models("lstm", {}, "float32", 1, M=2))
        fr.Trainer(st).fit(*_data(8), epochs=1, verbose=0, callbacks=[spy])
        assert spy.seen[0] == 1
        assert _threads.numba_blas_threads() == 2  # restored
    finally:
        threads._explicit = explicit
        _threads.restore_blas_threads(saved)
