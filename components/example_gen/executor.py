"""example_gen: builds TFRecords with fine and coarse labels from a source, with Apache Beam.

`run(cfg, access, outputs)` opens the source as `access` says (a `SourceAccess`: where local
copies are looked for, TFDS's data dir, whether TFDS may download, the Beam options) and writes
the dataset to `outputs['examples']` atomically: the job writes into a private partial directory
that is renamed into place only when the records and `dataset.json` are complete. The workers
write the shards (tf.io) and the statistics (Beam's text sink, `WriteJson`); the launcher reads
the statistics back through Beam's FileSystems and writes `dataset.json`. Nothing passes through
a worker's own disk, but the launcher creates, counts and renames the partial directory with os
calls, so the output must be a path that the launcher and every worker see (one machine's disk,
or a shared file system mounted at the same path).

Noisy fine labels (paper Table VII) are one feature per variant of `BuildConfig.noise_variants`
('fine_label_noise_0.1' within coarse classes, 'fine_label_noise_launched_0.1' for the authors'
loop as launched; see `transforms`). A launched build's test split holds the true fine label in
its noisy features: the authors' test-noise block was commented out when those runs were
launched, so their ACR used clean test labels. `dataset.json` says so (`noise.noisy_splits`,
`noise.note`) and records, per split and variant, the share of fine labels changed and the share
moved to another coarse class (`noise.coarse_changed_fraction`, 0 for within-coarse noise).
"""

import datetime
import json
import logging
import os
import time
from typing import Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
import numpy as np

from components.example_gen import shards, transforms
from components.example_gen.source_access import SourceAccess
from lg_keras import hierarchy_files, labels, outputs, records, sources
from lg_keras.config import BuildConfig
from lg_keras.config_io import config_hash, to_dict
from lg_keras.errors import RunDirError
from lg_keras.label_views import format_rate
from lg_keras.sources.base import SPLITS

# Default shard counts: enough files for parallel reads of a CIFAR-size split.
_DEFAULT_SHARDS = {"train": 8, "test": 2}


def pipeline_options(beam_args: Sequence[str]) -> PipelineOptions:
    """Beam options: the in-process FnApiRunner unless `beam_args` names another runner.

    Beam 2.77's DirectRunner, even when named, first tries to download and start the Prism runner
    binary for this pipeline (a network fetch, then a fallback); the FnApiRunner it falls back to,
    named directly, skips that.
    """
    args = list(beam_args)
    if not any(a.startswith("--runner") for a in args):
        args += ["--runner=FnApiRunner", "--direct_running_mode=in_memory",
                 "--direct_num_workers=1"]
    return PipelineOptions(args)


@beam.ptransform_fn
def WriteJson(pcoll, path):  # pylint: disable=invalid-name
    """Writes the one element of `pcoll`, as JSON, to the file `path` with Beam's text sink.

    The launcher reads it back with `read_json_output` once the pipeline has finished. The sink
    writes through Beam's FileSystems (a temporary file, renamed into place by the sink's finalize
    step), so the file lands in the job's output storage, where the shards go, and not on the disk
    of whichever worker computed it.

    Args:
        pcoll: a PCollection holding one JSON-serialisable element.
        path: the file to write (local or a FileSystems URL such as gs://).

    Returns:
        The sink's PCollection of written file names.
    """
    return (pcoll
            | "ToJson" >> beam.Map(json.dumps)
            | "WriteText" >> beam.io.WriteToText(path, shard_name_template=""))


def read_json_output(path: str):
    """Reads, then deletes, the file a finished pipeline wrote with `WriteJson`."""
    with FileSystems.open(path) as f:
        value = json.loads(f.read())
    FileSystems.delete([path])
    return value


def _label_map(hierarchy: labels.Hierarchy, class_names) -> transforms.LabelMap:
    aligned = hierarchy.aligned_to(class_names)
    source_to_fine = np.full(len(class_names), -1, np.int64)
    source_to_fine[aligned.source_indices(class_names)] = np.arange(aligned.num_fine_classes)
    return aligned, transforms.LabelMap(tuple(int(x) for x in source_to_fine),
                                        tuple(int(x) for x in aligned.fine_to_coarse))


