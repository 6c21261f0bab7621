"""The report's figures, redrawn from our runs: Fig. 2, Fig. 3 and the ACR scatters (Fig. 6, 7).

Colours follow the paper: fine-grain training red, coarse-grain training blue; training accuracy
dotted, test accuracy solid. Error bars are the 95% intervals over seeds where there are several.
matplotlib with the Agg backend; each function builds its own Figure and writes one PNG.
"""

import math
import textwrap

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import pandas as pd  # pylint: disable=wrong-import-position

COLOURS = {"fine": "tab:red", "coarse": "tab:blue"}


def _grid(count: int, width: float = 4.0, height: float = 3.2):
    columns = min(count, 3)
    rows = math.ceil(count / columns)
    fig = Figure(figsize=(width * columns, height * rows), dpi=100)
    axes = [fig.add_subplot(rows, columns, i + 1) for i in range(count)]
    return fig, axes


def _finish_grid(fig, axes, titles, xlabel: str, path: str) -> None:
    """Titles, labels and legends the panels of a coarse-accuracy grid and writes the PNG.

    Args:
        fig, axes: from `_grid`, the curves already drawn.
        titles: one per panel drawn (none: the grid says there are no finished runs yet).
        xlabel: the x axis label of every panel.
        path: the PNG to write.
    """
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("coarse accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if not titles:
        axes[0].text(0.5, 0.5, "no finished runs yet", ha="center", va="center")
    fig.tight_layout()
    fig.savefig(path)


def _error(frame: pd.DataFrame, prefix: str):
    """Asymmetric error bars (or None when no point has an interval)."""
    low, high, mean = frame[f"{prefix}_low"], frame[f"{prefix}_high"], frame[f"{prefix}_mean"]
    if low.isna().all():
        return None
    return np.vstack([(mean - low).fillna(0).to_numpy(), (high - mean).fillna(0).to_numpy()])


def plot_fraction_curves(points: pd.DataFrame, path: str) -> None:
    """Fig. 2: coarse accuracy vs. fraction of training data, fine (red) vs. coarse (blue).

    Args:
        points: rows with paper_name, labels ('fine'/'coarse'), fraction and, in percent,
            test_mean/test_low/test_high and train_mean/train_low/train_high (running training
            accuracy, the paper's figure).
        path: the PNG to write.
    """
    names = list(dict.fromkeys(points["paper_name"]))
    fig, axes = _grid(max(len(names), 1))
    for ax, name in zip(axes, names):
        for labels, group in points[points["paper_name"] == name].groupby("labels"):
            group = group.sort_values("fraction")
            colour = COLOURS.get(labels, "tab:gray")
            for prefix, style in (("train", ":"), ("test", "-")):
                if group[f"{prefix}_mean"].notna().any():
                    ax.errorbar(group["fraction"] * 100, group[f"{prefix}_mean"],
                                yerr=_error(group, prefix), color=colour, linestyle=style,
                                marker="o", markersize=3, capsize=2,
                                label=f"{labels} {prefix}")
    _finish_grid(fig, axes, names, "training data (%)", path)


def plot_training_curves(curves: dict, path: str) -> None:
    """Fig. 3: per-epoch running training (dotted) and test (solid) coarse accuracy.

    Args:
        curves: {dataset display name: {'fine' | 'coarse': DataFrame(epoch, train, test)}}, the
            accuracies in percent (mean over seeds).
        path: the PNG to write.
    """
    fig, axes = _grid(max(len(curves), 1))
    for ax, (name, by_labels) in zip(axes, curves.items()):
        for labels, frame in by_labels.items():
            colour = COLOURS.get(labels, "tab:gray")
            ax.plot(frame["epoch"], frame["train"], color=colour, linestyle=":",
                    label=f"{labels} train (running)")
            if frame["test"].notna().any():
                ax.plot(frame["epoch"], frame["test"], color=colour, linestyle="-",
                        label=f"{labels} test")
    _finish_grid(fig, axes, list(curves), "epoch", path)


def plot_scatter(points: pd.DataFrame, path: str, *, title: str, xlabel: str,
                 ylabel: str = "ΔA test (percentage points)") -> None:
    """ACR (x) against ΔA (y): Fig. 6, 7a, 7b and the early-ACR figure.

    Args:
        points: rows with x, y (mean), y_low, y_high (nan: no interval), label (the number or
            name written next to the point) and optionally series (one marker per series).
        path: the PNG to write.
        title: the axes title (e.g. with the rank correlation).
        xlabel: the x axis label.
        ylabel: the y axis label.
    """
    fig = Figure(figsize=(5.5, 4.2), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    series = points["series"] if "series" in points else pd.Series("", index=points.index)
    for marker, (name, group) in zip("osD^v", points.groupby(series, sort=False)):
        yerr = None
        if group["y_low"].notna().any():
            yerr = np.vstack([(group["y"] - group["y_low"]).fillna(0).to_numpy(),
                              (group["y_high"] - group["y"]).fillna(0).to_numpy()])
        ax.errorbar(group["x"], group["y"], yerr=yerr, linestyle="none", marker=marker,
                    capsize=2, label=name or None)
        for _, p in group.iterrows():
            ax.annotate(str(p["label"]), (p["x"], p["y"]), textcoords="offset points",
                        xytext=(4, 4), fontsize=7)
    if points.empty:
        ax.text(0.5, 0.5, "no points yet", ha="center", va="center", transform=ax.transAxes)
    ax.axhline(0.0, color="gray", linewidth=0.8)
    ax.set_title(textwrap.fill(title, 70), fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if series.astype(bool).any():
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
