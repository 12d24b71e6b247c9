"""Hyperparameter sweeps: a grid (or a random sample of it) scored on validation data only, the
best candidate refitted and tested once (``fastrnn sweep``).

    import fastrnn.forecast as ff
    result = ff.sweep("airline", {"hidden": [16, 32, 64], "lr": [1e-3, 3e-3]}, epochs=100, ensemble=1)
    print(result.table)                     # one row per candidate, in grid order, with its rank
    result.best.metrics["test"]             # the best candidate, refitted and tested once
    result.save("runs/my-sweep")            # sweep.csv, sweep.png, best/ (a normal run folder)

Protocol
--------
*A single series* (a :class:`~fastrnn.forecast.datasets.Dataset`): every candidate is trained
exactly as ``fastrnn train`` trains it (:func:`fastrnn.forecast.job.fit_ensemble`: the training
part, early stopping on the validation part, the best weights restored) and scored by its
validation RMSE (one step ahead, original units; :func:`fastrnn.forecast.job.score` on
``"val"`` only). *A panel* (:class:`~fastrnn.forecast.panel.Panel`): ``windows >= 2`` rolling
origins (:mod:`fastrnn.forecast.backtest`); every candidate is fitted at the validation origins
(all but the last) on the data before each, and scored by the mean MASE over the series and the
validation origins. The plan's look-back is the largest of the candidates', so that every
candidate is scored on the same series and windows. The last origin, the test part, is never
scored for a candidate.

The best candidate (lowest validation score; ties: the first in grid order; a candidate whose
training failed or whose score is not finite ranks last) is then refitted and tested once, as
``fastrnn train`` with its settings does (:func:`fastrnn.forecast.job.train`, or
:func:`fastrnn.forecast.panel_job.backtest` with its strategy and horizon strategy), so
``best/`` is the run folder that command writes.

Every candidate fit is a job of :func:`fastrnn.parallel.map_jobs` (a top-level function of the
data, the settings and the seed), run in this process, in worker processes or on a Dask cluster,
wherever the caller's :func:`fastrnn.parallel.use_backend` block says; the results come back in
job order, so the table and the choice never depend on where the jobs ran.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fastrnn.forecast.config import READ_SETTINGS, TrainConfig, make_config, validate

__all__ = ["GridError", "SweepResult", "grid_keys", "parse_grid", "grid_candidates", "sweep", "write_sweep",
           "format_value"]

#: TrainConfig fields a sweep does not vary: where the data comes from and how it is read, the
#: split (it defines what validation is), what the report adds (intervals, statsforecast rows),
#: and the seed (choosing a seed on validation is fitting noise; ``seed`` fixes it for every
#: candidate).
_FIXED_SERIES = {"dataset", "csv", "column", "date_column", "start", "end", "seed", "test_fraction",
                 "val_fraction", "levels", "statistical", *READ_SETTINGS}
_FIXED_PANEL = {"seed"}


class GridError(ValueError):
    """A grid that cannot be swept: an unknown or repeated key, a value of the wrong type or range."""


def grid_keys(kind: str) -> tuple[str, ...]:
    """The settings a grid may vary.

    Parameters
    ----------
    kind : {"series", "panel"}
        A single series (the fields of :class:`~fastrnn.forecast.config.TrainConfig`) or a panel
        (those of :class:`~fastrnn.forecast.panel_model.PanelConfig`), without the data source, the
        split and the seed.

    Returns
    -------
    tuple of str
        In the order of the config's fields.

    Raises
    ------
    ValueError
        An unknown ``kind``.
    """
    if kind == "series":
        return tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in _FIXED_SERIES)
    if kind == "panel":
        from fastrnn.forecast.panel_model import PanelConfig

        return tuple(f.name for f in dataclasses.fields(PanelConfig) if f.name not in _FIXED_PANEL)
    raise ValueError(f"kind must be 'series' or 'panel'; got {kind!r}")


def _config_class(kind: str):
    if kind == "series":
        return TrainConfig
    from fastrnn.forecast.panel_model import PanelConfig

    return PanelConfig


def _field_type(kind: str, key: str) -> str:
    return str(next(f.type for f in dataclasses.fields(_config_class(kind)) if f.name == key))


def _parse_value(kind: str, key: str, text: str):
    """``text`` as the type of the field ``key``; GridError naming what it takes."""
    typ = _field_type(kind, key)
    low = text.lower()
    if "None" in typ and low == "none" and "str" not in typ:
        return None
    if "bool" in typ:
        if low in ("true", "yes", "1"):
            return True
        if low in ("false", "no", "0"):
            return False
        raise GridError(f"grid value {key}={text} is not true or false; {key} takes true or false")
    if "int" in typ:
        if not re.fullmatch(r"[+-]?\d+", text):
            raise GridError(f"grid value {key}={text} is not an integer; {key} takes integers, e.g. {key}=16,32")
        return int(text)
    if "float" in typ:
        try:
            v = float(text)
        except ValueError:
            v = math.nan
        if not math.isfinite(v):
            raise GridError(f"grid value {key}={text} is not a number; {key} takes numbers, e.g. {key}=1e-3,3e-3")
        return v
    return text


def _check_value(kind: str, key: str, value) -> None:
    """GridError unless ``value`` is a valid ``key`` by the config's own checks."""
    try:
        if kind == "series":
            validate(dataclasses.replace(TrainConfig(), **{key: value}))
        else:
            _config_class(kind)(**{key: value})
    except ValueError as exc:
        raise GridError(f"grid value {key}={format_value(value)}: {exc}") from None


