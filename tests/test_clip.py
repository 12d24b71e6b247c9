"""Tests for fastrnn.clip (in-place gradient clipping)."""

import math
import zlib

import numpy as np
import pytest

from fastrnn import clip

TOL = 1e-12
SHAPES = {"w": (4, 3), "b": (5,), "u": (2, 3, 2)}


def _grads(key, scale=1.0, dtype=np.float64):
    rng = np.random.default_rng(zlib.crc32(repr(("clip", key)).encode()))
    return {k: (scale * rng.standard_normal(s)).astype(dtype) for k, s in SHAPES.items()}


def _copy(d):
    return {k: v.copy() for k, v in d.items()}


def _flat(d):
    return np.concatenate([v.ravel() for v in d.values()])


# ----------------------------------------------------------------------------
# without torch
# ----------------------------------------------------------------------------
def test_global_norm_is_norm_of_concatenation():
    g = _grads("gn")
    v = _flat(g)
    assert clip.global_norm(g) == pytest.approx(np.linalg.norm(v), rel=1e-14)
    assert clip.global_norm(g, math.inf) == np.max(np.abs(v))
    assert clip.global_norm(g, 1) == pytest.approx(np.sum(np.abs(v)), rel=1e-14)
    assert clip.global_norm(g, 3) == pytest.approx(np.sum(np.abs(v) ** 3) ** (1 / 3), rel=1e-13)
    assert clip.global_norm({}) == 0.0


def test_clip_grad_norm_scales_in_place():
    g = _grads("scale", scale=10.0)
    arrays = dict(g)
    before = _copy(g)
    total = clip.clip_grad_norm(g, 1.0)
    assert total == pytest.approx(np.linalg.norm(_flat(before)), rel=1e-14)
    coef = 1.0 / (total + 1e-6)
    for k in g:
        assert g[k] is arrays[k]
        np.testing.assert_allclose(g[k], before[k] * coef, rtol=1e-15)
    assert np.linalg.norm(_flat(g)) == pytest.approx(1.0, rel=1e-5)
    assert np.linalg.norm(_flat(g)) <= 1.0


def test_clip_grad_norm_below_threshold_is_a_no_op():
    g = _grads("noop")
    before = _copy(g)
    total = clip.clip_grad_norm(g, 1e3)
    assert total > 0
    for k in g:
        np.testing.assert_array_equal(g[k], before[k])


def test_clip_grad_norm_accepts_lists_and_float32():
    g = list(_grads("list", scale=5.0, dtype=np.float32).values())
    total = clip.clip_grad_norm(g, 0.5)
    assert isinstance(total, float)
    assert all(a.dtype == np.float32 for a in g)
    assert np.linalg.norm(np.concatenate([a.ravel() for a in g])) == pytest.approx(0.5, rel=1e-5)


def test_clip_grad_norm_nonfinite():
    g = {"a": np.array([1.0, np.inf]), "b": np.array([3.0, 4.0])}
    with pytest.raises(FloatingPointError, match="non-finite"):
        clip.clip_grad_norm(g, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(g["b"], [3.0, 4.0])  # untouched on error
    assert clip.clip_grad_norm(g, 1.0) == math.inf
    np.testing.assert_array_equal(g["b"], [0.0, 0.0])


def test_clip_grad_value_in_place():
    g = _grads("value", scale=3.0)
    arrays = dict(g)
    before = _copy(g)
    assert clip.clip_grad_value(g, 1.5) is None
    for k in g:
        assert g[k] is arrays[k]
        np.testing.assert_array_equal(g[k], np.clip(before[k], -1.5, 1.5))


def test_clip_errors():
    g = _grads("err")
    with pytest.raises(ValueError, match="max_norm"):
        clip.clip_grad_norm(g, -1.0)
    with pytest.raises(ValueError, match="max_norm"):
        clip.clip_grad_norm(g, float("nan"))
    with pytest.raises(ValueError, match="norm_type"):
        clip.clip_grad_norm(g, 1.0, norm_type=0)
    with pytest.raises(ValueError, match="clip_value"):
        clip.clip_grad_value(g, -0.1)
    with pytest.raises(ValueError, match="numpy arrays"):
        clip.clip_grad_norm({"a": [1.0, 2.0]}, 1.0)
    ro = np.ones(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        clip.clip_grad_value({"a": ro}, 0.5)


# ----------------------------------------------------------------------------
# parity with torch.nn.utils
# ----------------------------------------------------------------------------
def _torch_grads(g):
    torch = pytest.importorskip("torch")
    ps = []
    for v in g.values():
        p = torch.zeros(v.shape, dtype=torch.float64, requires_grad=True)
        p.grad = torch.tensor(v)
        ps.append(p)
    return ps


@pytest.mark.parametrize("max_norm", [0.5, 1e3, 0.0])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    torch = pytest.importorskip("torch")
    g = _grads(("torch", max_norm, norm_type), scale=2.0)
    ps = _torch_grads(g)
    t_total = torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type, foreach=False)
    total = clip.clip_grad_norm(g, max_norm, norm_type=norm_type)
    assert total == pytest.approx(t_total.item(), rel=TOL, abs=TOL)
    for v, p in zip(g.values(), ps):
        np.testing.assert_allclose(v, p.grad.numpy(), rtol=TOL, atol=TOL)


@pytest.mark.parametrize("clip_value", [0.0, 0.3, 10.0])
def test_clip_grad_value_matches_torch(clip_value):
    torch = pytest.importorskip("torch")
    g = _grads(("value", clip_value))
    ps = _torch_grads(g)
    torch.nn.utils.clip_grad_value_(ps, clip_value, foreach=False)
    clip.clip_grad_value(g, clip_value)
    for v, p in zip(g.values(), ps):
        np.testing.assert_array_equal(v, p.grad.numpy())


# --- the BLAS-free sum of squares behind the 2-norms ------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 17, 1000, 4099])
def test_sum_squares_matches_numpy(n, dtype):
    from fastrnn.kernels._reduce import sum_squares

    a = np.random.default_rng(n).standard_normal(n).astype(dtype) * 3.0
    expected = float(np.sum(a.astype(np.float64) ** 2))
    assert sum_squares(a) == pytest.approx(expected, rel=1e-13, abs=0.0)
    # any layout: a strided view and a 2-D array give the same as their contiguous copies
    b = np.random.default_rng(1).standard_normal((n, 3)).astype(dtype)
    assert sum_squares(b[:, 1]) == pytest.approx(float(np.sum(b[:, 1].astype(np.float64) ** 2)), rel=1e-13)
    assert sum_squares(b) == pytest.approx(float(np.sum(b.astype(np.float64) ** 2)), rel=1e-13)
