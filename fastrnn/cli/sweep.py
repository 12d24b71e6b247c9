"""``fastrnn sweep``: a hyperparameter grid (or a random sample of it) scored on validation data
only; the best candidate refitted and tested once (:func:`fastrnn.forecast.sweep`).

Only ``click`` at module level, as in :mod:`fastrnn.cli.forecast`, whose option definitions,
error handling and interruption handling it shares.
"""

from __future__ import annotations

import contextlib
import shlex

import click

from fastrnn.cli._cluster import cluster_context, cluster_options
from fastrnn.cli.forecast import (
    INPUT_ERRORS,
    check_source,
    data_options,
    debug,
    exit_interrupted,
    format_report,
    input_error,
    interrupt_signals,
    jobs_option,
    model_options,
    panel_options,
    read_settings,
    season_option,
)

#: Option name -> the config field it sets, for the options a grid key may clash with.
_OPTION_OF = {"model": "--model", "look_back": "--look-back", "batch_size": "--batch-size",
              "clip_norm": "--clip-norm"}


class _GridUsage(click.ClickException):
    """A bad ``--grid`` (or an option clashing with it): one line, exit status 2 (option misuse)."""

    exit_code = 2


def _option(key: str) -> str:
    return _OPTION_OF.get(key, "--" + key.replace("_", "-"))


@click.command()
@data_options
@model_options
@click.option("--grid", required=True, metavar="'KEY=V1,V2;KEY=...'",
              help="The settings to vary and their values, e.g. 'hidden=16,32,64;lr=1e-3,3e-3'. Keys: the "
                   "model and training settings (model, hidden, layers, look_back, epochs, batch_size, lr, "
                   "optimizer, clip_norm, patience, dtype, backend, transform, scaler, calendar, ensemble; a "
                   "panel: model, hidden, layers, look_back, epochs, batch_size, lr, patience, clip_norm, "
                   "strategy, multi, dtype, transform, window_level, ensemble).")
@click.option("--samples", type=click.IntRange(min=1), metavar="N",
              help="Score N distinct candidates drawn at random from the grid (with --seed) instead of all.")
@click.option("--out", metavar="DIR",
              help="Folder to create (must be new or empty).  [default: runs/sweep-NAME-TIME]")
@click.option("--plot/--no-plot", default=True, show_default=True,
              help="Write sweep.png and the best run's plots (needs matplotlib).")
