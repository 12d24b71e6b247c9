"""Shared pytest configuration.

Nothing here skips or deselects tests. Optional-dependency tests (the PyTorch
cross-checks) skip themselves with an explicit reason, and ``-ra`` in
pyproject.toml lists those reasons in the summary.
"""

import os
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
    error rather than a skip, so CI cannot pass with the PyTorch cross-checks silently skipped;
    FASTRNN_REQUIRE_STATSFORECAST=1 does the same for statsforecast's panel baselines."""
    import os

    if os.environ.get("FASTRNN_REQUIRE_TORCH") == "1":
        import torch  # noqa: F401  (fails the run if torch is missing)
    if os.environ.get("FASTRNN_REQUIRE_STATSFORECAST") == "1":  # the same for the panel baselines
        import statsforecast  # noqa: F401


def pytest_collection_finish(session):
    """Compile the kernels (or load them from Numba's cache) once, before the first test, and say
    how long it took on a line of its own, so that the cold compile is not billed to whichever test
    happens to run first. FASTRNN_NO_WARMUP=1 skips it (for a quick run of a few NumPy-only tests).
    """
    if session.config.option.collectonly or not session.items:
        return
    if os.environ.get("FASTRNN_NO_WARMUP") == "1":
        return
    from fastrnn.warmup import warm_up

    seconds = warm_up()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"fastrnn: kernels warmed up in {seconds:.1f} s (the Numba compile on a "
                            f"cold cache; a load from the on-disk cache after)")
