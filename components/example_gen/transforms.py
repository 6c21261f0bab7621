"""Beam transforms of the dataset builder.

The per-element logic lives in lg_keras (images.prepare_image, label_variants.swap_within_group,
label_variants.inject_launched_noise, label_variants.class_balanced_ranks); these transforms only
key, group and join. Results never depend on Beam's element order: every group is sorted by example
id before a seeded computation.

Noisy fine labels (paper Table VII) come in two kinds, one per build (`BuildConfig.noise_kind`):

- within_coarse: swaps inside each coarse class, run per (split, coarse class) group in
  `_ranks_and_noise`; both splits are noisy (the test split with its own seed).
- launched: the authors' loop as it stood when their Table VII runs were launched
  (`label_variants.inject_launched_noise`): the swap partner is a position in the whole training
  set, so swaps cross coarse classes. It needs the whole split at once, so it runs in one global
  step (`add_launched_noise`) over the merged label table. Only the training split is noisy: the
  test split's `fine_label_noise_launched_<r>` holds the true fine label, because the authors'
  test-noise block was commented out when those runs were launched (their ACR uses clean test
  labels).

`coarse_label` always holds the true coarse class.
"""

import dataclasses

import apache_beam as beam
import numpy as np

from lg_keras import label_variants, labels, records
from lg_keras.sources.base import RawExample

# The authors' code seeds the test split's label noise separately (seed 1234); we offset ours.
TEST_NOISE_SEED_OFFSET = 1234

# The splits each noise kind makes noisy (see the module docstring); the others keep true labels.
NOISY_SPLITS = {"within_coarse": ("train", "test"), "launched": ("train",)}


@dataclasses.dataclass(frozen=True)
class LabelMap:
    """How a source's labels map to the hierarchy: fine index per source label (-1 drops it)."""

    source_to_fine: tuple[int, ...]
    fine_to_coarse: tuple[int, ...]


# Examples travel through the pipeline in chunks of this many: Beam's cost is per element, and a
# CIFAR build of 60,000 single examples spent more time in it than in decoding and encoding.
# (An ImageNet chunk of 1,024 JPEGs is about 110 MB: still a comfortable element.)
CHUNK_SIZE = 1024


def prepare_example(raw: RawExample, split: str, encoding: str) -> dict:
    """Decodes, validates and measures one source example: its record fields but the labels."""
    from lg_keras import images  # pylint: disable=g-import-not-at-top

    data, fmt, (height, width, channels), moments = images.prepare_image(raw, encoding)
    return {
        "split": split,
        records.ID: raw.id,
        records.IMAGE: data,
        records.IMAGE_FORMAT: fmt,
        records.HEIGHT: height,
        records.WIDTH: width,
        records.CHANNELS: channels,
        records.SOURCE_LABEL: raw.label,
        # A tuple of floats, not an ndarray: Beam's coder encodes it natively where an ndarray
        # falls back to pickling.
        "moments": tuple(moments.tolist()),
    }


def read_chunks(split: str, source, chunk_size: int | None = None):
    """Yields (split, chunk index, [RawExample, ...]) in the source's order.

    Runs inside the pipeline, so payloads never enter its graph (a beam.Create of 50,000 payloads
    pickles them into the pipeline proto several times: about a minute for CIFAR-10).

    Args:
        split: 'train' or 'test'.
        source: the opened source.
        chunk_size: examples per chunk; None reads `CHUNK_SIZE` when called (tests vary it).
    """
    chunk_size = chunk_size or CHUNK_SIZE
    chunk = []
    index = 0
    for raw in source.examples(split):
        chunk.append(raw)
        if len(chunk) == chunk_size:
            yield split, index, chunk
            chunk, index = [], index + 1
    if chunk:
        yield split, index, chunk


# Record fields in the order they are serialised in: those of `prepare_example`, then the labels
# `prepare_chunk` adds.
_EXAMPLE_FIELDS = (records.ID, records.IMAGE, records.IMAGE_FORMAT, records.HEIGHT, records.WIDTH,
                   records.CHANNELS, records.SOURCE_LABEL)
RECORD_FIELDS = (*_EXAMPLE_FIELDS, records.FINE, records.COARSE)
INT_FIELDS = frozenset((records.HEIGHT, records.WIDTH, records.CHANNELS, records.SOURCE_LABEL,
                         records.FINE, records.COARSE))
