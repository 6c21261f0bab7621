"""Beam transforms that write a build's TFRecord shards and combine the dataset's statistics.

Prepared chunks (`transforms.prepare_chunk`) are dealt round robin to their split's shards by each
row's place in the split; each shard's rows are sorted by id, given their ranks and noisy labels
from the merged label table (a side input), serialised and written as one file. Every shard is
written, empty ones included. The per-shard statistics combine into dataset.json's counts, noise
figures and pixel moments.
"""

import apache_beam as beam
import numpy as np

from components.example_gen.transforms import (CHUNK_SIZE, INT_FIELDS, POSITION, RECORD_FIELDS,
                                               lookup_labels)
from lg_keras import records


def deal_to_shards(element, num_shards: dict):
    """Deals a chunk's rows round robin to its split's shards, by their place in the split.

    The place is the chunk's offset plus the row's `POSITION`, counted before the subset was
    drawn, so the shards of a subset build are those of the full build, less the rows dropped.

    Yields:
        ((split, shard), columns of the rows that shard receives).
    """
    split, index, columns = element
    num = num_shards[split]
    shard_of = (index * CHUNK_SIZE + columns[POSITION]) % num
    for shard in np.unique(shard_of):
        take = np.flatnonzero(shard_of == shard)
        yield (split, int(shard)), {
            name: (values[take] if isinstance(values, np.ndarray) else [values[i] for i in take])
            for name, values in columns.items()}


def _concat_columns(parts: list[dict]) -> dict:
    names = [*RECORD_FIELDS, "moments"]
    return {name: (np.concatenate([p[name] for p in parts]) if isinstance(parts[0][name], np.ndarray)
                   else [v for p in parts for v in p[name]]) for name in names}


def encode_records(split: str, columns: dict, variants: tuple[str, ...], label_table: dict,
                   stats_fn: "DatasetStatsFn"):
    """Adds ranks and noisy labels to rows, serialises them and accumulates their statistics.

    Args:
        split: 'train' or 'test'.
        columns: rows as `prepare_chunk` columns.
        variants: noisy variant names (`BuildConfig.noise_variants`), one per noisy column.
        label_table: from `merge_label_tables`; rows it lacks are outside the subset and dropped.
        stats_fn: the DatasetStatsFn whose accumulator the statistics go to.

    Returns:
        ([serialised record, ...] in the order of the rows kept, statistics accumulator).
    """
    kept, ranks, noisy = lookup_labels(label_table, split, columns[records.ID])
    ranks, noisy = ranks.tolist(), noisy.tolist()  # Python ints: the statistics go to JSON
    columns = {name: columns[name].tolist() if name in INT_FIELDS else columns[name]
               for name in (*RECORD_FIELDS, "moments")}
    names = [records.noise_feature(variant) for variant in variants]
    out = []
    acc = stats_fn.create_accumulator()
    for n, j in enumerate(np.flatnonzero(kept)):
        fields = {name: columns[name][j] for name in RECORD_FIELDS}
        fields[records.RANK] = ranks[n]
        for r, name in enumerate(names):
            fields[name] = noisy[n][r]
        out.append(records.encode_example(fields))
        acc = stats_fn.add_input(acc, (split, fields, columns["moments"][j]))
    return out, acc


class DatasetStatsFn(beam.CombineFn):
    """Counts per split and class, noise changes per variant, and train pixel moments.

    Per split and noisy variant, 'changed' counts the examples whose noisy fine label differs from
    the true one, 'coarse_changed' those whose noisy fine label maps to another coarse class.

    Args:
        variants: noisy variant names (`BuildConfig.noise_variants`).
        fine_to_coarse: coarse class of each fine class.
    """

    def __init__(self, variants, fine_to_coarse):
        self._names = list(variants)
        self._fine_to_coarse = tuple(fine_to_coarse)

    def create_accumulator(self):
        return {"fine": {}, "coarse": {}, "changed": {}, "coarse_changed": {},
                "moments": np.zeros(7), "channels": 1, "shapes": set()}

    def add_input(self, acc, element):
        split, fields, moments = element
        for kind, key in (("fine", records.FINE), ("coarse", records.COARSE)):
            counts = acc[kind].setdefault(split, {})
            counts[fields[key]] = counts.get(fields[key], 0) + 1
        changed = acc["changed"].setdefault(split, {})
        coarse_changed = acc["coarse_changed"].setdefault(split, {})
        true_coarse = self._fine_to_coarse[fields[records.FINE]]
        for name in self._names:
            noisy = fields[records.noise_feature(name)]
            changed[name] = changed.get(name, 0) + int(noisy != fields[records.FINE])
            coarse_changed[name] = coarse_changed.get(name, 0) + int(
                self._fine_to_coarse[noisy] != true_coarse)
        if split == "train":
            acc["moments"] = acc["moments"] + moments
        acc["channels"] = max(acc["channels"], fields[records.CHANNELS])
        if len(acc["shapes"]) <= 1:
            acc["shapes"].add((fields[records.HEIGHT], fields[records.WIDTH]))
        return acc

    def merge_accumulators(self, accumulators):
        out = self.create_accumulator()
        for acc in accumulators:
            for kind in ("fine", "coarse", "changed", "coarse_changed"):
                for split, counts in acc[kind].items():
                    target = out[kind].setdefault(split, {})
                    for key, n in counts.items():
                        target[key] = target.get(key, 0) + n
            out["moments"] = out["moments"] + acc["moments"]
            out["channels"] = max(out["channels"], acc["channels"])
            out["shapes"] |= acc["shapes"]
        return out

    def extract_output(self, acc):
        return acc


