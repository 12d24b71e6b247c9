"""``fastrnn train`` and ``fastrnn predict`` on a panel (many series): the shipped panels
(``--dataset tourism|retail``) or a CSV with ``--id-column``.

Only ``click`` at module level, as in :mod:`fastrnn.cli.forecast`; the work is
:func:`fastrnn.forecast.panel_job.backtest` and :mod:`fastrnn.forecast.panel_runs`.
"""

from __future__ import annotations

import shlex

import click

#: The shipped panels (a literal copy of ``fastrnn.forecast.datasets.panel_names()``, which imports
#: pandas; tests/test_panel_job.py checks that they agree). Their defaults are
#: ``fastrnn.forecast.panel_job.PANEL_DEFAULTS``.
PANELS = ("tourism", "retail")

#: Options of the single-series train that a panel run does not take.
_SINGLE_ONLY = ("optimizer", "backend", "transform", "scaler", "calendar", "ensemble", "resume", "start", "end",
                "no_header")


def is_panel(dataset, id_column) -> bool:
    """Whether ``fastrnn train`` was asked for a panel: a shipped panel's name, or ``--id-column``.

    Parameters
    ----------
    dataset : str or None
    id_column : str or None

    Returns
    -------
    bool
    """
    return id_column is not None or dataset in PANELS


def train(*, dataset, csv, id_column, column, date_column, read, horizon, windows, step, strategy, multi,
          settings, single_only, out, plot, errors, levels=None, statistical=None, series=None,
          covariates=(), past_covariates=()) -> None:
    """Run a panel backtest and write its run folder; print the table.

    ``settings``: the model options given (PanelConfig fields); ``single_only``: option name ->
    value of the single-series options (refused when given); ``errors``: the CLI's input-error
    handling ``(exception types, handler)``; ``levels``: conformal interval levels (``--level``);
    ``statistical``: ``False`` leaves out statsforecast's baselines; ``series``: the panel itself,
    already read (a single series as a panel of one), instead of ``dataset`` / ``csv``.
    """
    given = [name for name, v in single_only.items() if v not in (None, False)]
    if given:
        names = ", ".join("--" + n.replace("_", "-") for n in given)
        raise click.UsageError(f"{names} {'does' if len(given) == 1 else 'do'} not apply to a panel run "
                               f"(--id-column or a panel dataset)")
    names = (*covariates, *past_covariates)
    if names and series is None and csv is None:
        flags = " and ".join(f for f, v in (("--covariates", covariates), ("--past-covariates", past_covariates)) if v)
        raise click.UsageError(f"{flags} go{'es' if ' and ' not in flags else ''} with a CSV panel (--csv with "
                               f"--id-column); the shipped panel {dataset} has no covariates")
    from fastrnn.forecast import panel_job, panel_runs
    from fastrnn.forecast.runs import Staging

    unread = [n for n in names if series is not None and n not in series.covariates]
    if unread:  # a single series (--horizon): its reader fills Dataset.covariates
        raise click.ClickException(f"the series was read without its covariate column(s) {', '.join(unread)}; "
                                   f"give them as columns of the --csv file (a single series' covariates are read "
                                   f"by the series reader), or leave out --covariates/--past-covariates")

    input_errors, handle = errors
    try:
        if series is not None:
            pan, shipped = series, None
        else:
            pan, shipped = load(dataset=dataset, csv=csv, id_column=id_column, column=column,
                                date_column=date_column, read=read, covariates=names)
        H, cfg = config(pan, shipped, horizon, settings)
        if windows is None:
            windows = shipped["windows"] if shipped else panel_job.GENERIC_WINDOWS
        # A shipped panel's default run (one origin) uses the strategy chosen for it offline; with
        # validation origins, or for a CSV, the strategy is chosen on them unless given.
        offline = shipped is not None and windows == 1
        strategy = strategy or (cfg.strategy if offline else "auto")
        multi = multi or (cfg.multi if offline else "auto")
        staging = Staging.for_out(out, pan.name, cfg.model)
        with staging:  # discarded if the backtest fails or is interrupted
            lengths = pan.lengths()
            click.echo(f"{pan.name} ({len(pan)} series, {lengths.min()}-{lengths.max()} points, {pan.freq}, season "
                       f"{pan.season or 'none'}): {cfg.model.upper()} hidden {cfg.hidden}, look-back {cfg.look_back}, "
                       f"horizon {H}, {windows} origin(s) {step or H} apart (the last is the test part)"
                       + "".join(f"; {what}: {', '.join(v)}" for what, v in (
                           ("covariates known in advance", covariates), ("past covariates", past_covariates)) if v))
            result = panel_job.backtest(pan, H, windows=windows, step=step, config=cfg, strategy=strategy, multi=multi,
                                        progress=lambda text: click.echo(f"  {text} ...", err=True),
                                        levels=levels or (), statistical=statistical is not False,
                                        covariates=covariates, past_covariates=past_covariates)
            note = panel_runs.write(result, staging.path, plot)
        path = staging.final
    except BaseException as exc:
        if isinstance(exc, input_errors):
            raise handle(exc, csv) from None
        raise
    for n in result.notes:
        click.echo(n if n.startswith("Note:") else f"Note: {n}", err=True)
    if note:
        click.echo(f"Note: {note}", err=True)
    click.echo(format_table(result))
    files = ["model.npz", "panel.json", "metrics.json", "per_series.csv", "forecasts.csv"] + (
        ["forecast.png", "mase.png"] if plot and not note else [])
    click.echo(f"Saved {path}/  ({', '.join(files)})")
    click.echo(f"Forecast beyond the data: fastrnn predict --model {shlex.quote(str(path))}"
               + (f" (with --future FILE: the values of {', '.join(covariates)} at the next {H} dates)"
                  if covariates else ""))


