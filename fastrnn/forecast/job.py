"""The train job: load and prepare a series, build and fit the model (or ensemble), score it.

:func:`train` runs it in memory (it writes nothing but checkpoints); :func:`fastrnn.forecast.run`
wraps it with a run folder.

Evaluation protocol (the same for the model and the baselines): a chronological split, the last
``test_fraction`` (0.33) of the points for testing and the last ``val_fraction`` of the points
before them for validation (early stopping); one-step-ahead forecasts of every test point, mapped
back to original units, scored by RMSE and MAE. See :mod:`fastrnn.forecast.preprocessing` and
:mod:`fastrnn.forecast.baselines`.

Calendar inputs and ensembles
-----------------------------
``calendar=True`` adds the sine and cosine of the day of the year as two more inputs per step (the
date of the point each step leads to; see :func:`fastrnn.forecast.preprocessing.calendar_features`),
so the model knows the target's date; it needs a dated series, in training and in
:func:`fastrnn.forecast.forecast`. ``ensemble=N`` trains N members with seeds
``seed .. seed+N-1``, each with its own early stopping, and averages their outputs. The members
train together as one model stack (:func:`fastrnn.stack`: one kernel call per step for all of
them, parallel over the cores), each bitwise as it would alone; ``model.npz`` holds the stack
(the members' weights stacked, O(N·H²)) and :func:`predict_mean` averages its outputs. Runs of
written before model stacks hold one merged model instead (:func:`merge_ensemble`: the members side by
side, block-diagonal weights, an averaging head), which still loads and predicts as before.
``metrics.json`` lists each member's seed, epochs and validation RMSE under ``"members"``.

Divergence
----------
When a member's loss became NaN or infinite, or the model's validation or test RMSE is more than
:data:`DIVERGENCE_FACTOR` (10) times persistence's, ``metrics["warning"]`` says so with the fix
(``fastrnn train`` prints it under the table). The run is still saved: see
:func:`divergence_warning`.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from fastrnn.forecast.checkpoints import load_member, save_member
from fastrnn.forecast.config import READ_SETTINGS, TrainConfig, check_memory
from fastrnn.forecast.config import validate as validate_config


def load_series(source, season: int | None | str = "auto"):
    """Load the series described by a :class:`TrainConfig` or a ``source()`` dict.

    ``season``: ``"auto"`` keeps the data's own (inferred for a CSV, known for a dataset); an
    integer or ``None`` (no season) overrides it. A source without the CSV reading keys (runs
    written before they existed) is read with detection and the defaults. An empty ``csv`` path
    raises :class:`~fastrnn.forecast.datasets.DataError`.
    """
    from fastrnn.forecast import datasets

    src = source.source() if isinstance(source, TrainConfig) else dict(source)
    if isinstance(src.get("csv"), str) and not src["csv"].strip():
        raise datasets.DataError("csv is empty; pass the path of a CSV file (or a dataset name)")
    covs = {k: tuple(src.get(k) or ()) for k in ("covariates", "past_covariates")}
    if src.get("csv"):
        read = {k: src[k] for k in READ_SETTINGS if src.get(k) is not None}
        return datasets.load_csv(src["csv"], column=src.get("column"),
                                 date_column=src.get("date_column"), start=src.get("start"),
                                 end=src.get("end"), season=season, **read, **covs)
    if any(covs.values()):
        names = ", ".join(covs["covariates"] + covs["past_covariates"])
        raise datasets.DataError(f"covariates ({names}) need a CSV file with those columns, but the shipped "
                                 f"dataset {src['dataset']!r} is a single column; pass a CSV file (--csv FILE)")
    return datasets.load(src["dataset"], start=src.get("start"), end=src.get("end"),
                         season="known" if season == "auto" else season)


def prepare_series(data, cfg: TrainConfig):
    """Windows of ``data`` for ``cfg`` (see :func:`fastrnn.forecast.preprocessing.prepare`). Raises
    ValueError if training on them would not fit in memory (:func:`training_memory`)."""
    from fastrnn.forecast.preprocessing import prepare

    prep = prepare(data, cfg.look_back, horizon=1, scaler=cfg.scaler, transform=cfg.transform,
                   test_fraction=cfg.test_fraction, val_fraction=cfg.val_fraction,
                   calendar=cfg.calendar, dtype=cfg.dtype, covariates=cfg.covariates,
                   past_covariates=cfg.past_covariates)
    check_memory(cfg, max(len(prep.y_train), len(prep.y_val), len(prep.y_test)))
    return prep


def build_model(cfg: TrainConfig, seed: int | None = None, prep=None, output_size: int = 1):
    """An untrained model for ``cfg`` (:attr:`TrainConfig.n_inputs` inputs: the value, two with
    calendar features, one per covariate; one output).

    A hybrid (``cfg.model`` ``"hybrid-<kind>"``) is the recurrent model with a linear path on the
    last ``cfg.look_back`` values of the series (``ar_lags``; frozen with ``cfg.hybrid ==
    "residual"``). With ``prep`` (a :class:`~fastrnn.forecast.preprocessing.Prepared`), that path
    and the head bias start as the least-squares AR on ``prep``'s training windows and the
    network's head weight at zero (:meth:`fastrnn.RNN.least_squares_init`), so the untrained
    hybrid forecasts exactly as the linear AR fitted on the training part; ``output_size`` (the
    horizon of a direct multi-step model) must then match ``prep``'s targets. The linear path reads
    the series' own lags only (feature 0 of each step), never the calendar or covariate inputs.
    """
    from fastrnn.forecast.config import is_hybrid
    from fastrnn.models import model_class

    hybrid = is_hybrid(cfg.model)
    cls = model_class(cfg.cell)
    model = cls(input_size=cfg.n_inputs, hidden_size=cfg.hidden, output_size=output_size,
                num_layers=cfg.layers, dtype=cfg.dtype, backend=cfg.backend,
                seed=cfg.seed if seed is None else seed, ar_lags=cfg.look_back if hybrid else 0,
                ar_frozen=hybrid and cfg.hybrid == "residual")
    if hybrid and prep is not None:
        model.least_squares_init(prep.X_train, prep.y_train)
    return model


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
    if c0["bidirectional"] or c0["return_sequences"] or c0["dropout"] or c0.get("ar_lags"):
        raise ValueError("merge_ensemble supports one-direction, last-step models without dropout or "
                         "linear path (stack them with fastrnn.stack instead)")
    N, H = len(models), c0["hidden_size"]
    kw = {k: v for k, v in c0.items() if k != "kind"}
    kw["hidden_size"] = N * H
    merged = _models.model_class(c0["kind"])(**kw)
    shapes = {name: a.shape for name, a in merged.parameters().items()}
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


def predict_mean(model, X, batch_size: int = 1024) -> np.ndarray:
    """The forecasts of ``model`` for the windows ``X``: its predictions, or for a stack (an
    ensemble) the mean of its members' predictions, computed in float64; ``(B, 1)``."""
    from fastrnn.stacks import Stack

    pred = model.predict(X, batch_size=batch_size)
    return pred.astype(np.float64).mean(axis=0) if isinstance(model, Stack) else pred


