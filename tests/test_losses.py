"""Tests for fastrnn.losses: values and gradients.

Gradients are checked against central finite differences (no optional
dependency), and values+gradients against PyTorch autograd in float64 when
torch is installed (each torch test skips itself otherwise).
"""

import zlib

import numpy as np
import pytest

from fastrnn import losses

TOL = 1e-12  # parity tolerance vs torch (float64)

ELEMENTWISE = ("mse", "mae", "huber", "bce")
SHAPE = (3, 4, 5)


def _rng(*keys):
    """A generator seeded deterministically (across processes) from ``keys``."""
    return np.random.default_rng(zlib.crc32(repr(("losses",) + keys).encode()))


def _problem(name, shape=SHAPE, dtype=np.float64, **keys):
    rng = _rng(name, shape, np.dtype(dtype).name, *sorted(keys.items()))
    pred = rng.standard_normal(shape).astype(dtype)
    if name == "bce":
        target = rng.uniform(0.0, 1.0, shape).astype(dtype)  # soft labels
        target[..., 0] = 0.0
        target[..., 1] = 1.0
    elif name in ("mae", "huber"):
        # keep |diff| away from the kinks (0 and delta) for finite differences
        target = pred + rng.choice([-1.0, 1.0], shape) * rng.uniform(0.1, 2.5, shape)
        target = target.astype(dtype)
        if name == "huber":
            d = np.abs(pred - target)
            target = np.where(np.abs(d - 1.0) < 0.05, target + 0.2, target).astype(dtype)
    else:
        target = rng.standard_normal(shape).astype(dtype)
    return pred, target


def _assert_close(ours, ref, tol=TOL):
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    np.testing.assert_allclose(ours, ref, rtol=tol, atol=tol)


def _fd_grad(f, x, h=1e-6):
    """Central finite differences of scalar f at x (float64)."""
    g = np.zeros_like(x)
    flat = x.reshape(-1)
    gflat = g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = f(x)
        flat[i] = old - h
        fm = f(x)
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * h)
    return g


# ----------------------------------------------------------------------------
# finite-difference gradient checks (no torch needed)
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_elementwise_grad_matches_finite_differences(name, reduction):
    pred, target = _problem(name, shape=(2, 3, 4))
    loss = losses.get(name, reduction=reduction)
    value, grad = loss(pred, target)
    assert isinstance(value, float)
    fd = _fd_grad(lambda z: loss(z, target)[0], pred.copy())
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("delta", [0.5, 2.0])
def test_huber_delta_grad_matches_finite_differences(delta):
    rng = _rng("huber-fd", delta)
    pred = rng.standard_normal((4, 6)) * 2
    target = rng.standard_normal((4, 6))
    d = np.abs(pred - target)
    target = np.where(np.abs(d - delta) < 0.05, target + 0.2, target)
    loss = losses.Huber(delta=delta)
    fd = _fd_grad(lambda z: loss(z, target)[0], pred.copy())
    np.testing.assert_allclose(loss(pred, target)[1], fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", ["index", "prob"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_grad_matches_finite_differences(kind, smoothing):
    rng = _rng("ce-fd", kind, smoothing)
    pred = rng.standard_normal((3, 2, 5)) * 2
    if kind == "index":
        target = rng.integers(0, 5, (3, 2))
        target[0, 1] = -100  # ignored
    else:
        target = rng.dirichlet(np.ones(5), (3, 2))
    loss = losses.CrossEntropy(label_smoothing=smoothing)
    fd = _fd_grad(lambda z: loss(z, target)[0], pred.copy())
    value, grad = loss(pred, target)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)
    if kind == "index":
        assert np.all(grad[0, 1] == 0.0)


def test_closed_form_values():
    p = np.array([1.0, -2.0, 3.0, 0.5])
    t = np.array([0.0, 0.0, 1.0, 0.5])
    assert losses.mse(p, t)[0] == pytest.approx((1 + 4 + 4 + 0) / 4, rel=1e-15)
    assert losses.mae(p, t)[0] == pytest.approx((1 + 2 + 2 + 0) / 4, rel=1e-15)
    # huber delta=1: 0.5, 1.5, 1.5, 0
    assert losses.huber(p, t)[0] == pytest.approx(3.5 / 4, rel=1e-15)
    # bce of logit 0 is log 2 whatever the target
    assert losses.bce(np.zeros(3), np.array([0.0, 1.0, 0.3]))[0] == pytest.approx(np.log(2))
    # uniform logits: cross-entropy = log C
    v, g = losses.cross_entropy(np.zeros((2, 4)), np.array([1, 3]))
    assert v == pytest.approx(np.log(4), rel=1e-15)
    np.testing.assert_allclose(g, (np.full((2, 4), 0.25) - np.eye(4)[[1, 3]]) / 2)