@season_option
@panel_options(windows_default="2", choice_default="global, direct")
@jobs_option
@cluster_options
def sweep(dataset, csv, column, date_column, start, end, sep, decimal, encoding, date_format, no_header,
          missing_dates, model_kind, hybrid, hidden, layers, look_back, epochs, batch_size, lr, optimizer, clip_norm,
          patience, seed, dtype, backend, transform, scaler, calendar, ensemble, grid, samples, out, plot, season,
          id_column, horizon, windows, step, strategy, multi, jobs, scheduler, dask_workers):
    """Search a hyperparameter grid on validation data; refit and test the best once.

    Every candidate (a combination of the --grid values, or --samples of them drawn with --seed)
    is trained as `fastrnn train` with those settings would train it, on the training part with
    early stopping on the validation part, and scored by its validation RMSE. On a panel (--id-column,
    or --dataset tourism|retail), every candidate is fitted at the validation origins of a
    rolling-origin backtest (--windows >= 2; the last origin is the test part) and scored by its mean
    validation MASE. The test part is never used for a choice. The other options fix the settings of
    every candidate; --seed is also the seed of the draw.

    The best candidate (lowest validation score; ties: the first in grid order) is refitted and
    tested once. DIR gets sweep.csv (every candidate in grid order: its settings, validation score,
    seconds, epochs, rank), sweep.png, and best/, the run folder `fastrnn train` writes for it (use
    it with `fastrnn predict --model DIR/best`). DIR appears only when all of it is written.

    \b
    Examples:
      fastrnn sweep --grid 'hidden=16,32,64;lr=1e-3,3e-3' --ensemble 1
      fastrnn sweep --dataset stock --grid 'model=lstm,gru;hidden=16,32;look_back=10,20' --samples 4
      fastrnn sweep --csv stores.csv --id-column store --horizon 12 --grid 'strategy=global,local;hidden=16,32'
    """
    read = read_settings(sep, decimal, encoding, date_format, no_header, missing_dates)
    check_source(dataset, csv, column, date_column, read)
    from fastrnn.cli import panel

    is_panel = panel.is_panel(dataset, id_column)
    if is_panel:
        given = [n for n, v in (("--hybrid", hybrid), ("--optimizer", optimizer), ("--backend", backend),
                                ("--transform", transform), ("--scaler", scaler), ("--calendar", calendar),
                                ("--ensemble", ensemble),
                                ("--start", start), ("--end", end), ("--no-header", no_header or None))
                 if v is not None]
        if given:
            raise click.UsageError(f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply to a panel "
                                   f"(--id-column or a panel dataset); a panel's transform and ensemble go in --grid")
        for name, value in (("--strategy", strategy), ("--multi", multi)):
            if value == "auto":
                raise click.UsageError(f"{name} auto is a choice on validation, which the sweep makes: put "
                                       f"{name[2:]}=... in --grid, or fix one with {name} VALUE")
    else:
        extra = [n for n, v in (("--horizon", horizon), ("--windows", windows), ("--step", step),
                                ("--strategy", strategy), ("--multi", multi)) if v is not None]
        if extra:
            raise click.UsageError(f"{', '.join(extra)} go{'es' if len(extra) == 1 else ''} with a panel "
                                   f"(--id-column, or --dataset tourism|retail); a single series is forecast one "
                                   f"step ahead")
    if is_panel:
        fixed = dict(model=model_kind, hidden=hidden, layers=layers, look_back=look_back, epochs=epochs,
                     batch_size=batch_size, lr=lr, patience=patience, clip_norm=clip_norm, seed=seed, dtype=dtype,
                     strategy=strategy, multi=multi)
    else:
        fixed = dict(model=model_kind, hidden=hidden, layers=layers, look_back=look_back, epochs=epochs,
                     batch_size=batch_size, lr=lr, optimizer=optimizer, clip_norm=clip_norm, patience=patience,
                     seed=seed, dtype=dtype, backend=backend, transform=transform, scaler=scaler, calendar=calendar,
                     ensemble=ensemble, hybrid=hybrid)
    from fastrnn.forecast import sweeps

    try:
        parsed = sweeps.parse_grid(grid, "panel" if is_panel else "series")
    except sweeps.GridError as exc:
        raise _GridUsage(f"--grid: {exc}") from None
    both = [k for k in parsed if fixed.get(k) is not None]
    if both:
        raise _GridUsage(f"{', '.join(_option(k) for k in both)} and --grid both set {', '.join(both)}; "
                         f"give {'it' if len(both) == 1 else 'each'} in one place")
    if is_panel and windows is not None and windows < 2:
        raise _GridUsage(f"--windows {windows}: a panel sweep needs at least 2 origins (the last is the test "
                         f"part, the others score the candidates); use --windows 2 or more")

    from fastrnn import threads
    from fastrnn.forecast.runs import Staging

    with interrupt_signals() as signals, contextlib.ExitStack() as restore:
        if jobs is not None:  # for this command only
            restore.callback(threads.set_parallelism, threads.set_parallelism(jobs))
        try:
            restore.enter_context(cluster_context(scheduler, dask_workers))
            if is_panel:
                read.pop("header", None)
                if season is not None:
                    read["season"] = season or None
                pan, shipped = panel.load(dataset=dataset, csv=csv, id_column=id_column, column=column,
                                          date_column=date_column, read=read)
                H, base = panel.config(pan, shipped, horizon, fixed)
                data, name, kw = pan, pan.name, dict(horizon=H, windows=windows or 2, step=step)
                header = (f"{pan.name} ({len(pan)} series, {pan.freq}, season {pan.season or 'none'}): horizon {H}, "
                          f"{kw['windows']} origins {step or H} apart; every candidate is scored by its mean MASE "
                          f"on the {kw['windows'] - 1} validation origin(s), the last origin is the test part")
            else:
                data, base = _series(dataset, csv, column, date_column, start, end, read, season, fixed)
                name, kw = base.name, {}
                span = f", {data.start.date()} to {data.end.date()}" if data.dates is not None else ""
                header = (f"{data.name} ({data.column}, {len(data)} points{span}): every candidate trained as "
                          f"`fastrnn train` trains it, scored by its validation RMSE (one step ahead, original "
                          f"units); the test part is kept for the best")
            # the folder is reserved before any training (an unwritable --out fails now)
            staging = Staging.for_out(out, "sweep", name)
            import sys

            with staging:  # discarded if the sweep fails or is interrupted
                result = sweeps.sweep(data, parsed, samples=samples, seed=seed or 0, config=base,
                                      progress=sys.stderr.isatty(), started=lambda: click.echo(header), **kw)
                note = sweeps.write_sweep(result, staging.path, plot)
            path = staging.final
        except BaseException as exc:  # incl. KeyboardInterrupt: nothing is left in --out
            if isinstance(exc, KeyboardInterrupt):
                signals.caught()
            if isinstance(exc, KeyboardInterrupt) and not debug():
                exit_interrupted(exc, 0, None, before="the sweep")
            if isinstance(exc, sweeps.GridError) and not debug():
                raise _GridUsage(str(exc)) from None
            if isinstance(exc, INPUT_ERRORS) and not debug():
                raise input_error(exc, csv) from None
            raise
    for n in result.notes:
        click.echo(f"Note: {n.replace(f'samples={samples} ', f'--samples {samples} ')}", err=True)
    if result.kind == "panel":
        for n in result.best.notes:
            click.echo(n if n.startswith("Note:") else f"Note: {n}", err=True)
    if note:
        click.echo(f"Note: {note}", err=True)
    click.echo(format_table(result))
    best = " ".join(f"{k}={sweeps.format_value(v)}" for k, v in result.settings.items())
    click.echo(f"Best: {best}; refitted and tested once:")
    click.echo(format_report(result.best.metrics) if result.kind == "series" else panel.format_table(result.best))
    files = ["sweep.csv"] + (["sweep.png"] if plot and not note else []) + ["best/"]
    click.echo(f"Saved {path}/  ({', '.join(files)})")
    ahead = " --steps 12" if result.kind == "series" else ""
    click.echo(f"Forecast beyond the data: fastrnn predict --model {shlex.quote(str(path / 'best'))}{ahead}")


