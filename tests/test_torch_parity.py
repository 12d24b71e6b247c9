"""Cross-check of ``fastrnn.functional`` against PyTorch's ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``.

The same random weights are loaded into a one-layer, time-major torch module; both sides compute
``L = sum(out * R1) + sum(h_T * R2) (+ sum(c_T * R3))`` and its gradients (PyTorch by autograd,
fastrnn by ``backward(cell, cache, d_out=R1, d_state=(R2, R3))``). Outputs, final states and the
gradients of all four parameters, ``x`` and the initial state must agree to 1e-9 (float64) or
1e-4 (float32), relative as in :func:`_helpers.rel_error` (``max|a - b| / max|b|``, norm-wise).

``pytest -s`` prints the worst relative error seen per dtype and quantity.
"""

import numpy as np
import pytest

from fastrnn import functional as F

torch = pytest.importorskip("torch")

try:
    import _helpers as H
except ImportError:  # tests/ imported as a package
    from tests import _helpers as H

TOL = {np.float64: 1e-9, np.float32: 1e-4}
WORST = H.WorstErrors("fastrnn vs PyTorch: worst relative errors (test_torch_parity.py)")


@pytest.fixture(scope="module", autouse=True)
def _print_worst_errors():
    yield
    if WORST:
        print(WORST.report())


# (T, B, I, H, initial state given?, loss on the whole output sequence?)
CASES = [
    (1, 1, 1, 1, True, True),
    (1, 1, 1, 1, False, False),
    (4, 3, 5, 7, True, True),
    (6, 2, 3, 64, True, True),
    (8, 4, 16, 64, True, False),
    (5, 1, 2, 33, False, True),
]


def _case_id(c):
    return "TBIH=" + "x".join(map(str, c[:4])) + ("-s0" if c[4] else "-zero_s0") + ("-m2m" if c[5] else "-m2o")


@pytest.mark.parametrize("backend", H.BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", CASES, ids=_case_id)
@pytest.mark.parametrize("cell", H.CELLS)
def test_matches_pytorch(cell, case, dtype, backend):
    T, B, I, Hs, with_state0, many_to_many = case
    rng = H.rng_for("torch", cell, case, np.dtype(dtype).name)
    params = H.random_params(cell, I, Hs, rng, dtype)
    x = H.random_x(T, B, I, rng, dtype)
    state0 = H.random_state(cell, B, Hs, rng, dtype) if with_state0 else None
    r_out = rng.standard_normal((T, B, Hs)).astype(dtype) if many_to_many else None
    r_state = H.random_state(cell, B, Hs, rng, dtype, scale=1.0)

    ref = H.torch_reference(cell, x, params, state0, r_out, r_state)

    out, state, cache = F.forward(cell, x, params, state0, backend=backend)
    grads = F.backward(cell, cache, r_out, r_state)

    got = {"out": out}
    want = {"out": ref["out"]}
    for n, a, b in zip(H.state_names(cell), H.state_arrays(cell, state), H.state_arrays(cell, ref["state"])):
        got[f"state.{n}"], want[f"state.{n}"] = a, b
    for k in list(H.PARAM_NAMES) + ["x"]:
        got[f"grad.{k}"], want[f"grad.{k}"] = grads[k], ref["grads"][k]
    for n, a, b in zip(
        H.state_names(cell), H.state_arrays(cell, grads["state0"]), H.state_arrays(cell, ref["grads"]["state0"])
    ):
        got[f"grad.{n}0"], want[f"grad.{n}0"] = a, b

    tol = TOL[dtype]
    errors = {}
    for k in want:
        assert got[k].shape == want[k].shape, (k, got[k].shape, want[k].shape)
        assert got[k].dtype == np.dtype(dtype), (k, got[k].dtype)
        errors[k] = H.rel_error(got[k], want[k])
        WORST.record(f"{np.dtype(dtype).name} {k.split('.')[0]}", errors[k], f"{cell}/{backend} {_case_id(case)} {k}")
        WORST.record(f"{np.dtype(dtype).name} ALL", errors[k], f"{cell}/{backend} {_case_id(case)} {k}")
    bad = {k: f"{e:.2e}" for k, e in errors.items() if e > tol}
    assert not bad, f"{cell}/{backend} {_case_id(case)}: relative error above {tol:g}: {bad}"


@pytest.mark.parametrize("cell", H.CELLS)
def test_torch_reference_sanity(cell):
    """The oracle itself: loading weights is lossless and the zero-weight case is trivially known.

    With all weights and biases zero and zero initial state, every pre-activation is 0, so
    rnn: h = act(0) = 0; lstm: i = f = o = 1/2, g = 0, so c = 0 and h = 0;
    gru: r = z = 1/2, n = 0, h' = h/2 = 0. Hence out = 0 everywhere.
    """
    T, B, I, Hs = 3, 2, 4, 5
    rng = H.rng_for("sanity", cell)
    params = H.random_params(cell, I, Hs, rng)
    mod, names = H.torch_module(cell, I, Hs, params, np.float64)
    for k, tname in names.items():
        np.testing.assert_array_equal(getattr(mod, tname).detach().numpy(), params[k])
    zero = {k: np.zeros_like(v) for k, v in params.items()}
    x = H.random_x(T, B, I, rng)
    ref = H.torch_reference(cell, x, zero, None, None, H.random_state(cell, B, Hs, rng))
    np.testing.assert_array_equal(ref["out"], 0.0)
    out, _, _ = F.forward(cell, x, zero, None, backend="numpy")
    np.testing.assert_array_equal(out, 0.0)
