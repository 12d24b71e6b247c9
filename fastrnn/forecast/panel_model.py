"""Recurrent forecasters for many series: global and local models, direct and recursive horizons.

Works on plain data, like :mod:`fastrnn.forecast.backtest`: ``histories`` is a list of 1-D float
arrays (the data of each series before a forecast origin) and a forecaster returns ``(S, H)``
forecasts, the next ``H`` points of every series. So :func:`forecaster` plugs into
:func:`fastrnn.forecast.backtest.forecast_windows` beside the baselines.

Every series is scaled by the statistics of its own history (mean and standard deviation; the
forecasts are scaled back), so one model can learn from series of any level. Windows are
``look_back`` scaled values in, the next value(s) out:

* ``strategy="global"``: one model trained on the windows of every series (M5's winners, and
  neuralforecast's models, are global);
* ``strategy="local"``: one model per series, trained together as a :func:`fastrnn.stack` (each
  model exactly as it would train alone); on a Dask cluster (an enclosing
  :func:`fastrnn.parallel.cluster` block) in groups of consecutive series of about a second's
  work or more each, one task per group, merged into one stack: bitwise the models one stack of
  every series gives;
* ``multi="direct"``: the head has ``H`` outputs, the next ``H`` points at once;
* ``multi="recursive"``: one output, the next point, fed back as input ``H`` times.

Options: ``transform="log"`` (positive series: the model sees log values; forecasts are mapped
back with ``exp``), ``window_level=True`` (every window's inputs and targets are taken relative to
its last input, so the model learns changes, not levels) and ``ensemble=E`` (E models with seeds
``seed .. seed+E-1`` per global model or per series, trained in one stack, forecasts averaged).

Covariates (``covariates=``, a :class:`fastrnn.forecast.backtest.Covariates`): the inputs of
every step get them after the scaled value (:func:`fastrnn.forecast.covariates.window_inputs`):
the covariates known in advance with lead ``H`` for a direct model (the last input step sees
their values over the whole horizon) and lead 1 for a recursive one (each recursive step sees the
values of the point it forecasts), the past covariates at the step's own point (a recursive model
cannot use them beyond its first step, so it refuses them). Each covariate is standardised by its
mean and standard deviation over every series' history (one
:class:`~fastrnn.forecast.covariates.CovariateScaler` per panel, not per series: a covariate means
the same in every series, a 0/1 flag stays two values, and a series whose history never shows the
flag is not scaled apart).
``window_level`` moves the value input only; a hybrid's linear path reads the series' own lags.

Early stopping uses the last ``H`` points of each history as validation targets (the windows whose
targets fall there); the model trains on the windows before them, so a history needs at least
``look_back + 2 H`` points (:func:`min_history`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

#: Model strategies: one model for all series, or one per series.
STRATEGIES = ("global", "local")
#: Horizon strategies: all steps at once, or one step fed back.
MULTI = ("direct", "recursive")


@dataclass(frozen=True)
class PanelConfig:
    """Settings of a panel forecaster. Every field is a constructor argument.

    Parameters
    ----------
    model : str
        "lstm", "gru" or "rnn", or a hybrid "hybrid-lstm", "hybrid-gru", "hybrid-rnn": the network
        plus a linear path on the window (trained jointly; see :func:`fit`).
    hidden, layers, look_back, epochs, batch_size : int
        Hidden units, layers, inputs per window, most epochs, windows per update.
    lr : float
        Adam's learning rate.
    patience : int
        Epochs without a better validation loss before stopping (0: never stop early).
    clip_norm : float or None
        Gradient-norm clipping.
    strategy : str
        One of :data:`STRATEGIES`.
    transform : str
        "none" or "log" (every series positive).
    window_level : bool
        Inputs and targets relative to each window's last input.
    ensemble : int
        Models averaged per global model or per series.
    multi : str
        One of :data:`MULTI`.
    seed : int
        Seed of the weights and the shuffling (series ``k`` of a local strategy: ``seed + k``).
    dtype : str
        "float32" or "float64".
    """

    model: str = "lstm"
    hidden: int = 32
    layers: int = 1
    look_back: int = 8
    epochs: int = 100
    batch_size: int = 64
    lr: float = 3e-3
    patience: int = 10
    clip_norm: float | None = 1.0
    strategy: str = "global"
    multi: str = "direct"
    seed: int = 0
    dtype: str = "float32"
    transform: str = "none"
    window_level: bool = False
    ensemble: int = 1

    def __post_init__(self) -> None:
        from fastrnn.forecast.config import MODELS, check_positive_int

        for name in ("hidden", "layers", "look_back", "epochs", "batch_size", "ensemble"):
            check_positive_int(name, getattr(self, name), 1)
        check_positive_int("patience", self.patience, 0)
        for name, value, choices in (("model", self.model, MODELS), ("strategy", self.strategy, STRATEGIES),
                                     ("multi", self.multi, MULTI), ("dtype", self.dtype, ("float32", "float64")),
                                     ("transform", self.transform, ("none", "log"))):
            if value not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
        if not (isinstance(self.lr, (int, float)) and np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number; got {self.lr!r}")
        if not isinstance(self.window_level, bool):
            raise ValueError(f"window_level must be true or false; got {self.window_level!r}")

    def to_dict(self) -> dict:
        """The fields as a JSON-serialisable dict.

        Returns
        -------
        dict
        """
        return asdict(self)


def min_history(look_back: int, horizon: int) -> int:
    """The shortest history a panel forecaster trains on: one training window and the ``horizon``
    validation targets after it, ``look_back + 2 * horizon`` points.

    Parameters
    ----------
    look_back, horizon : int
        Inputs per window and steps forecast.

    Returns
    -------
    int
    """
    return look_back + 2 * horizon


def _scalers(histories):
    """Per series ``(mean, scale)`` of its history (scale 1 for a constant series)."""
    out = []
    for h in histories:
        sd = float(np.std(h))
        out.append((float(np.mean(h)), sd if sd > 1e-12 * max(1.0, abs(float(np.mean(h)))) else 1.0))
    return out


def _windows(z, look_back, out, start, stop, level, cov=None, lead=1):
    """The windows of ``z`` whose targets start at ``start .. stop - 1``: ``X (n, L, 1)``, ``Y (n, out)``;
    with ``level``, both relative to the window's last input. ``cov = (known, past)`` (scaled
    covariate columns of the series, or None): their inputs (:func:`_cov_inputs`, ``lead``) follow
    the value in ``X (n, L, 1 + inputs)``."""
    idx = np.arange(max(start, look_back), stop - out + 1)
    if idx.size == 0:
        return np.empty((0, look_back, 1 + _n_cov(cov, lead))), np.empty((0, out))
    X = np.stack([z[i - look_back:i] for i in idx])
    Y = np.stack([z[i:i + out] for i in idx])
    if level:
        Y = Y - X[:, -1:]
        X = X - X[:, -1:]
    if cov is None:
        return X[:, :, None], Y
    return np.concatenate([X[:, :, None], _cov_inputs(cov, idx, look_back, lead)], axis=2), Y


def _n_cov(cov, lead) -> int:
    """Covariate inputs per step of ``cov = (known, past)`` (0 for None)."""
    from fastrnn.forecast.covariates import n_inputs

    if cov is None:
        return 0
    known, past = cov
    return n_inputs(0 if known is None else known.shape[1], 0 if past is None else past.shape[1], lead)


def _cov_inputs(cov, starts, look_back, lead):
    """The covariate inputs ``(N, L, inputs)`` of the windows whose first targets are ``starts``."""
    from fastrnn.forecast.covariates import window_inputs

    return window_inputs(cov[0], cov[1], np.asarray(starts), look_back, lead)


def _check_covariates(covariates, hist, horizon, multi, need_future: bool):
    """``covariates`` (a backtest.Covariates, or None/empty) checked against the histories: the
    Covariates, or None without any."""
    if covariates is None or not covariates:
        return None
    known, past = covariates.names
    if past and multi == "recursive":
        raise ValueError(f"past covariates ({', '.join(past)}) are known only up to the forecast origin, so a "
                         f"recursive model cannot use them beyond its first step; use multi='direct' (or "
                         f"'auto', which then picks direct)")
    for kind, cols, extra in (("known", covariates.known, horizon if need_future else 0),
                              ("past", covariates.past, 0)):
        for name, v in cols.items():
            if len(v) != len(hist):
                raise ValueError(f"{kind} covariate {name!r} has {len(v)} series, the histories {len(hist)}; "
                                 f"pass one array per series")
            for k, (a, h) in enumerate(zip(v, hist)):
                a = np.asarray(a, dtype=np.float64)
                if a.ndim != 1 or len(a) < len(h) + extra or not np.isfinite(a[:len(h) + extra]).all():
                    what = (f"its {len(h)} points and the {extra} to forecast" if extra else f"its {len(h)} points")
                    raise ValueError(f"series {k}: {kind} covariate {name!r} needs finite values at {what}; got "
                                     f"{len(a)} values" + ("; append their future values" if extra else ""))
    return covariates


def _lead(multi: str, horizon: int) -> int:
    """The known covariates' lead: the horizon for a direct model, 1 for a recursive one."""
    return horizon if multi == "direct" else 1


