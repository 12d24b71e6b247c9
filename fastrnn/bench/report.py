"""What a run reports: the machine and versions, the progress lines, the Markdown table, the
start-up lines and the chart. Everything here reads a :func:`fastrnn.bench.run` result (or its rows)
and measures nothing.
"""

from __future__ import annotations

import os
import platform

import numpy as np

from fastrnn.bench.cases import BACKENDS, CELLS, MANY_SIDES, MODES

#: Column titles of the sides of a many case.
MANY_TITLES = {"stack_1t": "stack 1 thread", "stack": "stack", "loop": "fastrnn loop", "torch_loop": "torch loop",
               "torch_vmap": "torch.func vmap", "jax_vmap": "jax vmap"}


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
    """The versions of Python, NumPy, Numba, llvmlite, SciPy, PyTorch and JAX (None where not importable)."""
    v = {"python": platform.python_version()}
    for m in ("numpy", "numba", "llvmlite", "scipy", "torch", "jax"):
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

    "grid", "64 models (adam)" for a many case, or the dataset with its training settings, e.g.
    "airline (adam, clip 1, ×5 members)" (rows without ``case``, from before dataset cases existed,
    are grid rows).
    """
    name = row.get("case", "grid")
    if name == "grid":
        return name
    if name == "many":
        return f"{row['num_models']} models (adam)"
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
    parts += [f"{b} busy/idle {fmt_ratio(row[f'{b}_slowdown'])}" for b in backends if f"{b}_slowdown" in row]
    return "  ".join(parts)


def format_table(out: dict) -> str:
    """A Markdown table of the medians (ms) and same-run ratios, the case first (:func:`case_label`)."""
    rows = out["ratios"]
    backends = [b for b in BACKENDS if any(f"{b}_ms" in r for r in rows)]
    head = ["case", "mode", "B, T, I, H", "cell", "dtype"] + [f"{b} ms" for b in backends]
    if "numba" in backends:
        head += [f"{b}/numba" for b in backends if b != "numba"] + ["numba GFLOP/s", "% GEMM peak"]
    busy = [b for b in backends if any(f"{b}_slowdown" in r for r in rows)]
    head += [f"{b} busy ms" for b in busy] + [f"{b} busy/idle" for b in busy]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [case_label(r), r["mode"], f"{r['B']}, {r['T']}, {r['I']}, {r['H']}", r["cell"], r["dtype"]]
        cells += [fmt_ms(r[f"{b}_ms"] / 1e3) for b in backends]
        if "numba" in backends:
            cells += [fmt_ratio(r.get(f"{b}_over_numba")) for b in backends if b != "numba"]
            peak = out["meta"]["gemm_peak_gflops"][r["dtype"]]
            frac = r.get("numba_peak_fraction")
            cells += ["-", "-"] if frac is None else [f"{frac * peak:.1f}", f"{100 * frac:.0f}%"]
        cells += [fmt_ms(r[f"{b}_busy_ms"] / 1e3) for b in busy] + [fmt_ratio(r.get(f"{b}_slowdown")) for b in busy]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _many_title(side: str, threads: int | None) -> str:
    """The title of a side of a many case; the stack's names its threads."""
    if side == "stack" and threads is not None:
        return f"stack {threads} thread{'s' if threads > 1 else ''}"
    return MANY_TITLES[side]


def _many_ms(row: dict, side: str) -> str:
    """A side's median of a many row, or why it is absent ("not installed", ...)."""
    if side in row.get("absent", {}):
        return row["absent"][side]
    return fmt_ms(row[f"{side}_ms"] / 1e3) if row.get(f"{side}_ms") is not None else "-"


def format_many_row(row: dict) -> str:
    """The progress line of a many row: every side's ms, the stack's speed-ups, GFLOP/s and % of peak.

    Parameters
    ----------
    row : a row of a run's ``many``.

    Returns
    -------
    str
        One line.
    """
    sides = [s for s in MANY_SIDES if f"{s}_ms" in row]
    parts = [f"{case_label(row)} train {row['cell']:4s} {row['dtype']:7s} "
             f"B,T,I,H={row['B']},{row['T']},{row['I']},{row['H']}:"]
    parts += [f"{_many_title(s, row.get('threads'))} {_many_ms(row, s)}"
              + (" ms" if row.get(f"{s}_ms") is not None else "") for s in sides]
    if row.get("threads_speedup") is not None:
        parts.append(f"stack {row['threads']} threads / 1 thread {fmt_ratio(row['threads_speedup'])}")
    if row.get("best_peer_over_stack") is not None:
        parts.append(f"best peer ({MANY_TITLES[row['best_peer']]}) / stack {fmt_ratio(row['best_peer_over_stack'])}")
    if row.get("stack_peak_fraction") is not None:
        parts.append(f"stack {row['stack_gflops']:.1f} GFLOP/s, {100 * row['stack_peak_fraction']:.0f}% of GEMM peak")
    parts += [f"{_many_title(s, row.get('threads'))} busy/idle {fmt_ratio(row[f'{s}_slowdown'])}" for s in sides
              if f"{s}_slowdown" in row]
    return "  ".join(parts)


