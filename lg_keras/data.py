"""tf.data input from a built dataset: label views, fractions, augmentation, normalisation.

Training order and augmentation are keyed by (seed, epoch): epoch e's batches are the same whether
the run started at epoch 0 or resumed at e, so an interrupted run sees exactly the batches an
uninterrupted one would. The paper's augmentation is random crop with 4-pixel zero padding plus a
horizontal flip for small images, and random-resized crop plus flip for ImageNet-size images
(evaluated at a resize to 256/224 of the input size and a centre crop).
"""

import math
import os

import numpy as np
import tensorflow as tf

from lg_keras import label_variants, records
from lg_keras.config import DataConfig
from lg_keras.dataset_info import DatasetInfo
from lg_keras.errors import ConfigError, DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Fixed (mean, std) per `DataConfig.normalize` name. The authors' constants are as their scripts
# wrote them: main_f2c.py's CIFAR-10 std (0.2023, 0.1994, 0.2010) is not CIFAR-10's per-pixel std
# (0.2470, 0.2435, 0.2616), and main_f2c_cifar100.py uses the full CIFAR-100 statistics for every
# subset (animals, 5, 15 coarse classes).
FIXED_NORMALIZATIONS = {
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
    "cifar10_authors": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100_authors": ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
}
_PARSE_BATCH = 1024


def check_label_view(info: DatasetInfo, label_view: str) -> None:
    """Raises ConfigError when the dataset has no such label view, listing the ones it has."""
    if label_view not in info.label_views():
        raise ConfigError(f"Unknown label view data.labels={label_view!r} for dataset "
                          f"{info.path!r}. Available: {', '.join(info.label_views())}.")


def input_shape(info: DatasetInfo, cfg: DataConfig) -> tuple[int, int, int]:
    """The model input shape (height, width, channels) this config produces."""
    if cfg.image_size:
        return (cfg.image_size, cfg.image_size, info.channels)
    if info.fixed_size is None:
        raise ConfigError(f"data.image_size must be set (> 0) for dataset {info.path!r}: its images "
                          f"vary in size; got {cfg.image_size}.")
    return (*info.fixed_size, info.channels)


def fraction_thresholds(info: DatasetInfo, fraction: float) -> np.ndarray:
    """Per fine class, how many training examples (lowest ranks) a fraction keeps."""
    return np.asarray([label_variants.fraction_threshold(int(n), fraction)
                       for n in info.fine_counts("train")], np.int64)


def verify_shards(info: DatasetInfo, split: str) -> dict[str, int]:
    """Reads every record of a split's shards (checking CRCs) and checks them against dataset.json.

    A shard cut at a record boundary reads without a CRC error, so each file's record count is
    compared with the one the builder recorded (`DatasetInfo.shard_problems`).

    Returns:
        {file path: records read}.

    Raises:
        DataError: naming the first shard that is corrupt, truncated, missing or not the dataset's.
    """
    counts = {}
    for path in info.files(split):
        n = 0
        try:
            for _ in tf.data.TFRecordDataset(path, compression_type=info.compression,
                                             buffer_size=8 << 20):
                n += 1
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError,
                tf.errors.OutOfRangeError) as e:
            raise DataError(f"Corrupt or truncated TFRecord shard {path!r} after {n} records: "
                            f"{e.message.splitlines()[0]}") from e
        counts[path] = n
    problems = info.shard_problems(split, counts)
    if problems:
        raise DataError(f"Dataset {info.path!r} is damaged: {'; '.join(problems)}. Run "
                        f"`lg data inspect {info.path}` and rebuild it with `lg data build`.")
    return counts