def _transformed(h, transform):
    return np.log(h) if transform == "log" else h


class PanelForecaster:
    """A fitted panel forecaster (:func:`fit`): the model (or stack) and each series' scaling.

    Parameters
    ----------
    config : PanelConfig
        Its settings.
    horizon : int
        Steps it forecasts.
    model : RNN, LSTM, GRU or Stack
        The trained network(s).
    scalers : list of (float, float)
        Each series' mean and scale (of its transformed values).
    histories : list of float ndarray
        What it was fitted on.
    history : History or list of History, optional
        The training record (:func:`fit`: one per model of a stack); None for a loaded run.
    covariates : fastrnn.forecast.backtest.Covariates, optional
        The series' covariates, aligned with ``histories`` from their first point; the known
        ones reach ``horizon`` points beyond each history (what :meth:`forecast` needs).
    covariate_scaler : CovariateScaler, optional
        Standardisation of the covariate columns (known ones, then past ones), as fitted.
    """

    def __init__(self, config: PanelConfig, horizon: int, model, scalers, histories, history=None,
                 covariates=None, covariate_scaler=None) -> None:
        self.config, self.horizon, self.model, self.scalers = config, horizon, model, scalers
        self.histories, self.history = histories, history
        self.covariates, self.covariate_scaler = covariates, covariate_scaler

    def _series_cov(self, k: int, n: int, extra: int):
        """Series ``k``'s scaled ``(known, past)`` columns: the known ones over its ``n`` points and
        ``extra`` more, the past ones over its ``n`` points; None without covariates."""
        return _scaled_cov(self.covariates, self.covariate_scaler, k, n + extra, n)

    def _predict(self, X):
        """Scaled forecasts of the next ``out`` points for windows ``X (S, L, 1)``, one per series
        (the mean over an ensemble's models)."""
        from fastrnn.stacks import Stack

        E, S = self.config.ensemble, len(X)
        if self.config.window_level:
            last = X[:, -1:, 0]
            if X.shape[2] == 1:
                X = X - X[:, -1:]
            else:  # the value input only: covariates are inputs as they are
                X = np.concatenate([X[:, :, :1] - X[:, -1:, :1], X[:, :, 1:]], axis=2)
        if not isinstance(self.model, Stack):
            out = np.asarray(self.model.predict(X, batch_size=4096), dtype=np.float64)
        elif self.config.strategy == "global":  # E global models, each on every series
            out = np.asarray(self.model.predict(X, batch_size=4096), dtype=np.float64).mean(axis=0)
        else:  # model k*E + e: series k
            x = np.repeat(X, E, axis=0)[:, None].astype(self.model.dtype)
            out = np.asarray(self.model.predict(x)[:, 0], dtype=np.float64).reshape(S, E, -1).mean(axis=1)
        return out + last if self.config.window_level else out

    def forecast(self) -> np.ndarray:
        """The next ``horizon`` points of every series after its history.

        Returns
        -------
        np.ndarray
            ``(S, H)``, in the series' units.
        """
        L, H, tr = self.config.look_back, self.horizon, self.config.transform
        z = np.stack([(_transformed(h[-L:], tr) - m) / s for h, (m, s) in zip(self.histories, self.scalers)])
        cov = None
        if self.covariates:
            _check_covariates(self.covariates, self.histories, H, self.config.multi, need_future=True)
            lead = _lead(self.config.multi, H)
            cov = [(self._series_cov(k, len(h), H), len(h)) for k, h in enumerate(self.histories)]

        def inputs(values, step):  # (S, L) scaled values -> (S, L, 1 + covariate inputs)
            x = values[:, :, None]
            if cov is None:
                return x
            c = np.stack([_cov_inputs(cs, [n + step], L, lead)[0] for cs, n in cov])
            return np.concatenate([x, c], axis=2)

        if self.config.multi == "direct":
            out = np.asarray(self._predict(inputs(z, 0)), dtype=np.float64)
        else:
            out = np.empty((len(z), H))
            window = z.copy()
            for k in range(H):
                out[:, k] = np.asarray(self._predict(inputs(window[:, -L:], k)), dtype=np.float64)[:, 0]
                window = np.concatenate([window, out[:, k:k + 1]], axis=1)
        mean = np.array([m for m, _ in self.scalers])[:, None]
        scale = np.array([s for _, s in self.scalers])[:, None]
        y = out * scale + mean
        return np.exp(y) if tr == "log" else y