class MergeStatsFn(DatasetStatsFn):
    """Combines the per-shard accumulators of `write_shard` into the dataset's statistics."""

    def add_input(self, acc, element):
        return self.merge_accumulators([acc, element])


def shard_path(prefix: str, shard: int, num_shards: int, compression: str) -> str:
    """PREFIX-SSSSS-of-NNNNN.tfrecord[.gz], the names Beam's WriteToTFRecord gives shards."""
    return (f"{prefix}-{shard:05d}-of-{num_shards:05d}.tfrecord"
            + (".gz" if compression == "gzip" else ""))


def write_shard(element, prefixes: dict, num_shards: dict, compression: str,
                variants: tuple[str, ...], label_table: dict, stats_fn: "DatasetStatsFn"):
    """Labels, serialises and writes one shard's rows, sorted by example id.

    Every shard is written, empty ones included, so a split always has its `num_shards` files.
    The file is rewritten whole if Beam retries the bundle.

    Yields:
        (split, shard, records written), and a tagged output 'stats' with the shard's statistics
        accumulator.
    """
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    (split, shard), parts = element
    parts = [p for p in parts if p is not None]
    serialized, acc = [], stats_fn.create_accumulator()
    if parts:
        columns = _concat_columns(parts)
        order = np.argsort(np.array(columns[records.ID], dtype=object), kind="stable")
        columns = {name: (values[order] if isinstance(values, np.ndarray)
                          else [values[i] for i in order]) for name, values in columns.items()}
        serialized, acc = encode_records(split, columns, variants, label_table, stats_fn)
    options = tf.io.TFRecordOptions(compression_type="GZIP" if compression == "gzip" else "")
    with tf.io.TFRecordWriter(shard_path(prefixes[split], shard, num_shards[split], compression),
                              options) as writer:
        for record in serialized:
            writer.write(record)
    yield split, shard, len(serialized)
    yield beam.pvalue.TaggedOutput("stats", acc)


@beam.ptransform_fn
def WriteShards(chunks, prefixes, num_shards, compression, variants,  # pylint: disable=invalid-name
                label_table, fine_to_coarse):
    """Deals chunks to shards, then labels, serialises and writes each shard's TFRecord file.

    Args:
        chunks: PCollection of (split, index, columns) from `prepare_chunk`.
        prefixes: {split: path prefix of its shard files}.
        num_shards: {split: shard count}.
        compression: 'none' or 'gzip'.
        variants: noisy variant names (`BuildConfig.noise_variants`), one per noisy column.
        label_table: side input (a singleton PCollection from `merge_label_tables`, then
            `add_launched_noise` for a launched build).
        fine_to_coarse: coarse class of each fine class (for the coarse-changed counts).

    Returns:
        PCollection of per-shard statistics accumulators (`DatasetStatsFn`).
    """
    every_shard = [((split, shard), None) for split, num in num_shards.items()
                   for shard in range(num)]
    empty = chunks.pipeline | "EveryShard" >> beam.Create(every_shard)
    written = (
        (chunks | "DealToShards" >> beam.FlatMap(deal_to_shards, num_shards), empty)
        | "WithEmptyShards" >> beam.Flatten()
        | "GroupByShard" >> beam.GroupByKey()
        | "WriteShard" >> beam.FlatMap(
            write_shard, prefixes, num_shards, compression, tuple(variants),
            beam.pvalue.AsSingleton(label_table),
            DatasetStatsFn(variants, fine_to_coarse)).with_outputs(
                "stats", main="written"))
    return written.stats
