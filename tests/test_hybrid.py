"""Hybrid models (issue 15): a linear autoregressive path in the head, beside the recurrent network.

``ar_lags=L`` adds ``head.ar_weight @ x[:, -L:, 0]`` to the head; ``least_squares_init`` starts it
(and the head bias) as the least-squares AR of the training windows, with the network's head weight
at zero; ``ar_frozen`` keeps it fixed (the residual variant). Checked here:

* an untrained hybrid forecasts the shipped series' test part exactly as the least-squares AR of
  :func:`fastrnn.forecast.baselines.linear_ar` fitted on the same training part (float tolerance);
* the gradients against finite differences, the Numba backend against the NumPy reference, and
  the forward and the gradients against PyTorch autograd (``nn.LSTM`` + ``nn.Linear`` head +
  ``nn.Linear(L, O, bias=False)`` on the last L inputs);
* a frozen path is never changed by training (a model, a stack, AdamW's weight decay), a stack of
  hybrids trains each member bitwise as it trains alone, save/load round trips, damaged files;
* ``fastrnn train --model hybrid-...`` end to end with ``predict``, and its errors.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner

import fastrnn as fr
from fastrnn import forecast as fc
from fastrnn.cli import main
from fastrnn.forecast import baselines
from fastrnn.models import ModelFileError

KINDS = ("lstm", "gru", "rnn")
BACKENDS = ("numba", "numpy")
B, T, I, H, O, L = 6, 7, 3, 5, 2, 4


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((B, T, I)), rng.standard_normal((B, O))


def _hybrid(kind, backend="numpy", seed=0, **kw):
    """A float64 hybrid whose head weight is not zero (so that every path carries gradient)."""
    kw = {"output_size": O, "ar_lags": L, "dtype": "float64", "backend": backend, "seed": seed, **kw}
    m = fr.models.model_class(kind)(I, H, **kw)
    rng = np.random.default_rng(seed + 100)
    sd = m.state_dict()
    for name in ("head.ar_weight", "head.bias"):
        sd[name] = rng.standard_normal(sd[name].shape)
    m.load_state_dict(sd)
    return m


# --------------------------------------------------------------------------------------------------
# the least-squares start equals the linear AR baseline


@pytest.mark.parametrize("dataset, dtype, tol", [("airline", "float64", 1e-9), ("airline", "float32", 2e-5),
                                                 ("temperature", "float64", 1e-9)])
def test_untrained_hybrid_forecasts_the_test_part_as_the_least_squares_ar(dataset, dtype, tol):
    cfg = fc.make_config(dataset, model=f"hybrid-{fc.make_config(dataset).model}", dtype=dtype, ensemble=1)
    data = fc.load_series(cfg)
    prep = fc.prepare_series(data, cfg)
    model = fc.build_model(cfg, prep=prep)
    assert not model.parameters()["head.weight"].any()  # the network's output is zero
    got = fc.score(model, prep, "test")["pred"]
    s = prep.starts["test"]
    want = baselines.linear_ar(prep.values, s, cfg.look_back, 1, cfg.transform, fit_end=prep.split.train_end)[:, 0]
    assert np.max(np.abs(got - want) / np.abs(want)) < tol
    # ...and it is not the AR fitted on training + validation (the baseline row of the table)
    shipped = baselines.linear_ar(prep.values, s, cfg.look_back, 1, cfg.transform, fit_end=prep.split.test_start)
    assert np.max(np.abs(got - shipped[:, 0]) / np.abs(want)) > 100 * tol


def test_least_squares_init_returns_the_coefficients_it_sets():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, T, 1))
    coef_true = np.array([0.5, -0.2, 0.1, 0.7, 0.3])  # intercept, lags T-3 .. T
    y = coef_true[0] + X[:, -4:, 0] @ coef_true[1:]
    m = fr.GRU(1, 3, ar_lags=4, dtype="float64", seed=0)
    coef = m.least_squares_init(X, y)
    np.testing.assert_allclose(coef[:, 0], coef_true, atol=1e-12)
    np.testing.assert_allclose(m.parameters()["head.ar_weight"][0], coef_true[1:], atol=1e-12)
    np.testing.assert_allclose(m.predict(X)[:, 0], y, atol=1e-12)


@pytest.mark.parametrize("kw, X, y, words", [
    ({}, np.zeros((20, T, 1)), np.zeros(20), "ar_lags > 0"),
    ({"ar_lags": 4}, np.zeros((4, T, 1)), np.zeros(4), "at least 5 windows"),
    ({"ar_lags": 4}, np.zeros((20, T, 1)), np.zeros(19), "shape (20, 1)"),
    ({"ar_lags": 4}, np.zeros((20, T, 1)), np.full(20, np.nan), "NaN"),
    ({"ar_lags": 9}, np.zeros((20, T, 1)), np.zeros(20), "at least T = 9"),
])
def test_least_squares_init_errors(kw, X, y, words):
    m = fr.LSTM(1, 3, seed=0, **kw)
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        m.least_squares_init(X, y)


@pytest.mark.parametrize("kw, words", [
    ({"ar_lags": -1}, "ar_lags must be a non-negative integer"),
    ({"ar_lags": 2.0}, "ar_lags must be a non-negative integer"),
    ({"ar_lags": True}, "ar_lags must be a non-negative integer"),
    ({"ar_frozen": True}, "needs a linear path"),
    ({"ar_lags": 2, "ar_frozen": "yes"}, "ar_frozen must be True or False"),
    ({"ar_lags": 2, "return_sequences": True}, "needs a last-step model"),
])
def test_bad_linear_path_arguments(kw, words):
    with pytest.raises(ValueError, match=words):
        fr.LSTM(1, 3, **kw)


# --------------------------------------------------------------------------------------------------
# gradients


def _loss_and_grads(m, X, r):
    y, cache = m.forward(X)
    grads, _ = m.backward(cache, r)
    return float(np.sum(y * r)), grads


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("layers, bidirectional", [(1, False), (2, True)])
def test_gradients_match_finite_differences(kind, backend, layers, bidirectional):
    X, r = _problem(1)
    m = _hybrid(kind, backend, num_layers=layers, bidirectional=bidirectional)
    _, grads = _loss_and_grads(m, X, r)
    assert set(grads) == set(m.parameters()) and "head.ar_weight" in grads
    rng = np.random.default_rng(2)
    eps = 1e-6
    for name, p in m.parameters().items():
        for _ in range(3):
            i = tuple(rng.integers(0, n) for n in p.shape)
            old = p[i]
            p[i] = old + eps
            up = _loss_and_grads(m, X, r)[0]
            p[i] = old - eps
            down = _loss_and_grads(m, X, r)[0]
            p[i] = old
            fd = (up - down) / (2 * eps)
            assert abs(fd - grads[name][i]) <= 1e-6 * max(1.0, abs(fd)), (name, i, fd, grads[name][i])


@pytest.mark.parametrize("kind", KINDS)
def test_numba_and_numpy_backends_agree(kind):
    X, r = _problem(4)
    a, b = _hybrid(kind, "numba"), _hybrid(kind, "numpy")
    la, ga = _loss_and_grads(a, X, r)
    lb, gb = _loss_and_grads(b, X, r)
    assert abs(la - lb) < 1e-12
    for name in ga:
        np.testing.assert_allclose(ga[name], gb[name], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_forward_and_gradients_match_pytorch_autograd(kind):
    torch = pytest.importorskip("torch")
    X, r = _problem(5)
    m = _hybrid(kind, "numba")
    rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind](
        I, H, batch_first=True, dtype=torch.float64)
    head = torch.nn.Linear(H, O, dtype=torch.float64)
    ar = torch.nn.Linear(L, O, bias=False, dtype=torch.float64)
    sd = m.state_dict()
    with torch.no_grad():
        for name, p in rnn.named_parameters():
            p.copy_(torch.from_numpy(sd[name]))
        head.weight.copy_(torch.from_numpy(sd["head.weight"]))
        head.bias.copy_(torch.from_numpy(sd["head.bias"]))
        ar.weight.copy_(torch.from_numpy(sd["head.ar_weight"]))
    x = torch.from_numpy(X)
    out, _ = rnn(x)
    y = head(out[:, -1]) + ar(x[:, -L:, 0])
    (y * torch.from_numpy(r)).sum().backward()
    ours, grads = _loss_and_grads(m, X, r)
    np.testing.assert_allclose(m.predict(X), y.detach().numpy(), atol=1e-12)
    want = {name: p.grad.numpy() for name, p in rnn.named_parameters()}
    want.update({"head.weight": head.weight.grad.numpy(), "head.bias": head.bias.grad.numpy(),
                 "head.ar_weight": ar.weight.grad.numpy()})
    assert set(want) == set(grads)
    for name, g in want.items():
        np.testing.assert_allclose(grads[name], g, atol=1e-11, err_msg=name)


# --------------------------------------------------------------------------------------------------
# the frozen path (residual variant), stacks, files


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_frozen_path_never_changes_in_training(backend):
    X, y = _problem(6)
    models = [_hybrid("gru", backend, seed=s, ar_frozen=True) for s in (0, 1)]
    frozen = models[0].state_dict()["head.ar_weight"]
    assert "head.ar_weight" not in models[0].parameters()
    assert models[0].num_parameters() == _hybrid("gru").num_parameters() - O * L
    st = fr.stack(models)
    assert st.num_parameters() == 2 * models[0].num_parameters()
    head0 = st.parameters()["head.weight"].copy()
    fr.Trainer(models[0], optimizer=fr.optim.AdamW(models[0].parameters(), lr=1e-2, weight_decay=0.1)).fit(
        X, y, epochs=3, verbose=0)
    fr.Trainer(st, optimizer="adamw").fit(X, y, epochs=3, verbose=0)
    after = models[0].state_dict()
    assert np.array_equal(after["head.ar_weight"], frozen)
    assert not np.array_equal(after["head.weight"], _hybrid("gru", backend, ar_frozen=True).state_dict()["head.weight"])
    assert np.array_equal(st.parameters()["head.ar_weight"][0], frozen)
    assert not np.array_equal(st.parameters()["head.weight"], head0)


@pytest.mark.parametrize("frozen", [False, True])
def test_a_stack_of_hybrids_trains_each_member_as_alone(frozen):
    X, y = _problem(7)
    alone = [_hybrid("lstm", "numba", seed=s, ar_frozen=frozen, dtype="float32") for s in (0, 1, 2)]
    st = fr.stack([_hybrid("lstm", "numba", seed=s, ar_frozen=frozen, dtype="float32") for s in (0, 1, 2)])
    fr.Trainer(st).fit(X, y, epochs=4, batch_size=3, verbose=0)
    for m, model in enumerate(alone):
        fr.Trainer(model).fit(X, y, epochs=4, batch_size=3, verbose=0)
        for name, p in model.state_dict().items():
            assert np.array_equal(p, st.parameters()[name][m]), name


def test_save_and_load_a_hybrid_and_a_stack(tmp_path):
    X, _ = _problem(8)
    m = _hybrid("gru", ar_frozen=True)
    m.save(tmp_path / "m.npz")
    back = fr.load(tmp_path / "m.npz")
    assert back.config() == m.config() and back.ar_lags == L and back.ar_frozen
    np.testing.assert_array_equal(back.predict(X), m.predict(X))
    st = fr.stack([_hybrid("gru", seed=s) for s in (0, 1)])
    st.save(tmp_path / "s.npz")
    back = fr.load(tmp_path / "s.npz")
    assert back.config() == st.config() and back.ar_lags == L
    np.testing.assert_array_equal(back.predict(X), st.predict(X))
    plain = fr.GRU(I, H, seed=0)
    assert "ar_lags" not in plain.config()  # a plain model's config, and file, are as before


def _edit_file(src, dst, config=None, drop=None):
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if drop and info.filename == drop + ".npy":
                continue
            data = zin.read(info)
            if config is not None and info.filename == "__config__.npy":
                import io

                buf = io.BytesIO()
                np.save(buf, np.array(json.dumps(config)))
                data = buf.getvalue()
            zout.writestr(info, data)


@pytest.mark.parametrize("edit, words", [
    (dict(config={"ar_lags": "4"}), "'ar_lags' must be an integer"),
    (dict(config={"ar_lags": None}), "'ar_lags' must be an integer"),
    (dict(config={"ar_frozen": 1}), "'ar_frozen' must be true or false"),
    (dict(config={"ar_lags": 5}), "head.ar_weight should have shape (2, 5)"),
    (dict(drop="head.ar_weight"), "implies 7 weight arrays"),
    (dict(config={"ar_frozen": None, "del": "ar_frozen"}), "but not ar_frozen"),
])
def test_damaged_hybrid_files_raise_model_file_error(tmp_path, edit, words):
    m = _hybrid("lstm")
    m.save(tmp_path / "m.npz")
    config = None
    if "config" in edit:
        config = m.config()
        change = dict(edit["config"])
        gone = change.pop("del", None)
        config.update(change)
        if gone:
            del config[gone]
    _edit_file(tmp_path / "m.npz", tmp_path / "bad.npz", config=config, drop=edit.get("drop"))
    with pytest.raises(ModelFileError, match=words.replace("(", r"\(").replace(")", r"\)")):
        fr.load(tmp_path / "bad.npz")


# --------------------------------------------------------------------------------------------------
# the forecasting application and the CLI


def test_hybrid_config_checks():
    cfg = fc.make_config("airline", model="hybrid-gru")
    assert cfg.hybrid == "joint" and cfg.cell == "gru"
    with pytest.raises(ValueError, match="applies to hybrid models only, not to model 'lstm'; use model 'hybrid-lstm'"):
        fc.make_config("airline", hybrid="residual")
    with pytest.raises(ValueError, match="hybrid must be one of joint, residual"):
        fc.make_config("airline", model="hybrid-rnn", hybrid="both")


def test_residual_variant_trains_the_network_on_the_frozen_ar():
    cfg = fc.make_config("airline", model="hybrid-lstm", hybrid="residual", ensemble=2, epochs=2, hidden=4)
    data = fc.load_series(cfg)
    prep = fc.prepare_series(data, cfg)
    start = fc.build_model(cfg, prep=prep).state_dict()
    result = fc.train(cfg, data=data, prep=prep)
    assert result.metrics["hybrid"] == "residual" and result.metrics["model"] == "hybrid-lstm"
    for member in result.model.members:
        assert np.array_equal(member.state_dict()["head.ar_weight"], start["head.ar_weight"])
        assert member.state_dict()["head.weight"].any()
    joint = fc.train(dataclasses.replace(cfg, hybrid="joint"), data=data, prep=prep)
    assert not np.array_equal(joint.model.members[0].state_dict()["head.ar_weight"], start["head.ar_weight"])


def test_a_resumed_hybrid_run_loads_its_members_with_their_frozen_path(tmp_path):
    cfg = fc.make_config("airline", model="hybrid-gru", hybrid="residual", ensemble=2, epochs=2, hidden=4)
    first = fc.train(cfg, checkpoint=tmp_path)
    again = fc.train(cfg, checkpoint=tmp_path)
    assert again.resumed == 2 and again.metrics["test"] == first.metrics["test"]
    for name, p in first.model.parameters().items():
        assert np.array_equal(p, again.model.parameters()[name]), name


def test_cli_trains_saves_and_predicts_a_hybrid(tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    res = runner.invoke(main, ["train", "--model", "hybrid-gru", "--hybrid", "residual", "--epochs", "2",
                               "--hidden", "4", "--ensemble", "2", "--no-plot", "--out", str(out)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert "): hybrid GRU (residual) hidden 4, look-back 13" in lines[0]
    assert any(line.lstrip().startswith("hybrid GRU (residual; this model, ensemble of 2)") for line in lines)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["hybrid"] == "residual"
    st = fr.load(out / "model.npz")
    assert st.ar_lags == 13 and st.ar_frozen
    res = runner.invoke(main, ["predict", "--model", str(out), "--steps", "2"])
    assert res.exit_code == 0, res.output
    assert "hybrid GRU look-back 13" in res.output


def test_cli_hybrid_option_without_a_hybrid_model_is_one_error_line(tmp_path):
    res = CliRunner().invoke(main, ["train", "--hybrid", "joint", "--epochs", "1", "--out", str(tmp_path / "r")])
    assert res.exit_code != 0 and "Traceback" not in res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "--model hybrid-lstm" in errors[0], res.output
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


# --------------------------------------------------------------------------------------------------
# panels


def test_local_panel_hybrid_starts_as_each_series_least_squares_ar():
    """Trained with a learning rate of 1e-12 (one epoch), a local hybrid forecasts as the recursive
    least-squares AR of each series' training windows (targets before the last H points)."""
    from fastrnn.forecast import panel_model as pm

    rng = np.random.default_rng(9)
    hist = [np.cumsum(rng.standard_normal(n)) + 50 for n in (40, 55, 70)]
    Lb, Hz = 5, 3
    cfg = pm.PanelConfig(model="hybrid-gru", hidden=4, look_back=Lb, epochs=1, lr=1e-12, strategy="local",
                         multi="recursive", dtype="float64")
    got = pm.fit(hist, Hz, cfg).forecast()
    for k, h in enumerate(hist):
        want = baselines.linear_ar(np.append(h, 0.0), [len(h)], Lb, Hz, None, fit_end=len(h) - Hz)[0]
        np.testing.assert_allclose(got[k], want, rtol=1e-8)


