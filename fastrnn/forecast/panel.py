"""Panels: many related series (stores, products, regions) with one frequency.

A :class:`Panel` holds several series, each with its own start and length, all on one pandas
frequency. :func:`from_frame` builds one from a DataFrame and :func:`read_csv` from a CSV file,
read by the same pieces as a single series (:mod:`fastrnn.forecast.csvread`: separators, decimal
commas, day-first dates, byte-order marks and encodings behave as for
:func:`fastrnn.datasets.load_csv`). Problems with the input raise
:class:`fastrnn.datasets.DataError` (a ``ValueError``) with one line that names the problem and
the fix; line numbers are lines of the file (the header is line 1), rows of a DataFrame are
0-based positions.

Formats
-------
* **Long**: one row per series and date: an id column (or several, joined with ``/``), a date
  column and a value column. Nixtla's names ``unique_id, ds, y`` are detected as they are.
* **Wide**: a date column and one column per series (named by the column). Detected when there
  is no id column; cells that are empty before a series' first value or after its last are
  where that series has not started yet or has ended.

Covariates
----------
A long source may carry other numeric columns beside the values (``covariates=["price",
"promo"]``): they are read with the same rules as the values (a missing cell names its series,
date and column) into :attr:`Panel.covariates`, aligned with the values. A wide source cannot
carry them. :func:`read_future` reads their values at the dates after the data (``fastrnn
predict --future``).

Dates such as ``1998 Q1`` (quarters, dated by their first day) and ``1982 Apr`` (months) are read
exactly; other dates as :func:`fastrnn.forecast.csvread.parse_dates` reads them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike

import numpy as np
import pandas as pd

from fastrnn.forecast.datasets import (
    UNNAMED,
    DataError,
    check_spacing,
    detect_date_column,
    format_lines,
    is_date_name,
    numeric_share,
)

__all__ = ["Panel", "from_frame", "read_csv", "from_series", "read_future"]

_NIXTLA = ("unique_id", "ds", "y")
_ID_SEP = "/"
_MAX_LISTED = 5
_QUARTER = re.compile(r"^\s*(\d{4})\s*-?\s*Q([1-4])\s*$", re.IGNORECASE)
_YEAR_MONTH = re.compile(r"^\s*\d{4}\s+[A-Za-z]{3}\s*$")
_MONTHS = {"monthly": 1, "quarterly": 3, "half-yearly": 6, "yearly": 12}
_MONTH_ABBR = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@dataclass(frozen=True, eq=False, repr=False)
class Panel:
    """Several series on one frequency, each with its own start and length.

    Attributes
    ----------
    name : str
        The panel's name (a shipped panel's name, or the CSV file's stem).
    ids : list of str
        The series' ids, in the order of their first appearance in the source.
    values : list of numpy.ndarray
        One float64 array per series, in date order.
    starts : list of pandas.Timestamp
        The first date of each series.
    freq : str
        The pandas offset alias of the panel's frequency (``"MS"``, ``"QS-JAN"``, ``"D"``,
        ``"W-SUN"``, ``"h"``, ``"B"``, ...).
    season : int or None
        Season length in steps (12 monthly, 4 quarterly, 24 hourly, as a single series' season
        is inferred), or ``None``.
    source : str
        Where the data came from (a path or an attribution).
    read_info : dict or None
        How the data was read: ``format`` (``"long"`` or ``"wide"``), ``id_columns``,
        ``date_column``, ``column``, ``rows`` (data rows of the source), ``series``,
        ``frequency`` (``"monthly"``, ...),
        ``freq``, ``season``, ``season_source``, ``missing_dates``, ``notes``, and for a CSV
        file ``sep``, ``decimal``, ``encoding``, ``date_format`` and ``date_note`` as in
        :func:`fastrnn.datasets.load_csv`.
    column : str
        The value column (``"value"`` for a wide source).
    explicit_dates : dict of int to pandas.DatetimeIndex
        The dates of the series (by position) that are not a regular run of ``freq`` from their
        start: business days with holidays, or gaps kept with ``missing_dates="ignore"``.
    covariates : dict of str to list of numpy.ndarray
        Other columns read beside the values: name -> one float64 array per series, aligned with
        :attr:`values` (see :mod:`fastrnn.forecast.covariates`); empty if none.
    """

    name: str
    ids: list
    values: list
    starts: list
    freq: str
    season: int | None
    source: str
    read_info: dict | None = None
    column: str = "y"
    explicit_dates: dict = field(default_factory=dict)
    covariates: dict = field(default_factory=dict)
    _span: list = field(default_factory=list, init=False, repr=False)  # cache of dates()

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        n = self.lengths()
        size = f", lengths {n.min()}-{n.max()}" if len(n) else ""
        return (f"Panel({self.name!r}: {len(self)} series{size}, freq {self.freq!r}, "
                f"season {self.season})")

    def lengths(self) -> np.ndarray:
        """The number of points of each series.

        Returns
        -------
        numpy.ndarray
            int64, one entry per series, in the order of :attr:`ids`.
        """
        return np.array([len(v) for v in self.values], dtype=np.int64)

    def dates(self, i: int) -> pd.DatetimeIndex:
        """The dates of series ``i``.

        Parameters
        ----------
        i : int
            Position of the series in :attr:`ids`.

        Returns
        -------
        pandas.DatetimeIndex
            One date per value of ``values[i]``.
        """
        if i in self.explicit_dates:
            return self.explicit_dates[i]
        n = len(self.values[i])
        if not self._span:  # every series' dates are a slice of one range (built once)
            offset = pd.tseries.frequencies.to_offset(self.freq)
            ends = [pd.Timestamp(s) + offset * (len(v) - 1) for s, v in zip(self.starts, self.values)
                    if len(v)]
            self._span.append(pd.date_range(min(self.starts), max(ends), freq=offset)
                              if ends else pd.DatetimeIndex([]))
        span = self._span[0]
        k = span.searchsorted(self.starts[i])
        if k + n <= len(span) and n and span[k] == self.starts[i]:
            return span[k: k + n]
        return pd.date_range(self.starts[i], periods=n, freq=self.freq)

    def to_frame(self) -> pd.DataFrame:
        """The panel in long format, Nixtla's names.

        Returns
        -------
        pandas.DataFrame
            Columns ``unique_id`` (str), ``ds`` (datetime64) and ``y`` (float64), then one
            float64 column per covariate, the series in the order of :attr:`ids`, each in date
            order.
        """
        n = self.lengths()
        ids = np.repeat(np.array(self.ids, dtype=object), n)
        ds = (pd.DatetimeIndex(np.concatenate([self.dates(i).to_numpy() for i in range(len(self))]))
              if len(self) else pd.DatetimeIndex([]))
        y = np.concatenate(self.values) if len(self) else np.array([], dtype=np.float64)
        cov = {name: np.concatenate(v) if len(self) else np.array([], dtype=np.float64)
               for name, v in self.covariates.items()}
        return pd.DataFrame({"unique_id": ids, "ds": ds, "y": y, **cov})

    def select(self, ids) -> Panel:
        """A panel of some of the series.

        Parameters
        ----------
        ids : iterable of str
            The ids to keep, in the order wanted.

        Returns
        -------
        Panel
            The same panel with those series only (``read_info`` notes the selection).

        Raises
        ------
        DataError
            An id not in the panel, an id given twice, or no id.
        """
        ids = [ids] if isinstance(ids, str) else list(ids)
        pos = {s: i for i, s in enumerate(self.ids)}
        unknown = [s for s in ids if s not in pos]
        if unknown:
            raise DataError(f"panel {self.name!r} has no series {unknown[0]!r}; its ids are: "
                            f"{_listed(self.ids)}; pass ids of the panel")
        twice = [s for k, s in enumerate(ids) if s in ids[:k]]
        if twice:
            raise DataError(f"series {twice[0]!r} is selected twice; pass each id once")
        if not ids:
            raise DataError(f"no series selected from panel {self.name!r}; pass at least one id")
        keep = [pos[s] for s in ids]
        info = dict(self.read_info or {})
        info["notes"] = list(info.get("notes", [])) + [f"{len(keep)} of {len(self)} series selected"]
        return Panel(name=self.name, ids=ids, values=[self.values[k] for k in keep],
                     starts=[self.starts[k] for k in keep], freq=self.freq, season=self.season,
                     source=self.source, read_info=info, column=self.column,
                     explicit_dates={j: self.explicit_dates[k] for j, k in enumerate(keep)
                                     if k in self.explicit_dates},
                     covariates={n: [v[k] for k in keep] for n, v in self.covariates.items()})


# ---------------------------------------------------------------------------------------------------
# Public constructors
# ---------------------------------------------------------------------------------------------------


def from_frame(df: pd.DataFrame, id_column=None, date_column: str | None = None,
               value_column: str | None = None, *, wide: bool | None = None,
               missing_dates: str = "error", season: int | None | str = "auto",
               date_format: str | None = None, name: str = "panel",
               covariates: Sequence[str] | str | None = None) -> Panel:
    """A panel from a DataFrame in long or wide format (module docstring).

    Parameters
    ----------
    df : pandas.DataFrame
        Long (id, date, value columns) or wide (a date column and one column per series).
        Dates may be datetime64, periods or text; values numbers or text. A named index, a
        DatetimeIndex or a MultiIndex counts as columns.
    id_column : str or list of str, optional
        The id column, or several (a list, or names separated by commas, e.g.
        ``"Region,State,Purpose"``), whose values are joined with ``/`` in that order.
        ``None``: ``unique_id`` if there is one, else the frame is wide.
    date_column : str, optional
        ``None``: ``ds`` with ``unique_id``; else a datetime column, or one named like a date
        (``date``, ``month``, ...) as :func:`fastrnn.datasets.load_csv` detects it, or one of
        quarters (``1998 Q1``) or year and month (``1982 Apr``).
    value_column : str, optional
        Long format: the value column; ``None``: ``y`` with ``unique_id``, else the only column
        left or the only numeric one.
    wide : bool, optional
        ``True``: wide; ``False``: long; ``None``: long when there is an id column.
    missing_dates : {"error", "fill", "ignore"}
        Dates missing inside a series, as for a single series: an error listing them, values
        interpolated linearly, or the rows used as they are (the panel then has no season).
    season : int, None or "auto"
        ``"auto"`` infers it from the frequency as for a single series.
    date_format : str, optional
        ``strptime`` format of text dates.
    name : str
        The panel's name.
    covariates : sequence of str or str, optional
        Other numeric columns of a long frame to read into :attr:`Panel.covariates` (names, or
        names separated by commas); which are known in advance is the model's choice.

    Returns
    -------
    Panel

    Raises
    ------
    DataError
        Missing columns, empty ids, bad dates or values (with the id and the row), duplicate
        (id, date) pairs, series of different frequencies, missing dates; covariates of a wide
        frame, or missing dates to fill in a series with covariates.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}; pass a DataFrame "
                        f"or read a file with read_csv")
    if df.empty:
        raise DataError("the DataFrame has no rows; pass one with data")
    # A named index, dates as the index, or a (unique_id, ds) MultiIndex are columns too.
    keep_index = (isinstance(df.index, (pd.DatetimeIndex, pd.PeriodIndex, pd.MultiIndex))
                  or df.index.name is not None)
    frame = df.reset_index(drop=not keep_index)
    frame.columns = [str(c) for c in frame.columns]
    return _build(frame, label="DataFrame", word="row", id_column=id_column,
                  date_column=date_column, value_column=value_column, wide=wide, decimal=".",
                  date_format=date_format, missing_dates=missing_dates, season=season,
                  name=name, source="DataFrame", info={}, covariates=covariates)


