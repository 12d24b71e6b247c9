"""The forecasting job behind ``fastrnn train`` and ``fastrnn predict``.

One call of :func:`run` does the whole train job::

    data -> prepare (transform, scale, windows) -> model -> fit (early stopping on validation)
         -> test metrics beside the baselines -> artefacts (model.npz, metrics.json, ...)

and :func:`forecast` extends a series recursively with a trained run.

Library use::

    from fastrnn import forecast
    cfg = forecast.make_config(dataset="airline")          # the tuned defaults
    result = forecast.train(cfg)                           # TrainResult
    result.metrics["test"]                                 # {"rmse": ..., "mae": ...}
    forecast.write_run(result, "runs/my-airline")          # model.npz, metrics.json, ...
    run = forecast.load_run("runs/my-airline")
    forecast.forecast(run, forecast.load_series(run.source_config()).values, steps=12)

Evaluation protocol (the same for the model and the baselines): a chronological split, the last
``test_fraction`` (0.33) of the points for testing and the last ``val_fraction`` of the points
before them for validation (early stopping); one-step-ahead forecasts of every test point, mapped
back to original units, scored by RMSE and MAE. See :mod:`fastrnn.preprocessing` and
:mod:`fastrnn.baselines`.

Defaults
--------
:data:`DEFAULTS` holds one tuned configuration per shipped dataset and :data:`GENERIC` the one used
for a CSV file. They were chosen **on the validation part only** (the test part was never looked
at while choosing) by ``scripts/select_forecast_defaults.py``; its output, the candidates and their
validation scores, is summarised next to each entry below.

Calendar inputs and ensembles
-----------------------------
``calendar=True`` adds the sine and cosine of the day of the year as two more inputs per step (the
date of the point each step leads to; see :func:`fastrnn.preprocessing.calendar_features`), so
the model knows the target's date; it needs a dated series, in training and in :func:`forecast`.
``ensemble=N`` trains N members with seeds ``seed .. seed+N-1``, each with its own early stopping,
and averages their outputs; :func:`merge_ensemble` turns them into one ordinary model (the members
side by side, block-diagonal weights, an averaging head), which is what ``model.npz`` holds.
``metrics.json`` lists each member's seed, epochs and validation RMSE under ``"members"``.

Run folders
-----------
:func:`write_run` writes ``model.npz``, ``metrics.json``, ``preprocessing.json`` and, with
matplotlib, ``loss.png`` and ``forecast.png``. Everything is written into a temporary sibling
folder (a :class:`Staging` folder, ``.NAME.tmp-PID-XXXXXXXX``) which is renamed to the final name at
the very end, so a failure never leaves a half-written run. The target folder must not exist, or be
empty: a non-empty folder is refused, never overwritten. Without an explicit folder, a fresh one
``runs/<name>-<model>-<YYYYmmdd-HHMMSS>`` is reserved atomically (``os.mkdir``; ``-2``, ``-3``, ...
appended while the name is taken), so concurrent runs never share a folder.

Interrupted runs and resume
---------------------------
The staging folder is also the resumable state of a run: it holds ``resume.json`` (the resolved
configuration, the data source and a digest of the data, written when it is created) and one
``member-K.npz`` checkpoint per finished ensemble member (written atomically as each finishes).
When a run is interrupted (Ctrl-C; in ``fastrnn train`` also SIGTERM and SIGHUP) after at least one
member has finished, the staging folder is kept, and ``run(None, resume=PATH)`` (``fastrnn train
--resume PATH``) continues it: finished members are loaded, the interrupted one is trained again
from its start (checkpoints are per member, not per epoch), and the result is bitwise the one an
uninterrupted run gives (every array of ``model.npz``, every metric but the timings and
``created``). An interruption before any member has finished removes the staging folder.

Divergence
----------
When a member's loss became NaN or infinite, or the model's validation or test RMSE is more than
:data:`DIVERGENCE_FACTOR` (10) times persistence's, ``metrics["warning"]`` says so with the fix
(``fastrnn train`` prints it under the table). The run is still saved: see
:func:`divergence_warning`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import secrets
import shutil
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from fastrnn import cells as _cells

__all__ = [
    "DEFAULTS", "GENERIC", "MODELS", "TRANSFORMS", "SCALERS", "OPTIMIZERS", "READ_SETTINGS", "TrainConfig",
    "TrainResult", "Run", "make_config", "load_series", "prepare_series", "build_model",
    "fit_model", "score", "train", "run", "Staging", "default_out_dir", "write_run", "write_files",
    "load_run", "forecast", "future_dates", "max_steps", "check_steps", "training_memory",
    "RunError", "merge_ensemble", "DIVERGENCE_FACTOR", "divergence_warning",
]

MODELS = _cells.KINDS
TRANSFORMS = ("none", "log", "diff", "log+diff")
SCALERS = ("standard", "minmax", "none")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")
RUN_FORMAT = 2  # 2: calendar features (runs without them are still written as format 1)


class RunError(ValueError):
    """A problem with a run folder (missing, not a run, not writable, not empty)."""


# ---------------------------------------------------------------------------------------------------
# Defaults
# ---------------------------------------------------------------------------------------------------

#: Settings common to every configuration unless an entry overrides them.
_BASE = dict(
    model="gru", hidden=32, layers=1, look_back=12, epochs=100, batch_size=32, lr=3e-3,
    optimizer="adam", clip_norm=1.0, patience=10, seed=0, dtype="float32", backend="numba",
    transform="diff", scaler="standard", test_fraction=0.33, val_fraction=0.1,
    calendar=False, ensemble=1,
)

#: Tuned defaults per shipped dataset, chosen on VALIDATION data only (never the test part) by
#: ``scripts/select_forecast_defaults.py``: validation RMSE in original units, one step ahead, mean
#: over seeds 0, 1, 2, every candidate trained with early stopping on the validation loss. The
#: candidates and their validation scores are in ``scripts/select_forecast_defaults.txt``.
DEFAULTS: dict[str, dict] = {
    # Monthly, trend + multiplicative yearly season: log+diff removes both, look-back 13 sees the
    # same month a year ago. Validation = the last 12 months before the test part (one full season:
    # val_fraction 0.125 of the 96 pre-test months), fixed before tuning. 72 candidates; chosen
    # val RMSE 5.46 (persistence 33.9, linear AR(13) 7.76 on the same validation months).
    # Ensemble of 5 (seeds seed..seed+4) from the stage-3 check on validation: val RMSE mean over
    # seeds 0-2 5.468 for one model, 4.755 for five (the same rule as for the other datasets:
    # five members whenever they lower the validation RMSE; training stays a few seconds).
    "airline": dict(_BASE, model="lstm", hidden=64, look_back=13, transform="log+diff",
                    val_fraction=0.125, epochs=300, batch_size=16, lr=1e-2, patience=30, ensemble=5),
    # Daily, stationary around a yearly cycle: no transform. Stages 1-2 (25 candidates) chose a GRU
    # 16, look-back 30, lr 1e-3: val RMSE 2.176 (persistence 2.498, linear AR(30) 2.221). Stage 3
    # (16 candidates, all 5-member ensembles) added calendar inputs (sine/cosine of the target's day
    # of the year): chosen GRU 16, look-back 30, lr 3e-3, calendar, ensemble of 5: val RMSE 2.130
    # (best eligible 2.123 with hidden 32; the same ensemble without calendar 2.175).
    "temperature": dict(_BASE, model="gru", hidden=16, look_back=30, transform="none",
                        calendar=True, ensemble=5, epochs=100, batch_size=32, lr=3e-3,
                        patience=10),
    # Daily prices, close to a random walk: model the differences; expect about persistence.
    # Ensemble of 5: stage-3 check on validation 0.6537 (one model) -> 0.6523 (five).
    "stock": dict(_BASE, model="lstm", hidden=32, look_back=10, transform="diff",
                  epochs=50, batch_size=64, lr=1e-3, patience=5, ensemble=5),
}

#: Defaults for ``--csv`` (not tuned on any particular series): a GRU on differences (robust to
#: trends, no positivity needed), a look-back of one season plus one step when the season is known
#: (else 12), Adam 3e-3 with early stopping -- the middle ground of the tuned entries above.
GENERIC: dict = dict(_BASE, look_back=None)


@dataclass
class TrainConfig:
    """Everything that defines a training run (the CLI options of ``fastrnn train``)."""

    dataset: str | None = "airline"
    csv: str | None = None
    column: str | None = None
    date_column: str | None = None
    start: str | None = None
    end: str | None = None
    model: str = "gru"
    hidden: int = 32
    layers: int = 1
    look_back: int = 12
    epochs: int = 100
    batch_size: int = 32
    lr: float = 3e-3
    optimizer: str = "adam"
    clip_norm: float | None = 1.0
    patience: int = 10
    seed: int = 0
    dtype: str = "float32"
    backend: str = "numba"
    transform: str | None = "diff"
    scaler: str | None = "standard"
    test_fraction: float = 0.33
    val_fraction: float = 0.1
    calendar: bool = False
    ensemble: int = 1
    # How the CSV is read (see fastrnn.datasets.load_csv); the resolved values are kept so that
    # predict re-reads the file the same way. None: detect.
    sep: str | None = None
    decimal: str | None = None
    encoding: str | None = None
    date_format: str | None = None
    header: bool = True
    missing_dates: str = "error"

    @property
    def name(self) -> str:
        """Dataset name, or the CSV file's stem."""
        return self.dataset if self.csv is None else Path(self.csv).stem

    def source(self) -> dict:
        """Where the data comes from (what :func:`load_series` needs); for a CSV also how it is
        read (``sep``, ``decimal``, ``encoding``, ``date_format``, ``header``, ``missing_dates``)."""
        src = {"dataset": self.dataset if self.csv is None else None,
               "csv": None if self.csv is None else str(Path(self.csv).resolve()),
               "column": self.column, "date_column": self.date_column,
               "start": self.start, "end": self.end}
        if self.csv is not None:
            src.update({k: getattr(self, k) for k in READ_SETTINGS})
            src["header"] = bool(src["header"])
        return src

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _check_positive_int(name, v, minimum=1):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {v!r}")