@pytest.mark.parametrize("strategy", ["global", "local"])
def test_panel_hybrids_train_and_save(tmp_path, strategy):
    from fastrnn.forecast import panel_model as pm

    rng = np.random.default_rng(10)
    hist = [np.cumsum(rng.standard_normal(30)) + 20 for _ in range(3)]
    f = pm.fit(hist, 2, pm.PanelConfig(model="hybrid-lstm", hidden=3, look_back=4, epochs=2, strategy=strategy))
    assert f.model.ar_lags == 4 and f.forecast().shape == (3, 2)
    f.model.save(tmp_path / "m.npz")
    assert fr.load(tmp_path / "m.npz").ar_lags == 4
    with pytest.raises(ValueError, match="model must be one of"):
        pm.PanelConfig(model="hybrid-xyz")


def test_readme_hybrid_example_runs_as_written():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = text.split("**Hybrid models.**", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    assert len(code.strip().splitlines()) <= 6
    ns = {}
    exec(compile(code, "README.md (hybrid models)", "exec"), ns)
    model, X, y = ns["model"], ns["X"], ns["y"]
    assert model.ar_lags == 12 and model.parameters()["head.weight"].any()  # trained past the start
    assert float(np.sqrt(np.mean((model.predict(X[400:])[:, 0] - y[400:]) ** 2))) < 1e-2


# --------------------------------------------------------------------------------------------------
# combinations


def test_inverse_mse_weights_by_hand():
    from fastrnn.forecast.combine import combine, inverse_mse_weights

    y = np.array([1.0, 2.0, 3.0, 4.0])
    preds = {"a": y + 1.0, "b": y - 2.0, "c": y + np.array([1.0, -1.0, 1.0, -1.0])}  # MSE 1, 4, 1
    w = inverse_mse_weights(preds, y)
    assert w == pytest.approx({"a": 4 / 9, "b": 1 / 9, "c": 4 / 9})
    np.testing.assert_allclose(combine(preds, w), y + (4 / 9 - 2 / 9) + 4 / 9 * np.array([1, -1, 1, -1]))
    assert inverse_mse_weights({"a": y, "b": y + 1}, y) == {"a": 1.0, "b": 0.0}  # a perfect member


@pytest.mark.parametrize("call, words", [
    (lambda f: f.inverse_mse_weights({}, [1.0]), "non-empty mapping"),
    (lambda f: f.inverse_mse_weights({"a": [1.0, 2.0], "b": [1.0]}, [1.0, 2.0]), "same points"),
    (lambda f: f.inverse_mse_weights({"a": [1.0, np.nan]}, [1.0, 2.0]), "a are not all finite"),
    (lambda f: f.inverse_mse_weights({"a": [1.0, 2.0]}, [1.0]), "y_val must be finite targets"),
    (lambda f: f.combine({"a": [1.0]}, {"b": 1.0}), "exactly the members"),
    (lambda f: f.combine({"a": [1.0]}, {"a": -1.0}), "non-negative"),
])
def test_combination_errors(call, words):
    from fastrnn.forecast import combine

    with pytest.raises(ValueError, match=words):
        call(combine)


def test_cli_trains_and_predicts_a_hybrid_panel(tmp_path):
    import pandas as pd

    rng = np.random.default_rng(11)
    rows = [(f"s{k}", d, 10 + k + np.sin(i / 2) + rng.normal(0, 0.1))
            for k in range(3) for i, d in enumerate(pd.date_range("2000-01-01", periods=36, freq="QS"))]
    csv = tmp_path / "panel.csv"
    pd.DataFrame(rows, columns=["store", "date", "units"]).to_csv(csv, index=False)
    runner, out = CliRunner(), tmp_path / "run"
    r = runner.invoke(main, ["train", "--csv", str(csv), "--id-column", "store", "--horizon", "2", "--model",
                             "hybrid-gru", "--epochs", "2", "--hidden", "3", "--look-back", "4", "--no-plot",
                             "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert fr.load(out / "model.npz").ar_lags == 4
    p = runner.invoke(main, ["predict", "--model", str(out), "--csv", str(csv), "--id-column", "store"])
    assert p.exit_code == 0, p.output
    r = runner.invoke(main, ["train", "--csv", str(csv), "--id-column", "store", "--horizon", "2", "--model",
                             "hybrid-gru", "--hybrid", "residual", "--out", str(tmp_path / "r2")])
    assert r.exit_code != 0 and "--hybrid does not apply to a panel run" in r.output