def _same_batches_on_every_worker(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Sets the auto-shard policy DATA: every worker keeps its part of every global batch.

    Under MultiWorkerMirroredStrategy, tf.distribute splits each global batch (`batch_size`) into
    one part per replica and each worker keeps the parts of its replicas, so a step sees the batch
    a one-process run would. FILE sharding (what AUTO picks for TFRecord input with at least as
    many files as workers) would give each worker its own files instead: other batches than a
    one-process run, an order that no longer follows (seed, epoch), and uneven step counts when the
    files do not divide evenly. The training split is also permuted in memory, where there are no
    files to shard. The price: each worker reads and augments the whole split. Without a
    multi-worker strategy the option does nothing.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def _feature_spec(keys: list[str]) -> dict:
    spec = {k: tf.io.FixedLenFeature([], tf.string) for k in (records.IMAGE, records.IMAGE_FORMAT)}
    for key in keys:
        spec[key] = tf.io.FixedLenFeature([], tf.int64)
    return spec


def _decode_image(image_bytes, fmt, channels: int, fixed_size):
    if fixed_size is not None:
        raw = tf.io.decode_raw(image_bytes, tf.uint8)
        return tf.cond(
            tf.equal(fmt, b"raw"),
            lambda: _reshape_raw(raw, fixed_size, channels),
            lambda: tf.ensure_shape(tf.io.decode_image(image_bytes, channels=channels,
                                                       expand_animations=False),
                                    (*fixed_size, channels)))
    return tf.io.decode_image(image_bytes, channels=channels, expand_animations=False)


def _reshape_raw(raw, fixed_size, channels):
    # Raw records keep their own channel count; a grey raw image in a 3-channel set is tiled.
    size = fixed_size[0] * fixed_size[1]
    own = tf.shape(raw)[0] // size
    image = tf.reshape(raw, (fixed_size[0], fixed_size[1], own))
    if channels == 3:
        image = tf.cond(tf.equal(own, 1), lambda: tf.tile(image, [1, 1, 3]), lambda: image)
    return tf.ensure_shape(image, (*fixed_size, channels))


def _records(info: DatasetInfo, split: str, label_keys: list[str], fraction: float,
             decode: bool) -> tf.data.Dataset:
    """Parsed, filtered records of a split in file order, with images decoded if `decode`."""
    keys = sorted(set(label_keys) | {records.FINE, records.RANK})
    ds = tf.data.TFRecordDataset(info.files(split), compression_type=info.compression,
                                 num_parallel_reads=None)
    ds = ds.batch(_PARSE_BATCH).map(lambda s: tf.io.parse_example(s, _feature_spec(keys)),
                                    num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    if split == "train" and fraction < 1.0:
        thresholds = tf.constant(fraction_thresholds(info, fraction))
        ds = ds.filter(lambda r: r[records.RANK] < tf.gather(thresholds, r[records.FINE]))
    if decode:
        channels, fixed = info.channels, info.fixed_size
        ds = ds.map(lambda r: {**r, records.IMAGE: _decode_image(
            r[records.IMAGE], r[records.IMAGE_FORMAT], channels, fixed)},
            num_parallel_calls=tf.data.AUTOTUNE)
    return ds


def _normalize(image, info: DatasetInfo, cfg: DataConfig):
    image = tf.cast(image, tf.float32) / 255.0
    if cfg.normalize == "none":
        return image
    mean, std = FIXED_NORMALIZATIONS.get(
        cfg.normalize, (info.meta["image"]["mean"], info.meta["image"]["std"]))
    mean = tf.constant(mean[:info.channels] if info.channels == 1 else mean, tf.float32)
    std = tf.constant(std[:info.channels] if info.channels == 1 else std, tf.float32)
    return (image - mean) / tf.maximum(std, 1e-6)


def augmentation(info: DatasetInfo, cfg: DataConfig, size: int) -> str:
    """The augmentation a config applies ('auto' resolved by the stored image size)."""
    if cfg.augment != "auto":
        return cfg.augment
    small = info.fixed_size is not None and max(info.fixed_size) <= 64 and size <= 64
    return "crop_flip" if small else "resized_crop_flip"


def _train_transform(image, seed, kind: str, size: int, channels: int):
    """Augments one uint8 image with stateless ops seeded by `seed` (shape [2])."""
    if kind == "resized_crop_flip":
        begin, extent, _ = tf.image.stateless_sample_distorted_bounding_box(
            tf.shape(image), tf.zeros([1, 0, 4], tf.float32), seed=seed,
            min_object_covered=0.0, aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.08, 1.0),
            max_attempts=10, use_image_if_no_bounding_boxes=True)
        image = tf.slice(image, begin, extent)
        image = tf.image.resize(image, (size, size), antialias=True)
    else:
        image = _resize_to(image, size)
        if kind == "crop_flip":
            padded = tf.pad(image, [[4, 4], [4, 4], [0, 0]])
            image = tf.image.stateless_random_crop(padded, (size, size, channels), seed=seed)
    if kind != "none":
        image = tf.image.stateless_random_flip_left_right(image, seed=seed + 1)
    return image


def _resize_to(image, size: int):
    shape = tf.shape(image)
    return tf.cond(tf.logical_and(tf.equal(shape[0], size), tf.equal(shape[1], size)),
                   lambda: tf.cast(image, tf.float32),
                   lambda: tf.image.resize(image, (size, size), antialias=True))


def _eval_transform(image, kind: str, size: int):
    if kind != "resized_crop_flip":
        return _resize_to(image, size)
    # ImageNet protocol: resize the shorter side to size * 256 / 224, then centre-crop.
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = (size * 256.0 / 224.0) / tf.reduce_min(shape)
    new = tf.cast(tf.round(shape * scale), tf.int32)
    image = tf.image.resize(image, new, antialias=True)
    return tf.image.resize_with_crop_or_pad(image, size, size)


def steps_per_epoch(info: DatasetInfo, cfg: DataConfig) -> int:
    """Optimizer steps per epoch over the fraction of the training split (last batch kept)."""
    n = int(fraction_thresholds(info, cfg.fraction).sum())
    return max(1, math.ceil(n / cfg.batch_size))


# Training splits up to this size are held in memory and permuted by index each epoch; larger
# ones (full ImageNet-size folders) stream through a shuffle buffer instead.
_IN_MEMORY_BYTES = 1 << 30


def _load_split(base: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reads (image or image bytes, format, label) elements into numpy arrays."""
    images, formats, targets = [], [], []
    for image, fmt, label in base.batch(4096):
        images.append(image.numpy())
        formats.append(fmt.numpy())
        targets.append(label.numpy())
    return np.concatenate(images), np.concatenate(formats), np.concatenate(targets)


def epoch_permutation(seed: int, epoch, n: int):
    """The order of epoch `epoch`: a permutation of range(n) from stateless randomness only.

    It depends on (seed, epoch) and nothing else: not on TensorFlow's global seed, not on the
    epoch a run started at.
    """
    keys = tf.random.stateless_uniform([n], seed=tf.stack([tf.cast(seed, tf.int64),
                                                           tf.cast(epoch, tf.int64)]))
    return tf.argsort(keys)


def train_dataset(info: DatasetInfo, cfg: DataConfig, *, seed: int, start_epoch: int,
                  end_epoch: int) -> tf.data.Dataset:
    """Training batches for epochs [start_epoch, end_epoch), each keyed by (seed, epoch).

    Yields (image float32 [B, S, S, C], label int64 [B]) with `cfg.labels` as the label. The
    split's (fraction of) examples are read once and held in memory; each epoch visits them in
    `epoch_permutation(seed, epoch)` order, and example i of epoch e is augmented with the
    stateless seed (seed * 1000003 + e, 2 i).
    """
    check_label_view(info, cfg.labels)
    size, _, channels = input_shape(info, cfg)
    kind = augmentation(info, cfg, size)
    key = records.label_feature(cfg.labels)
    fixed = info.fixed_size is not None
    base = _records(info, "train", [key], cfg.fraction, decode=fixed)
    base = base.map(lambda r: (r[records.IMAGE], r[records.IMAGE_FORMAT], r[key]))
    n = int(fraction_thresholds(info, cfg.fraction).sum())
    shard_bytes = sum(os.path.getsize(f) for f in info.files("train"))

    def transform(epoch_seed, i, image, label):
        if not fixed:
            image = tf.io.decode_image(image, channels=channels, expand_animations=False)
        image = _train_transform(image, tf.stack([epoch_seed, i * 2]), kind, size, channels)
        return _normalize(image, info, cfg), label

    if shard_bytes * cfg.fraction <= _IN_MEMORY_BYTES:
        images, _, targets = _load_split(base)
        images, targets = tf.constant(images), tf.constant(targets)

        def epoch(e):
            epoch_seed = tf.cast(seed, tf.int64) * 1_000_003 + e
            order = tf.data.Dataset.from_tensor_slices(epoch_permutation(seed, e, n)).enumerate()
            return order.map(
                lambda i, j: transform(epoch_seed, i, tf.gather(images, j), tf.gather(targets, j)),
                num_parallel_calls=tf.data.AUTOTUNE).batch(cfg.batch_size)

        ds = tf.data.Dataset.range(start_epoch, end_epoch).flat_map(epoch)
    else:
        # Streaming fallback: a full shuffle buffer with Python-int seeds per epoch (graph seeds
        # are set from the run seed by the trainer, so the order is still reproducible).
        if cfg.cache:
            base = base.cache()
        epochs = []
        for e in range(start_epoch, end_epoch):
            epoch_seed = seed * 1_000_003 + e
            shuffled = base.shuffle(n, seed=epoch_seed, reshuffle_each_iteration=False).enumerate()
            epochs.append(shuffled.map(
                lambda i, item, s=epoch_seed: transform(tf.constant(s, tf.int64), i, item[0],
                                                        item[2]),
                num_parallel_calls=tf.data.AUTOTUNE).batch(cfg.batch_size))
        ds = epochs[0]
        for more in epochs[1:]:
            ds = ds.concatenate(more)
    return _same_batches_on_every_worker(ds.prefetch(tf.data.AUTOTUNE))


def eval_dataset(info: DatasetInfo, split: str, cfg: DataConfig,
                 label_views: tuple[str, ...] = ("fine", "coarse"),
                 batch_size: int | None = None) -> tf.data.Dataset:
    """Evaluation batches of a whole split in file order, no augmentation.

    Yields (image float32 [B, S, S, C], {view: label int64 [B]}).
    """
    for view in label_views:
        check_label_view(info, view)
    size, _, channels = input_shape(info, cfg)
    kind = augmentation(info, cfg, size)
    keys = {view: records.label_feature(view) for view in label_views}
    ds = _records(info, split, list(keys.values()), 1.0, decode=True)

    def transform(r):
        image = _eval_transform(r[records.IMAGE], kind, size)
        return _normalize(image, info, cfg), {view: r[key] for view, key in keys.items()}

    ds = ds.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
    return _same_batches_on_every_worker(
        ds.batch(batch_size or cfg.batch_size).prefetch(tf.data.AUTOTUNE))


def augmented_dataset(info: DatasetInfo, split: str, cfg: DataConfig, *, augment_key: int,
                      batch_size: int | None = None) -> tf.data.Dataset:
    """Images of a whole split in file order through the TRAINING augmentation, one random draw.

    Example i gets the stateless seed (augment_key, 2 i): the rule by which `train_dataset` augments
    example i of an epoch (whose key is seed * 1000003 + epoch), with the transform that
    `augmentation` resolves for the config (random-resized crop + flip for large images). The
    authors' ImageNet script scored its test split this way (`lg_keras.authors_protocol`).

    Yields:
        image float32 [B, S, S, C] batches, in the order of `read_labels`.
    """
    size, _, channels = input_shape(info, cfg)
    kind = augmentation(info, cfg, size)
    key = tf.constant(augment_key, tf.int64)

    def transform(i, r):
        image = _train_transform(r[records.IMAGE], tf.stack([key, i * 2]), kind, size, channels)
        return _normalize(image, info, cfg)

    ds = _records(info, split, [], 1.0, decode=True).enumerate()
    ds = ds.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
    return _same_batches_on_every_worker(
        ds.batch(batch_size or cfg.batch_size).prefetch(tf.data.AUTOTUNE))


def read_labels(info: DatasetInfo, split: str, label_views: tuple[str, ...],
                fraction: float = 1.0) -> dict[str, np.ndarray]:
    """Labels of a split in file order (the order of `eval_dataset`), without decoding images."""
    keys = {view: records.label_feature(view) for view in label_views}
    ds = _records(info, split, list(keys.values()), fraction, decode=False)
    out = {view: [] for view in label_views}
    for batch in ds.batch(4096).map(lambda r: {v: r[k] for v, k in keys.items()}):
        for view in label_views:
            out[view].append(batch[view].numpy())
    return {view: np.concatenate(v) if v else np.zeros([0], np.int64) for view, v in out.items()}


def read_ids(info: DatasetInfo, split: str) -> list[str]:
    """Example ids of a split in file order."""
    spec = {records.ID: tf.io.FixedLenFeature([], tf.string)}
    ds = tf.data.TFRecordDataset(info.files(split), compression_type=info.compression)
    ds = ds.batch(4096).map(lambda s: tf.io.parse_example(s, spec)[records.ID])
    return [x.decode() for batch in ds for x in batch.numpy()]