def format_value(v) -> str:
    """A grid value as a grid would write it: ``none``, ``true``/``false``, ``0.001``, ``16``.

    Parameters
    ----------
    v : object

    Returns
    -------
    str
    """
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    return f"{v:g}" if isinstance(v, float) else str(v)


def parse_grid(grid: str | dict, kind: str = "series") -> dict[str, list]:
    """Read and check a grid: ``"hidden=16,32,64;lr=1e-3,3e-3"`` or ``{"hidden": [16, 32]}``.

    Parameters
    ----------
    grid : str or dict
        ``KEY=V1,V2,...`` parts separated by ``;`` (spaces around them are ignored), or a dict
        from key to a list of values (or one value).
    kind : {"series", "panel"}
        Which settings are keys (:func:`grid_keys`).

    Returns
    -------
    dict[str, list]
        Key -> its values, parsed to the type of the config field (``none`` is ``None`` where
        the field takes it), in the order given.

    Raises
    ------
    GridError
        An empty grid, a part without ``=``, an unknown or repeated key, an empty, repeated or
        invalid value; the message names the key and what it takes (the allowed keys for an
        unknown one).
    """
    allowed = grid_keys(kind)
    what = "a single series" if kind == "series" else "a panel"
    pairs: list[tuple[str, list]] = []
    if isinstance(grid, str):
        for part in grid.split(";"):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise GridError(f"grid part {part!r} has no '='; write KEY=V1,V2,... parts separated by ';', "
                                f"e.g. 'hidden=16,32;lr=1e-3,3e-3'")
            key, values = (s.strip() for s in part.split("=", 1))
            pairs.append((key, [v.strip() for v in values.split(",")]))
    elif isinstance(grid, dict):
        pairs = [(str(k), list(v) if isinstance(v, (list, tuple)) else [v]) for k, v in grid.items()]
    else:
        raise GridError(f"grid must be a string such as 'hidden=16,32;lr=1e-3,3e-3' or a dict; got {grid!r}")
    if not pairs:
        raise GridError("the grid is empty; give at least one KEY=V1,V2,... such as 'hidden=16,32'")
    out: dict[str, list] = {}
    for key, raw in pairs:
        key_name = key.replace("-", "_")
        if key_name not in allowed:
            raise GridError(f"unknown grid key {key!r}; the keys for {what} are: {', '.join(allowed)}")
        if key_name in out:
            raise GridError(f"grid key {key_name!r} is given twice; list all its values once, e.g. "
                            f"{key_name}={','.join(format_value(v) for v in out[key_name])},...")
        values = []
        for v in raw:
            if isinstance(v, str):
                if not v:
                    raise GridError(f"grid key {key_name!r} has an empty value; write {key_name}=V1,V2,... "
                                    f"without empty items")
                v = _parse_value(kind, key_name, v)
            _check_value(kind, key_name, v)
            if any(type(v) is type(u) and v == u for u in values):
                raise GridError(f"grid key {key_name!r} lists the value {format_value(v)} twice; give each value once")
            values.append(v)
        out[key_name] = values
    return out


