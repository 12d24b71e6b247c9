"""Forecast accuracy over a panel of series: MASE, sMAPE, RMSSE, MAE, RMSE.

Everything works on plain data: one forecast origin, ``S`` series, horizon ``H``.
``actual`` and ``forecast`` are ``(S, H)`` arrays (row ``s``: the ``H`` points of series ``s``
from the origin on), ``history`` is a sequence of ``S`` 1-D arrays, each series' data before
the origin (its training part; the lengths may differ). For series ``s`` with errors
``e_h = y_h - yhat_h``, ``h = 1 .. H``:

* **MAE** ``= mean_h |e_h|``; **RMSE** ``= sqrt(mean_h e_h^2)``.
* **sMAPE** (M4) ``= mean_h 200 |e_h| / (|y_h| + |yhat_h|)``, in percent; a step with
  ``y_h = yhat_h = 0`` counts as 0.
* **MASE** (M4) ``= MAE / scale``, with ``scale`` the in-sample MAE of the seasonal naive
  forecast of season ``m`` on the history, ``mean_{t >= m} |x_t - x_{t-m}|`` (``m = 1``, the
  one-step naive forecast, when there is no season).
* **RMSSE** (M5) ``= RMSE / scale2``, with ``scale2 = sqrt(mean_{t >= 1} (x_t - x_{t-1})^2)``,
  the in-sample RMSE of the **one-step naive** forecast (M5's definition; not seasonal).

A scale that is zero (a constant history) or undefined (a history of ``m`` points or fewer)
leaves that series' MASE or RMSSE ``NaN``, never ``inf``, and the series is listed in
:attr:`Scores.skipped` with the reason; the means are over the series where a metric is
defined, and :attr:`Scores.counted` says how many that is. A forecast that is not finite
(a baseline that failed for a series) makes every metric of that series ``NaN``, with a reason.

Aggregates: per series (:attr:`Scores.per_series`), the mean over series
(:attr:`Scores.mean`) and per horizon step (:attr:`Scores.per_step`: for MAE, MASE and sMAPE
the mean over series of that step's value; for RMSE and RMSSE the root of the mean over series
of the squared (scaled) error at that step). :func:`share_better` gives the share of series on
which one model beats another (e.g. seasonal naive).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fastrnn.forecast.config import check_positive_int

__all__ = ["METRICS", "Scores", "mase_scale", "rmsse_scale", "score", "share_better"]

METRICS = ("mase", "smape", "rmsse", "mae", "rmse")


def _history(x, s: int | None = None) -> np.ndarray:
    h = np.asarray(x, dtype=np.float64)
    what = "history" if s is None else f"history of series {s}"
    if h.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {h.shape}; pass one array per series")
    if not np.isfinite(h).all():
        raise ValueError(f"{what} has missing or infinite values; clean the data first")
    return h


def mase_scale(history, season: int | None = None) -> float:
    """In-sample MAE of the seasonal naive forecast on ``history``: ``mean |x_t - x_{t-m}|``.

    Parameters
    ----------
    history : array_like
        The series before the forecast origin, 1-D.
    season : int or None
        ``m``; ``None`` or 1 for no season (then the one-step naive forecast).

    Returns
    -------
    float
        The scale, ``NaN`` when ``history`` has ``m`` points or fewer. May be 0.
    """
    m = 1 if season is None else check_positive_int("season", season, 1)
    h = _history(history)
    if h.size <= m:
        return float("nan")
    return float(np.mean(np.abs(h[m:] - h[:-m])))


def rmsse_scale(history) -> float:
    """In-sample RMSE of the one-step naive forecast: ``sqrt(mean (x_t - x_{t-1})^2)`` (M5).

    Parameters
    ----------
    history : array_like
        The series before the forecast origin, 1-D.

    Returns
    -------
    float
        The scale, ``NaN`` for fewer than 2 points. May be 0.
    """
    h = _history(history)
    if h.size < 2:
        return float("nan")
    return float(np.sqrt(np.mean(np.diff(h) ** 2)))


@dataclass(frozen=True)
class Scores:
    """The metrics of one forecast over a panel, at one origin.

    Attributes
    ----------
    per_series : dict[str, numpy.ndarray]
        Metric name (:data:`METRICS`) -> ``(S,)``, ``NaN`` where undefined.
    per_step : dict[str, numpy.ndarray]
        Metric name -> ``(H,)``, aggregated over the series where the metric is defined.
    mean : dict[str, float]
        Metric name -> mean over the series where it is defined (``NaN`` if none is).
    counted : dict[str, int]
        Metric name -> number of series in the mean.
    skipped : dict[int, str]
        Series index -> why some metric of it is undefined.
    """

    per_series: dict
    per_step: dict
    mean: dict
    counted: dict
    skipped: dict


def _mean_rows(a: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Mean over the rows where ``ok``; NaN (without a warning) where there is none."""
    if not ok.any():
        return np.full(a.shape[1:], np.nan)
    return a[ok].mean(axis=0)


