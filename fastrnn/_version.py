"""The package version, in a module that imports nothing (read by ``fastrnn --version`` and by
setuptools without importing numpy or numba)."""

__version__ = "0.1.0"