def grid_candidates(grid: dict[str, list], samples: int | None = None,
                    seed: int = 0) -> tuple[list[dict], list[int], int]:
    """The candidates of a grid, in grid order (the last key varies fastest).

    Parameters
    ----------
    grid : dict[str, list]
        From :func:`parse_grid`.
    samples : int, optional
        Draw this many distinct candidates at random (with ``seed``) instead of the whole grid;
        at least the grid's size: the whole grid.
    seed : int
        Seed of the draw.

    Returns
    -------
    (list of dict, list of int, int)
        The candidates (key -> value), their positions in the whole grid, and the grid's size.

    Raises
    ------
    ValueError
        ``samples`` not a positive integer.
    """
    from fastrnn.forecast.config import check_positive_int

    keys = list(grid)
    sizes = [len(grid[k]) for k in keys]
    total = math.prod(sizes)
    if samples is None or check_positive_int("samples", samples) >= total:
        index = list(range(total))
    else:
        rng = np.random.default_rng(seed)
        index = sorted(int(i) for i in rng.choice(total, size=samples, replace=False))

    def at(i):
        cand = {}
        for k, n in zip(reversed(keys), reversed(sizes)):
            i, j = divmod(i, n)
            cand[k] = grid[k][j]
        return {k: cand[k] for k in keys}

    return [at(i) for i in index], index, total


# --------------------------------------------------------------------------------------------------
# The jobs (top-level functions of fastrnn.parallel.map_jobs: data, settings and seed in, scores out)
# --------------------------------------------------------------------------------------------------


def _series_job(job) -> dict:
    """One candidate on a single series: ``(Dataset, TrainConfig fields)`` -> its validation RMSE,
    seconds and epochs (all members), as ``fastrnn train`` would train it."""
    from fastrnn.forecast.job import fit_ensemble, prepare_series, score

    data, settings = job
    cfg = TrainConfig(**settings)
    t0 = time.perf_counter()
    prep = prepare_series(data, cfg)
    try:
        model, _, histories, _, _ = fit_ensemble(cfg, prep, progress=False)
    except ValueError as exc:  # the loss was not finite from the first epoch on
        return {"score": math.nan, "seconds": time.perf_counter() - t0, "epochs": 0, "note": str(exc)}
    with np.errstate(over="ignore", invalid="ignore"):
        val = float(score(model, prep, "val")["rmse"])  # the validation part only
    return {"score": val, "seconds": time.perf_counter() - t0,
            "epochs": sum(h.epochs_run for h in histories), "note": ""}


def _panel_job(job) -> dict:
    """One candidate at one validation origin of a panel: ``(histories, horizon, PanelConfig
    fields)`` -> the forecasts ``(S, horizon)``, seconds and epochs (all its models)."""
    from fastrnn.forecast import panel_model as _pm

    histories, horizon, settings = job
    t0 = time.perf_counter()
    fit = _pm.fit(histories, horizon, _pm.PanelConfig(**settings))
    hist = fit.history if isinstance(fit.history, list) else [fit.history]
    return {"forecasts": fit.forecast(), "seconds": time.perf_counter() - t0,
            "epochs": sum(h.epochs_run for h in hist)}


# --------------------------------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------------------------------


@dataclass
class SweepResult:
    """What :func:`sweep` returns.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per candidate, in grid order: ``candidate`` (its position in the whole grid), the
        grid's keys, the validation score (``val_rmse`` or ``val_mase``), ``seconds``, ``epochs``
        (all its models), ``rank`` (1: the best), and ``note`` when a candidate's training failed.
    best : TrainResult or PanelResult
        The best candidate, refitted and tested once (a normal run: :func:`write_sweep` writes it
        as ``best/``).
    settings : dict
        The best candidate's grid values.
    config : TrainConfig or PanelConfig
        The best candidate's full settings.
    kind : str
        ``"series"`` or ``"panel"``.
    metric : str
        The score's column: ``"val_rmse"`` (single series) or ``"val_mase"`` (panel).
    grid : dict
        The parsed grid.
    grid_size : int
        Candidates in the whole grid (more than ``len(table)`` when sampled).
    notes : list of str
        E.g. that ``samples`` covered the whole grid.
    """

    table: Any
    best: Any
    settings: dict
    config: Any
    kind: str
    metric: str
    grid: dict
    grid_size: int
    notes: list = field(default_factory=list)

    def save(self, out=None, plot: bool = True, root="runs") -> tuple[Path, str | None]:
        """Write the sweep's folder atomically (:func:`write_sweep` into a
        :class:`~fastrnn.forecast.runs.Staging` folder, renamed when complete).

        Parameters
        ----------
        out : path, optional
            The folder (new or empty); default ``root/sweep-<name>-<YYYYmmdd-HHMMSS>``.
        plot : bool
            Also ``sweep.png`` and the best run's plots (with matplotlib).
        root : path
            Folder of the default name.

        Returns
        -------
        (Path, str or None)
            The folder, and a note when the plots were skipped (no matplotlib).
        """
        from fastrnn.forecast.runs import Staging

        staging = Staging.for_out(out, "sweep", _data_name(self), root)
        with staging:
            note = write_sweep(self, staging.path, plot)
        return staging.final, note


