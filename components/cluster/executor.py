"""cluster: a new dataset whose records also carry automatic fine labels (paper Sec. VI-B).

`run(cfg, inputs, outputs)` computes a feature vector for every example of both splits of the
dataset `inputs['examples']` -- the penultimate features of the finished run
`inputs['features_run']` under that run's own evaluation preprocessing, or box-averaged raw
pixels -- fits k-means within each coarse class on the training split for each k (`lg_keras.clustering`), assigns both splits to the
training centroids, and writes a NEW dataset directory `outputs['examples']`: the same shards (same
names, same record order) with `fine_label_cluster_<k>` added, and the source's dataset.json plus

    config_hash      a new hash (source build, cluster config, features run), so runs trained on the
                     clustered dataset are told apart from runs on the source
    derived_from     {'path', 'config_hash'} of the source
    clusters[str(k)] {'k', 'fine_to_coarse', 'features', 'features_run_config_hash', 'seed',
                      'feature_dim', 'agreement': {split: {'adjusted_rand_index',
                      'normalized_mutual_info'}} (whole split), 'agreement_within_coarse'
                      (the same inside each coarse class, averaged: the coarse split is given),
                      'counts': {split: examples per cluster class}}
    features.int64   gains 'fine_label_cluster_<k>'

The source is never modified. The output is written atomically (a partial directory renamed into
place) under a lock; a second call with the same inputs and config returns the finished dataset's
dataset.json at once. Same seed, same features: same labels.
"""

import copy
import datetime
import logging
import os
import time

import apache_beam as beam
import numpy as np

from components.cluster import transforms
from components.example_gen import executor as example_gen_executor
from components.example_gen.executor import existing_build
from lg_keras import clustering, data, outputs, records
from lg_keras.component_configs import ClusterConfig
from lg_keras.config import DataConfig
from lg_keras.config_io import parse_config, to_dict
from lg_keras.dataset_info import DatasetInfo, load_dataset_info
from lg_keras.errors import ConfigError, DataError, RunDirError
from lg_keras.fingerprints import fingerprint
from lg_keras.label_views import cluster_label_view
from lg_keras.sources.base import SPLITS

# Variable-size images are resized to this side before the 8x8 box average of pixel features.
PIXEL_IMAGE_SIZE = 64
_COUNTS_FILE = "relabel_counts.json"


# --------------------------------------------------------------------------- features

