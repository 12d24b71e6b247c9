"""Validation-only selection of the panel defaults (tourism h=8, retail h=24).

Stages: the first chooses the model settings for a global, direct model (``--grid``), the second
the strategy and horizon strategy with those settings (``--base`` the first stage's choice,
``--grid "strategy=global,local;multi=direct,recursive"``).

Protocol, fixed before any run: 3 origins per series, ``horizon`` apart; the last is the test part
and is NOT used here. Every candidate is fitted at the two validation origins (on the data before
each) and scored by mean MASE over the series and both origins; the candidate with the lowest
validation MASE becomes the panel default. The test origin is scored once afterwards, by
``fastrnn train --dataset NAME`` with the chosen defaults (its output is in the results file).

    python benchmarks/panel_selection.py --panel tourism --out benchmarks/panel-selection-tourism.json

``--baselines`` scores seasonal naive and, with statsforecast, AutoETS and AutoTheta on the same
validation origins instead (what the candidates' validation MASE compares with; nothing is chosen).
"""

import argparse
import itertools
import json
import platform
import time
from dataclasses import replace

import numpy as np

from fastrnn import threads
from fastrnn.forecast import backtest, datasets, panel_job
from fastrnn.forecast import panel_model as pm

HORIZONS = {"tourism": 8, "retail": 24}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--panel", choices=sorted(HORIZONS), required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--grid", default="window_level=0,1;hidden=32,64")
    ap.add_argument("--base", default="", help="fixed settings of this stage, e.g. window_level=1;hidden=64")
    ap.add_argument("--baselines", action="store_true", help="score the baselines on the validation origins")
    args = ap.parse_args()
    threads.set_blas_threads(1)
    pan = datasets.load_panel(args.panel)
    H = HORIZONS[args.panel]
    fixed = {}
    for part in filter(None, args.base.split(";")):
        key, value = part.split("=")
        fixed[key] = bool(int(value)) if key == "window_level" else int(value) if value.isdigit() else value
    base = pm.PanelConfig(**{"look_back": panel_job.default_look_back(H, pan.season), "strategy": "global",
                             "multi": "direct", **fixed})
    grid = {}
    for part in args.grid.split(";"):
        key, values = part.split("=")
        grid[key] = [int(v) if v.isdigit() else v for v in values.split(",")]
    # every candidate on the same series: planned with the longest look-back of the grid
    plan_look_back = max([base.look_back, *grid.get("look_back", [])])
    p = backtest.plan(pan.values, plan_look_back + H, H, windows=3)
    rows = []
    if args.baselines:
        from fastrnn.forecast import panel_baselines as pb

        fns = {"seasonal_naive": lambda h: pb.seasonal_naive(h, H, pan.season)}
        if pb.statsforecast_available():
            fns.update({name: (lambda h, name=name: pb.statistical(h, H, pan.season, name))
                        for name in ("auto_ets", "auto_theta")})
        for name, fn in fns.items():
            t0 = time.perf_counter()
            f = np.full((len(p.used), p.windows, H), np.nan)
            for w in p.validation:  # never p.test
                f[:, w] = fn(p.histories(pan.values, w))
            scores = backtest.score_windows(p, pan.values, f, pan.season)
            val = float(np.nanmean([scores[w].per_series["mase"] for w in p.validation]))
            rows.append({"baseline": name, "val_mase": val, "seconds": time.perf_counter() - t0})
            print(json.dumps(rows[-1]), flush=True)
        grid = {}
    for combo in itertools.product(*grid.values()) if grid else ():
        kw = dict(zip(grid, combo))
        if "window_level" in kw:
            kw["window_level"] = bool(kw["window_level"])
        cfg = replace(base, **kw)
        t0 = time.perf_counter()
        f = np.full((len(p.used), p.windows, H), np.nan)
        for w in p.validation:  # never p.test
            f[:, w] = pm.fit(p.histories(pan.values, w), H, cfg).forecast()
        scores = backtest.score_windows(p, pan.values, f, pan.season)
        val = float(np.nanmean([scores[w].per_series["mase"] for w in p.validation]))
        rows.append({**kw, "val_mase": val, "seconds": time.perf_counter() - t0})
        print(json.dumps(rows[-1]), flush=True)
    best = None if args.baselines else min(rows, key=lambda r: r["val_mase"])
    out = {"panel": args.panel, "horizon": H, "protocol": "3 origins, the last (test) unused; mean MASE over "
           "series and the 2 validation origins", "base": base.to_dict(), "candidates": rows, "chosen": best,
           "host": platform.processor() or platform.machine(), "used": len(p.used), "skipped": len(p.skipped)}
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=2)
    print("chosen:", best)


if __name__ == "__main__":
    main()
