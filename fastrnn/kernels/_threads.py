"""Thread counts of the BLAS libraries the kernels use.

The kernels call BLAS twice over: through Numba's ``np.dot`` (SciPy's OpenBLAS, reached through
``scipy.linalg.cython_blas``) and, in the NumPy reference, through NumPy's own OpenBLAS. They are two
libraries with two thread pools. This module finds them in the running process (no threadpoolctl
needed) so that a benchmark can give every library the same thread count, and so that the kernels
can tell whether BLAS runs multi-threaded.

Only OpenBLAS builds (the ones pip installs for NumPy and SciPy) are handled; with any other BLAS
the functions do nothing and report ``None``.
"""

from __future__ import annotations

import ctypes
import os

_SET = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
        "openblas_set_num_threads")
_GET = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads", "openblas_get_num_threads64_",
        "openblas_get_num_threads")

_libs = None


def _loaded_openblas_paths():
    """Paths of the OpenBLAS shared libraries mapped into this process (Linux: /proc/self/maps)."""
    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.rstrip("\n").split(maxsplit=5)[-1]
                name = os.path.basename(path)
                if "openblas" in name and ".so" in name and path not in paths:
                    paths.append(path)
    except OSError:
        pass
    return paths


def openblas_libs():
    """``[(path, set_fn, get_fn, ilp64)]`` for NumPy's and SciPy's OpenBLAS, loading SciPy's if needed."""
    global _libs
    if _libs is None:
        import numpy  # noqa: F401  (maps NumPy's BLAS)

        try:
            import scipy.linalg.cython_blas  # noqa: F401  (the BLAS Numba's np.dot calls)
        except ImportError:
            pass
        libs = []
        for path in _loaded_openblas_paths():
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            set_name = next((s for s in _SET if hasattr(lib, s)), None)
            get_name = next((s for s in _GET if hasattr(lib, s)), None)
            if set_name is None or get_name is None:
                continue
            set_fn, get_fn = getattr(lib, set_name), getattr(lib, get_name)
            set_fn.argtypes, set_fn.restype = [ctypes.c_int], None
            get_fn.argtypes, get_fn.restype = [], ctypes.c_int
            # ILP64 builds (NumPy's) suffix their symbols with 64_; SciPy's is the LP64 one.
            libs.append((path, set_fn, get_fn, set_name.endswith("64_")))
        _libs = libs
    return _libs


def blas_threads():
    """``{library basename: thread count}`` of every OpenBLAS in the process (empty if none found)."""
    return {os.path.basename(p): int(get()) for p, _, get, _ in openblas_libs()}


def numba_blas_threads():
    """Thread count of the BLAS that Numba's ``np.dot`` calls (SciPy's OpenBLAS), or None if unknown."""
    for _, _, get, ilp64 in openblas_libs():
        if not ilp64:
            return int(get())
    return None


def set_blas_threads(n):
    """Set every OpenBLAS in the process to ``n`` threads. Returns :func:`blas_threads` afterwards."""
    n = int(n)
    if n < 1:
        raise ValueError(f"the number of BLAS threads must be >= 1; got {n}")
    for _, set_fn, _, _ in openblas_libs():
        set_fn(n)
    return blas_threads()



def restore_blas_threads(saved):
    """Give every OpenBLAS the count it had in ``saved``, a :func:`blas_threads` result (libraries
    not in it are left alone)."""
    for path, set_fn, _, _ in openblas_libs():
        n = saved.get(os.path.basename(path))
        if n:
            set_fn(int(n))
