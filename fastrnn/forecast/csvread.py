"""Reading a CSV file's text without misreading it; the low-level half of :func:`fastrnn.forecast.datasets.load_csv`.

Each step either decides unambiguously or raises :class:`fastrnn.forecast.datasets.DataError` with a message
that names the line and the keyword argument that settles the question:

* :func:`decode`: UTF-8 (a byte-order mark is dropped), or the given encoding.
* :func:`sniff_sep`: comma, semicolon or tab, from how they split the header and the first rows.
* :func:`tokenize`: one record per row, its line number, never a shifted column: a row with more
  fields than the header is an error; a header row that looks like data is refused.
* :func:`detect_decimal` / :func:`to_numbers`: the decimal mark (``,`` only when the separator is
  not a comma), refusing values that could equally be thousands separators.
* :func:`parse_dates`: ISO dates as pandas reads them; ``dd/mm/yyyy``-like dates read day-first or
  month-first, whichever is the only one that parses or gives a regular spacing.
* :func:`grid`: the spacing of the dates (frequency, missing dates, dates off the grid).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fastrnn.forecast.datasets import DataError, format_lines, coerce_dates

SEPARATORS = (",", ";", "\t")
#: Cells read as missing: pandas' default NA strings (what ``pandas.read_csv`` used to give us).
NA_STRINGS = frozenset({
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
})
_SNIFF_ROWS = 200
# ASCII only: in Python \d also matches other scripts' digits, which no CSV reader takes.
_NUMBER = {
    ".": re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$", re.ASCII),
    ",": re.compile(r"^\s*[+-]?(\d+,?\d*|,\d+)([eE][+-]?\d+)?\s*$", re.ASCII),
}
# Values that are a decimal number or a number with one thousands separator: '112,000', '1.500'.
_THOUSANDS = {".": re.compile(r"^\s*[+-]?[1-9]\d{0,2}\.\d{3}\s*$"),
              ",": re.compile(r"^\s*[+-]?[1-9]\d{0,2},\d{3}\s*$")}
_ISO = re.compile(r"^\s*\d{4}-\d{1,2}(-\d{1,2})?([T ].*)?$")
_DMY = re.compile(r"^\s*(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})(?:([ T])(\d{1,2}:\d{2}(:\d{2})?))?\s*$")
_MONTH_WORD = r"[A-Za-z]{3,9}\.?"
_DATE_SHAPE = re.compile(
    rf"^\s*(\d{{4}}[-/.]\d{{1,2}}([-/.]\d{{1,2}})?|\d{{1,2}}[-/.]\d{{1,2}}[-/.]\d{{2,4}}"
    rf"|\d{{1,2}}[ -]{_MONTH_WORD}[ -]\d{{2,4}}|{_MONTH_WORD} \d{{1,2}},? \d{{4}}|{_MONTH_WORD}[ -]\d{{4}})"
    rf"([ T]\d{{1,2}}:\d{{2}}\S*)?\s*$")
_SEP_NAMES = {",": "','", ";": "';'", "\t": "'\\t'"}


def sep_name(sep: str) -> str:
    """The separator as messages and options write it.

    Parameters
    ----------
    sep : str
        One character.

    Returns
    -------
    str
        ``','``, ``';'``, ``'\\t'`` (quotes included), or the ``repr`` of another character.
    """
    return _SEP_NAMES.get(sep, repr(sep))


def normalize_sep(sep: str | None) -> str | None:
    """A separator as given by the user, checked.

    Parameters
    ----------
    sep : str or None
        One character; ``"\\t"`` (backslash and t, as typed in a shell) and ``"tab"`` mean tab.

    Returns
    -------
    str or None
        The character (``None`` stays ``None``: detect).

    Raises
    ------
    DataError
        Not one character, or a quote, newline, letter or digit.
    """
    if sep is None:
        return None
    s = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(sep, sep)
    if not isinstance(s, str) or len(s) != 1 or s in "\"\r\n" or s.isalnum():
        raise DataError(f"sep={sep!r} is not a separator; pass one character, e.g. sep=';' or "
                        f"sep='\\t' (tab)")
    return s


# ---------------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------------


def decode(data: bytes, encoding: str | None, path) -> tuple[str, str]:
    """The text of a file.

    Parameters
    ----------
    data : bytes
        The file's content.
    encoding : str or None
        Its encoding; ``None``: UTF-8, or ``utf-8-sig`` when it starts with a byte-order mark
        (a BOM is also dropped when UTF-8 is given).
    path
        The file, for messages.

    Returns
    -------
    text : str
    encoding : str
        The encoding that decoded it.

    Raises
    ------
    DataError
        Unknown encoding, bytes that do not decode (with the line and the encoding to pass), a
        UTF-16 byte-order mark, or NUL characters (a binary file).
    """
    if encoding is None:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise DataError(f"{path}: the file is UTF-16 text; pass encoding='utf-16'")
        encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
        given = False
    else:
        given = True
        try:
            import codecs

            if codecs.lookup(encoding).name == "utf-8" and data.startswith(b"\xef\xbb\xbf"):
                encoding = "utf-8-sig"
        except LookupError:
            raise DataError(f"encoding={encoding!r} is not a known encoding; pass e.g. "
                            f"encoding='utf-8' or encoding='latin-1'") from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start: exc.start + 1].hex()
        if given:
            raise DataError(f"{path}: not {encoding} text (byte 0x{byte} at line {line}); pass the "
                            f"file's encoding, e.g. encoding='latin-1' or encoding='cp1252'") from None
        raise DataError(f"{path}: not UTF-8 text (byte 0x{byte} at line {line}); pass its "
                        f"encoding, e.g. encoding='latin-1' (or encoding='cp1252' for Windows "
                        f"files)") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise DataError(f"{path}: not a readable CSV (a NUL character at line {line}: a binary "
                        f"file, or UTF-16 text); pass a text CSV file or its encoding")
    return text, encoding


def _reader(text: str, sep: str):
    return csv.reader(io.StringIO(text, newline=""), delimiter=sep, quotechar='"',
                      doublequote=True, strict=False)


def _records(text: str, sep: str, path, limit: int | None = None):
    """``(first line, fields)`` of every record; blank lines give ``[]``."""
    reader = _reader(text, sep)
    out, prev = [], 0
    try:
        for fields in reader:
            out.append((prev + 1, fields))
            prev = reader.line_num
            if limit is not None and len(out) >= limit:
                break
    except csv.Error as exc:
        raise DataError(f"{path}: not a readable CSV (line {reader.line_num}: {exc})") from None
    return out


def sniff_sep(text: str, path, decimal: str | None = None) -> str:
    """The separator of a CSV text: comma, semicolon or tab.

    Of the three, the one under which the header has two or more fields and every sampled row
    (the first 200) has as many, preferring one that leaves no field holding a tab, then none
    holding a semicolon (a comma inside a field is often a decimal comma; those two are rarely
    data), then the fewest; failing that, the one that splits the header into the most fields (the rows that then
    disagree are reported by :func:`tokenize`). A header that none splits (one column) gets
    the one that splits its rows, else the comma.

    Parameters
    ----------
    text : str
        The file's text.
    path
        The file, for messages.
    decimal : str or None
        The decimal mark, if known: a comma rules the comma out as separator.

    Returns
    -------
    str
    """
    candidates = [s for s in SEPARATORS if not (decimal == "," and s == ",")]
    best, best_key = candidates[0], None
    split_rows = {}
    for sep in candidates:
        recs = [f for _, f in _records(text, sep, path, _SNIFF_ROWS) if f]
        if not recs:
            return best
        n = len(recs[0])
        consistent = all(len(f) == n for f in recs[1:])
        split_rows[sep] = max((len(f) for f in recs[1:]), default=1)
        tabs, semis = ((0 if sep == o else sum(o in cell for f in recs for cell in f))
                       for o in ("\t", ";"))
        key = (n >= 2, tabs == 0, semis == 0, n >= 2 and consistent, -tabs, -semis, n)
        if best_key is None or key > best_key:
            best, best_key = sep, key
    if not best_key[0]:  # one column under every separator
        splitting = [s for s in candidates if split_rows[s] > 1]
        return max(splitting, key=lambda s: split_rows[s]) if splitting else candidates[0]
    return best


# ---------------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------------


@dataclass
class Table:
    """The records of a CSV file as text cells.

    Attributes
    ----------
    columns : list of str
        Unique column names (empty ones ``Unnamed: i``, repeated ones ``x.1``, as pandas names
        them).
    cells : list of list
        One list per data row, padded with ``None`` to ``len(columns)``; missing cells (empty,
        or one of :data:`NA_STRINGS`) are ``None`` as well.
    lines : numpy.ndarray
        The line of the file each row starts on (1-based).
    nfields : numpy.ndarray
        The number of fields of each row as written (0 for a blank line).
    header_line : int or None
        The header's line, ``None`` without a header.
    """

    columns: list
    cells: list  # rows, each padded with None to len(columns)
    lines: np.ndarray  # first line of each row in the file (1-based)
    nfields: np.ndarray  # fields in each row as written (0 for a blank line)
    header_line: int | None

    def frame(self) -> pd.DataFrame:
        """The cells as a DataFrame of ``str`` columns (NaN where missing), indexed by line."""
        index = pd.Index(self.lines, name="line")
        return pd.DataFrame({name: pd.Series([r[i] for r in self.cells], index=index, dtype="str")
                             for i, name in enumerate(self.columns)}, index=index)


def _unique_names(names) -> list[str]:
    """Column names as pandas gives them: empty ones 'Unnamed: i', duplicates 'x.1', 'x.2'."""
    out, seen = [], {}
    for i, name in enumerate(names):
        name = name if name != "" else f"Unnamed: {i}"
        base, k = name, seen.get(name, 0)
        while name in seen:
            k += 1
            name = f"{base}.{k}"
        seen[base] = k
        seen[name] = 0
        out.append(name)
    return out


def _is_number(cell: str) -> bool:
    return bool(_NUMBER["."].match(cell) or _NUMBER[","].match(cell))


def _is_date(cell: str) -> bool:
    """Shaped like a date (``1949-01-01``, ``01/02/1949``, ``1 Jan 1949``, ``Jan 1949``, ...,
    with a time or not) and read as one: column names such as ``T1`` or ``3rd`` are not."""
    return bool(_DATE_SHAPE.match(cell)) and bool(
        coerce_dates(pd.Series([cell], dtype=object)).notna().all())


def _looks_like_data(cells) -> bool:
    """A date in some cell (or in a part of one between commas, semicolons or tabs, in case
    the separator is wrong), or a date or a number in every cell."""
    cells = [c.strip() for c in cells]
    dates = [bool(c) and _is_date(c) for c in cells]
    parts = [p.strip() for c in cells for p in re.split(r"[,;\t]", c)]
    return any(dates) or any(p and _is_date(p) for p in parts) or (
        bool(cells) and all(d or (c and _is_number(c)) for c, d in zip(cells, dates)))


def _generated_names(cells, n: int) -> list[str]:
    """Column names for a file without a header: ``date`` for the first column that holds dates
    (every present cell, of the first 200 rows, a date), ``value`` for the only other column or
    ``value1``, ``value2``, ... for the others, in order."""
    def dates(i):
        present = [r[i].strip() for r in cells[:_SNIFF_ROWS] if r[i] is not None]
        return bool(present) and all(_is_date(c) for c in present)

    at = next((i for i in range(n) if dates(i)), None)
    k = n - 1 if at is not None else n
    values = ["value"] if k == 1 else [f"value{i + 1}" for i in range(k)]
    if at is not None:
        values.insert(at, "date")
    return values


def tokenize(text: str, sep: str, path, header: bool = True) -> Table:
    """The records of a CSV text, never shifted.

    Leading blank lines are skipped and trailing ones dropped; inner blank lines stay as rows
    without fields (so that their values are reported missing, with the line).

    Parameters
    ----------
    text : str
        The file's text.
    sep : str
        The separator.
    path
        The file, for messages.
    header : bool
        Whether the first line holds the column names. Without one, the columns are named
        ``date`` (the first column that holds dates) and ``value`` (the only other column) or
        ``value1``, ``value2``, ... (the others, in order).

    Returns
    -------
    Table

    Raises
    ------
    DataError
        An empty file; a header that looks like data (a date in some cell, or a number or a
        date in every cell); rows
        with more fields than the header (the lines listed, with the fix).
    """
    recs = _records(text, sep, path)
    while recs and not recs[-1][1]:
        recs.pop()
    while recs and not recs[0][1]:
        recs.pop(0)
    if not recs:
        raise DataError(f"{path}: file is empty; expected a CSV with a header row")
    if header:
        header_line, names = recs[0][0], recs[0][1]
        body = recs[1:]
        if _looks_like_data(names):
            raise DataError(
                f"{path}: the first line looks like data ({sep.join(names)!r}), not a header; add a "
                f"header line with the column names, or pass header=False")
    else:
        header_line, body = None, recs
        names = None
    n = len(names) if names is not None else max(len(f) for _, f in body)
    if names is not None:
        extra = [(line, f) for line, f in body if len(f) > n]
        if extra:
            line, f = extra[0]
            where = format_lines([x[0] for x in extra])
            raise DataError(
                f"{path}: not a readable CSV: {where} {'has' if len(extra) == 1 else 'have'} more "
                f"fields than the {n} of the header (line {line}: {sep.join(f)!r}, {len(f)} fields "
                f"with separator {sep_name(sep)}); a value holds the separator: remove thousands "
                f"separators, quote such values, or pass the file's separator, e.g. "
                f"sep={sep_name(';' if sep != ';' else ',')}")
    cells = [[c if c not in NA_STRINGS else None for c in f] + [None] * (n - len(f)) for _, f in body]
    if names is None:
        names = _generated_names(cells, n)
    return Table(columns=_unique_names(names), cells=cells,
                 lines=np.array([line for line, _ in body], dtype=np.int64),
                 nfields=np.array([len(f) for _, f in body], dtype=np.int64),
                 header_line=header_line)


# ---------------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------------


def detect_decimal(df: pd.DataFrame, sep: str, path, skip=()) -> str:
    """The decimal mark of the numbers in a table.

    A point with a comma separator. Otherwise a comma if some numbers are written with a decimal
    comma and none with a point, else a point.

    Parameters
    ----------
    df : pandas.DataFrame
        Text cells, indexed by line (:meth:`Table.frame`).
    sep : str
        The separator.
    path
        The file, for messages.
    skip : collection of str
        Columns not to look at (date columns: ``1949.01`` is not a number).

    Returns
    -------
    str
        ``"."`` or ``","``.

    Raises
    ------
    DataError
        Both marks occur; or every number with the mark could as well have a thousands
        separator (``112,000``: 112 or 112000; with a semicolon separator, ``1.500`` as well).
    """
    if sep == ",":
        return "."
    found = {".": [], ",": []}
    for col in df.columns:
        if col in skip:
            continue
        s = df[col].dropna()
        for mark, other in ((".", ","), (",", ".")):
            hit = s[s.str.contains(mark, regex=False) & ~s.str.contains(other, regex=False)
                    & s.str.match(_NUMBER[mark])]
            found[mark].extend(zip(hit.index, hit))
    if found["."] and found[","]:
        (l1, v1), (l2, v2) = sorted(found["."])[0], sorted(found[","])[0]
        raise DataError(f"{path}: numbers with both decimal marks (line {l1}: {v1!r}, line {l2}: "
                        f"{v2!r}); pass the decimal mark, e.g. decimal=','")
    for mark in (",", "."):
        if found[mark] and (mark == "," or sep == ";"):
            if all(_THOUSANDS[mark].match(v) for _, v in found[mark]):
                line, v = sorted(found[mark])[0]
                as_dec = v.strip().replace(",", ".")
                as_k = v.strip().replace(mark, "")
                raise DataError(
                    f"{path}: values such as {v!r} (line {line}) read as {as_dec} with a decimal "
                    f"{'comma' if mark == ',' else 'point'} or as {as_k} with a thousands "
                    f"separator; pass decimal={mark!r} if it is the decimal mark (thousands "
                    f"separators are not supported: remove them)")
    return "," if found[","] else "."


def to_numbers(raw: pd.Series, decimal: str = ".") -> np.ndarray:
    """Numbers of text cells.

    Parameters
    ----------
    raw : pandas.Series
        Text cells (NaN where missing).
    decimal : str
        ``"."`` or ``","``; with ``","`` a cell holding a point is not a number.

    Returns
    -------
    numpy.ndarray
        float64, NaN where a cell is missing or not a number written with ``decimal``.
    """
    if decimal == ",":
        s = raw.astype(object)
        text = s.dropna().astype(str)
        ok = ~text.str.contains(".", regex=False)
        s = s.copy()
        s[text.index[~ok.to_numpy()]] = None
        s[text.index[ok.to_numpy()]] = text[ok].str.replace(",", ".", regex=False)
        raw = s
    # Python's float() rounds correctly; pd.to_numeric's parser does not in pandas 2 (it is off by
    # one unit in the last place for some inputs), and a CSV must read back exactly what it holds.
    cells = raw.to_numpy(dtype=object)
    text = [isinstance(v, str) and _NUMBER["."].match(v) is not None for v in cells]
    out = np.full(len(cells), np.nan)
    ok = np.flatnonzero(text)
    out[ok] = np.fromiter((float(cells[i]) for i in ok), dtype=np.float64, count=len(ok))
    return out


# ---------------------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------------------


@dataclass
class Grid:
    """How a sorted DatetimeIndex is spaced (see :func:`grid`).

    Attributes
    ----------
    frequency : str or None
        ``"monthly"``, ``"quarterly"``, ``"daily"``, ``"business daily"``, ``"every 10min"``,
        ...; ``"irregular"`` with repeated dates; ``None`` for fewer than two dates.
    season : int or None
        12 monthly, 4 quarterly, 24 hourly, else ``None``.
    points : pandas.DatetimeIndex or None
        The regular grid from the first to the last date (``None`` if not built).
    missing : pandas.DatetimeIndex
        Grid points without a date.
    off_grid : pandas.DatetimeIndex
        Dates not on the grid.
    checked : bool
        ``False`` where gaps are allowed (business days).
    """

    frequency: str | None  # "monthly", "daily", "every 10min", ...; None for fewer than 2 dates
    season: int | None  # 12 monthly, 4 quarterly, 24 hourly, else None
    points: pd.DatetimeIndex | None  # the regular grid from the first to the last date
    missing: pd.DatetimeIndex  # grid points without a date
    off_grid: pd.DatetimeIndex  # dates not on the grid
    checked: bool = True  # False: gaps are allowed (business days)

    @property
    def regular(self) -> bool:
        """No date missing from the grid and none off it."""
        return not len(self.missing) and not len(self.off_grid)


_MONTHLY = {1: ("monthly", 12), 3: ("quarterly", 4), 6: ("half-yearly", None), 12: ("yearly", None)}
_MAX_GRID_FACTOR = 10


def grid(dates: pd.DatetimeIndex) -> Grid:
    """The spacing of dates: their usual step as a frequency, and the dates it misses.

    The usual step is the lower median of the steps. 28-31 days is monthly, 89-92 quarterly,
    181-184 half-yearly, 365-366 yearly, by calendar (first of the month, last of the month, or the first date's day);
    any other step is a fixed one. Business-daily series (weekdays only, steps of one day and
    of three over weekends) are not checked for gaps: market holidays are normal. A grid more
    than ten times longer than the series is not built: its dates all count as off the grid.

    Parameters
    ----------
    dates : pandas.DatetimeIndex
        Sorted.

    Returns
    -------
    Grid
    """
    empty = pd.DatetimeIndex([], dtype=dates.dtype)
    n = len(dates)
    if n < 2:
        return Grid(None, None, dates, empty, empty)
    if not dates.is_unique:
        return Grid("irregular", None, None, empty, dates[dates.duplicated()])
    start, end = dates[0], dates[-1]
    steps = np.sort((dates[1:] - dates[:-1]).to_numpy())
    step = pd.Timedelta(steps[(len(steps) - 1) // 2])  # the lower median: gaps only lengthen it
    days = step / pd.Timedelta(days=1)
    months = next((m for m, (lo, hi) in {1: (28, 31), 3: (89, 92), 6: (181, 184),
                                           12: (365, 366)}.items() if lo <= days <= hi), None)
    season = None
    if months is not None:
        name, season = _MONTHLY[months]
        span = (end.year - start.year) * 12 + end.month - start.month
        k = span // months + 1
        if k > _MAX_GRID_FACTOR * n + 100:
            return Grid(name, season, None, empty, dates)
        if (dates.day == 1).all() and (dates == dates.normalize()).all():
            points = pd.date_range(start, periods=k, freq=f"{months}MS")
        elif dates.is_month_end.all() and (dates == dates.normalize()).all():
            points = pd.date_range(start, periods=k, freq=f"{months}ME")
        else:
            points = pd.DatetimeIndex([start + pd.DateOffset(months=months * i) for i in range(k)])
        points = points.as_unit(dates.unit)
    else:
        if days == 1 and n >= 3 and (dates.day_of_week < 5).all() and (dates == dates.normalize()).all():
            if ((dates[1:] - dates[:-1]) == pd.Timedelta(days=3)).any():
                return Grid("business daily", None, None, empty, empty, checked=False)
        named = {pd.Timedelta(hours=1): ("hourly", 24), pd.Timedelta(days=1): ("daily", None),
                 pd.Timedelta(days=7): ("weekly", None)}
        if step in named:
            name, season = named[step]
        else:
            try:
                name = f"every {pd.tseries.frequencies.to_offset(step).freqstr}"
            except ValueError:
                name = f"every {step}"
        k = int((end - start) // step) + 1
        if k > _MAX_GRID_FACTOR * n + 100:
            return Grid(name, season, None, empty, dates)
        points = pd.date_range(start, periods=k, freq=step).as_unit(dates.unit)
    points = points[points <= end]
    return Grid(name, season, points, points.difference(dates), dates.difference(points))


def _dmy_formats(cells: pd.Series):
    """``(day-first, month-first)`` formats when every cell is dd/mm/yyyy-like, else None."""
    m = cells.str.extract(_DMY)
    if m[0].isna().any():
        return None
    seps, years, times = set(m[1]), set(m[3].str.len()), set(m[5].fillna(""))
    clock = set(m[6].fillna("").map(lambda t: t.count(":")))
    if len(seps) != 1 or len(years) != 1 or len(times) != 1 or len(clock) != 1:
        return None
    s, y, t, c = seps.pop(), "%Y" if years.pop() == 4 else "%y", times.pop(), clock.pop()
    tail = f"{t}%H:%M" + (":%S" if c == 2 else "") if t else ""
    return f"%d{s}%m{s}{y}{tail}", f"%m{s}%d{s}{y}{tail}"


def _with_format(cells: pd.Series, fmt: str) -> pd.Series:
    return pd.to_datetime(cells.str.strip(), format=fmt, errors="coerce")


def parse_dates(raw: pd.Series, col: str, path,
                date_format: str | None = None) -> tuple[pd.Series, str | None, str | None]:
    """Dates of text cells, day-first or month-first only when that is certain.

    With ``date_format``, that format. Otherwise ISO dates (``YYYY-MM-DD``, ``YYYY-MM``, with a
    time or not) as pandas reads them; dates such as ``01/02/1949``, ``01.02.1949`` or
    ``01-02-1949`` (two-digit years too, as ``strptime`` reads them) day-first or month-first,
    whichever alone reads every cell, or else whichever alone gives a regular spacing
    (:func:`grid`); other forms as pandas infers them from the first cell.

    Parameters
    ----------
    raw : pandas.Series
        Text cells without missing ones, indexed by line.
    col : str
        The column's name, for messages.
    path
        The file, for messages.
    date_format : str or None
        A ``strptime`` format.

    Returns
    -------
    dates : pandas.Series
        datetime64 values, same index.
    format : str or None
        The resolved format of day/month dates, else ``date_format`` (``None``: nothing to fix).
    note : str or None
        How the day/month order was decided, e.g. ``"day-first: the only regular reading"``.

    Raises
    ------
    DataError
        Cells that do not parse (their lines listed); both orders plausible (with the two
        ``date_format`` values to choose from); an unusable ``date_format``.
    """
    cells = raw.astype(str)
    fmt, note = date_format, None
    if date_format is not None:
        try:
            parsed = _with_format(cells, date_format)
        except (ValueError, TypeError) as exc:
            raise DataError(f"date_format={date_format!r} is not a usable date format "
                            f"({' '.join(str(exc).split())}); pass e.g. date_format='%d/%m/%Y'") \
                from None
        hint = f"they do not match date_format={date_format!r}; fix them or pass the right format"
    else:
        formats = None if cells.str.match(_ISO).any() else _dmy_formats(cells)
        hint = "use one date format throughout"
        if formats is None:
            parsed = coerce_dates(cells)
        else:
            parsed, fmt, note = _day_or_month_first(cells, formats, col, path)
    bad = parsed.isna().to_numpy()
    if bad.any():
        lines = raw.index[bad]
        raise DataError(
            f"{path}: date column {col!r} has unparseable dates at {format_lines(lines)} "
            f"(e.g. {raw[lines[0]]!r}); {hint}")
    return parsed, fmt, note


def _day_or_month_first(cells, formats, col, path):
    (dfmt, dnames), (mfmt, mnames) = (formats[0], "day-first"), (formats[1], "month-first")
    d, m = _with_format(cells, dfmt), _with_format(cells, mfmt)
    d_ok, m_ok = d.notna().all(), m.notna().all()
    if d_ok and m_ok:
        if (d == m).all():
            return d, None, None  # every day equals its month: nothing to decide
        gd = grid(pd.DatetimeIndex(d).sort_values())
        gm = grid(pd.DatetimeIndex(m).sort_values())
        if gd.regular != gm.regular:
            parsed, fmt, name = (d, dfmt, dnames) if gd.regular else (m, mfmt, mnames)
            return parsed, fmt, f"{name}: the only regular reading"
        k = np.flatnonzero((d != m).to_numpy())[0]
        line, cell = cells.index[k], cells.iloc[k].strip()
        both = "regular" if gd.regular else "irregular"
        raise DataError(
            f"{path}: dates such as {cell!r} (line {line}) read day-first as "
            f"{d.iloc[k].date()} or month-first as {m.iloc[k].date()}, and both readings give a "
            f"{both} series; pass date_format={dfmt!r} (day-first) or date_format={mfmt!r} "
            f"(month-first)")
    if d_ok or m_ok:
        parsed, fmt, name, other = (d, dfmt, dnames, m) if d_ok else (m, mfmt, mnames, d)
        k = np.flatnonzero(other.isna().to_numpy())[0]
        return parsed, fmt, f"{name}: {cells.iloc[k].strip()!r} cannot be read otherwise"
    # Neither reads every cell: report the cells of the reading that fails least.
    return (d if d.isna().sum() <= m.isna().sum() else m), None, None
