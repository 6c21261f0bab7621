"""Checks a built dataset's records against its dataset.json and summarises them."""

import collections

import numpy as np
import tensorflow as tf

from lg_keras import records
from lg_keras.dataset_info import DatasetInfo
from lg_keras.errors import DataError
from lg_keras.label_views import noise_label_view
from lg_keras.sources.base import SPLITS


def inspect_dataset(info: DatasetInfo) -> dict:
    """Reads every record of every shard and compares counts with dataset.json.

    Returns:
        {'splits': {split: {'records', 'fine', 'coarse', 'files': {file: n}}}, 'problems': [str]}.
        A problem names the file (corrupt or truncated shard) or the count that disagrees.
    """
    problems = []
    report = {"splits": {}, "problems": problems}
    spec = {records.FINE: tf.io.FixedLenFeature([], tf.int64),
            records.COARSE: tf.io.FixedLenFeature([], tf.int64)}
    for split in SPLITS:
        fine = collections.Counter()
        coarse = collections.Counter()
        files = {}
        try:
            paths = info.files(split)
        except DataError as e:
            problems.append(str(e))
            continue
        for path in paths:
            n = 0
            ds = tf.data.TFRecordDataset(path, compression_type=info.compression).batch(4096)
            try:
                for batch in ds:
                    parsed = tf.io.parse_example(batch, spec)
                    fine.update(parsed[records.FINE].numpy().tolist())
                    coarse.update(parsed[records.COARSE].numpy().tolist())
                    n += int(batch.shape[0])
            except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
                problems.append(f"{path}: corrupt or truncated after {n} readable records "
                                f"({e.message.splitlines()[0]})")
            files[path] = n
        expected = info.meta["counts"][split]
        total = sum(files.values())
        # Per file (a shard cut at a record boundary reads without error); files that failed to
        # read are reported above already.
        corrupt = [p for p in files if any(x.startswith(p + ":") for x in problems)]
        problems += [x for x in info.shard_problems(split, files)
                     if not x.startswith(f"{split}: ")
                     and not any(x.startswith(p + ":") for p in corrupt)]
        if total != expected["total"]:
            problems.append(f"{split}: {total} records read, dataset.json says {expected['total']}")
        for i, name in enumerate(info.fine_names):
            if fine.get(i, 0) != expected["fine"][name]:
                problems.append(f"{split}: fine class {name!r} has {fine.get(i, 0)} records, "
                                f"dataset.json says {expected['fine'][name]}")
        for i, name in enumerate(info.coarse_names):
            if coarse.get(i, 0) != expected["coarse"][name]:
                problems.append(f"{split}: coarse class {name!r} has {coarse.get(i, 0)} records, "
                                f"dataset.json says {expected['coarse'][name]}")
        report["splits"][split] = {
            "records": total,
            "fine": {name: fine.get(i, 0) for i, name in enumerate(info.fine_names)},
            "coarse": {name: coarse.get(i, 0) for i, name in enumerate(info.coarse_names)},
            "files": files,
        }
    return report


def format_report(info: DatasetInfo, report: dict) -> str:
    """A plain-text summary: counts per split and class, noise figures, problems."""
    lines = [f"Dataset {info.path}",
             f"  source: {info.meta['source']}",
             f"  hierarchy: {info.meta['hierarchy']['name']} "
             f"({info.num_fine_classes} fine -> {info.num_coarse_classes} coarse)",
             f"  image: {info.meta['image']}"]
    for split, data in report["splits"].items():
        fine = np.array(list(data["fine"].values()))
        lines.append(f"  {split}: {data['records']:,} examples in {len(data['files'])} shard(s); "
                     f"per fine class {fine.min():,}-{fine.max():,}")
        lines.append("    per coarse class: " + ", ".join(
            f"{k} {v:,}" for k, v in data["coarse"].items()))
    lines += _noise_lines(info)
    for key, cluster in sorted(info.meta.get("clusters", {}).items()):
        lines.append(f"  clusters k={key}: " + ", ".join(
            f"{m} {v:.3f}" for m, v in cluster.get("agreement", {}).items()))
    if report["problems"]:
        lines.append("PROBLEMS:")
        lines += [f"  - {p}" for p in report["problems"]]
    else:
        lines.append("  all shards readable; counts match dataset.json")
    return "\n".join(lines)


def _noise_lines(info: DatasetInfo) -> list[str]:
    """Report lines on the noise: its kind, then per split and variant the shares changed.

    Datasets built before the coarse-changed shares were recorded show the fine shares only.
    """
    noise = info.meta.get("noise", {})
    variants = info.noise_variants
    if not variants:
        return []
    rates = dict(zip(variants, noise.get("rates", variants)))
    lines = [f"  noise kind: {info.noise_kind}; label views "
             + ", ".join(noise_label_view(v).name for v in variants)]
    if noise.get("note"):
        lines.append(f"    note: {noise['note']}")
    coarse_changed = noise.get("coarse_changed_fraction", {})
    for split in SPLITS:
        fractions = noise.get("changed_fraction", {}).get(split)
        if not fractions:
            continue
        parts = []
        for variant, share in fractions.items():
            part = f"r={rates.get(variant, variant)}: {share:.2%} of fine labels changed"
            if variant in coarse_changed.get(split, {}):
                part += f" ({coarse_changed[split][variant]:.2%} to another coarse class)"
            parts.append(part)
        lines.append(f"  noise ({split}): " + ", ".join(parts))
    return lines