def read_csv(path: str | PathLike, id_column=None, date_column: str | None = None,
             column: str | None = None, sep: str | None = None, decimal: str | None = None,
             encoding: str | None = None, date_format: str | None = None,
             missing_dates: str = "error", wide: bool | None = None, *,
             season: int | None | str = "auto", name: str | None = None,
             covariates: Sequence[str] | str | None = None) -> Panel:
    """A panel from a CSV file in long or wide format.

    The text is read as :func:`fastrnn.datasets.load_csv` reads it (the same separator, decimal
    mark, encoding and date-order detection, the same refusals), then as :func:`from_frame`.

    Parameters
    ----------
    path : str or path-like
        The CSV file, with a header line.
    id_column, date_column, wide, missing_dates, season
        As for :func:`from_frame`.
    column : str, optional
        The value column of a long file (``value_column`` of :func:`from_frame`).
    sep, decimal, encoding, date_format
        As for :func:`fastrnn.datasets.load_csv`.
    name : str, optional
        The panel's name; ``None``: the file's stem.
    covariates : sequence of str or str, optional
        As for :func:`from_frame`.

    Returns
    -------
    Panel
        ``source`` is the path; ``read_info`` also has ``sep``, ``decimal``, ``encoding``,
        ``date_format`` and ``date_note``.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    DataError
        What :func:`fastrnn.datasets.load_csv` and :func:`from_frame` refuse.
    """
    from fastrnn.forecast import csvread
    from fastrnn.forecast.datasets import check_short_rows, read_text_table

    _check_missing_dates(missing_dates)
    table = read_text_table(path, sep=sep, decimal=decimal, encoding=encoding)
    df, label = table.frame, str(table.path)
    ids = _id_columns(id_column, df, label)
    if decimal is None:
        skip = set(ids or ()) | {date_column} | {c for c in df.columns if is_date_name(c)}
        decimal = csvread.detect_decimal(df, table.sep, label, skip=skip)
    info = {"sep": table.sep, "decimal": decimal, "encoding": table.encoding}
    panel = _build(df, label=label, word="line", id_column=ids, date_column=date_column,
                   value_column=column, wide=wide, decimal=decimal, date_format=date_format,
                   missing_dates=missing_dates, season=season,
                   name=name if name is not None else table.path.stem, source=label, info=info,
                   short_rows=lambda col: check_short_rows(df, table.nfields, col, label),
                   covariates=covariates)
    return panel


