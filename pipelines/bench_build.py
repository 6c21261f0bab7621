"""Dataset-builder figures of `make bench`: the Beam build against a plain Python loop.

The plain loop does the same per-example work as the Beam job, with the same functions
(`transforms.prepare_chunk`: read, label, decode, validate, measure, encode;
`label_variants.class_balanced_ranks`; `records.encode_example`), and writes the same records to the same
number of shards with `tf.io.TFRecordWriter`, one after another without Beam. Both outputs are read back and compared
record for record (as sets of serialised bytes), so the ratio compares equal work.

Without a real CIFAR-100 archive (LG_DATA_DIR unset) the bench builds a generated image folder of
32 x 32 PNGs instead (`write_png_folder`), and says so in its output.
"""

import hashlib
import os
import time

import numpy as np
from PIL import Image

from components.example_gen import executor, transforms
from components.example_gen.source_access import SourceAccess
from lg_keras import hierarchy_files, label_variants, records, sources
from lg_keras.config import BuildConfig
from lg_keras.sources.base import SPLITS
from pipelines.bench_readings import ratio

# Default shard counts of the builder (executor._DEFAULT_SHARDS), repeated by the plain loop.
SHARDS = {"train": 8, "test": 2}


def write_png_folder(root: str, num_classes: int, train_per_class: int, test_per_class: int,
                     num_coarse: int) -> str:
    """Writes ROOT/images/{train,test}/<class>/<i>.png (32 x 32 RGB) and a hierarchy YAML.

    The pixels are smooth random gradients plus noise, so the PNGs compress about as well as
    CIFAR's (2-3 KB each). Fine class k belongs to coarse class k % num_coarse.

    Returns:
        The hierarchy YAML path (the images are under ROOT/images).
    """
    rng = np.random.default_rng(0)
    ramp = np.linspace(0.0, 1.0, 32)
    for split, count in (("train", train_per_class), ("test", test_per_class)):
        for k in range(num_classes):
            folder = os.path.join(root, "images", split, f"class_{k:03d}")
            os.makedirs(folder, exist_ok=True)
            for i in range(count):
                a, b, c = rng.uniform(0, 255, (3, 1, 1, 3))
                image = a + (b - a) * ramp[:, None, None] + (c - a) * ramp[None, :, None] / 2
                image = image + rng.normal(0, 12, (32, 32, 3))
                Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(
                    os.path.join(folder, f"{i:04d}.png"))
    path = os.path.join(root, "hierarchy.yaml")
    with open(path, "w") as f:
        f.write("name: bench_generated\ncoarse:\n")
        for coarse in range(num_coarse):
            members = [f"class_{k:03d}" for k in range(num_classes) if k % num_coarse == coarse]
            f.write(f"  group_{coarse:02d}: [{', '.join(members)}]\n")
    return path


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (all threads)."""
    return sum(os.times()[:2])


def beam_build(cfg: BuildConfig, data_dirs: list[str], out_dir: str) -> float:
    """Builds with the Beam builder (`example_gen.executor.run`); returns the wall seconds."""
    start = time.perf_counter()
    executor.run(cfg, SourceAccess(data_dirs=tuple(data_dirs), allow_download=False),
                 {"examples": out_dir})
    return time.perf_counter() - start


def plain_build(cfg: BuildConfig, data_dirs: list[str], out_dir: str) -> float:
    """Writes the same records as the Beam builder with a plain loop; returns the wall seconds.

    Args:
        cfg: the build config (no noise rates and no per-class caps: the bench builds whole
            datasets without noisy label views).
        data_dirs: where the source is looked for.
        out_dir: output directory (OUT/{train,test}/data-SSSSS-of-NNNNN.tfrecord).
    """
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    assert not cfg.noise and cfg.max_train_per_class is None and cfg.compression == "none"
    start = time.perf_counter()
    hierarchy = hierarchy_files.load_hierarchy(cfg.hierarchy)
    source = sources.open_source(cfg.dataset, data_dirs, allow_download=False)
    aligned = hierarchy.aligned_to(source.class_names)
    source_to_fine = np.full(len(source.class_names), -1, np.int64)
    source_to_fine[aligned.source_indices(source.class_names)] = np.arange(aligned.num_fine_classes)
    label_map = transforms.LabelMap(tuple(int(x) for x in source_to_fine),
                                    tuple(int(x) for x in aligned.fine_to_coarse))
    moments = np.zeros(7)
    for split in SPLITS:
        _, _, columns = transforms.prepare_chunk((split, 0, list(source.examples(split))),
                                                 label_map, cfg.image_encoding)
        ids, fine = columns[records.ID], columns[records.FINE]
        ranks = np.zeros(len(ids), np.int64)
        for k in np.unique(fine):
            members = sorted((ids[i], i) for i in np.flatnonzero(fine == k))
            ranks[[i for _, i in members]] = label_variants.class_balanced_ranks(
                [m for m, _ in members], np.full(len(members), k), cfg.seed)
        os.makedirs(os.path.join(out_dir, split), exist_ok=True)
        num = SHARDS[split]
        writers = [tf.io.TFRecordWriter(os.path.join(
            out_dir, split, f"data-{s:05d}-of-{num:05d}.tfrecord")) for s in range(num)]
        for i in range(len(ids)):
            fields = {k: v[i] for k, v in columns.items()
                      if k not in ("moments", transforms.POSITION)}
            fields[records.RANK] = int(ranks[i])
            writers[i % num].write(records.encode_example(fields))
        if split == "train":
            moments += columns["moments"].sum(axis=0)
        for writer in writers:
            writer.close()
    return time.perf_counter() - start


def record_digests(directory: str) -> dict[str, list[str]]:
    """Sorted sha1 digests of every serialised record per split under a built directory."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    out = {}
    for split in SPLITS:
        files = sorted(tf.io.gfile.glob(os.path.join(directory, split, "*.tfrecord")))
        out[split] = sorted(hashlib.sha1(r).hexdigest() for r in
                            tf.data.TFRecordDataset(files).as_numpy_iterator())
    return out


