"""Shared pytest configuration.

Nothing here skips or deselects tests. Optional-dependency tests (the PyTorch
cross-checks) skip themselves with an explicit reason, and ``-ra`` in
pyproject.toml lists those reasons in the summary.
"""

from importlib import metadata


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def pytest_report_header(config):
    import fastrnn

    versions = ", ".join(f"{d} {_version(d)}" for d in ("numpy", "numba", "scipy", "torch"))
    return [f"fastrnn {fastrnn.__version__} from {fastrnn.__file__}", versions]


def pytest_configure(config):
    """With FASTRNN_REQUIRE_TORCH=1 (set by .ci/run once torch installed), a missing torch is an
    error rather than a skip, so CI cannot pass with the PyTorch cross-checks silently skipped."""
    import os

    if os.environ.get("FASTRNN_REQUIRE_TORCH") == "1":
        import torch  # noqa: F401  (fails the run if torch is missing)
