"""Rolling-origin backtests over a panel of series: origins, what is train, validation and test.

Conventions (plain data: ``series`` is a sequence of 1-D float arrays, one per series, in time
order; the lengths may differ):

* An **origin** is the index of the first forecast point: a forecast from origin ``o`` predicts
  points ``o .. o + horizon - 1`` from ``series[:o]`` only (its **training data**: everything
  before the origin).
* A series of ``n`` points has ``windows`` origins at its end, ``step`` apart (default
  ``step = horizon``): the last is ``n - horizon``, so its window is the last ``horizon``
  points, the **test part**; the others are the **validation** origins. ``step`` must be at
  least ``horizon``, so that no validation window reaches into the test part.
* A series is used only if it has at least ``look_back + horizon + windows * step`` points: then
  the first origin has ``look_back + step >= look_back + horizon`` points before it, at least one
  full window (``look_back`` inputs, ``horizon`` targets) to fit on. Shorter series are skipped
  and counted, each with the reason (:attr:`Plan.skipped`); if none is left, a
  :class:`~fastrnn.forecast.datasets.DataError` names the shortest length needed.
* A forecaster is a function ``f(histories, horizon) -> (S, horizon)`` that sees only the
  training data of each series (copies), so it cannot use the window it forecasts. With
  covariates (:class:`Covariates`), it is called as ``f(histories, horizon, covariates=...)``:
  per series, the covariates known in advance up to ``origin + horizon`` (they are known for the
  points forecast, by definition) and the past covariates up to the origin
  (:meth:`Plan.covariates`). Without covariates it is called as before, so univariate
  forecasters (the baselines) need no such argument.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from fastrnn.forecast import metrics as _metrics
from fastrnn.forecast.config import check_positive_int
from fastrnn.forecast.datasets import DataError

__all__ = ["origins", "min_length", "Covariates", "Plan", "plan", "forecast_windows", "score_windows"]

Forecaster = Callable[[list, int], np.ndarray]


@dataclass(frozen=True, eq=False)
class Covariates:
    """Covariates of a panel's series, aligned with their values from each series' first point.

    Attributes
    ----------
    known : dict of str to list of numpy.ndarray
        Covariates known in advance: name -> one 1-D float array per series. For a forecast
        from the end of the histories, each array reaches ``horizon`` points beyond its history.
    past : dict of str to list of numpy.ndarray
        Past covariates: name -> one array per series, at least as long as its history.
    """

    known: dict = field(default_factory=dict)
    past: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.known or self.past)

    @property
    def names(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """``(known names, past names)``, in their order."""
        return tuple(self.known), tuple(self.past)

    def series(self, k: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Series ``k``'s ``(known (n_k, C), past (m_k, P))`` columns (None for a kind without any)."""
        known = np.column_stack([np.asarray(v[k], dtype=np.float64) for v in self.known.values()]) \
            if self.known else None
        past = np.column_stack([np.asarray(v[k], dtype=np.float64) for v in self.past.values()]) \
            if self.past else None
        return known, past

    def take(self, rows: Sequence[int], known_ends: Sequence[int], past_ends: Sequence[int]) -> Covariates:
        """The covariates of series ``rows`` (in that order), known ones cut at ``known_ends`` and
        past ones at ``past_ends`` (one end per row)."""
        return Covariates(
            known={n: [np.array(v[i][:e], dtype=np.float64) for i, e in zip(rows, known_ends)]
                   for n, v in self.known.items()},
            past={n: [np.array(v[i][:e], dtype=np.float64) for i, e in zip(rows, past_ends)]
                  for n, v in self.past.items()})


def _check_step(horizon: int, windows: int, step: int | None) -> tuple[int, int, int]:
    horizon = check_positive_int("horizon", horizon, 1)
    windows = check_positive_int("windows", windows, 1)
    step = horizon if step is None else check_positive_int("step", step, 1)
    if step < horizon:
        raise ValueError(f"step={step} is shorter than horizon={horizon}: the validation windows "
                         f"would reach into the test part; use step >= horizon (default: horizon)")
    return horizon, windows, step


