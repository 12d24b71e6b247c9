"""Scalar activations for the Numba kernels: vectorisable, and chosen by dtype at compile time.

pip's llvmlite has no vector math library (SVML), so ``np.tanh`` / ``np.exp`` inside a Numba loop is a
scalar libm call per element, an order of magnitude or more slower than the arithmetic around it. The functions
here use only multiplication, addition, division, min/max, ``floor`` and a bit cast, so LLVM
vectorises any loop that calls them (the loop must be compiled with ``error_model="numpy"``: with
Numba's default "python" error model every division checks for zero and nothing vectorises).

``tanh(v)`` and ``sigmoid(v)`` dispatch on the scalar type when a kernel is compiled (``@overload``;
Numba does not type ``x.dtype == np.float32`` tests, and ``generated_jit`` is gone):

* float32: Eigen's / XLA's clamped rational approximation of tanh, odd degree-13 numerator over
  even degree-6 denominator, evaluated in float32 (constants are float32, so nothing is promoted
  to float64). Max abs error vs the exact tanh ~4e-7 (tested <= 1e-6).
* float64: exact to about 1 ulp (max abs error ~2.2e-16, tested <= 1e-15):
  |x| < 0.625: Cephes' rational ``tanh(x) = x + x z P(z)/Q(z)``, ``z = x²`` (written as one fraction);
  otherwise ``tanh(|x|) = (e - 1)/(e + 1)``, ``e = exp(2|x|)`` with |x| clamped to 22 (where tanh is
  1 in float64), and ``exp`` by Cody-Waite reduction ``v = k ln2 + r``, Cephes' Padé form
  ``exp(r) = 1 + 2 r P(r²) / (Q(r²) - r P(r²))`` and ``2^k`` built from its bits.

``sigmoid(v) = (1 + tanh(v/2)) / 2`` in both dtypes, as :func:`fastrnn.reference.sigmoid`.

Array versions (:func:`tanh_array`, :func:`sigmoid_array`) exist for the accuracy tests and for
timing: in float32 they run about as fast as NumPy's SIMD ufunc, and far faster than ``np.tanh`` in
a Numba loop (``python benchmarks/bench_kernels.py --micro``; figures in benchmarks/README.md).

Numba's on-disk cache does not notice changes to this module in the kernels that inline it: run
with ``FASTRNN_NO_CACHE=1`` while editing it (:mod:`fastrnn.kernels._jit`). Non-finite inputs: ±inf
gives ±1 (tanh) and 1/0 (sigmoid); NaN is not propagated (the clamps turn it into a finite value) —
:mod:`fastrnn.functional` rejects NaN/inf inputs.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

from fastrnn.kernels._jit import JIT

_f32 = np.float32

# --------------------------------------------------------------------------------------------------
# float32: Eigen's clamped rational tanh (also XLA's, ONNX Runtime's MLAS)
# --------------------------------------------------------------------------------------------------

_T32_CLAMP = _f32(7.90531110763549805)  # tanh(x) rounds to ±1 in float32 beyond this
_T32_A1 = _f32(4.89352455891786e-03)
_T32_A3 = _f32(6.37261928875436e-04)
_T32_A5 = _f32(1.48572235717979e-05)
_T32_A7 = _f32(5.12229709037114e-08)
_T32_A9 = _f32(-8.60467152213735e-11)
_T32_A11 = _f32(2.00018790482477e-13)
_T32_A13 = _f32(-2.76076847742355e-16)
_T32_B0 = _f32(4.89352518554385e-03)
_T32_B2 = _f32(2.26843463243900e-03)
_T32_B4 = _f32(1.18534705686654e-04)
_T32_B6 = _f32(1.19825839466702e-06)
_F32_HALF = _f32(0.5)
_F32_ONE = _f32(1.0)


@njit(**JIT)
def _tanh_f32(x):
    x = min(max(x, -_T32_CLAMP), _T32_CLAMP)
    x2 = x * x
    p = x2 * _T32_A13 + _T32_A11
    p = x2 * p + _T32_A9
    p = x2 * p + _T32_A7
    p = x2 * p + _T32_A5
    p = x2 * p + _T32_A3
    p = x2 * p + _T32_A1
    q = x2 * _T32_B6 + _T32_B4
    q = x2 * q + _T32_B2
    q = x2 * q + _T32_B0
    return x * p / q


@njit(**JIT)
def _sigmoid_f32(x):
    return _F32_HALF + _F32_HALF * _tanh_f32(_F32_HALF * x)


# --------------------------------------------------------------------------------------------------
# float64: Cephes tanh (small |x|) and exp (large |x|), branch-free
# --------------------------------------------------------------------------------------------------

# tanh(x) = x + x z P(z)/Q(z), z = x², for |x| < 0.625 (Cephes tanh.c; Q monic)
_T64_P0, _T64_P1, _T64_P2 = -9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3
_T64_Q0, _T64_Q1, _T64_Q2 = 1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3
_T64_SMALL = 0.625
_T64_CLAMP = 22.0  # 2/(exp(44) + 1) < 2^-63: tanh(22) == 1.0 in float64
# exp(r) = 1 + 2 r P(r²) / (Q(r²) - r P(r²)), |r| <= ln2/2 (Cephes exp.c)
_E_P0, _E_P1, _E_P2 = 1.26177193074810590878e-4, 3.02994407707441961300e-2, 9.99999999999999999910e-1
_E_Q0, _E_Q1, _E_Q2, _E_Q3 = 3.00198505138664455042e-6, 2.52448340349684104192e-3, 2.27265548208155028766e-1, 2.0
_LOG2E = 1.4426950408889634073599
_LN2_HI = 6.93145751953125e-1  # ln 2 = _LN2_HI + _LN2_LO; k * _LN2_HI is exact for |k| < 2^11
_LN2_LO = 1.42860682030941723212e-6


@intrinsic
def _int64_bits_as_float64(typingctx, bits):
    """Reinterpret the bits of an int64 as a float64 (a no-op bit cast that vectorises)."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@njit(**JIT)
