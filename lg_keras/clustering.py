"""Automatic fine labels: k-means clusters within each coarse class (paper Sec. VI-B).

The paper asks whether fine labels obtained without annotators, by clustering within each coarse
class, give the same gain as human fine labels. `cluster_within_coarse` fits one k-means per coarse
class on the TRAINING split only; `assign` labels any split's examples by the nearest centroid of
their OWN coarse class, so test examples never move a centroid and never leave their coarse class.
Cluster label = coarse * k + cluster, so the cluster view's map to coarse classes is exactly
`np.repeat(np.arange(num_coarse_classes), k)` (`cluster_fine_to_coarse`).

Features are standardised before clustering: each dimension is z-scored with the mean and standard
deviation of the whole training split (constant dimensions keep scale 1, so they contribute
nothing). Penultimate ReLU features and raw pixels have dimensions of very different spread;
without it k-means would cluster on the few largest ones.

Within a coarse class the clusters are numbered by decreasing training size (ties: the cluster whose
first member comes first), so labels do not depend on k-means' arbitrary numbering.
"""

import dataclasses
import logging

import numpy as np
from sklearn import cluster as sk_cluster
from sklearn import metrics as sk_metrics
from threadpoolctl import threadpool_limits

from lg_keras.errors import ConfigError, DataError

# Restarts of k-means per coarse class (scikit-learn's classic default; fixed so results depend on
# the seed only).
N_INIT = 10
# Side of the box-averaged thumbnail of `pixel_features`.
PIXEL_GRID = 8


@dataclasses.dataclass(frozen=True)
class ClusterModel:
    """Per-coarse-class k-means centroids in standardised feature space.

    Attributes:
        k: clusters per coarse class.
        mean: float64 [D], training-split feature means.
        scale: float64 [D], training-split feature standard deviations (1 where constant).
        centroids: float64 [num_coarse_classes, k, D], standardised; row c, j is cluster c * k + j.
    """

    k: int
    mean: np.ndarray
    scale: np.ndarray
    centroids: np.ndarray

    @property
    def num_coarse_classes(self) -> int:
        """Number of coarse classes the model has centroids for."""
        return int(self.centroids.shape[0])

    def standardize(self, features) -> np.ndarray:
        """Z-scores features [n, D] with the training statistics."""
        return (np.asarray(features, np.float64) - self.mean) / self.scale


def cluster_fine_to_coarse(num_coarse_classes: int, k: int) -> np.ndarray:
    """The cluster view's class -> coarse class map: [0]*k + [1]*k + ... (int64)."""
    return np.repeat(np.arange(num_coarse_classes, dtype=np.int64), k)


def _check_inputs(features, coarse, name: str) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features)
    coarse = np.asarray(coarse)
    if features.ndim != 2 or coarse.ndim != 1 or len(features) != len(coarse):
        raise DataError(f"{name}: features must be [n, D] and coarse labels [n]; got "
                        f"{features.shape} and {coarse.shape}.")
    if not np.all(np.isfinite(features)):
        raise DataError(f"{name}: features must be finite (a diverged run gives NaN features).")
    return features, coarse.astype(np.int64)


def _class_seed(seed: int, coarse_class: int) -> int:
    # Independent k-means initialisations per coarse class, all determined by `seed`.
    return int(np.random.SeedSequence([seed, coarse_class]).generate_state(1)[0] % (2**31))