def min_length(look_back: int, horizon: int, windows: int = 1, step: int | None = None) -> int:
    """The shortest series a backtest can use: ``look_back + horizon + windows * step``.

    Parameters
    ----------
    look_back : int
        Inputs per window of the models to be fitted.
    horizon : int
        Steps forecast from each origin.
    windows : int
        Origins per series (the last is the test part).
    step : int or None
        Distance between origins, ``>= horizon``; ``None``: ``horizon``.

    Returns
    -------
    int
    """
    look_back = check_positive_int("look_back", look_back, 1)
    horizon, windows, step = _check_step(horizon, windows, step)
    return look_back + horizon + windows * step


def origins(length: int, horizon: int, windows: int = 1, step: int | None = None) -> np.ndarray:
    """The forecast origins at the end of a series of ``length`` points, oldest first.

    Parameters
    ----------
    length : int
        Points in the series.
    horizon, windows, step : int
        As in :func:`min_length`.

    Returns
    -------
    numpy.ndarray
        ``(windows,)`` int: ``length - horizon - step * (windows - 1 - k)`` for
        ``k = 0 .. windows - 1``; the last one is the test origin.

    Raises
    ------
    DataError
        If the first origin would have no data before it.
    """
    length = check_positive_int("length", length, 0)
    horizon, windows, step = _check_step(horizon, windows, step)
    o = length - horizon - step * np.arange(windows - 1, -1, -1)
    if o[0] < 1:
        raise DataError(f"a series of {length} points has no data before its first origin with "
                        f"horizon={horizon}, windows={windows}, step={step}; it needs at least "
                        f"{horizon + (windows - 1) * step + 1} points")
    return o.astype(np.intp)


@dataclass(frozen=True, eq=False)
class Plan:
    """The windows of a backtest over a panel (see the module docstring).

    Attributes
    ----------
    look_back, horizon, windows, step : int
        The protocol.
    lengths : tuple of int
        The length of every input series.
    used : tuple of int
        Indices (into the input) of the series long enough to be used, in input order.
    skipped : dict[int, str]
        Index -> why that series is not used.
    origins : numpy.ndarray
        ``(len(used), windows)``: the origins of each used series, oldest first.
    """

    look_back: int
    horizon: int
    windows: int
    step: int
    lengths: tuple
    used: tuple
    skipped: dict
    origins: np.ndarray

    @property
    def validation(self) -> tuple:
        """Window numbers of the validation origins (all but the last)."""
        return tuple(range(self.windows - 1))

    @property
    def test(self) -> int:
        """Window number of the test origin (the last)."""
        return self.windows - 1

    def _check(self, series: Sequence, window: int) -> int:
        if len(series) != len(self.lengths) or any(len(series[i]) != self.lengths[i] for i in self.used):
            raise ValueError("series do not match the plan: pass the same series (in the same order "
                             "and lengths) that the plan was made for")
        w = int(window)
        if not 0 <= w < self.windows:
            raise ValueError(f"window must be in 0 .. {self.windows - 1}, got {window!r}")
        return w

    def histories(self, series: Sequence, window: int) -> list[np.ndarray]:
        """The training data of each used series at origin ``window``: copies of ``series[i][:o]``."""
        w = self._check(series, window)
        return [np.array(series[i][:o], dtype=np.float64)
                for i, o in zip(self.used, self.origins[:, w])]

    def covariates(self, covariates: Covariates, window: int) -> Covariates:
        """What a forecaster at origin ``window`` may see of ``covariates`` (every input series'
        full covariates, aligned with ``series``), for the used series in the order of
        :meth:`histories`: the known ones up to ``origin + horizon``, the past ones up to the origin."""
        w = int(window)
        if not 0 <= w < self.windows:
            raise ValueError(f"window must be in 0 .. {self.windows - 1}, got {window!r}")
        for kind, cols in (("known", covariates.known), ("past", covariates.past)):
            for name, v in cols.items():
                if len(v) != len(self.lengths) or any(len(v[i]) != self.lengths[i] for i in self.used):
                    raise ValueError(f"{kind} covariate {name!r} does not match the series: pass one array "
                                     f"per series, as long as its values")
        o = self.origins[:, w]
        return covariates.take(self.used, o + self.horizon, o)

    def actuals(self, series: Sequence, window: int) -> np.ndarray:
        """The ``horizon`` values from origin ``window`` on: ``(len(used), horizon)``."""
        w = self._check(series, window)
        return np.array([np.asarray(series[i], dtype=np.float64)[o:o + self.horizon]
                         for i, o in zip(self.used, self.origins[:, w])]).reshape(-1, self.horizon)