def make_config(dataset: str | None = None, csv: str | None = None, season: int | None = None,
                **overrides) -> TrainConfig:
    """A :class:`TrainConfig`: the defaults of ``dataset`` (or :data:`GENERIC` for ``csv``), with
    every override that is not ``None`` applied. With neither, the airline defaults.

    ``season`` (of the CSV series) picks the generic look-back (season + 1) when none is given.
    ``clip_norm=0`` means no clipping. For a CSV, pass the settings it was read with
    (:data:`READ_SETTINGS`, from its ``Dataset.read_info``): they are stored in the run's source.
    """
    from fastrnn.datasets import DataError, names

    if dataset is not None and csv is not None:
        raise ValueError("give a dataset or a CSV file, not both")
    if csv is None:
        dataset = "airline" if dataset is None else dataset
        if dataset not in DEFAULTS:
            raise DataError(f"unknown dataset {dataset!r}; choose one of: {', '.join(names())} "
                            f"(or pass a CSV file)")
        base = dict(DEFAULTS[dataset])
    else:
        base = dict(GENERIC)
        base["look_back"] = season + 1 if season else 12
    unknown = set(overrides) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
    base.update({k: v for k, v in overrides.items() if v is not None})
    base.update(dataset=dataset if csv is None else None, csv=None if csv is None else str(csv))
    cfg = TrainConfig(**base)
    _validate(cfg)
    return cfg


def _validate(cfg: TrainConfig) -> None:
    if cfg.model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}; got {cfg.model!r}")
    for name in ("hidden", "layers", "look_back", "epochs", "batch_size", "ensemble"):
        _check_positive_int(name, getattr(cfg, name))
    _check_positive_int("patience", cfg.patience, 0)
    if not (isinstance(cfg.lr, (int, float)) and math.isfinite(cfg.lr) and cfg.lr > 0):
        raise ValueError(f"lr must be a positive number; got {cfg.lr!r}")
    if cfg.clip_norm is not None and not (math.isfinite(cfg.clip_norm) and cfg.clip_norm >= 0):
        raise ValueError(f"clip_norm must be >= 0 (0: no clipping); got {cfg.clip_norm!r}")
    if cfg.clip_norm == 0:
        cfg.clip_norm = None
    if cfg.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {cfg.optimizer!r}")
    if cfg.transform == "none":
        cfg.transform = None
    if cfg.transform not in (None, "log", "diff", "log+diff"):
        raise ValueError(f"transform must be one of {', '.join(TRANSFORMS)}; got {cfg.transform!r}")
    if cfg.scaler == "none":
        cfg.scaler = None
    if cfg.scaler not in (None, "standard", "minmax"):
        raise ValueError(f"scaler must be one of {', '.join(SCALERS)}; got {cfg.scaler!r}")
    if cfg.dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64; got {cfg.dtype!r}")
    if cfg.backend not in ("numba", "numpy"):
        raise ValueError(f"backend must be numba or numpy; got {cfg.backend!r}")
    if not isinstance(cfg.calendar, (bool, np.bool_)):
        raise ValueError(f"calendar must be True or False; got {cfg.calendar!r}")
    cfg.calendar = bool(cfg.calendar)
    if not 0 < cfg.val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1); got {cfg.val_fraction!r}")
    _check_memory(cfg)


def _n_parameters(kind: str, input_size: int, hidden: int, layers: int) -> int:
    """Parameters of a one-output model, by :func:`fastrnn.models.parameter_shapes` (counted on one
    and two layers and extrapolated: every layer above the first has the same shapes)."""
    from fastrnn.models import parameter_shapes

    one, two = (sum(math.prod(s) for s in parameter_shapes(kind, input_size, hidden, 1, k).values())
                for k in (1, 2))
    return one + (layers - 1) * (two - one)


def training_memory(cfg: TrainConfig, n_windows: int | None = None) -> int:
    """Estimated peak bytes of :func:`train` for ``cfg``: a rough upper bound for refusing what
    cannot fit before it starts, not a measurement.

    It counts, per ensemble member, the parameters, their gradients, the optimizer state (two
    moments) and two copies of the best weights, plus the float64 arrays of the initialisation;
    every member is kept until :func:`merge_ensemble` builds the merged model (hidden size
    ``ensemble * hidden``, whose square weight blocks make it ``ensemble`` times larger than all
    members together) through float64 arrays. With ``n_windows`` (the windows of the largest part,
    usually training), also the BPTT caches of one minibatch, ``look_back * B * (2G + 5) * hidden``
    numbers per layer (G gates, B the batch size or fewer windows), and of the forward passes that
    score the merged model (batches of up to 1024 windows).
    """
    b = np.dtype(cfg.dtype).itemsize
    n_in = 3 if cfg.calendar else 1
    G = {"lstm": 4, "gru": 3, "rnn": 1}[cfg.model]
    P = _n_parameters(cfg.model, n_in, cfg.hidden, cfg.layers)
    N = cfg.ensemble
    need = N * P * b + 6 * P * b + 8 * P
    if N > 1:
        need += _n_parameters(cfg.model, n_in, N * cfg.hidden, cfg.layers) * (16 + b)
    if n_windows is not None:
        T, B = cfg.look_back, min(cfg.batch_size, n_windows)
        need += cfg.layers * T * B * (2 * G + 5) * cfg.hidden * b
        need += cfg.layers * T * min(1024, n_windows) * (G + 3) * N * cfg.hidden * b
    return int(need)


def _check_memory(cfg: TrainConfig, n_windows: int | None = None) -> None:
    """Raise ValueError if :func:`training_memory` does not fit in the available memory, naming a
    smaller hidden size (or number of layers, ensemble size, look-back, batch size) that fits."""
    from fastrnn import _memory

    need = training_memory(cfg, n_windows)
    if _memory.fits(need):
        return
    options = {"hidden": "--hidden", "layers": "--layers", "ensemble": "--ensemble"}
    if n_windows is not None:
        options.update(look_back="--look-back", batch_size="--batch-size")
    # first the setting furthest above the usual (the one the user most likely raised)
    for name in sorted(options, key=lambda k: -getattr(cfg, k) / (_BASE[k] or 12)):
        option = options[name]
        best = _memory.largest_fitting(
            lambda v, name=name: training_memory(dataclasses.replace(cfg, **{name: v}), n_windows),
            1, getattr(cfg, name) - 1) if getattr(cfg, name) > 1 else None
        if best:
            fix = f"use {name}={best} or less ({option} {best})"
            break
    else:
        fix = "use a smaller model (--hidden, --layers, --ensemble)"
    ens = f", ensemble of {cfg.ensemble}" if cfg.ensemble > 1 else ""
    article = "a" if cfg.model == "gru" else "an"
    raise ValueError(
        f"training {article} {cfg.model.upper()} with hidden={cfg.hidden}, layers={cfg.layers}{ens} "
        f"({cfg.dtype}) needs about {_memory.format_bytes(need)} of memory, but only "
        f"{_memory.format_bytes(_memory.available_bytes())} are available; {fix}")


# ---------------------------------------------------------------------------------------------------
# Data, model, training
# ---------------------------------------------------------------------------------------------------


#: How a CSV is read: the keys that :meth:`TrainConfig.source` adds for a CSV (``None``: detect).
READ_SETTINGS = ("sep", "decimal", "encoding", "date_format", "header", "missing_dates")


