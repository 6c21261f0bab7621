"""lg_keras.figures: t-SNE scatter (Fig. 4) and confusion heat maps (Fig. 5) as files and arrays."""

import numpy as np
from PIL import Image
import pytest

from lg_keras import figures


def _clusters(n_per=15, seed=0):
    rng = np.random.default_rng(seed)
    features = np.concatenate([rng.normal(0, 1, (n_per, 8)), rng.normal(6, 1, (n_per, 8))])
    return features.astype(np.float32), np.repeat([0, 1], n_per)


def test_plot_tsne_writes_a_png_with_red_class_means_and_is_seeded(tmp_path):
    features, coarse = _clusters()
    points = figures.plot_tsne(features, coarse, ["animal", "vehicle"], str(tmp_path / "a.png"),
                               seed=3)
    assert points.shape == (30, 2)
    np.testing.assert_allclose(figures.tsne_embedding(features, seed=3, max_iter=250),
                               figures.tsne_embedding(features, seed=3, max_iter=250))
    # Separated clusters stay separated: the class means are far apart relative to the spread.
    means = [points[coarse == c].mean(0) for c in (0, 1)]
    spread = max(points[coarse == c].std() for c in (0, 1))
    assert np.linalg.norm(means[0] - means[1]) > 2 * spread
    pixels = np.asarray(Image.open(tmp_path / "a.png").convert("RGB")).reshape(-1, 3)
    assert ((pixels[:, 0] > 230) & (pixels[:, 1] < 25) & (pixels[:, 2] < 25)).sum() > 50  # red


def test_tsne_refuses_too_many_points():
    with pytest.raises(ValueError, match="balanced_subset"):
        figures.tsne_embedding(np.zeros((figures.MAX_TSNE_POINTS + 1, 2)))
    with pytest.raises(ValueError, match="coarse_labels"):
        figures.plot_tsne(np.zeros((5, 2)), [0, 1], ["a", "b"], "unused.png")


def test_confusion_heat_map_as_file_and_rgba_array(tmp_path):
    confusion = np.array([[5, 1, 0], [2, 7, 1], [0, 0, 9]])
    figures.plot_confusion(confusion, ["cat", "dog", "car"], str(tmp_path / "c.png"))
    assert Image.open(tmp_path / "c.png").size[0] > 100
    image = figures.confusion_image(confusion, ["cat", "dog", "car"])
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 4
    assert image.shape[:2] == Image.open(tmp_path / "c.png").size[::-1]
    with pytest.raises(ValueError, match="one row per class name"):
        figures.confusion_image(confusion, ["cat", "dog"])
