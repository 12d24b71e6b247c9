"""The CSV reader never misreads: each file that fastrnn used to misread silently, written out
as it was, is now read correctly or refused with an error that names the fix.

The expected series are built here from the shipped airline file read with Python's own ``csv``
module (not with the reader under test), then written in the problematic form.
"""

from __future__ import annotations

import csv
import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from fastrnn.cli import main
from fastrnn.forecast import datasets
from fastrnn.forecast.datasets import DataError, load_csv

FAST = ["--epochs", "1", "--hidden", "4", "--no-plot"]


def _shipped(name):
    """``(dates, values)`` of a shipped CSV, read with the standard library only."""
    ref = resources.files("fastrnn").joinpath("data", name)
    with ref.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def _airline():
    _, rows = _shipped("airline-passengers.csv")
    dates = pd.DatetimeIndex([pd.Timestamp(f"{d}-01") for d, _ in rows])
    values = np.array([float(v) for _, v in rows])
    return dates, values


DATES, VALUES = _airline()


def write(tmp_path, text, name="data.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def table(fmt_date, fmt_value, sep=",", header="Month,Passengers", dates=DATES, values=VALUES):
    head = f"{header.replace(',', sep)}\n" if header else ""
    return head + "".join(f"{fmt_date(d)}{sep}{fmt_value(v)}\n" for d, v in zip(dates, values))


def iso(d):
    return f"{d:%Y-%m-%d}"


def assert_series(ds, dates, values):
    assert ds.dates.equals(pd.DatetimeIndex(dates)), (ds.dates[:3], dates[:3])
    np.testing.assert_array_equal(ds.values, values)


# ---------------------------------------------------------------------------------------------------
# Misread 1: rows with one more field than the header
# ---------------------------------------------------------------------------------------------------


def test_semicolon_with_decimal_comma_is_read_as_such(tmp_path):
    """Was: the dates became the index and the series was the constant 5."""
    p = write(tmp_path, table(iso, lambda v: f"{int(v)},5", sep=";"))
    ds = load_csv(p)
    assert_series(ds, DATES, VALUES + 0.5)
    assert ds.read_info["sep"] == ";" and ds.read_info["decimal"] == ","
    assert ds.season == 12 and ds.read_info["season_source"] == "inferred"


def test_unquoted_thousands_is_an_error_naming_the_line(tmp_path):
    """Was: the series was the constant 0 ("000")."""
    p = write(tmp_path, table(iso, lambda v: f"{int(v)},000"))
    with pytest.raises(DataError, match=r"lines 2, 3, 4, 5, 6 and 139 more have more fields than "
                                        r"the 2 of the header \(line 2: '1949-01-01,112,000'.*"
                                        r"remove thousands separators, quote such values, or pass "
                                        r"the file's separator, e\.g\. sep=';'"):
        load_csv(p)


def test_one_extra_field_in_one_row(tmp_path):
    text = "Date,v\n2020-01-01,1\n2020-01-02,2,7\n2020-01-03,3\n"
    with pytest.raises(DataError, match=r"line 3 has more fields than the 2 of the header"):
        load_csv(write(tmp_path, text))


def test_quoted_thousands_is_not_a_number(tmp_path):
    p = write(tmp_path, 'Date,v\n2020-01-01,"1,000"\n2020-01-02,"2,000"\n')
    with pytest.raises(DataError, match=r"non-numeric values at lines 2, 3 \(e\.g\. '1,000'\)"):
        load_csv(p)


def test_thousands_or_decimal_comma_is_asked(tmp_path):
    p = write(tmp_path, "Date;v\n2020-01-01;112,000\n2020-01-02;118,000\n")
    with pytest.raises(DataError, match=r"'112,000' \(line 2\) read as 112\.000 with a decimal comma "
                                        r"or as 112000 with a thousands separator; pass decimal=','"):
        load_csv(p)
    assert load_csv(p, decimal=",").values.tolist() == [112.0, 118.0]


def test_mixed_decimal_marks_are_an_error(tmp_path):
    p = write(tmp_path, "Date;v\n2020-01-01;1,5\n2020-01-02;2.5\n")
    with pytest.raises(DataError, match=r"both decimal marks \(line 3: '2\.5', line 2: '1,5'\)"):
        load_csv(p)


def test_short_row_missing_the_value_is_a_missing_value(tmp_path):
    p = write(tmp_path, "Date,v\n2020-01-01,1\n2020-01-02\n2020-01-03,3\n")
    with pytest.raises(DataError, match=r"column 'v' has missing values at line 3; fill or remove"):
        load_csv(p)


def test_short_row_missing_another_field_is_an_error(tmp_path):
    p = write(tmp_path, "Date,v,note\n2020-01-01,1,a\n2020-01-02,2\n2020-01-03,3,c\n")
    with pytest.raises(DataError, match=r"line 3 has fewer fields than the 3 of the header "
                                        r"\(line 3: 2 fields\)"):
        load_csv(p, column="v")
    q = write(tmp_path, "v,Date\n1,2020-01-01\n2\n", "q.csv")
    with pytest.raises(DataError, match=r"line 3 has fewer fields"):
        load_csv(q)


# ---------------------------------------------------------------------------------------------------
# Misread 2: day-first dates
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, sep", [("%d/%m/%Y", ","), ("%d.%m.%Y", ";"), ("%d-%m-%Y", "\t")])
def test_day_first_monthly_dates(tmp_path, fmt, sep):
    """Was: month-first, a daily series 1949-01-01 ... 1960-01-12 without season."""
    p = write(tmp_path, table(lambda d: d.strftime(fmt), lambda v: f"{v:g}", sep=sep))
    ds = load_csv(p)
    assert_series(ds, DATES, VALUES)
    ri = ds.read_info
    assert ri["date_format"] == fmt and ri["date_note"] == "day-first: the only regular reading"
    assert ri["frequency"] == "monthly" and ds.season == 12


def test_month_first_monthly_dates(tmp_path):
    p = write(tmp_path, table(lambda d: f"{d:%m/%d/%Y}", lambda v: f"{v:g}"))
    ds = load_csv(p)
    assert_series(ds, DATES, VALUES)
    assert ds.read_info["date_note"] == "month-first: the only regular reading"


def test_day_first_when_only_that_parses(tmp_path):
    days = pd.date_range("2020-01-01", periods=40)
    p = write(tmp_path, "Date,v\n" + "".join(f"{d:%d/%m/%Y},{i}\n" for i, d in enumerate(days)))
    ds = load_csv(p)
    assert_series(ds, days, np.arange(40.0))
    assert ds.read_info["date_note"] == "day-first: '13/01/2020' cannot be read otherwise"


def test_ambiguous_dates_ask_for_a_format(tmp_path):
    text = "Date,v\n01/01/2020,1\n02/01/2020,2\n03/01/2020,3\n"  # daily day-first or monthly
    p = write(tmp_path, text)
    with pytest.raises(DataError, match=r"'02/01/2020' \(line 3\) read day-first as 2020-01-02 or "
                                        r"month-first as 2020-02-01, and both readings give a "
                                        r"regular series; pass date_format='%d/%m/%Y'"):
        load_csv(p)
    assert load_csv(p, date_format="%d/%m/%Y").dates[-1] == pd.Timestamp("2020-01-03")
    assert load_csv(p, date_format="%m/%d/%Y").dates[-1] == pd.Timestamp("2020-03-01")


def test_iso_dates_are_never_ambiguous(tmp_path):
    days = pd.date_range("2020-01-01", periods=12)
    p = write(tmp_path, "Date,v\n" + "".join(f"{d:%Y-%m-%d},{i}\n" for i, d in enumerate(days)))
    ds = load_csv(p)
    assert_series(ds, days, np.arange(12.0))
    assert ds.read_info["date_format"] is None and ds.read_info["date_note"] is None


def test_date_format_mismatch_lists_lines(tmp_path):
    p = write(tmp_path, "Date,v\n2020-01-01,1\n2020-01-02,2\n")
    with pytest.raises(DataError, match=r"unparseable dates at lines 2, 3 .*do not match "
                                        r"date_format='%d/%m/%Y'"):
        load_csv(p, date_format="%d/%m/%Y")


# ---------------------------------------------------------------------------------------------------
# Misread 3: header-less files
# ---------------------------------------------------------------------------------------------------


def test_headerless_file_is_refused(tmp_path):
    """Was: the first row became the header (column "112") and one point was lost."""
    p = write(tmp_path, table(iso, lambda v: f"{v:g}", header=None))
    with pytest.raises(DataError, match=r"the first line looks like data \('1949-01-01,112'\), not "
                                        r"a header; .*pass header=False"):
        load_csv(p)
    ds = load_csv(p, header=False)
    assert_series(ds, DATES, VALUES)
    assert ds.column == "value" and ds.season == 12 and ds.read_info["header"] is False


def test_headerless_with_a_text_column(tmp_path):
    """Found by the fuzz test: a first row with a text cell was taken for a header."""
    p = write(tmp_path, "0,2020-01-01,a\n1,2020-01-02,b\n2,2020-01-03,c\n")
    with pytest.raises(DataError, match=r"the first line looks like data"):
        load_csv(p)
    ds = load_csv(p, header=False, column="value1")
    assert_series(ds, pd.date_range("2020-01-01", periods=3), [0.0, 1.0, 2.0])
    assert load_csv(p, header=False).column == "value1"  # the only numeric one


def test_tab_file_with_one_decimal_comma_per_row(tmp_path):
    """Found by the fuzz test: each row splits into two at its comma as well as at its tab."""
    p = write(tmp_path, "07.01.2024\t-416230767,58\n10.01.2024\t0,25\n01.01.2025\t-0,5\n")
    with pytest.raises(DataError, match=r"the first line looks like data"):
        load_csv(p)
    ds = load_csv(p, header=False)
    assert ds.read_info["sep"] == "\t" and ds.values.tolist() == [-416230767.58, 0.25, -0.5]
    assert ds.read_info["date_format"] == "%m.%d.%Y"  # the only regular reading: quarterly


def test_semicolon_file_with_an_extra_field_is_not_read_as_comma_separated(tmp_path):
    """Found by the fuzz test: the extra field made ';' inconsistent, and ',' split every row
    in two (at the decimal comma), so ',' won and the first row became the header."""
    p = write(tmp_path, "0,00;2004-11-01\n0,69;2004-12-01;7\n1,5;2005-01-01\n")
    with pytest.raises(DataError, match=r"the first line looks like data \('0,00;2004-11-01'\)"):
        load_csv(p)
    q = write(tmp_path, "Date;v\n2004-11-01;0,00\n2004-12-01;0,69;7\n2005-01-01;1,5\n", "q.csv")
    with pytest.raises(DataError, match=r"line 3 has more fields than the 2 of the header"):
        load_csv(q)


def test_tab_file_with_semicolons_in_a_text_column(tmp_path):
    """Found by the fuzz test: every candidate left a ';' or a tab inside some field; a tab
    inside a field is the surer sign of the wrong separator."""
    rows = "227988649,32\t2003-03-01\tok\n291943640,38\t2003-02-01\ta\n-935575678,71\t2003-01-01\tx;y\n"
    ds = load_csv(write(tmp_path, rows), header=False)
    assert ds.read_info["sep"] == "\t" and ds.column == "value1"
    assert_series(ds, pd.date_range("2003-01-01", periods=3, freq="MS"),
                  [-935575678.71, 291943640.38, 227988649.32])
    extra = rows.replace("\ta\n", "\ta\t7\n")  # now ',' splits every row alike, '\t' not
    with pytest.raises(DataError, match=r"several numeric columns \(value1, value3\)"):
        load_csv(write(tmp_path, extra, "extra.csv"), header=False)


def test_headerless_line_numbers_and_names(tmp_path):
    p = write(tmp_path, "2020-01-01,1,5\n2020-01-02,x,6\n")
    with pytest.raises(DataError, match=r"'value1' has non-numeric values at line 2 "):
        load_csv(p, header=False, column="value1")
    assert load_csv(p, header=False, column="value2").values.tolist() == [5, 6]


# ---------------------------------------------------------------------------------------------------
# Misread 4: missing dates
# ---------------------------------------------------------------------------------------------------


def _gappy(tmp_path):
    keep = np.ones(144, bool)
    keep[[5, 6, 40, 77]] = False  # 4 of 144 months absent
    return write(tmp_path, table(iso, lambda v: f"{v:g}", dates=DATES[keep], values=VALUES[keep])), keep


def test_missing_dates_error(tmp_path):
    """Was: accepted, season 12 compared against the wrong points."""
    p, _ = _gappy(tmp_path)
    with pytest.raises(DataError, match=r"4 of 144 monthly dates between 1949-01-01 and 1960-12-01 "
                                        r"are missing \(1949-06-01, 1949-07-01, 1952-05-01, "
                                        r"1955-06-01\); pass missing_dates='fill' .* or "
                                        r"missing_dates='ignore'"):
        load_csv(p)


def test_missing_dates_fill(tmp_path):
    p, keep = _gappy(tmp_path)
    ds = load_csv(p, missing_dates="fill")
    expected = VALUES.copy()
    expected[5] = VALUES[4] + (VALUES[7] - VALUES[4]) / 3  # linear between the neighbours
    expected[6] = VALUES[4] + 2 * (VALUES[7] - VALUES[4]) / 3
    expected[40] = (VALUES[39] + VALUES[41]) / 2
    expected[77] = (VALUES[76] + VALUES[78]) / 2
    assert ds.dates.equals(DATES)
    np.testing.assert_allclose(ds.values, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ds.values[keep], VALUES[keep])
    assert ds.season == 12 and ds.read_info["notes"] == [
        "4 missing monthly dates filled by linear interpolation"]


def test_missing_dates_ignore(tmp_path):
    p, keep = _gappy(tmp_path)
    ds = load_csv(p, missing_dates="ignore")
    assert_series(ds, DATES[keep], VALUES[keep])
    assert ds.season is None and ds.read_info["season_source"] == "none"
    assert ds.read_info["frequency"] == "irregular"
    assert ds.read_info["notes"] == ["4 missing monthly dates ignored"]
    assert load_csv(p, missing_dates="ignore", season=12).season == 12  # a given season stays


def test_dates_off_the_grid(tmp_path):
    dates = ["2020-01-01", "2020-02-01", "2020-02-15"] + [f"2020-{m:02d}-01" for m in range(3, 10)]
    p = write(tmp_path, "Date,v\n" + "".join(f"{d},{i}\n" for i, d in enumerate(dates)))
    with pytest.raises(DataError, match=r"not evenly spaced: the usual step is monthly, but 1 of 10 "
                                        r"dates are off that grid \(e\.g\. 2020-02-15 at line 4\); "
                                        r"pass missing_dates='ignore'.*cannot be filled"):
        load_csv(p, missing_dates="fill")
    assert load_csv(p, missing_dates="ignore").values.tolist() == list(range(10))


def test_business_days_with_holidays_are_accepted(tmp_path):
    days = pd.bdate_range("2020-01-01", periods=30).delete([0, 12])  # two holidays
    p = write(tmp_path, "Date,Close\n" + "".join(f"{d:%Y-%m-%d},{i}\n" for i, d in enumerate(days)))
    ds = load_csv(p)
    assert_series(ds, days, np.arange(28.0))
    assert ds.read_info["frequency"] == "business daily" and ds.season is None


# ---------------------------------------------------------------------------------------------------
# Options, encodings
# ---------------------------------------------------------------------------------------------------


def test_sep_option(tmp_path):
    p = write(tmp_path, "Date|v\n2020-01-01|1.5\n2020-01-02|2.5\n")
    assert load_csv(p, sep="|").values.tolist() == [1.5, 2.5]
    t = write(tmp_path, "Date\tv\n2020-01-01\t1,5\n2020-01-02\t2,5\n", "t.csv")
    assert load_csv(t).values.tolist() == [1.5, 2.5]
    assert load_csv(t, sep="\\t").read_info["sep"] == "\t"
    with pytest.raises(DataError, match=r"sep='ab' is not a separator"):
        load_csv(p, sep="ab")
    with pytest.raises(DataError, match=r"decimal=',' is also the separator"):
        load_csv(p, sep=",", decimal=",")


def test_bad_option_values(tmp_path):
    p = write(tmp_path, "Date,v\n2020-01-01,1\n")
    with pytest.raises(DataError, match=r"missing_dates='drop' is not a choice"):
        load_csv(p, missing_dates="drop")
    with pytest.raises(DataError, match=r"decimal=';' is not a decimal mark"):
        load_csv(p, decimal=";")
    with pytest.raises(DataError, match=r"encoding='klingon' is not a known encoding"):
        load_csv(p, encoding="klingon")


def test_latin1_file_needs_its_encoding(tmp_path):
    p = write(tmp_path, "Datum;Größe\n2020-01-01;1,5\n2020-01-02;2,5\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"not UTF-8 text \(byte 0xf6 at line 1\); pass its "
                                        r"encoding, e\.g\. encoding='latin-1'"):
        load_csv(p)
    ds = load_csv(p, encoding="latin-1", date_column="Datum")
    assert ds.column == "Größe" and ds.values.tolist() == [1.5, 2.5]
    assert ds.read_info["encoding"] == "latin-1"


def test_utf8_bom(tmp_path):
    p = write(tmp_path, "\ufeffDate,v\n2020-01-01,1\n2020-01-02,2\n")
    ds = load_csv(p)
    assert ds.dates is not None and ds.column == "v" and ds.read_info["encoding"] == "utf-8-sig"
    assert load_csv(p, encoding="utf-8").dates is not None  # BOM dropped with utf-8 given, too


def test_binary_file(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes(b"Date,v\n\x00\x01\x02\n")
    with pytest.raises(DataError, match=r"not a readable CSV \(a NUL character at line 2"):
        load_csv(p)


def test_shipped_datasets_read_exactly():
    """The shipped series equal their files as the standard library reads them."""
    for name, file, col, start in [("airline", "airline-passengers.csv", 1, None),
                                   ("temperature", "daily-min-temperatures.csv", 1, None),
                                   ("stock", "msft-daily.csv", 4, "2010-01-01")]:
        _, rows = _shipped(file)
        dates = pd.DatetimeIndex([pd.Timestamp(r[0]) for r in rows])
        values = np.array([float(r[col]) for r in rows])
        if start is not None:
            values, dates = values[dates >= start], dates[dates >= start]
        ds = datasets.load(name)
        assert_series(ds, dates, values)
        assert ds.read_info["season_source"] == "given"


# ---------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error(result, *words, code=1):
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for w in words:
        assert w in errors[0], errors[0]


@pytest.mark.parametrize("kind, words", [
    ("thousands", ["line 2", "more fields than the 2 of the header", "--sep ';'"]),
    ("headerless", ["first line looks like data", "--no-header"]),
    ("gaps", ["4 of 144 monthly dates", "--missing-dates fill", "--missing-dates ignore"]),
    ("ambiguous", ["both readings", "--date-format '%d/%m/%Y'", "--date-format '%m/%d/%Y'"]),
    ("latin1", ["not UTF-8", "--encoding latin-1", "--encoding cp1252"]),
])
def test_cli_one_line_errors(tmp_path, kind, words):
    if kind == "gaps":
        p, _ = _gappy(tmp_path)
    else:
        p = write(tmp_path, {
            "thousands": table(iso, lambda v: f"{int(v)},000"),
            "headerless": table(iso, lambda v: f"{v:g}", header=None),
            "ambiguous": "Date,v\n01/01/2020,1\n02/01/2020,2\n03/01/2020,3\n",
            "latin1": "Date,Größe\n2020-01-01,1\n",
        }[kind], encoding="latin-1" if kind == "latin1" else "utf-8")
    out = tmp_path / "run"
    one_error(invoke("train", "--csv", p, *FAST, "--out", out), *words)
    assert not out.exists()


def test_cli_reading_options_need_a_csv():
    one_error(invoke("train", "--dataset", "airline", "--sep", ";"), "--sep goes with --csv", code=2)
    one_error(invoke("train", "--decimal", ",", "--no-header"), "--decimal, --no-header go with",
              code=2)


def _european(tmp_path):
    """sep ';', day-first dates, decimal commas that could be thousands (3 decimals each)."""
    return write(tmp_path, table(lambda d: f"{d:%d.%m.%Y}", lambda v: f"{v:.3f}".replace(".", ","),
                                 sep=";", values=VALUES + 0.25), "sales.csv")


def test_cli_train_then_predict_rereads_with_the_run_settings(tmp_path):
    p = _european(tmp_path)
    one_error(invoke("train", "--csv", p, *FAST, "--out", tmp_path / "x"), "--decimal ','")
    out = tmp_path / "run"
    r = invoke("train", "--csv", p, "--decimal", ",", *FAST, "--out", out)
    assert r.exit_code == 0, r.output
    assert ("read sales.csv: sep ';', decimal ',', dates %d.%m.%Y (day-first: the only regular "
            "reading), 144 rows, monthly, season 12 (inferred)") in r.output.splitlines()[0]
    assert "seasonal naive (12)" in r.output
    src = json.loads((out / "preprocessing.json").read_text())["source"]
    assert {k: src[k] for k in ("sep", "decimal", "encoding", "date_format", "header",
                                "missing_dates")} == {
        "sep": ";", "decimal": ",", "encoding": "utf-8", "date_format": "%d.%m.%Y",
        "header": True, "missing_dates": "error"}
    pr = invoke("predict", "--model", out, "--steps", "2")  # no reading options again
    assert pr.exit_code == 0, pr.output
    assert pr.output.splitlines()[0].startswith("sales (Passengers): 2 steps after 1960-12-01")
    assert [line.split()[0] for line in pr.output.splitlines()[2:4]] == ["1961-01-01", "1961-02-01"]
    # Options given to predict override the stored ones for the run's own CSV.
    one_error(invoke("predict", "--model", out, "--decimal", "."), "non-numeric values")


def test_library_run_stores_the_detected_settings(tmp_path):
    from fastrnn import forecast as fc

    p = _european(tmp_path)
    cfg = fc.make_config(csv=str(p), decimal=",", epochs=1, hidden=4)  # the rest detected
    _, path, _ = fc.run(cfg, out=tmp_path / "run", plot=False, progress=False)
    src = json.loads((path / "preprocessing.json").read_text())["source"]
    assert (src["sep"], src["decimal"], src["date_format"]) == (";", ",", "%d.%m.%Y")
    ds = fc.load_series(src)
    assert ds.dates.equals(DATES) and np.array_equal(ds.values, VALUES + 0.25)


def test_predict_old_run_without_read_settings(tmp_path):
    p = write(tmp_path, table(iso, lambda v: f"{v:g}"), "old.csv")
    out = tmp_path / "run"
    assert invoke("train", "--csv", p, *FAST, "--out", out).exit_code == 0
    info = json.loads((out / "preprocessing.json").read_text())
    for k in ("sep", "decimal", "encoding", "date_format", "header", "missing_dates"):
        del info["source"][k]
    (out / "preprocessing.json").write_text(json.dumps(info))
    pr = invoke("predict", "--model", out, "--steps", "1")
    assert pr.exit_code == 0 and "1961-01-01" in pr.output, pr.output


def test_cli_season_option(tmp_path):
    p = write(tmp_path, table(iso, lambda v: f"{v:g}"), "s.csv")
    r = invoke("train", "--csv", p, "--season", "0", *FAST, "--out", tmp_path / "a")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0].endswith("144 rows, monthly, no season (given)")
    assert "no seasonal baseline" in r.output and "look-back 12," in r.output
    read = json.loads((tmp_path / "a" / "metrics.json").read_text())["read"]
    assert read["season"] is None and read["season_source"] == "given"
    r = invoke("train", "--csv", p, "--season", "6", *FAST, "--out", tmp_path / "b")
    assert "season 6 (given)" in r.output.splitlines()[0] and "seasonal naive (6)" in r.output
    assert "look-back 7," in r.output


def test_cli_dataset_header_gives_frequency_and_season(tmp_path):
    r = invoke("train", "--dataset", "airline", "--ensemble", "1", *FAST, "--out", tmp_path / "a")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0].endswith("test windows; monthly, season 12 (given)")