def load_series(source, season: int | None | str = "auto"):
    """Load the series described by a :class:`TrainConfig` or a ``source()`` dict.

    ``season``: ``"auto"`` keeps the data's own (inferred for a CSV, known for a dataset); an
    integer or ``None`` (no season) overrides it. A source without the CSV reading keys (runs
    written before they existed) is read with detection and the defaults.
    """
    from fastrnn import datasets

    src = source.source() if isinstance(source, TrainConfig) else dict(source)
    if src.get("csv"):
        read = {k: src[k] for k in READ_SETTINGS if src.get(k) is not None}
        return datasets.load_csv(src["csv"], column=src.get("column"),
                                 date_column=src.get("date_column"), start=src.get("start"),
                                 end=src.get("end"), season=season, **read)
    return datasets.load(src["dataset"], start=src.get("start"), end=src.get("end"),
                         season="known" if season == "auto" else season)


def prepare_series(data, cfg: TrainConfig):
    """Windows of ``data`` for ``cfg`` (see :func:`fastrnn.preprocessing.prepare`). Raises
    ValueError if training on them would not fit in memory (:func:`training_memory`)."""
    from fastrnn.preprocessing import prepare

    prep = prepare(data, cfg.look_back, horizon=1, scaler=cfg.scaler, transform=cfg.transform,
                   test_fraction=cfg.test_fraction, val_fraction=cfg.val_fraction,
                   calendar=cfg.calendar, dtype=cfg.dtype)
    _check_memory(cfg, max(len(prep.y_train), len(prep.y_val), len(prep.y_test)))
    return prep


def build_model(cfg: TrainConfig, seed: int | None = None):
    """An untrained model for ``cfg`` (one input, or three with calendar features; one output)."""
    from fastrnn.models import model_class

    cls = model_class(cfg.model)
    return cls(input_size=3 if cfg.calendar else 1, hidden_size=cfg.hidden, output_size=1,
               num_layers=cfg.layers, dtype=cfg.dtype, backend=cfg.backend,
               seed=cfg.seed if seed is None else seed)


def merge_ensemble(models):
    """One model whose output is exactly the mean of the outputs of ``models``.

    The members (same kind, sizes and dtype; one direction, no dropout) run side by side in one wider
    model: hidden size ``N * H``, every gate's weights block-diagonal (member ``k`` owns hidden units
    ``k*H .. (k+1)*H - 1`` of each gate and of each layer, and sees only its own units), and the head
    averages the members' heads. So an ensemble is saved, loaded (:func:`fastrnn.load`) and used like
    any model; its predictions equal the members' mean up to float rounding.
    """
    from fastrnn import models as _models

    models = list(models)
    if not models:
        raise ValueError("merge_ensemble needs at least one model")
    if len(models) == 1:
        return models[0]
    c0 = models[0].config()
    for m in models[1:]:
        c = m.config()
        if {k: v for k, v in c.items() if k != "seed"} != {k: v for k, v in c0.items() if k != "seed"}:
            raise ValueError("ensemble members must have the same kind, sizes and settings")
    if c0["bidirectional"] or c0["return_sequences"] or c0["dropout"]:
        raise ValueError("merge_ensemble supports one-direction, last-step models without dropout")
    N, H = len(models), c0["hidden_size"]
    kw = {k: v for k, v in c0.items() if k != "kind"}
    kw["hidden_size"] = N * H
    merged = _models.model_class(c0["kind"])(**kw)
    shapes = merged._shapes()
    states = [m.state_dict() for m in models]
    new = {}
    for name, shape in shapes.items():
        if name == "head.weight":
            new[name] = np.concatenate([st[name] for st in states], axis=1) / N
            continue
        if name == "head.bias":
            new[name] = np.mean([st[name] for st in states], axis=0)
            continue
        G = shape[0] // (N * H)
        out = np.zeros(shape, dtype=np.float64)
        square = len(shape) == 2 and (name.startswith("weight_hh") or not name.endswith("_l0"))
        for k, st in enumerate(states):
            src = st[name]
            for g in range(G):
                rows = slice(g * N * H + k * H, g * N * H + (k + 1) * H)
                blk = src[g * H:(g + 1) * H]
                if len(shape) == 1:
                    out[rows] = blk
                elif square:  # input is the (merged) hidden state: member k's own columns
                    out[rows, k * H:(k + 1) * H] = blk
                else:  # first layer's input: shared by every member
                    out[rows] = blk
        new[name] = out
    merged.load_state_dict(new)
    return merged


def fit_model(model, prep, cfg: TrainConfig, progress: bool | None = False, seed=None):
    """Train ``model`` on ``prep``'s training windows with early stopping on the validation loss.

    One :meth:`fastrnn.Trainer.fit` with an :class:`~fastrnn.trainer.EarlyStopping` callback: stop
    when the validation loss has not improved for ``cfg.patience`` epochs (``0``: never stop
    early); either way the model ends with the weights of the epoch with the lowest validation
    loss. Returns the :class:`~fastrnn.trainer.History`.

    ``progress``: ``True`` shows a bar over the epochs, ``False`` none, ``None`` only on a terminal
    (tqdm's rule). Raises ``ValueError`` when the loss became NaN or infinite in the first epoch.
    """
    from fastrnn import optim
    from fastrnn.trainer import EarlyStopping, NonFiniteLossWarning, ProgressBar, Trainer

    opt = optim.get(cfg.optimizer, model.parameters(), lr=cfg.lr)
    trainer = Trainer(model, loss="mse", optimizer=opt, clip_norm=cfg.clip_norm, seed=seed)
    callbacks = [] if progress is False else [ProgressBar("training", disable=None if progress is None else False)]
    with warnings.catch_warnings():
        # a diverged member is reported by the caller (train's divergence warning), not warned twice
        warnings.simplefilter("ignore", NonFiniteLossWarning)
        hist = trainer.fit(prep.X_train, prep.y_train, validation_data=(prep.X_val, prep.y_val),
                           epochs=cfg.epochs, batch_size=cfg.batch_size, shuffle=True, verbose=0,
                           early_stopping=EarlyStopping(patience=cfg.patience or None),
                           callbacks=callbacks)
    if hist.best_epoch is None:
        raise ValueError(f"training failed: {hist.stop_reason}")
    return hist


def score(model, prep, which: str) -> dict:
    """RMSE and MAE of the model's one-step forecasts of a part, in original units, plus the
    forecasts themselves (``"pred"``, shape (N,))."""
    from fastrnn.baselines import mae, rmse

    X = getattr(prep, f"X_{which}")
    pred = prep.inverse(model.predict(X, batch_size=1024), which)
    y = prep.targets(which)
    return {"rmse": rmse(y, pred), "mae": mae(y, pred), "pred": pred[:, 0]}


@dataclass
class TrainResult:
    """What :func:`train` produces."""

    config: TrainConfig
    data: object  # fastrnn.datasets.Dataset
    prep: object  # fastrnn.preprocessing.Prepared
    model: object
    history: object  # fastrnn.trainer.History of the first member
    metrics: dict
    test_pred: np.ndarray
    baseline_pred: dict
    histories: list = field(default_factory=list)  # one trainer.History per ensemble member
    resumed: int = 0  # members loaded from checkpoints instead of trained (see train)


def _iso(ts) -> str | None:
    """A timestamp as ``YYYY-MM-DD`` (midnight) or full ISO format; ``None`` stays ``None``."""
    if ts is None:
        return None
    return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()


