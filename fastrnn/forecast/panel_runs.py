"""Panel run folders: what a panel backtest writes, and how ``fastrnn predict`` reads it back.

A panel run folder (written atomically through :class:`fastrnn.forecast.runs.Staging`) holds

* ``metrics.json``: the protocol (horizon, windows, step, season, look-back), the series used and
  skipped (with the reason), the validation selection, the mean test metrics of the model and
  every baseline, their times;
* ``per_series.csv``: every used series' test metrics (the model's, and the MASE of each baseline);
* ``forecasts.csv``: long, one row per series, origin and step: ``id, origin, date, step, actual,
  forecast`` and one column per baseline;
* ``model.npz`` (the network fitted at the test origin: a model, or a stack of one model per
  series) and ``panel.json`` (what predict needs: ids, each series' scaling, the settings, and
  with covariates their names by kind and their scaling);
* with matplotlib, ``forecast.png`` (12 series: history, test actuals, forecasts) and ``mase.png``
  (each series' MASE against seasonal naive's).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from fastrnn.forecast import panel_model as _pm
from fastrnn.forecast.config import RunError

#: ``panel.json``'s kind and format.
KIND, FORMAT = "fastrnn panel run", 1


def _iso(ts) -> str:
    return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()


def _clean(v):
    """JSON-safe: NaN and infinities become null."""
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


def metrics(result) -> dict:
    """The content of ``metrics.json`` for a :class:`~fastrnn.forecast.panel_job.PanelResult`.

    Parameters
    ----------
    result : PanelResult

    Returns
    -------
    dict
    """
    from fastrnn import __version__

    pan, p = result.panel, result.plan
    return _clean({
        "kind": "panel",
        "dataset": pan.name,
        "source": pan.source,
        "column": pan.column,
        "frequency": pan.freq,
        "season": pan.season,
        "protocol": {"horizon": p.horizon, "windows": p.windows, "step": p.step,
                     "look_back": result.config.look_back, "test_origin": "the last `horizon` points of every series"},
        "series": {"total": len(pan), "used": len(p.used),
                   "skipped": {pan.ids[i]: why for i, why in p.skipped.items()}},
        "selection": {"validation_mase": result.selection,
                      "chosen": {"strategy": result.config.strategy, "multi": result.config.multi},
                      "rule": ("lowest mean MASE over the validation origins" if result.selection else
                               "no validation origin (windows = 1): the stated defaults")},
        "config": result.config.to_dict(),
        "test": result.table(),
        "per_step_mase": {name: list(sc.per_step["mase"]) for name, sc in result.scores.items()},
        "seconds": result.seconds,
        "notes": result.notes,
        **({"intervals": result.intervals} if result.intervals else {}),
        **({"covariates": _covariate_info(result.fitted, scaler=False)} if result.fitted.covariates else {}),
        "fastrnn_version": __version__,
    })


def write(result, folder: Path, plot: bool = True) -> str | None:
    """Write the run's files into ``folder`` (a staging folder). Returns a note when the plots were
    skipped (no matplotlib), else None.

    Parameters
    ----------
    result : PanelResult
    folder : Path
    plot : bool

    Returns
    -------
    str or None
    """
    from fastrnn.forecast.panel_job import ids_used

    folder = Path(folder)
    pan, p, fitted = result.panel, result.plan, result.fitted
    ids = ids_used(result)
    (folder / "metrics.json").write_text(json.dumps(metrics(result), indent=2) + "\n")
    names = list(result.forecasts)
    with open(folder / "per_series.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "length", *(f"model_{m}" for m in ("mase", "smape", "rmsse", "mae", "rmse")),
                    *(f"{n}_mase" for n in names if n != "model")])
        sc = result.scores
        for k, i in enumerate(p.used):
            w.writerow([pan.ids[i], len(pan.values[i]),
                        *(_num(sc["model"].per_series[m][k]) for m in ("mase", "smape", "rmsse", "mae", "rmse")),
                        *(_num(sc[n].per_series["mase"][k]) for n in names if n != "model")])
    with open(folder / "forecasts.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "origin", "date", "step", "actual", "forecast", *(n for n in names if n != "model")])
        for k, i in enumerate(p.used):
            dates, values = pan.dates(i), pan.values[i]
            for win in range(p.windows):
                o = int(p.origins[k, win])
                for s in range(p.horizon):
                    w.writerow([pan.ids[i], _iso(dates[o]), _iso(dates[o + s]), s + 1, _num(values[o + s]),
                                *(_num(result.forecasts[n][k, win, s]) for n in names)])
    fitted.model.save(folder / "model.npz")
    info = {"kind": KIND, "format": FORMAT, "horizon": fitted.horizon, "config": fitted.config.to_dict(),
            "ids": ids, "scalers": [list(s) for s in fitted.scalers], "frequency": pan.freq, "season": pan.season,
            "dataset": pan.name, "column": pan.column,
            # a single series run as a panel of one (--horizon): how to read it again
            "series_source": (pan.read_info or {}).get("series_source")}
    if result.intervals:  # older readers ignore the key
        info["intervals"] = {k: result.intervals[k] for k in ("levels", "quantiles")}
    if fitted.covariates:
        info["covariates"] = _covariate_info(fitted)
    (folder / "panel.json").write_text(json.dumps(_clean(info), indent=2) + "\n")
    if not plot:
        return None
    from fastrnn.forecast.plots import agg_or_note

    note = agg_or_note("forecast.png and mase.png")
    if note is not None:
        return note
    _plot_forecasts(result, folder / "forecast.png")
    _plot_mase(result, folder / "mase.png")
    return None


def _covariate_info(fitted, scaler: bool = True) -> dict:
    """``{"known": [names], "past": [names](, "scaler": {...})}`` of a forecaster with covariates."""
    known, past = fitted.covariates.names
    out = {"known": list(known), "past": list(past)}
    if scaler:
        out["scaler"] = fitted.covariate_scaler.to_dict()
    return out


def covariate_names(info: dict) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(known, past)`` covariate names of a run's ``panel.json`` (empty without covariates).

    Parameters
    ----------
    info : dict
        ``panel.json``.

    Returns
    -------
    (tuple of str, tuple of str)
    """
    cov = info.get("covariates") or {}
    return tuple(cov.get("known") or ()), tuple(cov.get("past") or ())


