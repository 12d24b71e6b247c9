"""Scaling of a many-series run on Dask (issue 14): the retail panel's local models, fitted with
the local backend in one process and on a local Dask cluster of 1 and 2 worker processes.

    python benchmarks/dask_scaling.py [--quick] [--series N] [--tasks 500] [--json FILE]

The fit is the test origin's fit of ``fastrnn train --dataset retail --strategy local`` (the
shipped retail settings, :data:`fastrnn.forecast.panel_job.PANEL_DEFAULTS`, with the local
strategy): :func:`fastrnn.forecast.panel_model.fit` on every series' data before the test origin.
It is timed (wall) three ways:

* ``local``: the local backend in this process (``n_jobs=1``, the groups of series one after
  another, one thread each), after the warm-up every Dask worker runs;
* ``dask-1`` and ``dask-2``: inside :func:`fastrnn.parallel.cluster` with ``workers=1`` / ``2``
  (worker processes with one thread each; the cluster's start is timed apart, not in the fit).

Speed-up = local / dask-k, efficiency = speed-up / k (issue 14's target: >= 0.8 at 2 workers).
The three fits must give bitwise the same forecasts and weights (``identical`` in the output).

The scheduler overhead per task: ``--tasks`` no-op tasks (:func:`abs` of an int) on the 2-worker
cluster, (wall - work) / tasks, where work is the same calls in this process.

From those, a paper estimate of a larger run (``estimate``): ``S`` series on ``M`` machines of
``C`` cores (default 100,000 series, 50 x 16), assuming the per-series work measured here (the
local fit's wall time per series, one core), the efficiency measured at 2 workers for every
worker, one worker process per core, and the scheduler handling tasks one after another at the
overhead measured here (the bound on the other side): ``max(compute, tasks x overhead)``.

``--quick`` fits the first 12 series only (a check that the script works, in a minute or so).
Results are printed and written as JSON (default ``benchmarks/dask-scaling-<date>[-quick].json``).
Run it on a quiet machine: the figures are wall times.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from dataclasses import replace

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

from fastrnn import parallel, threads  # noqa: E402
from fastrnn.forecast import backtest, panel_job  # noqa: E402
from fastrnn.forecast import panel_model as pm  # noqa: E402


def _problem(n_series: int | None):
    """The retail panel's histories before its test origin and the local strategy's settings."""
    from fastrnn.datasets import load_panel

    panel = load_panel("retail")
    d = panel_job.PANEL_DEFAULTS["retail"]
    horizon = d["horizon"]
    cfg = pm.PanelConfig(**{"look_back": panel_job.default_look_back(horizon, panel.season), **d["config"]})
    cfg = replace(cfg, strategy="local")
    series = panel.values if n_series is None else panel.values[:n_series]
    p = backtest.plan(series, cfg.look_back + horizon, horizon, d["windows"], None)
    return p.histories(series, p.test), horizon, cfg


def _fit(histories, horizon, cfg):
    t0 = time.perf_counter()
    f = pm.fit(histories, horizon, cfg)
    wall = time.perf_counter() - t0
    return wall, f.forecast(), {k: v.copy() for k, v in f.model.parameters().items()}


def _same(a, b) -> bool:
    return np.array_equal(a[1], b[1]) and a[2].keys() == b[2].keys() and all(
        np.array_equal(a[2][k], b[2][k]) for k in a[2])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the first 12 series only")
    ap.add_argument("--series", type=int, default=None, help="the first N series only")
    ap.add_argument("--tasks", type=int, default=500, help="no-op tasks for the overhead per task")
    ap.add_argument("--estimate", default="100000,50,16", help="series,machines,cores of the paper estimate")
    ap.add_argument("--json", default=None, help="output file")
    args = ap.parse_args(argv)
    n_series = 12 if args.quick and args.series is None else args.series
    histories, horizon, cfg = _problem(n_series)
    groups = pm._local_groups(cfg, horizon, [np.asarray(h) for h in histories])
    print(f"retail, local strategy: {len(histories)} series in {len(groups)} groups (tasks); {cfg}")

    from fastrnn._dask import warm_up

    warm_up((cfg.model.split("-")[-1],), (cfg.dtype,))  # as a Dask worker does ("hybrid-lstm": the lstm's)
    previous = threads.set_parallelism(1)
    try:
        local = _fit(histories, horizon, cfg)
    finally:
        threads.set_parallelism(previous)
    print(f"local backend, one process: {local[0]:.2f} s")
    runs, starts, overhead = {}, {}, None
    for k in (1, 2):
        t0 = time.perf_counter()
        with parallel.cluster(workers=k) as client:
            starts[k] = time.perf_counter() - t0
            runs[k] = _fit(histories, horizon, cfg)
            print(f"dask, {k} worker(s): {runs[k][0]:.2f} s (cluster start {starts[k]:.1f} s)")
            if k == 2:
                jobs = list(range(args.tasks))
                t = time.perf_counter()
                [abs(j) for j in jobs]
                work = time.perf_counter() - t
                t = time.perf_counter()
                parallel.map_jobs(abs, jobs, backend="dask", client=client)
                overhead = (time.perf_counter() - t - work) / args.tasks
                print(f"scheduler overhead: {1e3 * overhead:.2f} ms per task ({args.tasks} no-op tasks)")
    identical = all(_same(local, runs[k]) for k in runs)
    scaling = {f"dask-{k}": {"wall_s": runs[k][0], "cluster_start_s": starts[k], "speedup": local[0] / runs[k][0],
                             "efficiency": local[0] / runs[k][0] / k} for k in runs}
    for name, s in scaling.items():
        print(f"{name}: speed-up {s['speedup']:.2f}, efficiency {s['efficiency']:.2f}")
    print(f"identical forecasts and weights: {identical}")

    S, M, C = (int(x) for x in args.estimate.split(","))
    per_series = local[0] / len(histories)
    tasks = S * len(groups) / len(histories)
    eff = scaling["dask-2"]["efficiency"]
    compute = S * per_series / (M * C * eff)
    scheduling = tasks * overhead
    estimate = {"series": S, "machines": M, "cores_per_machine": C, "per_series_s": per_series, "tasks": tasks,
                "efficiency_assumed": eff, "compute_s": compute, "scheduling_s": scheduling,
                "wall_s": max(compute, scheduling),
                "assumptions": "per-series work as measured here on one core; one worker process per core; the "
                               "2-worker efficiency for every worker; the scheduler handles tasks one after another "
                               "at the measured overhead; data transfer and cluster start not counted"}
    print(f"estimate: {S} series on {M} x {C} cores: ~{estimate['wall_s']:.0f} s "
          f"(compute {compute:.0f} s, scheduling {scheduling:.0f} s)")

    import dask
    import distributed

    out = {"date": datetime.date.today().isoformat(), "host": platform.node(), "cpus": os.cpu_count(),
           "python": platform.python_version(), "dask": dask.__version__, "distributed": distributed.__version__,
           "series": len(histories), "groups": len(groups), "horizon": horizon, "config": cfg.to_dict(),
           "local_wall_s": local[0], "scaling": scaling, "overhead_per_task_s": overhead,
           "overhead_tasks": args.tasks, "identical": identical, "estimate": estimate}
    name = f"dask-scaling-{out['date']}{'-quick' if args.quick else ''}.json"
    path = args.json or os.path.join(HERE, "benchmarks", name)
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {path}")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
