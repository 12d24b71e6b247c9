"""Tests for fastrnn.optim.

Every optimizer is checked against a textbook NumPy formulation (no optional
dependency) and, when PyTorch is installed, against ``torch.optim`` over the
same 5-step gradient sequence in float64 to 1e-12 (params and state buffers).
"""

import zlib

import numpy as np
import pytest

from fastrnn import optim

TOL = 1e-12
STEPS = 5
SHAPES = {"w": (4, 3), "b": (5,), "u": (2, 3, 2)}

# (fastrnn class name, torch class name, kwargs) -- same kwargs for both
CASES = [
    ("SGD", "SGD", dict(lr=0.1)),
    ("SGD", "SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", "SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1)),
    ("SGD", "SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adagrad", "Adagrad", dict(lr=0.1)),
    ("Adagrad", "Adagrad", dict(lr=0.1, lr_decay=0.3, weight_decay=0.05,
                                initial_accumulator_value=0.2, eps=1e-6)),
    ("RMSprop", "RMSprop", dict(lr=0.01)),
    ("RMSprop", "RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.7, weight_decay=0.1)),
    ("RMSprop", "RMSprop", dict(lr=0.01, alpha=0.8, centered=True)),
    ("RMSprop", "RMSprop", dict(lr=0.02, alpha=0.9, eps=1e-4, centered=True, momentum=0.5,
                                weight_decay=0.02)),
    ("Adam", "Adam", dict(lr=0.1)),
    ("Adam", "Adam", dict(lr=0.05, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    ("Adam", "Adam", dict(lr=0.1, amsgrad=True)),
    ("Adam", "Adam", dict(lr=0.1, weight_decay=0.1, amsgrad=True, decoupled_weight_decay=True)),
    ("AdamW", "AdamW", dict(lr=0.1)),
    ("AdamW", "AdamW", dict(lr=0.1, weight_decay=0.3, amsgrad=True)),
]
IDS = [f"{c}-" + ",".join(f"{k}={v}" for k, v in kw.items()) for c, _, kw in CASES]


def _rng(*keys):
    return np.random.default_rng(zlib.crc32(repr(("optim",) + keys).encode()))


def _problem(key, dtype=np.float64, steps=STEPS):
    rng = _rng(key, np.dtype(dtype).name)
    params = {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}
    grads = [{k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}
             for _ in range(steps)]
    # an exactly-zero gradient entry and a tiny one
    grads[-1]["b"][0] = 0.0
    grads[0]["w"][0, 0] = 1e-30
    return params, grads


def _copy(d):
    return {k: v.copy() for k, v in d.items()}


# ----------------------------------------------------------------------------
# textbook NumPy references (written independently of the kernels)
# ----------------------------------------------------------------------------
def _reference(name, params, grads, kw):
    p = _copy(params)
    lr = kw.get("lr")
    wd = kw.get("weight_decay", 1e-2 if name == "AdamW" else 0.0)
    st = {k: {} for k in p}
    for t, gd in enumerate(grads, start=1):
        for k in p:
            g = gd[k].copy()
            s = st[k]
            if name == "SGD":
                mu, damp = kw.get("momentum", 0.0), kw.get("dampening", 0.0)
                g = g + wd * p[k]
                if mu:
                    s["b"] = g.copy() if t == 1 else mu * s["b"] + (1 - damp) * g
                    g = g + mu * s["b"] if kw.get("nesterov") else s["b"]
                p[k] = p[k] - lr * g
            elif name == "Adagrad":
                g = g + wd * p[k]
                s.setdefault("sum", np.full_like(g, kw.get("initial_accumulator_value", 0.0)))
                s["sum"] = s["sum"] + g**2
                clr = lr / (1 + (t - 1) * kw.get("lr_decay", 0.0))
                p[k] = p[k] - clr * g / (np.sqrt(s["sum"]) + kw.get("eps", 1e-10))
            elif name == "RMSprop":
                a, eps, mu = kw.get("alpha", 0.99), kw.get("eps", 1e-8), kw.get("momentum", 0.0)
                g = g + wd * p[k]
                s["v"] = a * s.get("v", 0.0) + (1 - a) * g**2
                v = s["v"]
                if kw.get("centered"):
                    s["ga"] = a * s.get("ga", 0.0) + (1 - a) * g
                    v = v - s["ga"] ** 2
                step = g / (np.sqrt(v) + eps)
                if mu:
                    s["b"] = mu * s.get("b", 0.0) + step
                    step = s["b"]
                p[k] = p[k] - lr * step
            else:  # Adam / AdamW
                b1, b2 = kw.get("betas", (0.9, 0.999))
                eps = kw.get("eps", 1e-8)
                if name == "AdamW" or kw.get("decoupled_weight_decay"):
                    p[k] = p[k] * (1 - lr * wd)
                else:
                    g = g + wd * p[k]
                s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
                s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g**2
                v = s["v"]
                if kw.get("amsgrad"):
                    s["vmax"] = np.maximum(s.get("vmax", 0.0), v)
                    v = s["vmax"]
                mhat = s["m"] / (1 - b1**t)
                vhat = v / (1 - b2**t)
                p[k] = p[k] - lr * mhat / (np.sqrt(vhat) + eps)
    return p


def _run(name, params, grads, kw):
    p = _copy(params)
    opt = getattr(optim, name)(p, **kw)
    for g in grads:
        opt.step(g)
    return p, opt


@pytest.mark.parametrize("ours,_t,kw", CASES, ids=IDS)
def test_matches_numpy_reference(ours, _t, kw):
    params, grads = _problem(("ref", ours, sorted(kw.items())))
    p, _ = _run(ours, params, grads, kw)
    ref = _reference(ours, params, grads, kw)
    for k in p:
        np.testing.assert_allclose(p[k], ref[k], rtol=1e-11, atol=1e-12)


# ----------------------------------------------------------------------------
# parity with torch.optim
# ----------------------------------------------------------------------------
def _torch_run(tname, params, grads, kw, dtype=np.float64, lr_schedule=None, skip=None):
    torch = pytest.importorskip("torch")
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    tp = {k: torch.tensor(v, dtype=tdtype, requires_grad=True) for k, v in params.items()}
    opt = getattr(torch.optim, tname)(list(tp.values()), foreach=False, **kw)
    for i, g in enumerate(grads):
        if lr_schedule is not None:
            opt.param_groups[0]["lr"] = lr_schedule[i]
        for k, t in tp.items():
            t.grad = None if (skip and (i, k) in skip) else torch.tensor(g[k], dtype=tdtype)
        opt.step()
    out = {k: t.detach().numpy().copy() for k, t in tp.items()}
    state = {k: {sk: (sv.numpy().copy() if sv.ndim else float(sv))
                 for sk, sv in opt.state[t].items()}
             for k, t in tp.items() if t in opt.state}
    return out, state


@pytest.mark.parametrize("ours,tname,kw", CASES, ids=IDS)
def test_matches_torch(ours, tname, kw):
    params, grads = _problem(("torch", ours, sorted(kw.items())))
    ref, tstate = _torch_run(tname, params, grads, kw)
    p, opt = _run(ours, params, grads, kw)
    for k in p:
        np.testing.assert_allclose(p[k], ref[k], rtol=TOL, atol=TOL)
    # state buffers use torch's names and shapes
    sd = opt.state_dict()["state"]
    for k, tst in tstate.items():
        assert sd[k]["step"] == (tst["step"] if "step" in tst else STEPS)
        for sk, sv in tst.items():
            if sk == "step":
                continue
            assert sk in sd[k], f"missing state {sk}"
            np.testing.assert_allclose(sd[k][sk], sv, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("ours,tname,kw", [CASES[3], CASES[9], CASES[13]],
                         ids=[IDS[3], IDS[9], IDS[13]])
def test_float32_matches_torch(ours, tname, kw):
    params, grads = _problem(("f32", ours), dtype=np.float32)
    ref, _ = _torch_run(tname, params, grads, kw, dtype=np.float32)
    p, _ = _run(ours, params, grads, kw)
    for k in p:
        assert p[k].dtype == np.float32
        np.testing.assert_allclose(p[k], ref[k], rtol=1e-5, atol=1e-6)


def test_lr_change_and_skipped_grads_match_torch():
    kw = dict(lr=0.1, amsgrad=True)
    params, grads = _problem("sched")
    schedule = [0.1, 0.05, 0.05, 0.01, 0.2]
    skip = {(1, "w"), (2, "w"), (3, "u")}
    ref, tstate = _torch_run("Adam", params, grads, kw, lr_schedule=schedule, skip=skip)
    p = _copy(params)
    opt = optim.Adam(p, **kw)
    for i, g in enumerate(grads):
        opt.lr = schedule[i]
        opt.step({k: (None if (i, k) in skip else v) for k, v in g.items()
                  if not ((i, k) in skip and k == "u")})  # missing key == None
    for k in p:
        np.testing.assert_allclose(p[k], ref[k], rtol=TOL, atol=TOL)
    assert opt.state["w"]["step"] == 3 and opt.state["u"]["step"] == 4
    assert tstate["w"]["step"] == 3


# ----------------------------------------------------------------------------
# behaviour
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_updates_in_place_and_leaves_grads_alone(name):
    params, grads = _problem(("inplace", name), steps=1)
    arrays = {k: v for k, v in params.items()}
    before = _copy(params)
    g0 = _copy(grads[0])
    kw = {"momentum": 0.9} if name in ("SGD", "RMSprop") else {}
    opt = optim.get(name.lower(), params, lr=0.1, **kw)
    opt.step(grads[0])
    for k in params:
        assert params[k] is arrays[k]
        assert not np.array_equal(params[k], before[k])
        np.testing.assert_array_equal(grads[0][k], g0[k])


def test_non_contiguous_params_are_updated_in_place():
    rng = _rng("noncontig")
    base = rng.standard_normal((6, 4))
    w_t = base.T  # F-contiguous view
    strided = rng.standard_normal(10)[::2]
    params = {"wt": w_t, "s": strided}
    refp = {"wt": w_t.copy(), "s": strided.copy()}
    grads = [{"wt": rng.standard_normal((4, 6)), "s": rng.standard_normal(5)} for _ in range(3)]
    opt, ref = optim.Adam(params, lr=0.1), optim.Adam(refp, lr=0.1)
    for g in grads:
        opt.step(g)
        ref.step({k: np.asfortranarray(v) for k, v in g.items()})  # non-contiguous grads too
    np.testing.assert_array_equal(base.T, refp["wt"])
    np.testing.assert_array_equal(params["s"], refp["s"])


def test_float64_grads_on_float32_params_are_cast():
    p = {"w": np.ones(3, np.float32)}
    optim.SGD(p, lr=0.5).step({"w": np.ones(3, np.float64)})
    assert p["w"].dtype == np.float32
    np.testing.assert_array_equal(p["w"], [0.5, 0.5, 0.5])


@pytest.mark.parametrize("ours,_t,kw", [CASES[2], CASES[5], CASES[9], CASES[13]],
                         ids=[IDS[2], IDS[5], IDS[9], IDS[13]])
def test_state_dict_resume_is_exact(ours, _t, kw):
    params, grads = _problem(("resume", ours))
    full, _ = _run(ours, params, grads, kw)

    p1 = _copy(params)
    o1 = getattr(optim, ours)(p1, **kw)
    for g in grads[:3]:
        o1.step(g)
    snapshot, sd = _copy(p1), o1.state_dict()
    o1.step(grads[3])  # must not leak into the saved copy
    p2 = _copy(snapshot)
    o2 = getattr(optim, ours)(p2, lr=123.0)
    o2.load_state_dict(sd)
    assert o2.lr == kw["lr"]
    for g in grads[3:]:
        o2.step(g)
    for k in full:
        np.testing.assert_array_equal(p2[k], full[k])


def test_get_resolves_names():
    p = {"w": np.zeros(2)}
    assert type(optim.get("sgd", p, lr=0.1)) is optim.SGD
    assert type(optim.get("Adam", p)) is optim.Adam
    aw = optim.get("adamw", p)
    assert type(aw) is optim.AdamW and aw.weight_decay == 1e-2 and aw.decoupled_weight_decay
    assert type(optim.get("rmsprop", p)) is optim.RMSprop
    assert type(optim.get("adagrad", p)) is optim.Adagrad
    assert type(optim.get(optim.Adagrad, p, lr=0.5)) is optim.Adagrad
    o = optim.SGD(p, lr=0.1)
    assert optim.get(o) is o
    assert "lr=0.1" in repr(o)
    # torch defaults
    assert optim.SGD(p).lr == 1e-3 and optim.Adam(p).lr == 1e-3
    assert optim.RMSprop(p).lr == 1e-2 and optim.Adagrad(p).lr == 1e-2
    assert optim.Adam(p).betas == (0.9, 0.999) and optim.Adam(p).eps == 1e-8


# ----------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------
def test_invalid_hyperparameters_raise():
    p = {"w": np.zeros(2)}
    cases = [
        (optim.SGD, dict(lr=-0.1), "learning rate"),
        (optim.SGD, dict(lr=float("nan")), "learning rate"),
        (optim.SGD, dict(momentum=-0.5), "momentum"),
        (optim.SGD, dict(weight_decay=-1), "weight_decay"),
        (optim.SGD, dict(nesterov=True), "Nesterov"),
        (optim.SGD, dict(momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
        (optim.Adam, dict(lr=-1e-3), "learning rate"),
        (optim.Adam, dict(betas=(1.0, 0.999)), "index 0"),
        (optim.Adam, dict(betas=(0.9, -0.1)), "index 1"),
        (optim.Adam, dict(betas=(0.9,)), "pair"),
        (optim.Adam, dict(eps=-1e-8), "eps"),
        (optim.AdamW, dict(lr="fast"), "number"),
        (optim.RMSprop, dict(alpha=-0.1), "alpha"),
        (optim.RMSprop, dict(momentum=-0.1), "momentum"),
        (optim.Adagrad, dict(lr_decay=-0.1), "lr_decay"),
        (optim.Adagrad, dict(initial_accumulator_value=-1), "initial_accumulator_value"),
    ]
    for cls, kw, msg in cases:
        with pytest.raises(ValueError, match=msg):
            cls(p, **kw)
    o = optim.Adam(p)
    with pytest.raises(ValueError, match="learning rate"):
        o.lr = -1.0
    assert o.lr == 1e-3
    with pytest.raises(ValueError, match="index 0"):
        o.betas = (1.5, 0.9)


def test_invalid_params_and_grads_raise():
    with pytest.raises(ValueError, match="dict"):
        optim.SGD([np.zeros(2)])
    with pytest.raises(ValueError, match="empty"):
        optim.SGD({})
    with pytest.raises(ValueError, match="float32 or float64"):
        optim.SGD({"w": np.zeros(2, dtype=np.int64)})
    with pytest.raises(ValueError, match="ndarray"):
        optim.SGD({"w": [0.0, 1.0]})
    ro = np.zeros(2)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        optim.SGD({"w": ro})
    p = {"w": np.zeros((2, 3)), "b": np.zeros(3)}
    opt = optim.Adam(p)
    with pytest.raises(ValueError, match=r"not optimizer parameters: \['bias'\]"):
        opt.step({"w": np.ones((2, 3)), "bias": np.ones(3)})
    with pytest.raises(ValueError, match=r"expected \(2, 3\), got \(3, 2\)"):
        opt.step({"w": np.ones((3, 2))})
    assert opt.state["w"]["step"] == 0 and np.all(p["w"] == 0)  # nothing applied
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        optim.get("lbfgs", p)
    with pytest.raises(ValueError, match="params"):
        optim.get("sgd")
    with pytest.raises(ValueError, match="keyword"):
        optim.get(opt, lr=0.1)
    with pytest.raises(ValueError, match="is for Adam"):
        optim.SGD(p).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match="decoupled"):
        optim.AdamW(p).load_state_dict(
            {**optim.AdamW(p).state_dict(),
             "hyperparams": {**optim.AdamW(p).hyperparams, "decoupled_weight_decay": False}})


@pytest.mark.parametrize("name,kw0,kw1", [
    ("SGD", dict(lr=0.1), dict(lr=0.02)),
    ("SGD", dict(lr=0.1), dict(weight_decay=0.1, momentum=0.5)),
    ("Adam", dict(lr=0.1), dict(lr=0.02)),
    ("Adam", dict(lr=0.1), dict(betas=(0.8, 0.99), weight_decay=0.1)),
    ("Adam", dict(lr=0.1, weight_decay=0.1), dict(weight_decay=0.0)),
])
def test_hyperparameter_change_takes_effect_on_the_next_step(name, kw0, kw1):
    """The kernels' scalars are cached per dtype: assigning a hyper-parameter must reach the next
    step. Reference: a new optimizer built with the new settings and the state of the first."""
    params, grads = _problem(("change", name, tuple(kw1)))
    p_a = _copy(params)
    a = optim.get(name.lower(), p_a, **kw0)
    for g in grads[:2]:
        a.step(g)
    state = a.state_dict()
    for k, v in kw1.items():
        setattr(a, k, v)
    p_b = _copy(p_a)
    b = optim.get(name.lower(), p_b, **kw0)
    state["hyperparams"].update(kw1)
    b.load_state_dict(state)
    for g in grads[2:]:
        a.step(g)
        b.step(g)
    for k in p_a:
        np.testing.assert_array_equal(p_a[k], p_b[k])
    # and the change made a difference (the test would pass trivially otherwise)
    p_c = _copy(params)
    c = optim.get(name.lower(), p_c, **kw0)
    for g in grads:
        c.step(g)
    assert any(not np.array_equal(p_a[k], p_c[k]) for k in p_a)