def fit_model(model, prep, cfg: TrainConfig, progress: bool | None = False, seed=None, callbacks=()):
    """Train ``model`` on ``prep``'s training windows with early stopping on the validation loss.

    One :meth:`fastrnn.Trainer.fit` with an :class:`~fastrnn.trainer.EarlyStopping` callback: stop
    when the validation loss has not improved for ``cfg.patience`` epochs (``0``: never stop
    early); either way the model ends with the weights of the epoch with the lowest validation
    loss. Returns the :class:`~fastrnn.trainer.History` (for a :class:`fastrnn.stacks.Stack` of
    ensemble members, one per member, each member trained as it would be alone).

    ``progress``: ``True`` shows a bar over the epochs, ``False`` none, ``None`` only on a terminal
    (tqdm's rule); ``callbacks``: more :class:`~fastrnn.trainer.Callback` objects, after the early
    stopping. Raises ``ValueError`` when the loss became NaN or infinite in the first epoch.
    """
    from fastrnn import optim
    from fastrnn.trainer import EarlyStopping, NonFiniteLossWarning, ProgressBar, Trainer

    def opt(params):
        return optim.get(cfg.optimizer, params, lr=cfg.lr)

    trainer = Trainer(model, loss="mse", optimizer=opt, clip_norm=cfg.clip_norm, seed=seed)
    callbacks = list(callbacks) + ([] if progress is False else
                                   [ProgressBar("training", disable=None if progress is None else False)])
    with warnings.catch_warnings():
        # a diverged member is reported by the caller (train's divergence warning), not warned twice
        warnings.simplefilter("ignore", NonFiniteLossWarning)
        hist = trainer.fit(prep.X_train, prep.y_train, validation_data=(prep.X_val, prep.y_val),
                           epochs=cfg.epochs, batch_size=cfg.batch_size, shuffle=True, verbose=0,
                           early_stopping=EarlyStopping(patience=cfg.patience or None),
                           callbacks=callbacks)
    for k, h in enumerate(hist if isinstance(hist, list) else [hist]):
        if h.best_epoch is None:
            member = f" (ensemble member {k + 1})" if isinstance(hist, list) and len(hist) > 1 else ""
            raise ValueError(f"training failed{member}: {h.stop_reason}")
    return hist


