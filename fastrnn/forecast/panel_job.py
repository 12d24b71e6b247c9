"""The panel job: a recurrent forecaster for many series, judged by a rolling-origin backtest
against the baselines on exactly the same windows.

    from fastrnn.forecast import panel, panel_job
    result = panel_job.backtest(panel.load("tourism"), horizon=8, windows=2)
    result.table()            # mean MASE, sMAPE, RMSSE, MAE, RMSE of the model and every baseline

Protocol (:mod:`fastrnn.forecast.backtest`): ``windows`` origins at the end of every series,
``step`` apart; the last is the test part, the others are validation origins. The model is fitted
afresh at every origin on the data before it (:mod:`fastrnn.forecast.panel_model`; its early
stopping uses the last ``horizon`` points of that data). With ``strategy="auto"`` or
``multi="auto"``, every candidate (global / local model, direct / recursive horizon) is scored on
the validation origins only (mean MASE over series and origins), and the best is fitted at the
test origin; with one window there is no validation origin, and the stated defaults (global,
direct) are used. The test part is never used for a choice.

Covariates (``covariates=``, ``past_covariates=``: names of columns of ``panel.covariates``): at
every origin the model is fitted with the histories' covariates and the known ones over the
horizon (:meth:`fastrnn.forecast.backtest.Plan.covariates`); the baselines stay univariate. With
past covariates only the direct strategy is a candidate (a recursive model cannot use them).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from fastrnn.forecast import backtest as _backtest
from fastrnn.forecast import metrics as _metrics
from fastrnn.forecast import panel_model as _pm

#: The defaults stated in advance, used when there is no validation origin to choose on.
DEFAULT_STRATEGY, DEFAULT_MULTI = "global", "direct"

#: Per shipped panel: the horizon (FPP3's: two years), the windows of a default run, and the
#: forecaster's settings, chosen by ``benchmarks/panel_selection.py`` on the two validation origins
#: of a 3-origin backtest (never the test origin); results in benchmarks/panel-selection-*.json.
#: A default run backtests on the test origin only (``windows=1``): the choice was made offline.
#: Tourism: look-back 12 (three years; stage 3) with hidden 32 (stage 4) and one model (stage 5).
#: Retail: hidden 32, the best validation candidate whose default run stays within a minute on
#: 2 cores (hidden 64, 1 % better on validation at look-back 24, took 68 s in all), look-back 36
#: (stage 4), batch 64 (stage 5), the hybrid LSTM (stage 6: a linear AR path beside the network,
#: validation MASE 1.550 against 1.634; tourism's plain LSTM stays, 0.916 against 0.934).
#: benchmarks/README.md ("Panels") has every stage.
PANEL_DEFAULTS = {
    "tourism": {"horizon": 8, "windows": 1,
                "config": {"hidden": 32, "look_back": 12, "window_level": True, "strategy": "global",
                           "multi": "direct"}},
    "retail": {"horizon": 24, "windows": 1,
               "config": {"model": "hybrid-lstm", "hidden": 32, "look_back": 36, "window_level": True,
                          "strategy": "global", "multi": "direct"}},
}
#: A CSV panel: one validation origin on which the strategy is chosen, and the test origin.
GENERIC_WINDOWS = 2
#: A CSV panel's (or a single series' with a horizon) settings beyond PanelConfig's defaults:
#: windows relative to their last input, which won on the validation origins of both shipped
#: panels by far (tourism 0.943 against 0.952, retail 1.652 against 3.25; stage 1).
GENERIC_CONFIG = {"window_level": True}


def default_look_back(horizon: int, season: int | None) -> int:
    """Inputs per window when none is given: two seasons, and at least the horizon (8 without a season).

    Parameters
    ----------
    horizon : int
        Steps forecast.
    season : int or None
        The panel's season.

    Returns
    -------
    int
    """
    base = 2 * season if season and season > 1 else 8
    return max(base, horizon)


@dataclass
class PanelResult:
    """What :func:`backtest` produces.

    Attributes
    ----------
    panel : Panel
        The data (:class:`fastrnn.forecast.panel.Panel`).
    plan : fastrnn.forecast.backtest.Plan
        The windows; ``plan.used`` / ``plan.skipped`` say which series were used.
    config : PanelConfig
        The chosen forecaster's settings.
    selection : dict
        ``"strategy/multi"`` -> mean validation MASE of each candidate (empty without a choice).
    forecasts : dict[str, np.ndarray]
        ``"model"`` and every baseline -> ``(len(plan.used), windows, horizon)``.
    scores : dict[str, Scores]
        Name -> :class:`fastrnn.forecast.metrics.Scores` on the test origin.
    seconds : dict[str, float]
        Name -> wall time (the model: its selection and test fit).
    fitted : PanelForecaster
        The model fitted at the test origin (what ``model.npz`` stores).
    notes : list of str
        Baselines that did not run, and why.
    intervals : dict
        The conformal intervals (:func:`fastrnn.forecast.intervals.panel_intervals`), or empty.
    """

    panel: object
    plan: object
    config: _pm.PanelConfig
    selection: dict
    forecasts: dict
    scores: dict
    seconds: dict
    fitted: _pm.PanelForecaster
    notes: list = field(default_factory=list)
    intervals: dict = field(default_factory=dict)

    def table(self) -> dict[str, dict[str, float]]:
        """Mean metrics of the model and every baseline on the test origin.

        Returns
        -------
        dict[str, dict[str, float]]
            Name -> metric -> mean over series, with ``"beats_snaive"``: the share of series on which
            the MASE is lower than seasonal naive's (when that baseline ran).
        """
        ref = self.scores.get("seasonal_naive")
        out = {}
        for name, sc in self.scores.items():
            row = dict(sc.mean)
            if ref is not None:
                row["beats_snaive"] = _metrics.share_better(sc.per_series["mase"], ref.per_series["mase"])[0]
            out[name] = row
        return out


def _forecast_job(job):
    """One validation fit (a :func:`fastrnn.parallel.map_jobs` job): ``(histories, horizon, config[,
    covariates])`` -> the forecasts ``(S, horizon)``."""
    histories, horizon, config, *cov = job
    return _pm.fit(histories, horizon, config, covariates=cov[0] if cov else None).forecast()


def panel_covariates(panel, covariates: Sequence[str] = (), past_covariates: Sequence[str] = ()):
    """The panel's covariate columns named as covariates known in advance and past covariates.

    Parameters
    ----------
    panel : Panel
        Read with those columns (``read_csv(..., covariates=[...])``).
    covariates, past_covariates : sequence of str
        Names of its covariates of each kind.

    Returns
    -------
    fastrnn.forecast.backtest.Covariates or None
        None when no name is given.

    Raises
    ------
    DataError
        A name that the panel has no covariate column for, or one given as both kinds.
    """
    from fastrnn.forecast.datasets import DataError

    known, past = tuple(covariates or ()), tuple(past_covariates or ())
    if not known and not past:
        return None
    both = sorted(set(known) & set(past))
    if both:
        raise DataError(f"{', '.join(both)} given as covariate known in advance and as past covariate; give each "
                        f"column once")
    read = getattr(panel, "covariates", {}) or {}
    for name in (*known, *past):
        if name not in read:
            have = f"its covariates are {', '.join(read)}" if read else "it has none"
            raise DataError(f"panel {panel.name!r} has no covariate column {name!r} ({have}); read the panel "
                            f"with covariates=[...] naming it (a CSV's or DataFrame's column)")
    return _backtest.Covariates(known={n: read[n] for n in known}, past={n: read[n] for n in past})


def _label(progress, w, p, c):
    """The epoch bar's label of the fit at origin ``w`` (None without progress)."""
    if not progress:
        return None
    return f"{'test' if w == p.test else 'validation'} origin {w + 1}/{p.windows}, {c.strategy} {c.multi}"