def from_series(ds, source: dict | None = None, id: str | None = None) -> Panel:
    """A single series as a panel of one, for forecasts several steps ahead (``fastrnn train
    --horizon H`` on a single series).

    Parameters
    ----------
    ds : fastrnn.forecast.Dataset
        The series, as :func:`fastrnn.forecast.load_series` read it (its dates, season and
        missing-date handling are kept as they are).
    source : dict, optional
        How to read it again (:meth:`fastrnn.forecast.TrainConfig.source`), kept in ``read_info``
        as ``series_source`` so that a run can re-read the series to forecast beyond its end.
    id : str, optional
        The series' id; ``None``: the name of its value column.

    The series' covariates (:attr:`fastrnn.forecast.Dataset.covariates`) become the panel's.

    Returns
    -------
    Panel

    Raises
    ------
    DataError
        The series has no dates (a horizon needs them).
    """
    if ds.dates is None:
        raise DataError(f"{ds.name}: forecasts several steps ahead (--horizon) need dates, and the series has "
                        f"none; give its date column (--date-column), or leave out --horizon for one-step "
                        f"forecasts")
    cov = dict(getattr(ds, "covariates", None) or {})
    frame = pd.DataFrame({"unique_id": str(id or ds.column), "ds": ds.dates, "y": ds.values, **cov})
    # the dates as the series reader kept them (gaps it was told to keep stay), and its season
    pan = from_frame(frame, missing_dates="ignore", season=ds.season, name=ds.name, covariates=list(cov) or None)
    return dataclasses.replace(pan, source=ds.source, column=ds.column,
                               read_info={**(ds.read_info or {}), **(pan.read_info or {}), "series_source": source,
                                          # a future-covariates file of the series: a date column, no id
                                          "series_date_column": (ds.read_info or {}).get("date_column")})


# ---------------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------------


def _check_missing_dates(missing_dates) -> None:
    if missing_dates not in ("error", "fill", "ignore"):
        raise DataError(f"missing_dates={missing_dates!r} is not a choice; pass "
                        f"missing_dates='error', 'fill' or 'ignore'")


def _listed(items, n: int = _MAX_LISTED) -> str:
    items = [str(x) for x in items]
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def _columns(df) -> str:
    return ", ".join(map(str, df.columns))


def _require(df, col, what: str, label: str, fix: str) -> None:
    if col not in df.columns:
        raise DataError(f"{label}: no {what} column {col!r}; columns are: {_columns(df)}; {fix}")


