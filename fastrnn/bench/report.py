"""What a run reports: the machine and versions, the progress lines, the Markdown table, the
start-up lines and the chart. Everything here reads a :func:`fastrnn.bench.run` result (or its rows)
and measures nothing.
"""

from __future__ import annotations

import os
import platform

import numpy as np

from fastrnn.bench.cases import BACKENDS, CELLS, MODES


def fmt_ms(s: float | None) -> str:
    """Seconds as milliseconds with 3 significant digits (whole ms from 100 ms), "-" for None."""
    if s is None:
        return "-"
    ms = s * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def fmt_ratio(r: float | None) -> str:
    """A ratio as "1.23x", "-" for None."""
    return "-" if r is None else f"{r:.2f}x"


def versions() -> dict:
    """The versions of Python, NumPy, Numba, llvmlite, SciPy and PyTorch (None where not importable)."""
    v = {"python": platform.python_version()}
    for m in ("numpy", "numba", "llvmlite", "scipy", "torch"):
        try:
            v[m] = __import__(m).__version__
        except Exception:  # noqa: BLE001 - optional
            v[m] = None
    return v


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (other processes competing for the cores), or None."""
    try:
        return list(os.getloadavg())
    except (AttributeError, OSError):
        return None


def machine() -> dict:
    """``{"cpu": model name, "cpus": count, "platform": platform string}``."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "platform": platform.platform()}


def case_label(row: dict) -> str:
    """The case of a result or ratio row as text.

    "grid", or the dataset with its training settings, e.g. "airline (adam, clip 1, ×5 members)"
    (rows without ``case``, from before dataset cases existed, are grid rows).
    """
    name = row.get("case", "grid")
    if name == "grid":
        return name
    settings = [row["optimizer"]]
    if row["clip_norm"] is not None:
        settings.append(f"clip {row['clip_norm']:g}")
    if row["num_layers"] > 1:
        settings.append(f"{row['num_layers']} layers")
    if row["ensemble"] > 1:
        settings.append(f"×{row['ensemble']} members")
    return f"{name} ({', '.join(settings)})"


def format_row(row: dict, backends: list[str]) -> str:
    """The progress line of a ratio row: case, mode, cell, dtype, sizes, each backend's ms, ratios."""
    parts = [f"{case_label(row)} {row['mode']:5s} {row['cell']:4s} {row['dtype']:7s} "
             f"B,T,I,H={row['B']},{row['T']},{row['I']},{row['H']}:"]
    parts += [f"{b} {fmt_ms(row[f'{b}_ms'] / 1e3)} ms" for b in backends]
    if row.get("torch_over_numba") is not None:
        parts.append(f"torch/numba {fmt_ratio(row['torch_over_numba'])}")
    if row.get("numpy_over_numba") is not None:
        parts.append(f"numpy/numba {fmt_ratio(row['numpy_over_numba'])}")
    if row.get("numba_peak_fraction") is not None:
        parts.append(f"numba {100 * row['numba_peak_fraction']:.0f}% of GEMM peak")
    return "  ".join(parts)