def _exp_f64(v):
    """exp(v) for 0 <= v <= 1000 (finite result needs v < 709.78), ~1 ulp."""
    k = np.floor(v * _LOG2E + 0.5)
    r = (v - k * _LN2_HI) - k * _LN2_LO  # |r| <= ln2/2, Cody-Waite: both products exact-ish
    rr = r * r
    px = r * ((_E_P0 * rr + _E_P1) * rr + _E_P2)
    qx = ((_E_Q0 * rr + _E_Q1) * rr + _E_Q2) * rr + _E_Q3
    e = 1.0 + 2.0 * (px / (qx - px))
    return e * _int64_bits_as_float64((np.int64(k) + 1023) << 52)  # e * 2^k


@njit(**JIT)
def _tanh_f64(x):
    ax = min(abs(x), _T64_CLAMP)
    # small |x|: x (Q + z P) / Q
    z = x * x
    q = ((z + _T64_Q0) * z + _T64_Q1) * z + _T64_Q2
    num_small = x * (q + z * ((_T64_P0 * z + _T64_P1) * z + _T64_P2))  # keeps the sign of ±0
    # large |x|: sign(x) (e - 1) / (e + 1), e = exp(2|x|); both branches are computed, then selected
    e = _exp_f64(2.0 * ax)
    num_large = e - 1.0
    num_large = num_large if x >= 0.0 else -num_large
    small = ax < _T64_SMALL
    return (num_small if small else num_large) / (q if small else e + 1.0)


@njit(**JIT)
def _sigmoid_f64(x):
    return 0.5 + 0.5 * _tanh_f64(0.5 * x)


# --------------------------------------------------------------------------------------------------
# dtype dispatch
# --------------------------------------------------------------------------------------------------


def tanh(v):
    """Hyperbolic tangent. In Numba code: the approximation for the argument's float type."""
    return np.tanh(v)


def sigmoid(v):
    """Logistic function σ(v) = (1 + tanh(v/2)) / 2. In Numba code: by the argument's float type."""
    return 0.5 * (1.0 + np.tanh(0.5 * v))


def _is_f32(v):
    return isinstance(v, types.Float) and v.bitwidth == 32


@overload(tanh, jit_options={"error_model": "numpy"})
def _ol_tanh(v):
    if _is_f32(v):
        return lambda v: _tanh_f32(v)
    if isinstance(v, types.Float):
        return lambda v: _tanh_f64(v)
    return None


@overload(sigmoid, jit_options={"error_model": "numpy"})
def _ol_sigmoid(v):
    if _is_f32(v):
        return lambda v: _sigmoid_f32(v)
    if isinstance(v, types.Float):
        return lambda v: _sigmoid_f64(v)
    return None


@njit(**JIT)
def tanh_array(x):
    """Elementwise :func:`tanh` of a 1-D float32/float64 array (new array, same dtype)."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = tanh(x[i])
    return out


@njit(**JIT)
def sigmoid_array(x):
    """Elementwise :func:`sigmoid` of a 1-D float32/float64 array (new array, same dtype)."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = sigmoid(x[i])
    return out
