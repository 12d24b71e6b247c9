"""Prediction intervals by split conformal prediction on the validation part's residuals.

The intervals of a forecast ``y_hat`` at level ``L`` % are ``y_hat -+ w``, where ``w`` is the
conformal quantile of the absolute residuals ``|y - y_hat|`` of forecasts that training never saw
(the validation part: early stopping chose the epoch on it, but the weights were not fitted to it),
computed separately for every step ahead:

    ``w = |r|_(k)``, the ``k``-th smallest of the ``n`` absolute residuals, ``k = ceil((n + 1) L / 100)``

(:func:`conformal_quantile`). If the residuals and the new forecast error are exchangeable, the
interval covers the new point with probability at least ``L`` % (and below ``L`` % + 1/(n+1) for
continuous errors). When ``k > n`` there are too few residuals for the level (at 95 %: fewer than
19) and the interval is unbounded (``w = inf``), which is the honest answer rather than a guess.

Why symmetric intervals from absolute residuals, not two signed quantiles: the guarantee of the
absolute score needs ``n >= L / (100 - L)`` residuals (19 at 95 %); two one-sided quantiles at
``(100 - L) / 2`` % each need about twice as many (39 at 95 %), and validation parts are short
(airline's has 12 points). A skewed error distribution gives wider intervals than needed on one
side, never a lower coverage.

Single series (:func:`series_residuals`): from every validation origin the model forecasts
recursively (each forecast becomes the next input, as ``fastrnn predict`` does) as far as the
validation part reaches, so step ``h`` has ``n_val - h + 1`` residuals. A combination (the
linear AR or persistence alone among them) feeds its weighted forecast back to every member, as
``predict`` does; the linear AR alone, fitted on the training and validation windows, is
calibrated by the same AR fitted on the training windows (:func:`fastrnn.forecast.train`).
Step 1 are the validation part's one-step forecasts, the protocol of the test table, so the test
coverage reported is that of step 1's interval on the test part's one-step forecasts.

Normalised scores (single series): each residual is divided by the scale of the window its
forecast started from, :func:`window_scale` (the mean absolute change over the window's
``look_back`` values, at least :func:`scale_floor`), and the interval of a forecast from window
``x`` is ``forecast -+ q * scale(x)`` with ``q`` the conformal quantile of the scores. The
guarantee is the same (the scores are exchangeable when the scaled errors are), but the width
follows the series: wider when it has been moving more, as stock prices and multiplicative seasons
do. ``scripts/select_intervals.py`` chose this over fixed widths on validation data (its output is
``scripts/select_intervals.txt``); the panels' intervals scale each series' residuals by its MASE
scale in the same way (:func:`panel_intervals`).

Levels are percentages in (0, 100): ``--level 80,95`` (:func:`parse_levels`); their column names
are ``lo-80``, ``hi-80``, ... (:func:`level_key`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["parse_levels", "check_levels", "level_key", "conformal_quantile", "half_widths",
           "coverage", "window_scale", "scale_floor", "series_residuals", "series_intervals",
           "panel_intervals", "MAX_WORK"]

#: Most window forecasts :func:`series_residuals` makes (origins times steps): bounds the cost of a
#: long validation part; the steps beyond get no finite interval.
MAX_WORK = 200_000


def level_key(level: float) -> str:
    """The name of a level in columns and JSON: ``80`` -> ``"80"``, ``97.5`` -> ``"97.5"``."""
    return f"{float(level):g}"


def check_levels(levels: Sequence) -> tuple[float, ...]:
    """``levels`` as a sorted tuple of floats, each a percentage strictly between 0 and 100, no
    two equal. Raises ``ValueError`` naming the bad value and what is expected.

    Parameters
    ----------
    levels : sequence of numbers
        Coverage levels in percent, e.g. ``(80, 95)``.
    """
    out = []
    for v in levels:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not math.isfinite(v) or not 0 < v < 100:
            raise ValueError(f"a level must be a percentage between 0 and 100 (exclusive), e.g. 80 or "
                             f"95; got {v!r}")
        if float(v) in out:
            raise ValueError(f"level {level_key(v)} is given twice; give each level once, e.g. 80,95")
        out.append(float(v))
    return tuple(sorted(out))


def parse_levels(text: str) -> tuple[float, ...]:
    """``"80,95"`` -> ``(80.0, 95.0)`` (see :func:`check_levels`); ``ValueError`` with the bad item.

    Parameters
    ----------
    text : str
        Comma-separated percentages.
    """
    values = []
    for t in (t.strip() for t in str(text).split(",")):
        try:
            v = float(t)
        except ValueError:
            v = math.nan
        if not math.isfinite(v) or not 0 < v < 100:
            raise ValueError(f"a level must be a percentage between 0 and 100 (exclusive), e.g. 80 or "
                             f"95; got {t!r}")
        values.append(v)
    return check_levels(values)


def conformal_quantile(scores, level: float) -> float:
    """The split-conformal quantile of ``scores`` at ``level`` %: the ``ceil((n + 1) level /
    100)``-th smallest of the ``n`` finite scores, or ``inf`` when that exceeds ``n`` (too few
    scores for the level; also for ``n = 0``).

    Parameters
    ----------
    scores : array_like
        Non-conformity scores (here absolute residuals); NaN entries are left out.
    level : float
        Coverage in percent, in (0, 100).
    """
    (level,) = check_levels([level])
    s = np.asarray(scores, dtype=np.float64).ravel()
    s = np.sort(s[~np.isnan(s)])
    n = s.size
    # (n + 1) * level / 100 in exact rational arithmetic: 0.95 * 20 must be 19, not 19.000000000000004
    k = math.ceil((n + 1) * level / 100 - 1e-9)
    return float(s[k - 1]) if 1 <= k <= n else math.inf


def half_widths(residuals: Sequence, levels: Sequence) -> dict:
    """Interval half-widths per level and step: ``{level_key: [w_step1, w_step2, ...]}``.

    Parameters
    ----------
    residuals : sequence of array_like
        ``residuals[h]``: the residuals (actual minus forecast) of step ``h + 1``.
    levels : sequence of float
        Levels in percent (:func:`check_levels`).
    """
    absres = [np.abs(np.asarray(r, dtype=np.float64)) for r in residuals]
    return {level_key(lv): [conformal_quantile(a, lv) for a in absres] for lv in check_levels(levels)}


def coverage(actual, forecast, half_width) -> float:
    """The share of ``actual`` inside ``forecast -+ half_width`` (bounds included).

    Parameters
    ----------
    actual, forecast : array_like
        Same shape.
    half_width : float or array_like
        Broadcast against them.
    """
    a = np.asarray(actual, dtype=np.float64)
    f = np.asarray(forecast, dtype=np.float64)
    if a.shape != f.shape or a.size == 0:
        raise ValueError(f"actual and forecast must have one non-empty shape; got {a.shape} and {f.shape}")
    return float(np.mean(np.abs(a - f) <= half_width))


#: The smallest window scale, as a share of the training part's mean absolute change
#: (:func:`scale_floor`): a window that did not move gets an interval, not a zero-width one.
SCALE_FLOOR_SHARE = 0.1


def scale_floor(values, stop: int) -> float:
    """The smallest window scale of a series: :data:`SCALE_FLOOR_SHARE` times the mean absolute
    change of ``values[:stop]`` (the training part), or 1 if those values never change.

    Parameters
    ----------
    values : array_like
        The series in original units.
    stop : int
        End of the part the floor is measured on.
    """
    d = np.abs(np.diff(np.asarray(values, dtype=np.float64)[:stop]))
    m = float(d.mean()) if d.size else 0.0
    return SCALE_FLOOR_SHARE * m if m > 0 and math.isfinite(m) else 1.0


def window_scale(values, starts, look_back: int, floor: float) -> np.ndarray:
    """The scale of each window: the mean absolute change over the ``look_back`` values before its
    first target ``starts[k]``, at least ``floor``.

    Parameters
    ----------
    values : array_like
        The series in original units.
    starts : array_like of int
        Each window's first target index (the window is ``values[t - look_back:t]``).
    look_back : int
        Values per window (>= 2 for a change; with 1 every scale is ``floor``).
    floor : float
        The smallest scale (:func:`scale_floor`).
    """
    v = np.asarray(values, dtype=np.float64)
    starts = np.asarray(starts, dtype=np.int64)
    if look_back < 2 or starts.size == 0:
        return np.full(starts.shape, float(floor))
    w = v[starts[:, None] - look_back + np.arange(look_back)[None, :]]
    return np.maximum(np.mean(np.abs(np.diff(w, axis=1)), axis=1), floor)


def series_residuals(model, prep, max_work: int = MAX_WORK) -> list:
    """Residuals (actual minus forecast, original units) of the recursive forecasts of ``model``
    from every origin of the validation part of ``prep``, per step: ``[r_1, r_2, ...]``, ``r_h`` of
    length ``n_val - h + 1`` (targets inside the validation part only).

    Step ``h`` feeds the forecasts of steps ``1 .. h - 1`` back as inputs (in the scaled
    representation; calendar features are those of the target's own window). At most ``max_work``
    window forecasts in all: a long validation part stops at the step that would exceed it.

    Parameters
    ----------
    model : a fitted model or stack (an ensemble: the mean of its members, as in ``train``), or a
        :class:`~fastrnn.forecast.combine.Combination` (its weighted forecasts, fed back in original
        units as ``fastrnn predict`` does: :func:`fastrnn.forecast.predict.combination_step`)
    prep : fastrnn.forecast.preprocessing.Prepared
        One-step windows (``horizon == 1``).
    max_work : int
        Bound on origins times steps.
    """
    from fastrnn.forecast.combine import Combination
    from fastrnn.forecast.job import predict_mean
    from fastrnn.forecast.preprocessing import undo_transform

    if prep.horizon != 1:
        raise ValueError(f"series_residuals needs one-step windows; got horizon {prep.horizon}")
    X = prep.X_val
    s = prep.starts["val"]
    n = len(s)
    steps, work = 0, 0
    while steps < n and work + (n - steps) <= max(max_work, n):
        work += n - steps
        steps += 1
    if isinstance(model, Combination):
        pred = _combination_paths(model, prep, steps)
        return [prep.values[s[:n - h] + h] - pred[:n - h, h] for h in range(steps)]
    scaled = np.full((n, steps), np.nan)
    windows = X.copy()
    for h in range(steps):
        m = n - h  # origins whose step-h+1 target lies in the validation part
        scaled[:m, h] = predict_mean(model, windows[:m])[:, 0]
        if h + 1 < steps:
            nxt = np.empty_like(windows[:m - 1])
            nxt[:, :-1, 0] = windows[:m - 1, 1:, 0]
            nxt[:, -1, 0] = scaled[:m - 1, h]
            if X.shape[2] > 1:  # calendar inputs: those of the window of the target point itself
                nxt[:, :, 1:] = X[h + 1:h + m, :, 1:]
            windows = nxt
    rep = prep.scaler.inverse_transform(scaled)
    pred = undo_transform(rep, s, prep.values, prep.transform)
    out = []
    for h in range(steps):
        m = n - h
        out.append(prep.values[s[:m] + h] - pred[:m, h])
    return out


def _combination_paths(combo, prep, steps: int) -> np.ndarray:
    """The recursive forecasts of ``combo`` from every validation origin of ``prep``, ``(n, steps)``
    in original units (NaN past the validation part): step ``h`` from origin ``i`` forecasts the
    point ``starts[i] + h`` from the actual values before the origin and the forecasts of steps
    ``1 .. h - 1`` (calendar inputs: those of the target's own window)."""
    from fastrnn.forecast.predict import combination_step
    from fastrnn.forecast.preprocessing import parse_transform

    members = {name: (model, combo.weights[name]) for name, model in combo.models.items()}
    need = prep.look_back + int(parse_transform(prep.transform)[1])
    s = prep.starts["val"]
    n = len(s)
    hist = np.empty((n, need + steps))
    hist[:, :need] = prep.values[s[:, None] - need + np.arange(need)[None, :]]
    feats = prep.X_val[:, :, 1:] if prep.X_val.shape[2] > 1 else None
    pred = np.full((n, steps), np.nan)
    for h in range(steps):
        m = n - h
        f = None if feats is None else feats[h:h + m]
        pred[:m, h] = combination_step(members, hist[:m, h:h + need], prep.scaler, prep.transform, f)
        hist[:m, need + h] = pred[:m, h]
    return pred


def _json_width(w: float):
    return None if math.isinf(w) else float(w)


def series_intervals(model, prep, levels: Sequence, test_pred) -> dict:
    """The intervals of a single-series run, for ``metrics.json`` (and ``preprocessing.json``).

    Parameters
    ----------
    model : the fitted model or stack
    prep : fastrnn.forecast.preprocessing.Prepared
    levels : sequence of float
        Levels in percent.
    test_pred : array_like
        The model's one-step test forecasts ``(N,)`` in original units.

    Returns
    -------
    dict
        ``levels``; ``n_residuals`` (per step); ``quantiles`` (level key -> per step, in window
        scales; ``None`` where unbounded: too few residuals); ``scale`` (``look_back`` and
        ``floor`` of :func:`window_scale`); ``coverage`` (level key -> share of the test points
        inside step 1's interval around the one-step test forecasts; 1.0 when unbounded);
        ``mean_half_width`` (level key -> the mean step-1 half-width over the test part, original
        units); ``method``.
    """
    levels = check_levels(levels)
    res = series_residuals(model, prep)
    floor = scale_floor(prep.values, prep.split.train_end)
    s_val = window_scale(prep.values, prep.starts["val"], prep.look_back, floor)
    q = half_widths([r / s_val[:len(r)] for r in res], levels)
    s_test = window_scale(prep.values, prep.starts["test"], prep.look_back, floor)
    y = prep.targets("test")[:, 0]
    return {
        "method": "split conformal, normalised: absolute residuals of the validation part's recursive "
                  "forecasts divided by their window's mean absolute change, per step; quantile "
                  "ceil((n+1)*level)/n; interval forecast -+ quantile * scale of the last window",
        "levels": list(levels),
        "n_residuals": [int(len(r)) for r in res],
        "quantiles": {k: [_json_width(x) for x in w] for k, w in q.items()},
        "scale": {"look_back": int(prep.look_back), "floor": float(floor)},
        "coverage": {k: coverage(y, test_pred, w[0] * s_test) for k, w in q.items()},
        "mean_half_width": {k: _json_width(float(w[0] * s_test.mean())) for k, w in q.items()},
    }


def panel_intervals(p, series, forecasts, fitted, season: int | None, levels: Sequence) -> dict:
    """Conformal intervals of a panel backtest, per step, pooled over the series.

    Residuals come from the validation origins of ``p`` (``forecasts[:, w]``, fits made before the
    test origin); with no validation origin (``windows = 1``), from the early-stopping hold-out of
    the test origin's fit: the last ``horizon`` points of every history, forecast from the points
    before them (they chose the epoch, never the weights). Each series' residuals are divided by
    its MASE scale (:func:`fastrnn.forecast.metrics.mase_scale` of the history before the origin),
    so that series of different sizes pool; series whose scale is 0 or undefined are left out. The
    interval of series ``s`` at step ``h`` is ``forecast -+ q_h * scale_s``.

    Parameters
    ----------
    p : fastrnn.forecast.backtest.Plan
    series : sequence of array_like
        The panel's series.
    forecasts : numpy.ndarray
        The model's ``(len(p.used), windows, horizon)`` forecasts.
    fitted : fastrnn.forecast.panel_model.PanelForecaster
        The model fitted at the test origin.
    season : int or None
        The panel's season (of the MASE scale).
    levels : sequence of float
        Levels in percent.

    Returns
    -------
    dict
        ``levels``, ``source`` (``"validation origins"`` or ``"early-stopping hold-out"``),
        ``n_residuals`` (per step), ``quantiles`` (level key -> per step, in MASE-scale units;
        ``None`` where unbounded), ``coverage`` (level key -> share of the test points inside their
        interval, over series and steps).
    """
    from fastrnn.forecast.metrics import mase_scale
    from fastrnn.forecast.panel_model import PanelForecaster

    levels = check_levels(levels)
    H = p.horizon

    def scaled(histories, actual, forecast):
        sc = np.array([mase_scale(h, season) for h in histories])
        ok = np.isfinite(sc) & (sc > 0)
        return (actual[ok] - forecast[ok]) / sc[ok, None]

    if p.validation:
        source = "validation origins"
        res = np.concatenate([scaled(p.histories(series, w), p.actuals(series, w), forecasts[:, w])
                              for w in p.validation])
    else:
        source = "early-stopping hold-out"
        hist = p.histories(series, p.test)
        short = [np.asarray(h[:-H], dtype=np.float64) for h in hist]
        f = PanelForecaster(fitted.config, H, fitted.model, fitted.scalers, short,
                            covariates=fitted.covariates, covariate_scaler=fitted.covariate_scaler).forecast()
        res = scaled(short, np.array([h[-H:] for h in hist]), f)
    widths = half_widths([res[:, h] for h in range(H)], levels)
    test_hist = p.histories(series, p.test)
    sc = np.array([mase_scale(h, season) for h in test_hist])
    ok = np.isfinite(sc) & (sc > 0)
    actual, f = p.actuals(series, p.test)[ok], forecasts[ok, p.test]
    cov = {k: coverage(actual, f, np.asarray(w)[None, :] * sc[ok, None]) for k, w in widths.items()}
    return {"levels": list(levels), "source": source, "n_residuals": [int(np.isfinite(res[:, h]).sum())
                                                                        for h in range(H)],
            "quantiles": {k: [_json_width(x) for x in w] for k, w in widths.items()}, "coverage": cov}