def _id_columns(id_column, df, label) -> list | None:
    """The id columns as a list (``"a,b"`` split at commas unless it is a column), checked."""
    if id_column is None:
        return None
    if isinstance(id_column, str):
        cols = [id_column] if id_column in df.columns else [c.strip() for c in id_column.split(",")]
    else:
        cols = [str(c) for c in id_column]
    if not cols or any(not c for c in cols):
        raise DataError(f"id_column={id_column!r} names no column; pass a column name, or several "
                        f"separated by commas")
    for c in cols:
        _require(df, c, "id", label, "pass one of them (or several, comma-separated) as id_column")
    return cols


def _where(word: str, idx) -> str:
    """'line 5' / 'lines 3, 7' (a file) or 'row 5' (a DataFrame)."""
    text = format_lines(idx)
    return text if word == "line" else text.replace("line", "row", 1)


def _is_text(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s)
                or isinstance(s.dtype, pd.PeriodDtype))


def _text(s: pd.Series) -> pd.Series:
    """Cells as stripped text (pandas' string dtype), missing where empty or blank."""
    t = s.astype("string").str.strip()
    return t.mask(t == "")


def _numeric_share(s: pd.Series, decimal: str) -> float:
    if pd.api.types.is_bool_dtype(s):
        return 0.0
    if pd.api.types.is_numeric_dtype(s):
        present = s.dropna()
        return float(np.isfinite(present.to_numpy(dtype=np.float64)).mean()) if len(present) else 0.0
    if pd.api.types.is_datetime64_any_dtype(s):
        return 0.0
    return numeric_share(_text(s), decimal)


def _is_periods(s: pd.Series) -> bool:
    present = _text(s).dropna()
    return bool(len(present)) and bool(present.str.match(_QUARTER).all()
                                       or present.str.match(_YEAR_MONTH).all())


def _find_date_column(df, exclude, decimal, label) -> str:
    for c in df.columns:
        if c not in exclude and (pd.api.types.is_datetime64_any_dtype(df[c])
                                 or isinstance(df[c].dtype, pd.PeriodDtype)):
            return c
    text_cols = [c for c in df.columns if c not in exclude and _is_text(df[c])]
    if text_cols:
        found = detect_date_column(df[text_cols].apply(_text), decimal)
        if found is not None:
            return found
        for c in text_cols:
            if _is_periods(df[c]):
                return c
    raise DataError(f"{label}: no date column found (columns: {_columns(df)}); pass the date "
                    f"column as date_column")


def _parse_periods(cells: pd.Series) -> tuple[pd.Series, str] | None:
    """Quarters (``1998 Q1``, by their first day) or year and month (``1982 Apr``), exactly."""
    q = cells.str.extract(_QUARTER)
    if q[0].notna().all():
        months = (q[1].astype(int) - 1) * 3 + 1
        parsed = pd.to_datetime(pd.DataFrame({"year": q[0].astype(int), "month": months, "day": 1}))
        return parsed.set_axis(cells.index), "quarters such as '1998 Q1', dated by their first day"
    if cells.str.match(_YEAR_MONTH).all():
        parsed = pd.to_datetime(cells.str.strip(), format="%Y %b", errors="coerce")
        if parsed.notna().all():
            return parsed, "months such as '1982 Apr', dated by their first day"
    return None


def _dates(raw: pd.Series, col: str, label: str, word: str, ids, lines, date_format):
    """``(DatetimeIndex, resolved format, note)`` of a date column (``raw`` indexed by
    position, ``lines`` the line or row of each cell)."""
    from fastrnn.forecast.csvread import parse_dates

    if pd.api.types.is_datetime64_any_dtype(raw) or isinstance(raw.dtype, pd.PeriodDtype):
        dates = (raw.dt.to_timestamp() if isinstance(raw.dtype, pd.PeriodDtype) else raw)
        if getattr(dates.dt, "tz", None) is not None:
            dates = dates.dt.tz_localize(None)
        missing = dates.isna().to_numpy()
        fmt, note = None, None
        parsed = dates
    else:
        cells = _text(raw)
        missing = cells.isna().to_numpy()
        fmt, note = date_format, None
        parsed = None
    if missing.any():
        k = np.flatnonzero(missing)
        raise DataError(f"{label}: date column {col!r} is empty at {_where(word, lines[k])} "
                        f"(series {ids[k[0]]!r}); fill or remove those rows")
    if parsed is None:
        # Each date once (at its first line), so that day- or month-first is decided on the
        # panel's dates, whose union is as regular as its series, not on rows that repeat them.
        first = ~cells.duplicated().to_numpy()
        uniq = pd.Series(cells[first].astype(str).to_numpy(), index=lines[first])
        periods = None if date_format is not None else _parse_periods(uniq)
        if periods is not None:
            mapped, note = periods
        else:
            mapped, fmt, note = parse_dates(uniq, col, label, date_format)
        lookup = pd.Series(pd.DatetimeIndex(mapped), index=uniq.to_numpy())
        parsed = pd.Series(lookup.loc[cells.to_numpy()].to_numpy(), index=raw.index)
    return pd.DatetimeIndex(parsed).as_unit("ns"), fmt, note


