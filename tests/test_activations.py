"""Accuracy of the vectorisable activations in ``fastrnn.kernels.activations`` against NumPy.

The kernels use them for every gate, so their error bounds the Numba-vs-NumPy agreement of the
whole network. Thresholds (absolute error against the exact function, evaluated by NumPy in
float64): float32 <= 1e-6; float64 <= 1e-15 (about 4 ulp of 1: the float64 versions are meant to be
as good as libm, since the kernel tests compare Numba with NumPy to 1e-12 in float64).

Grids: a dense uniform grid over [-30, 30] (past saturation in both dtypes), a logarithmic grid of
magnitudes from the smallest subnormal to the largest finite value, both signs, ±0 and ±inf.
"""

import numpy as np
import pytest

from fastrnn.kernels.activations import sigmoid_array, tanh_array

ABS_TOL = {np.float32: 1e-6, np.float64: 1e-15}
DTYPES = [np.float32, np.float64]
IDS = ["f32", "f64"]


def _grid(dtype):
    info = np.finfo(dtype)
    dense = np.linspace(-30.0, 30.0, 1_200_001)
    with np.errstate(over="ignore"):
        mags = np.logspace(np.log10(float(info.smallest_subnormal)), np.log10(float(info.max)), 20_001)
    mags = mags[np.isfinite(mags)]
    special = [0.0, -0.0, float(info.tiny), float(info.smallest_subnormal), float(info.max), 0.625, 22.0,
               7.90531110763549805, 0.5 * np.log(2.0)]
    x = np.concatenate([dense, mags, -mags, special, [-v for v in special]])
    with np.errstate(over="ignore"):
        return x.astype(dtype)


def _exact_tanh(x):
    return np.tanh(x.astype(np.float64))


def _exact_sigmoid(x):
    x = x.astype(np.float64)
    e = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_tanh_accuracy(dtype):
    x = _grid(dtype)
    y = tanh_array(x)
    assert y.dtype == dtype and y.shape == x.shape
    err = np.abs(y.astype(np.float64) - _exact_tanh(x))
    worst = int(np.argmax(err))
    assert err[worst] <= ABS_TOL[dtype], f"max |tanh error| {err[worst]:.3e} at x = {x[worst]!r}"
    # also against NumPy in the same dtype (what the NumPy reference backend computes)
    assert np.max(np.abs(y - np.tanh(x))) <= ABS_TOL[dtype] + np.finfo(dtype).eps


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_sigmoid_accuracy(dtype):
    x = _grid(dtype)
    y = sigmoid_array(x)
    assert y.dtype == dtype and y.shape == x.shape
    err = np.abs(y.astype(np.float64) - _exact_sigmoid(x))
    worst = int(np.argmax(err))
    assert err[worst] <= ABS_TOL[dtype], f"max |sigmoid error| {err[worst]:.3e} at x = {x[worst]!r}"
    # the reference backend's formula, (1 + tanh(x/2)) / 2 in NumPy
    ref = 0.5 * (1.0 + np.tanh(0.5 * x))
    assert np.max(np.abs(y - ref)) <= ABS_TOL[dtype] + np.finfo(dtype).eps


def test_tanh_float64_relative_accuracy():
    """In float64, tanh keeps its relative accuracy near 0 (the Cephes branch), where x ⊙ (...)
    products of small gates would otherwise carry absolute-only errors."""
    x = np.concatenate([np.logspace(-300, np.log10(0.7), 20_001), np.linspace(0.5, 0.75, 10_001)])
    x = np.concatenate([x, -x])
    y = tanh_array(x)
    rel = np.abs(y - np.tanh(x)) / np.abs(np.tanh(x))
    assert np.max(rel) <= 4 * np.finfo(np.float64).eps, np.max(rel)


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_shape_of_the_functions(dtype):
    """Odd/symmetric, bounded, monotone (up to rounding: a few ulp), exact limits, signed zero."""
    x = np.linspace(0.0, 40.0, 400_001).astype(dtype)
    t, s = tanh_array(x), sigmoid_array(x)
    np.testing.assert_array_equal(tanh_array(-x), -t)  # exactly odd
    assert np.all(np.abs(t) <= 1) and np.all((s >= 0) & (s <= 1))
    wobble = -4 * np.finfo(dtype).eps  # rounding of the rational forms near saturation
    assert np.min(np.diff(t)) >= wobble, "tanh not monotone"
    assert np.min(np.diff(s)) >= wobble, "sigmoid not monotone"
    np.testing.assert_allclose(s + sigmoid_array(-x), 1.0, rtol=0, atol=2 * ABS_TOL[dtype])
    big = np.array([80.0, np.finfo(dtype).max, np.inf], dtype)
    np.testing.assert_array_equal(tanh_array(big), 1.0)
    np.testing.assert_array_equal(tanh_array(-big), -1.0)
    np.testing.assert_array_equal(sigmoid_array(big), 1.0)
    np.testing.assert_array_equal(sigmoid_array(-big), 0.0)
    z = tanh_array(np.array([0.0, -0.0], dtype))
    assert z[0] == 0 and z[1] == 0 and not np.signbit(z[0]) and np.signbit(z[1])
    np.testing.assert_array_equal(sigmoid_array(np.array([0.0], dtype)), 0.5)