def plan(series: Sequence, look_back: int, horizon: int, windows: int = 1,
         step: int | None = None) -> Plan:
    """The rolling-origin windows of every series long enough for them.

    Parameters
    ----------
    series : sequence of array_like
        One 1-D array of finite values per series.
    look_back, horizon, windows, step : int
        As in :func:`min_length`.

    Returns
    -------
    Plan

    Raises
    ------
    DataError
        No series is long enough (the message names the length needed), or a series has
        missing or infinite values.
    ValueError
        Bad protocol values, or a series that is not 1-D.
    """
    need = min_length(look_back, horizon, windows, step)
    horizon, windows, step = _check_step(horizon, windows, step)
    lengths = []
    for i, s in enumerate(series):
        if np.ndim(s) != 1:
            raise ValueError(f"series {i} must be 1-D, got shape {np.shape(s)}; pass one array "
                             f"per series")
        bad = np.flatnonzero(~np.isfinite(np.asarray(s, dtype=np.float64)))
        if bad.size:
            raise DataError(f"series {i} has {bad.size} missing or infinite value(s), first at "
                            f"position {bad[0]}; clean the data first (drop or fill them)")
        lengths.append(len(s))
    if not lengths:
        raise DataError("the panel has no series; pass at least one")
    used = tuple(i for i, n in enumerate(lengths) if n >= need)
    protocol = f"look_back={look_back}, horizon={horizon}, windows={windows}, step={step}"
    skipped = {i: f"{n} points, fewer than the {need} that {protocol} need"
               for i, n in enumerate(lengths) if n < need}
    if not used:
        raise DataError(f"no series is long enough: {protocol} need at least {need} points "
                        f"(look_back + horizon + windows * step), the longest of the {len(lengths)} "
                        f"series has {max(lengths)}; use fewer windows, a shorter look-back or "
                        f"horizon, or longer series")
    o = np.array([origins(lengths[i], horizon, windows, step) for i in used], dtype=np.intp)
    return Plan(look_back=int(look_back), horizon=horizon, windows=windows, step=step,
                lengths=tuple(lengths), used=used, skipped=skipped,
                origins=o.reshape(len(used), windows))


def forecast_windows(p: Plan, series: Sequence, forecaster: Forecaster,
                     covariates: Covariates | None = None) -> np.ndarray:
    """Run ``forecaster`` at every origin of ``p``: ``(len(used), windows, horizon)``.

    ``forecaster(histories, horizon)`` gets :meth:`Plan.histories` of one window and must return
    ``(len(used), horizon)``; with ``covariates`` (non-empty, aligned with ``series``), it is called
    as ``forecaster(histories, horizon, covariates=p.covariates(covariates, w))``.
    """
    out = np.empty((len(p.used), p.windows, p.horizon))
    for w in range(p.windows):
        extra = {"covariates": p.covariates(covariates, w)} if covariates else {}
        f = np.asarray(forecaster(p.histories(series, w), p.horizon, **extra), dtype=np.float64)
        if f.shape != (len(p.used), p.horizon):
            raise ValueError(f"the forecaster returned shape {f.shape}, expected "
                             f"({len(p.used)}, {p.horizon}): one row of horizon values per series")
        out[:, w] = f
    return out


def score_windows(p: Plan, series: Sequence, forecasts, season: int | None = None) -> list:
    """:func:`fastrnn.forecast.metrics.score` of ``forecasts`` (``(len(used), windows, horizon)``)
    at every origin: a list of :class:`~fastrnn.forecast.metrics.Scores`, one per window
    (``[p.test]`` is the test score). Series indices in the scores are positions in ``p.used``."""
    f = np.asarray(forecasts, dtype=np.float64)
    if f.shape != (len(p.used), p.windows, p.horizon):
        raise ValueError(f"forecasts must have shape ({len(p.used)}, {p.windows}, {p.horizon}) "
                         f"(used series, windows, horizon), got {f.shape}")
    return [_metrics.score(p.actuals(series, w), f[:, w], p.histories(series, w), season)
            for w in range(p.windows)]
