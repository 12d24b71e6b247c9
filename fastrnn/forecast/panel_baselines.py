"""Baselines for a panel of series at rolling origins (see :mod:`fastrnn.forecast.backtest`).

Each baseline is a forecaster ``f(histories, horizon) -> (S, horizon)``: it sees only the data
of each series before the origin, and every model is refitted at every origin.

* ``naive``: the last value, repeated.
* ``seasonal_naive``: the value one season earlier (:func:`fastrnn.forecast.baselines.seasonal_naive`).
* ``linear_ar_local``: one least-squares AR(``look_back``) with intercept per series
  (:func:`fastrnn.forecast.baselines.linear_ar`), recursive for ``horizon > 1``.
* ``linear_ar_pooled``: one least-squares AR(``look_back``) with intercept fitted on the windows
  of every series together, each series standardised by the mean and standard deviation of its
  own history (after the optional ``transform``), recursive for ``horizon > 1``, mapped back
  per series.
* ``auto_ets``, ``auto_theta`` and (only with ``arima=True``, it is slow) ``auto_arima``:
  statsforecast's ``AutoETS``, ``AutoTheta`` and ``AutoARIMA`` with ``season_length = season``,
  fitted per series on the history (``StatsForecast(models, freq=1, n_jobs=1).forecast`` on a
  long DataFrame ``unique_id, ds, y`` with integer ``ds``). They need the optional
  ``statsforecast`` (``pip install 'fastrnn[baselines]'``); without it their rows are absent
  and :attr:`PanelBaselines.notes` says so.

A baseline that cannot forecast a series (too little history for the look-back or the season)
gives ``NaN`` for it, which :func:`fastrnn.forecast.metrics.score` reports as skipped with the
reason.

Why a module of its own rather than more of :mod:`~fastrnn.forecast.baselines`: that module
works on one series and the windows of :func:`~fastrnn.forecast.preprocessing.prepare` (a
:class:`~fastrnn.forecast.preprocessing.Prepared`); this one works on many series and
histories, and reuses its single-series functions for the naive, seasonal naive and local AR
forecasts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fastrnn.forecast import backtest as _backtest
from fastrnn.forecast import baselines as _single
from fastrnn.forecast.config import check_positive_int
from fastrnn.forecast.preprocessing import (
    StandardScaler,
    apply_transform,
    parse_transform,
    undo_transform,
)

__all__ = ["NAMES", "STATSFORECAST_MODELS", "MISSING_STATSFORECAST", "PanelBaselines", "naive",
           "seasonal_naive", "linear_ar_local", "linear_ar_pooled", "statsforecast_available",
           "statsforecast_model", "missing_note", "statistical", "panel_baselines"]

NAMES = ("naive", "seasonal_naive", "linear_ar_pooled", "linear_ar_local", "auto_ets",
         "auto_theta", "auto_arima")
STATSFORECAST_MODELS = {"auto_ets": "AutoETS", "auto_theta": "AutoTheta", "auto_arima": "AutoARIMA"}


def missing_note(models: Sequence[str]) -> str:
    """The note line saying that statsforecast's ``models`` (names of
    :data:`STATSFORECAST_MODELS`, e.g. ``["auto_ets", "auto_theta"]``) were skipped and how to get
    them; the panel and the single-series tables print it alike.

    Parameters
    ----------
    models : sequence of str
        Keys of :data:`STATSFORECAST_MODELS`, in table order.
    """
    names = [STATSFORECAST_MODELS[m] for m in models]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return (f"Note: {listed} baselines skipped: statsforecast is not installed "
            f"(pip install 'fastrnn[baselines]' to get them)")


MISSING_STATSFORECAST = missing_note(["auto_ets", "auto_theta"])


def _padded(h) -> np.ndarray:
    """The history with one NaN appended: the single-series baselines forecast "from index n"
    of a series of n + 1 points; a forecast that read the placeholder would come out NaN."""
    return np.append(np.asarray(h, dtype=np.float64), np.nan)


def naive(histories: Sequence, horizon: int) -> np.ndarray:
    """The last value of each history, repeated: ``(S, horizon)``.

    Parameters
    ----------
    histories : sequence of array_like
        The data of each series before the origin.
    horizon : int
        Steps to forecast.
    """
    horizon = check_positive_int("horizon", horizon, 1)
    return np.array([_single.persistence(_padded(h), [len(h)], horizon)[0]
                     if len(h) else np.full(horizon, np.nan) for h in histories]).reshape(-1, horizon)


def seasonal_naive(histories: Sequence, horizon: int, season: int) -> np.ndarray:
    """The value one season earlier (the last season repeated): ``(S, horizon)``; ``NaN`` for a
    history shorter than ``season``.

    Parameters
    ----------
    histories : sequence of array_like
        The data of each series before the origin.
    horizon : int
        Steps to forecast.
    season : int
        Season length.
    """
    horizon = check_positive_int("horizon", horizon, 1)
    season = check_positive_int("season", season, 1)
    rows = []
    for h in histories:
        f = _single.seasonal_naive(_padded(h), [len(h)], season, horizon) if len(h) else None
        rows.append(np.full(horizon, np.nan) if f is None else f[0])
    return np.array(rows).reshape(-1, horizon)


def linear_ar_local(histories: Sequence, horizon: int, look_back: int,
                    transform: str | None = None) -> np.ndarray:
    """One least-squares AR(``look_back``) with intercept per series, fitted on all of its
    history, recursive over the horizon: ``(S, horizon)``; ``NaN`` for a series with fewer
    training windows than coefficients.

    Parameters
    ----------
    histories : sequence of array_like
        The data of each series before the origin.
    horizon, look_back : int
        Steps to forecast; lags of the AR model.
    transform : str or None
        ``None``, ``"log"``, ``"diff"`` or ``"log+diff"``, applied before the fit.
    """
    horizon = check_positive_int("horizon", horizon, 1)
    look_back = check_positive_int("look_back", look_back, 1)
    off = int(parse_transform(transform)[1])
    rows = []
    for h in histories:
        f = None
        if len(h) >= 2 * look_back + 1 + off:  # linear_ar needs look_back + 1 windows
            f = _single.linear_ar(_padded(h), [len(h)], look_back, horizon, transform, fit_end=len(h))
        rows.append(np.full(horizon, np.nan) if f is None else f[0])
    return np.array(rows).reshape(-1, horizon)


def linear_ar_pooled(histories: Sequence, horizon: int, look_back: int,
                     transform: str | None = None) -> np.ndarray:
    """One least-squares AR(``look_back``) with intercept fitted on the windows of every series,
    each standardised by its own history's mean and standard deviation: ``(S, horizon)``.

    Parameters
    ----------
    histories : sequence of array_like
        The data of each series before the origin.
    horizon, look_back : int
        Steps to forecast; lags of the AR model.
    transform : str or None
        ``None``, ``"log"``, ``"diff"`` or ``"log+diff"``, applied per series before scaling.

    Returns
    -------
    numpy.ndarray
        ``(S, horizon)`` in original units; ``NaN`` rows for series shorter than the look-back
        (they are not fitted on either), all ``NaN`` if the panel has fewer windows than
        coefficients.
    """
    horizon = check_positive_int("horizon", horizon, 1)
    look_back = check_positive_int("look_back", look_back, 1)
    use_log, use_diff = parse_transform(transform)
    scaled, scalers, X, y = [], [], [], []
    for h in histories:
        h = np.asarray(h, dtype=np.float64)
        if len(h) < look_back + int(use_diff):
            scaled.append(None)
            scalers.append(None)
            continue
        rep = apply_transform(h, use_log, use_diff)
        sc = StandardScaler().fit(rep)
        z = sc.transform(rep)
        scaled.append(z)
        scalers.append(sc)
        if len(z) > look_back:
            w = np.lib.stride_tricks.sliding_window_view(z, look_back + 1)
            X.append(w[:, :look_back])
            y.append(w[:, look_back])
    out = np.full((len(histories), horizon), np.nan)
    n_win = sum(len(v) for v in y)
    if n_win < look_back + 1:
        return out
    A = np.column_stack([np.ones(n_win), np.concatenate(X)])
    coef, *_ = np.linalg.lstsq(A, np.concatenate(y), rcond=None)
    for s, (h, z, sc) in enumerate(zip(histories, scaled, scalers)):
        if z is None:
            continue
        hist = z[-look_back:].copy()
        f = np.empty(horizon)
        for k in range(horizon):
            f[k] = coef[0] + hist @ coef[1:]
            hist = np.append(hist[1:], f[k])
        n = len(h)
        out[s] = undo_transform(sc.inverse_transform(f)[None, :], np.array([n]),
                                np.asarray(h, dtype=np.float64), transform)[0]
    return out


def statsforecast_available() -> bool:
    """Whether the optional ``statsforecast`` package can be imported."""
    try:
        import statsforecast  # noqa: F401
    except ImportError:
        return False
    return True


def statsforecast_model(model: str, season: int | None):
    """A new, unfitted statsforecast model: ``AutoETS``, ``AutoTheta`` or ``AutoARIMA`` with
    ``season_length = season`` (``None``: 1).

    Parameters
    ----------
    model : str
        ``"auto_ets"``, ``"auto_theta"`` or ``"auto_arima"`` (:data:`STATSFORECAST_MODELS`).
    season : int or None
        The season length.

    Raises
    ------
    ValueError
        An unknown ``model``.
    ImportError
        statsforecast is not installed (the message says how to install it).
    """
    if model not in STATSFORECAST_MODELS:
        raise ValueError(f"unknown statsforecast model {model!r}; choose one of: "
                         f"{', '.join(STATSFORECAST_MODELS)}")
    m = 1 if season is None else check_positive_int("season", season, 1)
    try:
        from statsforecast import models as sf_models
    except ImportError as e:
        raise ImportError(f"{STATSFORECAST_MODELS[model]} needs statsforecast; "
                          f"pip install 'fastrnn[baselines]'") from e
    return getattr(sf_models, STATSFORECAST_MODELS[model])(season_length=m)


def statistical(histories: Sequence, horizon: int, season: int | None, model: str) -> np.ndarray:
    """statsforecast's ``AutoETS``, ``AutoTheta`` or ``AutoARIMA`` fitted per series:
    ``(S, horizon)``.

    Parameters
    ----------
    histories : sequence of array_like
        The data of each series before the origin.
    horizon : int
        Steps to forecast.
    season : int or None
        ``season_length`` (``None``: 1).
    model : str
        ``"auto_ets"``, ``"auto_theta"`` or ``"auto_arima"``.

    Raises
    ------
    ImportError
        statsforecast is not installed (the message says how to install it).
    """
    horizon = check_positive_int("horizon", horizon, 1)
    sf_model = statsforecast_model(model, season)
    import pandas as pd
    from statsforecast import StatsForecast

    name = STATSFORECAST_MODELS[model]
    lengths = [len(h) for h in histories]
    df = pd.DataFrame({
        "unique_id": np.repeat(np.arange(len(histories)), lengths),
        "ds": np.concatenate([np.arange(n) for n in lengths]) if lengths else np.array([], int),
        "y": np.concatenate([np.asarray(h, dtype=np.float64) for h in histories])
        if lengths else np.array([]),
    })
    sf = StatsForecast(models=[sf_model], freq=1, n_jobs=1)
    res = sf.forecast(df=df, h=horizon)
    if "unique_id" not in res.columns:  # older releases put the id in the index
        res = res.reset_index()
    out = np.full((len(histories), horizon), np.nan)
    for uid, g in res.groupby("unique_id", sort=False):
        out[int(uid)] = g.sort_values("ds")[name].to_numpy(dtype=np.float64)
    return out


def _statistical_job(job):
    """One chunk of series for :func:`statistical` (a :func:`fastrnn.parallel.map_jobs` job)."""
    histories, horizon, season, model = job
    return statistical(histories, horizon, season, model)


def _statistical_parallel(histories, horizon, season, model):
    """:func:`statistical` on the series split into one chunk per process (``--jobs``): the same
    forecasts (each series is fitted on its own), on more cores."""
    from fastrnn import threads
    from fastrnn.parallel import map_jobs

    n = min(threads.parallelism(), max(1, len(histories) // 20))
    if n <= 1:
        return statistical(histories, horizon, season, model)
    bounds = np.linspace(0, len(histories), n + 1).astype(int)
    jobs = [(list(histories[a:b]), horizon, season, model) for a, b in zip(bounds[:-1], bounds[1:])]
    return np.concatenate(map_jobs(_statistical_job, jobs, n_jobs=n))


@dataclass
class PanelBaselines:
    """Forecasts of every baseline at every origin of a :class:`~fastrnn.forecast.backtest.Plan`.

    Attributes
    ----------
    forecasts : dict[str, numpy.ndarray]
        Name (:data:`NAMES`) -> ``(len(plan.used), plan.windows, plan.horizon)``, ``NaN`` where
        the baseline cannot forecast a series. Baselines that did not run are absent.
    seconds : dict[str, float]
        Name -> wall time of its fits and forecasts over all origins.
    cpu_seconds : dict[str, float]
        Name -> CPU time of this process for the same (steadier than wall time on a busy machine).
    notes : list of str
        One line per baseline that did not run, with the reason.
    """

    forecasts: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    cpu_seconds: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


def panel_baselines(p: _backtest.Plan, series: Sequence, season: int | None,
                    look_back: int | None = None, transform: str | None = None,
                    statistical_models: bool = True, arima: bool = False) -> PanelBaselines:
    """Every baseline at every origin of ``p`` (module docstring).

    Parameters
    ----------
    p : Plan
        The backtest windows (:func:`fastrnn.forecast.backtest.plan`).
    series : sequence of array_like
        The series ``p`` was made for.
    season : int or None
        The panel's season (``None`` or 1: no seasonal naive row; statsforecast models without
        a season).
    look_back : int or None
        Lags of the AR baselines (default: ``p.look_back``).
    transform : str or None
        Transform of the AR baselines.
    statistical_models : bool
        Run AutoETS and AutoTheta when statsforecast is installed.
    arima : bool
        Also AutoARIMA (slow).
    """
    look_back = p.look_back if look_back is None else check_positive_int("look_back", look_back, 1)
    runs = {"naive": lambda hs, h: naive(hs, h)}
    if season is not None and season > 1:
        runs["seasonal_naive"] = lambda hs, h: seasonal_naive(hs, h, season)
    runs["linear_ar_pooled"] = lambda hs, h: linear_ar_pooled(hs, h, look_back, transform)
    runs["linear_ar_local"] = lambda hs, h: linear_ar_local(hs, h, look_back, transform)
    out = PanelBaselines()
    wanted = (["auto_ets", "auto_theta"] if statistical_models else []) + (["auto_arima"] if arima else [])
    if wanted and not statsforecast_available():
        out.notes.append(missing_note(wanted))
    elif wanted:
        for w in wanted:
            runs[w] = (lambda model: lambda hs, h: _statistical_parallel(hs, h, season, model))(w)
    for name, f in runs.items():
        t0, c0 = time.perf_counter(), time.process_time()
        out.forecasts[name] = _backtest.forecast_windows(p, series, f)
        out.seconds[name] = time.perf_counter() - t0
        out.cpu_seconds[name] = time.process_time() - c0
    return out
