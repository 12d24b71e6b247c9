"""Model-level cross-check against PyTorch: stacked, bidirectional RNN/LSTM/GRU + linear head.

The torch side is ``nn.LSTM/GRU/RNN(num_layers=2, bidirectional=True, batch_first=True,
dtype=float64)`` followed by ``nn.Linear(2H, O)``, applied either to ``cat(h_n[-2], h_n[-1])``
(fastrnn's many-to-one feature: the last layer's forward h_T and backward h_0) or to every step of
the last layer's output (``return_sequences=True``). The fastrnn model gets torch's weights through
``load_state_dict`` (torch tensors passed as they are); then

* predictions agree within 1e-10 (float64, absolute);
* after ``Trainer.train_step`` with SGD (lr 0.1; and with momentum 0.9 over three steps, so the
  momentum buffer matters) every weight agrees with torch's within 1e-9 (absolute);
* the Trainer's ``clip_norm`` / ``clip_value`` change the update exactly as
  ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_`` do.

``pytest -s`` prints the largest absolute difference measured per cell, backend and quantity.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastrnn as fr  # noqa: E402

CELLS = ("lstm", "gru", "rnn_tanh", "rnn_relu")
BACKENDS = ("numba", "numpy")
PRED_TOL = 1e-10
WEIGHT_TOL = 1e-9
B, T, I, H, O = 5, 9, 3, 6, 2

_WORST = {}


def _record(key, value):
    _WORST[key] = max(_WORST.get(key, 0.0), float(value))
    return value


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread_and_report():
    # Tiny problems: torch's intra-op thread pool only competes with Numba's for the 2 cores here
    # (its idle workers spin), which made this file several times slower. Restored afterwards.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    if _WORST:
        print("\n==== fastrnn model vs PyTorch: largest absolute differences (test_model_torch_parity.py) ====")
        for k in sorted(_WORST):
            print(f"  {k:<46s} {_WORST[k]:.3e}")


def _torch_stack(cell, input_size=I, hidden=H, out=O, num_layers=2, bidirectional=True, dropout=0.0,
                 dtype=torch.float64, seed=0):
    """A torch recurrent stack + linear head with torch's own random initialisation."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        kw = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=True, dropout=dropout,
                  dtype=dtype)
        if cell == "lstm":
            rnn = torch.nn.LSTM(input_size, hidden, **kw)
        elif cell == "gru":
            rnn = torch.nn.GRU(input_size, hidden, **kw)
        else:
            rnn = torch.nn.RNN(input_size, hidden, nonlinearity=cell[4:], **kw)
        head = torch.nn.Linear((2 if bidirectional else 1) * hidden, out, dtype=dtype)
    return rnn, head


def _torch_state_dict(rnn, head):
    """PyTorch's state dicts of the stack and the head, merged under fastrnn's key names."""
    sd = dict(rnn.state_dict())
    sd.update({"head." + k: v for k, v in head.state_dict().items()})
    return sd


def _torch_predict(cell, rnn, head, x, return_sequences):
    out, h_n = rnn(x)
    if return_sequences:
        return head(out)  # the head at every step of the last layer's output
    h = h_n[0] if cell == "lstm" else h_n
    feat = torch.cat([h[-2], h[-1]], dim=1) if rnn.bidirectional else h[-1]
    return head(feat)


def _fastrnn_model(cell, backend, return_sequences, num_layers=2, bidirectional=True, dropout=0.0,
                   dtype="float64", input_size=I, hidden=H, out=O):
    kind = cell.split("_")[0]
    cls = {"lstm": fr.LSTM, "gru": fr.GRU, "rnn": fr.RNN}[kind]
    kw = {"nonlinearity": cell[4:]} if kind == "rnn" else {}
    return cls(input_size, hidden, output_size=out, num_layers=num_layers, bidirectional=bidirectional,
               dropout=dropout, return_sequences=return_sequences, dtype=dtype, backend=backend, seed=0, **kw)


def _problem(return_sequences, key=0, dtype=np.float64):
    rng = np.random.default_rng(1000 + key)
    x = rng.standard_normal((B, T, I)).astype(dtype)
    y = rng.standard_normal((B, T, O) if return_sequences else (B, O)).astype(dtype)
    return x, y


def _max_weight_diff(model, sd):
    params = model.parameters()
    assert set(params) == set(sd)
    return max(float(np.max(np.abs(params[k] - sd[k].detach().numpy()))) for k in sd)


def _mode(return_sequences):
    return "m2m" if return_sequences else "m2o"


