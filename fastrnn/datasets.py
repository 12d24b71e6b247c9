"""Alias of :mod:`fastrnn.forecast.datasets`, the shipped series and the CSV loader.

``fastrnn.datasets.load_csv``, ``fastrnn.datasets.load``, ``fastrnn.datasets.load_panel`` and
``fastrnn.datasets.DataError`` are the documented import paths (README); the code lives in
:mod:`fastrnn.forecast.datasets`, part of the forecasting application, and this module re-exports
its public names (the same objects) and nothing else.
"""

from __future__ import annotations

from fastrnn.forecast.datasets import (
    DataError,
    Dataset,
    info,
    load,
    load_csv,
    load_panel,
    names,
    panel_names,
)

__all__ = ["DataError", "Dataset", "names", "load", "info", "load_csv", "panel_names", "load_panel"]
