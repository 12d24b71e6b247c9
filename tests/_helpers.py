"""Shared helpers for the fastrnn test-suite.

Nothing in here imports code under test except the cell registry (:mod:`fastrnn.cells`, plain data:
the names, gate counts and state layout of each cell, so that a new cell is tested without an edit
here): problems are built from NumPy random generators, errors are measured with :func:`rel_error`,
and the optional PyTorch oracle (:func:`torch_reference`) only imports ``torch`` when it is called.

Conventions (the ``fastrnn.functional`` contract):

* ``x`` is ``(T, B, I)`` time-major; ``params`` is a dict ``w_ih (G*H, I)``, ``w_hh (G*H, H)``,
  ``b_ih (G*H,)``, ``b_hh (G*H,)`` with ``G`` = :data:`N_GATES` ``[cell]``; gate order and bias
  placement as in PyTorch's ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``.
* A *state* is ``h (B, H)``, or the tuple ``(h, c)`` for ``"lstm"`` (a cell whose registry entry
  has two state arrays).
"""

import math
import zlib

import numpy as np

from fastrnn import cells as _cells

CELLS = _cells.CELLS
BACKENDS = ("numba", "numpy")
PARAM_NAMES = ("w_ih", "w_hh", "b_ih", "b_hh")
N_GATES = _cells.GATES

#: Floor of the denominator of :func:`rel_error` (only matters when the reference is all zeros).
TINY = 1e-300


# --------------------------------------------------------------------------------------------------
# Random problems
# --------------------------------------------------------------------------------------------------


def rng_for(*keys):
    """A ``numpy.random.Generator`` seeded deterministically from ``keys`` (any printable values).

    Uses CRC-32 of the keys' ``repr`` rather than ``hash`` so the seed is the same in every process.
    """
    return np.random.default_rng(zlib.crc32(repr(keys).encode()))


def n_gates(cell):
    """Number of gate blocks ``G`` stacked in the weight matrices of ``cell``."""
    return N_GATES[cell]


def random_params(cell, input_size, hidden_size, rng, dtype=np.float64, scale=None):
    """PyTorch-like initialisation: every entry uniform in ``(-k, k)``, ``k = 1/sqrt(H)`` by default.

    Returns a dict with the four C-contiguous arrays ``w_ih``, ``w_hh``, ``b_ih``, ``b_hh``.
    """
    k = 1.0 / math.sqrt(hidden_size) if scale is None else scale
    gh = n_gates(cell) * hidden_size
    shapes = {
        "w_ih": (gh, input_size),
        "w_hh": (gh, hidden_size),
        "b_ih": (gh,),
        "b_hh": (gh,),
    }
    return {name: rng.uniform(-k, k, size=shape).astype(dtype) for name, shape in shapes.items()}


def random_state(cell, batch, hidden_size, rng, dtype=np.float64, scale=0.5):
    """A random state: ``h`` or ``(h, c)`` for LSTM, entries ``scale * N(0, 1)``."""
    arrays = [
        (scale * rng.standard_normal((batch, hidden_size))).astype(dtype)
        for _ in state_names(cell)
    ]
    return make_state(cell, arrays)


def random_x(T, B, I, rng, dtype=np.float64):
    """A C-contiguous ``(T, B, I)`` input with standard-normal entries."""
    return rng.standard_normal((T, B, I)).astype(dtype)


def state_arrays(cell, state):
    """The arrays of a state as a tuple: ``(h,)`` or ``(h, c)`` for LSTM."""
    if len(state_names(cell)) > 1:
        state = tuple(state)
        assert len(state) == len(state_names(cell))
        return state
    return (state,)


def make_state(cell, arrays):
    """Inverse of :func:`state_arrays`."""
    arrays = tuple(arrays)
    assert len(arrays) == len(state_names(cell))
    return arrays if len(arrays) > 1 else arrays[0]


def state_names(cell):
    """Names used in reports for the arrays of a state: ``("h",)`` or ``("h", "c")``."""
    return _cells.get(cell).state


def non_contiguous(x, layout, rng):
    """Return an array equal to ``x`` but laid out in memory according to ``layout``.

    ``"contiguous"``: a C-contiguous copy; ``"fortran"``: a Fortran-ordered copy; ``"transposed"``: a
    transposed view of a ``(B, T, I)`` array; ``"strided"``: a strided slice of a larger random array.
    The values are always exactly those of ``x``.
    """
    T, B, I = x.shape
    if layout == "contiguous":
        out = np.ascontiguousarray(x)
    elif layout == "fortran":
        out = np.asfortranarray(x)
    elif layout == "transposed":
        out = np.ascontiguousarray(x.transpose(1, 0, 2)).transpose(1, 0, 2)
    elif layout == "strided":
        big = rng.standard_normal((2 * T, B + 1, 3 * I)).astype(x.dtype)
        out = big[::2, 1:, 1::3]
        out[...] = x
    else:
        raise AssertionError(f"unknown layout {layout!r}")
    assert np.array_equal(out, x)
    return out


