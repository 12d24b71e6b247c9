"""Tests of ``fastrnn.functional.forward`` / ``backward``.

* Gradients against central finite differences (float64, both backends, every cell, every argument).
* Numba backend against the NumPy backend (float32 and float64, odd shapes, non-contiguous ``x``).
* Output shapes and dtypes, ``None`` defaults, inputs left untouched.
* Bad inputs raise ``ValueError`` naming the offending argument.

Errors are measured with :func:`_helpers.rel_error`: ``max|a - b| / max(max|b|, tiny)`` over all
entries (norm-wise, so that tiny entries cannot make the error blow up through cancellation).
Run with ``pytest -s`` to see the worst errors found.
"""

import math
import re

import numpy as np
import pytest

try:
    import _helpers as H
except ImportError:  # tests/ imported as a package
    from tests import _helpers as H

from fastrnn import functional as F

CELLS = H.CELLS
BACKENDS = H.BACKENDS
WORST = H.WorstErrors("fastrnn.functional: worst relative errors (test_functional.py)")


@pytest.fixture(scope="module", autouse=True)
def _print_worst_errors():
    yield
    if WORST:
        print(WORST.report())


# --------------------------------------------------------------------------------------------------
# Finite differences
# --------------------------------------------------------------------------------------------------

FD_EPS = 1e-6  # central differences in float64: truncation ~eps^2, round-off ~1e-16/eps
FD_TOL = 1e-6
FD_SAMPLES = 10  # entries per array checked one by one on the larger shapes

# (T, B, I, H): includes T = B = I = H = 1 and H up to 64, T <= 8.
FD_SHAPES = [(1, 1, 1, 1), (3, 2, 5, 7), (2, 5, 1, 3), (7, 1, 3, 33), (8, 4, 16, 64)]
# Shapes small enough to check every entry of every array.
FD_FULL_SHAPES = [(1, 1, 1, 1), (2, 3, 1, 2), (3, 2, 3, 4)]
MODES = ["many_to_one", "many_to_many"]


def _arg_names(cell):
    """Names of the differentiated arguments: the four parameters, x, and the initial state."""
    return list(H.PARAM_NAMES) + ["x"] + ["h0", "c0"][: len(H.state_names(cell))]


def _elman_relu_pre_activations(x, params, h0):
    """Independent little ReLU-RNN forward; returns every pre-activation ``(T, B, H)``."""
    h, pres = h0, []
    for t in range(x.shape[0]):
        pre = x[t] @ params["w_ih"].T + params["b_ih"] + h @ params["w_hh"].T + params["b_hh"]
        pres.append(pre)
        h = np.maximum(pre, 0.0)
    return np.stack(pres)


