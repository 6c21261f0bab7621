"""The tf.data reader: label views, fractions, (seed, epoch)-keyed order, augmentation."""

import numpy as np
import pytest
import tensorflow as tf

from components.example_gen import executor
from components.example_gen.source_access import SourceAccess
from lg_keras import data, dataset_info, label_variants
from lg_keras.config import BuildConfig, DataConfig
from lg_keras.errors import ConfigError
from tests.helpers import datagen

CLASSES = ["a0", "a1", "b0", "b1"]


@pytest.fixture(scope="module")
def info(tmp_path_factory):
    root = tmp_path_factory.mktemp("reader")
    datagen.write_image_folder(root / "img", CLASSES, 20, 6, size=(8, 8))
    yaml_path = datagen.write_hierarchy(root / "h.yaml", {"a": ["a0", "a1"], "b": ["b0", "b1"]})
    executor.run(BuildConfig(dataset=f"folder:{root / 'img'}", hierarchy=yaml_path, noise=(0.5,)),
                 SourceAccess(), {"examples": str(root / "ds")})
    return dataset_info.load_dataset_info(str(root / "ds"))


def batches(ds):
    return [(x.numpy(), y.numpy()) for x, y in ds]


def test_epoch_batches_do_not_depend_on_the_start_epoch(info):
    cfg = DataConfig(batch_size=16, labels="fine")
    full = batches(data.train_dataset(info, cfg, seed=5, start_epoch=0, end_epoch=3))
    resumed = batches(data.train_dataset(info, cfg, seed=5, start_epoch=2, end_epoch=3))
    steps = data.steps_per_epoch(info, cfg)
    assert steps == 5 and len(full) == 3 * steps and len(resumed) == steps
    for (x1, y1), (x2, y2) in zip(full[2 * steps:], resumed):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    # Different epochs are shuffled and augmented differently.
    assert not np.array_equal(full[0][0], full[steps][0])


def test_order_ignores_the_global_seed(info):
    cfg = DataConfig(batch_size=16, labels="fine")
    runs = []
    for global_seed in (0, 123):
        tf.random.set_seed(global_seed)
        runs.append(batches(data.train_dataset(info, cfg, seed=1, start_epoch=0, end_epoch=1)))
    for (x1, y1), (x2, y2) in zip(*runs):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)


def test_label_views_and_fraction(info):
    coarse = np.concatenate([y for _, y in batches(data.train_dataset(
        info, DataConfig(batch_size=32, labels="coarse"), seed=0, start_epoch=0, end_epoch=1))])
    assert sorted(np.bincount(coarse).tolist()) == [40, 40]
    cfg = DataConfig(batch_size=4, labels="fine_noise_0.5", fraction=0.2)
    noisy = np.concatenate([y for _, y in batches(data.train_dataset(
        info, cfg, seed=0, start_epoch=0, end_epoch=1))])
    assert len(noisy) == 4 * label_variants.fraction_threshold(20, 0.2)
    with pytest.raises(ConfigError, match="fine_noise_0.3"):
        data.check_label_view(info, "fine_noise_0.3")