def _scaled_cov(covariates, scaler, k: int, n_known: int, n_past: int):
    """Series ``k``'s ``(known[:n_known], past[:n_past])`` columns, standardised by ``scaler`` (its
    columns: known, then past); None without covariates."""
    if covariates is None or not covariates:
        return None
    known, past = covariates.series(k)
    C = 0 if known is None else known.shape[1]
    if known is not None:
        known = (known[:n_known] - scaler.mean[:C]) / scaler.scale[:C]
    if past is not None:
        past = (past[:n_past] - scaler.mean[C:]) / scaler.scale[C:]
    return known, past


def _fit_scaler(covariates, hist):
    """One :class:`~fastrnn.forecast.covariates.CovariateScaler` over every series' history
    (known columns, then past ones)."""
    from fastrnn.forecast.covariates import CovariateScaler

    cols = []
    for k, h in enumerate(hist):
        known, past = covariates.series(k)
        parts = [a[:len(h)] for a in (known, past) if a is not None]
        cols.append(np.concatenate(parts, axis=1))
    return CovariateScaler.fit(np.concatenate(cols))


def fit(histories: Sequence, horizon: int, config: PanelConfig | None = None,
        progress: str | None = None, covariates=None) -> PanelForecaster:
    """Fit a panel forecaster on ``histories`` (see the module docstring).

    Parameters
    ----------
    histories : sequence of 1-D array_like
        Each series' data, at least :func:`min_history` points, finite.
    horizon : int
        Steps to forecast.
    config : PanelConfig or None
        Settings; None: the defaults.
    progress : str or None
        Show a bar over the epochs with this label (on a terminal only); None: no bar.
    covariates : fastrnn.forecast.backtest.Covariates, optional
        Each series' covariates, aligned with its history from its first point: the known ones
        at least as long as the history (``horizon`` more for :meth:`PanelForecaster.forecast`
        to forecast beyond it), the past ones as long as the history (module docstring).

    Returns
    -------
    PanelForecaster

    Notes
    -----
    A hybrid model (``"hybrid-<kind>"``) starts its linear path as the least-squares AR
    (:meth:`fastrnn.RNN.least_squares_init`) on the training windows of every series (global), or
    of its own series (local; of every series when its own has fewer windows than ``1 + look_back``),
    with the network's output at zero, and trains it with the network (the joint variant).

    Raises
    ------
    ValueError
        A history shorter than :func:`min_history`, or not finite; covariates that do not cover
        the histories, or past covariates with ``multi="recursive"``.
    """
    import fastrnn as fr
    from fastrnn.forecast.config import check_positive_int, is_hybrid

    cfg = PanelConfig() if config is None else config
    H = check_positive_int("horizon", horizon, 1)
    L = cfg.look_back
    hist = [np.asarray(h, dtype=np.float64) for h in histories]
    need = min_history(L, H)
    for k, h in enumerate(hist):
        if h.ndim != 1 or len(h) < need or not np.isfinite(h).all():
            raise ValueError(f"series {k}: a history needs at least {need} finite points (look_back {L} + "
                             f"2 x horizon {H}); got {len(h)}")
        if cfg.transform == "log" and not (h > 0).all():
            raise ValueError(f"series {k} has values <= 0, which transform='log' cannot take; use transform='none'")
    cov = _check_covariates(covariates, hist, H, cfg.multi, need_future=False)
    cscaler = None if cov is None else _fit_scaler(cov, hist)
    lead = _lead(cfg.multi, H)
    cs = [None if cov is None else _scaled_cov(cov, cscaler, k, len(h), len(h)) for k, h in enumerate(hist)]
    tz = [_transformed(h, cfg.transform) for h in hist]
    scalers = _scalers(tz)
    zs = [(h - m) / s for h, (m, s) in zip(tz, scalers)]
    out = H if cfg.multi == "direct" else 1
    train, val = [], []
    for z, c in zip(zs, cs):
        n = len(z)
        train.append(_windows(z, L, out, 0, n - H, cfg.window_level, c, lead))  # targets before the last H points
        val.append(_windows(z, L, out, n - H, n, cfg.window_level, c, lead))  # targets within the last H points
    n_in = 1 + _n_cov(cs[0], lead)

    def done(model, history):
        return PanelForecaster(cfg, H, model, scalers, hist, history, covariates=cov, covariate_scaler=cscaler)
    pooled = None  # every series' training windows: a hybrid's least-squares start (global; local fallback)
    if is_hybrid(cfg.model) and (cfg.strategy == "global" or any(len(x) <= L for x, _ in train)):
        pooled = (np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]))
    if cfg.strategy == "local":
        model, history = _fit_local(cfg, H, zs, progress, pooled, cs=cs if cov is not None else None)
        return done(model, history)
    dt = np.dtype(cfg.dtype)
    model = _build(cfg, out, cfg.seed, pooled, n_in) if cfg.ensemble == 1 else fr.stack(
        [_build(cfg, out, cfg.seed + e, pooled, n_in) for e in range(cfg.ensemble)])
    Xt = np.concatenate([x for x, _ in train]).astype(dt)
    Yt = np.concatenate([y for _, y in train]).astype(dt)
    Xv = np.concatenate([x for x, _ in val]).astype(dt)
    Yv = np.concatenate([y for _, y in val]).astype(dt)
    history = _train(cfg, model, Xt, Yt, Xv, Yv, progress)
    return done(model, history)


