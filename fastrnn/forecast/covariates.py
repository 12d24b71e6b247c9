"""Covariates: inputs beside the series itself, for single series and panels.

Two kinds, as in darts and neuralforecast:

* **known in advance** (``covariates``: holidays, prices, weather forecasts): their values are
  known for the points being forecast, so forecasting beyond the data needs their future values.
  A model that forecasts the next ``lead`` points at once (one step: ``lead = 1``; a direct
  multi-step model: ``lead = H``) sees, at input step ``s``, their values at ``s + 1 .. s + lead``:
  with one step ahead, the point the step leads to (as the calendar inputs); at the window's last
  step, the values over the whole horizon.
* **past covariates** (``past_covariates``): known only up to the present; input step ``s`` sees
  their value at ``s``, as the series' own value.

For a window whose first target is point ``t`` (inputs ``y[t - L] .. y[t - 1]``), input step
``j = 0 .. L - 1`` is at time ``s = t - L + j`` and carries, after the series' own input(s)::

    [known[s + 1, 0], .., known[s + lead, 0], known[s + 1, 1], .., known[s + lead, C - 1],
     past[s, 0], .., past[s, P - 1]]

Equivalent to (the loop :func:`window_inputs` vectorises)::

    for k, t in enumerate(starts):
        for j in range(L):
            s = t - L + j
            out[k, j] = [*known[s + 1:s + 1 + lead].T.ravel(), *past[s]]

Every covariate is standardised by the mean and standard deviation of the part a model trains on
(:class:`CovariateScaler`; a constant column is only centred).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["parse_names", "check_names", "n_inputs", "window_inputs", "CovariateScaler"]


def parse_names(value: str | Sequence[str] | None, option: str = "covariates") -> tuple[str, ...]:
    """Column names from ``"a,b"`` (or a sequence of names); ``()`` for ``None`` or an empty sequence.

    Raises
    ------
    ValueError
        An empty name (``"a,,b"``, ``""``) or a name given twice.
    """
    if value is None or (not isinstance(value, str) and len(value) == 0):
        return ()
    parts = [p.strip() for p in value.split(",")] if isinstance(value, str) else [str(p).strip() for p in value]
    if not parts or any(not p for p in parts):
        raise ValueError(f"{option} needs column names separated by commas; got {value!r}; pass e.g. "
                         f"{option} price,holiday")
    twice = sorted({p for p in parts if parts.count(p) > 1})
    if twice:
        raise ValueError(f"{option} names {', '.join(twice)} more than once; name each column once")
    return tuple(parts)


def check_names(known: Sequence[str], past: Sequence[str], columns: Sequence[str],
                reserved: dict[str, str | None] | None = None) -> None:
    """Every covariate is a column of the data, of one kind only, and not a column used otherwise.

    Parameters
    ----------
    known, past : sequence of str
        Names of the covariates known in advance and of the past covariates.
    columns : sequence of str
        The data's columns.
    reserved : dict, optional
        What a column is used for -> its name (e.g. ``{"the value column": "y", "the date
        column": "ds"}``); a covariate may not be one of them.

    Raises
    ------
    ValueError
        A name that is not a column (the message lists the columns), a name in both lists, or a
        reserved column.
    """
    both = sorted(set(known) & set(past))
    if both:
        raise ValueError(f"{', '.join(both)} given as covariate known in advance and as past covariate; "
                         f"give each column once (--covariates: known for the forecast dates; "
                         f"--past-covariates: known only up to the present)")
    cols = [str(c) for c in columns]
    for name in (*known, *past):
        if name not in cols:
            raise ValueError(f"covariate column {name!r} is not in the data; its columns are "
                             f"{', '.join(cols)}")
        for what, col in (reserved or {}).items():
            if col is not None and name == str(col):
                raise ValueError(f"covariate {name!r} is {what}; a covariate must be another column")


def n_inputs(n_known: int, n_past: int, lead: int = 1) -> int:
    """Inputs per step that ``n_known`` covariates known in advance and ``n_past`` past covariates
    add to a model forecasting ``lead`` points at once."""
    return n_known * lead + n_past


def window_inputs(known: np.ndarray | None, past: np.ndarray | None, starts: np.ndarray, look_back: int,
                  lead: int = 1) -> np.ndarray:
    """The covariate inputs of every window, ``(N, look_back, n_inputs)``; see the module docstring.

    Parameters
    ----------
    known : ndarray of shape (n, C) or None
        Covariates known in advance at the points ``0 .. n - 1`` (already scaled).
    past : ndarray of shape (n, P) or None
        Past covariates at the same points.
    starts : ndarray of int, shape (N,)
        Index of each window's first target.
    look_back : int
        Input steps per window.
    lead : int
        Points each window forecasts at once.

    Raises
    ------
    ValueError
        A window that needs covariate values outside ``0 .. n - 1``: before the data, or known
        covariates beyond it (forecasting past the data needs their future values appended).
    """
    starts = np.asarray(starts, dtype=np.int64)
    parts = []
    s = starts[:, None] - look_back + np.arange(look_back)[None, :]  # (N, L): time of each input step
    if known is not None and known.shape[1]:
        n = len(known)
        if len(s) and (s.min() < 0 or s.max() + lead > n - 1):
            raise ValueError(f"covariates known in advance are needed up to point {int(s.max()) + lead + 1} "
                             f"but given for {n} points; append their future values")
        idx = s[:, :, None] + 1 + np.arange(lead)[None, None, :]  # (N, L, lead)
        v = known[idx]  # (N, L, lead, C)
        parts.append(np.swapaxes(v, 2, 3).reshape(len(s), look_back, -1))
    if past is not None and past.shape[1]:
        if len(s) and (s.min() < 0 or s.max() > len(past) - 1):
            raise ValueError(f"past covariates are needed up to point {int(s.max()) + 1} but given for "
                             f"{len(past)} points")
        parts.append(past[s])
    if not parts:
        return np.zeros((len(s), look_back, 0))
    return np.concatenate(parts, axis=2)


@dataclass
class CovariateScaler:
    """Standardisation of covariate columns by the statistics of a training part.

    Attributes
    ----------
    mean, scale : ndarray of shape (C,)
        Per column; ``scale`` is the standard deviation, or 1 for a constant column.
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> CovariateScaler:
        """Fit on ``x`` of shape (n, C), every value finite."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or not len(x):
            raise ValueError(f"covariates to fit a scaler on must be (points, columns) with points; "
                             f"got shape {x.shape}")
        sd = x.std(axis=0)
        return cls(mean=x.mean(axis=0), scale=np.where(sd > 0, sd, 1.0))

    def transform(self, x: np.ndarray) -> np.ndarray:
        """``(x - mean) / scale``."""
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.scale

    def to_dict(self) -> dict:
        """JSON-ready ``{"mean": [...], "scale": [...]}``."""
        return {"mean": [float(v) for v in self.mean], "scale": [float(v) for v in self.scale]}

    @classmethod
    def from_dict(cls, d: dict) -> CovariateScaler:
        """The inverse of :meth:`to_dict`."""
        return cls(mean=np.asarray(d["mean"], dtype=np.float64), scale=np.asarray(d["scale"], dtype=np.float64))