def _values(raw: pd.Series, col: str, label: str, word: str, ids, lines,
            decimal: str) -> np.ndarray:
    from fastrnn.forecast.csvread import to_numbers

    if pd.api.types.is_bool_dtype(raw):
        raise DataError(f"{label}: column {col!r} holds True/False, not numbers; pass the value "
                        f"column")
    if pd.api.types.is_numeric_dtype(raw):
        num = raw.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(num)
    else:
        cells = _text(raw)
        missing = cells.isna().to_numpy()
        num = to_numbers(cells, decimal)
    if missing.any():
        k = np.flatnonzero(missing)
        raise DataError(f"{label}: column {col!r} has missing values at {_where(word, lines[k])} "
                        f"(series {ids[k[0]]!r}); fill or remove those rows")
    bad = ~np.isfinite(num)
    if bad.any():
        k = np.flatnonzero(bad)
        mark = f" with decimal mark {decimal!r}" if decimal != "." else ""
        raise DataError(f"{label}: column {col!r} has non-numeric values{mark} at "
                        f"{_where(word, lines[k])} (series {ids[k[0]]!r}, e.g. "
                        f"{raw.iloc[k[0]]!r}); fix or remove those rows")
    return num


def _covariate_names(covariates) -> tuple[str, ...]:
    """The covariate column names (``"a,b"`` or a sequence), checked for empty or repeated names."""
    from fastrnn.forecast.covariates import parse_names

    try:
        return parse_names(covariates)
    except ValueError as e:
        raise DataError(str(e)) from None


def _check_covariate_columns(df, names, label, value_column, date_column, id_cols) -> None:
    """Every covariate is a column of ``df`` and not the value, date or an id column."""
    from fastrnn.forecast.covariates import check_names

    reserved = {"the value column": value_column, "the date column": date_column,
                **{f"an id column ({c})": c for c in id_cols}}
    try:
        check_names(names, (), list(df.columns), reserved)
    except ValueError as e:
        raise DataError(f"{label}: {e}") from None


def _covariate_values(raw, col, label, word, ids, lines, dates, decimal) -> np.ndarray:
    """A covariate column's numbers, read as the values are; a missing cell names its series,
    date, column and line."""
    missing = (raw.isna().to_numpy() if not _is_text(raw) else _text(raw).isna().to_numpy())
    if missing.any():
        k = np.flatnonzero(missing)
        more = f" (and {len(k) - 1} more)" if len(k) > 1 else ""
        raise DataError(f"{label}: covariate {col!r} is missing for series {ids[k[0]]!r} at "
                        f"{_date_text(dates[k[0]])} ({_where(word, lines[k[:1]])}){more}; give every row its "
                        f"covariate values, or remove those rows")
    return _values(raw, col, label, word, ids, lines, decimal)


def read_future(source, ids: Sequence[str], dates: Sequence[pd.DatetimeIndex], names: Sequence[str], *,
                id_column=None, date_column: str | None = None, sep: str | None = None,
                decimal: str | None = None, encoding: str | None = None,
                date_format: str | None = None) -> dict[str, list[np.ndarray]]:
    """The values of covariates known in advance at the dates after the data (``fastrnn predict
    --future FILE``).

    Parameters
    ----------
    source : str, path-like or pandas.DataFrame
        A long CSV file (read with the panel's CSV rules) or frame: the id column(s), a date
        column and one column per covariate; other rows (series, dates) are ignored.
    ids : sequence of str
        The series whose values are needed.
    dates : sequence of pandas.DatetimeIndex
        For each of ``ids``, the dates needed.
    names : sequence of str
        The covariates.
    id_column : str or list of str, optional
        The id column(s), joined with ``/`` as a panel's; ``None``: a single series (no id column,
        every row is of ``ids[0]``).
    date_column : str, optional
        ``None`` (or a name the source does not have): detected as a panel's date column.
    sep, decimal, encoding, date_format
        As for :func:`read_csv` (a file only).

    Returns
    -------
    dict of str to list of numpy.ndarray
        Name -> one array per series of ``ids``, its values at its ``dates``.

    Raises
    ------
    DataError
        A missing column, a series or a date missing from the source, a duplicate (id, date)
        row, an empty or non-numeric cell (one line each, naming it).
    """
    if isinstance(source, pd.DataFrame):
        df = source.reset_index(drop=not (source.index.name is not None)).copy()
        df.columns = [str(c) for c in df.columns]
        label, word = "the future covariates", "row"
        decimal = decimal or "."
    else:
        from fastrnn.forecast import csvread
        from fastrnn.forecast.datasets import read_text_table

        table = read_text_table(source, sep=sep, decimal=decimal, encoding=encoding)
        df, label, word = table.frame, str(table.path), "line"
        if decimal is None:
            decimal = csvread.detect_decimal(df, table.sep, label, skip={date_column})
    id_cols = None if id_column is None else _id_columns(id_column, df, label) if isinstance(id_column, str) \
        else [str(c) for c in id_column]
    if date_column is None or date_column not in df.columns:
        date_column = _find_date_column(df, set(id_cols or ()), decimal, label)
    wanted = [*(id_cols or []), date_column, *names]
    for c in wanted:
        if c not in df.columns:
            raise DataError(f"{label}: no column {c!r} (columns: {_columns(df)}); the future covariates need the "
                            f"columns {', '.join(wanted)}")
    if df.empty:
        raise DataError(f"{label}: no rows; give the covariates' values at the next dates of every series")
    lines = df.index.to_numpy()
    df = df.reset_index(drop=True)
    sid = _ids(df, id_cols, label, word) if id_cols else np.full(len(df), str(ids[0]), dtype=object)
    when, _, _ = _dates(df[date_column], date_column, label, word, sid, lines, date_format)
    cols = {c: _covariate_values(df[c], c, label, word, sid, lines, when, decimal) for c in names}
    key = pd.MultiIndex.from_arrays([pd.Index(sid, dtype=object), when])
    dup = key.duplicated()
    if dup.any():
        k = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero(key == key[k])[0])
        raise DataError(f"{label}: series {sid[k]!r} has {_date_text(when[k])} twice ({word}s {lines[first]} and "
                        f"{lines[k]}); keep one row per series and date")
    pos = pd.Series(np.arange(len(df)), index=key)
    have = set(sid)
    out = {c: [] for c in names}
    for s, need in zip(ids, dates):
        need = pd.DatetimeIndex(need).as_unit("ns")
        span = f"{_date_text(need[0])} .. {_date_text(need[-1])}" if len(need) > 1 else _date_text(need[0])
        if s not in have:
            raise DataError(f"{label}: no rows for series {s!r}; give the covariates' values at its next "
                            f"{len(need)} dates ({span})")
        at = pos.reindex(pd.MultiIndex.from_arrays([pd.Index([s] * len(need), dtype=object), need]))
        if at.isna().any():
            gone = need[at.isna().to_numpy()]
            raise DataError(f"{label}: series {s!r} has no row for {_date_text(gone[0])}"
                            f"{f' (and {len(gone) - 1} more dates)' if len(gone) > 1 else ''}; give the "
                            f"covariates' values at its next {len(need)} dates ({span})")
        rows = at.to_numpy(dtype=np.int64)
        for c in names:
            out[c].append(cols[c][rows])
    return out