def _num(v):
    v = float(v)
    return "" if not math.isfinite(v) else repr(round(v, 10))


def _plot_forecasts(result, path):
    import matplotlib.pyplot as plt

    pan, p = result.panel, result.plan
    picks = np.linspace(0, len(p.used) - 1, min(12, len(p.used))).astype(int)
    fig, axes = plt.subplots(4, 3, figsize=(13, 10), squeeze=False)
    for ax, k in zip(axes.flat, picks):
        i = p.used[k]
        dates, values, o = pan.dates(i), pan.values[i], int(p.origins[k, p.test])
        ax.plot(dates[:o], values[:o], color="0.3", lw=0.9)
        ax.plot(dates[o:o + p.horizon], values[o:o + p.horizon], color="k", lw=1.2, label="actual")
        ax.plot(dates[o:o + p.horizon], result.forecasts["model"][k, p.test], color="C0", label="fastrnn")
        if "seasonal_naive" in result.forecasts:
            ax.plot(dates[o:o + p.horizon], result.forecasts["seasonal_naive"][k, p.test], color="C1", lw=0.8,
                    ls="--", label="seasonal naive")
        ax.set_title(str(pan.ids[i])[:40], fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(picks):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _plot_mase(result, path):
    import matplotlib.pyplot as plt

    sc = result.scores
    fig, ax = plt.subplots(figsize=(5.5, 5))
    if "seasonal_naive" in sc:
        a, b = sc["model"].per_series["mase"], sc["seasonal_naive"].per_series["mase"]
        ax.scatter(b, a, s=8, alpha=0.6)
        top = np.nanmax([np.nanmax(a), np.nanmax(b)])
        ax.plot([0, top], [0, top], color="0.5", lw=0.8)
        ax.set_xlabel("seasonal naive MASE")
    else:
        a = sc["model"].per_series["mase"]
        ax.hist(a[np.isfinite(a)], bins=30)
        ax.set_xlabel("MASE")
    ax.set_ylabel("fastrnn MASE")
    ax.set_title("test origin, per series (below the line: fastrnn better)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def is_panel_run(folder) -> bool:
    """Whether ``folder`` holds a panel run (a ``panel.json``).

    Parameters
    ----------
    folder : str or Path

    Returns
    -------
    bool
    """
    return (Path(folder) / "panel.json").is_file()


def load(folder):
    """The fitted forecaster of a panel run and its ids.

    Parameters
    ----------
    folder : str or Path
        A panel run folder.

    Returns
    -------
    (PanelForecaster, list of str, dict)
        The forecaster (without histories: give them to :func:`predict`), the ids in its order,
        and ``panel.json``.

    Raises
    ------
    RunError
        ``panel.json`` or ``model.npz`` is missing, damaged or inconsistent.
    """
    from fastrnn.models import ModelFileError
    from fastrnn.models import load as load_model

    folder = Path(folder)
    try:
        info = json.loads((folder / "panel.json").read_text())
    except (OSError, ValueError) as e:
        raise RunError(f"{folder}/panel.json cannot be read ({e}); train the run again") from None
    bad = (not isinstance(info, dict) or info.get("kind") != KIND or info.get("format") != FORMAT
           or not isinstance(info.get("ids"), list) or not isinstance(info.get("scalers"), list)
           or len(info["ids"]) != len(info["scalers"]))
    if bad:
        raise RunError(f"{folder}/panel.json is not a fastrnn panel run of format {FORMAT}; train the run again")
    try:
        cfg = _pm.PanelConfig(**info["config"])
        model = load_model(folder / "model.npz")
    except (TypeError, ValueError, ModelFileError, FileNotFoundError) as e:
        raise RunError(f"{folder}: the panel run's model cannot be used ({e}); train the run again") from None
    fitted = _pm.PanelForecaster(cfg, int(info["horizon"]), model, [tuple(s) for s in info["scalers"]], None)
    known, past = covariate_names(info)
    if known or past:
        from fastrnn.forecast.backtest import Covariates
        from fastrnn.forecast.covariates import CovariateScaler

        try:
            fitted.covariate_scaler = CovariateScaler.from_dict(info["covariates"]["scaler"])
            if fitted.covariate_scaler.mean.shape != (len(known) + len(past),):
                raise ValueError("one mean and scale per covariate")
        except (KeyError, TypeError, ValueError) as e:
            raise RunError(f"{folder}/panel.json: 'covariates' must hold the names and their scaler ({e}); train "
                           f"the run again") from None
        fitted.covariates = Covariates(known={n: [] for n in known}, past={n: [] for n in past})  # names only
    return fitted, info["ids"], info


def predict(folder, pan, future=None, read: dict | None = None):
    """The next ``horizon`` points of every series of the run, after the end of ``pan``'s data.

    Parameters
    ----------
    folder : str or Path
        A panel run folder.
    pan : Panel
        The series (those of the run, in any order; others are ignored), at least ``look_back``
        points each; with covariates, read with the run's covariate columns
        (:func:`covariate_names`).
    future : str, path-like or pandas.DataFrame, optional
        A run with covariates known in advance: their values at the next ``horizon`` dates of
        every series (:func:`fastrnn.forecast.panel.read_future`; required then).
    read : dict, optional
        How to read a ``future`` file (``sep``, ``decimal``, ``encoding``, ``date_format``).

    Returns
    -------
    pandas.DataFrame
        Long: ``id, date, step, forecast``.

    Raises
    ------
    RunError
        A series of the run is missing from ``pan``, or too short.
    DataError
        ``future`` missing for a run with covariates known in advance, given for one without, or
        not holding every series' next dates, columns and values.
    """
    from fastrnn.forecast.panel_job import future_covariates
    import pandas as pd

    fitted, ids, info = load(folder)
    where = {sid: k for k, sid in enumerate(pan.ids)}
    missing = [sid for sid in ids if sid not in where]
    if missing:
        raise RunError(f"{len(missing)} series of the run are not in the data (e.g. {missing[0]!r}); pass the "
                       f"panel the run was trained on")
    L = fitted.config.look_back
    short = [sid for sid in ids if len(pan.values[where[sid]]) < L]
    if short:
        raise RunError(f"series {short[0]!r} has fewer than the {L} points (look-back) a forecast needs")
    fitted.histories = [np.asarray(pan.values[where[sid]], dtype=np.float64) for sid in ids]
    rows = [where[sid] for sid in ids]
    aheads = [pd.date_range(pan.dates(i)[-1], periods=fitted.horizon + 1, freq=pan.freq)[1:] for i in rows]
    fitted.covariates = future_covariates(pan, rows, fitted, aheads, future, read=read, flag="--future")
    out = fitted.forecast()
    bounds = _interval_bounds(info, fitted.histories, out)
    rows = []
    for k, sid in enumerate(ids):
        ahead = aheads[k]
        for s in range(fitted.horizon):
            rows.append((sid, _iso(ahead[s]), s + 1, float(out[k, s]),
                         *(float(b[k, s]) for _, b in bounds)))
    return pd.DataFrame(rows, columns=["id", "date", "step", "forecast", *(name for name, _ in bounds)])


def _interval_bounds(info: dict, histories, out) -> list:
    """``[("lo-80", (S, H)), ("hi-80", ...), ...]`` from ``panel.json``'s intervals: ``out -+ q_h *``
    each series' MASE scale of the data forecast from (``inf`` where unbounded); ``[]`` without."""
    from fastrnn.forecast.metrics import mase_scale

    iv = info.get("intervals")
    if not iv:
        return []
    try:
        quantiles = {str(k): np.array([np.inf if x is None else float(x) for x in q])
                     for k, q in iv["quantiles"].items()}
        if any(q.shape != (out.shape[1],) or (q < 0).any() for q in quantiles.values()):
            raise ValueError("one number >= 0 or null per step")
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise RunError(f"panel.json: 'intervals' must hold 'quantiles' per level, one number >= 0 or null per "
                       f"step ({e}); train the run again") from None
    scale = np.array([mase_scale(h, info.get("season")) for h in histories])[:, None]
    cols = []
    for key, q in quantiles.items():
        with np.errstate(invalid="ignore"):
            w = np.where(np.isinf(q)[None, :], np.inf, q[None, :] * scale)
        cols += [(f"lo-{key}", out - w), (f"hi-{key}", out + w)]
    return cols
