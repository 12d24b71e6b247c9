"""Property test of the CSV reader: whatever table is written, in whatever dialect and with
whatever defect, ``load_csv`` either returns exactly the series that was written or raises
``DataError`` -- never another exception, never a different series.

Tables: 3 to 30 rows at a daily, monthly or quarterly spacing, the dates written ISO, day-first
or month-first (``/``, ``.`` or ``-``), the values integers or floats (negative ones included;
``repr`` or two decimals), sometimes a text column, the columns in either order, the rows
sometimes newest first. Written with a comma, semicolon or tab, a decimal point or comma,
no/minimal/full quoting, UTF-8, UTF-8 with BOM or Latin-1 (then with a non-ASCII column name).
Defects: a row with an extra field, a row missing its last field, a blank line, no header line.
The right reading options (``sep``, ``decimal``, ``encoding``, ``date_format``, ``header``) are
each passed or not at random. The cases are derandomized (the same on every run of a given
commit, no example database; see :func:`_import_all_of_fastrnn`), so CI is reproducible.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis")  # in the `test` extra
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fastrnn  # noqa: E402
from fastrnn.forecast.datasets import DataError, load_csv  # noqa: E402


def _import_all_of_fastrnn():
    """Hypothesis mixes the constants of the local modules already imported into what it draws,
    so the cases would depend on which tests ran before. With all of fastrnn imported, they
    are the same whether this file runs alone or in the whole suite."""
    import importlib
    import pkgutil

    for mod in pkgutil.walk_packages(fastrnn.__path__, "fastrnn."):
        importlib.import_module(mod.name)


_import_all_of_fastrnn()
N_CASES = 400

FREQS = {"daily": "D", "monthly": "MS", "quarterly": "QS"}
DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y",
                "%m.%d.%Y"]
VALUE_NAMES = ["value", "Passengers", "Größe", "Temp °C"]
DATE_NAMES = ["Date", "Month", "date", "timestamp"]
NOTES = st.sampled_from(["a", "ok", "b c", "x,y", "x;y", "n/a", "q"])
INTS = st.integers(-10**7, 10**7)
FLOATS = st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)


@st.composite
def cases(draw):
    n = draw(st.integers(3, 30))
    freq = draw(st.sampled_from(sorted(FREQS)))
    start = pd.Timestamp(draw(st.dates(pd.Timestamp("1950-01-01").date(),
                                       pd.Timestamp("2030-12-31").date())))
    dates = pd.date_range(start, periods=n, freq=FREQS[freq])
    kind = draw(st.sampled_from(["int", "repr", "2f"]))
    if kind == "int":
        numbers = draw(st.lists(INTS, min_size=n, max_size=n))
        texts = [str(v) for v in numbers]
    else:
        numbers = draw(st.lists(FLOATS, min_size=n, max_size=n))
        texts = [repr(v) if kind == "repr" else f"{v:.2f}" for v in numbers]
    values = np.array([float(t) for t in texts])  # what the text says
    sep = draw(st.sampled_from([",", ";", "\t"]))
    decimal = draw(st.sampled_from([".", ","]))
    if decimal == ",":
        texts = [t.replace(".", ",") for t in texts]
    date_format = draw(st.sampled_from(DATE_FORMATS))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1"]))
    vname = draw(st.sampled_from(VALUE_NAMES if encoding == "latin-1" else VALUE_NAMES[:2]))
    dname = draw(st.sampled_from(DATE_NAMES))
    with_note = draw(st.booleans())
    date_first = draw(st.booleans())
    header = [dname, vname] if date_first else [vname, dname]
    rows = [[d.strftime(date_format), t] if date_first else [t, d.strftime(date_format)]
            for d, t in zip(dates, texts)]
    if with_note:
        header.append("note")
        for r in rows:
            r.append(draw(NOTES))
    if draw(st.booleans()):
        rows = rows[::-1]  # newest first
    defects = draw(st.sets(st.sampled_from(["extra", "short", "blank", "headerless"]), max_size=2))
    quoting = draw(st.sampled_from(["none", "minimal", "all"]))
    opts = {}
    if draw(st.booleans()):
        opts["sep"] = sep
    if draw(st.booleans()):
        opts["decimal"] = decimal
    if draw(st.booleans()):
        opts["encoding"] = encoding
    if draw(st.booleans()):
        opts["date_format"] = date_format
    if draw(st.booleans()):
        opts["header"] = "headerless" not in defects
    k = draw(st.integers(0, n - 1))
    return dict(dates=dates, values=values, header=header, rows=rows, sep=sep, quoting=quoting,
                encoding=encoding, defects=defects, k=k, opts=opts,
                missing_file=draw(st.integers(0, 49)) == 17)


def render(case) -> bytes:
    sep, quoting = case["sep"], case["quoting"]
    rows = [list(r) for r in case["rows"]]
    k = case["k"]
    if "extra" in case["defects"]:
        rows[k].append("7")
    if "short" in case["defects"]:
        rows[k].pop()
    lines = [] if "headerless" in case["defects"] else [case["header"]]
    lines += rows
    buf = io.StringIO(newline="")
    if quoting == "none":
        buf.write("".join(sep.join(r) + "\n" for r in lines))
    else:
        mode = csv.QUOTE_ALL if quoting == "all" else csv.QUOTE_MINIMAL
        csv.writer(buf, delimiter=sep, quoting=mode, lineterminator="\n").writerows(lines)
    text = buf.getvalue()
    if "blank" in case["defects"]:
        at = text.split("\n")
        at.insert(1 + k % max(1, len(at) - 2), "")
        text = "\n".join(at)
    return text.encode(case["encoding"])


@settings(max_examples=N_CASES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_read_exactly_or_data_error(tmp_path_factory, case):
    path = tmp_path_factory.mktemp("fuzz") / "t.csv"
    if case["missing_file"]:
        with pytest.raises(FileNotFoundError):
            load_csv(path, **case["opts"])
        return
    path.write_bytes(render(case))
    try:
        ds = load_csv(path, **case["opts"])
    except DataError:
        return
    assert ds.dates is not None, "the date column was lost"
    assert list(ds.dates) == list(case["dates"]), (list(ds.dates[:3]), list(case["dates"][:3]))
    np.testing.assert_array_equal(ds.values, case["values"])
    assert ds.values.dtype == np.float64