def _build(cfg: PanelConfig, out: int, seed: int, init=None, n_in: int = 1):
    """A new model of ``cfg`` with ``n_in`` inputs per step, ``out`` outputs and this seed; a hybrid's
    linear path started as the least-squares AR on the windows ``init = (X, Y)`` (feature 0: the
    series' own lags)."""
    from fastrnn.forecast.config import cell_kind, is_hybrid
    from fastrnn.models import model_class

    hybrid = is_hybrid(cfg.model)
    model = model_class(cell_kind(cfg.model))(input_size=n_in, hidden_size=cfg.hidden, output_size=out,
                                              num_layers=cfg.layers, dtype=cfg.dtype, seed=seed,
                                              ar_lags=cfg.look_back if hybrid else 0)
    if hybrid:
        model.least_squares_init(*init)
    return model


def _train(cfg: PanelConfig, model, X, Y, Xv, Yv, progress: str | None):
    """Train ``model`` (a model or a stack) with ``cfg``'s optimizer, clipping and early stopping;
    its History (one per model of a stack)."""
    import fastrnn as fr
    from fastrnn.trainer import EarlyStopping, NonFiniteLossWarning, ProgressBar, Trainer

    def opt(params):
        return fr.optim.Adam(params, lr=cfg.lr)

    stop = EarlyStopping(patience=cfg.patience or None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonFiniteLossWarning)
        return Trainer(model, optimizer=opt, clip_norm=cfg.clip_norm).fit(
            X, Y, validation_data=(Xv, Yv), epochs=cfg.epochs, batch_size=cfg.batch_size, verbose=0,
            early_stopping=stop, callbacks=[] if progress is None else [ProgressBar(progress)])


