"""Naive and linear baselines on the same test windows as the model.

All forecasts are in original units and one row per window, shape
``(N, horizon)``; row ``i`` forecasts points ``starts[i] .. starts[i] +
horizon - 1`` using only points before ``starts[i]`` (for ``horizon > 1`` the
naive methods repeat and the AR model iterates on its own forecasts).

* **persistence**: ``y_hat[t] = y[t-1]``.
* **seasonal naive**: ``y_hat[t] = y[t-season]`` (``y[t + h - k*season]``
  with the smallest ``k`` that reaches the history for step ``h``).
* **linear AR**: least squares with intercept on the last ``look_back``
  values, fitted on the same representation as the model (after the log/diff
  transform, unscaled -- scaling does not change a least-squares fit with
  intercept), on every window whose targets lie before ``fit_end``. In
  :func:`evaluate` that is all points before the test part (training and
  validation: the baseline has nothing to tune), which reproduces the
  reference figures in ``fastrnn/data/PROVENANCE.md``.
* **AutoETS, AutoTheta, AutoARIMA** (:func:`statistical`, when the optional
  statsforecast is installed: ``pip install 'fastrnn[baselines]'``): fitted
  once on every point before the test part with ``season_length`` the run's
  season (AutoARIMA: none above 24, :func:`statistical_season`), then,
  with these parameters fixed, each test point forecast one step ahead
  from the actual values before it (the model's ``forward``):
  what statsforecast's ``cross_validation(h=1, step_size=1, refit=False)``
  computes, without its memory cost on long series. The import guard and the
  note without statsforecast are :mod:`fastrnn.forecast.panel_baselines`'.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from fastrnn.forecast.preprocessing import Prepared, apply_transform, parse_transform, undo_transform

__all__ = ["rmse", "mae", "persistence", "seasonal_naive", "linear_ar", "forecasts", "evaluate",
           "NAMES", "STATISTICAL", "ARIMA_MAX_SEASON", "Statistical", "statistical_one_step",
           "statistical_season", "statistical"]

NAMES = ("persistence", "seasonal_naive", "linear_ar")
#: statsforecast's models, in table order (keys of panel_baselines.STATSFORECAST_MODELS).
STATISTICAL = ("auto_ets", "auto_theta", "auto_arima")
#: Longest season AutoARIMA is given: a seasonal ARIMA's state has about 2 x season dimensions and
#: statsforecast's initial covariance grows with its fourth power (season 365 runs out of memory);
#: above it AutoARIMA is fitted without a season (statsforecast's AutoETS likewise fits no seasonal
#: model above 24).
ARIMA_MAX_SEASON = 24


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in size: {t.size} vs {p.size}")
    if t.size == 0:
        raise ValueError("cannot score an empty forecast")
    return t, p


def rmse(y_true, y_pred) -> float:
    """Root mean squared error over all elements."""
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((t - p) ** 2)))


def mae(y_true, y_pred) -> float:
    """Mean absolute error over all elements."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def _starts(values, starts) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(values, dtype=np.float64)
    s = np.asarray(starts, dtype=np.intp).ravel()
    if s.size and (s.min() < 1 or s.max() >= len(v)):
        raise ValueError("window starts must lie in 1 .. len(values) - 1")
    return v, s


def persistence(values, starts, horizon: int = 1) -> np.ndarray:
    """Last value before each window, repeated over the horizon: ``(N, horizon)``."""
    v, s = _starts(values, starts)
    return np.repeat(v[s - 1][:, None], horizon, axis=1)


