"""lg_keras.embeddings: features, the balanced subset, and projector files that parse back."""

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorboard.plugins import projector

from lg_keras import data, embeddings, models
from lg_keras.config import DataConfig, ModelConfig
from lg_keras.dataset_info import load_dataset_info
from tests.helpers.evaluator_fixtures import tiny_dataset  # noqa: F401


def _naive_balanced(labels, cap):
    """Round robin over classes in ascending order, each class's examples in index order."""
    queues = {c: [i for i, l in enumerate(labels) if l == c] for c in sorted(set(labels))}
    chosen = []
    for round_ in range(max(len(q) for q in queues.values())):
        for c in sorted(queues):
            if round_ < len(queues[c]) and len(chosen) < cap:
                chosen.append(queues[c][round_])
    return sorted(chosen)


@pytest.mark.parametrize("seed,cap", [(0, 7), (1, 30), (2, 1000), (3, 1)])
def test_balanced_subset_matches_a_naive_round_robin(seed, cap):
    labels = np.random.default_rng(seed).integers(0, 5, size=60)
    chosen = embeddings.balanced_subset(labels, cap)
    assert chosen.tolist() == _naive_balanced(labels.tolist(), cap)[:cap]
    counts = np.bincount(labels[chosen], minlength=5)
    full = np.bincount(labels, minlength=5)
    # Balanced: a class is short of the largest count only if it ran out of examples.
    assert all(c >= counts.max() - 1 or c == full[k] for k, c in enumerate(counts))


def test_feature_model_outputs_the_pooled_layer_the_head_reads():
    model = models.build_model(ModelConfig(width=4), 3, (8, 8, 3))
    images = np.random.default_rng(0).normal(size=(5, 8, 8, 3)).astype("float32")
    features = embeddings.feature_model(model).predict(images, verbose=0)
    assert features.shape == (5, 32)
    logits_from_features = model.get_layer("logits")(features)
    np.testing.assert_allclose(np.asarray(logits_from_features), model.predict(images, verbose=0),
                               rtol=1e-5, atol=1e-5)


def test_make_sprite_places_thumbnails_row_by_row():
    images = np.stack([np.full((4, 4, 1), 10 * (i + 1), np.uint8) for i in range(5)])
    sprite = embeddings.make_sprite(images, thumbnail=2)
    assert sprite.shape == (6, 6, 3)  # ceil(sqrt(5)) = 3 thumbnails a side
    for i in range(5):
        r, c = divmod(i, 3)
        assert (sprite[2 * r:2 * r + 2, 2 * c:2 * c + 2] == 10 * (i + 1)).all()
    assert (sprite[4:, 2:] == 0).all()
    with pytest.raises(ValueError, match="uint8"):
        embeddings.make_sprite(images.astype(np.float32))


def test_export_projector_writes_files_that_parse_back(tmp_path):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(10, 6)).astype(np.float32)
    fine = [f"f{i % 3}" for i in range(10)]
    coarse = ["a\tb" if i % 2 else "c" for i in range(10)]  # a tab must not break the TSV
    images = rng.integers(0, 255, size=(10, 8, 8, 3), dtype=np.uint8)
    out = embeddings.export_projector(features, fine, coarse, images, str(tmp_path), thumbnail=4)
    assert out == {"tensor_name": embeddings.TENSOR_NAME, "num_examples": 10, "dim": 6}
    config = text_format.Parse((tmp_path / "projector_config.pbtxt").read_text(),
                               projector.ProjectorConfig())
    (embedding,) = config.embeddings
    assert embedding.tensor_name == embeddings.TENSOR_NAME
    assert embedding.metadata_path == "metadata.tsv" and embedding.sprite.image_path == "sprite.png"
    assert list(embedding.sprite.single_image_dim) == [4, 4]
    rows = (tmp_path / "metadata.tsv").read_text().splitlines()
    assert rows[0] == "fine\tcoarse" and len(rows) == 11
    assert [r.split("\t") for r in rows[1:3]] == [["f0", "c"], ["f1", "a b"]]
    assert Image.open(tmp_path / "sprite.png").size == (16, 16)  # ceil(sqrt(10)) * 4
    checkpoint = tf.train.latest_checkpoint(str(tmp_path))
    np.testing.assert_array_equal(tf.train.load_checkpoint(checkpoint).get_tensor(
        embeddings.TENSOR_NAME), features)


def test_export_projector_checks_its_inputs(tmp_path):
    features = np.zeros((3, 2), np.float32)
    with pytest.raises(ValueError, match="coarse_names_per_example"):
        embeddings.export_projector(features, ["a"] * 3, ["b"] * 2, None, str(tmp_path))
    with pytest.raises(ValueError, match="At most"):
        embeddings.export_projector(np.zeros((embeddings.MAX_PROJECTOR_EXAMPLES + 1, 2)),
                                    [], [], None, str(tmp_path))
    with pytest.raises(ValueError, match="finite"):
        embeddings.export_projector(np.full((3, 2), np.nan), ["a"] * 3, ["b"] * 3, None,
                                    str(tmp_path))


def test_read_images_returns_the_unnormalised_eval_images(tiny_dataset):
    info = load_dataset_info(tiny_dataset)
    cfg = DataConfig(dataset_dir=tiny_dataset)
    indices = np.array([0, 3, 17, 23])
    images = embeddings.read_images(info, "test", cfg, indices)
    raw = DataConfig(dataset_dir=tiny_dataset, normalize="none", batch_size=5)
    everything = np.concatenate([x.numpy() for x, _ in data.eval_dataset(info, "test", raw, ())])
    assert images.dtype == np.uint8 and images.shape == (4, 8, 8, 3)
    np.testing.assert_array_equal(images, np.round(everything[indices] * 255).astype(np.uint8))
    assert images.std() > 0
