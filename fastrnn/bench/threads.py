"""Thread counts of every library in the process, and the GEMM peak they reach.

``threads`` is given to Numba (``numba.set_num_threads``), to every OpenBLAS in the process and to
PyTorch (``torch.set_num_threads``), so all sides of a benchmark use the same number of cores. The
peak is measured through the BLAS the kernels call (Numba's ``np.dot``) with the thread counts in
force. A thread policy (which products get more than one BLAS thread) belongs here too.
"""

from __future__ import annotations

import sys
from types import ModuleType

import numpy as np

from fastrnn.bench import timing

_gemm = None


def torch_module() -> ModuleType | None:
    """PyTorch if it is importable, else None (the benchmark then skips it)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def get_threads() -> dict:
    """Current thread counts.

    Returns
    -------
    dict
        ``{"numba": n, "blas": {library file name: n}, "torch": n or None}`` (torch None unless
        already imported).
    """
    import numba

    from fastrnn.kernels._threads import blas_threads

    torch = torch_module() if "torch" in sys.modules else None
    return {"numba": numba.get_num_threads(), "blas": blas_threads(),
            "torch": torch.get_num_threads() if torch else None}


def set_threads(n: int, torch_too: bool = True, numpy_blas: int | None = None) -> None:
    """Give Numba, every OpenBLAS and PyTorch ``n`` threads.

    Parameters
    ----------
    n : threads, >= 1 and at most ``NUMBA_NUM_THREADS`` (fixed at start-up).
    torch_too : also import PyTorch (if installed) to set its threads; an already imported PyTorch
        is always set.
    numpy_blas : if given, the threads of NumPy's own OpenBLAS (a separate library from the one
        Numba's ``np.dot`` calls, SciPy's).

    Raises
    ------
    ValueError
        If ``n`` < 1 or ``n`` exceeds ``NUMBA_NUM_THREADS``.
    """
    import numba

    from fastrnn.threads import set_blas_threads  # also holds the thread policy off while timing

    n = int(n)
    if n < 1:
        raise ValueError(f"threads must be >= 1; got {n}")
    if n > numba.config.NUMBA_NUM_THREADS:
        raise ValueError(
            f"threads={n} exceeds NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}; "
            "set the environment variable NUMBA_NUM_THREADS before starting Python"
        )
    numba.set_num_threads(n)
    set_blas_threads(n)
    if numpy_blas is not None:
        from fastrnn.kernels._threads import openblas_libs

        for _, set_fn, _, ilp64 in openblas_libs():
            if ilp64:
                set_fn(int(numpy_blas))
    torch = torch_module() if torch_too or "torch" in sys.modules else None
    if torch is not None:
        torch.set_num_threads(n)


def restore_threads(saved: dict) -> None:
    """Set the thread counts back to ``saved``, a :func:`get_threads` result."""
    import numba

    from fastrnn.kernels._threads import restore_blas_threads
    from fastrnn.threads import set_blas_threads

    numba.set_num_threads(saved["numba"])
    restore_blas_threads(saved["blas"])
    set_blas_threads(None)  # the thread policy decides again
    torch = torch_module() if "torch" in sys.modules else None
    if torch is not None and saved["torch"]:
        torch.set_num_threads(saved["torch"])


def gemm_peak(dtype: str, n: int | None = None, repeat: int = 9) -> float:
    """GFLOP/s of a square ``n x n`` matrix product through the BLAS the kernels use.

    The product runs through Numba's ``np.dot`` with the current thread counts, timed with
    :data:`fastrnn.bench.timing.CLOCK`; the best of ``repeat`` is reported (a peak: on a shared
    machine the median wanders with the load).

    Parameters
    ----------
    dtype : "float32" or "float64".
    n : matrix size (default 2048 in float32, 1536 in float64).
    repeat : timed products.

    Returns
    -------
    float
        GFLOP/s.
    """
    global _gemm
    if _gemm is None:
        from numba import njit

        @njit(cache=True)
        def _gemm_kernel(a, b, c):
            np.dot(a, b, c)

        _gemm = _gemm_kernel
    dtype = np.dtype(dtype)
    n = n or (2048 if dtype == np.float32 else 1536)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    c = np.empty((n, n), dtype)
    _gemm(a, b, c)  # compile / warm up
    clock = timing.CLOCK
    times = []
    for _ in range(repeat):
        t0 = clock()
        _gemm(a, b, c)
        times.append(clock() - t0)
    return 2.0 * n**3 / min(times) / 1e9
