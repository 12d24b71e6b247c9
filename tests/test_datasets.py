"""Bundled datasets and the CSV loader."""

import hashlib
import re
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from fastrnn.forecast import datasets
from fastrnn.forecast.datasets import DataError, Dataset, load, load_csv


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------
# Bundled data
# ---------------------------------------------------------------------------


def test_names():
    assert datasets.names() == ["airline", "temperature", "stock"]


def test_bundled_files_unchanged():
    """The CSVs match the SHA-256 sums in PROVENANCE.md, which ships with them."""
    data = resources.files("fastrnn").joinpath("data")
    provenance = data.joinpath("PROVENANCE.md").read_text(encoding="utf-8")
    sums = dict((f, h) for h, f in re.findall(r"^([0-9a-f]{64})  (\S+)$", provenance, re.M))
    assert set(sums) == {"airline-passengers.csv", "daily-min-temperatures.csv", "msft-daily.csv"}
    for fname, digest in sums.items():
        assert hashlib.sha256(data.joinpath(fname).read_bytes()).hexdigest() == digest


@pytest.mark.parametrize("name, rows, first, last, column, season", [
    ("airline", 144, "1949-01-01", "1960-12-01", "Passengers", 12),
    ("temperature", 3650, "1981-01-01", "1990-12-31", "Temp", 365),
    ("stock", 1980, "2010-01-04", "2017-11-10", "Close", None),
])
def test_load_bundled(name, rows, first, last, column, season):
    ds = load(name)
    assert isinstance(ds, Dataset)
    assert ds.name == name and ds.column == column and ds.season == season
    assert len(ds) == rows == len(ds.values) == len(ds.dates)
    assert ds.values.dtype == np.float64 and ds.values.ndim == 1
    assert np.isfinite(ds.values).all()
    assert isinstance(ds.dates, pd.DatetimeIndex) and ds.dates.is_monotonic_increasing
    assert ds.start == pd.Timestamp(first) and ds.end == pd.Timestamp(last)
    assert ds.source and "csv" not in ds.source  # an attribution, not a path
    s = ds.to_series()
    assert s.name == column and (s.index == ds.dates).all()


def test_airline_known_values():
    v = load("airline").values
    assert v[:4].tolist() == [112, 118, 132, 129] and v[-1] == 432


def test_stock_range_override():
    full = load("stock", start="1986-01-01")
    assert len(full) == 7983 and full.start == pd.Timestamp("1986-03-13")
    year = load("stock", start="2015", end="2015")  # partial dates, inclusive
    assert year.start.year == year.end.year == 2015 and len(year) == 252
    assert len(load("stock", start="1986", end="2009-12-31")) == 7983 - 1980
    with pytest.raises(DataError, match="no rows between start=2010-01-01 and end=2009-12-31"):
        load("stock", end="2009-12-31")  # the default start still applies


def test_load_range_on_other_dataset():
    ds = load("airline", start="1950-01", end="1950-12")
    assert len(ds) == 12 and ds.values[0] == 115


def test_info():
    info = datasets.info()
    assert [d["name"] for d in info] == datasets.names() + datasets.panel_names()
    assert [d["kind"] for d in info] == ["series"] * 3 + ["panel"] * 2
    info = [d for d in info if d["kind"] == "series"]  # the panels: tests/test_panel.py
    by = {d["name"]: d for d in info}
    assert by["airline"]["rows"] == 144 and by["temperature"]["rows"] == 3650
    assert by["stock"]["rows"] == 1980 and by["stock"]["default_start"] == "2010-01-01"
    assert by["stock"]["start"] == "2010-01-04" and by["stock"]["end"] == "2017-11-10"
    for d in info:
        assert {"description", "column", "frequency", "season", "source"} <= set(d)


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'foo'.*airline, temperature, stock"):
        load("foo")
    assert issubclass(DataError, ValueError)


# ---------------------------------------------------------------------------
# load_csv: detection
# ---------------------------------------------------------------------------


def test_load_csv_autodetect_bundled_file():
    path = resources.files("fastrnn").joinpath("data", "airline-passengers.csv")
    with resources.as_file(path) as p:
        ds = load_csv(p)
    assert ds.column == "Passengers" and len(ds) == 144 and ds.name == "airline-passengers"
    assert ds.season == 12  # inferred from monthly spacing
    assert ds.dates[0] == pd.Timestamp("1949-01-01")