def _data_name(result: SweepResult) -> str:
    return result.best.config.name if result.kind == "series" else result.best.panel.name


def _is_panel(data) -> bool:
    from fastrnn.forecast import panel as _panel

    if isinstance(data, _panel.Panel):
        return True
    if isinstance(data, str):
        from fastrnn.forecast.datasets import panel_names

        return data in panel_names()
    return type(data).__name__ == "DataFrame"


def sweep(data, grid: str | dict, *, samples: int | None = None, seed: int = 0, config=None,
          horizon: int | None = None, windows: int = 2, step: int | None = None, n_jobs: int | None = None,
          progress: bool | Any = False, started: Any = None, **settings) -> SweepResult:
    """Score every candidate of ``grid`` on validation data, then refit and test the best once.

    Parameters
    ----------
    data : str, Dataset, Panel or pandas.DataFrame
        A shipped dataset or panel name, a single series
        (:func:`fastrnn.forecast.load_series`), a panel (:mod:`fastrnn.forecast.panel`), or a
        panel DataFrame (:func:`fastrnn.forecast.panel.from_frame`).
    grid : str or dict
        The settings to vary (:func:`parse_grid`), e.g. ``"hidden=16,32;lr=1e-3,3e-3"``.
    samples : int, optional
        Score this many distinct candidates drawn at random from the grid (with ``seed``) instead
        of all of them.
    seed : int
        The draw's seed, and the training seed of every candidate (unless ``config`` or
        ``settings`` give another).
    config : TrainConfig or PanelConfig, optional
        The fixed settings of every candidate (what ``fastrnn train`` would use); default: the
        data's defaults with ``settings`` applied. Required for a Dataset that is not a shipped
        one (its ``csv`` and reading settings make ``best/`` usable by predict).
    horizon, windows, step : int, optional
        A panel's protocol (:func:`fastrnn.forecast.panel_job.backtest`); ``windows >= 2`` (the
        last origin is the test part; the others score the candidates). ``horizon`` is required
        unless ``data`` is a shipped panel (its default horizon).
    n_jobs : int, optional
        Processes for the candidates (:func:`fastrnn.parallel.map_jobs`).
    progress : bool or callable
        :func:`fastrnn.parallel.map_jobs`'s progress over the candidate fits.
    started : callable, optional
        Called without arguments once every candidate has been checked against the data, before
        any is trained (the CLI prints its header then).
    **settings
        Fixed settings of every candidate (fields of the config), without ``config``.

    Returns
    -------
    SweepResult

    Raises
    ------
    GridError
        A bad grid, or a grid key also given as a fixed setting.
    ValueError
        Bad settings, a candidate the data cannot take (e.g. a look-back longer than the series:
        named with its settings), or no candidate that could be scored.
    """
    kind = "panel" if _is_panel(data) else "series"
    parsed = parse_grid(grid, kind)
    both = sorted(set(parsed) & set(settings))
    if both:
        raise GridError(f"{', '.join(both)} {'is' if len(both) == 1 else 'are'} both in the grid and a fixed "
                        f"setting; give {'it' if len(both) == 1 else 'each'} in one place")
    if config is not None and settings:
        raise ValueError("give the fixed settings as config or as keyword arguments, not both")
    cands, index, total = grid_candidates(parsed, samples, seed)
    notes = []
    if samples is not None and samples >= total:
        notes.append(f"samples={samples} is not less than the grid's {total} candidates: the whole grid is swept")
    if kind == "series":
        return _sweep_series(data, parsed, cands, index, total, notes, config, seed, settings, n_jobs, progress,
                             started)
    return _sweep_panel(data, parsed, cands, index, total, notes, config, seed, settings, horizon, windows,
                        step, n_jobs, progress, started)


def _describe(cand: dict) -> str:
    return " ".join(f"{k}={format_value(v)}" for k, v in cand.items())