@pytest.mark.parametrize("return_sequences", [False, True], ids=["m2o", "m2m"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
def test_predictions_match_torch(cell, backend, return_sequences):
    rnn, head = _torch_stack(cell)
    model = _fastrnn_model(cell, backend, return_sequences)
    model.load_state_dict(_torch_state_dict(rnn, head))  # torch tensors (requires_grad) directly
    x, _ = _problem(return_sequences)
    rnn.eval()
    with torch.no_grad():
        want = _torch_predict(cell, rnn, head, torch.from_numpy(x), return_sequences).numpy()
    got = model.predict(x)
    assert got.shape == want.shape == ((B, T, O) if return_sequences else (B, O))
    assert got.dtype == np.float64
    err = _record(f"predict  {cell}/{backend}/{_mode(return_sequences)}", np.max(np.abs(got - want)))
    assert err < PRED_TOL
    # batched prediction and the (B, T, I) call path give the same numbers
    np.testing.assert_allclose(model.predict(x, batch_size=2), want, rtol=0, atol=PRED_TOL)
    np.testing.assert_array_equal(model(x), got)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["m2o", "m2m"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
def test_train_step_matches_torch(cell, backend, return_sequences, optimizer):
    """SGD(lr=0.1): one step; SGD(lr=0.1, momentum=0.9): three steps (the buffer only matters from the
    second). Loss before each update and all weights after it equal torch's."""
    rnn, head = _torch_stack(cell)
    rnn.train()  # dropout = 0, so train mode computes the same function as eval mode
    model = _fastrnn_model(cell, backend, return_sequences)
    model.load_state_dict(_torch_state_dict(rnn, head))
    momentum, steps = (0.0, 1) if optimizer == "sgd" else (0.9, 3)
    trainer = fr.Trainer(model, loss="mse", optimizer=fr.optim.SGD(model.parameters(), lr=0.1, momentum=momentum))
    t_params = list(rnn.parameters()) + list(head.parameters())
    t_opt = torch.optim.SGD(t_params, lr=0.1, momentum=momentum)
    tag = f"{cell}/{backend}/{_mode(return_sequences)}/{optimizer}"
    for step in range(steps):
        x, y = _problem(return_sequences, key=step)
        loss = trainer.train_step(x, y)
        t_opt.zero_grad()
        t_loss = torch.nn.functional.mse_loss(_torch_predict(cell, rnn, head, torch.from_numpy(x), return_sequences),
                                              torch.from_numpy(y))
        t_loss.backward()
        t_opt.step()
        assert abs(loss - t_loss.item()) < PRED_TOL, (step, loss, t_loss.item())
        err = _record(f"weights  {tag}", _max_weight_diff(model, _torch_state_dict(rnn, head)))
        assert err < WEIGHT_TOL, f"step {step + 1}: max |w - w_torch| = {err:.2e}"
    # the weights did move (the comparison is not vacuous)
    sd0 = _torch_state_dict(*_torch_stack(cell))
    assert _max_weight_diff(model, sd0) > 1e-4


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_dropout_zero_two_layers_equals_torch_in_train_mode(cell):
    """dropout=0.0 with num_layers=2: fastrnn's training forward equals torch's train-mode forward,
    and inference equals torch's eval mode."""
    rnn, head = _torch_stack(cell, dropout=0.0)
    model = _fastrnn_model(cell, "numba", False, dropout=0.0)
    model.load_state_dict(_torch_state_dict(rnn, head))
    x, _ = _problem(False)
    rnn.train()
    with torch.no_grad():
        want_train = _torch_predict(cell, rnn, head, torch.from_numpy(x), False).numpy()
    rnn.eval()
    with torch.no_grad():
        want_eval = _torch_predict(cell, rnn, head, torch.from_numpy(x), False).numpy()
    got_train = model.forward(x, training=True)[0]
    assert np.max(np.abs(got_train - want_train)) < PRED_TOL
    assert np.max(np.abs(model.predict(x) - want_eval)) < PRED_TOL


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "clip", [{"clip_norm": 0.05}, {"clip_value": 0.002}, {"clip_value": 0.01, "clip_norm": 0.03}],
    ids=["norm", "value", "value+norm"],
)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_clipping_matches_torch(cell, clip, backend):
    """One SGD step with the Trainer's clipping equals torch with clip_grad_value_ (first) and
    clip_grad_norm_ applied to all parameters of the stack and the head."""
    rnn, head = _torch_stack(cell)
    model = _fastrnn_model(cell, backend, False)
    model.load_state_dict(_torch_state_dict(rnn, head))
    trainer = fr.Trainer(model, optimizer=fr.optim.SGD(model.parameters(), lr=0.1), **clip)
    unclipped = _fastrnn_model(cell, backend, False)
    unclipped.load_state_dict(_torch_state_dict(rnn, head))
    fr.Trainer(unclipped, optimizer=fr.optim.SGD(unclipped.parameters(), lr=0.1)).train_step(*_problem(False))

    x, y = _problem(False)
    trainer.train_step(x, y)
    t_params = list(rnn.parameters()) + list(head.parameters())
    t_opt = torch.optim.SGD(t_params, lr=0.1)
    t_opt.zero_grad()
    torch.nn.functional.mse_loss(_torch_predict(cell, rnn, head, torch.from_numpy(x), False),
                                 torch.from_numpy(y)).backward()
    if "clip_value" in clip:
        biggest = max(float(p.grad.abs().max()) for p in t_params)
        assert biggest > clip["clip_value"], "clip_value would not be active"
        torch.nn.utils.clip_grad_value_(t_params, clip["clip_value"])
    if "clip_norm" in clip:
        total = torch.nn.utils.clip_grad_norm_(t_params, clip["clip_norm"])
        assert float(total) > clip["clip_norm"], "clip_norm would not be active"
    t_opt.step()
    err = _record(f"clip     {cell}/{backend}/{'+'.join(clip)}", _max_weight_diff(model, _torch_state_dict(rnn, head)))
    assert err < WEIGHT_TOL
    # and clipping changed the update
    diff = max(float(np.max(np.abs(model.parameters()[k] - v))) for k, v in unclipped.parameters().items())
    assert diff > 1e-5


@pytest.mark.parametrize("cell", CELLS)
def test_float32_model_matches_torch(cell):
    """float32 model (numba): predictions within 1e-5 and weights after one SGD step within 1e-5."""
    rnn, head = _torch_stack(cell, dtype=torch.float32)
    model = _fastrnn_model(cell, "numba", False, dtype="float32")
    model.load_state_dict(_torch_state_dict(rnn, head))
    x, y = _problem(False, dtype=np.float32)
    with torch.no_grad():
        want = _torch_predict(cell, rnn, head, torch.from_numpy(x), False).numpy()
    got = model.predict(x)
    assert got.dtype == np.float32
    assert _record(f"f32 predict  {cell}/numba/m2o", np.max(np.abs(got - want))) < 1e-5
    fr.Trainer(model, optimizer=fr.optim.SGD(model.parameters(), lr=0.1)).train_step(x, y)
    t_opt = torch.optim.SGD(list(rnn.parameters()) + list(head.parameters()), lr=0.1)
    torch.nn.functional.mse_loss(_torch_predict(cell, rnn, head, torch.from_numpy(x), False),
                                 torch.from_numpy(y)).backward()
    t_opt.step()
    assert _record(f"f32 weights  {cell}/numba/m2o", _max_weight_diff(model, _torch_state_dict(rnn, head))) < 1e-5


@pytest.mark.parametrize("cell", CELLS)
def test_state_dict_loads_into_torch(cell):
    """The other direction: fastrnn's own weights (state_dict, numpy arrays) load into torch's
    modules by name and give the same predictions."""
    model = _fastrnn_model(cell, "numba", False)
    rnn, head = _torch_stack(cell)
    sd = model.state_dict()
    rnn.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items() if not k.startswith("head.")})
    head.load_state_dict({k[5:]: torch.from_numpy(v) for k, v in sd.items() if k.startswith("head.")})
    x, _ = _problem(False)
    with torch.no_grad():
        want = _torch_predict(cell, rnn, head, torch.from_numpy(x), False).numpy()
    assert np.max(np.abs(model.predict(x) - want)) < PRED_TOL


@pytest.mark.parametrize("cell", ["lstm", "rnn_tanh"])
def test_unidirectional_single_layer_matches_torch(cell):
    """The default configuration (1 layer, one direction) is torch's head(h_n[-1])."""
    rnn, head = _torch_stack(cell, num_layers=1, bidirectional=False)
    model = _fastrnn_model(cell, "numba", False, num_layers=1, bidirectional=False)
    model.load_state_dict(_torch_state_dict(rnn, head))
    x, _ = _problem(False)
    with torch.no_grad():
        want = _torch_predict(cell, rnn, head, torch.from_numpy(x), False).numpy()
    assert np.max(np.abs(model.predict(x) - want)) < PRED_TOL
