"""Turn a series into scaled, windowed train/validation/test arrays.

Conventions (shared with :mod:`fastrnn.forecast.baselines`):

* **Split.** Chronological, on the points of the series (:func:`split`).
  The test part is the last ``test_fraction`` of the points: the first test
  point is ``int(n * (1 - test_fraction))`` (the tutorials'
  ``train_size = int(len(data) * 0.67)``; the default ``test_fraction=0.33``
  reproduces their figures). Validation is the last ``val_fraction`` of the
  points before the test part (like Keras' ``validation_split``).
* **Windows.** A window's inputs are the ``look_back`` points just before its
  target(s). A window belongs to the part that holds *all* its targets; its
  inputs may reach back into earlier parts (so the first test window's inputs
  are the last training points). With ``horizon > 1``, windows whose targets
  straddle a boundary are dropped. Every test point that has a full history
  is a target, so the test targets are exactly the test part when
  ``horizon == 1``.
* **Pipeline.** original values -> ``log`` -> ``diff`` -> scaling -> windows.
  ``diff`` replaces point ``t`` by ``z[t] - z[t-1]``; point 0 then has no
  value and is never a target. Scalers are fitted on the training part only
  (not validation, not test).
* **Calendar features** (``calendar=True``, series with dates only): two
  extra inputs per time step, the sine and cosine of the day of the year of
  the point *after* that step (:func:`calendar_features`), so the last step
  of a window carries the date of the target -- known in advance, never a
  value from the future. They are not scaled (already in [-1, 1]).
* **Covariates** (``covariates``, ``past_covariates``: columns of the
  Dataset's ``covariates``): more inputs per step, after the value and the
  calendar features, as :mod:`fastrnn.forecast.covariates` defines them
  (one step ahead: ``lead = 1``): a covariate known in advance at the point
  the step leads to, a past covariate at the step's own point. Each is
  standardised by its mean and standard deviation on the training part
  (:class:`~fastrnn.forecast.covariates.CovariateScaler`); one that is
  constant there is refused (it could not teach the model anything).
* **Inverse** (:meth:`Prepared.inverse`): undo scaling, then ``diff`` by
  adding the previous *actual* value (one-step-ahead; for ``horizon > 1``
  the predicted differences are accumulated from the last actual value
  before the window's first target), then ``log`` by ``exp``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fastrnn.forecast.config import check_positive_int
from fastrnn.forecast.covariates import CovariateScaler, n_inputs, parse_names, window_inputs
from fastrnn.forecast.datasets import DataError, Dataset
from fastrnn.functional import float_dtype

__all__ = [
    "make_windows", "Split", "split", "MinMaxScaler", "StandardScaler", "make_scaler",
    "TRANSFORMS", "Prepared", "prepare", "calendar_features", "calendar_windows",
]

TRANSFORMS = (None, "log", "diff", "log+diff")
_EPS = 1e-9  # absorbs float error in n * fraction before flooring


# ---------------------------------------------------------------------------
# Windows and split
# ---------------------------------------------------------------------------


def make_windows(values, look_back: int, horizon: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows over a 1-D series.

    Window ``i`` has inputs ``values[i : i + look_back]`` and targets
    ``values[i + look_back : i + look_back + horizon]``.

    Returns:
        ``X`` of shape ``(N, look_back)`` and ``y`` of shape ``(N,)`` if
        ``horizon == 1`` else ``(N, horizon)``, with
        ``N = len(values) - look_back - horizon + 1``.

    Raises:
        DataError: fewer than ``look_back + horizon`` values.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {v.shape}")
    look_back = check_positive_int("look_back", look_back, 1)
    horizon = check_positive_int("horizon", horizon, 1)
    n_win = len(v) - look_back - horizon + 1
    if n_win < 1:
        raise DataError(
            f"series too short for look_back={look_back}, horizon={horizon}: needs at least "
            f"{look_back + horizon} points, got {len(v)}"
        )
    w = np.lib.stride_tricks.sliding_window_view(v, look_back + horizon)
    X = np.ascontiguousarray(w[:, :look_back])
    y = np.ascontiguousarray(w[:, look_back:])
    return X, (y[:, 0].copy() if horizon == 1 else y)


@dataclass(frozen=True)
class Split:
    """Chronological split of ``n`` points into ``[0, train_end)``,
    ``[train_end, test_start)`` (validation) and ``[test_start, n)`` (test)."""

    n: int
    train_end: int
    test_start: int

    @property
    def n_train(self) -> int:
        return self.train_end

    @property
    def n_val(self) -> int:
        return self.test_start - self.train_end

    @property
    def n_test(self) -> int:
        return self.n - self.test_start

    def bounds(self, which: str) -> tuple[int, int]:
        """``(first, stop)`` point indices of ``"train"``, ``"val"`` or ``"test"``."""
        if which == "train":
            return 0, self.train_end
        if which == "val":
            return self.train_end, self.test_start
        if which == "test":
            return self.test_start, self.n
        raise ValueError(f"which must be 'train', 'val' or 'test', got {which!r}")


def split(n: int, test_fraction: float = 0.33, val_fraction: float = 0.0) -> Split:
    """Split ``n`` points chronologically.

    ``test_start = int(n * (1 - test_fraction))`` and validation is the last
    ``int(test_start * val_fraction)`` points before it.
    """
    n = check_positive_int("n", n, 0)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    test_start = int(n * (1 - test_fraction) + _EPS)
    n_val = int(test_start * val_fraction + _EPS)
    return Split(n=n, train_end=test_start - n_val, test_start=test_start)


def _target_starts(sp: Split, which: str, look_back: int, horizon: int, offset: int) -> np.ndarray:
    """Index of the first target of every window of one part.

    The first target needs ``look_back`` representation points before it,
    i.e. index >= ``look_back + offset`` (``offset`` is 1 after ``diff``);
    all ``horizon`` targets must lie inside the part.
    """
    lo, hi = sp.bounds(which)
    return np.arange(max(lo, look_back + offset), hi - horizon + 1)


def _window_counts(n, look_back, horizon, offset, test_fraction, val_fraction):
    """Windows of each part ``[train, val, test]``: the lengths of :func:`_target_starts`, by
    arithmetic (O(1), no index array)."""
    sp = split(n, test_fraction, val_fraction)
    first = look_back + offset
    return [max(0, hi - horizon + 1 - max(lo, first))
            for lo, hi in (sp.bounds(w) for w in ("train", "val", "test"))]


def _enough(counts, val_fraction) -> bool:
    train, val, test = counts
    return train >= 1 and test >= 1 and (val >= 1 or val_fraction == 0)


def bisect_first(ok, lo: int, hi: int) -> int:
    """The smallest ``k`` in ``[lo, hi]`` with ``ok(k)``, for ``ok`` false then true (monotone);
    ``hi + 1`` if there is none."""
    if not ok(hi):
        return hi + 1
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _min_length(look_back, horizon, offset, test_fraction, val_fraction) -> int:
    """The shortest series that gives every part at least one window.

    Every part's window count grows with ``n`` (each bound of :func:`split` is a non-decreasing
    floor of ``n``), so this bisects: O(log n) evaluations of :func:`_window_counts`, at once even
    for a look-back of millions.
    """
    def ok(n):
        return _enough(_window_counts(n, look_back, horizon, offset, test_fraction, val_fraction),
                       val_fraction)

    lo = look_back + horizon + offset
    hi = 2 * lo + 16
    while not ok(hi):  # the test and validation parts grow linearly with n: a few doublings
        lo, hi = hi + 1, 2 * hi
    return bisect_first(ok, lo, hi)


def _max_look_back(n, horizon, offset, test_fraction, val_fraction) -> int:
    """The longest look-back for which a series of ``n`` points gives every part a window (0 if
    none does); the counts shrink as the look-back grows, so this bisects too."""
    def too_long(look_back):
        return not _enough(_window_counts(n, look_back, horizon, offset, test_fraction,
                                          val_fraction), val_fraction)

    return bisect_first(too_long, 1, max(n, 1)) - 1


# ---------------------------------------------------------------------------
# Scalers
# ---------------------------------------------------------------------------


class MinMaxScaler:
    """Map the fitted data's ``[min, max]`` to ``[0, 1]`` (a constant maps to 0)."""

    name = "minmax"

    def fit(self, x) -> "MinMaxScaler":
        x = np.asarray(x, dtype=np.float64)
        self.min_ = float(x.min())
        span = float(x.max()) - self.min_
        self.scale_ = span if span > 0 else 1.0
        return self

    def transform(self, x) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.min_) / self.scale_

    def inverse_transform(self, x) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) * self.scale_ + self.min_