def format_many_table(out: dict) -> str:
    """A Markdown table of the many rows: each side's median (ms, or why it is absent), the stack's
    speed-up from one thread to the run's threads, ``side/stack`` ratios (> 1: the stack is faster),
    the best peer's ratio, the stack's GFLOP/s and % of the GEMM peak, and under contention each
    side's slowdown (busy / idle).

    Parameters
    ----------
    out : a :func:`fastrnn.bench.run` result with ``many`` rows.

    Returns
    -------
    str
        The table.
    """
    rows = out["many"]
    sides = [s for s in MANY_SIDES if any(f"{s}_ms" in r for r in rows)]
    others = [s for s in sides if not s.startswith("stack")]
    busy = [s for s in sides if any(f"{s}_slowdown" in r for r in rows)]
    threads = rows[0].get("threads") if rows else None

    def title(s):
        return _many_title(s, threads)

    head = (["case", "B, T, I, H", "cell", "dtype"] + [f"{title(s)} ms" for s in sides]
            + ["stack threads/1"] + [f"{title(s)}/stack" for s in others]
            + ["best peer/stack", "stack GFLOP/s", "% GEMM peak"] + [f"{title(s)} busy/idle" for s in busy])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        frac = r.get("stack_peak_fraction")
        cells = [case_label(r), f"{r['B']}, {r['T']}, {r['I']}, {r['H']}", r["cell"], r["dtype"]]
        cells += [_many_ms(r, s) for s in sides]
        cells.append(fmt_ratio(r.get("threads_speedup")))
        cells += [r["absent"][s] if s in r.get("absent", {}) else fmt_ratio(r.get(f"{s}_over_stack")) for s in others]
        best = r.get("best_peer_over_stack")
        cells.append("-" if best is None else f"{fmt_ratio(best)} ({MANY_TITLES[r['best_peer']]})")
        cells += ["-", "-"] if frac is None else [f"{r['stack_gflops']:.1f}", f"{100 * frac:.0f}%"]
        cells += [fmt_ratio(r.get(f"{s}_slowdown")) for s in busy]
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


def plot_many(out: dict, path: str | os.PathLike) -> None:
    """Bar chart of a run's many rows: each side's median time per (cell, dtype), log scale, the
    absent sides left out; written as a PNG to ``path`` (needs matplotlib).

    Parameters
    ----------
    out : a :func:`fastrnn.bench.run` result with ``many`` rows.
    path : the PNG file.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = out["many"]
    sides = [s for s in MANY_SIDES if any(r.get(f"{s}_ms") is not None for r in rows)]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(rows) * max(1, len(sides)) / 3), 4.5))
    width = 0.8 / max(1, len(sides))
    for k, side in enumerate(sides):
        vals = [r.get(f"{side}_ms") if r.get(f"{side}_ms") is not None else np.nan for r in rows]
        xs = np.arange(len(rows)) + (k - (len(sides) - 1) / 2) * width
        ax.bar(xs, vals, width, label=_many_title(side, rows[0].get("threads")), color=f"C{k}")
    ax.set_yscale("log")
    ax.set_ylabel("ms per train step of all models (median)")
    ax.set_xticks(np.arange(len(rows)))
    ax.set_xticklabels([f"{r['num_models']} x {r['cell']} {r['dtype']}\nB={r['B']} T={r['T']} I={r['I']} H={r['H']}"
                        for r in rows], fontsize=8)
    ax.legend(fontsize=7, ncol=3)
    ax.set_title("many independent models, one train step of each (same run; lower is faster)", fontsize=9)
    fig.suptitle(f"fastrnn bench --many, {out['meta']['machine']['cpu']}, {out['meta']['requested_threads']} "
                 f"thread(s), {out['meta']['date']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