# --------------------------------------------------------------------------------------------------
# Errors and comparisons
# --------------------------------------------------------------------------------------------------


def layer_problem(key, cell, T, B, I, hidden, dtype, seed):
    """A random problem for one layer of ``cell``: ``(x, params, state0, d_out, d_state)``, drawn
    from :func:`rng_for` ``(key, cell, T, B, I, hidden, dtype, seed)``."""
    rng = rng_for(key, cell, T, B, I, hidden, np.dtype(dtype).name, seed)
    params = random_params(cell, I, hidden, rng, dtype)
    x = random_x(T, B, I, rng, dtype)
    state0 = random_state(cell, B, hidden, rng, dtype)
    d_out = rng.standard_normal((T, B, hidden)).astype(dtype)
    d_state = random_state(cell, B, hidden, rng, dtype, scale=1.0)
    return x, params, state0, d_out, d_state


def rel_error(a, b, tiny=TINY):
    """Norm-wise relative error of ``a`` with respect to the reference ``b``.

    ``max|a - b| / max(max|b|, tiny)``, with the maxima over all entries (max-norm). It is
    *norm-wise*, not element-wise: entries of ``b`` that are tiny compared with the largest one do
    not blow the error up through cancellation, which is the right measure for gradients whose
    entries span many orders of magnitude (early time steps of a long sequence, dead ReLU units).
    ``tiny`` only matters when ``b`` is identically zero, in which case any non-zero ``a`` is an
    (absolute) error. Shapes must match exactly; scalars are accepted.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shape mismatch: {a.shape} vs {b.shape}"
    if a.size == 0:
        return 0.0
    assert np.all(np.isfinite(a)), "non-finite value in the array under test"
    assert np.all(np.isfinite(b)), "non-finite value in the reference"
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), tiny))


def copy_tree(obj):
    """Deep copy of nested dicts / tuples / lists of arrays (``None`` passes through)."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return {k: copy_tree(v) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return type(obj)(copy_tree(v) for v in obj)
    if isinstance(obj, np.ndarray):
        return obj.copy()
    return obj


def assert_tree_equal(actual, expected, path="value"):
    """Assert two nested structures of arrays are bit-identical (same shapes, dtypes, values)."""
    if expected is None:
        assert actual is None, f"{path}: expected None"
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), f"{path}: keys differ"
        for k in expected:
            assert_tree_equal(actual[k], expected[k], f"{path}[{k!r}]")
    elif isinstance(expected, (tuple, list)):
        assert isinstance(actual, (tuple, list)) and len(actual) == len(expected), f"{path}: length"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_tree_equal(a, e, f"{path}[{i}]")
    else:
        assert actual.shape == expected.shape, f"{path}: shape {actual.shape} != {expected.shape}"
        assert actual.dtype == expected.dtype, f"{path}: dtype {actual.dtype} != {expected.dtype}"
        assert np.array_equal(actual, expected, equal_nan=True), f"{path}: values changed"


def scalar_loss(cell, out, state, r_out, r_state):
    """``L = sum(out * r_out) + sum(h_T * r_h) (+ sum(c_T * r_c))``, summed exactly (``math.fsum``).

    ``r_out`` may be ``None`` (many-to-one: no loss on the output sequence). ``r_state`` is shaped
    like a state. Its gradient is ``d_out = r_out``, ``d_state = r_state``.
    """
    terms = []
    if r_out is not None:
        terms.append(math.fsum((np.asarray(out, np.float64) * r_out).ravel()))
    for s, r in zip(state_arrays(cell, state), state_arrays(cell, r_state)):
        terms.append(math.fsum((np.asarray(s, np.float64) * r).ravel()))
    return math.fsum(terms)


class WorstErrors:
    """Collects the worst relative error seen per category, for a summary printed at the end."""

    def __init__(self, title):
        self.title = title
        self._worst = {}

    def record(self, key, err, where=""):
        """Remember ``err`` under ``key`` if it is the largest so far; returns ``err``."""
        if key not in self._worst or err > self._worst[key][0]:
            self._worst[key] = (err, where)
        return err

    def __bool__(self):
        return bool(self._worst)

    def report(self):
        lines = [f"\n==== {self.title} ===="]
        for key in sorted(self._worst):
            err, where = self._worst[key]
            lines.append(f"  {key:<32s} {err:.3e}   ({where})")
        if self._worst:
            overall = max(self._worst.values(), key=lambda v: v[0])
            lines.append(f"  {'OVERALL WORST':<32s} {overall[0]:.3e}   ({overall[1]})")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# PyTorch oracle