class StandardScaler:
    """Subtract the fitted mean, divide by the (population) standard deviation."""

    name = "standard"

    def fit(self, x) -> "StandardScaler":
        x = np.asarray(x, dtype=np.float64)
        self.mean_ = float(x.mean())
        std = float(x.std())
        self.scale_ = std if std > 0 else 1.0
        return self

    def transform(self, x) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean_) / self.scale_

    def inverse_transform(self, x) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) * self.scale_ + self.mean_


class _Identity:
    name = None

    def fit(self, x):
        return self

    def transform(self, x):
        return np.asarray(x, dtype=np.float64).copy()

    inverse_transform = transform


def make_scaler(scaler: str | None):
    """``"minmax"``, ``"standard"`` or ``None``/``"none"`` -> an unfitted scaler."""
    if scaler is None or scaler == "none":
        return _Identity()
    if scaler == "minmax":
        return MinMaxScaler()
    if scaler == "standard":
        return StandardScaler()
    raise ValueError(f"unknown scaler {scaler!r}; choose minmax, standard or none")


# ---------------------------------------------------------------------------
# Transforms
# ---------------------------------------------------------------------------


def parse_transform(transform: str | None) -> tuple[bool, bool]:
    """``(use_log, use_diff)`` for a transform name."""
    if transform is None or transform == "none":
        return False, False
    if transform in ("log", "diff", "log+diff"):
        return "log" in transform, "diff" in transform
    raise ValueError(f"unknown transform {transform!r}; choose none, log, diff or log+diff")