def train(cfg: TrainConfig, progress: bool | None = False, data=None, prep=None,
          checkpoint=None) -> TrainResult:
    """Run the train job: load, prepare, fit, score against the baselines. Writes nothing, except
    checkpoints into ``checkpoint``.

    ``data`` (a Dataset) and ``prep`` (its :func:`prepare_series` for ``cfg``) skip those steps.

    ``checkpoint``: a folder (a :class:`Staging` folder) for resumable state, at the granularity of
    ensemble members: each member's weights and history are saved atomically (``member-K.npz``,
    written under a temporary name, then ``os.replace``) as soon as it has finished, and a member
    whose checkpoint is already there is loaded instead of trained. An interrupted member is
    trained again from its start; a member is deterministic given its seed, so a resumed run gives
    bitwise the same weights and metrics (but the timings) as an uninterrupted one.
    ``result.resumed`` counts the members loaded.

    Divergence: ``metrics["warning"]`` (one sentence with the fix) is set when the training loss
    became NaN or infinite, or when the model's validation or test RMSE is more than
    :data:`DIVERGENCE_FACTOR` times that of persistence (see :func:`divergence_warning`). Forecasts
    that are not finite at all raise a ``ValueError`` saying so, with the same fix.
    """
    from fastrnn import __version__
    from fastrnn import baselines

    ds = load_series(cfg) if data is None else data
    prep = prepare_series(ds, cfg) if prep is None else prep
    members, histories, seconds, resumed = [], [], [], 0
    folder = None if checkpoint is None else Path(checkpoint)
    for k in range(cfg.ensemble):
        # Member k: seed cfg.seed + k (weights and shuffling), trained on its own with early stopping.
        t0 = time.perf_counter()
        member = build_model(cfg, seed=cfg.seed + k)
        saved = None if folder is None else _load_member(folder, k, member)
        if saved is None:
            h = fit_model(member, prep, cfg, progress=progress)
            seconds.append(time.perf_counter() - t0)
            if folder is not None:
                _save_member(folder, k, member, h, seconds[-1])
        else:
            h, secs = saved
            seconds.append(secs)
            resumed += 1
        histories.append(h)
        members.append(member)
    train_seconds = sum(seconds)
    model = merge_ensemble(members)
    hist = histories[0]
    epochs_total = sum(h.epochs_run for h in histories)

    with np.errstate(over="ignore", invalid="ignore"):  # a diverged model: reported just below
        test = score(model, prep, "test")
        val = score(model, prep, "val")
        member_val = [score(m, prep, "val")["rmse"] for m in members]
    for part, sc in (("test", test), ("validation", val)):
        if not math.isfinite(sc["rmse"]):
            raise ValueError(f"training diverged: the model's {part} forecasts are not finite "
                             f"(RMSE {sc['rmse']}), so there is no run to save; {_DIVERGENCE_FIX}")
    base_scores = baselines.evaluate(prep)
    base_pred = baselines.forecasts(prep, "test")
    dates = prep.target_dates("test")
    sp = prep.split
    metrics = {
        "dataset": cfg.name,
        "source": ds.source,
        "read": ds.read_info,  # how the data was read (CSV settings, frequency, season source)
        "column": ds.column,
        "model": cfg.model,
        "hidden": cfg.hidden,
        "layers": cfg.layers,
        "look_back": cfg.look_back,
        "transform": cfg.transform,
        "scaler": cfg.scaler,
        "calendar": cfg.calendar,
        "ensemble": cfg.ensemble,
        "season": prep.season,
        "n_points": int(sp.n),
        "n_train": int(len(prep.y_train)),
        "n_val": int(len(prep.y_val)),
        "n_test": int(len(prep.y_test)),
        "data_start": _iso(ds.start),
        "data_end": _iso(ds.end),
        "val_start": _iso(prep.target_dates("val")[0]) if dates is not None else None,
        "test_start": _iso(dates[0]) if dates is not None else None,
        "test_start_index": int(prep.starts["test"][0]),
        "test": {"rmse": test["rmse"], "mae": test["mae"]},
        "val": {"rmse": val["rmse"], "mae": val["mae"]},
        "baselines": base_scores,
        "train_seconds": train_seconds,
        "seconds_per_epoch": train_seconds / max(epochs_total, 1),
        # with an ensemble: of the first member (each member's are in "members")
        "epochs_run": hist.epochs_run,
        "best_epoch": hist.best_epoch,
        "stop_reason": hist.stop_reason,
        "members": [{"seed": cfg.seed + k, "epochs_run": h.epochs_run, "best_epoch": h.best_epoch,
                     "stop_reason": h.stop_reason, "val_rmse": member_val[k]}
                    for k, h in enumerate(histories)],
        "epochs_total": epochs_total,
        "num_parameters": sum(m.num_parameters() for m in members),
        "config": cfg.to_dict(),
        "fastrnn_version": __version__,
        "created": datetime.now().isoformat(timespec="seconds"),
    }
    warning = divergence_warning(metrics, histories, prep)
    if warning is not None:
        metrics["warning"] = warning
    return TrainResult(config=cfg, data=ds, prep=prep, model=model, history=hist, metrics=metrics,
                       test_pred=test["pred"],
                       baseline_pred={k: None if v is None else v[:, 0] for k, v in base_pred.items()},
                       histories=histories, resumed=resumed)


#: A model whose validation or test RMSE exceeds this many times persistence's has diverged: a
#: working forecaster is rarely worse than repeating the last value at all, and ten times worse
#: means the fit failed (a learning rate far too high, exploding gradients), not a hard series.
DIVERGENCE_FACTOR = 10.0


def divergence_warning(metrics: dict, histories, prep) -> str | None:
    """One sentence saying that training diverged and how to fix it, or ``None``.

    Parameters
    ----------
    metrics : the metrics of :func:`train` (``"val"``, ``"test"``, ``"baselines"``).
    histories : the members' :class:`~fastrnn.trainer.History` objects.
    prep : the prepared series (for persistence's validation RMSE).

    Diverged means: a member's loss became NaN or infinite, or the model's validation or test RMSE
    is more than :data:`DIVERGENCE_FACTOR` times that of persistence on the same windows. (Non-finite
    forecasts never get here: :func:`train` raises a ``ValueError`` for them, as such a model cannot
    be saved or used.)
    """
    from fastrnn.baselines import forecasts, rmse

    bad = [k for k, h in enumerate(histories) if h.diverged]
    pers_val = rmse(prep.targets("val"), forecasts(prep, "val")["persistence"])
    pers_test = metrics["baselines"]["persistence"]["rmse"]
    worse = []
    for part, model_rmse, base in (("validation", metrics["val"]["rmse"], pers_val),
                                   ("test", metrics["test"]["rmse"], pers_test)):
        if base > 0 and model_rmse > DIVERGENCE_FACTOR * base:
            worse.append(f"{part} RMSE {model_rmse:.4g} against persistence's {base:.4g}")
    if not bad and not worse:
        return None
    if worse:
        what = f"training diverged ({'; '.join(worse)})"
    else:
        what = (f"training diverged (the loss became NaN or infinite in member"
                f"{'s' if len(bad) > 1 else ''} {', '.join(str(k + 1) for k in bad)}; the weights "
                f"of its best epoch were kept)")
    return f"{what}: {_DIVERGENCE_FIX}"


_DIVERGENCE_FIX = "train again with a lower --lr (e.g. 10 times lower) or a --clip-norm such as 1"


# ---------------------------------------------------------------------------------------------------
# Run folders
# ---------------------------------------------------------------------------------------------------


#: Inside a staging folder: the run's settings (written when the folder is created) and one
#: checkpoint per finished ensemble member. Both are removed just before the folder is committed.
_MANIFEST = "resume.json"
_MANIFEST_KIND = "fastrnn interrupted run"


def _member_file(k: int) -> str:
    return f"member-{k}.npz"


def _stamped(name: str, model: str, root, now: datetime | None) -> Path:
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{name}-{model}-{stamp}"


def _suffixed(base: Path, k: int) -> Path:
    return base if k == 1 else base.with_name(f"{base.name}-{k}")


def default_out_dir(name: str, model: str, root="runs", now: datetime | None = None) -> Path:
    """``root/<name>-<model>-<YYYYmmdd-HHMMSS>``, with ``-2``, ``-3``, ... if that exists.

    Only a suggestion: another process may take the name before it is used. :func:`run`,
    :func:`write_run` and ``fastrnn train`` reserve a default name atomically with
    :meth:`Staging.fresh` instead.
    """
    base = _stamped(name, model, root, now)
    k = 1
    while _suffixed(base, k).exists():
        k += 1
    return _suffixed(base, k)