class FDProblem:
    """A random float64 problem and its scalar loss ``L = sum(out R1) + sum(h_T R2) (+ sum(c_T R3))``."""

    def __init__(self, cell, backend, shape, mode):
        self.cell, self.backend = cell, backend
        T, B, I, Hs = shape
        for attempt in range(50):
            rng = H.rng_for("fd", cell, shape, mode, attempt)
            params = H.random_params(cell, I, Hs, rng)
            x = H.random_x(T, B, I, rng)
            state0 = H.random_state(cell, B, Hs, rng)
            if cell != "rnn_relu":
                break
            # Keep the FD steps away from the ReLU kink, and keep the final state alive so that the
            # many-to-one gradients are not identically zero.
            pre = _elman_relu_pre_activations(x, params, state0)
            if np.min(np.abs(pre)) > 1e-4 and np.any(pre[-1] > 0):
                break
        else:  # pragma: no cover - would mean the generator above is broken
            raise AssertionError("could not draw a ReLU problem away from the kink")
        self.rng = rng
        self.args = dict(params, x=x)
        self.args.update(zip(["h0", "c0"], H.state_arrays(cell, state0)))
        self.r_out = rng.standard_normal((T, B, Hs)) if mode == "many_to_many" else None
        self.r_state = H.random_state(cell, B, Hs, rng, scale=1.0)

    def call(self, args):
        params = {k: args[k] for k in H.PARAM_NAMES}
        state0 = H.make_state(self.cell, [args[k] for k in ["h0", "c0"][: len(H.state_names(self.cell))]])
        return F.forward(self.cell, args["x"], params, state0, backend=self.backend)

    def loss(self, name=None, delta=None):
        """The loss with ``delta`` added to argument ``name`` (copies; the problem is unchanged)."""
        args = dict(self.args)
        if name is not None:
            args[name] = args[name] + delta
        out, state, _ = self.call(args)
        return H.scalar_loss(self.cell, out, state, self.r_out, self.r_state)

    def analytic_grads(self):
        """Gradients from ``F.backward``, keyed like :attr:`args`."""
        _, _, cache = self.call(self.args)
        grads = F.backward(self.cell, cache, self.r_out, self.r_state)
        named = {k: grads[k] for k in list(H.PARAM_NAMES) + ["x"]}
        named.update(zip(["h0", "c0"], H.state_arrays(self.cell, grads["state0"])))
        for k, g in named.items():
            assert g.shape == self.args[k].shape, (k, g.shape, self.args[k].shape)
        return named

    def fd_directional(self, name, v):
        return (self.loss(name, FD_EPS * v) - self.loss(name, -FD_EPS * v)) / (2 * FD_EPS)

    def fd_entry(self, name, flat_index):
        e = np.zeros(self.args[name].shape)
        e.flat[flat_index] = 1.0
        return self.fd_directional(name, e)


def _check_fd(cell, backend, shape, mode, full):
    prob = FDProblem(cell, backend, shape, mode)
    grads = prob.analytic_grads()
    failures = []
    where = f"{cell}/{backend} {shape} {mode}"
    for name in _arg_names(cell):
        g = grads[name]
        # (a) directional derivative along a random direction: every entry at once.
        v = prob.rng.standard_normal(g.shape)
        fd = prob.fd_directional(name, v)
        assert fd != 0.0, f"{where} {name}: zero directional derivative, the check would be vacuous"
        analytic = math.fsum((g * v).ravel())
        err = WORST.record("fd directional", H.rel_error(analytic, fd), f"{where} {name}")
        if err > FD_TOL:
            failures.append(f"{name} directional: analytic {analytic!r} vs FD {fd!r} (rel {err:.2e})")
        # (b) entry by entry: all of them, or a random subset.
        if full:
            idx = np.arange(g.size)
        else:
            idx = prob.rng.choice(g.size, size=min(FD_SAMPLES, g.size), replace=False)
        fd_vec = np.array([prob.fd_entry(name, i) for i in idx])
        err = WORST.record(
            "fd elementwise (full)" if full else "fd elementwise (sampled)",
            H.rel_error(g.ravel()[idx], fd_vec),
            f"{where} {name}",
        )
        if err > FD_TOL:
            failures.append(f"{name} elementwise: rel {err:.2e} at flat indices {idx.tolist()}")
    assert not failures, f"{where}:\n" + "\n".join(failures)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", FD_SHAPES, ids=lambda s: "TBIH=" + "x".join(map(str, s)))
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
def test_gradients_match_finite_differences(cell, backend, shape, mode):
    _check_fd(cell, backend, shape, mode, full=False)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", FD_FULL_SHAPES, ids=lambda s: "TBIH=" + "x".join(map(str, s)))
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
def test_gradients_match_finite_differences_every_entry(cell, backend, shape, mode):
    _check_fd(cell, backend, shape, mode, full=True)


# --------------------------------------------------------------------------------------------------
# Numba against NumPy
# --------------------------------------------------------------------------------------------------

BACKEND_TOL = {np.float64: 1e-12, np.float32: 1e-5}

