"""Training: one step is forward, loss, BPTT, clipping and an optimizer update.

    trainer = fr.Trainer(model, loss="mse", optimizer=fr.optim.Adam(model.parameters(), lr=1e-3))
    history = trainer.fit(X, y, validation_data=(Xv, yv), epochs=50,
                          early_stopping=fr.EarlyStopping(patience=5))
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from fastrnn import clip as _clip
from fastrnn import losses as _losses
from fastrnn import optim as _optim
from fastrnn import threads as _threads
from fastrnn._progress import progress_bar
from fastrnn.kernels._reduce import sum_squares

if TYPE_CHECKING:
    from fastrnn.models import GRU, LSTM, RNN
    from fastrnn.stacks import Stack


def _is_real(v) -> bool:
    """Whether ``v`` is a real number (int or float, NumPy's too; not bool, not a string)."""
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


class NonFiniteLossWarning(RuntimeWarning):
    """Training stopped because the loss or a gradient became NaN or infinite."""


class _NonFinite(Exception):
    """Raised inside a training step whose loss or gradient is not finite; no update was made."""

    def __init__(self, message, value=float("nan")):
        super().__init__(message)
        self.value = value  # what train_step returns


def as_targets(model: RNN | LSTM | GRU, y: np.ndarray) -> np.ndarray:
    """Targets in the model's dtype, with a missing output axis added when ``output_size`` is 1.

    Parameters
    ----------
    model : RNN, LSTM or GRU
        The model the targets are for.
    y : array_like
        ``(B,)`` for a many-to-one model, ``(B, T)`` for a many-to-many one, or already with the
        output axis.

    Returns
    -------
    numpy.ndarray
        ``y`` in ``model.dtype``, ``(B, O)`` or ``(B, T, O)``.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # values beyond the dtype: refused by the caller
        y = np.asarray(y).astype(model.dtype, copy=False)
    if model.output_size == 1 and y.ndim == (2 if model.return_sequences else 1):
        y = y[..., None]
    return y


class Callback:
    """Hooks into the training loop of :meth:`Trainer.fit` and :meth:`Trainer.fit_stateful`.

    Subclass it and override any of the three methods; each receives the running :class:`Loop`,
    whose ``history`` has just been extended by the epoch that ended. A callback stops training
    with :meth:`Loop.stop`. The loop calls ``on_train_end`` of every callback also when training
    ends with an exception (after ``KeyboardInterrupt``, for example), in the order given.

    Training a :class:`fastrnn.stacks.Stack`, a callback with ``per_model = True`` (the default, e.g.
    :class:`EarlyStopping`) is copied for every model and called with that model's :class:`Loop`
    (stopping it stops that model only); one with ``per_model = False`` (:class:`ProgressBar`) is
    called once per epoch with the :class:`StackLoop`.
    """

    #: For a stack: one copy per model (True), or one for the whole stack (False).
    per_model: bool = True

    def on_train_begin(self, loop: Loop) -> None:
        """Before the first epoch (``loop.epoch`` is 0).

        Parameters
        ----------
        loop : Loop
            The running loop (``loop.trainer``, ``loop.epoch``, ``loop.history``, ...).
        """

    def on_epoch_end(self, loop: Loop) -> None:
        """After each epoch that finished with finite losses (it is in ``loop.history``; ``loop.improved``
        says whether it is the best so far).

        Parameters
        ----------
        loop : Loop
            The running loop (``loop.trainer``, ``loop.epoch``, ``loop.history``, ...).
        """

    def on_train_end(self, loop: Loop) -> None:
        """After the last epoch, or when training stopped for any reason (also an exception).

        Parameters
        ----------
        loop : Loop
            The running loop (``loop.trainer``, ``loop.epoch``, ``loop.history``, ...).
        """


@dataclass
class EarlyStopping(Callback):
    """Stop when the monitored loss (validation loss if there is validation data, else the training
    loss) has not improved by more than ``min_delta`` for ``patience`` epochs; with ``restore_best``,
    the model ends with the weights of its best epoch.

    Parameters
    ----------
    patience : int or None, default 5
        Epochs without improvement before stopping; ``None`` never stops early (with
        ``restore_best``, the model still ends with its best epoch's weights).
    min_delta : float, default 0.0
        How much lower than the best so far a loss must be to count as an improvement, >= 0.
    restore_best : bool, default True
        Load the weights of the best epoch when training ends.

    Raises
    ------
    ValueError
        ``patience`` is not a non-negative integer or None, or ``min_delta`` is negative or not finite.
    """

    patience: int | None = 5
    min_delta: float = 0.0
    restore_best: bool = True

    def __post_init__(self) -> None:
        p = self.patience
        if p is not None and (isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 0):
            raise ValueError(f"patience must be a non-negative integer or None; got {p!r}")
        if not (_is_real(self.min_delta) and np.isfinite(self.min_delta)) or self.min_delta < 0:
            raise ValueError(f"min_delta must be a non-negative number; got {self.min_delta!r}")
        self._waited = 0

    def on_train_begin(self, loop: Loop) -> None:
        """Reset the count of epochs without improvement.

        Parameters
        ----------
        loop : Loop
            The running loop (``loop.trainer``, ``loop.epoch``, ``loop.history``, ...).
        """
        self._waited = 0

    def on_epoch_end(self, loop: Loop) -> None:
        """Count an epoch without improvement; after ``patience`` of them, :meth:`Loop.stop`.

        Parameters
        ----------
        loop : Loop
            The running loop (``loop.trainer``, ``loop.epoch``, ``loop.history``, ...).
        """
        if loop.improved:
            self._waited = 0
            return
        self._waited += 1
        if self.patience is not None and self._waited >= self.patience:
            loop.stop(f"early stopping at epoch {loop.epoch}: {loop.monitor} has not improved for "
                      f"{self.patience} epochs (best epoch {loop.history.best_epoch})")

    def on_train_end(self, loop: Loop) -> None:
        """With ``restore_best``, load the best epoch's weights (:meth:`Loop.restore_best`).

        Parameters
        ----------
        loop : Loop
            The running loop (``loop.trainer``, ``loop.epoch``, ``loop.history``, ...).
        """
        if self.restore_best and loop.history.best_epoch is not None:
            loop.restore_best()


class ProgressBar(Callback):
    """One progress bar over the epochs, with the last losses beside it (tqdm).

    Parameters
    ----------
    desc : str, default "training"
        The bar's label.
    disable : bool or None, default None
        ``None``: shown only on a terminal (tqdm's rule); ``False``: always; ``True``: never.
    """

    per_model = False  # training a stack: one bar for all its models

    def __init__(self, desc: str = "training", disable: bool | None = None) -> None:
        self.desc, self.disable, self._bar = desc, disable, None

    def on_train_begin(self, loop: Loop) -> None:
        """Open the bar, of ``loop.epochs`` epochs.

        Parameters
        ----------
        loop : Loop
            The running loop (``loop.trainer``, ``loop.epoch``, ``loop.history``, ...).
        """
        self._bar = progress_bar(total=loop.epochs, desc=self.desc, unit="epoch", leave=True,
                                 disable=self.disable)

    def on_epoch_end(self, loop: Loop) -> None:
        """Advance the bar by one epoch and show its loss (and validation loss).

        Parameters
        ----------
        loop : Loop
            The running loop (``loop.trainer``, ``loop.epoch``, ``loop.history``, ...).
        """
        h = loop.history
        post = {"loss": f"{h.loss[-1]:.4g}"}
        if h.val_loss:
            post["val_loss"] = f"{h.val_loss[-1]:.4g}"
        self._bar.set_postfix(refresh=False, **post)
        self._bar.update(1)

    def on_train_end(self, loop: Loop) -> None:
        """Close the bar (full, when training stopped early).

        Parameters
        ----------
        loop : Loop
            The running loop (``loop.trainer``, ``loop.epoch``, ``loop.history``, ...).
        """
        if self._bar is None:
            return
        if loop.stopped_early:  # end the bar full: "70/70", not "70/300"
            self._bar.total = loop.epoch
            self._bar.refresh()
        self._bar.close()
        self._bar = None


@dataclass
class History:
    """What happened in :meth:`Trainer.fit`, one entry per epoch.

    ``grad_norm`` is the mean over the epoch's steps of the global gradient L2 norm (before
    clipping); ``layer_grad_norms`` the same per layer (``l0``, ``l1``, …, ``head``).
    ``diverged`` is true when training stopped because the loss or a gradient became NaN or
    infinite (``stop_reason`` says where).

    The trainer builds it; the constructor's arguments are its fields (:meth:`from_dict`).

    Parameters
    ----------
    epoch : list of int
        The epochs completed, 1-based.
    loss : list of float
        Mean training loss of each epoch.
    val_loss : list of float
        Validation loss after each epoch (empty without validation data).
    grad_norm : list of float
        Mean global gradient L2 norm of each epoch's steps, before clipping.
    layer_grad_norms : list of dict[str, float]
        The same per layer (``l0``, ``l1``, …, ``head``).
    seconds : list of float
        Wall time of each epoch.
    best_epoch : int or None
        The epoch with the lowest monitored loss (None if none was tracked).
    stop_reason : str
        Why training ended ("completed all epochs", early stopping, divergence).
    diverged : bool
        Whether it stopped on a NaN or infinite loss or gradient.
    """

    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    layer_grad_norms: list[dict[str, float]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stop_reason: str = "completed all epochs"
    diverged: bool = False

    def _record(self, epoch, loss, val_loss, norms, layer_norms, seconds):
        """Append one epoch: its mean loss, validation loss (or None) and the mean gradient norms
        over its steps."""
        self.epoch.append(epoch)
        self.loss.append(loss)
        if val_loss is not None:
            self.val_loss.append(val_loss)
        self.grad_norm.append(float(np.mean(norms)))
        self.layer_grad_norms.append({k: float(np.mean([d[k] for d in layer_norms])) for k in layer_norms[0]})
        self.seconds.append(seconds)

    @property
    def epochs_run(self) -> int:
        """Epochs completed (with finite losses)."""
        return len(self.loss)

    @property
    def history(self) -> dict[str, list[float]]:
        """Keras-style dict of lists: ``loss``, ``grad_norm``, ``seconds`` and, with validation data,
        ``val_loss``."""
        d = {"loss": self.loss, "grad_norm": self.grad_norm, "seconds": self.seconds}
        if self.val_loss:
            d["val_loss"] = self.val_loss
        return d

    def to_dict(self) -> dict[str, Any]:
        """Every field, for a checkpoint or a JSON file.

        Returns
        -------
        dict[str, Any]
            Field name -> value, as JSON-serialisable lists and scalars (:meth:`from_dict` inverts
            it).
        """
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """The :class:`History` that :meth:`to_dict` described.

        Parameters
        ----------
        d : dict[str, Any]
            What :meth:`to_dict` returned; keys that are not fields are ignored, missing fields take
            their defaults.

        Returns
        -------
        History
        """
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class Loop:
    """The state of one training run, as callbacks see it.

    :meth:`Trainer.fit` and :meth:`Trainer.fit_stateful` build it and call :meth:`run`.

    Parameters
    ----------
    trainer : Trainer
        The trainer whose model is trained.
    epochs : int
        The most epochs this run may take.
    monitor : str
        The loss that decides the best epoch: ``"val_loss"`` or ``"loss"``.
    min_delta : float, default 0.0
        How much lower than the best so far the monitored loss must be to count as an improvement.
    track_best : bool, default True
        Keep a copy of the best epoch's weights (for :meth:`restore_best`, and restored when
        training diverges); ``False``: no best epoch, ``improved`` is always false.
    index : int, default 0
        The model's index in its stack (:class:`StackLoop`).

    Attributes
    ----------
    trainer : the :class:`Trainer`; ``trainer.model`` is the model being trained.
    epochs : the most epochs this run may take.
    epoch : the epoch that just ended (1-based; 0 before the first).
    history : the :class:`History` so far.
    monitor : ``"val_loss"`` with validation data, else ``"loss"``.
    improved : whether the epoch that just ended is the best so far (by more than ``min_delta``).
    index : the model's index in its stack (0 for a model trained alone).
    finished : true in ``on_train_end`` when training ended by itself (all epochs, early stopping,
        divergence), false when an exception (an interrupt) ended it.
    """

    def __init__(self, trainer: Trainer, epochs: int, monitor: str, min_delta: float = 0.0,
                 track_best: bool = True, index: int = 0) -> None:
        self.trainer, self.epochs, self.monitor, self.index = trainer, epochs, monitor, index
        self.epoch, self.history, self.improved, self.finished = 0, History(), False, False
        self._min_delta, self._track_best = min_delta, track_best
        self._best = np.inf
        self._best_weights = trainer.model.state_dict() if track_best else None
        self._stop = None

    def stop(self, reason: str) -> None:
        """End training after this epoch (the callbacks of this epoch still run).

        Parameters
        ----------
        reason : str
            Becomes ``history.stop_reason``.
        """
        self._stop = reason

    @property
    def stopped_early(self) -> bool:
        """Whether a callback stopped training before ``epochs`` (not a non-finite loss)."""
        return self._stop is not None and not self.history.diverged

    def restore_best(self) -> None:
        """Load the weights of the best epoch so far (the initial ones before any) into the model."""
        self.trainer.model.load_state_dict(self._best_weights)

    def _diverge(self, what: str, hint: str = "") -> None:
        h = self.history
        if self._track_best:
            self.restore_best()
            what += "; kept the weights of " + (f"epoch {h.best_epoch}" if h.best_epoch else "the start")
        h.stop_reason, h.diverged = f"stopped: {what}{hint}", True
        self._stop = h.stop_reason
        warnings.warn(h.stop_reason, NonFiniteLossWarning, stacklevel=4)

    def _end_epoch(self, current: float) -> None:
        """Track the best epoch after the epoch just recorded, whose monitored loss is ``current``."""
        self.improved = self._track_best and current < self._best - self._min_delta
        if self.improved:
            self._best, self.history.best_epoch = current, self.epoch
            self._best_weights = self.trainer.model.state_dict()

    def _begin(self, callbacks):
        for cb in callbacks:
            cb.on_train_begin(self)

    def _failed(self, error: _NonFinite) -> None:
        """The epoch stopped on a non-finite loss or gradient (``error``): training ends, diverged."""
        self._diverge(str(error), " (try a lower learning rate or clip_norm)" if self._track_best else "")

    def _after_epoch(self, loss, norms, layer_norms, val, seconds, callbacks, verbose) -> bool:
        """Record the epoch :attr:`epoch` that was just trained, track the best one, run the
        callbacks; True when training ends with it."""
        h, epoch = self.history, self.epoch
        h._record(epoch, loss, val, norms, layer_norms, seconds)
        current = h.val_loss[-1] if val is not None else h.loss[-1]
        if verbose:
            msg = f"epoch {epoch}/{self.epochs}  loss {h.loss[-1]:.5g}"
            if val is not None:
                msg += f"  val_loss {h.val_loss[-1]:.5g}"
            print(msg + f"  {h.seconds[-1]:.2f}s")
        if not np.isfinite(current):
            self._diverge(f"{self.monitor} became {current} at epoch {epoch}")
            return True
        self._end_epoch(current)
        for cb in callbacks:
            cb.on_epoch_end(self)
        if self._stop is not None:
            h.stop_reason = self._stop
            return True
        return False

    def _end(self, callbacks):
        for cb in callbacks:
            cb.on_train_end(self)

    def run(self, run_epoch: Callable[[int], tuple[float, list[float], list[dict[str, float]]]],
            evaluate: Callable[[], float] | None, callbacks: Sequence[Callback], verbose: int) -> History:
        """Run up to ``epochs`` epochs; see :meth:`Trainer.fit`.

        Parameters
        ----------
        run_epoch : Callable[[int], tuple]
            ``run_epoch(epoch) -> (loss, norms, layer_norms)``: trains one epoch and returns its
            mean loss and every step's global and per-layer gradient norms; raises the trainer's
            internal non-finite error (caught here: training stops, diverged) when a step's loss
            or gradient is not finite.
        evaluate : Callable[[], float] or None
            The validation loss after each epoch; None without validation data.
        callbacks : sequence of Callback
            Called in this order after each epoch (and at the start and the end).
        verbose : int
            Print one line per epoch when non-zero.

        Returns
        -------
        History
            :attr:`history`, complete.
        """
        self._begin(callbacks)
        try:
            for epoch in range(1, self.epochs + 1):
                self.epoch = epoch
                t0 = time.perf_counter()
                try:
                    loss, norms, layer_norms = run_epoch(epoch)
                except _NonFinite as e:
                    self._failed(e)
                    break
                val = evaluate() if evaluate is not None else None
                if self._after_epoch(loss, norms, layer_norms, val, time.perf_counter() - t0, callbacks, verbose):
                    break
            self.finished = True
        finally:
            self._end(callbacks)
        return self.history


class StackLoop:
    """The state of a stack's training (:meth:`Trainer.fit` of a :class:`fastrnn.stacks.Stack`), as
    its whole-stack callbacks (``per_model = False``, e.g. :class:`ProgressBar`) see it.

    Parameters
    ----------
    trainer : Trainer
        The trainer of the stack.
    epochs : int
        The most epochs this run may take.
    loops : list of Loop
        One per model of the stack, in order.

    Attributes
    ----------
    trainer : the :class:`Trainer` of the stack.
    epochs : the most epochs this run may take.
    epoch : the epoch that just ended (1-based; 0 before the first).
    loops : one :class:`Loop` per model (its ``history``, ``stopped_early``, ...).
    history : a :class:`History` of the stack: per epoch the mean loss (and validation loss) of the
        models that trained in it; no gradient norms, no best epoch.
    training : the indices of the models still training.
    """

    def __init__(self, trainer: Trainer, epochs: int, loops: list[Loop]) -> None:
        self.trainer, self.epochs, self.loops = trainer, epochs, loops
        self.epoch, self.history, self.training = 0, History(), list(range(len(loops)))

    @property
    def stopped_early(self) -> bool:
        """Whether every model stopped before ``epochs`` (early stopping or divergence)."""
        return self.epoch < self.epochs and not self.training


def _fit_settings(epochs, batch_size, early_stopping, callbacks):
    """:meth:`Trainer.fit`'s checked counts and callbacks: ``(callbacks with early_stopping first,
    its min_delta)``."""
    from fastrnn.models import check_positive_int

    for name, v in (("epochs", epochs), ("batch_size", batch_size)):
        check_positive_int(name, v)
    callbacks = list(callbacks or ())
    if early_stopping is not None:
        callbacks.insert(0, early_stopping)
    stopper = next((cb for cb in callbacks if isinstance(cb, EarlyStopping)), None)
    return callbacks, stopper.min_delta if stopper is not None else 0.0


def _layer_of(name):
    """'weight_ih_l1_reverse' -> 'l1'; 'head.weight' -> 'head'."""
    if name.startswith("head."):
        return "head"
    return next(part for part in name.split("_") if part.startswith("l") and part[1:].isdigit())


class Trainer:
    """Trains a model from :mod:`fastrnn.models`.

    One step (:meth:`train_step`) is forward, loss, BPTT, clipping and an optimizer update.

    Parameters
    ----------
    model : RNN, LSTM or GRU
        The model; its parameters are updated in place.
    loss : str or callable, default "mse"
        A name ("mse", "mae", "huber", "bce", "cross_entropy") or a loss from :mod:`fastrnn.losses`
        (any ``f(pred, target) -> (value, grad)``).
    optimizer : Optimizer, str or None, default None
        An optimizer from :mod:`fastrnn.optim` built on ``model.parameters()``, or a name (then with
        its default settings); None: ``Adam(lr=1e-3)``.
    clip_norm : float or None, default None
        Rescale the gradients so that their global L2 norm is at most this (positive).
    clip_value : float or None, default None
        Clip every gradient element into [-clip_value, clip_value] (applied first; positive).
    seed : int or None, default None
        Seed of the shuffling; None: the model's seed, so one seed fixes the whole run.

    Raises
    ------
    ValueError
        ``clip_norm`` or ``clip_value`` is not a positive finite number or None; an unknown loss or
        optimizer name.
    """

    def __init__(self, model: RNN | LSTM | GRU | Stack, loss: str | _losses.Loss | Callable = "mse",
                 optimizer: _optim.Optimizer | str | Callable | Sequence[_optim.Optimizer] | None = None,
                 clip_norm: float | None = None, clip_value: float | None = None,
                 seed: int | Sequence[int | None] | None = None) -> None:
        from fastrnn.stacks import Stack

        self.model = model
        self.loss = _losses.get(loss)
        self._members = None
        if isinstance(model, Stack):
            self._members = self._member_trainers(model, optimizer, clip_norm, clip_value, seed)
            self.optimizer, self.clip_norm, self.clip_value = None, clip_norm, clip_value
            self._rng, self._layers = None, {}
            self.last_grad_norm = self.last_layer_grad_norms = None
            return
        if callable(optimizer) and not isinstance(optimizer, (str, _optim.Optimizer, type)):
            optimizer = optimizer(model.parameters())
        if optimizer is None:
            optimizer = _optim.Adam(model.parameters(), lr=1e-3)
        elif isinstance(optimizer, str):
            optimizer = _optim.get(optimizer, model.parameters())
        self.optimizer = optimizer
        for name, v in (("clip_norm", clip_norm), ("clip_value", clip_value)):
            if v is not None and not (_is_real(v) and np.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number or None; got {v!r}")
        self.clip_norm = clip_norm
        self.clip_value = clip_value
        self._rng = np.random.default_rng(model.seed if seed is None else seed)
        self._layers = {}
        for name in model.parameters():
            self._layers.setdefault(_layer_of(name), []).append(name)
        self.last_grad_norm = None
        self.last_layer_grad_norms = None

    def _check_xy(self, X, y, names=("X", "y")):
        """``X`` as the model takes it (:meth:`~fastrnn.models.RNN.predict`: array-like, real
        numbers, converted to the model's dtype) and ``y`` checked and converted the same way:
        numbers (bool, integer or float; not complex, strings or objects), one target row per
        sample of ``X``, finite, of the model's output shape. ValueError (expected vs got) else."""
        xn, yn = names
        X = self.model.check_x(X)
        try:
            y = np.asarray(y)
        except ValueError as e:  # ragged nested lists
            raise ValueError(f"{yn} must be a rectangular array of numbers; got {type(y).__name__} "
                             f"that NumPy cannot turn into one ({e})") from None
        if y.dtype.kind not in "biuf":
            raise ValueError(f"{yn} must hold numbers (bool, integer or float; not complex); got dtype {y.dtype}")
        if y.ndim == 0:
            raise ValueError(f"{yn} must have one target per sample of {xn} ({len(X)}); got a scalar")
        if len(y) != len(X):
            raise ValueError(f"{xn} and {yn} must have the same number of samples; got {len(X)} and {len(y)}")
        if isinstance(self.loss, _losses.CrossEntropy):  # class indices stay integers
            return X, y
        y = as_targets(self.model, y)
        m = self.model
        want = (len(X),) + ((X.shape[1],) if m.return_sequences else ()) + (m.output_size,)
        if y.shape != want:
            alt = f" or {want[:-1]}" if m.output_size == 1 else ""
            raise ValueError(f"{yn} must have shape {want}{alt} for this model (output_size "
                             f"{m.output_size}{': a target for every step' if m.return_sequences else ''}); "
                             f"got {y.shape}")
        bad = np.flatnonzero(~np.isfinite(y.reshape(len(y), -1)).all(axis=1))
        if bad.size:
            raise ValueError(f"{yn} must be finite, but {bad.size} sample(s) have NaN or infinite "
                             f"targets (in {m.dtype.name}), the first at index {bad[0]}; drop or fix "
                             f"them")
        return X, y

    def _check_validation_data(self, validation_data, check=None):
        """``validation_data`` as the 2-tuple ``(X_val, y_val)``, each checked like ``(X, y)`` (by
        ``check``, default :meth:`_check_xy`)."""
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            got = (f"a {type(validation_data).__name__} of length {len(validation_data)}"
                   if isinstance(validation_data, (tuple, list)) else type(validation_data).__name__)
            raise ValueError(f"validation_data must be a tuple (X_val, y_val); got {got}")
        try:
            return (check or self._check_xy)(*validation_data, names=("X_val", "y_val"))
        except ValueError as e:
            raise ValueError(f"validation_data: {e}") from None

    def _member_trainers(self, st, optimizer, clip_norm, clip_value, seed):
        """One Trainer per model of the stack ``st``, on its member (views of the stacked weights)."""
        M = st.num_models
        if isinstance(optimizer, _optim.Optimizer):
            raise ValueError("a stack needs one optimizer per model: pass a name, a function params -> "
                             "Optimizer, or a list of M optimizers built on stack.members[m].parameters()")
        if isinstance(optimizer, (list, tuple)):
            if len(optimizer) != M:
                raise ValueError(f"optimizer: a list must hold one optimizer per model ({M}); got {len(optimizer)}")
            opts = list(optimizer)
            for m, opt in enumerate(opts):
                mine = st.members[m].parameters()
                if not isinstance(opt, _optim.Optimizer) or any(opt.params.get(k) is not v for k, v in mine.items()):
                    raise ValueError(f"optimizer[{m}] must be an Optimizer built on stack.members[{m}].parameters()")
        else:
            opts = [optimizer] * M
        if isinstance(seed, (list, tuple)):
            if len(seed) != M:
                raise ValueError(f"seed: a list must hold one seed per model ({M}); got {len(seed)}")
            seeds = list(seed)
        else:
            seeds = [seed] * M
        return [Trainer(member, self.loss, opt, clip_norm, clip_value, s)
                for member, opt, s in zip(st.members, opts, seeds)]

    def _loss_of(self, pred, y):
        """``(value, d_pred)`` of the loss; :class:`_NonFinite` when the value is not finite."""
        value, d_pred = self.loss(pred, y)
        if not np.isfinite(value):
            raise _NonFinite(f"loss became {value}", float(value))
        return value, d_pred

    def _step(self, X, y, state0=None):
        """Forward, loss, BPTT, clip, update. Returns (loss, final states).

        Raises :class:`_NonFinite` (and makes no update) when the loss or a gradient is not finite.
        """
        m = self.model
        pred, cache = m.forward_unchecked(X, training=True, state0=state0)  # X comes from _check_xy
        value, d_pred = self._loss_of(pred, y)
        try:
            grads, _ = m.backward(cache, d_pred)
        except FloatingPointError as e:
            raise _NonFinite(str(e)) from None
        self._update(grads)
        return float(value), cache["states"]

    def _update(self, grads):
        """The gradient norms (:attr:`last_grad_norm`, :attr:`last_layer_grad_norms`), clipping and
        the optimizer's update; :class:`_NonFinite` (no update) when the norm is not finite."""
        squares = {n: sum_squares(g) for n, g in grads.items()}
        self.last_layer_grad_norms = {
            layer: math.sqrt(sum(squares[n] for n in names)) for layer, names in self._layers.items()
        }
        total = float(np.sqrt(sum(v * v for v in self.last_layer_grad_norms.values())))
        self.last_grad_norm = total
        if not np.isfinite(total):
            raise _NonFinite(f"gradient norm became {total}")
        if self.clip_value is not None:
            _clip.clip_grad_value(grads, self.clip_value)
            if self.clip_norm is not None:
                _clip.clip_grad_norm(grads, self.clip_norm)
        elif self.clip_norm is not None:
            # clip_grad_norm's global norm by its own formula, from the sums of squares above
            # instead of a second pass over the gradients
            clip_total = _clip.l2_total(map(math.sqrt, squares.values()))
            _clip.scale_to_norm(grads.values(), self.clip_norm, clip_total)
        self.optimizer.step(grads)

    def train_step(self, x: ArrayLike, y: ArrayLike) -> float:
        """One update on the batch ``(x, y)``.

        Parameters
        ----------
    x : array_like, shape (B, T, I), or (B, T) when the model has one input
        The inputs, as :meth:`fit` takes them.
    y : array_like
        The targets, as :meth:`fit` takes them: (B,) or (B, O); (B, T) or (B, T, O) with
        ``return_sequences``.

        Returns
        -------
        float
            The loss before the update; NaN or inf, with no update, when the loss or a gradient is
            not finite.

        Raises
        ------
        ValueError
            ``x`` or ``y`` is not as :meth:`fit` takes them.
        """
        if self._members is not None:
            data = self._stack_xy(x, y)
            rows = {m: np.arange(data.n[m]) for m in range(data.M)}
            values, failed = {}, {}
            with _threads.run_stack_threads(self.model):
                for group in data.same_size(rows):
                    v, f = self._stack_step(*data.batch(rows, group), group)
                    values.update(v)
                    failed.update(f)
            return np.array([failed[m].value if m in failed else values[m] for m in range(data.M)])
        x, y = self._check_xy(x, y)
        try:
            return self._step(x, y)[0]
        except _NonFinite as e:
            return e.value

    def evaluate(self, X: ArrayLike, y: ArrayLike, batch_size: int = 256) -> float:
        """Mean loss over all of ``(X, y)`` (no dropout, no update), in batches of ``batch_size``.

        Parameters
        ----------
    X : array_like, shape (B, T, I), or (B, T) when the model has one input
        The inputs, as :meth:`fit` takes them.
    y : array_like
        The targets, as :meth:`fit` takes them: (B,) or (B, O); (B, T) or (B, T, O) with
        ``return_sequences``.
        batch_size : int, default 256
            Samples per forward pass (the result does not depend on it beyond rounding).

        Returns
        -------
        float
            The loss averaged over the samples.

        Raises
        ------
        ValueError
            ``X`` or ``y`` is not as :meth:`fit` takes them, or ``batch_size`` is not a positive integer.
        """
        from fastrnn.models import check_positive_int

        check_positive_int("batch_size", batch_size)
        if self._members is not None:
            data = self._stack_xy(X, y)
            with _threads.run_stack_threads(self.model):
                return self._stack_evaluate(data, range(data.M), batch_size)
        X, y = self._check_xy(X, y)
        total, count = 0.0, 0
        with _threads.run_threads(self.model, X, batch_size, training=False):
            for i in range(0, len(X), batch_size):
                pred = self.model.forward_unchecked(X[i:i + batch_size])[0]
                n = len(pred)
                total += self.loss(pred, y[i:i + batch_size])[0] * n
                count += n
        return total / count

    def fit(self, X: ArrayLike, y: ArrayLike, validation_data: tuple[ArrayLike, ArrayLike] | None = None,
            epochs: int = 10, batch_size: int = 32, shuffle: bool = True,
            early_stopping: EarlyStopping | None = None, verbose: int = 1,
            callbacks: Sequence[Callback] | None = None) -> History:
        """Train for ``epochs`` passes over ``(X, y)`` in minibatches of ``batch_size``.

        A NaN or infinite loss stops training with a :class:`NonFiniteLossWarning`, leaving the
        weights of the best epoch so far (or the initial ones) in the model;
        ``history.stop_reason`` says what happened.

        Every epoch runs through one loop (:class:`Loop`): the steps, the validation loss, the
        best-epoch bookkeeping, then the ``callbacks`` (:class:`Callback`: ``early_stopping``, which
        is one, runs first, then e.g. :class:`ProgressBar`), which may stop training.

        Parameters
        ----------
        X : array_like, shape (B, T, I), or (B, T) when the model has one input
            A NumPy array or anything ``np.asarray`` turns into one of real numbers (nested lists, a
            pandas DataFrame of B rows and T columns); bool and integer values are converted to the
            model's dtype. A 1-D ``X`` is refused (one sequence is ``x.reshape(1, -1)``).
        y : array_like, shape (B,) or (B, O); (B, T) or (B, T, O) with ``return_sequences``
            The targets (class indices for ``cross_entropy``): an array, list or pandas
            Series/DataFrame of bool, integer or float numbers, converted to the model's dtype, one
            row per sample of ``X``, all finite.
        validation_data : tuple (X_val, y_val) or None, default None
            Checked like ``X`` and ``y``; its loss after each epoch is the monitored one.
        epochs : int, default 10
            The most passes over the data.
        batch_size : int, default 32
            Samples per update (the last batch of an epoch may be smaller).
        shuffle : bool, default True
            Draw a new order of the samples every epoch (seeded by ``seed``).
        early_stopping : EarlyStopping or None, default None
            Stop when the monitored loss stops improving (and restore the best weights).
        verbose : int, default 1
            0: silent; 1: one line per epoch and a transient progress bar over its batches; 2: the
            batch bars stay.
        callbacks : sequence of Callback or None, default None
            More hooks, called after ``early_stopping`` in this order.

        Returns
        -------
        History
            One entry per epoch completed; ``best_epoch``, ``stop_reason``, ``diverged``.

        Raises
        ------
        ValueError
            Anything else as ``X``, ``y`` or ``validation_data``, saying what was expected and what was
            given: strings, objects or complex numbers, NaN or infinite targets, a length or shape
            that does not match; ``epochs`` or ``batch_size`` not a positive integer.
        """

        if self._members is not None:
            return self._stack_fit(X, y, validation_data, epochs, batch_size, shuffle, early_stopping, verbose,
                                   callbacks)
        X, y = self._check_xy(X, y)
        if validation_data is not None:
            Xv, yv = self._check_validation_data(validation_data)
        callbacks, min_delta = _fit_settings(epochs, batch_size, early_stopping, callbacks)
        loop = Loop(self, epochs, "val_loss" if validation_data is not None else "loss", min_delta=min_delta)
        n = len(X)

        def run_epoch(epoch):
            order = self._rng.permutation(n) if shuffle else np.arange(n)
            total, norms, layer_norms = 0.0, [], []
            batches = bar = progress_bar(range(0, n, batch_size), desc=f"epoch {epoch}/{epochs}",
                                         unit="batch", leave=verbose > 1) if verbose else None
            try:
                for i in batches if bar is not None else range(0, n, batch_size):
                    idx = order[i:i + batch_size]
                    try:
                        value, _ = self._step(X[idx], y[idx])
                    except _NonFinite as e:
                        raise _NonFinite(f"{e} at epoch {epoch}, batch {i // batch_size + 1}") from None
                    total += value * len(idx)
                    norms.append(self.last_grad_norm)
                    layer_norms.append(self.last_layer_grad_norms)
                    if bar is not None:
                        bar.set_postfix(loss=f"{total / min(i + batch_size, n):.4g}", refresh=False)
            finally:
                if bar is not None:
                    bar.close()
            return total / n, norms, layer_norms

        evaluate = (lambda: self.evaluate(Xv, yv)) if validation_data is not None else None
        with _threads.run_threads(self.model, X, batch_size):
            return loop.run(run_epoch, evaluate, callbacks, verbose)

    def fit_stateful(self, X: ArrayLike, y: ArrayLike, k: int, epochs: int = 10, verbose: int = 1,
                     callbacks: Sequence[Callback] | None = None) -> History:
        """Truncated BPTT over long series: consecutive windows of ``k`` steps carry the hidden state
        forward, and gradients stop at each window's start.

        Use it when one long series (or a few) holds dependencies longer than a window you can afford
        to backpropagate through, e.g. a sensor or character stream: the state still carries context
        from all earlier steps, while each update costs only ``k`` steps of BPTT. For many short,
        independent windows (the usual forecasting set-up), use :meth:`fit`.

        The model needs ``return_sequences=True``. The state is reset to zeros at the start of each
        epoch. There is no best-epoch tracking: the model ends with the weights of the last step
        (the last finite one, if training diverged).

        Parameters
        ----------
        X : array_like, shape (B, T, I), or (T, I) / (T,) for one series
            B parallel streams, each read in order.
        y : array_like, shape (B, T, O), or (T, O) / (T,) for one series
            The per-step targets.
        k : int
            Steps per window (the truncation length of BPTT).
        epochs : int, default 10
            Passes over the whole series.
        verbose : int, default 1
            Print one line per epoch when non-zero.
        callbacks : sequence of Callback or None, default None
            Hooks into the loop (see :meth:`fit`). Not :class:`EarlyStopping`: this loop keeps no
            best epoch (there is no validation data), so it is refused.

        Returns
        -------
        History
            One entry per epoch: the mean loss over the steps and the gradient norms.

        Raises
        ------
        ValueError
            The model does not return sequences; ``X`` or ``y`` is not as described (or not a target
            for every step); ``k`` or ``epochs`` is not a positive integer; ``callbacks`` holds an
            :class:`EarlyStopping`.
        """
        from fastrnn.models import check_positive_int

        m = self.model
        if self._members is not None:
            raise ValueError("fit_stateful trains one model; train a stack's models with fit, or each of "
                             "stack.unstack() with its own Trainer")
        if any(isinstance(cb, EarlyStopping) for cb in callbacks or ()):
            raise ValueError("fit_stateful keeps no best epoch (it has no validation data), so "
                             "EarlyStopping cannot work there; use fit with validation_data")
        if not m.return_sequences:
            raise ValueError("fit_stateful needs a model with return_sequences=True (a target per step)")
        X, y = np.asarray(X), np.asarray(y)
        if X.ndim == 1 or (X.ndim == 2 and (m.input_size != 1 or X.shape[1] == 1)):
            X = X.reshape(1, len(X), -1)
        if y.ndim <= 2 and y.shape[0] == X.shape[1]:
            y = y.reshape(1, X.shape[1], -1)
        X, y = self._check_xy(X, y)
        if y.shape[:2] != X.shape[:2]:
            raise ValueError(f"y must have a target for every step: shape "
                             f"{X.shape[:2] + (m.output_size,)}; got {y.shape}")
        for name, v in (("k", k), ("epochs", epochs)):
            check_positive_int(name, v)
        T = X.shape[1]

        def run_epoch(epoch):
            state, total, norms, layer_norms = None, 0.0, [], []
            for s in range(0, T, k):
                try:
                    value, state = self._step(X[:, s:s + k], y[:, s:s + k], state0=state)
                except _NonFinite as e:
                    raise _NonFinite(f"{e} at epoch {epoch}, window starting at step {s}") from None
                total += value * min(k, T - s)
                norms.append(self.last_grad_norm)
                layer_norms.append(self.last_layer_grad_norms)
            return total / T, norms, layer_norms

        # No best-epoch tracking: the weights after the last finite step are kept, as ever.
        with _threads.run_threads(m, X, steps=k):
            return Loop(self, epochs, "loss", track_best=False).run(run_epoch, None, callbacks or (),
                                                                      verbose)

    # ---------------------------------------------------------------------------------------------
    # a stack of models (fastrnn.stacks): one kernel call per layer for all models, the rest per model
    # by the member trainers' own code (_loss_of, _update), so each model trains as it would alone

    def _stack_xy(self, X, y, names=("X", "y")):
        """The data of a stack's run: shared by every model (``X`` as one model takes it) or one
        set per model (``X (M, N, T, I)`` and ``y`` with a leading axis M, or lists of M arrays,
        whose numbers of samples may differ)."""
        M, first = self.model.num_models, self._members[0]
        ragged = isinstance(X, (list, tuple)) and len(X) == M and all(np.ndim(x) == 3 for x in X)
        xa = None if ragged else (X if isinstance(X, np.ndarray) else np.asarray(X))
        if not ragged and xa.ndim != 4:
            return _StackData(*first._check_xy(X, y, names), M, shared=True)
        if not ragged and xa.shape[0] != M:
            raise ValueError(f"{names[0]} with one set per model must have shape ({M}, N, T, I) or be a list "
                             f"of {M} arrays (N_m, T, I); got shape {xa.shape}")
        if isinstance(y, (list, tuple)):
            ys = list(y)
        else:
            ya = np.asarray(y)
            ys = None if ya.ndim == 0 else list(ya)
        if ys is None or len(ys) != M:
            raise ValueError(f"{names[1]} must have a leading axis of {M} (one set per model, as {names[0]}); "
                             f"got {'shape ' + str(np.shape(y)) if not isinstance(y, (list, tuple)) else len(y)}")
        pairs = []
        for m in range(M):
            try:
                pairs.append(first._check_xy(X[m], ys[m], names))
            except ValueError as e:
                raise ValueError(f"model {m}'s data: {e}") from None
        return _StackData([p[0] for p in pairs], [p[1] for p in pairs], M, shared=False)

    def _stack_step(self, X, y, live):
        """One step of the models ``live``: ``X (M, b, T, I)``, ``y (M, b, ...)`` (rows of other models
        unused). Returns ``(values, failed)``: model -> loss, and model -> :class:`_NonFinite` for the
        models that made no update."""
        st, members = self.model, self._members
        live = [int(m) for m in live]
        pred, cache = st.forward_unchecked(X, np.asarray(live, dtype=np.int64))
        d_pred = np.zeros_like(pred)
        values, failed, ok = {}, {}, []
        for m in live:
            try:
                values[m], d_pred[m] = members[m]._loss_of(pred[m], y[m])
                ok.append(m)
            except _NonFinite as e:
                failed[m] = e
        grads, overflowed = st.backward(cache, d_pred, np.asarray(ok, dtype=np.int64))
        for m in ok:
            try:
                if m in overflowed:
                    raise _NonFinite(overflowed[m])
                members[m]._update({name: g[m] for name, g in grads.items()})
            except _NonFinite as e:
                failed[m] = e
        return {m: float(v) for m, v in values.items() if m not in failed}, failed

    def _stack_evaluate(self, data, live, batch_size=256):
        """Each model's mean loss over all of its data (NaN for the models not in ``live``)."""
        totals = np.zeros(data.M)
        for i in range(0, max(data.n[m] for m in live), batch_size):
            rows = {m: np.arange(i, min(i + batch_size, data.n[m])) for m in live if i < data.n[m]}
            for group in data.same_size(rows):
                X, y = data.batch(rows, group)
                pred = self.model.forward_unchecked(X, np.asarray(group, dtype=np.int64))[0]
                for m in group:
                    totals[m] += self.loss(pred[m], y[m])[0] * len(rows[m])
        out = np.full(data.M, np.nan)
        for m in live:
            out[m] = totals[m] / data.n[m]
        return out

    def _stack_fit(self, X, y, validation_data, epochs, batch_size, shuffle, early_stopping, verbose, callbacks):
        """:meth:`fit` of a stack: one :class:`Loop` per model, the epochs driven together."""
        import copy


        data = self._stack_xy(X, y)
        val = None if validation_data is None else self._check_validation_data(validation_data, self._stack_xy)
        callbacks, min_delta = _fit_settings(epochs, batch_size, early_stopping, callbacks)
        monitor = "val_loss" if val is not None else "loss"
        members, M = self._members, data.M
        loops = [Loop(mt, epochs, monitor, min_delta=min_delta, index=m) for m, mt in enumerate(members)]
        mine = [[copy.deepcopy(cb) for cb in callbacks if cb.per_model] for _ in range(M)]
        whole = [cb for cb in callbacks if not cb.per_model]
        sloop = StackLoop(self, epochs, loops)

        def run_epoch(epoch, training):
            n = data.n
            orders = {m: members[m]._rng.permutation(n[m]) if shuffle else np.arange(n[m]) for m in training}
            totals, norms, layer_norms = dict.fromkeys(training, 0.0), {m: [] for m in training}, \
                {m: [] for m in training}
            failed = {}
            for i in range(0, max(n[m] for m in training), batch_size):
                live = [m for m in training if m not in failed and i < n[m]]
                if not live:
                    break
                rows = {m: orders[m][i:i + batch_size] for m in live}
                for group in data.same_size(rows):  # one kernel call per batch size (the last batches)
                    values, bad = self._stack_step(*data.batch(rows, group), group)
                    for m, e in bad.items():
                        failed[m] = _NonFinite(f"{e} at epoch {epoch}, batch {i // batch_size + 1}", e.value)
                    for m, v in values.items():
                        totals[m] += v * len(rows[m])
                        norms[m].append(members[m].last_grad_norm)
                        layer_norms[m].append(members[m].last_layer_grad_norms)
            return {m: totals[m] / n[m] for m in training if m not in failed}, norms, layer_norms, failed

        with _threads.run_stack_threads(self.model):
            for m in range(M):
                loops[m]._begin(mine[m])
            for cb in whole:
                cb.on_train_begin(sloop)
            try:
                for epoch in range(1, epochs + 1):
                    training = sloop.training
                    sloop.epoch = epoch
                    for m in training:
                        loops[m].epoch = epoch
                    t0 = time.perf_counter()
                    losses, norms, layer_norms, failed = run_epoch(epoch, training)
                    ended = []
                    for m, e in failed.items():
                        loops[m]._failed(e)
                        ended.append(m)
                    done = [m for m in training if m not in failed]
                    vals = self._stack_evaluate(val, done) if val is not None and done else None
                    seconds = time.perf_counter() - t0
                    still = []
                    for m in done:
                        v = None if vals is None else float(vals[m])
                        if loops[m]._after_epoch(losses[m], norms[m], layer_norms[m], v, seconds, mine[m], 0) \
                                or epoch == epochs:
                            ended.append(m)
                        else:
                            still.append(m)
                    sloop.training = still
                    for m in sorted(ended):  # a model's training ends when it stops: its callbacks' on_train_end
                        loops[m].finished = True
                        loops[m]._end(mine[m])
                    if done:
                        mean_val = None if vals is None else float(np.mean(vals[done]))
                        sloop.history._record(epoch, float(np.mean([losses[m] for m in done])), mean_val, [0.0],
                                              [{}], seconds)
                    if verbose:
                        msg = f"epoch {epoch}/{epochs}  models training {len(still)}/{M}"
                        if done:
                            msg += f"  mean loss {sloop.history.loss[-1]:.5g}"
                            if vals is not None:
                                msg += f"  mean val_loss {sloop.history.val_loss[-1]:.5g}"
                        print(msg + f"  {seconds:.2f}s")
                    for cb in whole:
                        cb.on_epoch_end(sloop)
                    if not still:
                        break
            finally:
                for m in sloop.training:  # still training: ended by an exception
                    loops[m]._end(mine[m])
                for cb in whole:
                    cb.on_train_end(sloop)
        return [loop.history for loop in loops]


class _StackData:
    """A stack run's inputs and targets: shared by all models (``X (N, T, I)``) or one set per model
    (lists of M arrays ``(N_m, T, I)``); :meth:`batch` gathers models' rows into ``(M, b, ...)``
    arrays."""

    def __init__(self, X, y, M, shared):
        self.X, self.y, self.M, self.shared = X, y, M, shared
        self.n = [len(X)] * M if shared else [len(x) for x in X]

    @staticmethod
    def same_size(rows):
        """The models of ``rows`` (model -> row indices) grouped by their number of rows."""
        groups = {}
        for m, r in rows.items():
            groups.setdefault(len(r), []).append(m)
        return list(groups.values())

    def batch(self, rows, live):
        """``rows``: model -> row indices (or one index array for all), the same number for every
        model of ``live``; ``(X, y)`` of shape ``(M, b, ...)`` with the rows of ``live`` filled."""
        live = list(live)
        pick = rows if isinstance(rows, dict) else dict.fromkeys(live, rows)
        b = len(pick[live[0]])
        x0, y0 = (self.X, self.y) if self.shared else (self.X[0], self.y[0])
        X = np.zeros((self.M, b, *x0.shape[1:]), x0.dtype)
        y = np.zeros((self.M, b, *y0.shape[1:]), y0.dtype)
        for m in live:
            X[m] = self.X[pick[m]] if self.shared else self.X[m][pick[m]]
            y[m] = self.y[pick[m]] if self.shared else self.y[m][pick[m]]
        return X, y
