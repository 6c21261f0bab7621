"""Beam transform of the cluster component: copies a dataset's shards with cluster labels added.

Each element is one shard; the worker reads it record by record, adds the example's labels (looked
up by (split, id) in a side input) and writes a shard of the same name, so the new dataset keeps
the source's shard layout and record order exactly. Training order and augmentation depend on the
file order (`lg_keras.data.train_dataset`), so a run on cluster labels sees the same batches as a
run of the same seed on the source's fine labels: only the labels differ.
"""

import os

import apache_beam as beam

from lg_keras import records
from lg_keras.errors import DataError


def add_labels(serialized: bytes, new_labels: dict[str, int]) -> bytes:
    """Returns the tf.train.Example `serialized` with int64 features set (added or replaced)."""
    from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top

    example = example_pb2.Example.FromString(serialized)
    for key, value in new_labels.items():
        feature = example.features.feature[key]
        feature.Clear()
        feature.int64_list.value.append(int(value))
    return example.SerializeToString()


def _example_id(serialized: bytes) -> str:
    from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top

    example = example_pb2.Example.FromString(serialized)
    return example.features.feature[records.ID].bytes_list.value[0].decode()


def relabel_shard(shard, compression: str, labels_by_key: dict):
    """Copies one shard, adding each example's labels.

    Args:
        shard: (split, source path, destination path).
        compression: '' or 'GZIP' (the source's, kept).
        labels_by_key: {(split, id): {feature name: label}}.

    Returns:
        (split, number of records written).

    Raises:
        DataError: an example has no labels (the labels were computed from another dataset).
    """
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    split, source, destination = shard
    count = 0
    options = tf.io.TFRecordOptions(compression_type=compression)
    with tf.io.TFRecordWriter(destination, options) as writer:
        for raw in tf.data.TFRecordDataset(source, compression_type=compression):
            serialized = raw.numpy()
            example_id = _example_id(serialized)
            new_labels = labels_by_key.get((split, example_id))
            if new_labels is None:
                raise DataError(f"Example {example_id!r} of shard {source!r} has no cluster "
                                f"labels; the dataset changed while clustering.")
            writer.write(add_labels(serialized, new_labels))
            count += 1
    return split, count


@beam.ptransform_fn
def RelabelShards(shards, labels, compression):  # pylint: disable=invalid-name
    """Copies shards with labels added; returns the records written per split.

    Args:
        shards: PCollection of (split, source path, destination path).
        labels: PCollection of ((split, id), {feature name: label}), one per example.
        compression: '' or 'GZIP'.

    Returns:
        PCollection of (split, records written).
    """
    return (
        shards
        | "Relabel" >> beam.Map(relabel_shard, compression,
                                labels_by_key=beam.pvalue.AsDict(labels))
        | "CountPerSplit" >> beam.CombinePerKey(sum))


def shard_jobs(files_by_split: dict[str, list[str]], out_dir: str) -> list[tuple[str, str, str]]:
    """(split, source, OUT/split/<same file name>) for every shard."""
    return [(split, path, os.path.join(out_dir, split, os.path.basename(path)))
            for split, paths in files_by_split.items() for path in paths]