def _mean_mase(p, series, forecasts, season, windows):
    scores = _backtest.score_windows(p, series, forecasts, season)
    return float(np.nanmean([scores[w].per_series["mase"] for w in windows]))


def backtest(panel, horizon: int, windows: int = 1, step: int | None = None,
             config: _pm.PanelConfig | None = None, strategy: str = "auto", multi: str = "auto",
             statistical: bool = True, arima: bool = False, progress=None, levels: Sequence = (),
             covariates: Sequence[str] = (), past_covariates: Sequence[str] = ()) -> PanelResult:
    """Fit and score the panel forecaster and the baselines on the rolling origins (module docstring).

    Parameters
    ----------
    panel : Panel
        The series (:mod:`fastrnn.forecast.panel`).
    horizon : int
        Steps forecast from each origin.
    windows : int, default 1
        Origins per series; the last is the test part.
    step : int or None, default None
        Distance between origins (default: ``horizon``).
    config : PanelConfig or None
        The forecaster's settings (``look_back`` default: :func:`default_look_back`); its
        ``strategy`` and ``multi`` are overridden by the arguments below unless they are ``"auto"``.
    strategy : {"auto", "global", "local"}
        ``"auto"``: chosen on the validation origins.
    multi : {"auto", "direct", "recursive"}
        ``"auto"``: chosen on the validation origins.
    statistical, arima : bool
        Baselines from statsforecast (AutoETS, AutoTheta; AutoARIMA) when it is installed.
    progress : callable or None
        Called with a short text before each fit (the CLI shows it).
    levels : sequence of float
        Conformal interval levels in percent (:func:`fastrnn.forecast.intervals.panel_intervals`;
        none by default).
    covariates, past_covariates : sequence of str
        Columns of ``panel.covariates`` used as covariates known in advance and as past
        covariates (module docstring); with past covariates, ``multi`` may not be "recursive".

    Returns
    -------
    PanelResult

    Raises
    ------
    DataError
        No series is long enough for the protocol (the message names the length needed).
    ValueError
        Bad settings.
    """
    from fastrnn.forecast.panel_baselines import panel_baselines

    series, season = panel.values, panel.season
    for name, value, choices in (("strategy", strategy, ("auto", *_pm.STRATEGIES)),
                                 ("multi", multi, ("auto", *_pm.MULTI))):
        if value not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    cov = panel_covariates(panel, covariates, past_covariates)
    if cov is not None and cov.past:
        if multi == "recursive":
            raise ValueError(f"past covariates ({', '.join(cov.past)}) are known only up to the forecast origin, so "
                             f"a recursive model cannot use them beyond its first step; use multi direct or auto "
                             f"(which then picks direct)")
        multi = "direct"
    cfg = config or _pm.PanelConfig(look_back=default_look_back(horizon, season))
    # the plan's look-back: the forecaster's, plus the horizon its early stopping holds out
    p = _backtest.plan(series, cfg.look_back + horizon, horizon, windows, step)
    strategies = _pm.STRATEGIES if strategy == "auto" else (strategy,)
    multis = _pm.MULTI if multi == "auto" else (multi,)
    candidates = [replace(cfg, strategy=s, multi=m) for s in strategies for m in multis]
    t0 = time.perf_counter()
    fc = np.full((len(p.used), p.windows, p.horizon), np.nan)
    selection = {}
    if len(candidates) > 1 and p.validation:
        from fastrnn.parallel import map_jobs

        # every (candidate, validation origin) is an independent job: in parallel processes
        # (fastrnn.parallel; --jobs), each result independent of where it ran
        jobs = [(p.histories(series, w), horizon, c, *_cov_at(p, cov, w)) for c in candidates for w in p.validation]
        if progress:
            progress(f"{len(jobs)} validation fits ({len(candidates)} candidates x {len(p.validation)} origin(s))")
        results = iter(map_jobs(_forecast_job, jobs, progress=bool(progress)))
        per_candidate = {}
        for c in candidates:
            f = np.full_like(fc, np.nan)
            for w in p.validation:
                f[:, w] = next(results)
            selection[f"{c.strategy}/{c.multi}"] = _mean_mase(p, series, f, season, p.validation)
            per_candidate[c] = f
        chosen = min(candidates, key=lambda c: selection[f"{c.strategy}/{c.multi}"])
        fc[:, :-1] = per_candidate[chosen][:, :-1]
    else:
        chosen = candidates[0] if len(candidates) == 1 else replace(cfg, strategy=DEFAULT_STRATEGY,
                                                                    multi=DEFAULT_MULTI)
        for w in p.validation:
            if progress:
                progress(f"validation origin {w + 1}/{p.windows}")
            fit = _pm.fit(p.histories(series, w), horizon, chosen, progress=_label(progress, w, p, chosen),
                          covariates=cov and p.covariates(cov, w))
            fc[:, w] = fit.forecast()
    if progress:
        progress(f"test origin: {chosen.strategy} {chosen.multi}")
    fitted = _pm.fit(p.histories(series, p.test), horizon, chosen, progress=_label(progress, p.test, p, chosen),
                     covariates=cov and p.covariates(cov, p.test))
    fc[:, p.test] = fitted.forecast()
    seconds = {"model": time.perf_counter() - t0}
    if progress:
        progress("baselines")
    base = panel_baselines(p, series, season, look_back=cfg.look_back, statistical_models=statistical, arima=arima)
    forecasts = {"model": fc, **base.forecasts}
    seconds.update(base.seconds)
    scores = {name: _backtest.score_windows(p, series, f, season)[p.test] for name, f in forecasts.items()}
    iv = {}
    if levels:
        from fastrnn.forecast.intervals import panel_intervals

        iv = panel_intervals(p, series, fc, fitted, season, levels)
    return PanelResult(panel=panel, plan=p, config=chosen, selection=selection, forecasts=forecasts,
                       scores=scores, seconds=seconds, fitted=fitted, notes=list(base.notes), intervals=iv)