def _ids(df, cols, label, word) -> np.ndarray:
    parts = []
    for c in cols:
        cells = _text(df[c])
        empty = cells.isna().to_numpy()
        if empty.any():
            k = np.flatnonzero(empty)
            raise DataError(f"{label}: id column {c!r} is empty at {_where(word, df.index[k])}; "
                            f"give every row its series id, or remove those rows")
        parts.append(cells.to_numpy(dtype=object))
    if len(parts) == 1:
        return parts[0]
    return np.array([_ID_SEP.join(p) for p in zip(*parts)], dtype=object)


def _long(df, label, word, id_cols, date_column, value_column, decimal, nixtla, covariates=()):
    """``(ids, date column, value column)`` of a long frame."""
    if value_column is not None:
        _require(df, value_column, "value", label, "pass one of them as column")
    elif nixtla and "y" in df.columns:
        value_column = "y"
    else:
        others = [c for c in df.columns
                  if c not in id_cols and c != date_column and not UNNAMED.match(c)
                  and not is_date_name(c) and c not in covariates]
        if len(others) == 1:
            value_column = others[0]
        else:
            numeric = [c for c in others if _numeric_share(df[c], decimal) >= 0.5]
            if len(numeric) != 1:
                what = ("no numeric column" if not numeric else
                        f"several numeric columns ({', '.join(numeric)})")
                raise DataError(f"{label}: {what} besides the ids and dates (columns: "
                                f"{_columns(df)}); pass the value column as column")
            value_column = numeric[0]
    if value_column in id_cols or value_column == date_column:
        raise DataError(f"{label}: {value_column!r} is an id or the date column; pass the value "
                        f"column as column")
    return value_column