def seasonal_naive(values, starts, season: int | None, horizon: int = 1) -> np.ndarray | None:
    """Value one season earlier: ``(N, horizon)``, or ``None`` if ``season`` is
    ``None``/< 1 or the first window has less than one season of history."""
    v, s = _starts(values, starts)
    if season is None or season < 1 or s.size == 0 or s.min() < season:
        return None
    h = np.arange(horizon)
    lag = season * (h // season + 1)  # smallest multiple of season that is > h
    return v[s[:, None] + h - lag]


def linear_ar(values, starts, look_back: int, horizon: int = 1, transform: str | None = None,
              fit_end: int | None = None) -> np.ndarray | None:
    """Least-squares AR(``look_back``) with intercept: ``(N, horizon)`` in original units.

    Fitted on the ``transform``-ed series (see module docstring) on windows
    whose target lies before ``fit_end`` (default: the first of ``starts``).
    Returns ``None`` if there are fewer training windows than coefficients.
    """
    v, s = _starts(values, starts)
    use_log, use_diff = parse_transform(transform)
    off = int(use_diff)
    if s.size and s.min() < look_back + off:
        raise ValueError(f"window starts must be >= {look_back + off} (look_back + diff offset)")
    fit_end = int(s.min()) if fit_end is None else int(fit_end)
    rep = apply_transform(v, use_log, use_diff)  # rep[k] is point k + off

    # Training windows: target point t in [look_back + off, fit_end).
    k = np.arange(look_back, fit_end - off)
    if k.size < look_back + 1:
        return None
    A = np.column_stack([np.ones(k.size), rep[k[:, None] + np.arange(-look_back, 0)]])
    coef, *_ = np.linalg.lstsq(A, rep[k], rcond=None)

    # Forecast, iterating on own forecasts for horizon > 1.
    hist = rep[(s - off)[:, None] + np.arange(-look_back, 0)]
    out = np.empty((s.size, horizon))
    for h in range(horizon):
        out[:, h] = coef[0] + hist @ coef[1:]
        hist = np.column_stack([hist[:, 1:], out[:, h]])
    return undo_transform(out, s, v, transform)


def forecasts(prep: Prepared, which: str = "test", season: int | None = None) -> dict:
    """Baseline forecasts for a part of ``prep``: ``{name: (N, horizon) array or None}``.

    ``season`` defaults to ``prep.season``. The AR model uses ``prep``'s
    look_back and transform and is fitted on all points before the test part.
    """
    s = prep.check_which(which)
    season = prep.season if season is None else season
    return {
        "persistence": persistence(prep.values, s, prep.horizon),
        "seasonal_naive": seasonal_naive(prep.values, s, season, prep.horizon),
        "linear_ar": linear_ar(prep.values, s, prep.look_back, prep.horizon, prep.transform,
                               fit_end=prep.split.test_start),
    }


def evaluate(prep: Prepared, season: int | None = None) -> dict:
    """Test scores of all baselines in original units.

    Returns:
        ``{"persistence": {"rmse": float, "mae": float}, "seasonal_naive": ... | None,
        "linear_ar": ... | None}`` (``None`` where a baseline does not apply).
    """
    y = prep.targets("test")
    return {
        name: None if pred is None else {"rmse": rmse(y, pred), "mae": mae(y, pred)}
        for name, pred in forecasts(prep, "test", season).items()
    }


def statistical_one_step(values, starts, season: int | None, model: str) -> np.ndarray:
    """One-step forecasts of statsforecast's ``model`` with fixed parameters: ``(N,)``.

    Fitted once on ``values[:starts[0]]``; point ``starts[i]`` is then forecast from
    ``values[:starts[i]]`` by the fitted model's ``forward`` (same parameters, the actual values
    before the point), as ``cross_validation(h=1, step_size=1, refit=False)`` does.

    Parameters
    ----------
    values : array_like
        The series in original units.
    starts : array_like of int
        Indices of the points to forecast, increasing.
    season : int or None
        ``season_length`` (``None``: 1).
    model : str
        ``"auto_ets"``, ``"auto_theta"`` or ``"auto_arima"``.

    Raises
    ------
    ImportError
        statsforecast is not installed (the message says how to install it).
    """
    from fastrnn.forecast.panel_baselines import statsforecast_model

    v, s = _starts(values, starts)
    if s.size and np.any(np.diff(s) <= 0):
        raise ValueError("starts must be increasing")
    fitted = statsforecast_model(model, season).fit(y=v[:s[0]])
    return np.array([fitted.forward(y=v[:t], h=1)["mean"][0] for t in s], dtype=np.float64)


@dataclass
class Statistical:
    """statsforecast's baselines on a part of a prepared series (:func:`statistical`).

    Attributes
    ----------
    forecasts : dict[str, numpy.ndarray]
        Name (:data:`STATISTICAL`) -> one-step forecasts ``(N,)``; the models that did not run are
        absent.
    seconds : dict[str, float]
        Name -> wall time of its fit and forecasts.
    seasons : dict[str, int]
        Name -> the ``season_length`` it was given (:func:`statistical_season`).
    notes : list of str
        One line if the models were skipped (statsforecast is not installed).
    """

    forecasts: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    seasons: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


def statistical_season(model: str, season: int | None) -> int:
    """The ``season_length`` :func:`statistical` gives ``model`` for a series of season ``season``:
    the season (1 without one), except that AutoARIMA is non-seasonal (1) above
    :data:`ARIMA_MAX_SEASON`.

    Parameters
    ----------
    model : str
        A name of :data:`STATISTICAL`.
    season : int or None
        The run's season.
    """
    m = season if season is not None and season > 1 else 1
    return 1 if model == "auto_arima" and m > ARIMA_MAX_SEASON else m


def statistical(prep: Prepared, which: str = "test") -> Statistical:
    """AutoETS, AutoTheta and AutoARIMA on the windows of part ``which`` of ``prep``, fitted on
    every point before it (:func:`statistical_one_step`), with the season of
    :func:`statistical_season` (``prep.season``; AutoARIMA without a season above 24).

    Parameters
    ----------
    prep : Prepared
        The run's windows (one step ahead).
    which : str
        ``"val"`` or ``"test"``.
    """
    from fastrnn.forecast.panel_baselines import missing_note, statsforecast_available

    s = prep.check_which(which)
    out = Statistical()
    if not statsforecast_available():
        out.notes.append(missing_note(STATISTICAL))
        return out
    for name in STATISTICAL:
        t0 = time.perf_counter()
        out.seasons[name] = statistical_season(name, prep.season)
        out.forecasts[name] = statistical_one_step(prep.values, s, out.seasons[name], name)
        out.seconds[name] = time.perf_counter() - t0
    return out