def test_mae_gradient_is_zero_at_zero_difference():
    p = np.array([1.0, 2.0, 3.0, 4.0])
    t = np.array([1.0, 1.0, 3.0, 5.0])
    _, g = losses.mae(p, t)
    np.testing.assert_array_equal(g, [0.0, 0.25, 0.0, -0.25])


# ----------------------------------------------------------------------------
# numerical stability
# ----------------------------------------------------------------------------
def test_bce_is_stable_for_huge_logits():
    z = np.array([1000.0, -1000.0, 1000.0, -1000.0, 0.0])
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    value, grad = losses.bce(z, y)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    expected = (1000.0 + 1000.0 + 0.0 + 0.0 + np.log(2.0)) / 5
    assert value == pytest.approx(expected, rel=1e-15)
    np.testing.assert_allclose(grad, np.array([1.0, -1.0, 0.0, 0.0, -0.5]) / 5, atol=1e-300)
    # float32 too
    v32, g32 = losses.bce(z.astype(np.float32), y.astype(np.float32))
    assert np.isfinite(v32) and np.all(np.isfinite(g32)) and g32.dtype == np.float32


def test_cross_entropy_is_stable_for_huge_logits():
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0]])
    v, g = losses.cross_entropy(z, np.array([1, 2]))
    assert np.isfinite(v) and np.all(np.isfinite(g))
    assert v == pytest.approx(2000.0 / 2, rel=1e-15)
    vp, gp = losses.cross_entropy(z, np.eye(3)[[1, 2]])
    assert vp == pytest.approx(v, rel=1e-15)
    np.testing.assert_allclose(gp, g, atol=1e-300)


# ----------------------------------------------------------------------------
# dtype, shapes, API
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ELEMENTWISE + ("cross_entropy",))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_and_shape_preserved(name, dtype):
    pred, target = _problem(name, dtype=dtype)
    if name == "cross_entropy":
        target = np.zeros(SHAPE[:-1], dtype=np.int64)
    pred_copy, target_copy = pred.copy(), target.copy()
    value, grad = losses.get(name)(pred, target)
    assert isinstance(value, float) and np.isfinite(value)
    assert grad.dtype == dtype and grad.shape == pred.shape and grad.flags.c_contiguous
    assert not np.shares_memory(grad, pred)
    np.testing.assert_array_equal(pred, pred_copy)  # inputs untouched
    np.testing.assert_array_equal(target, target_copy)
    if dtype == np.float32:  # float32 agrees with the float64 computation
        v64, g64 = losses.get(name)(pred.astype(np.float64), target)
        assert value == pytest.approx(v64, rel=1e-5)
        np.testing.assert_allclose(grad, g64, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_shape_mismatch_raises(name):
    with pytest.raises(ValueError, match=r"expected \(3, 4\), got \(4, 3\)"):
        losses.get(name)(np.zeros((3, 4)), np.zeros((4, 3)))


def test_cross_entropy_target_errors():
    z = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"expected \(3,\), got \(2,\)"):
        losses.cross_entropy(z, np.array([0, 1]))
    with pytest.raises(ValueError, match="out of range"):
        losses.cross_entropy(z, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match="integer dtype"):
        losses.cross_entropy(z, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"expected \(3, 4\), got \(3, 5\)"):
        losses.cross_entropy(z, np.zeros((3, 5)))
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.CrossEntropy(label_smoothing=1.5)


def test_cross_entropy_all_ignored_gives_zero():
    v, g = losses.cross_entropy(np.ones((2, 3)), np.array([-100, -100]))
    assert v == 0.0 and np.all(g == 0.0)


def test_cross_entropy_unbatched():
    z = np.array([0.5, -1.0, 2.0])
    v, g = losses.cross_entropy(z, np.array(2))
    p = np.exp(z) / np.exp(z).sum()
    assert v == pytest.approx(-np.log(p[2]), rel=1e-14)
    np.testing.assert_allclose(g, p - np.eye(3)[2], rtol=1e-14)


def test_get_resolves_names_and_objects():
    assert isinstance(losses.get("mse"), losses.MSE)
    assert isinstance(losses.get("MAE"), losses.MAE)
    assert isinstance(losses.get("l1"), losses.MAE)
    assert isinstance(losses.get("bce"), losses.BCEWithLogits)
    assert isinstance(losses.get("cross_entropy"), losses.CrossEntropy)
    assert isinstance(losses.get("cross-entropy"), losses.CrossEntropy)
    h = losses.get("huber", delta=0.25)
    assert isinstance(h, losses.Huber) and h.delta == 0.25
    assert losses.get(losses.Huber, delta=3.0).delta == 3.0
    assert losses.get(h) is h
    assert losses.get(losses.mse) is losses.mse
    assert "delta=0.25" in repr(h)
    with pytest.raises(ValueError, match="unknown loss 'nope'"):
        losses.get("nope")
    with pytest.raises(ValueError, match="keyword"):
        losses.get(h, delta=2.0)
    with pytest.raises(ValueError):
        losses.get(42)
    with pytest.raises(ValueError, match="delta"):
        losses.Huber(delta=0.0)
    with pytest.raises(ValueError, match="reduction"):
        losses.MSE(reduction="none")
    with pytest.raises(ValueError, match="empty"):
        losses.mse(np.zeros((0, 3)), np.zeros((0, 3)))