def compare_builds(cfg: BuildConfig, data_dirs: list[str], work: str) -> dict:
    """Times the Beam build and the plain loop back to back and checks they wrote the same records.

    Returns:
        {'beam_seconds', 'plain_seconds', 'beam_vs_plain' (wall time), 'beam_cpu_seconds',
        'plain_cpu_seconds', 'beam_vs_plain_cpu' (this process's CPU time; None when a reading
        is 0, as CPU time can be on a tiny build), 'records',
        'same_records', 'dataset_dir' (the Beam-built dataset, reused by the reader figures)}.
    """
    beam_dir, plain_dir = os.path.join(work, "beam"), os.path.join(work, "plain")
    cpu = _cpu_seconds()
    beam_seconds = beam_build(cfg, data_dirs, beam_dir)
    cpu, beam_cpu = _cpu_seconds(), _cpu_seconds() - cpu
    plain_seconds = plain_build(cfg, data_dirs, plain_dir)
    plain_cpu = _cpu_seconds() - cpu
    beam, plain = record_digests(beam_dir), record_digests(plain_dir)
    return {
        "beam_seconds": round(beam_seconds, 2),
        "plain_seconds": round(plain_seconds, 2),
        "beam_vs_plain": ratio(beam_seconds, plain_seconds),
        # CPU seconds of this process: less sensitive to other load than wall time.
        "beam_cpu_seconds": round(beam_cpu, 2),
        "plain_cpu_seconds": round(plain_cpu, 2),
        "beam_vs_plain_cpu": ratio(beam_cpu, plain_cpu),
        "records": {split: len(beam[split]) for split in SPLITS},
        "same_records": beam == plain,
        "dataset_dir": beam_dir,
    }