class Staging:
    """A temporary folder beside ``final`` that becomes ``final`` on :meth:`commit`.

    Created at once, so an unwritable destination fails before any training. ``final`` (an explicit
    ``--out``) must not exist or be an empty folder; it is never overwritten. :meth:`fresh` makes one
    for a default run folder instead, whose name is *reserved* atomically: the empty folder
    ``final`` is created with ``os.mkdir`` (``-2``, ``-3``, ... appended while the name is taken), so
    two runs started in the same second never share a folder. :meth:`commit` renames the staging
    folder onto ``final`` (replacing the empty reservation in one step), so a crash never leaves a
    half-written run under a visible name: at worst an empty reserved folder and the hidden staging
    folder ``.NAME.tmp-PID-XXXXXXXX`` beside it.

    The staging folder is also the resumable state of an interrupted run: :meth:`begin` stores the
    resolved settings and a digest of the data in ``resume.json``, :func:`train` stores one
    ``member-K.npz`` checkpoint per finished ensemble member, and :meth:`resume` takes such a folder
    over again. :meth:`discard` removes the staging folder, the reservation and any parent folders
    this object created; :meth:`keep_or_discard` keeps an interrupted staging folder that holds
    finished members.
    """

    def __init__(self, final, _reserve: bool = False):
        self.final = Path(final)
        self.reserved = False  # True: self.final is the empty folder this run reserved
        self.config: TrainConfig | None = None  # set by begin() and resume()
        self.manifest: dict | None = None
        self._owned: bool | None = None  # None: a new run; False/True: resumed, before/after check_data
        if not _reserve and self.final.exists():
            if not self.final.is_dir():
                raise RunError(f"--out {self.final} exists and is not a folder; choose a new folder name")
            if any(self.final.iterdir()):
                raise RunError(f"--out {self.final} already exists and is not empty; choose a new "
                               f"folder (runs are never overwritten)")
        parent = self.final.absolute().parent
        self._created = []
        missing = []
        p = parent
        while not p.exists():
            missing.append(p)
            p = p.parent
        try:
            for d in reversed(missing):
                try:
                    d.mkdir()
                    self._created.append(d)
                except FileExistsError:  # made by a concurrent run meanwhile: fine, not ours
                    if not d.is_dir():
                        raise
            if _reserve:
                self._reserve()
            self.path = self._make_temp(parent)
        except OSError as e:
            self._remove_created()
            reason = e.strerror or str(e)
            where = f"--out {self.final}" if not _reserve else f"the run folder {self.final}"
            raise RunError(f"cannot write to {where}: {reason}; choose a writable folder"
                           + (" with --out" if _reserve else "")) from None

    @classmethod
    def fresh(cls, name: str, model: str, root="runs", now: datetime | None = None) -> Staging:
        """A staging folder for a new default run folder ``root/<name>-<model>-<YYYYmmdd-HHMMSS>``
        (``-2``, ``-3``, ... if taken), reserved atomically (see the class docstring).

        Parameters
        ----------
        name, model : the dataset (or CSV stem) and model kind, as in :func:`default_out_dir`.
        root : folder of the runs.
        now : the time stamp to use (default: now).
        """
        return cls(_stamped(name, model, root, now), _reserve=True)

    def _reserve(self) -> None:
        base = self.final
        for k in range(1, 10_000):
            candidate = _suffixed(base, k)
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            self.final, self.reserved = candidate, True
            return
        raise FileExistsError(17, "every suffix of the run folder name is taken", str(base))

    def _make_temp(self, parent: Path) -> Path:
        # os.mkdir (not tempfile.mkdtemp, which makes the folder private) keeps the user's umask.
        for _ in range(100):
            path = parent / f".{self.final.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
            try:
                path.mkdir()
                return path
            except FileExistsError:
                continue
        raise FileExistsError(17, "could not create a temporary folder", str(parent))

    def _remove_created(self):
        if self.reserved:
            try:
                self.final.rmdir()  # only while still empty
            except OSError:
                pass
            self.reserved = False
        for d in reversed(self._created):
            try:
                d.rmdir()
            except OSError:
                pass
        self._created = []

    # -- resumable state -------------------------------------------------------------------------

    def begin(self, cfg: TrainConfig, data, plot: bool = True) -> None:
        """Store what :meth:`resume` needs in the staging folder: the resolved configuration, the
        data source, a digest of the data (``data``: the Dataset), the final folder and ``plot``.

        Written atomically (a temporary name, then ``os.replace``).
        """
        from fastrnn import __version__

        self.config = cfg
        self.manifest = {
            "kind": _MANIFEST_KIND, "format": 1, "fastrnn_version": __version__,
            "final": str(self.final.absolute()), "reserved": self.reserved,
            "config": cfg.to_dict(), "source": cfg.source(), "data_sha256": _data_digest(data),
            "plot": bool(plot), "members": cfg.ensemble,
        }
        tmp = self.path / f".{_MANIFEST}.tmp"
        _write_json(tmp, self.manifest)
        os.replace(tmp, self.path / _MANIFEST)

    def finished_members(self) -> int:
        """How many ensemble members have a checkpoint (members ``0 .. n-1``)."""
        n = 0
        while (self.path / _member_file(n)).is_file():
            n += 1
        return n

    @classmethod
    def resume(cls, path) -> Staging:
        """Take over the staging folder of an interrupted run to continue it.

        ``path`` is the staging folder (``.NAME.tmp-PID-XXXXXXXX``, printed when the run was
        interrupted) or the run folder it reserved (``NAME``, then its one staging folder beside it
        is used). The folder is renamed to one with this process's id, so two processes cannot
        resume the same run. The settings come from its ``resume.json`` (:attr:`config`); the data
        is checked against the stored digest by :meth:`check_data`. Raises :class:`RunError` for a
        folder that is not an interrupted run, or a finished one.
        """
        p = Path(path)
        if not p.exists():
            raise RunError(f"--resume {p} does not exist; pass the folder printed when the run was "
                           f"interrupted")
        if not p.is_dir():
            raise RunError(f"--resume {p} is not a folder; pass the folder printed when the run was "
                           f"interrupted")
        if (p / "model.npz").is_file() and not (p / _MANIFEST).is_file():
            raise RunError(f"--resume {p} is a finished run (it has model.npz); there is nothing to "
                           f"resume: use it with `fastrnn predict --model {p}`, or train again "
                           f"without --resume")
        if not (p / _MANIFEST).is_file():
            siblings = sorted(c for c in p.absolute().parent.glob(f".{p.name}.tmp-*")
                              if (c / _MANIFEST).is_file())
            if len(siblings) > 1:
                raise RunError(f"--resume {p}: several interrupted runs reserved this folder "
                               f"({', '.join(c.name for c in siblings)}); pass one of them")
            if not siblings:
                raise RunError(f"--resume {p} is not an interrupted run (no {_MANIFEST} in it or in a "
                               f".{p.name}.tmp-* folder beside it); pass the folder printed when the "
                               f"run was interrupted")
            p = siblings[0]
            try:
                p = p.relative_to(Path.cwd())
            except ValueError:
                pass
        try:
            manifest = json.loads((p / _MANIFEST).read_text(encoding="utf-8"))
            if manifest.get("kind") != _MANIFEST_KIND:
                raise ValueError("not written by fastrnn train")
            final = Path(manifest["final"])
            try:  # shown as it was given when it lies in the current folder
                final = final.relative_to(Path.cwd())
            except ValueError:
                pass
            cfg = TrainConfig(**manifest["config"])
            _validate(cfg)
            stored_csv = manifest["source"].get("csv")
            if cfg.csv is not None and stored_csv and Path(cfg.csv).resolve() != Path(stored_csv):
                cfg.csv = stored_csv  # resumed from another folder: the file the run started on
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise RunError(f"{p / _MANIFEST} is not a valid resume file ({e}); train again without "
                           f"--resume") from None
        if final.exists() and (not final.is_dir() or any(final.iterdir())):
            raise RunError(f"{final}, the folder this run was to be saved in, is not empty any more; "
                           f"move it away and resume again")
        self = cls.__new__(cls)
        self.final, self.reserved, self._created = final, bool(manifest.get("reserved")), []
        self.config, self.manifest, self.path, self._owned = cfg, manifest, p, False
        return self

    def check_data(self, data) -> None:
        """Check that ``data`` (a Dataset) is the series a resumed run started on, then take the
        staging folder over: rename it to one with this process's id, atomically, so that a second
        ``--resume`` of the same folder fails. Raises :class:`RunError` (and leaves the folder as it
        was) if the data changed or another process took the folder first.
        """
        if self._owned:
            return
        if _data_digest(data) != self.manifest.get("data_sha256"):
            raise RunError(f"the data of this run changed since it was interrupted "
                           f"({self.manifest['source']}); resuming would mix two series: train again "
                           f"without --resume")
        old = self.path
        new = old.parent / f".{self.final.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            os.rename(old, new)
        except FileNotFoundError:
            raise RunError(f"--resume {old}: another process has just taken this run over") from None
        except OSError as e:
            raise RunError(f"cannot resume {old}: {e.strerror or e}; check the folder's "
                           f"permissions") from None
        self.path, self._owned = new, True
        for stray in new.glob(".*.tmp"):  # a checkpoint cut short by the interruption
            stray.unlink()

    # -- ending ----------------------------------------------------------------------------------

    def commit(self) -> Path:
        """Give the staging folder its final name, then remove the checkpoints from it.

        In this order, an interruption at any point leaves either the resumable staging folder or
        the complete run (at worst with a leftover checkpoint file in it), never less.
        """
        try:
            os.rename(self.path, self.final)  # POSIX: replaces an empty folder in one step
        except OSError:
            try:  # Windows does not rename onto an existing (empty) folder
                self.final.rmdir()
                os.rename(self.path, self.final)
            except OSError:
                raise RunError(f"--out {self.final} was filled by something else during training; "
                               f"run again with a new folder") from None
        self._created, self.reserved = [], False
        for f in list(self.final.iterdir()):
            if f.name == _MANIFEST or (f.name.startswith("member-") and f.name.endswith(".npz")):
                f.unlink()
        return self.final

    def discard(self) -> None:
        """Remove the staging folder, the reserved run folder and the parents this object made."""
        shutil.rmtree(self.path, ignore_errors=True)
        self._remove_created()

    def keep_or_discard(self, exc: BaseException) -> int:
        """After ``exc`` ended the run: keep the staging folder if at least one member has finished
        (its checkpoint is the resumable state) and ``exc`` is an interruption (``KeyboardInterrupt``,
        which the CLI also raises for SIGTERM and SIGHUP) or this is a resumed run (its state is
        never thrown away by a failure); otherwise :meth:`discard`.

        Returns the number of finished members kept (0: everything was removed).
        """
        if self._owned is False:  # a resume that failed before taking the folder over
            return self.finished_members()
        if (isinstance(exc, KeyboardInterrupt) or self._owned) and self.manifest is not None:
            n = self.finished_members()
            if n:
                return n
        self.discard()
        return 0

    def resume_path(self) -> Path:
        """What to pass to :meth:`resume`: the reserved run folder if there is one (it leads to this
        staging folder), else the staging folder itself."""
        return self.final if self.reserved else self.path