def _build(df, *, label, word, id_column, date_column, value_column, wide, decimal, date_format,
           missing_dates, season, name, source, info, short_rows=None, covariates=None) -> Panel:
    """The panel of a frame of cells (text from a file, or a user's DataFrame), both formats.

    ``label`` starts every message and ``word`` (``"line"`` or ``"row"``) names the frame's index
    in it; ``short_rows(column)`` refuses a file's rows that lack fields before ``column``.
    """
    _check_missing_dates(missing_dates)
    n_rows = len(df)
    if not (season is None or season == "auto" or (isinstance(season, (int, np.integer))
                                                    and not isinstance(season, bool) and season > 0)):
        raise DataError(f"season={season!r} is not a season length; pass a positive integer, "
                        f"None or 'auto'")
    id_cols = id_column if isinstance(id_column, list) else _id_columns(id_column, df, label)
    nixtla = False
    if id_cols is None and wide is not True and "unique_id" in df.columns:
        id_cols, nixtla = ["unique_id"], True
    if wide is None:
        wide = id_cols is None
    if wide and id_cols is not None:
        raise DataError(f"{label}: wide=True with id column(s) {', '.join(id_cols)}; a wide "
                        f"source has one column per series: pass wide=False, or no id_column")
    if date_column is not None:
        _require(df, date_column, "date", label, "pass one of them as date_column")
    elif nixtla and "ds" in df.columns:
        date_column = "ds"
    else:
        date_column = _find_date_column(df, set(id_cols or ()), decimal, label)
    if id_cols is not None and date_column in id_cols:
        raise DataError(f"{label}: {date_column!r} is both an id and the date column; pass "
                        f"another date_column")
    cov_names = _covariate_names(covariates)
    if cov_names and wide:
        raise DataError(f"{label}: covariates ({', '.join(cov_names)}) go with a long panel (id, date, value and "
                        f"covariate columns); a wide source has one column per series: pass the data in long "
                        f"format with id_column")

    if wide:
        if value_column is not None:
            raise DataError(f"{label}: column={value_column!r} goes with long format (id, date, "
                            f"value); a wide source has one column per series: pass id_column")
        series_cols = [c for c in df.columns if c != date_column and not UNNAMED.match(c)]
        if not series_cols:
            raise DataError(f"{label}: no series columns besides the date column {date_column!r}; "
                            f"pass a file with one column per series (wide) or id, date and "
                            f"value columns (long, with id_column)")
        text = [c for c in series_cols if _numeric_share(df[c], decimal) < 0.5]
        if text:
            c = text[0]
            present = _text(df[c]).dropna()
            example = (f" (e.g. {present.iloc[0]!r} at {_where(word, present.index[:1])})"
                       if len(present) else " (empty)")
            raise DataError(f"{label}: read as wide (one column per series, no id column), but "
                            f"{'columns' if len(text) > 1 else 'column'} {_listed(map(repr, text))} "
                            f"{'are' if len(text) > 1 else 'is'} not numeric{example}; pass "
                            f"id_column if the data is long (id, date, value), or remove "
                            f"{'those columns' if len(text) > 1 else 'that column'}")
        long_parts, id_parts = [], []
        value_column = "value" if date_column != "value" else "values"
        for c in series_cols:
            cells = df[c] if not _is_text(df[c]) else _text(df[c])
            present = np.flatnonzero(cells.notna().to_numpy())
            if not len(present):
                continue  # a series with no value at all (an empty column)
            part = df.iloc[present[0]: present[-1] + 1]
            # Checked column by column, so that a message names the file's column.
            num = _values(part[c].reset_index(drop=True), c, label, word, [c] * len(part),
                          part.index.to_numpy(), decimal)
            long_parts.append(pd.DataFrame({date_column: part[date_column], value_column: num},
                                           index=part.index))
            id_parts.append(np.full(len(part), c, dtype=object))
        if not long_parts:
            raise DataError(f"{label}: every series column is empty; pass a file with values")
        df = pd.concat(long_parts)
        ids = np.concatenate(id_parts)
        id_cols = []
        column = "value"
    else:
        if id_cols is None:
            raise DataError(f"{label}: long format needs an id column (columns: {_columns(df)}); "
                            f"pass it as id_column")
        value_column = _long(df, label, word, id_cols, date_column, value_column, decimal, nixtla, cov_names)
        _check_covariate_columns(df, cov_names, label, value_column, date_column, id_cols)
        if short_rows is not None:
            short_rows(max((value_column, date_column, *id_cols, *cov_names), key=list(df.columns).index))
        ids = _ids(df, id_cols, label, word)
        column = value_column

    lines = df.index.to_numpy()
    df = df.reset_index(drop=True)
    dates, fmt, note = _dates(df[date_column], date_column, label, word, ids, lines, date_format)
    values = _values(df[value_column], value_column, label, word, ids, lines, decimal)
    cov = {c: _covariate_values(df[c], c, label, word, ids, lines, dates, decimal) for c in cov_names}

    codes, uniques = pd.factorize(pd.Series(ids, dtype=object), sort=False)
    t = dates.asi8
    order = np.lexsort((t, codes))
    codes, t, values, lines = codes[order], t[order], values[order], lines[order]
    cov = {c: v[order] for c, v in cov.items()}
    dates = dates[order]
    dup = np.flatnonzero((codes[1:] == codes[:-1]) & (t[1:] == t[:-1]))
    if len(dup):
        k = dup[0]
        pair = sorted((int(lines[k]), int(lines[k + 1])))
        more = f" (and {len(dup) - 1} more duplicate pairs)" if len(dup) > 1 else ""
        raise DataError(f"{label}: duplicate (id, date) pair: series {uniques[codes[k]]!r} has "
                        f"{_date_text(dates[k])} at {word}s {pair[0]} and {pair[1]}{more}; keep "
                        f"one row per series and date")
    bounds = np.flatnonzero(np.diff(codes)) + 1
    split = lambda a: np.split(a, bounds)  # noqa: E731
    series_ids = [str(u) for u in uniques]
    return _assemble(series_ids, split(values), [dates[s] for s in _slices(bounds, len(dates))],
                     split(lines), label=label, word=word, missing_dates=missing_dates,
                     season=season, name=name, source=source, column=column,
                     covariates={c: split(v) for c, v in cov.items()},
                     info={**info, "format": "wide" if wide else "long",
                           "id_columns": None if wide else list(id_cols),
                           "date_column": date_column, "column": column, "date_format": fmt,
                           "date_note": note, "rows": int(n_rows),
                           **({"covariates": list(cov_names)} if cov_names else {})})


def _slices(bounds, n):
    edges = [0, *bounds.tolist(), n]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


def _date_text(d: pd.Timestamp) -> str:
    return str(d.date()) if d == d.normalize() else d.isoformat()


def _freq_alias(name: str | None, dates: pd.DatetimeIndex, step) -> str | None:
    """The pandas offset alias of a series' frequency (``None`` if it has none)."""
    if name == "business daily":
        return "B"
    start = dates[0]
    if name in _MONTHS:
        months = _MONTHS[name]
        if not (dates == dates.normalize()).all():
            return None
        if (dates.day == 1).all():
            edge = "S"
        elif dates.is_month_end.all():
            edge = "E"
        else:
            return None
        if months == 1:
            return "M" + edge
        if months == 6:
            return f"6M{edge}"
        k = (start.month - 1) % months
        anchor = _MONTH_ABBR[k] if edge == "S" else _MONTH_ABBR[k - months]
        return f"{'Q' if months == 3 else 'Y'}{edge}-{anchor}"
    if step == pd.Timedelta(days=7):
        return f"W-{start.day_name()[:3].upper()}"
    if step >= pd.Timedelta(days=1) and step % pd.Timedelta(days=1) == pd.Timedelta(0):
        days = step // pd.Timedelta(days=1)
        return "D" if days == 1 else f"{days}D"
    try:
        return pd.tseries.frequencies.to_offset(step).freqstr
    except ValueError:
        return None