#: The least work of one job of local models (:func:`_local_groups`), in the units of its estimate:
#: floating-point operations of the forward and backward passes over every one of ``epochs``
#: epochs (early stopping ends most fits long before). A retail series' models reach it alone, so
#: each is one job of a fraction of a second: measured, that balanced better over the workers than
#: jobs of about a second (several series per stack), while the scheduler's cost per task stayed
#: a few percent of a job (benchmarks/README.md, "Dask scaling").
LOCAL_GROUP_FLOPS = 3e9


def _local_groups(cfg: PanelConfig, horizon: int, zs: Sequence[np.ndarray], n_in: int = 1) -> list[range]:
    """The series of each job of the local strategy: consecutive series whose models' estimated
    training work (:data:`LOCAL_GROUP_FLOPS`) reaches a second or so. From the data and the
    settings only, never from the workers (results do not depend on it anyway: every model of a
    stack trains exactly as it would alone)."""
    from fastrnn import cells
    from fastrnn.forecast.config import cell_kind
    from fastrnn.parallel import group_jobs

    gates = len(cells.of_kind(cell_kind(cfg.model))[0].gates)
    H = cfg.hidden
    per_step = 6 * gates * H * (H + n_in + 1) + 6 * gates * H * (2 * H + 1) * (cfg.layers - 1)  # fwd + bwd
    costs = [max(len(z) - cfg.look_back - horizon, 1) * cfg.look_back * per_step * cfg.epochs * cfg.ensemble
             for z in zs]
    return group_jobs(costs, LOCAL_GROUP_FLOPS)