def _data_digest(data) -> str:
    """SHA-256 of a Dataset's values (float64) and dates (int64 nanoseconds, if any)."""
    import hashlib

    h = hashlib.sha256(np.ascontiguousarray(data.values, dtype=np.float64).tobytes())
    if data.dates is not None:
        h.update(np.asarray(data.dates.asi8, dtype=np.int64).tobytes())
    return h.hexdigest()


def _save_member(folder: Path, k: int, model, hist, seconds: float) -> None:
    """Checkpoint finished member ``k`` (weights, history, seconds) atomically."""
    arrays = {f"param.{n}": v for n, v in model.state_dict().items()}
    arrays.update(seed=np.int64(model.seed), history=np.array(json.dumps(hist.to_dict())),
                  train_seconds=np.float64(seconds))
    tmp = folder / f".{_member_file(k)}.tmp"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / _member_file(k))


def _load_member(folder: Path, k: int, model) -> tuple | None:
    """Load member ``k``'s checkpoint into ``model``; ``None`` if there is none."""
    from fastrnn.trainer import History

    path = folder / _member_file(k)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["seed"]) != model.seed:
                raise ValueError(f"seed {int(z['seed'])}, expected {model.seed}")
            model.load_state_dict({n[len("param."):]: z[n] for n in z.files if n.startswith("param.")})
            hist = History.from_dict(json.loads(str(z["history"])))
            return hist, float(z["train_seconds"])
    except (OSError, ValueError, KeyError) as e:
        raise RunError(f"checkpoint {path} is damaged or does not match the run ({e}); train again "
                       f"without --resume") from None


def _scaler_to_dict(scaler) -> dict:
    name = getattr(scaler, "name", None)
    if name == "minmax":
        return {"name": "minmax", "min": scaler.min_, "scale": scaler.scale_}
    if name == "standard":
        return {"name": "standard", "mean": scaler.mean_, "scale": scaler.scale_}
    return {"name": None}


def _scaler_from_dict(d: dict):
    from fastrnn.preprocessing import make_scaler

    s = make_scaler(d.get("name"))
    if d.get("name") == "minmax":
        s.min_, s.scale_ = float(d["min"]), float(d["scale"])
    elif d.get("name") == "standard":
        s.mean_, s.scale_ = float(d["mean"]), float(d["scale"])
    return s


def preprocessing_info(result: TrainResult) -> dict:
    """What ``predict`` needs besides the weights: look-back, transform, fitted scaler, source."""
    cfg, prep, ds = result.config, result.prep, result.data
    source = cfg.source()
    if source.get("csv") and ds.read_info:  # what was detected, so that predict reads it alike
        source.update({k: ds.read_info[k] for k in READ_SETTINGS})
    return {
        "format": 2 if prep.calendar else 1,  # format 1 readers would ignore the calendar inputs
        "look_back": prep.look_back,
        "horizon": prep.horizon,
        "transform": prep.transform,
        "calendar": bool(prep.calendar),
        "ensemble": cfg.ensemble,
        "scaler": _scaler_to_dict(prep.scaler),
        "source": source,
        "name": cfg.name,
        "column": ds.column,
        "season": prep.season,
        "data_end": _iso(ds.end),
        "n_points": len(ds),
    }


def write_run(result: TrainResult, out=None, plot: bool = True, root="runs"):
    """Write the run's artefacts to ``out`` atomically (default: a fresh folder
    ``root/<name>-<model>-<time>``, reserved atomically by :meth:`Staging.fresh`).

    Returns ``(path, note)``; ``note`` says why the plots were skipped (matplotlib missing), or is
    ``None``.
    """
    staging = _staging(result.config, out, root)
    try:
        note = write_files(result, staging.path, plot)
        path = staging.commit()
    except BaseException:
        staging.discard()
        raise
    return path, note


def _staging(cfg: TrainConfig, out, root) -> Staging:
    return Staging(out) if out is not None else Staging.fresh(cfg.name, cfg.model, root)


def run(cfg: TrainConfig, out=None, plot: bool = True, progress: bool | None = None, root="runs",
        resume=None):
    """The whole train job: reserve the run folder (so an unwritable one fails before training),
    :func:`train` with a checkpoint per finished ensemble member in the staging folder, write the
    artefacts, and only then give the folder its final name.

    ``resume``: the staging folder of an interrupted run (or the run folder it reserved; see
    :meth:`Staging.resume`) to continue instead; ``cfg`` must then be ``None`` (the stored settings
    are used) and ``out``/``root`` are ignored. On an interruption (``KeyboardInterrupt``) after at
    least one member has finished, the staging folder is kept for ``resume`` (see
    :meth:`Staging.keep_or_discard`); on any other failure nothing is left behind.

    Returns ``(result, path, note)`` as :func:`train` and :func:`write_run`.
    """
    if resume is not None:
        if cfg is not None:
            raise ValueError("resume continues a run with its stored settings; pass cfg=None")
        staging = Staging.resume(resume)
        cfg = staging.config
    else:
        staging = _staging(cfg, out, root)
    try:
        data = load_series(cfg)
        if resume is not None:
            staging.check_data(data)
        else:
            staging.begin(cfg, data, plot)
        result = train(cfg, progress=progress, data=data, checkpoint=staging.path)
        note = write_files(result, staging.path, plot)
        path = staging.commit()
    except BaseException as exc:
        staging.keep_or_discard(exc)
        raise
    return result, path, note


def write_files(result: TrainResult, folder: Path, plot: bool) -> str | None:
    """Write every artefact into ``folder``; returns a note if the plots were skipped."""
    result.model.save(folder / "model.npz")
    _write_json(folder / "metrics.json", result.metrics)
    _write_json(folder / "preprocessing.json", preprocessing_info(result))
    if not plot:
        return None
    try:
        import matplotlib
    except ImportError:
        return ("matplotlib is not installed, so loss.png and forecast.png were skipped "
                "(pip install 'fastrnn[plot]' to get them)")
    matplotlib.use("Agg", force=True)
    _plot_loss(result, folder / "loss.png")
    _plot_forecast(result, folder / "forecast.png")
    return None


def _write_json(path: Path, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, allow_nan=False, default=_json_default)
        f.write("\n")


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _plot_loss(result: TrainResult, path: Path) -> None:
    import matplotlib.pyplot as plt

    h = result.history
    epochs = np.arange(1, h.epochs_run + 1)
    fig, ax = plt.subplots(figsize=(7, 4))
    many = len(result.histories) > 1
    ax.plot(epochs, h.loss, color="C0", label="training loss" + (" (member 1)" if many else ""))
    ax.plot(epochs, h.val_loss, color="C1", label="validation loss" + (" (member 1)" if many else ""))
    for k, other in enumerate(result.histories[1:], start=2):
        e = np.arange(1, other.epochs_run + 1)
        ax.plot(e, other.loss, color="C0", lw=0.6, alpha=0.4,
                label="other members" if k == 2 else None)
        ax.plot(e, other.val_loss, color="C1", lw=0.6, alpha=0.4)
    if h.best_epoch:
        ax.axvline(h.best_epoch, color="grey", ls=":",
                   label=f"best epoch ({h.best_epoch}{' of member 1' if many else ''})")
    ax.set_yscale("log")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE (scaled)")
    ax.set_title(f"{result.config.name}: {result.config.model.upper()} training"
                 + (f" (ensemble of {len(result.histories)})" if many else ""))
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_forecast(result: TrainResult, path: Path) -> None:
    import matplotlib.pyplot as plt

    prep, m = result.prep, result.metrics
    x_all = prep.dates if prep.dates is not None else np.arange(len(prep.values))
    s = prep.starts["test"]
    x_test = x_all[s]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.plot(x_all, prep.values, color="black", lw=1, label="actual")
    ax.plot(x_test, result.test_pred, color="C1", lw=1.2,
            label=f"{result.config.model.upper()} one step ahead (RMSE {m['test']['rmse']:.4g})")
    ar = result.baseline_pred.get("linear_ar")
    if ar is not None:
        ax.plot(x_test, ar, color="C2", lw=0.8, ls="--",
                label=f"linear AR({prep.look_back}) (RMSE {m['baselines']['linear_ar']['rmse']:.4g})")
    ax.axvline(x_all[prep.split.train_end], color="grey", ls=":", lw=0.8)
    ax.axvline(x_all[prep.split.test_start], color="grey", ls="--", lw=0.8)
    ax.set_title(f"{result.config.name}: test forecasts (validation from the dotted line, test from the "
                 f"dashed line)", fontsize=10)
    ax.set_ylabel(result.data.column)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------