def _assemble(ids, values, dates, lines, *, label, word, missing_dates, season, name, source,
              column, info, covariates=None) -> Panel:
    """Check one frequency, apply ``missing_dates``, and build the panel."""
    from fastrnn.forecast.csvread import grid

    ref = next((i for i, d in enumerate(dates) if len(d) >= 2), None)
    if ref is None:
        raise DataError(f"{label}: every series has one date, so the panel has no frequency; pass "
                        f"series with two dates or more")
    grids = {ref: grid(dates[ref])}
    alias = _series_alias(ids[ref], grids[ref], dates[ref], label)
    # A series that is a run of the panel's frequency is regular; the others are looked at
    # closely (their own frequency, then the single-series rules for missing dates).
    step = _step(dates[ref])
    on_grid = _runs_of(alias, dates, step)
    for i, d in enumerate(dates):
        if not on_grid[i] and len(d) >= 2 and i not in grids:
            grids[i] = grid(d)
    aliases = {i: _series_alias(ids[i], g, dates[i], label) for i, g in grids.items()}
    kinds = list(dict.fromkeys([alias] + [aliases[i] for i in sorted(aliases)]))
    if len(kinds) > 1:
        parts = []
        for a in kinds:
            members = [ids[i] for i in range(len(ids))
                       if aliases.get(i, alias if on_grid[i] else None) == a]
            g = grids[next(i for i in sorted(aliases) if aliases[i] == a)]
            more = f" and {len(members) - 1} more" if len(members) > 1 else ""
            parts.append(f"{g.frequency} ({a}): {members[0]!r}{more}")
        raise DataError(f"{label}: the series have different frequencies ({'; '.join(parts)}); a "
                        f"panel has one frequency: split the data by frequency, or resample the "
                        f"odd series")
    freq_name = grids[ref].frequency

    # Missing dates: the single-series rules, series by series (the first one with gaps named).
    out_values, out_dates, notes, ignored, explicit = [], [], [], 0, {}
    gaps = [i for i in range(len(ids)) if not on_grid[i] and len(dates[i]) >= 2]
    for i, (v, d, ln) in enumerate(zip(values, dates, lines)):
        if i in gaps:
            where = f"{label}: series {ids[i]!r}"
            if len(gaps) > 1:
                where += f" (one of {len(gaps)} series with missing or irregular dates)"
            n_before = len(v)
            v, d, g2, note = check_spacing(v, d, ln, missing_dates, where)
            if covariates and len(v) != n_before:
                raise DataError(f"{where}: {len(v) - n_before} missing dates between {_date_text(d[0])} and "
                                f"{_date_text(d[-1])}, and missing_dates='fill' would have to invent the values of "
                                f"its covariates ({', '.join(covariates)}) there; add those rows with their "
                                f"values, or pass missing_dates='ignore' to use the rows as they are, without a "
                                f"season")
            if note:
                notes.append(f"series {ids[i]!r}: {note}")
            ignored += g2 is None
            if not _runs_of(alias, [d], step)[0]:
                explicit[i] = d
        out_values.append(np.ascontiguousarray(v, dtype=np.float64))
        out_dates.append(d)
    if len(notes) > _MAX_LISTED:
        notes = notes[:_MAX_LISTED] + [f"and {len(notes) - _MAX_LISTED} more series"]
    if season == "auto":
        longest = max(range(len(ids)), key=lambda i: len(out_dates[i]))
        g = grids.get(longest) or grid(out_dates[longest])
        season = g.season if len(out_dates[longest]) >= 3 and not ignored else None
        season_source = "inferred" if season else "none"
    else:
        season_source = "given"
    read_info = {**info, "series": len(ids), "frequency": freq_name, "freq": alias,
                 "season": season, "season_source": season_source,
                 "missing_dates": missing_dates, "notes": notes}
    return Panel(name=name, ids=list(ids), values=out_values, starts=[d[0] for d in out_dates],
                 freq=alias, season=season, source=source, read_info=read_info, column=column,
                 explicit_dates=explicit,
                 covariates={c: [np.ascontiguousarray(a, dtype=np.float64) for a in v]
                             for c, v in (covariates or {}).items()})


def _step(d: pd.DatetimeIndex) -> pd.Timedelta:
    """The lower median of the steps (as :func:`fastrnn.forecast.csvread.grid` takes it)."""
    return pd.Timedelta(int(np.sort(np.diff(d.as_unit("ns").asi8))[(len(d) - 2) // 2]), "ns")


def _series_alias(sid, g, d, label) -> str:
    step = _step(d)
    alias = _freq_alias(g.frequency, d, step)
    if alias is None:
        raise DataError(f"{label}: series {sid!r} is {g.frequency} with dates that no pandas "
                        f"frequency gives (e.g. {_date_text(d[0])}); pass dates at the start or "
                        f"the end of each period (e.g. the first of the month)")
    return alias


def _runs_of(alias: str, dates, step: pd.Timedelta) -> list[bool]:
    """For each DatetimeIndex: is it a run of consecutive dates of the offset ``alias`` (whose
    usual step is about ``step``)?"""
    offset = pd.tseries.frequencies.to_offset(alias)
    lo = min(d[0] for d in dates)
    hi = max(d[-1] for d in dates)
    if (hi - lo) / step > 10 * sum(len(d) for d in dates) + 1000:  # far apart: one by one
        return [pd.date_range(d[0], periods=len(d), freq=offset).equals(d) for d in dates]
    t = pd.date_range(lo, hi, freq=offset).as_unit("ns").asi8
    out = []
    for d in dates:
        x = d.as_unit("ns").asi8
        k = int(np.searchsorted(t, x[0]))
        out.append(k + len(x) <= len(t) and bool(np.array_equal(t[k: k + len(x)], x)))
    return out