def score(model, prep, which: str) -> dict:
    """RMSE and MAE of the model's one-step forecasts of a part, in original units, plus the
    forecasts themselves (``"pred"``, shape (N,)). ``model`` may be a
    :class:`~fastrnn.forecast.combine.Combination` (its weighted forecasts)."""
    from fastrnn.forecast.baselines import mae, rmse
    from fastrnn.forecast.combine import Combination, combine

    if isinstance(model, Combination):
        pred = combine(member_forecasts(model.models, prep, which), model.weights)[:, None]
    else:
        X = getattr(prep, f"X_{which}")
        pred = prep.inverse(predict_mean(model, X), which)
    y = prep.targets(which)
    return {"rmse": rmse(y, pred), "mae": mae(y, pred), "pred": pred[:, 0]}


def _member_saver(folder, todo, t0):
    """A callback that checkpoints each ensemble member as soon as its training ends by itself
    (per model: copied for every member of the stack; ``loop.index`` is its place in ``todo``)."""
    from fastrnn.trainer import Callback

    class SaveMember(Callback):
        def on_train_end(self, loop):
            # not on an interrupt (that member trains again on --resume), nor for a failed member
            if loop.finished and loop.history.best_epoch is not None:
                save_member(folder, todo[loop.index], loop.trainer.model, loop.history, time.perf_counter() - t0)

    return SaveMember()


@dataclass
class TrainResult:
    """What :func:`train` produces."""

    config: TrainConfig
    data: object  # fastrnn.forecast.datasets.Dataset
    prep: object  # fastrnn.forecast.preprocessing.Prepared
    model: object
    history: object  # fastrnn.trainer.History of the first member
    metrics: dict
    test_pred: np.ndarray
    baseline_pred: dict
    histories: list = field(default_factory=list)  # one trainer.History per ensemble member
    resumed: int = 0  # members loaded from checkpoints instead of trained (see train)


def iso_date(ts) -> str | None:
    """A timestamp as ``YYYY-MM-DD`` (midnight) or full ISO format; ``None`` stays ``None``."""
    if ts is None:
        return None
    return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()


def fit_ensemble(cfg: TrainConfig, prep, progress: bool | None = False, checkpoint=None):
    """Build and fit the model of ``cfg`` on ``prep`` (its :func:`prepare_series`), as
    :func:`train` does: ``cfg.ensemble`` members with seeds ``cfg.seed + k``, trained together as
    one stack (:func:`fit_model`: early stopping on the validation part, best weights restored).

    Parameters
    ----------
    cfg : TrainConfig
        The settings.
    prep : Prepared
        The windows of the series for ``cfg``.
    progress : bool or None
        As :func:`fit_model` takes it.
    checkpoint : path, optional
        A folder of finished members' checkpoints (see :func:`train`): those found are loaded,
        the others trained and checkpointed as each finishes.

    Returns
    -------
    tuple
        ``(model, members, histories, train_seconds, resumed)``: the model (a stack for an
        ensemble), its members, one History per member, the wall time of the training (after an
        interrupted run's, up to its last checkpoint) and how many members were loaded.
    """
    from fastrnn.stacks import stack

    folder = None if checkpoint is None else Path(checkpoint)
    # Member k: seed cfg.seed + k (weights and shuffling), with its own early stopping.
    members = [build_model(cfg, seed=cfg.seed + k, prep=prep) for k in range(cfg.ensemble)]
    histories, seconds, todo = [None] * cfg.ensemble, [0.0] * cfg.ensemble, []
    for k, member in enumerate(members):
        saved = None if folder is None else load_member(folder, k, member)
        if saved is None:
            todo.append(k)
        else:
            histories[k], seconds[k] = saved
    resumed = cfg.ensemble - len(todo)
    if todo:  # the members still to train, together: one stack (or the one model)
        t0 = time.perf_counter()
        group = members[todo[0]] if len(todo) == 1 else stack([members[k] for k in todo])
        saver = [] if folder is None else [_member_saver(folder, todo, t0)]
        hs = fit_model(group, prep, cfg, progress=progress, callbacks=saver)
        trained = [members[todo[0]]] if len(todo) == 1 else group.members
        for k, member, h in zip(todo, trained, hs if isinstance(hs, list) else [hs]):
            members[k], histories[k] = member, h
        elapsed = time.perf_counter() - t0
    # wall time: this run's training, after the interrupted one's until its last checkpoint
    train_seconds = (elapsed if todo else 0.0) + max((seconds[k] for k in range(cfg.ensemble) if k not in todo),
                                                     default=0.0)
    model = members[0] if cfg.ensemble == 1 else stack(members)
    return model, members, histories, train_seconds, resumed