# Loading runs and forecasting
# ---------------------------------------------------------------------------------------------------


@dataclass
class Run:
    """A trained run loaded from disk."""

    path: Path
    model: object
    info: dict  # preprocessing.json

    @property
    def look_back(self) -> int:
        return int(self.info["look_back"])

    @property
    def transform(self) -> str | None:
        return self.info.get("transform")

    @property
    def calendar(self) -> bool:
        return bool(self.info.get("calendar", False))

    def source_config(self) -> dict:
        return dict(self.info["source"])


_RETRAIN = "retrain with `fastrnn train` (the file was changed or damaged)"
_SOURCE_STR_KEYS = ("column", "date_column", "start", "end", "sep", "decimal", "encoding",
                    "date_format")
_MISSING_DATES = ("error", "fill", "ignore")


def _json_type(v) -> str:
    return {type(None): "null", bool: "a boolean", int: "an integer", float: "a number",
            str: "a string", list: "a list", dict: "an object"}.get(type(v), type(v).__name__)


def _is_int(v, minimum=None) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and (minimum is None or v >= minimum)


def _is_finite_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_run_info(info, where: str, model=None, metrics=None) -> None:
    """Check a ``preprocessing.json`` against its schema (see :func:`preprocessing_info`) and
    against the run's model (input size, ensemble width) and ``metrics.json`` (look-back), so that a
    changed file is refused instead of giving silently wrong forecasts. Unknown top-level keys are
    ignored (a newer fastrnn may add some); unknown keys in ``scaler`` and ``source`` are refused.
    Raises :class:`RunError` naming the first bad field, what it should be and what it is."""
    from fastrnn.datasets import names

    def bad(field, expected, got=None, detail=None):
        if detail is None:  # as it is written in the file
            detail = "null" if got is None else f"{json.dumps(got)} ({_json_type(got)})"
        got = detail
        return RunError(f"{where}: {field} must be {expected}; got {got}; {_RETRAIN}")

    if not isinstance(info, dict):
        raise bad("the file", "a JSON object", info)
    for key in ("format", "look_back", "horizon", "transform", "calendar", "ensemble", "scaler",
                "source", "name", "column", "season", "data_end", "n_points"):
        if key not in info and key not in ("format", "calendar", "ensemble"):  # absent in old runs
            raise bad(f"'{key}'", "present", detail="nothing (the key is missing)")
    fmt = info.get("format", 1)
    if not _is_int(fmt, 1):
        raise bad("'format'", f"an integer from 1 to {RUN_FORMAT}", fmt)
    if fmt > RUN_FORMAT:
        raise RunError(f"{where} has format {fmt}; this fastrnn reads up to {RUN_FORMAT}: "
                       f"upgrade fastrnn")
    if not _is_int(info["n_points"], 1):
        raise bad("'n_points'", "an integer >= 1", info["n_points"])
    if info["transform"] not in (None, "log", "diff", "log+diff"):
        raise bad("'transform'", 'null, "log", "diff" or "log+diff"', info["transform"])
    offset = int("diff" in (info["transform"] or ""))
    lb = info["look_back"]
    # training needed one train, one validation and one test target after the first look-back
    longest = info["n_points"] - offset - 3
    if not _is_int(lb, 1) or lb > max(longest, 1):
        raise bad("'look_back'", f"an integer from 1 to {max(longest, 1)} (the series had "
                  f"{info['n_points']} points)", lb)
    cfg = metrics.get("config") if isinstance(metrics, dict) else None
    if isinstance(cfg, dict) and _is_int(cfg.get("look_back")) and cfg["look_back"] != lb:
        raise bad("'look_back'", f"{cfg['look_back']}, the look-back the model was trained with "
                  f"(metrics.json)", lb)
    if info["horizon"] != 1 or isinstance(info["horizon"], bool):
        raise bad("'horizon'", "1 (one step ahead)", info["horizon"])
    calendar = info.get("calendar", False)
    if not isinstance(calendar, bool):
        raise bad("'calendar'", "true or false (a JSON boolean)", calendar)
    if calendar and fmt < 2:
        raise bad("'format'", "2 or more for a run with calendar features", fmt)
    ensemble = info.get("ensemble", 1)
    if not _is_int(ensemble, 1):
        raise bad("'ensemble'", "an integer >= 1", ensemble)
    if model is not None:
        n_in = 3 if calendar else 1
        if model.input_size != n_in:
            raise bad("'calendar'", f"{str(model.input_size == 3).lower()} for this model.npz "
                      f"({model.input_size} input(s) per step; 3 with calendar features, 1 "
                      f"without)", calendar)
        if model.hidden_size % ensemble:
            raise bad("'ensemble'", f"a divisor of the model's hidden size {model.hidden_size} "
                      f"(the members side by side)", ensemble)
        if model.output_size != 1 or model.return_sequences:
            raise RunError(f"{where}: the run's model.npz is not a one-step forecaster (it has "
                           f"{model.output_size} outputs, return_sequences "
                           f"{model.return_sequences}); {_RETRAIN}")
    sc = info["scaler"]
    fields = {"minmax": ("min", "scale"), "standard": ("mean", "scale"), None: ()}
    if not isinstance(sc, dict):
        raise bad("'scaler'", 'an object {"name": "minmax" | "standard" | null, ...}', sc)
    if "name" not in sc or sc["name"] not in fields or isinstance(sc["name"], bool):
        raise bad("'scaler.name'", '"minmax", "standard" or null', sc.get("name"),
                  None if "name" in sc else "nothing (the key is missing)")
    wanted = fields[sc["name"]]
    extra = sorted(set(sc) - {"name", *wanted})
    if extra:
        raise bad("'scaler'", f"an object with the keys name{''.join(', ' + w for w in wanted)}",
                  detail=f"also {', '.join(map(repr, extra))}")
    for key in wanted:
        if key not in sc:
            raise bad(f"'scaler.{key}'", "a finite number", detail="nothing (the key is missing)")
        v = sc[key]
        if not _is_finite_number(v) or (key == "scale" and v == 0):
            raise bad(f"'scaler.{key}'", "a finite non-zero number" if key == "scale"
                      else "a finite number", v)
    src = info["source"]
    if not isinstance(src, dict):
        raise bad("'source'", 'an object with "dataset" or "csv"', src)
    allowed = {"dataset", "csv", *_SOURCE_STR_KEYS, "header", "missing_dates"}
    extra = sorted(set(src) - allowed)
    if extra:
        raise bad("'source'", f"an object with the keys {', '.join(sorted(allowed))}",
                  detail=f"also {', '.join(map(repr, extra))}")
    dataset, csv = src.get("dataset"), src.get("csv")
    if (dataset is None) == (csv is None):
        raise bad("'source'", 'an object with exactly one of "dataset" and "csv"',
                  detail="both" if dataset is not None else "neither")
    if dataset is not None and dataset not in names():
        raise bad("'source.dataset'", f"one of {', '.join(names())}", dataset)
    if csv is not None and not (isinstance(csv, str) and csv):
        raise bad("'source.csv'", "the path of the CSV file (a non-empty string)", csv)
    for key in _SOURCE_STR_KEYS:
        if not isinstance(src.get(key), (str, type(None))):
            raise bad(f"'source.{key}'", "a string or null", src[key])
    if "header" in src and not isinstance(src["header"], bool):
        raise bad("'source.header'", "true or false (a JSON boolean)", src["header"])
    if src.get("missing_dates", "error") not in _MISSING_DATES:
        raise bad("'source.missing_dates'", ", ".join(f'"{m}"' for m in _MISSING_DATES),
                  src["missing_dates"])
    for key in ("name", "column"):
        if not isinstance(info[key], str):
            raise bad(f"'{key}'", "a string", info[key])
    if info["season"] is not None and not _is_int(info["season"], 1):
        raise bad("'season'", "an integer >= 1 or null", info["season"])
    if not isinstance(info["data_end"], (str, type(None))):
        raise bad("'data_end'", "a date (a string) or null", info["data_end"])