def load(*, dataset, csv, id_column, column, date_column, read, covariates=()):
    """The panel of ``fastrnn train`` / ``sweep``: the CSV (``--id-column``) or a shipped panel;
    ``covariates``: the CSV's covariate columns to read (both kinds).

    Returns ``(panel, shipped)``: ``shipped`` is the shipped panel's entry of
    ``fastrnn.forecast.panel_job.PANEL_DEFAULTS`` (its horizon, windows and settings), None for a CSV.
    """
    from fastrnn.forecast import panel as _panel
    from fastrnn.forecast import panel_job
    from fastrnn.forecast.datasets import load_panel

    if csv is not None:
        return _panel.read_csv(csv, id_column=id_column, date_column=date_column, column=column,
                               covariates=list(covariates) or None, **read), None
    if dataset not in PANELS:
        raise click.UsageError(f"--id-column goes with --csv (the shipped panels are "
                               f"{', '.join(PANELS)}); got --dataset {dataset}")
    return load_panel(dataset), panel_job.PANEL_DEFAULTS.get(dataset)


def config(pan, shipped, horizon, settings):
    """The horizon and the forecaster's settings of a panel run: the options given (``settings``,
    PanelConfig fields; None: not given) over the shipped panel's defaults; the horizon defaults to
    the shipped panel's, else the season (8 without one), the look-back to
    ``panel_job.default_look_back``. Returns ``(horizon, PanelConfig)``."""
    from fastrnn.forecast import panel_job
    from fastrnn.forecast.panel_model import PanelConfig

    H = horizon or (shipped["horizon"] if shipped else pan.season if pan.season and pan.season > 1 else 8)
    cfg_kw = {**(shipped["config"] if shipped else panel_job.GENERIC_CONFIG),
              **{k: v for k, v in settings.items() if v is not None}}
    cfg_kw.setdefault("look_back", panel_job.default_look_back(H, pan.season))
    if cfg_kw.get("clip_norm") == 0:
        cfg_kw["clip_norm"] = None
    return H, PanelConfig(**cfg_kw)


def _series_panel(info, *, dataset, csv, column, date_column, read):
    """The single series of a ``--horizon`` run as a panel of one, with the run's id: read again from
    the run's source, or from ``--dataset`` / ``--csv`` (with the run's column and date column
    unless given)."""
    from fastrnn import forecast as fc
    from fastrnn.cli.forecast import prediction_source
    from fastrnn.forecast.panel import from_series

    stored = info["series_source"]
    src = prediction_source(stored, dataset=dataset, csv=csv, column=column or stored.get("column"),
                            date_column=date_column or stored.get("date_column"), read=read)
    # the run's covariate columns, also from another --csv
    src.update({k: stored[k] for k in ("covariates", "past_covariates") if stored.get(k)})
    return from_series(fc.load_series(src, season=info.get("season")), src, id=info["ids"][0])


