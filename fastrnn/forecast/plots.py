"""The plots of a run folder: ``loss.png`` and ``forecast.png`` (needs matplotlib, optional)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fastrnn.forecast.job import TrainResult


def agg_or_note(files: str) -> str | None:
    """Select matplotlib's file-only backend (Agg) and return None; without matplotlib, the note
    that ``files`` (e.g. ``"loss.png and forecast.png"``) were skipped and how to get them."""
    try:
        import matplotlib
    except ImportError:
        return (f"matplotlib is not installed, so {files} were skipped "
                "(pip install 'fastrnn[plot]' to get them)")
    matplotlib.use("Agg", force=True)
    return None


def write_plots(result: TrainResult, folder: Path) -> str | None:
    """Write ``loss.png`` and ``forecast.png`` of ``result`` into ``folder``.

    Returns ``None``, or a note saying why they were skipped (matplotlib is not installed).
    """
    note = agg_or_note("loss.png and forecast.png")
    if note is not None:
        return note
    plot_loss(result, folder / "loss.png")
    plot_forecast(result, folder / "forecast.png")
    return None


def _label(result: TrainResult) -> str:
    """The model's name in the plots: its kind, or a combination's members (``linear``, ``lstm+linear``)."""
    return "+".join(result.config.combine) if result.config.combine else result.config.model.upper()


def plot_loss(result: TrainResult, path: Path) -> None:
    """Draw the training and validation loss per epoch of every member into ``path`` (PNG)."""
    import matplotlib.pyplot as plt

    h = result.history
    if h is None:  # a combination of the linear AR and persistence only: nothing was trained
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.text(0.5, 0.5, f"{_label(result)}: nothing trained\n(least squares and persistence)",
                ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return
    epochs = np.arange(1, h.epochs_run + 1)
    fig, ax = plt.subplots(figsize=(7, 4))
    many = len(result.histories) > 1
    ax.plot(epochs, h.loss, color="C0", label="training loss" + (" (member 1)" if many else ""))
    ax.plot(epochs, h.val_loss, color="C1", label="validation loss" + (" (member 1)" if many else ""))
    for k, other in enumerate(result.histories[1:], start=2):
        e = np.arange(1, other.epochs_run + 1)
        ax.plot(e, other.loss, color="C0", lw=0.6, alpha=0.4,
                label="other members" if k == 2 else None)
        ax.plot(e, other.val_loss, color="C1", lw=0.6, alpha=0.4)
    if h.best_epoch:
        ax.axvline(h.best_epoch, color="grey", ls=":",
                   label=f"best epoch ({h.best_epoch}{' of member 1' if many else ''})")
    ax.set_yscale("log")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE (scaled)")
    ax.set_title(f"{result.config.name}: {_label(result)} training"
                 + (f" (ensemble of {len(result.histories)})" if many else ""))
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_forecast(result: TrainResult, path: Path) -> None:
    """Draw the series, the model's one-step test forecasts (with their conformal intervals, when the
    run has them) and linear AR's into ``path`` (PNG)."""
    import matplotlib.pyplot as plt

    prep, m = result.prep, result.metrics
    x_all = prep.dates if prep.dates is not None else np.arange(len(prep.values))
    s = prep.starts["test"]
    x_test = x_all[s]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.plot(x_all, prep.values, color="black", lw=1, label="actual")
    ax.plot(x_test, result.test_pred, color="C1", lw=1.2,
            label=f"{_label(result)} one step ahead (RMSE {m['test']['rmse']:.4g})")
    iv = m.get("intervals") or {}
    if iv:
        from fastrnn.forecast.intervals import window_scale

        scale = window_scale(prep.values, s, iv["scale"]["look_back"], iv["scale"]["floor"])
    for k, level in enumerate(sorted(iv.get("levels", ()), reverse=True)):  # widest first, lightest
        q = iv["quantiles"][f"{level:g}"][0]
        w = None if q is None else q * scale
        if w is not None:
            ax.fill_between(x_test, result.test_pred - w, result.test_pred + w, color="C1", lw=0,
                            alpha=0.15 + 0.15 * k,
                            label=f"{level:g} % interval (test coverage {100 * iv['coverage'][f'{level:g}']:.0f} %)")
    ar = result.baseline_pred.get("linear_ar")
    if ar is not None:
        ax.plot(x_test, ar, color="C2", lw=0.8, ls="--",
                label=f"linear AR({prep.look_back}) (RMSE {m['baselines']['linear_ar']['rmse']:.4g})")
    ax.axvline(x_all[prep.split.train_end], color="grey", ls=":", lw=0.8)
    ax.axvline(x_all[prep.split.test_start], color="grey", ls="--", lw=0.8)
    ax.set_title(f"{result.config.name}: test forecasts (validation from the dotted line, test from the "
                 f"dashed line)", fontsize=10)
    ax.set_ylabel(result.data.column)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
