"""Figures of a run: t-SNE of penultimate features (paper Fig. 4) and confusion matrices (Fig. 5).

matplotlib with the non-interactive Agg backend (figures are files, never windows). Every function
builds its own Figure object, so nothing leaks between calls or threads.
"""

import io

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
from PIL import Image  # pylint: disable=g-import-not-at-top,wrong-import-position
from sklearn.manifold import TSNE  # pylint: disable=g-import-not-at-top,wrong-import-position

MAX_TSNE_POINTS = 2000


def tsne_embedding(features, seed: int = 0, max_iter: int = 1000) -> np.ndarray:
    """2-D t-SNE of features (van der Maaten & Hinton 2008, as paper Fig. 4).

    Args:
        features: float array (n, D) with 2 <= n <= MAX_TSNE_POINTS.
        seed: random_state of the t-SNE (PCA initialisation, so runs are repeatable).
        max_iter: optimisation iterations (sklearn's default 1000; at least 250).

    Returns:
        float32 array (n, 2).
    """
    features = np.asarray(features, np.float32)
    n = len(features)
    if features.ndim != 2 or not 2 <= n <= MAX_TSNE_POINTS:
        raise ValueError(f"features must have shape (n, D) with 2 <= n <= {MAX_TSNE_POINTS}; got "
                         f"{features.shape}. Select a subset (embeddings.balanced_subset).")
    # Perplexity must stay below n; 30 is sklearn's default for larger sets.
    tsne = TSNE(n_components=2, perplexity=min(30.0, max(1.0, (n - 1) / 3)), init="pca",
                random_state=seed, max_iter=max_iter)
    return tsne.fit_transform(features).astype(np.float32)


def plot_tsne(features, coarse_labels, coarse_names, path: str, seed: int = 0,
              title: str = "") -> np.ndarray:
    """Scatter plot of a t-SNE of features coloured by coarse class, class means as red triangles.

    Args:
        features: float array (n, D), n <= MAX_TSNE_POINTS.
        coarse_labels: int array (n,), the ground-truth coarse class of each point.
        coarse_names: names of the coarse classes (legend).
        path: PNG file to write.
        seed: t-SNE seed.
        title: optional figure title.

    Returns:
        The 2-D embedding, float32 (n, 2).
    """
    coarse_labels = np.asarray(coarse_labels)
    if len(coarse_labels) != len(features):
        raise ValueError(f"coarse_labels must have one entry per feature row ({len(features)}); "
                         f"got {len(coarse_labels)}.")
    points = tsne_embedding(features, seed)
    fig = Figure(figsize=(6, 6), dpi=100)
    ax = fig.subplots()
    colours = matplotlib.colormaps["tab10" if len(coarse_names) <= 10 else "tab20"]
    for c, name in enumerate(coarse_names):
        members = points[coarse_labels == c]
        if len(members):
            ax.scatter(members[:, 0], members[:, 1], s=4, alpha=0.6, color=colours(c % colours.N),
                       label=str(name))
    for c in np.unique(coarse_labels):
        mean = points[coarse_labels == c].mean(axis=0)
        ax.scatter([mean[0]], [mean[1]], marker="^", s=120, color="red", edgecolors="black")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="best", markerscale=3, fontsize="small")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    return points


def _confusion_figure(confusion, class_names) -> Figure:
    matrix = np.asarray(confusion, np.float64)
    if matrix.ndim != 2 or not matrix.shape[0] == matrix.shape[1] == len(class_names):
        raise ValueError(f"confusion must be square with one row per class name "
                         f"({len(class_names)}); got shape {matrix.shape}.")
    k = len(class_names)
    side = min(4 + 0.45 * k, 24)
    fig = Figure(figsize=(side, side), dpi=100)
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues", interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), [str(n) for n in class_names], rotation=90,
                  fontsize=8 if k > 20 else 10)
    ax.set_yticks(range(k), [str(n) for n in class_names], fontsize=8 if k > 20 else 10)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 20:  # counts stay legible up to about 20 classes
        threshold = matrix.max() / 2 if matrix.size else 0
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{matrix[i, j]:g}", ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] > threshold else "black")
    fig.tight_layout()
    return fig


def plot_confusion(confusion, class_names, path: str) -> None:
    """Writes a heat map of a confusion matrix (rows true, columns predicted) to a PNG file."""
    _confusion_figure(confusion, class_names).savefig(path)


def confusion_image(confusion, class_names) -> np.ndarray:
    """The heat map of `plot_confusion` as an RGBA uint8 array (H, W, 4), for tf.summary.image."""
    buffer = io.BytesIO()
    _confusion_figure(confusion, class_names).savefig(buffer, format="png")
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGBA"), np.uint8)