def format_table(result) -> str:
    """The test table: every model's mean MASE, sMAPE, RMSSE, MAE, RMSE and share beating seasonal naive.

    Parameters
    ----------
    result : PanelResult

    Returns
    -------
    str
    """
    p = result.plan
    used, skipped = len(p.used), len(p.skipped)
    lines = [f"Test: the last {p.horizon} points of {used} series"
             + (f" ({skipped} too short, skipped)" if skipped else "") + ", mean over series"]
    if result.selection:
        chosen = f"{result.config.strategy}/{result.config.multi}"
        sel = ", ".join(f"{k} {v:.3f}" for k, v in result.selection.items())
        lines.append(f"Chosen on the validation origin(s) by mean MASE: {chosen} ({sel})")
    table = result.table()
    labels = {"model": f"fastrnn {result.config.model.upper()} ({result.config.strategy}, {result.config.multi})",
              "naive": "naive", "seasonal_naive": "seasonal naive", "linear_ar_pooled": "linear AR (pooled)",
              "linear_ar_local": "linear AR (per series)", "auto_ets": "AutoETS", "auto_theta": "AutoTheta",
              "auto_arima": "AutoARIMA"}
    head = f"  {'':38s} {'MASE':>7s} {'sMAPE':>7s} {'RMSSE':>7s} {'MAE':>10s} {'RMSE':>10s}"
    has_share = any("beats_snaive" in r for r in table.values())
    lines.append(head + ("  beats snaive" if has_share else ""))
    for name, row in table.items():
        line = (f"  {labels.get(name, name):38s} {row['mase']:7.3f} {row['smape']:7.2f} {row['rmsse']:7.3f} "
                f"{row['mae']:10.4g} {row['rmse']:10.4g}")
        if has_share and name != "seasonal_naive":
            line += f"  {100 * row['beats_snaive']:5.0f} %"
        lines.append(line)
    iv = result.intervals
    if iv:
        lines.append(f"Intervals: split conformal from the {iv['source']} (residuals / each series' MASE scale, "
                     f"pooled; {iv['n_residuals'][0]} per step)")
        for level in iv["levels"]:
            key = f"{level:g}"
            unbounded = sum(q is None for q in iv["quantiles"][key])
            extra = f"; unbounded at {unbounded} of {p.horizon} steps (too few residuals)" if unbounded else ""
            lines.append(f"  {key} %: test coverage {100 * iv['coverage'][key]:.1f} % over series and steps{extra}")
    secs = result.seconds
    lines.append(f"Time: fastrnn {secs['model']:.1f} s (selection and test fit), baselines "
                 + ", ".join(f"{labels.get(k, k)} {v:.1f} s" for k, v in secs.items() if k != "model"))
    return "\n".join(lines)


def predict(model_path, *, dataset, csv, id_column, column, date_column, read, output, force, errors,
            future=None) -> None:
    """Write (or print) the next horizon of every series of a panel run as a long CSV
    ``id, date, step, forecast``."""
    import json
    from pathlib import Path

    from fastrnn.forecast import panel as _panel
    from fastrnn.forecast import panel_runs
    from fastrnn.forecast.datasets import load_panel

    input_errors, handle = errors
    try:
        info = json.loads((Path(model_path) / "panel.json").read_text())
        known, past = panel_runs.covariate_names(info)
        if future is not None and not known:
            raise click.UsageError("--future goes with a run trained with --covariates; this run has none")
        if info.get("series_source") and id_column is None:  # a single series, run with --horizon
            pan = _series_panel(info, dataset=dataset, csv=csv, column=column, date_column=date_column, read=read)
        elif csv is not None:
            pan = _panel.read_csv(csv, id_column=id_column, date_column=date_column, column=column,
                                  covariates=[*known, *past] or None, **read)
        else:
            name = dataset or info.get("dataset")
            if name not in PANELS:
                raise click.UsageError("this panel run was trained on a CSV file; pass it with --csv PATH "
                                       "--id-column ...")
            pan = load_panel(name)
        frame = panel_runs.predict(model_path, pan, future=future,
                                   read={k: read[k] for k in ("sep", "decimal", "encoding", "date_format")
                                         if read.get(k) is not None})
    except input_errors as exc:
        raise handle(exc, csv) from None
    if output is None:
        click.echo(frame.to_csv(index=False).rstrip("\n"))
        return
    out = Path(output)
    if out.exists() and not force:
        raise click.ClickException(f"{output} exists; pass --force to replace it, or another --output")
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        frame.to_csv(tmp, index=False)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise click.ClickException(f"cannot write {output} ({exc.strerror or exc}); pass a writable --output") from None
    click.echo(f"Wrote {output} ({len(frame)} rows: {frame['id'].nunique()} series x {frame['step'].max()} steps)")
