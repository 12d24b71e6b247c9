"""Whole-process wall time of `fastrnn train` before/after the thread policy, idle and contended.

    git -C . archive OLD_COMMIT | tar -x -C /tmp/fastrnn-old     # the code before
    python benchmarks/threads_cli.py --old /tmp/fastrnn-old [--repeat 3] [--json FILE]

Runs ``python -m fastrnn.cli train --no-plot`` (airline default) and ``... --dataset temperature``
with the default threads, from the old source tree and from this one (``PYTHONPATH``), alternated,
``--repeat`` times each, first with nothing else running, then with one competing CPU-bound process
(``python -c "while True: pass"``, killed after). Reports medians (min-max) of the wall time and of
the CPU time of the run, and the test RMSE line each printed (which must not differ).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = {"airline": [], "temperature": ["--dataset", "temperature"]}
HOGS = {"contended": "while True: pass",
        "contended-blas": "import numpy as np\na = np.ones((32, 64), np.float32)\nb = np.ones((64, 256), np.float32)\n"
                          "while True:\n    a @ b"}


def _run(src, args):
    env = dict(os.environ, PYTHONPATH=src)
    with tempfile.TemporaryDirectory() as d:
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "fastrnn.cli", "train", "--no-plot", "--out",
                            os.path.join(d, "run"), *args], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"{src}: fastrnn train {' '.join(args)} failed:\n{p.stdout}\n{p.stderr}")
    cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    rmse = [" ".join(line.split()) for line in p.stdout.splitlines() if "(this model" in line]
    return wall, cpu, rmse


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="source tree of the code before (holds fastrnn/)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default=None)
    ap.add_argument("--conditions", default="idle,contended",
                    help="comma-separated: idle, contended (a `while True: pass` process), contended-blas "
                         "(a process multiplying (32 x 64) @ (64 x 256) float32 matrices with NumPy in a loop, "
                         "default threads)")
    a = ap.parse_args(argv)
    versions = {"before": os.path.abspath(a.old), "after": HERE}
    if a.json and os.path.exists(a.json):  # add to an earlier run's rows
        with open(a.json) as f:
            rows = json.load(f)["rows"]
    else:
        rows = []
    for src in versions.values():  # warm the Numba caches; untimed
        for args in CASES.values():
            _run(src, args)
    for cond in a.conditions.split(","):
        hog = (subprocess.Popen([sys.executable, "-c", HOGS[cond]]) if cond != "idle" else None)
        try:
            load = os.getloadavg()[0]
            for case, args in CASES.items():
                res = {v: [] for v in versions}
                for _ in range(a.repeat):
                    for v, src in versions.items():
                        res[v].append(_run(src, args))
                for v in versions:
                    walls = [r[0] for r in res[v]]
                    cpus = [r[1] for r in res[v]]
                    rmses = {tuple(r[2]) for r in res[v]}
                    rows.append(dict(condition=cond, case=case, version=v, wall_s=walls, cpu_s=cpus,
                                     rmse_lines=[list(x) for x in rmses], loadavg=load))
                    print(f"{cond:9} {case:11} {v:6}  wall {statistics.median(walls):6.2f} s "
                          f"({min(walls):.2f}-{max(walls):.2f})  cpu {statistics.median(cpus):6.2f} s  "
                          f"{' | '.join(next(iter(rmses)))[:90]}", flush=True)
        finally:
            if hog:
                hog.kill()
                hog.wait()
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