def _ordered_centroids(centroids: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Centroids sorted by decreasing member count, ties by the first member's index."""
    k = len(centroids)
    counts = np.bincount(members, minlength=k)
    first = np.array([np.flatnonzero(members == j)[0] if counts[j] else len(members)
                      for j in range(k)])
    return centroids[np.lexsort((first, -counts))]


def check_class_sizes(train_counts, k: int, coarse_names: list[str] | None = None) -> None:
    """Raises DataError unless every coarse class has at least k training examples.

    Args:
        train_counts: int [num_coarse_classes], training examples per coarse class.
        k: clusters per coarse class.
        coarse_names: coarse class names, for the message.
    """
    for c, count in enumerate(np.asarray(train_counts)):
        if count < k:
            name = f" ({coarse_names[c]!r})" if coarse_names else ""
            raise DataError(f"k={k} clusters per coarse class needs at least {k} training examples "
                            f"in every coarse class; coarse class {c}{name} has {count}. Use a "
                            f"smaller k.")


def cluster_within_coarse(train_features, train_coarse, k: int, seed: int,
                          num_coarse_classes: int | None = None,
                          coarse_names: list[str] | None = None) -> ClusterModel:
    """Fits one k-means with k clusters per coarse class on training features.

    Args:
        train_features: float [n, D], training split only.
        train_coarse: int [n] coarse labels of the same examples.
        k: clusters per coarse class, >= 1.
        seed: seed of every k-means initialisation (same seed, same clusters).
        num_coarse_classes: number of coarse classes (default: max label + 1).
        coarse_names: coarse class names, for error messages.

    Returns:
        The fitted ClusterModel.

    Raises:
        ConfigError: k < 1.
        DataError: mismatched shapes, non-finite features, or a coarse class with fewer than k
            training examples.
    """
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ConfigError(f"k (clusters per coarse class) must be an integer >= 1; got {k!r}.")
    features, coarse = _check_inputs(train_features, train_coarse, "cluster_within_coarse")
    num_coarse = int(num_coarse_classes or (coarse.max() + 1 if len(coarse) else 0))
    check_class_sizes(np.bincount(coarse, minlength=num_coarse), k, coarse_names)
    mean = features.mean(axis=0, dtype=np.float64)
    scale = features.std(axis=0, dtype=np.float64)
    scale = np.where(scale > 0, scale, 1.0)
    z = (features - mean) / scale
    centroids = np.zeros((num_coarse, k, z.shape[1]), np.float64)
    for c in range(num_coarse):
        members = z[coarse == c]
        kmeans = sk_cluster.KMeans(n_clusters=k, n_init=N_INIT, random_state=_class_seed(seed, c))
        # One thread: the same result whatever the core count, and OpenMP threads spinning on
        # a busy 2-core machine made k-means about 10x slower than one thread (2,500 x 192).
        with threadpool_limits(limits=1):
            assigned = kmeans.fit_predict(members)
        if len(np.unique(assigned)) < k:
            logging.warning("Coarse class %d: only %d of k=%d clusters are non-empty (too few "
                            "distinct training features).", c, len(np.unique(assigned)), k)
        centroids[c] = _ordered_centroids(kmeans.cluster_centers_, assigned)
    return ClusterModel(k=int(k), mean=mean, scale=scale, centroids=centroids)


def assign(model: ClusterModel, features, coarse) -> np.ndarray:
    """Cluster labels of any split: the nearest centroid of each example's own coarse class.

    Nothing is refitted: the centroids and standardisation come from the training split.

    Args:
        model: from `cluster_within_coarse`.
        features: float [n, D], same feature extractor as the training features.
        coarse: int [n] coarse labels.

    Returns:
        int64 [n], coarse * k + index of the nearest centroid.

    Raises:
        DataError: mismatched shapes or feature width, non-finite features, unknown coarse label.
    """
    features, coarse = _check_inputs(features, coarse, "assign")
    if features.shape[1] != model.centroids.shape[2]:
        raise DataError(f"assign: features have {features.shape[1]} dimensions, the cluster model "
                        f"{model.centroids.shape[2]}.")
    if len(coarse) and (coarse.min() < 0 or coarse.max() >= model.num_coarse_classes):
        raise DataError(f"assign: coarse labels must be in [0, {model.num_coarse_classes}); got "
                        f"{coarse.min()}..{coarse.max()}.")
    z = model.standardize(features)
    out = np.zeros(len(z), np.int64)
    for c in np.unique(coarse):
        rows = coarse == c
        centroids = model.centroids[c]
        # Squared distances up to the per-row constant |z|^2, as [n_c, k] (not [n_c, k, D]).
        d = (centroids ** 2).sum(axis=1)[None, :] - 2.0 * z[rows] @ centroids.T
        out[rows] = c * model.k + np.argmin(d, axis=1)
    return out


def agreement(cluster_labels, fine_labels) -> dict[str, float]:
    """How well clusters match the human fine labels (both invariant to renumbering).

    Returns:
        {'adjusted_rand_index': ARI in [-0.5, 1] (0 for chance), 'normalized_mutual_info': NMI in
        [0, 1] (arithmetic-mean normalisation, scikit-learn's default)}.
    """
    cluster_labels, fine_labels = np.asarray(cluster_labels), np.asarray(fine_labels)
    if cluster_labels.shape != fine_labels.shape or cluster_labels.ndim != 1:
        raise DataError(f"agreement: label arrays must be [n] of equal length; got "
                        f"{cluster_labels.shape} and {fine_labels.shape}.")
    return {
        "adjusted_rand_index": float(sk_metrics.adjusted_rand_score(fine_labels, cluster_labels)),
        "normalized_mutual_info": float(
            sk_metrics.normalized_mutual_info_score(fine_labels, cluster_labels)),
    }


def agreement_within_coarse(cluster_labels, fine_labels, coarse_labels) -> dict[str, float]:
    """`agreement` inside each coarse class, averaged over the coarse classes (unweighted).

    Clusters never cross coarse classes, so the whole-split `agreement` also credits the coarse
    split, which is given; this one measures only how each coarse class is divided.
    """
    coarse_labels = np.asarray(coarse_labels)
    cluster_labels, fine_labels = np.asarray(cluster_labels), np.asarray(fine_labels)
    scores = [agreement(cluster_labels[coarse_labels == c], fine_labels[coarse_labels == c])
              for c in np.unique(coarse_labels)]
    return {key: float(np.mean([s[key] for s in scores])) if scores else float("nan")
            for key in ("adjusted_rand_index", "normalized_mutual_info")}


def _box_edges(size: int, grid: int) -> tuple[np.ndarray, np.ndarray]:
    starts = (np.arange(grid) * size) // grid
    counts = np.maximum(np.diff(np.r_[starts, size]), 1)
    return np.minimum(starts, size - 1), counts


def pixel_features(images) -> np.ndarray:
    """Raw-pixel features: an 8x8 box-averaged thumbnail per channel, flattened.

    Each image is split into an 8 x 8 grid of near-equal boxes and each box's mean is taken per
    channel (192 values for RGB, 64 for grey), on a [0, 1] scale. Colour is kept: the coarse layout
    of colour (sky, water, foliage) is what separates natural images in pixel space. Images smaller
    than 8 pixels on a side repeat pixels. This is the annotation-free and model-free baseline; a
    network's penultimate features are the main option.

    Args:
        images: [n, H, W, C], uint8 (0..255, scaled to 0..1) or float (taken as 0..1).

    Returns:
        float32 [n, 8 * 8 * C].
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise DataError(f"pixel_features: images must be [n, H, W, C]; got {images.shape}.")
    x = images.astype(np.float64)
    if np.issubdtype(images.dtype, np.integer):
        x /= 255.0
    for axis, size in ((1, x.shape[1]), (2, x.shape[2])):
        starts, counts = _box_edges(size, PIXEL_GRID)
        x = np.add.reduceat(x, starts, axis=axis)
        shape = [1] * x.ndim
        shape[axis] = PIXEL_GRID
        x = x / counts.reshape(shape)
    return x.reshape(len(x), -1).astype(np.float32)
