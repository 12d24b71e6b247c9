"""Environment report used by ``fastrnn info``.

Every probe is guarded: a missing or broken optional component is reported as
text, never raised, so ``fastrnn info`` stays usable for bug reports even on a
half-working installation.
"""

from __future__ import annotations

import os
import platform
import sys

_THREAD_ENV_VARS = (
    "NUMBA_NUM_THREADS",
    "NUMBA_THREADING_LAYER",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "GOTO_NUM_THREADS",
    "MKL_NUM_THREADS",
    "FASTRNN_THREADS",
)


def _describe_error(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0]}" if msg else type(exc).__name__


def _module_version(name: str) -> str:
    try:
        module = __import__(name)
    except ImportError:
        return "not installed"
    except Exception as exc:  # a broken install must not break the report
        return f"import failed ({_describe_error(exc)})"
    return str(getattr(module, "__version__", "unknown version"))


def blas_info() -> str:
    """Name/version of the BLAS numpy uses.

    Prefers threadpoolctl (runtime view, includes thread count) when it happens
    to be installed; otherwise numpy's build configuration (numpy >= 1.26).
    """
    try:
        import numpy as np
    except Exception as exc:
        return f"unknown ({_describe_error(exc)})"

    try:
        from threadpoolctl import threadpool_info
    except Exception:
        pass
    else:
        try:
            pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        except Exception:
            pools = []
        if pools:
            return "; ".join(
                f"{p.get('internal_api', '?')} {p.get('version') or ''}".rstrip()
                + f" ({p.get('num_threads', '?')} threads)"
                for p in pools
            )

    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
    except Exception:
        return "unknown (numpy does not report its BLAS)"
    name = blas.get("name", "unknown")
    version = blas.get("version", "")
    return f"{name} {version}".rstrip() + " (numpy build config)"


def numba_threading_info() -> list[tuple[str, str]]:
    """Configured and actually selected Numba threading layer, thread counts."""
    try:
        import numba
    except Exception as exc:
        return [("numba threading", f"unavailable ({_describe_error(exc)})")]

    rows = [("numba threading layer (config)", str(numba.config.THREADING_LAYER))]
    try:
        # The layer is only chosen when the first parallel function runs.
        @numba.njit(parallel=True, cache=False)
        def _tiny(n):
            acc = 0.0
            for i in numba.prange(n):
                acc += i
            return acc

        _tiny(16)
        layer = str(numba.threading_layer())
    except Exception as exc:
        layer = f"unavailable ({_describe_error(exc)})"
    rows.append(("numba threading layer (active)", layer))
    try:
        current = str(numba.get_num_threads())
    except Exception as exc:
        current = f"unknown ({_describe_error(exc)})"
    rows.append(
        ("numba threads", f"{current} in use, NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}")
    )
    return rows


def thread_policy_info() -> str:
    """The thread policy in force (:func:`fastrnn.threads.describe`), or why it is unknown."""
    try:
        from fastrnn import threads
    except Exception as exc:
        return f"unknown ({_describe_error(exc)})"
    try:
        return threads.describe()
    except Exception as exc:  # e.g. FASTRNN_THREADS=abc
        return f"unknown ({_describe_error(exc)})"


def cpu_info() -> str:
    total = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return f"{total}"
    return f"{total} (usable by this process: {usable})"


def torch_info() -> str:
    try:
        import torch
    except ImportError:
        return "not installed (PyTorch cross-checks will be skipped)"
    except Exception as exc:
        return f"import failed ({_describe_error(exc)})"
    return str(getattr(torch, "__version__", "unknown version"))


def collect_info() -> list[tuple[str, str]]:
    """All report rows as (label, value) pairs, in display order."""
    import fastrnn

    rows = [
        ("fastrnn", f"{fastrnn.__version__} ({os.path.dirname(os.path.abspath(fastrnn.__file__))})"),
        (
            "Python",
            f"{platform.python_version()} ({platform.python_implementation()}, {sys.executable})",
        ),
        ("platform", platform.platform()),
    ]
    for name in ("numpy", "numba", "llvmlite", "scipy"):
        rows.append((name, _module_version(name)))
    rows.append(("BLAS", blas_info()))
    rows.extend(numba_threading_info())
    rows.append(("CPUs", cpu_info()))
    env = [f"{k}={os.environ[k]}" for k in _THREAD_ENV_VARS if k in os.environ]
    rows.append(("thread env vars", " ".join(env) if env else "none set"))
    rows.append(("thread policy", thread_policy_info()))
    # torch last: importing it can change OpenMP state, so probe Numba first.
    rows.append(("torch", torch_info()))
    return rows


def format_info(rows: list[tuple[str, str]]) -> str:
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label + ':':<{width + 1}} {value}" for label, value in rows)
