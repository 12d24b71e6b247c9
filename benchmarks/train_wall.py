"""Whole-process wall time of `fastrnn train` for each shipped dataset, idle and with one competing
CPU-bound process, alternated in one invocation.

    python benchmarks/train_wall.py [--src DIR] [--repeat 5] [--competitor blas|python] [--json FILE]

Runs ``python -m fastrnn.cli train --dataset D --no-plot --out <tmp>`` for airline, temperature and
stock from the source tree ``--src`` (default: the tree holding this script), ``--repeat`` times
per dataset and condition. Each round runs every dataset once idle and once busy (the order swapped
every other round); "busy" is one competing process of :class:`fastrnn.bench.timing.Competitor`
(default ``blas``: NumPy matmuls on one OpenBLAS thread; ``python``: a pure-Python loop), started
once, paused (SIGSTOP) during the idle runs and killed at the end. Prints and stores the median,
minimum and maximum wall and CPU time of each (dataset, condition), the busy/idle ratio of the
medians and the test RMSE line of the runs (which must be the same in both conditions).

Issue 12's targets read from two such files, before and after a change, on the same host:
after/before idle wall <= 0.6 and busy/idle <= 1.5. ``train-wall-before.json`` is the record of
the code before the model stacks.
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
sys.path.insert(0, HERE)

from fastrnn.bench.timing import COMPETITORS, Competitor  # noqa: E402

DATASETS = ("airline", "temperature", "stock")


def host() -> str:
    """The CPU model name as ``lscpu`` prints it (``/proc/cpuinfo``'s otherwise)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    from fastrnn.bench.report import machine

    return machine()["cpu"]


def _commit(src: str) -> str | None:
    p = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return (p.stdout.strip() or None) if p.returncode == 0 else None


def train_once(src: str, dataset: str) -> tuple[float, float, str]:
    """One ``fastrnn train --dataset DATASET`` in a new process: (wall s, CPU s of the child, RMSE line)."""
    env = dict(os.environ, PYTHONPATH=src)
    with tempfile.TemporaryDirectory(prefix="fastrnn-train-wall-") as d:
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "fastrnn.cli", "train", "--dataset", dataset, "--no-plot",
                            "--out", os.path.join(d, "run")], env=env, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"fastrnn train --dataset {dataset} ({src}) failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    rmse = next((" ".join(line.split()) for line in p.stdout.splitlines() if "(this model" in line), "")
    return wall, cpu, rmse


def _stats(v: list[float]) -> dict:
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "all": v}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=HERE, help="source tree whose fastrnn is timed (holds fastrnn/)")
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--repeat", type=int, default=5, help="runs per dataset and condition (median reported)")
    ap.add_argument("--competitor", choices=COMPETITORS, default="blas")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--commit", default=None, help="the commit of --src to record (default: git's, if a checkout)")
    a = ap.parse_args(argv)
    if a.repeat < 1:
        ap.error(f"--repeat must be >= 1; got {a.repeat}")
    datasets = [d for d in a.datasets.split(",") if d]
    src = os.path.abspath(a.src)
    for d in datasets:  # warm Numba's on-disk cache; untimed
        train_once(src, d)
    runs = {(d, c): [] for d in datasets for c in ("idle", "busy")}
    load_start = os.getloadavg()
    with Competitor(a.competitor) as hog:
        hog.pause()
        for r in range(a.repeat):
            for d in datasets:
                for cond in (("idle", "busy") if r % 2 == 0 else ("busy", "idle")):
                    if cond == "busy":
                        hog.resume()
                        time.sleep(0.05)
                    runs[d, cond].append(train_once(src, d))
                    hog.pause()
                    print(f"round {r + 1}/{a.repeat} {d:11} {cond:4}  wall {runs[d, cond][-1][0]:6.2f} s", flush=True)
    rows = []
    for d in datasets:
        row = {"dataset": d}
        for cond in ("idle", "busy"):
            res = runs[d, cond]
            row[cond] = {"wall_s": _stats([x[0] for x in res]), "cpu_s": _stats([x[1] for x in res])}
        row["busy_over_idle"] = row["busy"]["wall_s"]["median"] / row["idle"]["wall_s"]["median"]
        row["rmse_lines"] = sorted({x[2] for c in ("idle", "busy") for x in runs[d, c]})
        rows.append(row)
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "host": host(), "cpus": os.cpu_count(), "src": src, "commit": a.commit or _commit(src),
        "python": sys.version.split()[0], "competitor": a.competitor, "repeat": a.repeat,
        "command": "python -m fastrnn.cli train --dataset D --no-plot --out <tmp>",
        "loadavg_start": list(load_start), "loadavg_end": list(os.getloadavg()), "rows": rows,
    }
    print(f"\n{out['host']}, {out['cpus']} CPUs, competitor {a.competitor}, medians of {a.repeat} (min-max):")
    print("| dataset | idle wall s | busy wall s | busy/idle | idle CPU s | busy CPU s | test RMSE line |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        i, b = row["idle"]["wall_s"], row["busy"]["wall_s"]
        print(f"| {row['dataset']} | {i['median']:.2f} ({i['min']:.2f}-{i['max']:.2f}) | {b['median']:.2f} "
              f"({b['min']:.2f}-{b['max']:.2f}) | {row['busy_over_idle']:.2f}x | "
              f"{row['idle']['cpu_s']['median']:.2f} | {row['busy']['cpu_s']['median']:.2f} | "
              f"{' / '.join(row['rmse_lines'])} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
        print(f"wrote {a.json}")
    return out


if __name__ == "__main__":
    main()