def apply_transform(values: np.ndarray, use_log: bool, use_diff: bool, dates=None) -> np.ndarray:
    """Apply log/diff. The result has ``len(values) - use_diff`` points;
    result[k] belongs to point ``k + use_diff``."""
    z = values
    if use_log:
        bad = np.flatnonzero(values <= 0)
        if bad.size:
            where = f"date {dates[bad[0]].date()}" if dates is not None else f"index {bad[0]}"
            raise DataError(
                f"log transform needs positive values, but {bad.size} value(s) are <= 0 "
                f"(first: {values[bad[0]]:g} at {where}); use transform=none or diff"
            )
        z = np.log(values)
    return np.diff(z) if use_diff else z.copy()


def undo_transform(rep: np.ndarray, starts: np.ndarray, values: np.ndarray,
                   transform: str | None) -> np.ndarray:
    """Map unscaled predictions in the (log/diff) representation to original units.

    Args:
        rep: shape ``(N, horizon)``; row ``i`` predicts points
            ``starts[i] .. starts[i] + horizon - 1``.
        starts: first target index of every row.
        values: the original series (for the previous actual value under diff).
        transform: as in :func:`prepare`.
    """
    use_log, use_diff = parse_transform(transform)
    z = np.asarray(rep, dtype=np.float64)
    if use_diff:
        prev = values[starts - 1]
        base = np.log(prev) if use_log else prev
        z = base[:, None] + np.cumsum(z, axis=1)
    return np.exp(z) if use_log else z


# ---------------------------------------------------------------------------
# Calendar features
# ---------------------------------------------------------------------------


def calendar_features(dates) -> np.ndarray:
    """``(len(dates), 2)``: sine and cosine of the position of each date in its
    year, ``2 * pi * (day_of_year - 1 + time_of_day) / days_in_year`` (365 or
    366), so 1 January 00:00 is angle 0 in every year."""
    d = pd.DatetimeIndex(dates)
    if len(d) and d.isna().any():
        raise DataError("calendar features need a date for every point; clean the dates first")
    day = (d.day_of_year.to_numpy() - 1
           + (d - d.normalize()).total_seconds().to_numpy() / 86400.0)
    angle = 2.0 * np.pi * day / np.where(d.is_leap_year, 366.0, 365.0)
    return np.column_stack([np.sin(angle), np.cos(angle)]).astype(np.float64)


def calendar_windows(features: np.ndarray, starts: np.ndarray, look_back: int) -> np.ndarray:
    """``(N, look_back, 2)``: for the window whose first target is point ``s``,
    step ``j`` gets the features of point ``s - look_back + 1 + j`` (the point
    after that input; the last step gets the target's own date)."""
    idx = np.asarray(starts)[:, None] + np.arange(-look_back + 1, 1)
    return features[idx]


# ---------------------------------------------------------------------------
# prepare
# ---------------------------------------------------------------------------