def _series(dataset, csv, column, date_column, start, end, read, season, fixed):
    """The series and the fixed settings of a single-series sweep, read as ``fastrnn train`` reads them."""
    from fastrnn import forecast as fc

    season = "auto" if season is None else (season or None)
    overrides = dict(column=column, date_column=date_column, start=start, end=end, **fixed)
    if csv is not None:
        ds = fc.load_series({"csv": csv, "column": column, "date_column": date_column, "start": start, "end": end,
                             **read}, season=season)
        resolved = {k: ds.read_info[k] for k in fc.READ_SETTINGS}  # predict reads alike
        return ds, fc.make_config(csv=csv, season=ds.season, **overrides, **resolved)
    cfg = fc.make_config(dataset=dataset, **overrides)
    return fc.load_series(cfg, season=season), cfg


def format_table(result, top: int = 10) -> str:
    """The candidates of a sweep, best first (at most ``top``), and how many there were.

    Parameters
    ----------
    result : SweepResult
    top : int

    Returns
    -------
    str
    """
    from fastrnn.forecast.sweeps import format_value

    t = result.table.sort_values("rank")
    n, metric = len(t), result.metric
    label = "validation RMSE" if metric == "val_rmse" else "mean validation MASE"
    of = f" drawn from a grid of {result.grid_size}" if result.grid_size > n else ""
    lines = [f"Sweep: {n} candidates{of}, ranked by {label}" + (f" (the best {top} shown)" if n > top else "")]
    keys = list(result.grid)
    head = ["rank", *keys, metric, "epochs", "seconds"]
    rows = []
    for r in t.head(top).to_dict("records"):
        rows.append([str(int(r["rank"])), *(format_value(r[k]) for k in keys), f"{r[metric]:.4g}",
                     str(int(r["epochs"])), f"{r['seconds']:.1f}"])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    lines.append("  " + "  ".join(h.rjust(w) for h, w in zip(head, widths)))
    lines += ["  " + "  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows]
    failed = int((~t[metric].map(lambda v: v == v and abs(v) != float("inf"))).sum())
    if failed:
        lines.append(f"  ({failed} candidate(s) could not be scored: see the note column of sweep.csv)")
    return "\n".join(lines)