# Column of a prepared chunk: each row's place among the chunk's rows in the hierarchy, before the
# subset is drawn. Rows are dealt to shards by it, so a shard holds the same examples whichever
# of them a subset keeps.
POSITION = "position"


def _hierarchy_rows(chunk, label_map: LabelMap) -> tuple[np.ndarray, np.ndarray]:
    """(indices into the chunk of the rows the hierarchy keeps, their fine labels)."""
    fine = labels.relabel_to_hierarchy(np.array([raw.label for raw in chunk], np.int64),
                                       label_map.source_to_fine)
    rows = np.flatnonzero(fine >= 0)  # -1: a class the hierarchy drops
    return rows, fine[rows]


def label_chunk(element, label_map: LabelMap):
    """(split, index, raw examples) -> (split, index, {id, fine, coarse}) of the hierarchy's rows.

    The labels side of the build: no image is decoded, so the subset can be drawn (and the noise
    added) before `prepare_chunk` decodes only the examples kept.
    """
    split, index, chunk = element
    rows, fine = _hierarchy_rows(chunk, label_map)
    return split, index, {records.ID: [chunk[i].id for i in rows], records.FINE: fine,
                          records.COARSE: labels.coarsen_labels(fine, label_map.fine_to_coarse)}


def prepare_chunk(element, label_map: LabelMap, encoding: str, label_table: dict | None = None):
    """(split, index, raw examples) -> (split, index, columns) of the examples kept.

    Columns, not one dict per example: {field: list of bytes/str, or int64 array} plus 'moments'
    (n x 7 float64) and `POSITION`. Beam encodes a chunk's columns as a few objects where a list of
    dicts costs a key and a value per field and example.

    Args:
        element: (split, chunk index, [RawExample, ...]) from `read_chunks`.
        label_map: the source's labels in the hierarchy.
        encoding: `BuildConfig.image_encoding`.
        label_table: the merged label table (`merge_label_tables`): only the examples it holds
            (the subset) are decoded. None decodes every example in the hierarchy.
    """
    split, index, chunk = element
    rows, fine = _hierarchy_rows(chunk, label_map)
    positions = np.arange(len(rows))
    if label_table is not None:
        positions = np.flatnonzero(lookup_labels(label_table, split,
                                                 [chunk[i].id for i in rows])[0])
    examples = [prepare_example(chunk[rows[k]], split, encoding) for k in positions]
    columns = {name: (np.array([e[name] for e in examples], np.int64) if name in INT_FIELDS
                      else [e[name] for e in examples]) for name in _EXAMPLE_FIELDS}
    columns[records.FINE] = fine[positions]
    columns[records.COARSE] = labels.coarsen_labels(fine[positions], label_map.fine_to_coarse)
    columns["moments"] = np.array([e["moments"] for e in examples], np.float64).reshape(-1, 7)
    columns[POSITION] = positions.astype(np.int64)
    return split, index, columns


def _label_keys(element):
    """Yields ((split, coarse), (ids, fine labels)) for each coarse class of a chunk."""
    split, _, columns = element
    ids = np.array(columns[records.ID], dtype=object)
    fine, coarse = columns[records.FINE], columns[records.COARSE]
    for c in np.unique(coarse):
        members = coarse == c
        yield (split, int(c)), (ids[members].tolist(), fine[members].tolist())


def _ranks_and_noise(element, rates: tuple[float, ...], seed: int, max_per_class: dict,
                     noise_kind: str = "within_coarse"):
    """Ranks each fine class of a coarse group, keeps the subset, then swaps noisy labels.

    The subset is drawn first and the noise runs over the kept examples; both sort by example id,
    so neither Beam's element order nor the chunking matters. A launched build's noise needs the
    whole split (`add_launched_noise`): here its noisy columns hold the true fine labels.

    Yields:
        One label table (see `merge_label_tables`) of the group's kept examples.
    """
    (split, coarse), parts = element
    members = sorted((i, f) for ids, fines in parts for i, f in zip(ids, fines))  # by id
    limit = max_per_class.get(split)
    kept = []
    for fine in sorted({f for _, f in members}):
        ids = [i for i, f in members if f == fine]
        ranks = label_variants.class_balanced_ranks(ids, np.full(len(ids), fine), seed)
        kept += [(i, fine, int(r)) for i, r in zip(ids, ranks) if limit is None or r < limit]
    kept.sort()
    fine = np.array([f for _, f, _ in kept], np.int64)
    if noise_kind == "within_coarse":
        split_seed = seed if split == "train" else seed + TEST_NOISE_SEED_OFFSET
        noisy = [label_variants.swap_within_group(
            fine, rate, label_variants.noise_group_rng(split_seed, coarse, rate)) for rate in rates]
    else:
        noisy = [fine] * len(rates)
    yield {split: (np.array([i for i, _, _ in kept], dtype=object),
                   np.array([r for _, _, r in kept], np.int64),
                   np.stack(noisy, axis=1) if noisy else np.zeros((len(kept), 0), np.int64),
                   fine)}