def test_function_and_object_spellings_agree():
    pred, target = _problem("huber")
    v1, g1 = losses.huber(pred, target, delta=0.7)
    v2, g2 = losses.Huber(0.7)(pred, target)
    assert v1 == v2
    np.testing.assert_array_equal(g1, g2)


# ----------------------------------------------------------------------------
# parity with PyTorch (float64, autograd)
# ----------------------------------------------------------------------------
def _torch_ref(fn, pred, target, target_dtype=None, **kw):
    torch = pytest.importorskip("torch")
    z = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(target) if target_dtype is None else torch.tensor(target, dtype=target_dtype)
    out = fn(z, t, **kw)
    out.backward()
    return out.item(), z.grad.numpy()


def _torch_fn(name):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    return {
        "mse": F.mse_loss,
        "mae": F.l1_loss,
        "huber": F.huber_loss,
        "bce": F.binary_cross_entropy_with_logits,
    }[name]


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_elementwise_matches_torch(name, reduction):
    pred, target = _problem(name)
    # include exact ties for mae/huber (gradient 0 at diff == 0, kink at delta)
    target.reshape(-1)[:3] = pred.reshape(-1)[:3]
    if name == "huber":
        target.reshape(-1)[3] = pred.reshape(-1)[3] - 1.0
    v, g = losses.get(name, reduction=reduction)(pred, target)
    tv, tg = _torch_ref(_torch_fn(name), pred, target, reduction=reduction)
    _assert_close(v, tv)
    _assert_close(g, tg)


@pytest.mark.parametrize("delta", [0.3, 2.5])
def test_huber_delta_matches_torch(delta):
    pred, target = _problem("huber")
    torch = pytest.importorskip("torch")
    v, g = losses.huber(pred, target, delta=delta)
    tv, tg = _torch_ref(torch.nn.functional.huber_loss, pred, target, delta=delta)
    _assert_close(v, tv)
    _assert_close(g, tg)


def test_bce_huge_logits_match_torch():
    torch = pytest.importorskip("torch")
    z = np.array([1000.0, -1000.0, 1000.0, -1000.0, 30.0, -30.0])
    y = np.array([0.0, 1.0, 1.0, 0.0, 0.25, 0.75])
    v, g = losses.bce(z, y)
    tv, tg = _torch_ref(torch.nn.functional.binary_cross_entropy_with_logits, z, y)
    _assert_close(v, tv)
    _assert_close(g, tg)


@pytest.mark.parametrize("shape", [(6, 5), (4, 3, 7), (5,)])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_index_targets_match_torch(shape, smoothing, reduction):
    torch = pytest.importorskip("torch")
    rng = _rng("ce-torch", shape, smoothing, reduction)
    pred = rng.standard_normal(shape) * 3
    target = rng.integers(0, shape[-1], shape[:-1])
    if target.ndim:
        target.reshape(-1)[1] = -100  # ignore_index
    v, g = losses.cross_entropy(pred, target, label_smoothing=smoothing, reduction=reduction)
    # torch puts classes on dim 1: compare on the flattened (N, C) view
    C = shape[-1]
    tv, tg = _torch_ref(
        lambda z, t, **kw: torch.nn.functional.cross_entropy(
            z.reshape(-1, C), t.reshape(-1), **kw),
        pred, target, target_dtype=torch.long,
        label_smoothing=smoothing, reduction=reduction,
    )
    _assert_close(v, tv)
    _assert_close(g, tg)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_probability_targets_match_torch(smoothing):
    torch = pytest.importorskip("torch")
    rng = _rng("ce-prob", smoothing)
    pred = rng.standard_normal((4, 3, 6)) * 2
    target = rng.dirichlet(np.ones(6), (4, 3))
    target[0, 0] = np.eye(6)[2]  # a one-hot row with exact zeros
    v, g = losses.cross_entropy(pred, target, label_smoothing=smoothing)
    tv, tg = _torch_ref(
        lambda z, t, **kw: torch.nn.functional.cross_entropy(
            z.reshape(-1, 6), t.reshape(-1, 6), **kw),
        pred, target, label_smoothing=smoothing,
    )
    _assert_close(v, tv)
    _assert_close(g, tg)