def load_run(path) -> Run:
    """Load a run folder (or the ``model.npz`` inside one): the model and its preprocessing.

    ``preprocessing.json`` is checked against its schema and against the model (and
    ``metrics.json``, when it is there and readable) before anything is forecast.

    Raises
    ------
    RunError
        ``path`` is not a run folder or its ``model.npz``, or ``preprocessing.json`` is missing,
        not JSON, or has a field of the wrong type or value (the message names the field).
    fastrnn.models.ModelFileError
        ``model.npz`` is damaged or does not match its config.
    """
    from fastrnn.models import load

    p = Path(path)
    if not p.exists():
        raise RunError(f"--model {p} does not exist; pass a run folder written by `fastrnn train` "
                       f"(or its model.npz)")
    if not p.is_dir() and p.name != "model.npz":
        raise RunError(f"--model {p} is not a run folder or its model.npz; pass the folder "
                       f"written by `fastrnn train` (it holds model.npz and preprocessing.json)")
    folder, model_file = (p, p / "model.npz") if p.is_dir() else (p.parent, p)
    info_file = folder / "preprocessing.json"
    if not model_file.is_file():
        raise RunError(f"{folder} has no model.npz; pass a run folder written by `fastrnn train`")
    if not info_file.is_file():
        raise RunError(f"{folder} has no preprocessing.json next to {model_file.name}; pass a run "
                       f"folder written by `fastrnn train`")
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise RunError(f"{info_file} is not a valid preprocessing file ({e}); {_RETRAIN}") from None
    _check_run_info(info, str(info_file))  # before loading the model: e.g. a newer format
    model = load(model_file)
    metrics = None
    try:
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass  # predict does not need metrics.json; it only serves as a cross-check
    _check_run_info(info, str(info_file), model, metrics)
    return Run(path=folder, model=model, info=info)


def forecast(run: Run, values, steps: int, dates=None) -> np.ndarray:
    """Forecast the ``steps`` points after the end of ``values`` recursively (each forecast becomes
    an input of the next), in original units.

    The run's own transform and fitted scaler are used (not refitted on ``values``). The first
    forecast equals the model's one-step-ahead forecast of that point in ``train``'s evaluation.
    A run with calendar features needs ``dates`` (of ``values``); the forecast dates continue them
    as :func:`future_dates` does.
    """
    from fastrnn.datasets import DataError
    from fastrnn.preprocessing import _forward, _parse_transform, calendar_features

    check_steps(steps, dates)
    values = np.asarray(values, dtype=np.float64)
    use_log, use_diff = _parse_transform(run.transform)
    L = run.look_back
    need = L + int(use_diff)
    if len(values) < need:
        raise DataError(f"the series has {len(values)} points, but this model needs the last {need} "
                        f"(look_back {L}{' plus one for diff' if use_diff else ''}); use a longer series")
    if not np.isfinite(values[-need:]).all():
        raise DataError("the last values of the series are missing or infinite; clean the data first")
    feats = None
    if run.calendar:
        if dates is None:
            raise DataError("this run uses calendar features, which need the dates of the series, "
                            "but it has none; pass a series with a date column")
        if len(dates) != len(values):
            raise ValueError(f"dates ({len(dates)}) and values ({len(values)}) differ in length")
        # Step j of the window for point t carries the date of point t - L + 1 + j.
        ahead = future_dates(dates, steps)
        if ahead is None:
            raise DataError("cannot continue the dates of the series (fewer than two); pass a "
                            "longer series")
        feats = calendar_features(dates[len(dates) - L + 1:].append(ahead) if L > 1 else ahead)
    tail = values[-need:]
    rep = _forward(tail, use_log, use_diff)  # exactly L points
    scaler = _scaler_from_dict(run.info["scaler"])
    window = list(scaler.transform(rep))
    out_scaled = np.empty(steps)
    for k in range(steps):
        x = np.asarray(window[-L:], dtype=np.float64).reshape(1, L, 1)
        if feats is not None:
            x = np.concatenate([x, feats[None, k:k + L]], axis=2)
        out_scaled[k] = float(run.model.predict(x)[0, 0])
        window.append(out_scaled[k])
    z = scaler.inverse_transform(out_scaled)
    if use_diff:
        last = np.log(values[-1]) if use_log else values[-1]
        z = last + np.cumsum(z)
    return np.exp(z) if use_log else z


def _continuation(dates):
    """How :func:`future_dates` continues ``dates`` (two or more): a function ``k -> the k-th date
    after the last`` (O(1) for any ``k``), and ``build(steps)`` giving all of them at once."""
    import pandas as pd

    last = dates[-1]
    tail = dates[-min(len(dates), 60):]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas 3: "infer_freq will return an offset" chatter
        freq = pd.infer_freq(tail) if len(tail) >= 3 else None
    if freq is not None:
        offset = pd.tseries.frequencies.to_offset(freq)
        return (lambda k: last + k * offset,
                lambda steps: pd.date_range(last, periods=steps + 1, freq=freq)[1:])
    step = pd.Series(tail).diff().dropna().median()
    if step == pd.Timedelta(days=1) and (tail.day_of_week < 5).all():
        return (lambda k: last + pd.offsets.BDay(k),
                lambda steps: pd.bdate_range(last, periods=steps + 1)[1:])
    if step >= pd.Timedelta(days=28) and step <= pd.Timedelta(days=31):
        return (lambda k: last + pd.DateOffset(months=k),
                lambda steps: pd.DatetimeIndex([last + pd.DateOffset(months=k)
                                                for k in range(1, steps + 1)]))
    return (lambda k: last + step * k,
            lambda steps: pd.DatetimeIndex([last + step * k for k in range(1, steps + 1)]))


def _last_date(dates):
    """The last date a forecast may reach: pandas' limit for the index's resolution, and at most
    9999-12-31 (Python's datetime, which prints the dates)."""
    import pandas as pd

    limit = pd.Timestamp("9999-12-31 23:59:59")
    return pd.Timestamp.max if getattr(dates, "unit", "ns") == "ns" else limit


def max_steps(dates) -> int | None:
    """The largest number of steps :func:`future_dates` can continue ``dates`` by: the dates must
    stay representable (:func:`_last_date`). ``None`` when there is no limit (no dates).

    Found by bisection on the k-th future date, computed directly (never by building the dates).
    """
    from fastrnn.preprocessing import _bisect

    if dates is None or len(dates) < 2:
        return None
    nth, _ = _continuation(dates)
    limit = _last_date(dates)

    def past(k):
        try:
            return nth(k) > limit
        except (OverflowError, ValueError, ArithmeticError):  # OutOfBoundsDatetime is a ValueError
            return True

    hi = 1
    while not past(hi):
        hi *= 2
    return _bisect(past, 1, hi) - 1


def check_steps(steps: int, dates=None, option: str = "steps") -> None:
    """Refuse a number of forecast steps that cannot be done: not a positive integer, past the last
    date that can be represented after ``dates`` (:func:`max_steps`), or more than memory holds.

    Raises ValueError (:class:`fastrnn.datasets.DataError` for the dates) naming ``option`` (the
    CLI passes ``"--steps"``) and the largest number of steps possible.
    """
    from fastrnn import _memory
    from fastrnn.datasets import DataError

    _check_positive_int(option, steps)
    most = max_steps(dates)
    if most is not None and steps > most:
        end = dates[-1]
        end = end.date() if end == end.normalize() else end.isoformat()
        raise DataError(f"{option} {steps} would forecast past {_last_date(dates).date()}, the last "
                        f"date that can be represented; the largest {option} possible after {end} "
                        f"is {most}")
    need = 64 * steps  # the forecasts, their window and the scaled copies
    if not _memory.fits(need):
        raise ValueError(f"{option} {steps} needs about {_memory.format_bytes(need)} of memory, "
                         f"but only {_memory.format_bytes(_memory.available_bytes())} are "
                         f"available; forecast fewer steps")


def future_dates(dates, steps: int):
    """The ``steps`` dates after ``dates`` (a DatetimeIndex), continuing its frequency; ``None``
    without dates. Business-daily series continue on weekdays; otherwise the median spacing.

    Raises :class:`fastrnn.datasets.DataError` if they would pass the last representable date
    (:func:`check_steps`, :func:`max_steps`).
    """
    if dates is None or len(dates) < 2:
        return None
    check_steps(steps, dates)
    return _continuation(dates)[1](steps)