def test_eval_order_matches_read_labels_and_normalisation(info):
    cfg = DataConfig(batch_size=7)
    got = [y for _, y in data.eval_dataset(info, "test", cfg, ("fine", "coarse"))]
    fine = np.concatenate([y["fine"].numpy() for y in got])
    coarse = np.concatenate([y["coarse"].numpy() for y in got])
    expected = data.read_labels(info, "test", ("fine", "coarse"))
    np.testing.assert_array_equal(fine, expected["fine"])
    np.testing.assert_array_equal(coarse, info.fine_to_coarse[fine])
    images = np.concatenate([x.numpy() for x, _ in data.eval_dataset(info, "train", cfg, ())])
    # Normalised with the training split's own statistics: mean ~0, std ~1 per channel.
    np.testing.assert_allclose(images.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(images.std(axis=(0, 1, 2)), 1, atol=1e-3)


def test_every_worker_keeps_its_part_of_the_global_batches(info):
    """Auto-shard policy DATA on every dataset the trainer distributes (the multi-worker tests in
    tests/components/test_trainer_multi_worker.py check the batches a worker then gets)."""
    cfg = DataConfig(batch_size=8)
    for ds in (data.train_dataset(info, cfg, seed=0, start_epoch=0, end_epoch=1),
               data.eval_dataset(info, "test", cfg),
               data.augmented_dataset(info, "test", cfg, augment_key=-2)):
        assert (ds.options().experimental_distribute.auto_shard_policy
                == tf.data.experimental.AutoShardPolicy.DATA)


def test_crop_flip_eager_and_in_map_agree():
    image = tf.constant(np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3))
    seed = tf.constant([3, 4], tf.int64)
    eager = data._train_transform(image, seed, "crop_flip", 8, 3).numpy()
    mapped = next(iter(tf.data.Dataset.from_tensors(image).map(
        lambda im: data._train_transform(im, seed, "crop_flip", 8, 3)))).numpy()
    np.testing.assert_array_equal(eager, mapped)
    assert eager.shape == (8, 8, 3)
    # A crop of the zero-padded image: every row of the result is a (possibly flipped, shifted)
    # window of the original, so the pixel multiset is a subset of original values plus zeros.
    assert set(np.unique(eager)) <= set(np.unique(image.numpy())) | {0}


def test_resized_crop_for_variable_sizes(tmp_path):
    datagen.write_image_folder(tmp_path / "img", ["n1", "n2"], 6, 3, size=(20, 30), vary_size=True,
                               fmt="jpeg")
    yaml_path = datagen.write_hierarchy(tmp_path / "h.yaml", {"x": ["n1"], "y": ["n2"]})
    executor.run(BuildConfig(dataset=f"folder:{tmp_path / 'img'}", hierarchy=yaml_path),
                 SourceAccess(), {"examples": str(tmp_path / "ds")})
    info = dataset_info.load_dataset_info(str(tmp_path / "ds"))
    with pytest.raises(ConfigError, match="image_size"):
        data.input_shape(info, DataConfig())
    cfg = DataConfig(image_size=16, batch_size=4)
    assert data.augmentation(info, cfg, 16) == "resized_crop_flip"
    x, _ = next(iter(data.train_dataset(info, cfg, seed=0, start_epoch=0, end_epoch=1)))
    assert x.shape == (4, 16, 16, 3)
    x, _ = next(iter(data.eval_dataset(info, "test", cfg)))
    assert x.shape == (4, 16, 16, 3)


def test_grey_images_resized_to_model_input(tmp_path):
    datagen.write_image_folder(tmp_path / "img", ["p", "q"], 4, 2, size=(28, 28), channels=1)
    yaml_path = datagen.write_hierarchy(tmp_path / "h.yaml", {"x": ["p"], "y": ["q"]})
    executor.run(BuildConfig(dataset=f"folder:{tmp_path / 'img'}", hierarchy=yaml_path,
                             image_encoding="raw"),
                 SourceAccess(), {"examples": str(tmp_path / "ds")})
    info = dataset_info.load_dataset_info(str(tmp_path / "ds"))
    assert info.channels == 1
    cfg = DataConfig(image_size=32, batch_size=8)
    x, _ = next(iter(data.train_dataset(info, cfg, seed=0, start_epoch=0, end_epoch=1)))
    assert x.shape == (8, 32, 32, 1)


def test_verify_shards_names_a_truncated_file(info, tmp_path):
    import shutil  # pylint: disable=g-import-not-at-top
    copy = tmp_path / "copy"
    shutil.copytree(info.path, copy)
    broken = dataset_info.load_dataset_info(str(copy))
    victim = broken.files("train")[0]
    with open(victim, "r+b") as f:
        f.truncate(max(1, len(open(victim, "rb").read()) - 50))
    with pytest.raises(Exception, match=victim.split("/")[-1]):
        data.verify_shards(broken, "train")