def _table(parsed, cands, index, results, metric):
    """The DataFrame of the candidates, in grid order, ranked (ties: grid order; not finite: last)."""
    import pandas as pd

    rows = []
    for i, cand, res in zip(index, cands, results):
        rows.append({"candidate": i, **{k: _cell(v) for k, v in cand.items()}, metric: res["score"],
                     "seconds": res["seconds"], "epochs": res["epochs"], "note": res.get("note", "")})
    table = pd.DataFrame(rows)
    scores = table[metric].to_numpy(dtype=np.float64)
    order = sorted(range(len(rows)), key=lambda r: (not math.isfinite(scores[r]), scores[r]
                                                    if math.isfinite(scores[r]) else 0.0, r))
    rank = np.empty(len(rows), dtype=np.int64)
    rank[order] = np.arange(1, len(rows) + 1)
    table["rank"] = rank
    if not table["note"].astype(bool).any():
        table = table.drop(columns="note")
    return table, order[0]


def _cell(v):
    return "none" if v is None else v


def _sweep_series(data, parsed, cands, index, total, notes, config, seed, settings, n_jobs, progress, started):
    from fastrnn.forecast import job as _job
    from fastrnn.parallel import map_jobs

    if isinstance(data, str):
        ds = None
        base = config or make_config(dataset=data, **{"seed": seed, **settings})
    else:
        ds = data
        if config is None:
            from fastrnn.forecast.config import DEFAULTS

            if ds.name not in DEFAULTS:
                raise ValueError(f"a series that is not a shipped dataset needs config= (a TrainConfig with its "
                                 f"csv and reading settings, e.g. from make_config(csv=...)); got {ds.name!r}")
        base = config or make_config(dataset=ds.name, **{"seed": seed, **settings})
    ds = _job.load_series(base) if ds is None else ds
    base = dataclasses.replace(base, combine=(), select=False)  # a sweep tunes the network (no default combination)
    configs = []
    for cand in cands:  # every candidate checked on the data before any training
        cfg = dataclasses.replace(base, **cand)
        try:
            validate(cfg)
            _job.prepare_series(ds, cfg)
        except ValueError as exc:
            raise ValueError(f"candidate {_describe(cand)}: {exc}") from None
        configs.append(cfg)
    if started is not None:
        started()
    results = map_jobs(_series_job, [(ds, cfg.to_dict()) for cfg in configs], n_jobs=n_jobs, progress=progress)
    table, best = _table(parsed, cands, index, results, "val_rmse")
    if not math.isfinite(results[best]["score"]):
        raise ValueError(f"no candidate could be scored (e.g. {_describe(cands[0])}: "
                         f"{results[0].get('note') or 'validation RMSE not finite'}); use a lower lr or a --clip-norm")
    best_cfg = configs[best]
    result = _job.train(best_cfg, progress=False, data=ds)  # refitted and tested once
    return SweepResult(table=table, best=result, settings=cands[best], config=best_cfg, kind="series",
                       metric="val_rmse", grid=parsed, grid_size=total, notes=notes)