def member_config(cfg: TrainConfig, name: str) -> TrainConfig:
    """The settings of the network member ``name`` (a model of :data:`~fastrnn.forecast.config.MODELS`)
    of the combination ``cfg``: ``cfg`` with that model (a hybrid: ``cfg.hybrid``, default joint)
    and no combination."""
    from fastrnn.forecast.config import is_hybrid, validate

    c = dataclasses.replace(cfg, model=name, hybrid=(cfg.hybrid or "joint") if is_hybrid(name) else None,
                            combine=(), levels=())
    validate(c)
    return c


def linear_member(cfg: TrainConfig, prep, alone: bool = False):
    """The linear AR member of a combination: a hybrid model whose network output is zero
    (:meth:`fastrnn.RNN.least_squares_init`; float64, never trained), so that it is saved, loaded and
    forecast like any model; its forecasts are the least-squares AR(``cfg.look_back``) with
    intercept on ``prep``'s representation.

    Parameters
    ----------
    cfg : TrainConfig
        The run's settings (look-back, calendar inputs).
    prep : Prepared
        The run's windows.
    alone : bool
        Fit on the training and validation windows (the table's linear AR baseline: no weight is
        fitted on the validation part when the AR is the only member); else on the training
        windows only, so that its validation forecasts, which fit the weights, are out of sample.
    """
    c = dataclasses.replace(cfg, model="hybrid-rnn", hybrid="residual", hidden=1, layers=1, ensemble=1,
                            dtype="float64", combine=(), levels=())
    model = build_model(c)
    X, y = prep.X_train, prep.y_train
    if alone:
        X, y = np.concatenate([X, prep.X_val]), np.concatenate([y, prep.y_val])
    model.least_squares_init(X, y)
    return model


def member_forecasts(models: dict, prep, which: str) -> dict:
    """One-step forecasts of a part of ``prep`` by each member, in original units: name -> ``(N,)``
    (a model's as :func:`score` makes them; ``None``, persistence: the value before each point)."""
    from fastrnn.forecast.baselines import persistence

    out = {}
    for name, model in models.items():
        if model is None:
            out[name] = persistence(prep.values, prep.starts[which])[:, 0]
        else:
            out[name] = score(model, prep, which)["pred"]
    return out


def fit_combination(cfg: TrainConfig, prep, progress: bool | None = False):
    """Fit the members of the combination ``cfg.combine`` on ``prep`` and their weights.

    Networks are fitted as :func:`fit_ensemble` fits them alone (:func:`member_config`: early
    stopping on the validation part), the linear AR by :func:`linear_member`, persistence needs
    nothing. The weights are :func:`fastrnn.forecast.combine.inverse_mse_weights` of the members'
    one-step forecasts of the validation part (never the test part); one member gets weight 1.

    Parameters
    ----------
    cfg : TrainConfig
        The settings, with ``cfg.combine`` set.
    prep : Prepared
        The windows of the series for ``cfg``.
    progress : bool or None
        As :func:`fit_model` takes it.

    Returns
    -------
    fastrnn.forecast.combine.Combination
    """
    from fastrnn.forecast.combine import Combination, inverse_mse_weights

    if not cfg.combine:
        raise ValueError("fit_combination needs cfg.combine (member names such as ('lstm', 'linear'))")
    models, histories, trained, seconds = {}, [], [], 0.0
    for name in cfg.combine:
        if name == "persistence":
            models[name] = None
        elif name == "linear":
            models[name] = linear_member(cfg, prep, alone=len(cfg.combine) == 1)
        else:
            model, members, hs, secs, _ = fit_ensemble(member_config(cfg, name), prep, progress)
            models[name], seconds = model, seconds + secs
            histories += hs
            trained += members
    val = member_forecasts(models, prep, "val")
    weights = inverse_mse_weights(val, prep.targets("val")[:, 0])
    return Combination(models=models, weights=weights, histories=histories, members=trained,
                       train_seconds=seconds)