def _local_job(job):
    """One job of the local strategy (a :func:`fastrnn.parallel.map_jobs` job): ``(cfg, horizon,
    first, zs, pooled, progress[, cs])`` -> the trained models of series ``first ..`` (scaled histories
    ``zs``; ``cs``: their scaled covariate columns ``(known, past)``, the task carries them),
    ``ensemble`` per series, seeds ``cfg.seed + (first + k) * E + e``, trained as one stack,
    and their Histories. A hybrid starts from its own series' least-squares AR, or from
    ``pooled`` (every series' training windows) when its series has too few windows."""
    import fastrnn as fr

    cfg, horizon, first, zs, pooled, progress, *rest = job
    cs = rest[0] if rest and rest[0] is not None else [None] * len(zs)
    E, L, dt = cfg.ensemble, cfg.look_back, np.dtype(cfg.dtype)
    out = horizon if cfg.multi == "direct" else 1
    lead = _lead(cfg.multi, horizon)
    train, val = [], []
    for z, c in zip(zs, cs):
        n = len(z)
        train += [_windows(z, L, out, 0, n - horizon, cfg.window_level, c, lead)] * E  # targets before the last H
        val += [_windows(z, L, out, n - horizon, n, cfg.window_level, c, lead)] * E  # targets within the last H
    n_in = 1 + _n_cov(cs[0], lead)
    stack = fr.stack([_build(cfg, out, cfg.seed + first * E + j, train[j] if len(train[j][0]) > L else pooled,
                             n_in) for j in range(len(zs) * E)])
    history = _train(cfg, stack, [x.astype(dt) for x, _ in train], [y.astype(dt) for _, y in train],
                     [x.astype(dt) for x, _ in val], [y.astype(dt) for _, y in val], progress)
    return stack.unstack(), list(history)


def _fit_local(cfg: PanelConfig, horizon: int, zs: list, progress: str | None, pooled=None,
               groups: list | None = None, cs: list | None = None):
    """The local strategy: model ``k*E + e`` for series ``k`` (seed ``seed + k*E + e``); the
    stack and its Histories.

    On this machine (the local backend), one stack of every series in this process: its models
    already run in parallel over the cores, on Numba's threads, and worker processes would only
    add their start. On Dask (inside :func:`fastrnn.parallel.cluster`), the series are cut into
    groups (:func:`_local_groups`, or ``groups``), each group's stack trained in one task
    (:func:`fastrnn.parallel.map_jobs`), and the groups' models stacked again: bitwise the one
    stack, since every model of a stack trains exactly as it would alone. ``cs``: each series'
    scaled covariate columns (None without covariates), carried by the jobs of its series.
    """
    import fastrnn as fr
    from fastrnn.parallel import current_backend, map_jobs

    n_in = 1 + (0 if cs is None else _n_cov(cs[0], _lead(cfg.multi, horizon)))
    if groups is None:
        groups = _local_groups(cfg, horizon, zs, n_in) if current_backend() == "dask" else [range(0, len(zs))]
    if len(groups) == 1 and current_backend() == "local":
        models, history = _local_job((cfg, horizon, 0, zs, pooled, progress, cs))
        return fr.stack(models), history
    jobs = [(cfg, horizon, g.start, [zs[k] for k in g], pooled, None, None if cs is None else [cs[k] for k in g])
            for g in groups]
    bar = None
    if progress is not None:
        from fastrnn._progress import progress_bar

        bar = progress_bar(total=len(jobs), desc=f"{progress} ({len(jobs)} groups of series)", unit="group",
                           disable=None)  # on a terminal only, like the epoch bar
    try:
        parts = map_jobs(_local_job, jobs, progress=None if bar is None else (lambda d, t: bar.update(d - bar.n)))
    finally:
        if bar is not None:
            bar.close()
    return fr.stack([m for models, _ in parts for m in models]), [h for _, hs in parts for h in hs]


def forecaster(config: PanelConfig | None = None):
    """A forecaster ``f(histories, horizon, covariates=None) -> (S, H)`` for
    :func:`fastrnn.forecast.backtest.forecast_windows`: :func:`fit` on the histories (and the
    covariates, known ones up to origin + H), then :meth:`PanelForecaster.forecast`.

    Parameters
    ----------
    config : PanelConfig or None
        Settings; None: the defaults.

    Returns
    -------
    Callable[[list, int], np.ndarray]
    """
    def f(histories, horizon, covariates=None):
        return fit(histories, horizon, config, covariates=covariates).forecast()
    return f
