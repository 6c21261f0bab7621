"""Penultimate-layer features and TensorBoard projector files (paper Sec. IV-B, Fig. 4).

The paper's t-SNE plots use "the outputs of the second-to-last fully-connected layer"; here that is
the model's `penultimate` layer (the pooled features the head reads). The projector export is
capped at `MAX_PROJECTOR_EXAMPLES` examples, a deterministic class-balanced subset chosen by
`balanced_subset`: the browser projector and its sprite sheet stay responsive, and t-SNE on a few
thousand points takes seconds rather than minutes on a CPU. The paper's Fig. 4 shows all 10,000
CIFAR-10 test images; 2,000 balanced ones show the same structure.

The library never picks log paths: callers pass `log_dir` (STYLE.md section 7).
"""

import dataclasses
import math
import os

import keras
import numpy as np
from PIL import Image
import tensorflow as tf
from tensorboard.plugins import projector

from lg_keras import data
from lg_keras.component_configs import MAX_PROJECTOR_EXAMPLES
from lg_keras.config import DataConfig
from lg_keras.dataset_info import DatasetInfo

THUMBNAIL_SIZE = 32
# TensorBoard's projector refuses sprite sheets larger than this on a side.
_MAX_SPRITE_SIDE = 8192
METADATA_FILE = "metadata.tsv"
SPRITE_FILE = "sprite.png"
CHECKPOINT_PREFIX = "embedding.ckpt"
# The key tf.train.Checkpoint(embedding=variable) gives the variable in the checkpoint.
TENSOR_NAME = "embedding/.ATTRIBUTES/VARIABLE_VALUE"


def feature_model(model: keras.Model) -> keras.Model:
    """The model cut at its `penultimate` layer: images in, pooled features (batch, D) out."""
    return keras.Model(model.inputs, model.get_layer("penultimate").output)


def balanced_subset(labels, cap: int = MAX_PROJECTOR_EXAMPLES) -> np.ndarray:
    """A deterministic class-balanced subset of at most `cap` example indices.

    Classes take turns in index order: every class's first example, then every class's second, and
    so on, until `cap` are taken. A class with fewer examples drops out of later rounds.

    Args:
        labels: int array (n,), e.g. the fine labels of the test split in file order.
        cap: the most indices to return.

    Returns:
        Sorted int64 array of selected indices into `labels`.
    """
    labels = np.asarray(labels)
    if len(labels) <= cap:
        return np.arange(len(labels), dtype=np.int64)
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.r_[0, np.flatnonzero(sorted_labels[1:] != sorted_labels[:-1]) + 1]
    rank_sorted = np.arange(len(labels)) - np.repeat(starts, np.diff(np.r_[starts, len(labels)]))
    rank = np.empty(len(labels), np.int64)
    rank[order] = rank_sorted
    chosen = np.lexsort((labels, rank))[:cap]
    return np.sort(chosen).astype(np.int64)


def read_images(info: DatasetInfo, split: str, data_cfg: DataConfig, indices) -> np.ndarray:
    """The model-input-sized images of a split at `indices` (file order), un-normalised.

    Args:
        info: the dataset.
        split: 'train' or 'test'.
        data_cfg: the run's data config (its image size and evaluation crop are applied).
        indices: sorted example indices, e.g. from `balanced_subset`.

    Returns:
        uint8 array (len(indices), S, S, C).
    """
    indices = np.asarray(indices, np.int64)
    cfg = dataclasses.replace(data_cfg, normalize="none")
    ds = data.eval_dataset(info, split, cfg, (), batch_size=256).map(lambda x, _: x)
    out, start = [], 0
    for batch in ds:
        batch = batch.numpy()
        picked = indices[(indices >= start) & (indices < start + len(batch))] - start
        out.append(np.clip(np.round(batch[picked] * 255.0), 0, 255).astype(np.uint8))
        start += len(batch)
        if start > (indices[-1] if len(indices) else -1):
            break
    return np.concatenate(out) if out else np.zeros((0, 1, 1, info.channels), np.uint8)