@dataclass(eq=False)
class Prepared:
    """Model-ready arrays and the bookkeeping to map predictions back.

    ``X_*`` have shape ``(N, look_back, 1)`` (batch-first, one feature; with
    ``calendar``, ``(N, look_back, 3)``: the value, then the sine and cosine
    of :func:`calendar_features`) and ``y_*`` shape ``(N, horizon)``, both
    float64, scaled and transformed.
    ``starts[which]`` holds the index (into ``values``) of each window's
    first target.
    """

    values: np.ndarray
    dates: pd.DatetimeIndex | None
    look_back: int
    horizon: int
    transform: str | None
    scaler: object
    split: Split
    season: int | None
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    starts: dict = field(repr=False)
    calendar: bool = False
    covariates: tuple = ()
    past_covariates: tuple = ()
    covariate_scaler: object = None  # CovariateScaler of (covariates, past_covariates), or None

    @property
    def n_features(self) -> int:
        """Inputs per time step: 1, 3 with calendar features, plus one per covariate."""
        return 1 + 2 * self.calendar + n_inputs(len(self.covariates), len(self.past_covariates), self.horizon)

    def check_which(self, which: str) -> np.ndarray:
        """The target indices of part ``which`` (``"train"``, ``"val"`` or ``"test"``); ValueError
        for another name."""
        if which not in self.starts:
            raise ValueError(f"which must be 'train', 'val' or 'test', got {which!r}")
        return self.starts[which]

    def targets(self, which: str = "test") -> np.ndarray:
        """Targets of a part in original units, shape ``(N, horizon)``."""
        s = self.check_which(which)
        return self.values[s[:, None] + np.arange(self.horizon)]

    def target_dates(self, which: str = "test") -> pd.DatetimeIndex | None:
        """Dates of each window's first target, or ``None`` without dates."""
        s = self.check_which(which)
        return None if self.dates is None else self.dates[s]

    @property
    def y_test_original(self) -> np.ndarray:
        """Test targets in original units, shape ``(N, horizon)``."""
        return self.targets("test")

    def inverse(self, pred_scaled, which: str = "test") -> np.ndarray:
        """Map model outputs for a part back to original units.

        Args:
            pred_scaled: shape ``(N,)``, ``(N, 1)`` or ``(N, horizon)``, one
                row per window of ``which``, in the scaled representation.

        Returns:
            predictions in original units, shape ``(N, horizon)``.
        """
        s = self.check_which(which)
        p = np.asarray(pred_scaled, dtype=np.float64)
        if p.ndim == 1 and self.horizon == 1:
            p = p[:, None]
        if p.shape != (len(s), self.horizon):
            raise ValueError(
                f"predictions for {which!r} must have shape ({len(s)}, {self.horizon}), "
                f"got {np.shape(pred_scaled)}"
            )
        return undo_transform(self.scaler.inverse_transform(p), s, self.values, self.transform)