#: Rolling-origin validation: blocks before the test part, and the tie band of the choice.
ROLLING_BLOCKS = 3
ROLLING_TIE = 0.005


def rolling_folds(data, cfg: TrainConfig, blocks: int = ROLLING_BLOCKS) -> list:
    """The rolling-origin folds before the test part of ``data`` for ``cfg``: fold k is the series cut
    at the end of block k and prepared as :func:`prepare_series` prepares a series, with block k as
    its test part (the points before it: its history, whose last ``cfg.val_fraction`` is its
    early-stopping part). The blocks are the ``blocks`` stretches of the validation part's length
    just before the test part, the last one being the validation part itself; the test part is in
    no fold. Folds too short to prepare are left out.

    Parameters
    ----------
    data : Dataset
        The series.
    cfg : TrainConfig
        Its settings (look-back, transform, scaler, calendar, fractions).
    blocks : int
        How many blocks.

    Returns
    -------
    list of Prepared
        One per block that could be prepared, oldest first.
    """
    import pandas as pd

    from fastrnn.forecast.datasets import DataError
    from fastrnn.forecast.preprocessing import prepare

    full = prepare_series(data, cfg)
    T, L = full.split.test_start, full.split.n_val
    values = np.asarray(data.values, dtype=np.float64)
    out = []
    for k in range(blocks):
        start, stop = T - (blocks - k) * L, T - (blocks - k - 1) * L
        if start <= 0:
            continue
        series = pd.Series(values[:stop], index=None if data.dates is None else data.dates[:stop])
        try:
            prep = prepare(series, cfg.look_back, horizon=1, scaler=cfg.scaler, transform=cfg.transform,
                           test_fraction=(stop - start) / stop, val_fraction=cfg.val_fraction,
                           season=data.season, calendar=cfg.calendar, dtype=cfg.dtype)
        except DataError:
            continue
        if prep.split.test_start == start and len(prep.y_train) > cfg.look_back + 1:
            out.append(prep)
    return out


def select_on_rolling_origins(cfg: TrainConfig, data, progress: bool | None = False) -> tuple[tuple, dict]:
    """Choose what a run fits on rolling origins (:func:`rolling_folds`), on validation data only:
    persistence, the linear AR (all history), the network of ``cfg.model``, or the combination of
    the three (weights on each fold's early-stopping part).

    Every candidate is fitted on each fold's history as :func:`train` fits it and scored by the RMSE
    of its one-step forecasts of the fold's block; score = mean over the folds. The lowest score
    wins; candidates within :data:`ROLLING_TIE` (0.5 %) of it are ties, won by the simplest
    (persistence, then the linear AR, the network, the combination).

    Parameters
    ----------
    cfg : TrainConfig
        The run's settings (the network's among them).
    data : Dataset
        The series.
    progress : bool or None
        As :func:`fit_model` takes it.

    Returns
    -------
    tuple
        ``(combine, info)``: the :attr:`TrainConfig.combine` of the choice (``()``: the network),
        and ``info`` for ``metrics.json``: ``"scores"`` (candidate -> mean RMSE), ``"folds"``,
        ``"choice"``; with no fold long enough, ``()`` and ``"choice": None``.
    """
    from fastrnn.forecast.baselines import rmse
    from fastrnn.forecast.combine import combine, inverse_mse_weights

    net = dataclasses.replace(cfg, combine=(), select=False, levels=())
    comb = (cfg.model, "linear", "persistence")
    order = {"persistence": ("persistence",), "linear": ("linear",), cfg.model: (), "+".join(comb): comb}
    scores = {name: [] for name in order}
    folds = rolling_folds(data, net)
    for prep in folds:
        y_val, y_blk = prep.targets("val")[:, 0], prep.targets("test")[:, 0]
        model = fit_ensemble(net, prep, progress)[0]
        members = {cfg.model: model, "linear": linear_member(net, prep), "persistence": None}
        val = member_forecasts(members, prep, "val")
        blk = member_forecasts(members, prep, "test")
        w = inverse_mse_weights(val, y_val)
        alone = score(linear_member(net, prep, alone=True), prep, "test")["pred"]
        for name, pred in ((cfg.model, blk[cfg.model]), ("linear", alone), ("persistence", blk["persistence"]),
                           ("+".join(comb), combine(blk, w))):
            scores[name].append(rmse(y_blk, pred))
    if not folds:
        return (), {"choice": None, "folds": 0, "scores": {}}
    mean = {name: float(np.mean(v)) for name, v in scores.items()}
    best = min(mean.values())
    pick = next(name for name in order if mean[name] <= best * (1 + ROLLING_TIE))
    return order[pick], {"choice": pick, "folds": len(folds), "block": int(len(folds[0].y_test)),
                         "scores": mean}