def _cov_at(p, cov, w) -> tuple:
    """``(covariates at origin w,)``, or ``()`` without covariates (a job as it was)."""
    return () if cov is None else (p.covariates(cov, w),)


def ids_used(result: PanelResult) -> Sequence[str]:
    """The ids of the series the backtest used, in the order of its arrays.

    Parameters
    ----------
    result : PanelResult

    Returns
    -------
    list of str
    """
    return [result.panel.ids[i] for i in result.plan.used]


class PanelFit:
    """What :func:`fit_panel` returns: the backtest's result and a forecaster for the future.

    Parameters
    ----------
    result : PanelResult
        The backtest (:attr:`result`; :meth:`table` its test metrics).

    Attributes
    ----------
    result : PanelResult
    """

    def __init__(self, result: PanelResult) -> None:
        self.result = result

    def table(self):
        """The test metrics of the model and every baseline (:meth:`PanelResult.table`).

        Returns
        -------
        pandas.DataFrame
            One row per forecaster (``model`` first), one column per metric.
        """
        import pandas as pd

        return pd.DataFrame(self.result.table()).T

    def predict(self, future=None):
        """The next ``horizon`` points of every series after the end of its data, by the model
        fitted at the test origin (each series' scaling as fitted there).

        Parameters
        ----------
        future : pandas.DataFrame, optional
            With covariates known in advance (required then): their values at the next
            ``horizon`` dates of every series, long (the id column(s), a date column and the
            covariates' columns; :func:`fastrnn.forecast.panel.read_future`).

        Returns
        -------
        pandas.DataFrame
            Long, Nixtla's names: ``unique_id, ds, y_hat`` (and ``step``).

        Raises
        ------
        DataError
            ``future`` is missing (with covariates known in advance), given without them, or lacks
            a series, a date, a column or a value.
        """
        import pandas as pd

        r = self.result
        f = r.fitted
        ids = ids_used(r)
        aheads = [pd.date_range(r.panel.dates(i)[-1], periods=f.horizon + 1, freq=r.panel.freq)[1:]
                  for i in r.plan.used]
        cov = future_covariates(r.panel, r.plan.used, f, aheads, future)
        forecaster = _pm.PanelForecaster(f.config, f.horizon, f.model, f.scalers,
                                         [np.asarray(r.panel.values[i], dtype=np.float64) for i in r.plan.used],
                                         covariates=cov, covariate_scaler=f.covariate_scaler)
        out = forecaster.forecast()
        rows = []
        for k, ahead in enumerate(aheads):
            rows += [(ids[k], ahead[s], s + 1, float(out[k, s])) for s in range(f.horizon)]
        return pd.DataFrame(rows, columns=["unique_id", "ds", "step", "y_hat"])


