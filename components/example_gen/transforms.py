"""Beam transforms of the dataset builder.

The per-element logic lives in lg_keras (images.prepare_image, labels.swap_within_group,
labels.class_balanced_ranks); these transforms only key, group and join. Results never depend on
Beam's element order: every group is sorted by example id before a seeded computation.
"""

import dataclasses

import apache_beam as beam
import numpy as np

from lg_keras import labels, records
from lg_keras.config import format_rate
from lg_keras.sources.base import RawExample

# The authors' code seeds the test split's label noise separately (seed 1234); we offset ours.
TEST_NOISE_SEED_OFFSET = 1234


@dataclasses.dataclass(frozen=True)
class LabelMap:
    """How a source's labels map to the hierarchy: fine index per source label (-1 drops it)."""

    source_to_fine: tuple[int, ...]
    fine_to_coarse: tuple[int, ...]


def prepare_example(raw: RawExample, split: str, label_map: LabelMap, encoding: str):
    """Decodes and validates one source example; yields nothing for classes the hierarchy drops."""
    from lg_keras import images  # pylint: disable=g-import-not-at-top

    fine = label_map.source_to_fine[raw.label]
    if fine < 0:
        return
    data, fmt, (height, width, channels), moments = images.prepare_image(raw, encoding)
    yield {
        "split": split,
        records.ID: raw.id,
        records.IMAGE: data,
        records.IMAGE_FORMAT: fmt,
        records.HEIGHT: height,
        records.WIDTH: width,
        records.CHANNELS: channels,
        records.SOURCE_LABEL: raw.label,
        records.FINE: fine,
        records.COARSE: label_map.fine_to_coarse[fine],
        # A tuple of floats, not an ndarray: Beam's coder encodes it natively where an ndarray
        # falls back to pickling, a cost per example each time the examples are materialised.
        "moments": tuple(moments.tolist()),
    }


def _rank_group(element, seed: int, max_per_class: dict):
    (split, fine), members = element
    members = sorted(members)  # (id, coarse) pairs, sorted by id
    ids = [m[0] for m in members]
    ranks = labels.class_balanced_ranks(ids, np.full(len(ids), fine), seed)
    limit = max_per_class.get(split)
    for (example_id, coarse), rank in zip(members, ranks):
        if limit is None or rank < limit:
            yield (split, example_id), {"rank": int(rank), "fine": fine, "coarse": coarse}


def _noise_group(element, rates: tuple[float, ...], seed: int):
    (split, coarse), members = element
    members = sorted(members)  # (id, fine) pairs, sorted by id
    fine = np.array([m[1] for m in members], np.int64)
    split_seed = seed if split == "train" else seed + TEST_NOISE_SEED_OFFSET
    noisy = {
        format_rate(rate): labels.swap_within_group(
            fine, rate, labels.noise_group_rng(split_seed, coarse, rate)) for rate in rates
    }
    for i, (example_id, _) in enumerate(members):
        yield (split, example_id), {name: int(values[i]) for name, values in noisy.items()}


@beam.ptransform_fn
def AssignRanksAndNoise(examples, rates, seed, max_per_class):  # pylint: disable=invalid-name
    """Computes each example's class rank (dropping ranks past the subset size) and noisy labels.

    Args:
        examples: PCollection of example dicts from `prepare_example`.
        rates: noise rates.
        seed: build seed.
        max_per_class: {split: max examples per fine class or None}.

    Returns:
        PCollection of ((split, id), {'rank', 'fine', 'coarse', '<rate>': noisy fine, ...}) for the
        examples kept.
    """
    ranked = (
        examples
        | "KeyByFine" >> beam.Map(lambda e: ((e["split"], e[records.FINE]),
                                              (e[records.ID], e[records.COARSE])))
        | "GroupByFine" >> beam.GroupByKey()
        | "Rank" >> beam.FlatMap(_rank_group, seed, max_per_class))
    if not rates:
        return ranked
    noisy = (
        ranked
        | "KeyByCoarse" >> beam.Map(lambda kv: ((kv[0][0], kv[1]["coarse"]),
                                                 (kv[0][1], kv[1]["fine"])))
        | "GroupByCoarse" >> beam.GroupByKey()
        | "Noise" >> beam.FlatMap(_noise_group, tuple(rates), seed))
    return (
        {"ranked": ranked, "noisy": noisy}
        | "JoinNoise" >> beam.CoGroupByKey()
        | "MergeNoise" >> beam.Map(lambda kv: (kv[0], {**kv[1]["ranked"][0], **kv[1]["noisy"][0]})))


def to_record(example, rates: tuple[float, ...], extra_by_key: dict):
    """Adds an example's rank and noisy labels; drops examples outside the subset.

    Args:
        example: an example dict from `prepare_example`.
        rates: noise rates.
        extra_by_key: side input {(split, id): {'rank', '<rate>': noisy fine label, ...}}.

    Yields:
        (split, record fields, pixel moments).
    """
    extra = extra_by_key.get((example["split"], example[records.ID]))
    if extra is None:
        return
    fields = {k: v for k, v in example.items() if k not in ("split", "moments")}
    fields[records.RANK] = extra["rank"]
    for rate in rates:
        name = format_rate(rate)
        fields[records.noise_feature(name)] = extra[name]
    yield example["split"], fields, example["moments"]


class DatasetStatsFn(beam.CombineFn):
    """Counts per split and class, noise changes per rate, and train pixel moments."""

    def __init__(self, rates):
        self._names = [format_rate(r) for r in rates]

    def create_accumulator(self):
        return {"fine": {}, "coarse": {}, "changed": {}, "moments": np.zeros(7), "channels": 1,
                "shapes": set()}

    def add_input(self, acc, element):
        split, fields, moments = element
        for kind, key in (("fine", records.FINE), ("coarse", records.COARSE)):
            counts = acc[kind].setdefault(split, {})
            counts[fields[key]] = counts.get(fields[key], 0) + 1
        changed = acc["changed"].setdefault(split, {})
        for name in self._names:
            changed[name] = changed.get(name, 0) + int(
                fields[records.noise_feature(name)] != fields[records.FINE])
        if split == "train":
            acc["moments"] = acc["moments"] + moments
        acc["channels"] = max(acc["channels"], fields[records.CHANNELS])
        if len(acc["shapes"]) <= 1:
            acc["shapes"].add((fields[records.HEIGHT], fields[records.WIDTH]))
        return acc

    def merge_accumulators(self, accumulators):
        out = self.create_accumulator()
        for acc in accumulators:
            for kind in ("fine", "coarse", "changed"):
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


@beam.ptransform_fn
def WriteSplit(records_with_split, split, prefix, num_shards, compression):  # pylint: disable=invalid-name
    """Writes the serialised examples of one split as sharded TFRecord files."""
    compression_type = (beam.io.filesystem.CompressionTypes.GZIP if compression == "gzip"
                        else beam.io.filesystem.CompressionTypes.UNCOMPRESSED)
    return (
        records_with_split
        | f"Select{split}" >> beam.Filter(lambda e: e[0] == split)
        | f"Serialize{split}" >> beam.Map(lambda e: records.encode_example(e[1]))
        | f"Write{split}" >> beam.io.WriteToTFRecord(
            prefix, file_name_suffix=".tfrecord" + (".gz" if compression == "gzip" else ""),
            num_shards=num_shards, compression_type=compression_type))