def test_quoted_csv_without_trailing_newline(tmp_path):
    p = write(tmp_path, '"Date","Temp"\n"1981-01-01",20.7\n"1981-01-02",17.9')
    ds = load_csv(p)
    assert ds.values.tolist() == [20.7, 17.9] and ds.season is None  # daily: no guess


@pytest.mark.parametrize("date_name", ["timestamp", "Month", "trade_date", "Datetime", "ds"])
def test_date_column_by_name(tmp_path, date_name):
    p = write(tmp_path, f"value,{date_name}\n1.5,2020-01-01\n2.5,2020-01-02\n")
    ds = load_csv(p)
    assert ds.column == "value"
    assert ds.dates.tolist() == [pd.Timestamp("2020-01-01"), pd.Timestamp("2020-01-02")]


def test_unnamed_first_column_dates(tmp_path):
    s = pd.Series([3.0, 1.0, 2.0], index=pd.date_range("2021-03-01", periods=3), name="price")
    p = tmp_path / "dump.csv"
    s.to_csv(p)  # index written without a name -> "Unnamed: 0" on reading
    ds = load_csv(p)
    assert ds.column == "price" and ds.values.tolist() == [3.0, 1.0, 2.0]
    assert (ds.dates == s.index).all()


def test_unnamed_integer_index_is_not_a_value(tmp_path):
    p = tmp_path / "dump.csv"
    pd.DataFrame({"y": [0.5, 0.25, 0.125]}).to_csv(p)  # "Unnamed: 0" = 0, 1, 2
    ds = load_csv(p)
    assert ds.column == "y" and ds.dates is None and ds.values.tolist() == [0.5, 0.25, 0.125]


def test_numeric_day_counter_is_not_dates_nor_value(tmp_path):
    p = write(tmp_path, "day,sales\n1,10\n2,12\n3,9\n")
    ds = load_csv(p)
    assert ds.column == "sales" and ds.dates is None and ds.values.tolist() == [10, 12, 9]


def test_explicit_columns(tmp_path):
    p = write(tmp_path, "when,a,b\n2020-01-02,1,10\n2020-01-03,2,20\n")
    ds = load_csv(p, column="b", date_column="when")
    assert ds.values.tolist() == [10, 20] and ds.dates[0] == pd.Timestamp("2020-01-02")
    assert load_csv(p, column="a").dates is None  # 'when' is not a date-like name


def test_sorts_by_date(tmp_path):
    p = write(tmp_path, "Date,Close\n2020-01-03,3\n2020-01-01,1\n2020-01-02,2\n")
    ds = load_csv(p)
    assert ds.values.tolist() == [1, 2, 3] and ds.dates.is_monotonic_increasing


def test_range_filter(tmp_path):
    p = write(tmp_path, "Date,v\n2020-01-01,1\n2020-01-02,2\n2020-01-03,3\n2020-01-04,4\n")
    assert load_csv(p, start="2020-01-02", end="2020-01-03").values.tolist() == [2, 3]
    assert load_csv(p, start="2020-01-03").values.tolist() == [3, 4]


# ---------------------------------------------------------------------------
# load_csv: errors
# ---------------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(FileNotFoundError) as exc:
        load_csv(path)
    assert exc.value.filename == str(path) and "not found" in exc.value.strerror


def test_missing_value_column(tmp_path):
    p = write(tmp_path, "Date,Open,Close\n2020-01-01,1,2\n")
    with pytest.raises(DataError, match=r"no value column 'Price'; columns are: Date, Open, Close"):
        load_csv(p, column="Price")


def test_missing_date_column(tmp_path):
    p = write(tmp_path, "Date,Close\n2020-01-01,2\n")
    with pytest.raises(DataError, match=r"no date column 'Day'; columns are: Date, Close"):
        load_csv(p, date_column="Day")


def test_several_numeric_columns(tmp_path):
    p = write(tmp_path, "Date,Open,Close\n2020-01-01,1,2\n")
    with pytest.raises(DataError, match=r"several numeric columns \(Open, Close\)"):
        load_csv(p)