def resolve_selection(cfg: TrainConfig, data, progress: bool | None = False) -> tuple[TrainConfig, dict | None]:
    """``cfg`` with its run-time choice made (:func:`select_on_rolling_origins`) when ``cfg.select``:
    ``(cfg with that combine and select False, the selection's info)``; else ``(cfg, None)``."""
    if not cfg.select:
        return cfg, None
    combine, info = select_on_rolling_origins(cfg, data)
    chosen = dataclasses.replace(cfg, combine=combine, select=False)
    validate_config(chosen)
    return chosen, info


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

    Baselines: persistence, seasonal naive and linear AR, and with ``cfg.statistical`` and
    statsforecast installed its AutoETS, AutoTheta and AutoARIMA on the same test points
    (:func:`fastrnn.forecast.baselines.statistical`; ``metrics["baseline_seconds"]``, without
    statsforecast one line in ``metrics["baseline_notes"]``). With ``cfg.levels``,
    ``metrics["intervals"]`` holds the conformal intervals and their test coverage
    (:func:`fastrnn.forecast.intervals.series_intervals`; a combination's too: the linear AR alone
    is calibrated by the residuals of its fit on the training part, which
    ``metrics["intervals"]["residuals_of"]`` names).

    Divergence: ``metrics["warning"]`` (one sentence with the fix) is set when the training loss
    became NaN or infinite, or when the model's validation or test RMSE is more than
    :data:`DIVERGENCE_FACTOR` times that of persistence (see :func:`divergence_warning`). Forecasts
    that are not finite at all raise a ``ValueError`` saying so, with the same fix.
    """
    from fastrnn import __version__
    from fastrnn.forecast import baselines

    ds = load_series(cfg) if data is None else data
    cfg, selection = resolve_selection(cfg, ds, progress)
    prep = prepare_series(ds, cfg) if prep is None else prep
    if cfg.combine:  # members of different kinds (no checkpoints: a resumed run fits them again)
        combo = fit_combination(cfg, prep, progress)
        model, members, histories, train_seconds, resumed = (combo, combo.members, combo.histories,
                                                             combo.train_seconds, 0)
    else:
        combo = None
        model, members, histories, train_seconds, resumed = fit_ensemble(cfg, prep, progress, checkpoint)
    hist = histories[0] if histories else None
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
    base_pred = {k: None if v is None else v[:, 0] for k, v in baselines.forecasts(prep, "test").items()}
    stat = baselines.statistical(prep, "test") if cfg.statistical else baselines.Statistical()
    y_test = prep.targets("test")[:, 0]
    for name, pred in stat.forecasts.items():
        base_scores[name] = {"rmse": baselines.rmse(y_test, pred), "mae": baselines.mae(y_test, pred)}
        base_pred[name] = pred
    dates = prep.target_dates("test")
    sp = prep.split
    metrics = {
        "dataset": cfg.name,
        "source": ds.source,
        "read": ds.read_info,  # how the data was read (CSV settings, frequency, season source)
        "column": ds.column,
        "model": cfg.model,
        **({"hybrid": cfg.hybrid} if cfg.hybrid else {}),
        "hidden": cfg.hidden,
        "layers": cfg.layers,
        "look_back": cfg.look_back,
        "transform": cfg.transform,
        "scaler": cfg.scaler,
        "calendar": cfg.calendar,
        **({"covariates": list(cfg.covariates)} if cfg.covariates else {}),
        **({"past_covariates": list(cfg.past_covariates)} if cfg.past_covariates else {}),
        "ensemble": cfg.ensemble,
        "season": prep.season,
        "n_points": int(sp.n),
        "n_train": int(len(prep.y_train)),
        "n_val": int(len(prep.y_val)),
        "n_test": int(len(prep.y_test)),
        "data_start": iso_date(ds.start),
        "data_end": iso_date(ds.end),
        "val_start": iso_date(prep.target_dates("val")[0]) if dates is not None else None,
        "test_start": iso_date(dates[0]) if dates is not None else None,
        "test_start_index": int(prep.starts["test"][0]),
        "test": {"rmse": test["rmse"], "mae": test["mae"]},
        "val": {"rmse": val["rmse"], "mae": val["mae"]},
        "baselines": base_scores,
        "baseline_seconds": stat.seconds,  # statsforecast's models (fit and forecasts)
        "baseline_seasons": stat.seasons,
        "baseline_notes": stat.notes,
        "train_seconds": train_seconds,
        "seconds_per_epoch": train_seconds / max(epochs_total, 1),
        # with an ensemble: of the first member (each member's are in "members")
        "epochs_run": hist.epochs_run if hist else 0,
        "best_epoch": hist.best_epoch if hist else None,
        "stop_reason": hist.stop_reason if hist else "not trained (least squares or persistence only)",
        "members": [{"seed": cfg.seed + k % cfg.ensemble, "epochs_run": h.epochs_run, "best_epoch": h.best_epoch,
                     "stop_reason": h.stop_reason, "val_rmse": member_val[k]}
                    for k, h in enumerate(histories)],
        "epochs_total": epochs_total,
        "num_parameters": sum(m.num_parameters() for m in members) + (
            cfg.look_back + 1 if combo is not None and "linear" in combo.models else 0),
        "config": cfg.to_dict(),
        "fastrnn_version": __version__,
        "created": datetime.now().isoformat(timespec="seconds"),
    }
    if combo is not None:
        metrics["combine"] = _combination_metrics(combo, prep)
    if selection is not None:
        metrics["selection"] = selection
    if cfg.levels:
        from fastrnn.forecast.combine import Combination
        from fastrnn.forecast.intervals import series_intervals

        if combo is not None and list(combo.models) == ["linear"]:
            # the AR alone is fitted on the training and validation windows: its residuals are those
            # of the same AR fitted on the training windows, whose validation forecasts are out of sample
            ar = Combination(models={"linear": linear_member(cfg, prep)}, weights={"linear": 1.0})
            metrics["intervals"] = series_intervals(ar, prep, cfg.levels, test["pred"])
            metrics["intervals"]["residuals_of"] = "the same AR fitted on the training windows only"
        else:
            metrics["intervals"] = series_intervals(model, prep, cfg.levels, test["pred"])
    warning = divergence_warning(metrics, histories, prep)
    if warning is not None:
        metrics["warning"] = warning
    return TrainResult(config=cfg, data=ds, prep=prep, model=model, history=hist, metrics=metrics,
                       test_pred=test["pred"],
                       baseline_pred=base_pred,
                       histories=histories, resumed=resumed)


def _combination_metrics(combo, prep) -> dict:
    """``metrics["combine"]``: the members in order, their weights, and each member's own
    validation and test scores (original units)."""
    from fastrnn.forecast.baselines import mae, rmse

    scores = {}
    for which in ("val", "test"):
        y = prep.targets(which)[:, 0]
        for name, p in member_forecasts(combo.models, prep, which).items():
            scores.setdefault(name, {})[which] = {"rmse": rmse(y, p), "mae": mae(y, p)}
    return {"members": list(combo.models), "weights": dict(combo.weights), "scores": scores,
            "method": "inverse validation MSE, normalised to sum to one"}


#: A model whose validation or test RMSE exceeds this many times persistence's has diverged: a
#: working forecaster is rarely worse than repeating the last value at all, and ten times worse
#: means the fit failed (a learning rate far too high, exploding gradients), not a hard series.
DIVERGENCE_FACTOR = 10.0

#: The fix that divergence messages name.
_DIVERGENCE_FIX = "train again with a lower --lr (e.g. 10 times lower) or a --clip-norm such as 1"


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
    from fastrnn.forecast.baselines import forecasts, rmse

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