def future_columns(panel) -> tuple[list | None, str]:
    """The columns a future-covariates table of ``panel`` has: ``(id columns or None for a single
    series, date column)``, as the panel was read."""
    info = panel.read_info or {}
    if "series_date_column" in info or info.get("format") == "wide":  # a single series (from_series)
        return None, info.get("series_date_column") or "date"
    return list(info.get("id_columns") or ["unique_id"]), info.get("date_column") or "ds"


def future_covariates(panel, rows, fitted, aheads, future, read: dict | None = None, flag: str = "future"):
    """The covariates to forecast beyond ``panel``'s data: its series ``rows`` (positions), the
    past covariates as read and the known ones extended by their values in ``future`` at the dates
    ``aheads`` (one DatetimeIndex per row); None when ``fitted`` has no covariates.

    Raises
    ------
    DataError
        ``future`` missing with covariates known in advance (the message says which columns it
        needs), given without them, or not holding every series and date.
    """
    from fastrnn.forecast import panel as _panel
    from fastrnn.forecast.datasets import DataError

    known, past = fitted.covariates.names if fitted.covariates else ((), ())
    if not known and not past:
        if future is not None:
            raise DataError(f"{flag} goes with a model trained with covariates known in advance; this one has none")
        return None
    ids = [panel.ids[i] for i in rows]
    have = panel.covariates or {}
    gone = [n for n in (*known, *past) if n not in have]
    if gone:
        raise DataError(f"the data has no covariate column {gone[0]!r}, which the model uses; read it with "
                        f"covariates=[...] naming {', '.join((*known, *past))}")
    extra = {n: [np.asarray(have[n][i], dtype=np.float64) for i in rows] for n in known}
    if known:
        id_cols, date_col = future_columns(panel)
        if future is None:
            cols = ", ".join([*(id_cols or []), date_col, *known])
            raise DataError(f"this run uses covariates known in advance ({', '.join(known)}); pass their values at "
                            f"the next {fitted.horizon} dates of every series with {flag} FILE (columns {cols})")
        got = _panel.read_future(future, ids, aheads, known, id_column=id_cols, date_column=date_col,
                                 **(read or {}))
        extra = {n: [np.r_[a, b] for a, b in zip(extra[n], got[n])] for n in known}
    return _backtest.Covariates(known=extra, past={n: [np.asarray(have[n][i], dtype=np.float64) for i in rows]
                                                   for n in past})