def run_features(run_dir: str, info: DatasetInfo,
                 data_cfg: DataConfig) -> dict[str, np.ndarray]:
    """Penultimate features {split: float32 [n, D]} in file order.

    Args:
        run_dir: a finished run directory (RUN_DIR/model.keras has a 'penultimate' layer).
        info: the dataset to compute features of.
        data_cfg: the run's DataConfig (`predictions.load_run_config`): its evaluation preprocessing
            (size, crop, normalisation) is applied.
    """
    # Imported here: only features='run' needs Keras and the model classes.
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    from lg_keras import embeddings, predictions  # pylint: disable=g-import-not-at-top

    model = predictions.load_model(run_dir)
    if "penultimate" not in {layer.name for layer in model.layers}:
        raise RunDirError(f"The model of {run_dir!r} has no layer named 'penultimate'; cluster "
                          f"features need one of lg_keras' models.")
    batch_size = max(data_cfg.batch_size, 256)
    extractor = embeddings.feature_model(model)  # one model, so predict is traced once
    out = {}
    for split in SPLITS:
        images = data.eval_dataset(info, split, data_cfg, (), batch_size).map(lambda x, _: x)
        # A known length lets Keras' predict stop without its "ran out of data" warning.
        steps = -(-info.num_examples(split) // batch_size)
        images = images.apply(tf.data.experimental.assert_cardinality(steps))
        out[split] = np.asarray(extractor.predict(images, verbose=0), np.float32)
    return out


def pixel_features(info: DatasetInfo) -> dict[str, np.ndarray]:
    """Box-averaged pixel features {split: float32 [n, 8 * 8 * C]} in file order."""
    cfg = DataConfig(dataset_dir=info.path, image_size=0 if info.fixed_size else PIXEL_IMAGE_SIZE,
                     augment="none", normalize="none", batch_size=256, cache=False)
    out = {}
    for split in SPLITS:
        batches = [clustering.pixel_features(images.numpy())
                   for images, _ in data.eval_dataset(info, split, cfg, ())]
        out[split] = np.concatenate(batches) if batches else np.zeros((0, 1), np.float32)
    return out


# --------------------------------------------------------------------------- clustering

def cluster_labels(cfg: ClusterConfig, info: DatasetInfo, features: dict[str, np.ndarray],
                   labels: dict[str, dict[str, np.ndarray]]) -> tuple[dict, dict]:
    """Fits each k on the train split and labels both splits.

    Args:
        cfg: the cluster config.
        info: the source dataset.
        features: {split: float [n, D]} in file order.
        labels: {split: {'fine': int [n], 'coarse': int [n]}} in file order.

    Returns:
        ({k: {split: int64 [n] cluster labels}}, {k: dataset.json 'clusters' entry without the
        feature description}).
    """
    assigned, entries = {}, {}
    num_coarse = info.num_coarse_classes
    for k in cfg.k:
        start = time.time()
        model = clustering.cluster_within_coarse(features["train"], labels["train"]["coarse"], k,
                                                 cfg.seed, num_coarse, info.coarse_names)
        assigned[k] = {split: clustering.assign(model, features[split], labels[split]["coarse"])
                       for split in SPLITS}
        entries[k] = {
            "k": k,
            "fine_to_coarse": clustering.cluster_fine_to_coarse(num_coarse, k).tolist(),
            "seed": cfg.seed,
            "feature_dim": int(features["train"].shape[1]),
            "agreement": {split: clustering.agreement(assigned[k][split], labels[split]["fine"])
                          for split in SPLITS},
            "agreement_within_coarse": {
                split: clustering.agreement_within_coarse(
                    assigned[k][split], labels[split]["fine"], labels[split]["coarse"])
                for split in SPLITS},
            "counts": {split: np.bincount(assigned[k][split], minlength=num_coarse * k).tolist()
                       for split in SPLITS},
        }
        logging.info("k=%d: %d cluster classes in %.1f s; test agreement with fine labels "
                     "within coarse classes %s.", k, num_coarse * k, time.time() - start,
                     entries[k]["agreement_within_coarse"]["test"])
    return assigned, entries


# --------------------------------------------------------------------------- output

def dataset_hash(cfg: ClusterConfig, source_hash: str, run_hash: str | None) -> str:
    """The clustered dataset's config_hash: source build, cluster config and features run."""
    return fingerprint({"source": source_hash, "cluster": to_dict(cfg), "features_run": run_hash})


def _relabel(info: DatasetInfo, assigned: dict, ids: dict, partial: str, beam_args) -> dict:
    """Runs the Beam job writing the shards into `partial`; returns records written per split."""
    per_example = {}
    for split in SPLITS:
        for i, example_id in enumerate(ids[split]):
            per_example[(split, example_id)] = {
                records.cluster_feature(k): int(assigned[k][split][i]) for k in assigned}
    jobs = transforms.shard_jobs({split: info.files(split) for split in SPLITS}, partial)
    for split in SPLITS:
        os.makedirs(os.path.join(partial, split))
    counts_path = os.path.join(partial, _COUNTS_FILE)
    with beam.Pipeline(options=example_gen_executor.pipeline_options(list(beam_args))) as p:
        labels = p | "Labels" >> beam.Create(sorted(per_example.items()))
        _ = (p
             | "Shards" >> beam.Create(jobs)
             | "RelabelShards" >> transforms.RelabelShards(labels, info.compression)
             | "Collect" >> beam.combiners.ToDict()
             | "WriteCounts" >> example_gen_executor.WriteJson(counts_path))
    return example_gen_executor.read_json_output(counts_path)


def _meta(info: DatasetInfo, entries: dict, run: dict | None, chash: str,
          seconds: float) -> dict:
    meta = copy.deepcopy(info.meta)
    meta["config_hash"] = chash
    meta["derived_from"] = {"path": info.path, "config_hash": info.meta.get("config_hash")}
    clusters = meta.setdefault("clusters", {})
    int_features = meta.setdefault("features", {}).setdefault("int64", [])
    for k, entry in entries.items():
        clusters[str(k)] = {**entry, "features": f"run:{run['dir']}" if run else "pixels",
                            "features_run_config_hash": run and run["config_hash"]}
        if records.cluster_feature(k) not in int_features:
            int_features.append(records.cluster_feature(k))
    meta["built_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    meta["cluster_seconds"] = round(seconds, 1)
    return meta


def run(cfg, inputs: dict, outputs_: dict, *, beam_args=(), overwrite: bool = False) -> dict:
    """Writes the clustered copy of `inputs['examples']` to `outputs_['examples']`.

    Args:
        cfg: a ClusterConfig, its dict ({'k': [2, 5, 10], 'features': 'run'|'pixels', 'seed': 0})
            or that dict as a JSON string.
        inputs: {'examples': source dataset directory, 'features_run': a finished run directory
            trained on it (required for features='run', ignored for 'pixels')}.
        outputs_: {'examples': the new dataset directory (must differ from the source)}.
        beam_args: extra Beam pipeline options.
        overwrite: replace an output directory that holds something else.

    Returns:
        The new dataset.json content.

    Raises:
        ConfigError: bad config, a missing features run, or the output equal to the source.
        DataError, RunDirError: bad source dataset or run, a coarse class with fewer than k
            training examples, an output directory in use or holding another dataset.
    """
    cfg = parse_config(ClusterConfig, cfg)
    info = load_dataset_info(inputs["examples"])
    out_dir = os.path.abspath(outputs_["examples"])
    if out_dir == info.path:
        raise ConfigError(f"The output {out_dir!r} must differ from the source dataset: the source "
                          f"is never modified.")
    run = None
    if cfg.features == "run":
        if not inputs.get("features_run"):
            raise ConfigError("features='run' needs inputs['features_run'], a finished run "
                              "directory trained on this dataset (--features RUN_DIR).")
        from lg_keras import predictions  # pylint: disable=g-import-not-at-top
        run_dir = os.path.abspath(inputs["features_run"])
        run_config, run_data_cfg = predictions.load_run_config(run_dir, info)  # finished, same data
        run = {"dir": run_dir, "data_cfg": run_data_cfg,
               "config_hash": run_config.get("config_hash")}
    train_counts = [info.meta["counts"]["train"]["coarse"][name] for name in info.coarse_names]
    for k in cfg.k:  # fail before computing features
        clustering.check_class_sizes(train_counts, k, info.coarse_names)
    chash = dataset_hash(cfg, info.meta.get("config_hash"), run and run["config_hash"])
    with outputs.exclusive_lock(out_dir):
        previous = existing_build(out_dir)
        if previous is not None and previous.get("config_hash") == chash:
            logging.info("Clustered dataset %s is already built from these inputs; nothing to do.",
                         out_dir)
            return previous
        if os.path.exists(out_dir) and not overwrite:
            what = "another dataset" if previous else "files that are not a finished dataset"
            raise RunDirError(f"Output directory {out_dir!r} already holds {what}. Choose another "
                              f"--out, or pass --overwrite to replace it.")
        return _build(cfg, info, run, chash, out_dir, beam_args)


def _build(cfg, info, run, chash, out_dir, beam_args) -> dict:
    start = time.time()
    features = (run_features(run["dir"], info, run["data_cfg"]) if run
                else pixel_features(info))
    labels = {split: data.read_labels(info, split, ("fine", "coarse")) for split in SPLITS}
    ids = {split: data.read_ids(info, split) for split in SPLITS}
    for split in SPLITS:
        n = info.num_examples(split)
        if not len(features[split]) == len(ids[split]) == len(labels[split]["fine"]) == n:
            raise DataError(f"Split {split!r} of {info.path!r}: dataset.json counts {n} examples, "
                            f"but {len(ids[split])} ids and {len(features[split])} feature rows "
                            f"were read; run `lg data inspect` on it.")
    logging.info("Features (%s): %s.", cfg.features,
                 {split: features[split].shape for split in SPLITS})
    assigned, entries = cluster_labels(cfg, info, features, labels)
    partial = outputs.new_partial_dir(out_dir)
    try:
        written = _relabel(info, assigned, ids, partial, beam_args)
        for split in SPLITS:
            if written.get(split, 0) != info.num_examples(split):
                raise DataError(f"Wrote {written.get(split, 0)} {split} records, expected "
                                f"{info.num_examples(split)}.")
        meta = _meta(info, entries, run, chash, time.time() - start)
        outputs.write_json_atomic(os.path.join(partial, "dataset.json"), meta)
        outputs.publish(partial, out_dir)
    except BaseException:
        outputs.discard(partial)
        raise
    logging.info("Wrote %s with cluster views %s in %.1f s.", out_dir,
                 [cluster_label_view(k).name for k in cfg.k], time.time() - start)
    return meta