def _sweep_panel(data, parsed, cands, index, total, notes, config, seed, settings, horizon, windows, step,
                 n_jobs, progress, started):
    from fastrnn.forecast import backtest as _backtest
    from fastrnn.forecast import metrics as _metrics
    from fastrnn.forecast import panel as _panel
    from fastrnn.forecast import panel_job
    from fastrnn.forecast import panel_model as _pm
    from fastrnn.forecast.config import check_positive_int
    from fastrnn.forecast.datasets import load_panel
    from fastrnn.parallel import map_jobs

    shipped = None
    if isinstance(data, str):
        shipped = panel_job.PANEL_DEFAULTS.get(data)
        pan = load_panel(data)
    elif isinstance(data, _panel.Panel):
        pan = data
    else:
        pan = _panel.from_frame(data)
    if horizon is None:
        if shipped is None:
            raise ValueError("horizon is required for a panel that is not a shipped one; pass horizon=H")
        horizon = shipped["horizon"]
    horizon = check_positive_int("horizon", horizon)
    if check_positive_int("windows", windows) < 2:
        raise ValueError(f"a panel sweep needs windows >= 2 (the last origin is the test part, the others score "
                         f"the candidates); got windows={windows}")
    if config is None:
        kw = {**(shipped["config"] if shipped else {}), "seed": seed, **settings}
        kw.setdefault("look_back", panel_job.default_look_back(horizon, pan.season))
        config = _pm.PanelConfig(**kw)
    configs = []
    for cand in cands:
        try:
            configs.append(dataclasses.replace(config, **cand))
        except ValueError as exc:
            raise ValueError(f"candidate {_describe(cand)}: {exc}") from None
    look_back = max(c.look_back for c in configs)  # one plan: every candidate on the same series
    try:
        p = _backtest.plan(pan.values, look_back + horizon, horizon, windows, step)
    except ValueError as exc:  # DataError: no series long enough
        raise type(exc)(f"with the grid's largest look_back, {look_back}: {exc}") from None
    series = pan.values
    histories = {w: p.histories(series, w) for w in p.validation}  # never the test origin's data
    jobs = [(histories[w], horizon, c.to_dict()) for c in configs for w in p.validation]
    if started is not None:
        started()
    out = iter(map_jobs(_panel_job, jobs, n_jobs=n_jobs, progress=progress))
    results = []
    for _ in configs:
        mase, seconds, epochs = [], 0.0, 0
        for w in p.validation:
            r = next(out)
            sc = _metrics.score(p.actuals(series, w), r["forecasts"], histories[w], pan.season)
            mase.append(sc.per_series["mase"])
            seconds += r["seconds"]
            epochs += r["epochs"]
        with np.errstate(invalid="ignore"):
            val = float(np.nanmean(mase)) if np.isfinite(mase).any() else math.nan
        results.append({"score": val, "seconds": seconds, "epochs": epochs})
    table, best = _table(parsed, cands, index, results, "val_mase")
    if not math.isfinite(results[best]["score"]):
        raise ValueError("no candidate could be scored: every validation MASE is not finite; use a lower lr")
    best_cfg = configs[best]
    result = panel_job.backtest(pan, horizon, windows=windows, step=step, config=best_cfg,
                                strategy=best_cfg.strategy, multi=best_cfg.multi)
    return SweepResult(table=table, best=result, settings=cands[best], config=best_cfg, kind="panel",
                       metric="val_mase", grid=parsed, grid_size=total, notes=notes)


def write_sweep(result: SweepResult, folder, plot: bool = True) -> str | None:
    """Write the sweep's files into ``folder`` (a staging folder): ``best/`` (the run folder
    ``fastrnn train`` writes for the best candidate), ``sweep.csv`` (:attr:`SweepResult.table`)
    and, with matplotlib, ``sweep.png`` (every candidate's validation score, the best marked).

    Parameters
    ----------
    result : SweepResult
    folder : path
    plot : bool
        Write the plots (``sweep.png`` and the best run's).

    Returns
    -------
    str or None
        A note when the plots were skipped (matplotlib is not installed), else None.
    """
    folder = Path(folder)
    best = folder / "best"
    best.mkdir()
    if result.kind == "series":
        from fastrnn.forecast.runs import write_files

        write_files(result.best, best, plot)
    else:
        from fastrnn.forecast import panel_runs

        panel_runs.write(result.best, best, plot)
    result.table.to_csv(folder / "sweep.csv", index=False, float_format="%.10g")
    if not plot:
        return None
    from fastrnn.forecast.plots import agg_or_note

    note = agg_or_note("sweep.png and the best run's plots")
    if note is None:
        _plot(result, folder / "sweep.png")
    return note


def _plot(result: SweepResult, path: Path) -> None:
    import matplotlib.pyplot as plt

    t = result.table
    y = t[result.metric].to_numpy(dtype=np.float64)
    x = np.arange(len(t))
    best = int(np.flatnonzero(t["rank"].to_numpy() == 1)[0])
    fig, ax = plt.subplots(figsize=(max(5.0, min(14.0, 0.35 * len(t) + 3)), 4))
    ax.plot(x, y, "o", color="C0", ms=5)
    ax.plot([x[best]], [y[best]], "*", color="C3", ms=14, label=f"best: {_describe(result.settings)}")
    labels = [_describe({k: row[k] for k in result.grid}) for _, row in t.iterrows()]
    if len(t) <= 40:
        ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
    else:
        ax.set_xlabel("candidate (grid order)")
    ax.set_ylabel("validation " + ("RMSE" if result.metric == "val_rmse" else "mean MASE"))
    ax.set_title(f"{len(t)} candidates" + (f" of {result.grid_size}" if result.grid_size > len(t) else ""),
                 fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)