def test_no_numeric_column(tmp_path):
    p = write(tmp_path, "Date,name,kind\n2020-01-01,a,x\n2020-01-02,b,y\n")
    with pytest.raises(DataError, match=r"no numeric column found \(columns: Date, name, kind\)"):
        load_csv(p)


def test_single_text_column_reports_lines(tmp_path):
    p = write(tmp_path, "Date,name\n2020-01-01,a\n2020-01-02,b\n")
    with pytest.raises(DataError, match=r"'name' has non-numeric values at lines 2, 3"):
        load_csv(p)


def test_non_numeric_values_give_lines(tmp_path):
    p = write(tmp_path, "Date,v\n2020-01-01,1\n2020-01-02,oops\n2020-01-03,3\n2020-01-04,inf\n")
    with pytest.raises(DataError, match=r"'v' has non-numeric values at lines 3, 5 \(e.g. 'oops'\)"):
        load_csv(p)


def test_missing_values_give_lines(tmp_path):
    p = write(tmp_path, "Date,v\n2020-01-01,1\n2020-01-02,\n2020-01-03,3\n")
    with pytest.raises(DataError, match=r"'v' has missing values at line 3;"):
        load_csv(p)


def test_blank_line_counts_as_missing(tmp_path):
    p = write(tmp_path, "v\n1\n2\n\n4\n\n\n")  # trailing blank lines are fine
    with pytest.raises(DataError, match=r"missing values at line 4;"):
        load_csv(p)
    assert load_csv(write(tmp_path, "v\n1\n2\n\n", "ok.csv")).values.tolist() == [1, 2]


def test_many_bad_lines_are_abbreviated(tmp_path):
    p = write(tmp_path, "Date,v\n" + "".join(f"2020-01-{i + 1:02d},1\n" for i in range(3))
              + "".join(f"2020-02-{i + 1:02d},x\n" for i in range(8)))
    with pytest.raises(DataError, match=r"lines 5, 6, 7, 8, 9 and 3 more"):
        load_csv(p)


def test_bad_dates_give_lines(tmp_path):
    p = write(tmp_path, "Date,v\n2020-01-01,1\nsoon,2\n2020-01-03,3\n")
    with pytest.raises(DataError, match=r"date column 'Date' has unparseable dates at line 3"):
        load_csv(p)


def test_empty_date_gives_line(tmp_path):
    p = write(tmp_path, "Date,v\n2020-01-01,1\n,2\n")
    with pytest.raises(DataError, match=r"date column 'Date' is empty at line 3"):
        load_csv(p)


def test_duplicate_dates(tmp_path):
    p = write(tmp_path, "Date,v\n2020-01-01,1\n2020-01-02,2\n2020-01-02,3\n")
    with pytest.raises(DataError, match=r"duplicate dates at lines 3, 4"):
        load_csv(p)


def test_empty_file_and_header_only(tmp_path):
    with pytest.raises(DataError, match="file is empty"):
        load_csv(write(tmp_path, ""))
    with pytest.raises(DataError, match="no data rows"):
        load_csv(write(tmp_path, "Date,v\n", "h.csv"))


def test_ragged_csv(tmp_path):
    with pytest.raises(DataError, match="not a readable CSV"):
        load_csv(write(tmp_path, "a,b\n1,2\n1,2,3,4\n"))


def test_range_errors(tmp_path):
    p = write(tmp_path, "Date,v\n2020-01-01,1\n2020-01-02,2\n")
    with pytest.raises(DataError, match=r"no rows between .* covers 2020-01-01 to 2020-01-02"):
        load_csv(p, start="2021-01-01")
    with pytest.raises(DataError, match=r"start='someday' is not a date"):
        load_csv(p, start="someday")
    q = write(tmp_path, "v\n1\n2\n", "nodates.csv")
    with pytest.raises(DataError, match=r"start/end need a date column.*columns: v"):
        load_csv(q, end="2020-01-01")


def test_value_column_is_date_column(tmp_path):
    p = write(tmp_path, "Date,v\n2020-01-01,1\n")
    with pytest.raises(DataError, match="is the date column"):
        load_csv(p, column="Date")