def existing_build(out_dir: str) -> dict | None:
    """The dataset.json of a finished dataset at out_dir, or None."""
    path = os.path.join(out_dir, "dataset.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def run(cfg: BuildConfig, access: SourceAccess, outputs_: dict, *, overwrite=False) -> dict:
    """Builds the dataset described by cfg into outputs_['examples'].

    Args:
        cfg: the build config.
        access: where the source is looked for, whether TFDS may download it, and the Beam
            options (e.g. --runner=DataflowRunner ...).
        outputs_: {'examples': output directory}.
        overwrite: replace an existing dataset built from a different config.

    Returns:
        The dataset.json content.

    Raises:
        RunDirError: when the output holds a different dataset and overwrite is False, or is locked.
        LgError: for bad sources or hierarchies (nothing is written).
    """
    out_dir = os.path.abspath(outputs_["examples"])
    with outputs.exclusive_lock(out_dir):
        # A killed build leaves its partial (or, killed while publishing, the old) directory.
        for name in outputs.remove_stale_partials(out_dir):
            logging.info("Removed %s, left by an interrupted build.", name)
        previous = existing_build(out_dir)
        if previous is not None and previous.get("config_hash") == config_hash(cfg):
            logging.info("Dataset %s is already built from this config; nothing to do.", out_dir)
            return previous
        if os.path.exists(out_dir) and not overwrite:
            what = ("a dataset built from a different config" if previous else
                    "files that are not a finished dataset")
            raise RunDirError(f"Output directory {out_dir!r} already holds {what}. Choose another "
                              f"--out, or pass --overwrite to replace it.")
        return _build(cfg, access, out_dir)


def _build(cfg: BuildConfig, access: SourceAccess, out_dir: str) -> dict:
    start = time.time()
    hierarchy = hierarchy_files.load_hierarchy(cfg.hierarchy)
    source = sources.open_source(cfg.dataset, access.data_dirs,
                                 allow_download=access.allow_download,
                                 tfds_data_dir=access.tfds_data_dir,
                                 test_fraction=cfg.test_fraction, seed=cfg.seed)
    aligned, label_map = _label_map(hierarchy, source.class_names)
    partial = outputs.new_partial_dir(out_dir)
    try:
        stats = _run_pipeline(cfg, source, label_map, partial, access.beam_args)
        meta = _dataset_meta(cfg, source, aligned, stats, time.time() - start)
        meta["shards"] = count_shards(partial, cfg.compression)
        outputs.write_json_atomic(os.path.join(partial, "dataset.json"), meta)
        outputs.publish(partial, out_dir)
    except BaseException as e:
        outputs.discard(partial)
        # A full or read-only disk surfaces from Beam as a RuntimeError quoting the OSError.
        error = outputs.storage_error(e, out_dir)
        if error is not None:
            raise error from e
        raise
    logging.info("Built %s in %.1f s: %s", out_dir, time.time() - start,
                 {s: meta["counts"][s]["total"] for s in SPLITS})
    return meta


def count_shards(directory: str, compression: str) -> dict[str, dict[str, int]]:
    """{split: {shard file name: records}} of a written dataset, for dataset.json.

    Readers compare each file with it (`lg_keras.data.verify_shards`, `lg data inspect`), so a
    shard cut at a record boundary, or a missing one, is named rather than read as less data.
    """
    counts = {}
    for split in SPLITS:
        folder = os.path.join(directory, split)
        counts[split] = {name: records.count_records(os.path.join(folder, name), compression)
                         for name in sorted(os.listdir(folder)) if ".tfrecord" in name}
    return counts


def _run_pipeline(cfg, source, label_map, partial, beam_args):
    rates, variants = tuple(cfg.noise), cfg.noise_variants
    max_per_class = {"train": cfg.max_train_per_class, "test": cfg.max_test_per_class}
    num_shards = {"train": cfg.train_shards or _DEFAULT_SHARDS["train"],
                  "test": cfg.test_shards or _DEFAULT_SHARDS["test"]}
    prefixes = {split: os.path.join(partial, split, "data") for split in SPLITS}
    for split in SPLITS:
        os.makedirs(os.path.join(partial, split))
    stats_path = os.path.join(partial, "stats.json")
    with beam.Pipeline(options=pipeline_options(beam_args)) as p:
        # Sources are read inside the pipeline, in chunks (transforms.read_chunks).
        raw = (p
               | "Splits" >> beam.Create(list(SPLITS))
               | "Read" >> beam.FlatMap(transforms.read_chunks, source))
        # The labels side is small (ids and ints) and decodes nothing: it draws the subset and
        # adds the noise. It joins the images as a side input (a few arrays per split), so only
        # the examples a subset keeps are decoded, and they are shuffled once, into shards.
        label_table = (raw
                       | "Labels" >> beam.Map(transforms.label_chunk, label_map)
                       | "RanksAndNoise" >> transforms.AssignRanksAndNoise(
                           rates, cfg.seed, max_per_class, cfg.noise_kind)
                       | "MergeLabels" >> beam.CombineGlobally(transforms.merge_label_tables))
        if cfg.noise_kind == "launched":
            # The launched loop's swap partner is a position in the whole training split: one
            # global step over the merged table, not one per coarse group.
            label_table = label_table | "LaunchedNoise" >> beam.Map(
                transforms.add_launched_noise, rates, cfg.seed, label_map.fine_to_coarse)
        # Without a subset every example is kept: decoding need not wait for the labels side.
        subset = beam.pvalue.AsSingleton(label_table) if any(max_per_class.values()) else None
        chunks = raw | "Prepare" >> beam.Map(transforms.prepare_chunk, label_map,
                                             cfg.image_encoding, subset)
        _ = (chunks
             | "Write" >> shards.WriteShards(prefixes, num_shards, cfg.compression, variants,
                                                 label_table, label_map.fine_to_coarse)
             | "Stats" >> beam.CombineGlobally(
                 shards.MergeStatsFn(variants, label_map.fine_to_coarse))
             | "Summarize" >> beam.Map(_summarize_stats)
             | "WriteStats" >> WriteJson(stats_path))
    return read_json_output(stats_path)


def _summarize_stats(acc):
    """The JSON-ready statistics (counts, noise changes, image shape, pixel mean and std)."""
    moments = acc["moments"]
    n = max(moments[6], 1)
    mean = moments[0:3] / n
    std = np.sqrt(np.maximum(moments[3:6] / n - mean ** 2, 0))
    return {
        "fine": {s: {str(k): v for k, v in c.items()} for s, c in acc["fine"].items()},
        "coarse": {s: {str(k): v for k, v in c.items()} for s, c in acc["coarse"].items()},
        "changed": acc["changed"],
        "coarse_changed": acc["coarse_changed"],
        "channels": acc["channels"],
        "fixed_size": list(next(iter(acc["shapes"]))) if len(acc["shapes"]) == 1 else None,
        "mean": mean.tolist(),
        "std": std.tolist(),
    }


def _dataset_meta(cfg, source, aligned, stats, seconds):
    channels = stats["channels"]
    counts = {}
    for split in SPLITS:
        fine = stats["fine"].get(split, {})
        coarse = stats["coarse"].get(split, {})
        counts[split] = {
            "total": int(sum(fine.values())),
            "fine": {name: int(fine.get(str(i), 0)) for i, name in enumerate(aligned.fine_names)},
            "coarse": {name: int(coarse.get(str(i), 0))
                       for i, name in enumerate(aligned.coarse_names)},
        }
    noise = _noise_meta(cfg, counts, stats)
    return {
        "format_version": records.FORMAT_VERSION,
        "config_hash": config_hash(cfg),
        "build": to_dict(cfg),
        "source": source.describe(),
        "source_class_names": list(source.class_names),
        "hierarchy": aligned.to_dict(),
        "counts": counts,
        "noise": noise,
        "image": {
            "channels": channels,
            "fixed_size": stats["fixed_size"],
            "mean": stats["mean"][:channels] if channels == 1 else stats["mean"],
            "std": stats["std"][:channels] if channels == 1 else stats["std"],
        },
        "features": {
            "int64": list(records.INT_FEATURES) + [records.noise_feature(v)
                                                   for v in noise["variants"]],
            "bytes": list(records.BYTES_FEATURES),
        },
        "built_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(seconds, 1),
    }


def _noise_meta(cfg, counts, stats):
    """The `noise` entry of dataset.json.

    Returns:
        {'kind', 'rates' (formatted, as before kinds existed), 'variants' (feature suffixes, in
        rate order), 'noisy_splits', 'note' (launched only), and per split and variant
        'changed_fraction' (fine label changed) and 'coarse_changed_fraction' (noisy fine label
        in another coarse class than the true one)}.
    """
    noise = {"kind": cfg.noise_kind,
             "rates": [format_rate(r) for r in cfg.noise],
             "variants": list(cfg.noise_variants),
             "noisy_splits": list(transforms.NOISY_SPLITS[cfg.noise_kind]),
             "changed_fraction": {}, "coarse_changed_fraction": {}}
    if cfg.noise_kind == "launched":
        noise["note"] = ("test split: the noisy features hold the true fine label (the authors' "
                         "test-noise block was commented out when the Table VII runs were "
                         "launched, so their ACR used clean test labels)")
    for split in SPLITS:
        total = max(counts[split]["total"], 1)
        for key, stat in (("changed_fraction", "changed"),
                          ("coarse_changed_fraction", "coarse_changed")):
            found = stats[stat].get(split, {})
            noise[key][split] = {name: found.get(name, 0) / total for name in noise["variants"]}
    return noise
