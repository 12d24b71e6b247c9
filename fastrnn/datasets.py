"""Bundled example series and a CSV loader.

Three real series ship with the package (see ``fastrnn/data/PROVENANCE.md``
for sources and licences):

=========== ========================================== ====== ======
name        series                                      rows   season
=========== ========================================== ====== ======
airline     monthly airline passengers (thousands)      144    12
temperature daily minimum temperature, Melbourne (°C)   3650   365
stock       MSFT daily ``Close`` from 2010-01-01        1980   None
=========== ========================================== ====== ======

:func:`load` returns a :class:`Dataset`; :func:`load_csv` reads any CSV into
the same structure. Problems with the input raise :class:`DataError` (a
``ValueError``) with a one-line message that names the problem and the fix.
Line numbers in messages are 1-based lines of the file, the header being
line 1 (this assumes one line per record, which holds for ordinary CSVs).

CSV conventions
---------------
* **Date column.** Given by ``date_column``, or detected: the first column
  whose name is a date-like word (``date``, ``time``, ``datetime``,
  ``timestamp``, ``month``, ``day``, ``week``, ``period``, ``ds``, also as a
  ``_``/space separated part such as ``trade_date``) and whose values are
  text that parses as dates; failing that, an unnamed first column
  (``Unnamed: 0``, as written by ``DataFrame.to_csv``) whose values all parse
  as dates. A file without a date column is allowed (``dates`` is ``None``).
* **Value column.** Given by ``column``; or else, ignoring the date column,
  unnamed index columns and columns with a date-like name (such as a numeric
  ``day`` counter), the only column left, or the only mostly-numeric one. Values must be finite
  numbers; empty cells and non-numeric cells are errors that list the lines.
* **Order.** Dates must be unique (duplicates are an error listing the
  lines). Rows are sorted by date if they are not in increasing order (e.g.
  stock downloads that list the newest day first).
* **Range.** ``start``/``end`` are inclusive and accept anything
  ``pandas.Timestamp`` parses, including partial dates (``"2010"``,
  ``"2015-06"`` — ``end="2015"`` keeps all of 2015).
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass
from importlib import resources
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["DataError", "Dataset", "names", "load", "info", "load_csv"]


class DataError(ValueError):
    """Invalid or unusable input data (bad CSV, unknown dataset, series too short, ...)."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A univariate time series.

    Attributes:
        name: dataset name (bundled name, or the CSV file's stem).
        values: the observations, 1-D float64, in time order.
        dates: timestamps of ``values`` (same length), or ``None`` if the
            source had no date column.
        column: name of the value column in the source.
        season: season length in steps (12 monthly, 365 daily-yearly, ...)
            or ``None`` if there is no (known) seasonality.
        source: where the data came from (path or attribution).
    """

    name: str
    values: np.ndarray
    dates: pd.DatetimeIndex | None
    column: str
    season: int | None
    source: str

    def __len__(self) -> int:
        return len(self.values)

    @property
    def start(self) -> pd.Timestamp | None:
        """First date, or ``None`` without dates."""
        return self.dates[0] if self.dates is not None and len(self.dates) else None

    @property
    def end(self) -> pd.Timestamp | None:
        """Last date, or ``None`` without dates."""
        return self.dates[-1] if self.dates is not None and len(self.dates) else None

    def to_series(self) -> pd.Series:
        """The data as a ``pandas.Series`` (DatetimeIndex if dates are known)."""
        return pd.Series(self.values, index=self.dates, name=self.column)


# ---------------------------------------------------------------------------
# Bundled datasets
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bundled:
    file: str
    column: str
    season: int | None
    frequency: str
    description: str
    source: str
    default_start: str | None = None


_BUNDLED: dict[str, _Bundled] = {
    "airline": _Bundled(
        file="airline-passengers.csv",
        column="Passengers",
        season=12,
        frequency="monthly",
        description="International airline passengers (thousands), 1949-1960",
        source="Box, Jenkins & Reinsel, series G (public domain); via sktime 1.2.0 (BSD-3-Clause)",
    ),
    "temperature": _Bundled(
        file="daily-min-temperatures.csv",
        column="Temp",
        season=365,
        frequency="daily",
        description="Daily minimum temperature in Melbourne (°C), 1981-1990",
        source="Australian Bureau of Meteorology; via evalml 0.84.0 (BSD-3-Clause)",
    ),
    "stock": _Bundled(
        file="msft-daily.csv",
        column="Close",
        season=None,
        frequency="business daily",
        description="Microsoft (MSFT) daily close, split-adjusted (USD)",
        source="Kaggle 'Price Volume Data for All US Stocks & ETFs' (CC0); via pmdarima 2.1.1 (MIT)",
        default_start="2010-01-01",
    ),
}


def names() -> list[str]:
    """Names of the bundled datasets: ``["airline", "temperature", "stock"]``."""
    return list(_BUNDLED)


def _bundled_spec(name: str) -> _Bundled:
    try:
        return _BUNDLED[name]
    except (KeyError, TypeError):
        raise DataError(
            f"unknown dataset {name!r}; choose one of: {', '.join(_BUNDLED)} (or pass a CSV file)"
        ) from None


def load(name: str, start=None, end=None) -> Dataset:
    """Load a bundled dataset.

    Args:
        name: one of :func:`names`.
        start, end: inclusive date range. ``None`` means the dataset's
            default: everything, except ``stock`` which starts at 2010-01-01
            (its earlier split-adjusted prices are fractions of a dollar);
            pass e.g. ``start="1986"`` for the full stock history.

    Returns:
        a :class:`Dataset` with ``source`` set to the attribution.
    """
    spec = _bundled_spec(name)
    if start is None:
        start = spec.default_start
    ref = resources.files("fastrnn").joinpath("data", spec.file)
    with resources.as_file(ref) as path:
        ds = load_csv(path, column=spec.column, date_column="Date", start=start, end=end,
                      season=spec.season)
    return Dataset(name=name, values=ds.values, dates=ds.dates, column=spec.column,
                   season=spec.season, source=spec.source)


def info() -> list[dict]:
    """One dict per bundled dataset, as :func:`load` returns it by default.

    Keys: ``name``, ``description``, ``rows``, ``start``, ``end`` (ISO date
    strings), ``column``, ``frequency``, ``season``, ``default_start``
    (``None`` or the default ``start``), ``source``.
    """
    out = []
    for name, spec in _BUNDLED.items():
        ds = load(name)
        out.append({
            "name": name,
            "description": spec.description,
            "rows": len(ds),
            "start": ds.start.date().isoformat(),
            "end": ds.end.date().isoformat(),
            "column": spec.column,
            "frequency": spec.frequency,
            "season": spec.season,
            "default_start": spec.default_start,
            "source": spec.source,
        })
    return out


# ---------------------------------------------------------------------------
# CSV loading
# ---------------------------------------------------------------------------

_DATE_WORDS = {"date", "time", "datetime", "timestamp", "month", "day", "week", "period", "ds"}
_UNNAMED = re.compile(r"^Unnamed: \d+$")
_MAX_LISTED = 5


def _lines(rows) -> str:
    """'line 5' / 'lines 3, 7, 9 and 12 more' for 0-based data-row positions."""
    rows = [int(r) + 2 for r in rows]  # header is line 1
    head = ", ".join(str(r) for r in rows[:_MAX_LISTED])
    more = f" and {len(rows) - _MAX_LISTED} more" if len(rows) > _MAX_LISTED else ""
    return f"line{'s' if len(rows) > 1 else ''} {head}{more}"


def _is_date_name(col: str) -> bool:
    parts = re.split(r"[\s_\-./]+", str(col).strip().lower())
    return any(p in _DATE_WORDS for p in parts)


def _parse_dates(s: pd.Series) -> pd.Series:
    """Parse text to datetimes (NaT where impossible); one format for the column."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "could not infer format" chatter
        return pd.to_datetime(s, errors="coerce")


def _numeric_share(s: pd.Series) -> float:
    """Share of non-empty cells that parse as numbers (0 for an empty column)."""
    present = s.dropna()
    if present.empty:
        return 0.0
    return float(pd.to_numeric(present, errors="coerce").notna().mean())


def _detect_date_column(df: pd.DataFrame) -> str | None:
    for col in df.columns:
        if _is_date_name(col) and _numeric_share(df[col]) < 0.5:
            present = df[col].dropna()
            if not present.empty and _parse_dates(present).notna().any():
                return col
    first = df.columns[0]
    if _UNNAMED.match(str(first)) and _numeric_share(df[first]) < 0.5:
        present = df[first].dropna()
        if not present.empty and _parse_dates(present).notna().all():
            return first
    return None


def _pick_value_column(df: pd.DataFrame, date_column: str | None, path) -> str:
    others = [
        c for c in df.columns
        if c != date_column and not _UNNAMED.match(str(c)) and not _is_date_name(c)
    ]
    if len(others) == 1:  # the only data column; bad cells are reported by line later
        return others[0]
    candidates = [c for c in others if _numeric_share(df[c]) >= 0.5]
    if len(candidates) == 1:
        return candidates[0]
    cols = ", ".join(map(str, df.columns))
    if not candidates:
        raise DataError(f"{path}: no numeric column found (columns: {cols}); pass the value column")
    raise DataError(
        f"{path}: several numeric columns ({', '.join(map(str, candidates))}); "
        f"pass the one to use as the value column"
    )


def _require_column(df: pd.DataFrame, col: str, what: str, path) -> None:
    if col not in df.columns:
        raise DataError(
            f"{path}: no {what} column {col!r}; columns are: {', '.join(map(str, df.columns))}"
        )


def _to_values(raw: pd.Series, col: str, path) -> np.ndarray:
    missing = raw.isna().to_numpy()
    if missing.any():
        raise DataError(
            f"{path}: column {col!r} has missing values at {_lines(np.flatnonzero(missing))}; "
            f"fill or remove those rows"
        )
    num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(num)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DataError(
            f"{path}: column {col!r} has non-numeric values at {_lines(rows)} "
            f"(e.g. {raw.iloc[rows[0]]!r}); fix or remove those rows"
        )
    return num


def _to_dates(raw: pd.Series, col: str, path) -> pd.DatetimeIndex:
    missing = raw.isna().to_numpy()
    if missing.any():
        raise DataError(
            f"{path}: date column {col!r} is empty at {_lines(np.flatnonzero(missing))}; "
            f"fill or remove those rows"
        )
    parsed = _parse_dates(raw)
    bad = parsed.isna().to_numpy()
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DataError(
            f"{path}: date column {col!r} has unparseable dates at {_lines(rows)} "
            f"(e.g. {raw.iloc[rows[0]]!r}); use one date format throughout"
        )
    dates = pd.DatetimeIndex(parsed)
    dup = dates.duplicated(keep=False)
    if dup.any():
        rows = np.flatnonzero(dup)
        raise DataError(
            f"{path}: duplicate dates at {_lines(rows)} (e.g. {dates[rows[0]]}); "
            f"keep one row per date"
        )
    return dates


def _bound(value, what: str):
    if value is None:
        return None
    try:
        pd.Timestamp(value)
    except (ValueError, TypeError):
        raise DataError(f"{what}={value!r} is not a date; use e.g. 2010-01-01") from None
    return value


def _infer_season(dates: pd.DatetimeIndex) -> int | None:
    """12 for monthly, 4 for quarterly, 24 for hourly spacing; otherwise None."""
    if len(dates) < 3:
        return None
    step = pd.Series(dates).diff().dropna().median()
    days = step / pd.Timedelta(days=1)
    if 28 <= days <= 31:
        return 12
    if 89 <= days <= 92:
        return 4
    if abs(days - 1 / 24) < 1e-9:
        return 24
    return None


def load_csv(path: str | PathLike, column: str | None = None, date_column: str | None = None,
             start=None, end=None, season: int | None | str = "auto") -> Dataset:
    """Read a univariate series from a CSV file (conventions: module docstring).

    Args:
        path: CSV file with a header row.
        column: value column; ``None`` picks the only numeric column.
        date_column: date column; ``None`` detects one (or none).
        start, end: inclusive date range; needs a date column.
        season: season length for seasonal baselines; ``"auto"`` infers 12
            (monthly), 4 (quarterly) or 24 (hourly) from the date spacing and
            ``None`` otherwise (daily data is ambiguous: 7 or 365).

    Returns:
        a :class:`Dataset` named after the file's stem.

    Raises:
        FileNotFoundError: the file does not exist (message names the path).
        DataError: unreadable CSV, missing column, missing/non-numeric
            values, bad or duplicate dates, empty date range.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "CSV file not found", str(path))
    try:
        df = pd.read_csv(path, dtype=str, skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty; expected a CSV with a header row") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        msg = " ".join(str(exc).split())
        raise DataError(f"{path}: not a readable CSV ({msg})") from None
    # Blank lines are kept as all-empty rows so that row k is line k + 2;
    # trailing ones are just file padding.
    filled = np.flatnonzero(df.notna().any(axis=1).to_numpy())
    df = df.iloc[: filled[-1] + 1 if len(filled) else 0]
    if df.empty:
        raise DataError(f"{path}: no data rows below the header")

    if date_column is not None:
        _require_column(df, date_column, "date", path)
    else:
        date_column = _detect_date_column(df)
    if column is not None:
        _require_column(df, column, "value", path)
        if column == date_column:
            raise DataError(f"{path}: {column!r} is the date column; pass a value column")
    else:
        column = _pick_value_column(df, date_column, path)

    values = _to_values(df[column], column, path)
    dates = _to_dates(df[date_column], date_column, path) if date_column is not None else None

    if dates is not None and not dates.is_monotonic_increasing:
        order = np.argsort(dates.to_numpy(), kind="stable")
        values, dates = values[order], dates[order]

    start, end = _bound(start, "start"), _bound(end, "end")
    if start is not None or end is not None:
        if dates is None:
            raise DataError(
                f"{path}: start/end need a date column, and none was found "
                f"(columns: {', '.join(map(str, df.columns))}); pass the date column"
            )
        sl = dates.slice_indexer(start, end)
        if len(values[sl]) == 0:
            raise DataError(
                f"{path}: no rows between start={start} and end={end}; "
                f"the data covers {dates[0].date()} to {dates[-1].date()}"
            )
        values, dates = values[sl], dates[sl]

    if season == "auto":
        season = _infer_season(dates) if dates is not None else None
    return Dataset(name=path.stem, values=np.ascontiguousarray(values, dtype=np.float64),
                   dates=dates, column=str(column), season=season, source=str(path))