def _as_series(data) -> tuple[np.ndarray, pd.DatetimeIndex | None, int | None]:
    if isinstance(data, Dataset):
        return np.asarray(data.values, dtype=np.float64), data.dates, data.season
    if isinstance(data, pd.Series):
        dates = data.index if isinstance(data.index, pd.DatetimeIndex) else None
        return data.to_numpy(dtype=np.float64), dates, None
    v = np.asarray(data, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {v.shape}")
    return v, None, None


def _check_windows_fit(counts, look_back, horizon, n_features, n, test_fraction, val_fraction,
                       offset) -> None:
    """Refuse windows that cannot fit in memory, before building them (DataError naming the
    longest look-back that fits)."""
    from fastrnn import _memory

    def need(lb):
        # the windows (float64), the index arrays that build them (int64), the model's dtype copy;
        # with calendar features the feature windows and the concatenated copy as well
        n_win = sum(_window_counts(n, lb, horizon, offset, test_fraction, val_fraction))
        return n_win * (lb + horizon) * 8 * (2 + 3 * n_features)

    if _memory.fits(need(look_back)):
        return
    longest = _memory.largest_fitting(need, 1, look_back)
    fix = (f"use a smaller look_back (at most {longest} fits) or a shorter series" if longest
           else "use a shorter series")
    raise DataError(
        f"the {sum(counts)} windows of look_back={look_back} ({n_features} input(s) per step) need "
        f"about {_memory.format_bytes(need(look_back))} of memory, but only "
        f"{_memory.format_bytes(_memory.available_bytes())} are available; {fix}")


def _where(k: int, dates) -> str:
    if dates is None:
        return f"index {k}"
    d = dates[k]
    return f"date {d.date() if d == d.normalize() else d.isoformat()}"


def _check_magnitudes(values, dates, scaled, offset, scaler_obj, transform, dtype) -> None:
    """Refuse a series whose numbers overflow before any training: the original values must be
    small enough for their errors to be squared and averaged in float64 (the test metrics), and
    the transformed, scaled series small enough to be squared in the run's ``dtype`` (the loss).
    """
    big = np.sqrt(np.finfo(np.float64).max / max(len(values), 1)) / 2
    bad = np.flatnonzero(np.abs(values) > big)
    if bad.size:
        k = bad[0]
        raise DataError(
            f"value {values[k]:.6g} at {_where(k, dates)} is too large: errors in the series' units "
            f"would overflow float64 when scored (limit about {big:.2g}); rescale the data (divide "
            f"it by a power of ten) or remove the bad value")
    scale = [getattr(scaler_obj, a) for a in ("scale_", "mean_", "min_") if hasattr(scaler_obj, a)]
    dtype = np.dtype(dtype)
    limit = np.sqrt(np.finfo(dtype).max)  # the loss squares the scaled errors
    bad = np.flatnonzero(~(np.abs(scaled) <= limit))  # also NaN
    if bad.size or not np.isfinite(scale).all():
        k = int(bad[0]) if bad.size else int(np.argmax(np.abs(values[offset:])))
        how = ", ".join(p for p in (transform, f"{scaler_obj.name} scaling" if scaler_obj.name else "")
                        if p) or "no transform"
        fix = ("use dtype='float64' (--dtype float64) or rescale the data" if dtype == np.float32
               else "rescale the data (divide it by a power of ten) or remove the outlier")
        raise DataError(
            f"value {values[k + offset]:.6g} at {_where(k + offset, dates)} becomes "
            f"{scaled[k]:.3g} after {how}, too large to train on in {dtype.name} (the loss squares "
            f"it: limit about {limit:.2g}); {fix}")


def prepare(data, look_back: int, horizon: int = 1, scaler: str | None = "minmax",
            transform: str | None = None, test_fraction: float = 0.33,
            val_fraction: float = 0.1, season: int | None = None,
            calendar: bool = False, dtype="float64", covariates: Sequence[str] = (),
            past_covariates: Sequence[str] = ()) -> Prepared:
    """Split, transform, scale and window a series (conventions: module docstring).

    Args:
        data: a :class:`~fastrnn.forecast.datasets.Dataset`, a ``pandas.Series``
            (dates taken from a DatetimeIndex) or a 1-D array.
        look_back: inputs per window.
        horizon: targets per window (steps ahead).
        scaler: ``"minmax"`` (to [0, 1]), ``"standard"`` or ``None``.
        transform: ``None``, ``"log"``, ``"diff"`` or ``"log+diff"``.
        test_fraction: share of points in the test part (default 0.33).
        val_fraction: share of the pre-test points used for validation.
        season: stored for the baselines; defaults to the Dataset's.
        calendar: add the sine and cosine of the day of the year (of the
            point after each input step) as two more inputs; needs dates.
        dtype: the float type the model will train in (``"float32"`` or
            ``"float64"``); the scaled series must be small enough to be
            squared in it. The arrays returned are float64 either way.
        covariates, past_covariates: names of ``data.covariates`` (a
            Dataset's) to add as inputs, known in advance and past ones.

    Raises:
        DataError: non-finite values, non-positive values with ``log``, a
            series too short to give every part at least one window (checked
            arithmetically, before anything is built, and naming the longest
            look-back the series allows), windows that would not fit in
            memory, values too large to train on in ``dtype`` or to score in
            float64, or ``calendar`` without dates; covariates that the data
            does not have, that are not finite, or constant on the training
            part.
    """
    values, dates, ds_season = _as_series(data)
    known, past = parse_names(covariates, "covariates"), parse_names(past_covariates, "past_covariates")
    look_back = check_positive_int("look_back", look_back, 1)
    horizon = check_positive_int("horizon", horizon, 1)
    use_log, use_diff = parse_transform(transform)
    transform = None if transform == "none" else transform
    float_dtype(dtype)  # ValueError for anything but float32/float64
    scaler_obj = make_scaler(scaler)
    sp = split(len(values), test_fraction, val_fraction)

    if calendar and dates is None:
        raise DataError("calendar features need the dates of the series, but it has none; "
                        "pass a date column or turn calendar features off")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise DataError(f"series has {bad.size} missing or infinite value(s), first at index "
                        f"{bad[0]}; clean the data first")

    offset = int(use_diff)
    counts = _window_counts(len(values), look_back, horizon, offset, test_fraction, val_fraction)
    if not _enough(counts, val_fraction):
        need = _min_length(look_back, horizon, offset, test_fraction, val_fraction)
        longest = _max_look_back(len(values), horizon, offset, test_fraction, val_fraction)
        parts = "train, validation and test" if val_fraction > 0 else "train and test"
        fix = (f"use a smaller look_back (at most {longest} for this series) or a longer series"
               if longest >= 1 else "use a longer series (no look-back fits this one)")
        raise DataError(
            f"series too short: look_back={look_back}, horizon={horizon}"
            f"{', transform=' + transform if transform else ''} with test_fraction="
            f"{test_fraction:g}, val_fraction={val_fraction:g} needs at least {need} points "
            f"for one {parts} window each, got {len(values)}; {fix}"
        )
    n_features = 1 + 2 * bool(calendar) + n_inputs(len(known), len(past), horizon)
    _check_windows_fit(counts, look_back, horizon, n_features, len(values), test_fraction,
                       val_fraction, offset)
    cov_known, cov_past, cov_scaler = _covariate_columns(data, known, past, sp, dates)

    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported just below
        rep = apply_transform(values, use_log, use_diff, dates)  # rep[k] is point k + offset
        scaler_obj.fit(rep[: sp.train_end - offset])
        scaled = scaler_obj.transform(rep)
    _check_magnitudes(values, dates, scaled, offset, scaler_obj, transform, dtype)
    feats = calendar_features(dates) if calendar else None

    arrays, starts = {}, {}
    for which in ("train", "val", "test"):
        s = _target_starts(sp, which, look_back, horizon, offset)
        k = s - offset  # position of the first target in `scaled`
        X = scaled[k[:, None] + np.arange(-look_back, 0)]
        y = scaled[k[:, None] + np.arange(horizon)]
        X = X.reshape(len(s), look_back, 1)
        if calendar:
            X = np.concatenate([X, calendar_windows(feats, s, look_back)], axis=2)
        if cov_scaler is not None:
            X = np.concatenate([X, window_inputs(cov_known, cov_past, s, look_back, lead=horizon)], axis=2)
        arrays[which] = (X, y.reshape(len(s), horizon))
        starts[which] = s

    return Prepared(
        values=values, dates=dates, look_back=look_back, horizon=horizon, transform=transform,
        scaler=scaler_obj, split=sp, season=season if season is not None else ds_season,
        X_train=arrays["train"][0], y_train=arrays["train"][1],
        X_val=arrays["val"][0], y_val=arrays["val"][1],
        X_test=arrays["test"][0], y_test=arrays["test"][1],
        starts=starts, calendar=bool(calendar), covariates=known, past_covariates=past,
        covariate_scaler=cov_scaler,
    )


def _covariate_columns(data, known, past, sp: Split, dates):
    """The scaled covariates of ``data`` (known ``(n, C)``, past ``(n, P)``, either ``None`` when
    there are none) and their scaler, fitted on the training part; ``(None, None, None)`` without
    covariates. Raises DataError for a name ``data`` lacks, a non-finite value, or a column constant
    on the training part."""
    names = known + past
    if not names:
        return None, None, None
    have = getattr(data, "covariates", None) or {}
    missing = [c for c in names if c not in have]
    if missing:
        where = f"the data's covariates are {', '.join(have)}" if have else "the data has no covariates"
        raise DataError(f"covariate {', '.join(map(repr, missing))} not found: {where}; read the series with "
                        f"them (load_csv(..., covariates=..., past_covariates=...))")
    n = sp.n
    cols = []
    for c in names:
        v = np.asarray(have[c], dtype=np.float64)
        if v.shape != (n,):
            raise DataError(f"covariate {c!r} has shape {v.shape}, but the series has {n} points; give one "
                            f"value per point")
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            raise DataError(f"covariate {c!r} has {bad.size} missing or infinite value(s), first at "
                            f"{_where(int(bad[0]), dates)}; clean the data first")
        train = v[:sp.train_end]
        if train.min() == train.max():
            raise DataError(f"covariate {c!r} is constant ({train[0]:g}) on the training part (its first "
                            f"{sp.train_end} points), so the model cannot learn what it does; leave it out, or "
                            f"use a longer series (or --start earlier) where it varies")
        cols.append(v)
    x = np.column_stack(cols)
    scaler = CovariateScaler.fit(x[:sp.train_end])
    z = scaler.transform(x)
    return z[:, :len(known)], z[:, len(known):], scaler