# --------------------------------------------------------------------------------------------------


def torch_module(cell, input_size, hidden_size, params, dtype):
    """A one-layer, time-major ``torch.nn.RNN`` / ``LSTM`` / ``GRU`` holding copies of ``params``.

    ``dtype`` is a NumPy dtype; the module gets the matching torch dtype. A cell without a PyTorch
    twin in the registry skips the calling test.
    """
    import pytest
    import torch

    twin = _cells.get(cell).torch
    if twin is None:
        pytest.skip(f"cell {cell!r} has no PyTorch twin")
    tdtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[np.dtype(dtype)]
    kwargs = dict(batch_first=False, bias=True, num_layers=1, dtype=tdtype)
    mod = getattr(torch.nn, twin[0])(input_size, hidden_size, **twin[1], **kwargs)
    torch_names = {"w_ih": "weight_ih_l0", "w_hh": "weight_hh_l0", "b_ih": "bias_ih_l0", "b_hh": "bias_hh_l0"}
    with torch.no_grad():
        for name, tname in torch_names.items():
            target = getattr(mod, tname)
            assert tuple(target.shape) == params[name].shape, (name, target.shape, params[name].shape)
            target.copy_(torch.from_numpy(np.ascontiguousarray(params[name])))
    return mod, torch_names


def torch_reference(cell, x, params, state0, r_out, r_state):
    """Forward + autograd backward with PyTorch for the loss of :func:`scalar_loss`.

    ``state0`` may be ``None`` (zeros, but still differentiated). Returns a dict with NumPy arrays:
    ``out (T, B, H)``, ``state`` (like a state), and ``grads`` = {``w_ih``, ``w_hh``, ``b_ih``,
    ``b_hh``, ``x``, ``state0``} in fastrnn's layout.
    """
    import torch

    T, B, I = x.shape
    H = params["w_hh"].shape[1]
    mod, torch_names = torch_module(cell, I, H, params, x.dtype)
    tx = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_(True)
    if state0 is None:
        state0 = make_state(cell, [np.zeros((B, H), x.dtype) for _ in state_names(cell)])
    t_state0 = [
        torch.from_numpy(np.ascontiguousarray(s)).unsqueeze(0).requires_grad_(True)
        for s in state_arrays(cell, state0)
    ]
    two = len(state_names(cell)) > 1
    hx = tuple(t_state0) if two else t_state0[0]
    out, hn = mod(tx, hx)
    hn = list(hn) if two else [hn]
    loss = 0
    if r_out is not None:
        loss = loss + (out * torch.from_numpy(np.ascontiguousarray(r_out))).sum()
    for s, r in zip(hn, state_arrays(cell, r_state)):
        loss = loss + (s[0] * torch.from_numpy(np.ascontiguousarray(r))).sum()
    loss.backward()
    grads = {name: getattr(mod, tname).grad.detach().numpy().copy() for name, tname in torch_names.items()}
    grads["x"] = tx.grad.detach().numpy().copy()
    grads["state0"] = make_state(cell, [s.grad[0].detach().numpy().copy() for s in t_state0])
    return {
        "out": out.detach().numpy().copy(),
        "state": make_state(cell, [s[0].detach().numpy().copy() for s in hn]),
        "grads": grads,
    }


# --- jobs for fastrnn.parallel.map_jobs (test_parallel, test_dask) ------------------------------
# Top-level functions here, so that worker processes (local or Dask) import them by reference.

def wait_for_file(path, limit: float = 60.0) -> bool:
    """Wait until ``path`` exists (True) or ``limit`` seconds passed (False): a guard, no timing."""
    import time
    from pathlib import Path

    t_end = time.monotonic() + limit
    while not Path(path).exists():
        if time.monotonic() > t_end:
            return False
        time.sleep(0.01)
    return True


def finish_out_of_order(job):
    """A job ``(i, folder)``: job 0 finishes only after job 1 has, so the completion order is 1, 0;
    returns ``10 * i``."""
    from pathlib import Path

    i, folder = job
    folder = Path(folder)
    if i == 0:
        assert wait_for_file(folder / "done-1"), "job 1 never finished"
    (folder / f"done-{i}").write_text("")
    return i * 10