def score(actual, forecast, history: Sequence, season: int | None = None) -> Scores:
    """MASE, sMAPE, RMSSE, MAE and RMSE of ``forecast`` against ``actual`` (module docstring).

    Parameters
    ----------
    actual, forecast : array_like
        ``(S, H)``: the actual values and the forecasts of each series from the origin on
        (a 1-D array is one series).
    history : sequence of array_like
        ``S`` 1-D arrays, the data of each series before the origin (for the scales).
    season : int or None
        The season of the MASE scale; ``None`` or 1: none.

    Returns
    -------
    Scores

    Raises
    ------
    ValueError
        Shapes that do not match, an empty panel or horizon, or non-finite actual values.
    """
    y = np.atleast_2d(np.asarray(actual, dtype=np.float64))
    f = np.atleast_2d(np.asarray(forecast, dtype=np.float64))
    if y.ndim != 2 or y.shape != f.shape:
        raise ValueError(f"actual and forecast must have the same shape (series, horizon); got "
                         f"{np.shape(actual)} and {np.shape(forecast)}")
    n_series, horizon = y.shape
    if n_series == 0 or horizon == 0:
        raise ValueError(f"cannot score an empty forecast (shape {y.shape}); pass at least one "
                         f"series and one step")
    if len(history) != n_series:
        raise ValueError(f"history must hold one array per series: {n_series} series, got "
                         f"{len(history)} histories")
    if not np.isfinite(y).all():
        s = int(np.flatnonzero(~np.isfinite(y).all(axis=1))[0])
        raise ValueError(f"actual values of series {s} are missing or infinite; clean the data first")
    m = 1 if season is None else check_positive_int("season", season, 1)
    hist = [_history(h, s) for s, h in enumerate(history)]
    scale = np.array([mase_scale(h, m) for h in hist])
    scale2 = np.array([rmsse_scale(h) for h in hist])

    skipped: dict[int, str] = {}
    good_f = np.isfinite(f).all(axis=1)
    for s in range(n_series):
        why = []
        if not good_f[s]:
            why.append("the forecast is missing or not finite")
        else:
            for name, sc, need in (("MASE", scale[s], m + 1), ("RMSSE", scale2[s], 2)):
                if np.isnan(sc):
                    why.append(f"{name} undefined: {hist[s].size} training points, needs at "
                               f"least {need}")
                elif sc == 0:
                    why.append(f"{name} undefined: the training part is constant (scale 0)")
        if why:
            skipped[s] = "; ".join(why)

    e = y - f
    ae = np.abs(e)
    denom = np.abs(y) + np.abs(f)
    with np.errstate(invalid="ignore", divide="ignore"):
        sape = np.where(denom > 0, 200.0 * ae / np.where(denom > 0, denom, 1.0), 0.0)
        ok_mase = good_f & (scale > 0)  # NaN > 0 is False
        ok_rmsse = good_f & (scale2 > 0)
        se = ae / np.where(ok_mase, scale, 1.0)[:, None]            # scaled absolute errors
        se2 = (e / np.where(ok_rmsse, scale2, 1.0)[:, None]) ** 2  # squared scaled errors

    ok = {"mase": ok_mase, "smape": good_f, "rmsse": ok_rmsse, "mae": good_f, "rmse": good_f}
    step = {"mase": se, "smape": sape, "rmsse": se2, "mae": ae, "rmse": e ** 2}
    per_series, per_step, mean, counted = {}, {}, {}, {}
    for name in METRICS:
        v = step[name].mean(axis=1)
        if name in ("rmse", "rmsse"):
            v = np.sqrt(v)
        v = np.where(ok[name], v, np.nan)
        per_series[name] = v
        p = _mean_rows(step[name], ok[name])
        per_step[name] = np.sqrt(p) if name in ("rmse", "rmsse") else p
        counted[name] = int(ok[name].sum())
        mean[name] = float(v[ok[name]].mean()) if counted[name] else float("nan")
    return Scores(per_series=per_series, per_step=per_step, mean=mean, counted=counted,
                  skipped=skipped)


def share_better(model, reference) -> tuple[float, int]:
    """Share of series on which ``model``'s metric is strictly lower than ``reference``'s.

    Parameters
    ----------
    model, reference : array_like
        ``(S,)`` per-series values of one metric (e.g. ``Scores.per_series["mase"]`` of a model
        and of seasonal naive), ``NaN`` where undefined.

    Returns
    -------
    (float, int)
        The share in ``[0, 1]`` and the number of series where both are defined (the share is
        ``NaN`` if there is none).
    """
    a = np.asarray(model, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"model and reference must be per-series vectors of one length; got "
                         f"shapes {a.shape} and {b.shape}")
    both = ~np.isnan(a) & ~np.isnan(b)
    n = int(both.sum())
    return (float(np.mean(a[both] < b[both])) if n else float("nan")), n
