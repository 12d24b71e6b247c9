"""The forecasting application behind ``fastrnn train`` and ``fastrnn predict``.

One call of :func:`run` does the whole train job::

    data -> prepare (transform, scale, windows) -> model -> fit (early stopping on validation)
         -> test metrics beside the baselines -> artefacts (model.npz, metrics.json, ...)

and :func:`forecast` extends a series recursively with a trained run.

Library use::

    from fastrnn import forecast
    cfg = forecast.make_config(dataset="airline")          # the tuned defaults
    result = forecast.train(cfg)                           # TrainResult
    result.metrics["test"]                                 # {"rmse": ..., "mae": ...}
    forecast.write_run(result, "runs/my-airline")          # model.npz, metrics.json, ...
    run = forecast.load_run("runs/my-airline")
    forecast.forecast(run, forecast.load_series(run.source_config()).values, steps=12)

The package, one module per concern (each imports only the ones above it in this list and the
library layer: ``fastrnn.models``, ``fastrnn.trainer``, ``fastrnn.optim``, ...; never
``fastrnn.cli``; ``tests/test_architecture.py`` checks it):

==================  ================================================================================
``datasets``        the shipped series and the CSV loader (:class:`~.datasets.Dataset`,
                    :class:`~.datasets.DataError`); ``csvread``: the text-level CSV reading
``preprocessing``   transforms, scalers, chronological split and windows (:class:`~.preprocessing.Prepared`)
``baselines``       persistence, seasonal naive, linear AR, and the error measures
``config``          :class:`TrainConfig`, the tuned :data:`DEFAULTS`, :func:`make_config`, validation
                    and the memory estimate; :class:`RunError`
``checkpoints``     one checkpoint per finished ensemble member (the resumable state)
``job``             :func:`load_series`, :func:`prepare_series`, :func:`build_model`,
                    :func:`fit_model`, :func:`predict_mean`, :func:`merge_ensemble` (old runs),
                    :func:`score`, :func:`train`,
                    the divergence warning
``intervals``       conformal prediction intervals from the validation residuals (``--level``)
``plots``           ``loss.png`` and ``forecast.png``
``predict``         ``preprocessing.json`` (written and checked), :func:`load_run`, :func:`forecast`,
                    :func:`future_dates`
``runs``            run folders (:class:`Staging`), :func:`run`, :func:`write_run`, resume
``panel``           panels of many series: :class:`~.panel.Panel`, the CSV / DataFrame reader
``metrics``         MASE, sMAPE, RMSSE, MAE, RMSE per series, per step, aggregated
``backtest``        rolling-origin windows (:class:`~.backtest.Plan`)
``panel_baselines`` naive, seasonal naive, linear AR (pooled, per series), statsforecast's models
``panel_model``     recurrent panel forecasters: global / local (a stack), direct / recursive
``panel_job``       :func:`fit_panel`, the backtest of the model against the baselines
``panel_runs``      panel run folders (metrics, per-series and forecast CSVs, plots) and predict
``sweeps``          :func:`sweep`: a hyperparameter grid scored on validation only, the best refitted
==================  ================================================================================

Everything in ``__all__`` below is importable from ``fastrnn.forecast`` itself.
"""

from __future__ import annotations

from fastrnn.forecast.config import (
    DEFAULTS,
    GENERIC,
    MODELS,
    OPTIMIZERS,
    READ_SETTINGS,
    SCALERS,
    TRANSFORMS,
    RunError,
    TrainConfig,
    make_config,
    training_memory,
)
from fastrnn.forecast.job import (
    DIVERGENCE_FACTOR,
    TrainResult,
    build_model,
    divergence_warning,
    fit_ensemble,
    fit_model,
    load_series,
    merge_ensemble,
    predict_mean,
    prepare_series,
    score,
    train,
)
from fastrnn.forecast.predict import Run, check_steps, forecast, future_dates, load_run, max_steps
from fastrnn.forecast.runs import Staging, default_out_dir, run, write_files, write_run

__all__ = [
    "DEFAULTS", "GENERIC", "MODELS", "TRANSFORMS", "SCALERS", "OPTIMIZERS", "READ_SETTINGS", "TrainConfig",
    "TrainResult", "Run", "make_config", "load_series", "prepare_series", "build_model",
    "fit_model", "score", "train", "run", "Staging", "default_out_dir", "write_run", "write_files",
    "load_run", "forecast", "future_dates", "max_steps", "check_steps", "training_memory",
    "RunError", "merge_ensemble", "predict_mean", "fit_panel", "PanelFit", "DIVERGENCE_FACTOR", "divergence_warning",
    "fit_ensemble", "sweep", "SweepResult", "GridError",
]


def __getattr__(name: str):
    """``fit_panel`` and ``PanelFit`` load the panel modules (pandas) on first use, so that
    ``fastrnn train --help`` (which reads the defaults above) stays light; so do ``sweep``,
    ``SweepResult`` and ``GridError`` (:mod:`fastrnn.forecast.sweeps`)."""
    if name in ("fit_panel", "PanelFit"):
        from fastrnn.forecast import panel_job

        return getattr(panel_job, name)
    if name in ("sweep", "SweepResult", "GridError"):
        from fastrnn.forecast import sweeps

        return getattr(sweeps, name)
    raise AttributeError(f"module 'fastrnn.forecast' has no attribute {name!r}")