def fit_panel(df, horizon: int, windows: int = 2, step: int | None = None, id_column=None,
              date_column: str | None = None, value_column: str | None = None, strategy: str = "auto",
              multi: str = "auto", statistical: bool = True, covariates: Sequence[str] | None = None,
              past_covariates: Sequence[str] | None = None, **settings) -> PanelFit:
    """Backtest a recurrent forecaster on a panel DataFrame and keep it for forecasting.

        import fastrnn.forecast as ff
        fit = ff.fit_panel(df, horizon=8)          # df: unique_id, ds, y (or id/date/value columns)
        print(fit.table())                          # the model and the baselines on the test origin
        future = fit.predict()                      # unique_id, ds, step, y_hat

    With covariates (other columns of ``df``): ``fit_panel(df, horizon=8, covariates=["price"],
    past_covariates=["visits"])``, then ``fit.predict(future=frame)`` with the known ones' values
    at the next ``horizon`` dates of every series.

    Parameters
    ----------
    df : pandas.DataFrame
        Long (Nixtla's ``unique_id, ds, y`` as is, or named columns) or wide (a date column and one
        column per series): :func:`fastrnn.forecast.panel.from_frame`.
    horizon : int
        Steps to forecast.
    windows, step, strategy, multi, statistical
        As :func:`backtest` takes them.
    id_column, date_column, value_column
        As :func:`fastrnn.forecast.panel.from_frame` takes them.
    covariates, past_covariates : sequence of str, optional
        Columns of ``df`` used as covariates known in advance and as past covariates
        (:func:`backtest`).
    **settings
        :class:`fastrnn.forecast.panel_model.PanelConfig` fields (``hidden``, ``epochs``, ...), over
        :data:`GENERIC_CONFIG` (``window_level=True``) and PanelConfig's defaults.

    Returns
    -------
    PanelFit

    Raises
    ------
    DataError
        The frame is not a readable panel, or no series is long enough.
    ValueError
        Bad settings.
    """
    from fastrnn.forecast import panel as _panel

    from fastrnn.forecast.covariates import parse_names

    known, past = parse_names(covariates, "covariates"), parse_names(past_covariates, "past_covariates")
    pan = _panel.from_frame(df, id_column=id_column, date_column=date_column, value_column=value_column,
                            covariates=[*known, *past] or None)
    settings.setdefault("look_back", default_look_back(horizon, pan.season))
    cfg = _pm.PanelConfig(**{**GENERIC_CONFIG, **settings})
    return PanelFit(backtest(pan, horizon, windows=windows, step=step, config=cfg, strategy=strategy, multi=multi,
                             statistical=statistical, covariates=known, past_covariates=past))