def merge_label_tables(tables):
    """Merges label tables {split: (ids, ranks, noisy labels (n x rates), fine labels)} by id.

    A CombineGlobally function (partial merges merge again). The merged table is the side input
    of `shards.write_shard`: a few arrays per split, which Beam's side-input cache sizes and ships far
    faster than a dict of 60,000 entries. Ids are unique, so the merged order is the id order
    whatever order the parts come in.
    """
    parts = {}
    for table in tables:
        for split, arrays in table.items():
            parts.setdefault(split, []).append(arrays)
    merged = {}
    for split, arrays in parts.items():
        ids = np.concatenate([a[0] for a in arrays])
        order = np.argsort(ids, kind="stable")
        merged[split] = (ids[order],) + tuple(
            np.concatenate([a[k] for a in arrays])[order] for k in range(1, len(arrays[0])))
    return merged


def add_launched_noise(table: dict, rates: tuple[float, ...], seed: int,
                       fine_to_coarse: tuple[int, ...]) -> dict:
    """Fills the training split's noisy columns with the launched noise of each rate.

    The launched loop draws its swap partner from positions in the whole training set, so it
    runs once over the merged table (the kept training examples, sorted by id), not per group.
    Other splits keep their noisy columns as `_ranks_and_noise` left them: the true fine labels.

    Args:
        table: a merged label table (`merge_label_tables`).
        rates: noise rates, in the order of the noisy columns.
        seed: build seed.
        fine_to_coarse: coarse class of each fine class (the pools of the loop).

    Returns:
        A new table; `table` is not modified.
    """
    out = dict(table)
    if "train" in table:
        ids, ranks, _, fine = table["train"]
        noisy = [label_variants.inject_launched_noise(ids, fine, np.asarray(fine_to_coarse),
                                                      rate, seed) for rate in rates]
        out["train"] = (ids, ranks, np.stack(noisy, axis=1).astype(np.int64) if noisy
                        else np.zeros((len(ids), 0), np.int64), fine)
    return out


def lookup_labels(table: dict, split: str, ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(kept mask, ranks, noisy labels) of `ids` from a merged label table."""
    ids = np.array(ids, dtype=object)
    if split not in table or not len(ids):
        return np.zeros(len(ids), bool), np.zeros(0, np.int64), np.zeros((0, 0), np.int64)
    sorted_ids, ranks, noisy = table[split][:3]
    at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    kept = sorted_ids[at] == ids
    return kept, ranks[at[kept]], noisy[at[kept]]


@beam.ptransform_fn
def AssignRanksAndNoise(chunks, rates, seed, max_per_class,  # pylint: disable=invalid-name
                        noise_kind="within_coarse"):
    """Computes each example's class rank (dropping ranks past the subset size) and noisy labels.

    Args:
        chunks: PCollection of (split, index, columns) from `label_chunk` (the columns read
            are id, fine and coarse).
        rates: noise rates.
        seed: build seed.
        max_per_class: {split: max examples per fine class or None}.
        noise_kind: 'within_coarse' (noise added here) or 'launched' (noisy columns hold the true
            fine labels until `add_launched_noise` runs on the merged table).

    Returns:
        PCollection of label tables, one per (split, coarse class), of the examples kept: {split:
        (ids, ranks, noisy fine labels n x len(rates), fine labels)}. A fine class lies in one
        coarse class, so one grouping serves both the ranks and the within-coarse noise.
    """
    return (
        chunks
        | "KeyByCoarse" >> beam.FlatMap(_label_keys)
        | "GroupByCoarse" >> beam.GroupByKey()
        | "RanksAndNoise" >> beam.FlatMap(_ranks_and_noise, tuple(rates), seed, max_per_class,
                                          noise_kind))