def format_table(out: dict) -> str:
    """A Markdown table of the medians (ms) and same-run ratios, the case first (:func:`case_label`)."""
    rows = out["ratios"]
    backends = [b for b in BACKENDS if any(f"{b}_ms" in r for r in rows)]
    head = ["case", "mode", "B, T, I, H", "cell", "dtype"] + [f"{b} ms" for b in backends]
    if "numba" in backends:
        head += [f"{b}/numba" for b in backends if b != "numba"] + ["numba GFLOP/s", "% GEMM peak"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [case_label(r), r["mode"], f"{r['B']}, {r['T']}, {r['I']}, {r['H']}", r["cell"], r["dtype"]]
        cells += [fmt_ms(r[f"{b}_ms"] / 1e3) for b in backends]
        if "numba" in backends:
            cells += [fmt_ratio(r.get(f"{b}_over_numba")) for b in backends if b != "numba"]
            peak = out["meta"]["gemm_peak_gflops"][r["dtype"]]
            frac = r.get("numba_peak_fraction")
            cells += ["-", "-"] if frac is None else [f"{frac * peak:.1f}", f"{100 * frac:.0f}%"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_startup(st: dict) -> str:
    """The lines of a run's ``startup`` (cold: JIT compile; warm: on-disk cache)."""
    lines = []
    for kind in ("cold", "warm"):
        s = st.get(kind)
        if not s:
            continue
        what = "JIT compile (empty cache)" if kind == "cold" else "on-disk cache warm"
        lines.append(f"start-up, {what}: new process to the end of its first train step "
                     f"{s['launch_to_first_step_s']:.2f} s (import of numpy + fastrnn {s['import_s']:.2f} s)")
        for r in s["steps"]:
            lines.append(f"  first step {r['cell']} {r['dtype']}: {r['first_step_s']:.2f} s")
    return "\n".join(lines)


def plot_group(row: dict) -> tuple[str, tuple[int, int, int, int]]:
    """The x-axis group of a row in :func:`plot`: (case, size), as a dataset's size may equal a grid size."""
    return row.get("case", "grid"), (row["B"], row["T"], row["I"], row["H"])


def plot(out: dict, path) -> None:
    """Bar chart of the same-run speed-ups of the Numba path over PyTorch and over NumPy.

    One group of bars per (case, size) (:func:`plot_group`), the dataset cases labelled with their
    name; written as a PNG to ``path`` (needs matplotlib).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rows = out["ratios"]
    modes = [m for m in MODES if any(r["mode"] == m for r in rows)]
    keys = [k for k in ("torch_over_numba", "numpy_over_numba") if any(r.get(k) is not None for r in rows)]
    if not keys:
        keys = ["numba_ms"]
    fig, axes = plt.subplots(len(modes), len(keys), figsize=(7 * len(keys), 4.5 * len(modes)), squeeze=False)
    for i, mode in enumerate(modes):
        mrows = [r for r in rows if r["mode"] == mode]
        groups = list(dict.fromkeys(plot_group(r) for r in mrows))
        series = list(dict.fromkeys((r["cell"], r["dtype"]) for r in mrows))
        for j, key in enumerate(keys):
            ax = axes[i][j]
            width = 0.8 / max(1, len(series))
            for k, (cell, d) in enumerate(series):
                vals = []
                for g in groups:
                    r = next((r for r in mrows if plot_group(r) == g and r["cell"] == cell and r["dtype"] == d),
                             None)
                    vals.append(r.get(key) if r and r.get(key) is not None else np.nan)
                xs = np.arange(len(groups)) + (k - (len(series) - 1) / 2) * width
                ax.bar(xs, vals, width, label=f"{cell} {d}", hatch="//" if d == "float64" else None,
                       color=f"C{CELLS.index(cell) if cell in CELLS else k}", alpha=0.9 if d == "float32" else 0.6)
            ax.axhline(1.0, color="k", lw=0.8)
            ax.set_xticks(np.arange(len(groups)))
            ax.set_xticklabels([("" if case == "grid" else f"{case}\n") + f"B={s[0]} T={s[1]}\nI={s[2]} H={s[3]}"
                                for case, s in groups], fontsize=8)
            if key.endswith("_over_numba"):
                ax.set_yscale("log")
                fmt = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
                ax.yaxis.set_major_formatter(fmt)
                ax.yaxis.set_minor_formatter(fmt)
                ax.tick_params(axis="y", which="minor", labelsize=7)
                ax.set_ylabel(f"{key.split('_')[0]} time / numba time")
                ax.set_title(f"{mode}: Numba speed-up over {key.split('_')[0]} (same run; > 1 = faster)")
            else:
                ax.set_ylabel("ms")
            ax.legend(fontsize=7, ncol=2)
    th = out["meta"]["threads"]
    fig.suptitle(f"fastrnn bench, {out['meta']['machine']['cpu']}, {out['meta']['requested_threads']} thread(s) "
                 f"(numba {th['numba']}, torch {th['torch']}), {out['meta']['date']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