# (T, B, I, H, x layout, with state0)
BACKEND_CASES = [
    (1, 1, 1, 1, "contiguous", True),
    (1, 4, 3, 5, "strided", True),
    (6, 1, 4, 8, "fortran", True),
    (5, 3, 7, 16, "transposed", False),
    (4, 2, 5, 64, "strided", True),
    (8, 5, 3, 33, "transposed", True),
]


def _run(cell, x, params, state0, d_out, d_state, backend):
    out, state, cache = F.forward(cell, x, params, state0, backend=backend)
    grads = F.backward(cell, cache, d_out, d_state)
    return out, state, grads


def _flatten_results(cell, out, state, grads):
    """``{name: array}`` for every output and gradient of one forward/backward."""
    flat = {"out": out}
    flat.update({f"state.{n}": a for n, a in zip(H.state_names(cell), H.state_arrays(cell, state))})
    for k in list(H.PARAM_NAMES) + ["x"]:
        flat[f"grad.{k}"] = grads[k]
    flat.update({f"grad.{n}0": a for n, a in zip(H.state_names(cell), H.state_arrays(cell, grads["state0"]))})
    if "h" in grads:  # optional extra: total gradient reaching each h_t
        flat["grad.h"] = grads["h"]
    return flat


@pytest.mark.parametrize("grad_mode", ["many_to_many", "many_to_one"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", BACKEND_CASES, ids=lambda c: "TBIH=" + "x".join(map(str, c[:4])) + f"-{c[4]}" + ("-s0" if c[5] else ""))
@pytest.mark.parametrize("cell", CELLS)
def test_numba_matches_numpy(cell, case, dtype, grad_mode):
    T, B, I, Hs, layout, with_state0 = case
    rng = H.rng_for("backends", cell, case, np.dtype(dtype).name, grad_mode)
    params = H.random_params(cell, I, Hs, rng, dtype)
    x = H.non_contiguous(H.random_x(T, B, I, rng, dtype), layout, rng)
    if layout != "contiguous":
        assert not x.flags.c_contiguous
    state0 = H.random_state(cell, B, Hs, rng, dtype) if with_state0 else None
    d_out = rng.standard_normal((T, B, Hs)).astype(dtype) if grad_mode == "many_to_many" else None
    d_state = H.random_state(cell, B, Hs, rng, dtype, scale=1.0)

    ref = _flatten_results(cell, *_run(cell, x, params, state0, d_out, d_state, "numpy"))
    got = _flatten_results(cell, *_run(cell, x, params, state0, d_out, d_state, "numba"))
    tol = BACKEND_TOL[dtype]
    errors = {}
    for k in ref:
        assert got[k].dtype == ref[k].dtype == np.dtype(dtype), (k, got[k].dtype, ref[k].dtype)
        assert got[k].shape == ref[k].shape, (k, got[k].shape, ref[k].shape)
        errors[k] = H.rel_error(got[k], ref[k])
        WORST.record(f"numba vs numpy {np.dtype(dtype).name}", errors[k], f"{cell} {case} {grad_mode} {k}")
    bad = {k: e for k, e in errors.items() if e > tol}
    assert not bad, f"numba vs numpy above {tol:g}: {bad}"


# --------------------------------------------------------------------------------------------------
# Shapes, dtypes, defaults, no side effects
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
def test_output_shapes_and_dtypes(cell, backend, dtype):
    T, B, I, Hs = 4, 3, 2, 5
    rng = H.rng_for("dtypes", cell, backend, np.dtype(dtype).name)
    params = H.random_params(cell, I, Hs, rng, dtype)
    x = H.random_x(T, B, I, rng, dtype)
    state0 = H.random_state(cell, B, Hs, rng, dtype)
    out, state, cache = F.forward(cell, x, params, state0, backend=backend)
    assert out.shape == (T, B, Hs) and out.dtype == dtype
    if len(H.state_names(cell)) > 1:
        assert isinstance(state, tuple) and len(state) == len(H.state_names(cell))
    for s in H.state_arrays(cell, state):
        assert s.shape == (B, Hs) and s.dtype == dtype
    # `out` is the hidden state of every step, so its last step is the final hidden state.
    np.testing.assert_array_equal(out[-1], H.state_arrays(cell, state)[0])

    d_state = H.random_state(cell, B, Hs, rng, dtype, scale=1.0)
    grads = F.backward(cell, cache, rng.standard_normal((T, B, Hs)).astype(dtype), d_state)
    assert set(grads) >= {"w_ih", "w_hh", "b_ih", "b_hh", "x", "state0"}
    assert set(grads) <= {"w_ih", "w_hh", "b_ih", "b_hh", "x", "state0", "h"}
    if "h" in grads:
        assert grads["h"].shape == (T, B, Hs) and grads["h"].dtype == dtype
    for k in H.PARAM_NAMES:
        assert grads[k].shape == params[k].shape and grads[k].dtype == dtype, k
    assert grads["x"].shape == (T, B, I) and grads["x"].dtype == dtype
    if len(H.state_names(cell)) > 1:
        assert isinstance(grads["state0"], tuple) and len(grads["state0"]) == len(H.state_names(cell))
    else:
        assert isinstance(grads["state0"], np.ndarray)
    for g in H.state_arrays(cell, grads["state0"]):
        assert g.shape == (B, Hs) and g.dtype == dtype
    for g in [grads[k] for k in list(H.PARAM_NAMES) + ["x"]] + list(H.state_arrays(cell, grads["state0"])):
        assert np.all(np.isfinite(g))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
def test_none_means_zeros(cell, backend):
    """state0=None, d_out=None and d_state=None behave exactly like zeros."""
    T, B, I, Hs = 3, 2, 4, 6
    rng = H.rng_for("none", cell, backend)
    params = H.random_params(cell, I, Hs, rng)
    x = H.random_x(T, B, I, rng)
    zeros_state = H.make_state(cell, [np.zeros((B, Hs)) for _ in H.state_names(cell)])
    d_out = rng.standard_normal((T, B, Hs))
    d_state = H.random_state(cell, B, Hs, rng, scale=1.0)

    def compare(a, b, what):
        fa, fb = _flatten_results(cell, *a), _flatten_results(cell, *b)
        for k in fb:
            assert H.rel_error(fa[k], fb[k]) <= 1e-14, f"{what}: {k}"

    base = _run(cell, x, params, zeros_state, d_out, d_state, backend)
    compare(_run(cell, x, params, None, d_out, d_state, backend), base, "state0=None")
    compare(
        _run(cell, x, params, zeros_state, None, d_state, backend),
        _run(cell, x, params, zeros_state, np.zeros((T, B, Hs)), d_state, backend),
        "d_out=None",
    )
    compare(
        _run(cell, x, params, zeros_state, d_out, None, backend),
        _run(cell, x, params, zeros_state, d_out, zeros_state, backend),
        "d_state=None",
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
def test_hidden_state_gradient_per_step(cell, backend):
    """``grads["h"][t]`` is the total dL/dh_t: ``d_out[t]`` plus what flows back from later steps.

    Checked independently of how it is computed: the loss terms after step t only depend on the
    state at t, so dL/dh_t = d_out[t] + (the state0 gradient of the same layer run on x[t+1:] from
    that state), and at the last step dL/dh_{T-1} = d_out[T-1] + d_state.
    """
    T, B, I, Hs = 5, 3, 4, 6
    rng = H.rng_for("dhs", cell, backend)
    params = H.random_params(cell, I, Hs, rng)
    x = H.random_x(T, B, I, rng)
    state0 = H.random_state(cell, B, Hs, rng)
    d_out = rng.standard_normal((T, B, Hs))
    d_state = H.random_state(cell, B, Hs, rng, scale=1.0)
    _, _, cache = F.forward(cell, x, params, state0, backend=backend)
    dhs = F.backward(cell, cache, d_out, d_state)["h"]
    assert dhs.shape == (T, B, Hs)

    expected = np.empty_like(dhs)
    expected[T - 1] = d_out[T - 1] + H.state_arrays(cell, d_state)[0]
    for t in range(T - 1):
        _, state_t, _ = F.forward(cell, x[: t + 1], params, state0, backend=backend)
        _, _, suffix = F.forward(cell, x[t + 1 :], params, state_t, backend=backend)
        g = F.backward(cell, suffix, d_out[t + 1 :], d_state)
        expected[t] = d_out[t] + H.state_arrays(cell, g["state0"])[0]
    err = WORST.record("grads['h'] vs suffix runs", H.rel_error(dhs, expected), f"{cell}/{backend}")
    assert err <= 1e-12


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
def test_inputs_not_modified(cell, backend, dtype):
    T, B, I, Hs = 5, 3, 4, 7
    rng = H.rng_for("inputs", cell, backend, np.dtype(dtype).name)
    params = H.random_params(cell, I, Hs, rng, dtype)
    x = H.non_contiguous(H.random_x(T, B, I, rng, dtype), "strided", rng)
    state0 = H.random_state(cell, B, Hs, rng, dtype)
    d_out = rng.standard_normal((T, B, Hs)).astype(dtype)
    d_state = H.random_state(cell, B, Hs, rng, dtype, scale=1.0)
    before = H.copy_tree({"x": x, "params": params, "state0": state0, "d_out": d_out, "d_state": d_state})

    out, state, cache = F.forward(cell, x, params, state0, backend=backend)
    H.assert_tree_equal({"x": x, "params": params, "state0": state0}, {k: before[k] for k in ("x", "params", "state0")})
    F.backward(cell, cache, d_out, d_state)
    H.assert_tree_equal({"x": x, "params": params, "state0": state0, "d_out": d_out, "d_state": d_state}, before)


# --------------------------------------------------------------------------------------------------
# Bad inputs
# --------------------------------------------------------------------------------------------------

T0, B0, I0, H0 = 3, 2, 4, 5


def _shape_pattern(shape):
    """Regex for a shape printed as a tuple, tolerant of spacing: (20, 4), (20,4), (20,)."""
    return r"\(\s*" + r"\s*,\s*".join(str(n) for n in shape) + (r"\s*,?\s*\)" if len(shape) == 1 else r"\s*\)")


def _word(name):
    return r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])"


def _base_problem(cell, dtype=np.float64):
    rng = H.rng_for("bad", cell)
    return {
        "x": H.random_x(T0, B0, I0, rng, dtype),
        "params": H.random_params(cell, I0, H0, rng, dtype),
        "state0": H.random_state(cell, B0, H0, rng, dtype),
    }


def _with_param(p, name, value):
    p["params"] = dict(p["params"], **{name: value})


def _poison(a, value, index=0):
    a = a.copy()
    a.flat[index] = value
    return a


def _set_state0_part(p, cell, part, value):
    arrays = list(H.state_arrays(cell, p["state0"]))
    arrays[part] = value
    p["state0"] = H.make_state(cell, arrays)


G = H.N_GATES
WITH_C = [c for c in CELLS if len(H.state_names(c)) == 2]  # state (h, c): the LSTM
H_ONLY = [c for c in CELLS if len(H.state_names(c)) == 1]
# (id, mutation(problem, cell), argument named in the message, expected shape or None, cells)
FORWARD_BAD_CASES = [
    ("x-2d", lambda p, c: p.update(x=p["x"][0]), "x", None, CELLS),
    ("x-4d", lambda p, c: p.update(x=p["x"][None]), "x", None, CELLS),
    ("x-int", lambda p, c: p.update(x=np.ones((T0, B0, I0), dtype=np.int64)), "x", None, CELLS),
    ("x-float16", lambda p, c: p.update(x=p["x"].astype(np.float16)), "x", None, CELLS),
    ("x-complex", lambda p, c: p.update(x=p["x"].astype(np.complex128)), "x", None, CELLS),
    ("x-nan", lambda p, c: p.update(x=_poison(p["x"], np.nan, 7)), "x", None, CELLS),
    ("x-inf", lambda p, c: p.update(x=_poison(p["x"], -np.inf, -1)), "x", None, CELLS),
    ("x-T0", lambda p, c: p.update(x=p["x"][:0]), "x", None, CELLS),
    ("x-B0", lambda p, c: p.update(x=p["x"][:, :0]), "x", None, CELLS),
    ("w_ih-rows", lambda p, c: _with_param(p, "w_ih", np.zeros((G[c] * H0 + 1, I0))), "w_ih", lambda c: (G[c] * H0, I0), CELLS),
    ("w_ih-cols", lambda p, c: _with_param(p, "w_ih", np.zeros((G[c] * H0, I0 + 1))), "w_ih", lambda c: (G[c] * H0, I0), CELLS),
    ("w_ih-1d", lambda p, c: _with_param(p, "w_ih", np.zeros(G[c] * H0 * I0)), "w_ih", lambda c: (G[c] * H0, I0), CELLS),
    ("w_hh-rows", lambda p, c: _with_param(p, "w_hh", np.zeros((G[c] * H0 + 1, H0))), "w_hh", None, CELLS),
    ("w_hh-3d", lambda p, c: _with_param(p, "w_hh", np.zeros((G[c] * H0, H0, 1))), "w_hh", None, CELLS),
    ("b_ih-length", lambda p, c: _with_param(p, "b_ih", np.zeros(G[c] * H0 + 1)), "b_ih", lambda c: (G[c] * H0,), CELLS),
    ("b_hh-2d", lambda p, c: _with_param(p, "b_hh", np.zeros((1, G[c] * H0))), "b_hh", lambda c: (G[c] * H0,), CELLS),
    ("missing-w_hh", lambda p, c: p["params"].pop("w_hh"), "w_hh", None, CELLS),
    ("missing-b_ih", lambda p, c: p["params"].pop("b_ih"), "b_ih", None, CELLS),
    ("params-not-dict", lambda p, c: p.update(params=list(p["params"].values())), "params", None, CELLS),
    ("w_hh-float32", lambda p, c: _with_param(p, "w_hh", p["params"]["w_hh"].astype(np.float32)), "w_hh", None, CELLS),
    ("b_hh-int", lambda p, c: _with_param(p, "b_hh", np.zeros(G[c] * H0, dtype=np.int64)), "b_hh", None, CELLS),
    ("w_ih-nan", lambda p, c: _with_param(p, "w_ih", _poison(p["params"]["w_ih"], np.nan, 3)), "w_ih", None, CELLS),
    ("w_hh-inf", lambda p, c: _with_param(p, "w_hh", _poison(p["params"]["w_hh"], np.inf, 5)), "w_hh", None, CELLS),
    ("b_hh-inf", lambda p, c: _with_param(p, "b_hh", _poison(p["params"]["b_hh"], -np.inf)), "b_hh", None, CELLS),
    ("state0-shape", lambda p, c: _set_state0_part(p, c, 0, np.zeros((B0 + 1, H0))), "state0", lambda c: (B0, H0), CELLS),
    ("state0-transposed", lambda p, c: _set_state0_part(p, c, 0, np.zeros((H0, B0))), "state0", lambda c: (B0, H0), CELLS),
    ("state0-inf", lambda p, c: _set_state0_part(p, c, 0, _poison(H.state_arrays(c, p["state0"])[0], np.inf)), "state0", None, CELLS),
    ("state0-float32", lambda p, c: _set_state0_part(p, c, 0, H.state_arrays(c, p["state0"])[0].astype(np.float32)), "state0", None, CELLS),
    ("c0-shape", lambda p, c: _set_state0_part(p, c, 1, np.zeros((B0, H0 + 1))), "state0", lambda c: (B0, H0), WITH_C),
    ("c0-nan", lambda p, c: _set_state0_part(p, c, 1, _poison(p["state0"][1], np.nan, 2)), "state0", None, WITH_C),
    ("state0-not-tuple", lambda p, c: p.update(state0=p["state0"][0]), "state0", None, WITH_C),
    ("state0-triple", lambda p, c: p.update(state0=tuple(p["state0"]) + (p["state0"][0],)), "state0", None, WITH_C),
    ("state0-tuple", lambda p, c: p.update(state0=(p["state0"], p["state0"])), "state0", None, H_ONLY),
    ("cell", lambda p, c: p.update(cell="lstm2"), "cell", None, CELLS),
    ("cell-capitalised", lambda p, c: p.update(cell=c.upper()), "cell", None, CELLS),
    ("backend", lambda p, c: p.update(backend="cuda"), "backend", None, CELLS),
]


def _forward_bad_params():
    for case_id, mutate, name, shape, cells in FORWARD_BAD_CASES:
        for cell in cells:
            for backend in BACKENDS:
                yield pytest.param(cell, backend, mutate, name, shape, id=f"{case_id}-{cell}-{backend}")


def _assert_message(excinfo, name, shape):
    msg = str(excinfo.value)
    assert re.search(_word(name), msg), f"message does not name {name!r}: {msg!r}"
    if shape is not None:
        assert re.search(_shape_pattern(shape), msg), f"message does not give the expected shape {shape}: {msg!r}"


@pytest.mark.parametrize("cell, backend, mutate, name, shape", list(_forward_bad_params()))
def test_forward_rejects_bad_input(cell, backend, mutate, name, shape):
    p = _base_problem(cell)
    p.update(cell=cell, backend=backend)
    mutate(p, cell)
    with pytest.raises(ValueError) as excinfo:
        F.forward(p["cell"], p["x"], p["params"], p["state0"], backend=p["backend"])
    _assert_message(excinfo, name, None if shape is None else shape(cell))


@pytest.mark.parametrize("backend", BACKENDS)
def test_check_finite_false_skips_only_the_nan_scan(backend):
    p = _base_problem("gru")
    good, _, _ = F.forward("gru", p["x"], p["params"], p["state0"], backend=backend)
    same, _, _ = F.forward("gru", p["x"], p["params"], p["state0"], backend=backend, check_finite=False)
    np.testing.assert_array_equal(same, good)
    # a NaN weight now flows through to the outputs instead of raising ...
    _with_param(p, "w_ih", _poison(p["params"]["w_ih"], np.nan, 3))
    out, _, _ = F.forward("gru", p["x"], p["params"], p["state0"], backend=backend, check_finite=False)
    assert np.isnan(out).any()
    # ... while shapes are still checked
    p["params"]["b_hh"] = np.zeros(7)
    with pytest.raises(ValueError, match="b_hh"):
        F.forward("gru", p["x"], p["params"], p["state0"], backend=backend, check_finite=False)


# (id, (d_out, d_state) maker, argument named, expected shape or None, cells)
BACKWARD_BAD_CASES = [
    ("d_out-T", lambda c, ds: (np.zeros((T0 + 1, B0, H0)), ds), "d_out", (T0, B0, H0), CELLS),
    ("d_out-H", lambda c, ds: (np.zeros((T0, B0, H0 - 1)), ds), "d_out", (T0, B0, H0), CELLS),
    ("d_out-2d", lambda c, ds: (np.zeros((T0 * B0, H0)), ds), "d_out", (T0, B0, H0), CELLS),
    ("d_state-shape", lambda c, ds: (None, H.make_state(c, [np.zeros((B0, H0 + 1))] * len(H.state_names(c)))), "d_state", (B0, H0), CELLS),
    ("d_state-c-shape", lambda c, ds: (None, (ds[0], np.zeros((B0 + 1, H0)))), "d_state", (B0, H0), WITH_C),
    ("d_state-not-tuple", lambda c, ds: (None, ds[0]), "d_state", None, WITH_C),
    ("d_state-tuple", lambda c, ds: (None, (ds, ds)), "d_state", None, H_ONLY),
]


def _backward_bad_params():
    for case_id, make, name, shape, cells in BACKWARD_BAD_CASES:
        for cell in cells:
            for backend in BACKENDS:
                yield pytest.param(cell, backend, make, name, shape, id=f"{case_id}-{cell}-{backend}")


@pytest.mark.parametrize("cell, backend, make, name, shape", list(_backward_bad_params()))
def test_backward_rejects_bad_gradients(cell, backend, make, name, shape):
    p = _base_problem(cell)
    _, _, cache = F.forward(cell, p["x"], p["params"], p["state0"], backend=backend)
    d_state = H.make_state(cell, [np.ones((B0, H0)) for _ in H.state_names(cell)])
    d_out, d_state = make(cell, d_state)
    with pytest.raises(ValueError) as excinfo:
        F.backward(cell, cache, d_out, d_state)
    _assert_message(excinfo, name, shape)


# --------------------------------------------------------------------------------------------------
# The cell registry that CELLS, GATES and both backends' dispatch come from
# --------------------------------------------------------------------------------------------------


def test_cell_registry_imports_neither_numpy_nor_numba():
    """fastrnn.cli.forecast reads the model kinds from fastrnn.cells at import: it must stay cheap."""
    import subprocess
    import sys

    code = ("import sys, fastrnn.cells as c\n"
            "assert c.KINDS and c.CELLS\n"
            "print(sorted(m for m in ('numpy', 'numba') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cell_registry_lookups():
    from fastrnn import cells

    assert F.CELLS == cells.CELLS and F.GATES == cells.GATES
    assert [cells.get(c).n_gates for c in ("rnn_tanh", "rnn_relu", "lstm", "gru")] == [1, 1, 4, 3]
    assert cells.get("lstm").gates == ("i", "f", "g", "o") and cells.get("gru").gates == ("r", "z", "n")
    assert cells.get("lstm").has_c and not any(cells.get(c).has_c for c in H_ONLY)
    assert cells.cell_for("rnn") == "rnn_tanh" and cells.cell_for("rnn", "relu") == "rnn_relu"
    assert cells.cell_for("gru", "relu") == "gru"  # one cell per kind: the nonlinearity does not pick
    for bad, call in (("'lstm2'", lambda: cells.get("lstm2")), ("'LSTM'", lambda: cells.of_kind("LSTM")),
                      ("'sigmoid'", lambda: cells.cell_for("rnn", "sigmoid"))):
        with pytest.raises(ValueError, match=f"must be one of .*; got {bad}"):
            call()
    for c in CELLS:  # every entry's functions exist and its saved layout starts with the state sequences
        spec = cells.get(c)
        for load in (spec.reference_forward, spec.reference_backward, spec.kernel_forward,
                     spec.kernel_backward, spec.kernel_forward_into, spec.kernel_backward_into):
            assert callable(load())
        assert [extra for _, extra, _ in spec.saved[:len(spec.state)]] == [1] * len(spec.state)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
def test_saved_arrays_have_the_registry_layout(cell, backend):
    """The pooled Numba path allocates what the registry says a forward saves; the NumPy reference
    must return exactly those shapes, or the two backends would not be interchangeable."""
    from fastrnn import cells

    p = _base_problem(cell)
    _, _, cache = F.forward(cell, p["x"], p["params"], p["state0"], backend=backend)
    T, B, _ = p["x"].shape
    Hs = p["params"]["w_hh"].shape[1]
    assert [a.shape for a in cache.saved] == [(T + extra, B, width * Hs) for _, extra, width in cells.get(cell).saved]