def make_sprite(images_uint8: np.ndarray, thumbnail: int = THUMBNAIL_SIZE) -> np.ndarray:
    """Tiles thumbnails into one square sprite sheet, row by row (the projector's layout).

    Args:
        images_uint8: uint8 array (n, H, W, C) with C in {1, 3}.
        thumbnail: side of each thumbnail in pixels.

    Returns:
        uint8 RGB array (rows * thumbnail, rows * thumbnail, 3), rows = ceil(sqrt(n)).
    """
    images = np.asarray(images_uint8)
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or images.dtype != np.uint8:
        raise ValueError(f"images_uint8 must be uint8 (n, H, W, 1 or 3); got {images.dtype} "
                         f"{images.shape}.")
    rows = max(1, math.ceil(math.sqrt(len(images))))
    if rows * thumbnail > _MAX_SPRITE_SIDE:
        raise ValueError(f"A sprite of {len(images)} thumbnails of {thumbnail} px would be "
                         f"{rows * thumbnail} px wide; TensorBoard accepts at most "
                         f"{_MAX_SPRITE_SIDE}.")
    sheet = np.zeros((rows * thumbnail, rows * thumbnail, 3), np.uint8)
    for i, image in enumerate(images):
        if image.shape[-1] == 1:
            image = np.repeat(image, 3, axis=-1)
        thumb = Image.fromarray(image).resize((thumbnail, thumbnail), Image.BILINEAR)
        r, c = divmod(i, rows)
        top, left = r * thumbnail, c * thumbnail
        sheet[top:top + thumbnail, left:left + thumbnail] = np.asarray(thumb)
    return sheet


def _tsv_cell(name) -> str:
    return str(name).replace("\t", " ").replace("\n", " ")


def export_projector(features, fine_names_per_example, coarse_names_per_example, images_uint8,
                     log_dir: str, thumbnail: int = THUMBNAIL_SIZE) -> dict:
    """Writes TensorBoard projector files for features into log_dir.

    Files: a checkpoint of a tf.Variable holding the features (`embedding.ckpt-1.*` and
    `checkpoint`), `metadata.tsv` (header 'fine<TAB>coarse', one row per example), `sprite.png`
    (thumbnails) and `projector_config.pbtxt` with paths relative to log_dir, so the directory can
    move. log_dir should also hold an event file (any summary), so TensorBoard lists it as a run.

    Args:
        features: float array (n, D), n <= MAX_PROJECTOR_EXAMPLES (select with `balanced_subset`).
        fine_names_per_example: n fine class names.
        coarse_names_per_example: n coarse class names.
        images_uint8: uint8 array (n, H, W, C), or None for no sprite.
        log_dir: directory to write into (created).
        thumbnail: sprite thumbnail side in pixels.

    Returns:
        {'tensor_name': the checkpoint key of the features, 'num_examples': n, 'dim': D}.

    Raises:
        ValueError: on mismatched lengths, non-finite features or more than the cap.
    """
    features = np.asarray(features, np.float32)
    n = len(features)
    if features.ndim != 2 or n == 0:
        raise ValueError(f"features must have shape (n, D) with n >= 1; got {features.shape}.")
    if n > MAX_PROJECTOR_EXAMPLES:
        raise ValueError(f"At most {MAX_PROJECTOR_EXAMPLES} examples are exported; got {n}. "
                         f"Select a subset with balanced_subset.")
    if not np.all(np.isfinite(features)):
        raise ValueError("features must be finite.")
    lengths = {"fine_names_per_example": len(fine_names_per_example),
               "coarse_names_per_example": len(coarse_names_per_example)}
    if images_uint8 is not None:
        lengths["images_uint8"] = len(images_uint8)
    bad = {k: v for k, v in lengths.items() if v != n}
    if bad:
        raise ValueError(f"Every per-example input must have {n} entries (one per feature row); "
                         f"got {bad}.")
    os.makedirs(log_dir, exist_ok=True)
    with open(os.path.join(log_dir, METADATA_FILE), "w") as f:
        f.write("fine\tcoarse\n")
        for fine, coarse in zip(fine_names_per_example, coarse_names_per_example):
            f.write(f"{_tsv_cell(fine)}\t{_tsv_cell(coarse)}\n")
    checkpoint = tf.train.Checkpoint(embedding=tf.Variable(features, name="embedding"))
    checkpoint.save(os.path.join(log_dir, CHECKPOINT_PREFIX))
    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = TENSOR_NAME
    embedding.metadata_path = METADATA_FILE
    if images_uint8 is not None:
        Image.fromarray(make_sprite(images_uint8, thumbnail)).save(
            os.path.join(log_dir, SPRITE_FILE))
        embedding.sprite.image_path = SPRITE_FILE
        embedding.sprite.single_image_dim.extend([thumbnail, thumbnail])
    projector.visualize_embeddings(log_dir, config)
    return {"tensor_name": TENSOR_NAME, "num_examples": n, "dim": int(features.shape[1])}
