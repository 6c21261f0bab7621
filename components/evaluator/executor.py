"""evaluator: metrics.json, figures, TensorBoard summaries and projector files of a finished run.

`run(cfg, inputs, outputs)` evaluates the run in `inputs['model']` (a trainer run directory) on the
dataset in `inputs['examples']` and writes into `outputs['metrics']` (the run directory itself when
called from the CLI, so `tensorboard --logdir RUN_DIR/logs` shows everything; names in
`lg_keras.run_files`):

    metrics.json                 the metrics (lg_keras.evaluate) plus 'config' and 'evaluation_key'
    figures/confusion.png        fine confusion matrix (coarse for coarse-trained runs), Fig. 5
    figures/tsne.png             t-SNE of penultimate test features by coarse class, Fig. 4
    logs/evaluation/             TensorBoard run: evaluation scalars, the confusion matrix image
                                 and the projector files (features, metadata.tsv, sprite.png)

metrics.json is written last and atomically; a second call with the same config, run and dataset
returns it without recomputing unless `overwrite` is set.

With `outputs['records']` it also copies the run's records into that directory: metrics.json and
figures/*.png from above, the trainer's config.json, train_state.json and history.json, and the
build's dataset.json. They are what the reporter reads of a run, a few hundred kilobytes without
weights or TensorBoard files, so a Kubeflow reporter task downloads these and not the models.
"""

import dataclasses
import logging
import os
import shutil
import time

import tensorflow as tf

from lg_keras import data, evaluate, figures, hierarchy_files, outputs, predictions, run_files
from lg_keras import embeddings as embedding_lib
from lg_keras.component_configs import EvaluatorConfig
from lg_keras.config_io import parse_config, to_dict
from lg_keras.dataset_info import load_dataset_info
from lg_keras.fingerprints import fingerprint

_SCALARS = ("coarse_test_accuracy", "coarse_train_accuracy", "fine_test_accuracy",
            "fine_train_accuracy", "acr", "acr_noisy_test_labels")


def evaluation_key(cfg: EvaluatorConfig, run_hash: str | None, model_path: str,
                   dataset_hash: str | None) -> str:
    """Identifies an evaluation: its config, the run's config hash and model file (size and
    mtime), and the dataset build's hash."""
    model = os.stat(model_path)
    return fingerprint([dataclasses.asdict(cfg), run_hash, model.st_size, model.st_mtime_ns,
                        dataset_hash])


def _previous(out_dir: str, key: str) -> dict | None:
    previous = run_files.read_metrics(out_dir)
    return previous if previous and previous.get("evaluation_key") == key else None


def run(cfg, inputs: dict, outputs_: dict, *, overwrite: bool = False) -> dict:
    """Evaluates a run and writes metrics.json, figures and TensorBoard files.

    Args:
        cfg: an EvaluatorConfig, its dict ({'hierarchies': [...], 'embeddings': bool, ...}) or
            that dict as a JSON string.
        inputs: {'model': run directory, 'examples': dataset directory}.
        outputs_: {'metrics': output directory (the run directory from the CLI)}, and optionally
            'records': a directory for the run's records (module docstring).
        overwrite: recompute even if metrics.json holds this very evaluation.

    Returns:
        The metrics dict written to metrics.json.

    Raises:
        LgError subclasses: for bad config, an unfinished or mismatched run, bad hierarchies, or an
            output directory locked by another evaluator.
    """
    cfg = parse_config(EvaluatorConfig, cfg)
    run_dir, out_dir = os.path.abspath(inputs["model"]), os.path.abspath(outputs_["metrics"])
    info = load_dataset_info(inputs["examples"])
    hierarchies = evaluate.check_hierarchies(
        info, [hierarchy_files.load_hierarchy(spec) for spec in cfg.hierarchies])
    os.makedirs(out_dir, exist_ok=True)
    with outputs.exclusive_lock(os.path.join(out_dir, run_files.METRICS_LOCK)):
        run_config, data_cfg = predictions.load_run_config(run_dir, info)  # checks before the reads
        if hierarchies:
            evaluate.require_fine_view(run_dir, data_cfg.labels)
        key = evaluation_key(cfg, run_config.get("config_hash"), run_files.model_path(run_dir),
                             info.meta.get("config_hash"))
        previous = None if overwrite else _previous(out_dir, key)
        if previous is not None:
            logging.info("%s already holds this evaluation; nothing to do.",
                         os.path.join(out_dir, run_files.METRICS_FILE))
            if outputs_.get("records"):
                write_records(run_dir, info.path, out_dir, outputs_["records"])
            return previous
        start = time.time()
        pred = predictions.predict_run(run_dir, info, batch_size=cfg.batch_size or None,
                                    with_features=cfg.embeddings)
        result = evaluate.compute_metrics(pred, info, hierarchies)
        _write_figures_and_logs(cfg, pred, result, info, out_dir)
        result["config"] = {**to_dict(cfg), "run_dir": run_dir, "dataset_dir": info.path,
                            "run_config": pred.config}
        result["evaluation_key"] = key
        result["evaluation_seconds"] = round(time.time() - start, 1)
        evaluate.assert_json_finite(result)
        run_files.write_metrics(out_dir, result)
        if outputs_.get("records"):
            write_records(run_dir, info.path, out_dir, outputs_["records"])
    logging.info("Evaluated %s: coarse test accuracy %.4f, ACR %s (%.1f s).", run_dir,
                 result["coarse_test_accuracy"], result["acr"], result["evaluation_seconds"])
    return result


def write_records(run_dir: str, dataset_dir: str, metrics_dir: str, records_dir: str) -> None:
    """Copies a run's records into `records_dir`: the trainer's from `run_dir`
    (`run_files.TRAINER_RECORDS`), metrics.json and figures/*.png from `metrics_dir`,
    dataset.json from `dataset_dir`."""
    os.makedirs(os.path.join(records_dir, run_files.FIGURES_DIR), exist_ok=True)
    sources = [os.path.join(run_dir, name) for name in run_files.TRAINER_RECORDS]
    sources += [os.path.join(metrics_dir, run_files.METRICS_FILE),
                os.path.join(dataset_dir, "dataset.json")]
    for source in sources:
        if os.path.isfile(source):
            shutil.copyfile(source, os.path.join(records_dir, os.path.basename(source)))
    figure_dir = os.path.join(metrics_dir, run_files.FIGURES_DIR)
    for name in sorted(os.listdir(figure_dir)) if os.path.isdir(figure_dir) else []:
        if name.endswith(".png"):
            shutil.copyfile(os.path.join(figure_dir, name),
                            os.path.join(records_dir, run_files.FIGURES_DIR, name))


def _write_figures_and_logs(cfg, pred, result, info, out_dir) -> None:
    figure_dir = os.path.join(out_dir, run_files.FIGURES_DIR)
    log_dir = os.path.join(out_dir, run_files.EVALUATION_LOG_DIR)
    os.makedirs(figure_dir, exist_ok=True)
    shutil.rmtree(log_dir, ignore_errors=True)  # this directory holds only the evaluator's files
    if result["fine_confusion_matrix"] is not None:
        confusion, names, tag = result["fine_confusion_matrix"], info.fine_names, "fine"
    else:
        confusion, names, tag = result["coarse_confusion_matrix"], info.coarse_names, "coarse"
    figures.plot_confusion(confusion, names, os.path.join(figure_dir, run_files.CONFUSION_FIGURE))
    step = max(result["num_epochs"], 1)
    with tf.summary.create_file_writer(log_dir).as_default():
        tf.summary.image(f"confusion_matrix/{tag}", figures.confusion_image(confusion, names)[None],
                         step=step, description=f"Test-split {tag} confusion matrix (rows true).")
        for name in _SCALARS:
            if result[name] is not None:
                tf.summary.scalar(f"evaluation/{name}", result[name], step=step)
        tf.summary.flush()
    if cfg.embeddings:
        _write_embeddings(cfg, pred, info, figure_dir, log_dir)


def _write_embeddings(cfg, pred, info, figure_dir, log_dir) -> None:
    fine = data.read_labels(info, "test", ("fine",))["fine"]
    chosen = embedding_lib.balanced_subset(fine, cfg.max_embedding_examples)
    features = pred.test_features[chosen]
    coarse = info.fine_to_coarse[fine[chosen]]
    figures.plot_tsne(features, coarse, info.coarse_names,
                      os.path.join(figure_dir, run_files.TSNE_FIGURE), seed=cfg.tsne_seed,
                      title=f"{os.path.basename(pred.run_dir)} ({pred.label_view}), "
                            f"{len(chosen)} test images")
    images = embedding_lib.read_images(info, "test", pred.data_cfg, chosen)
    embedding_lib.export_projector(features, [info.fine_names[i] for i in fine[chosen]],
                                [info.coarse_names[i] for i in coarse], images, log_dir)
    logging.info("Wrote t-SNE and projector files for %d test examples.", len(chosen))


def summary(result: dict) -> str:
    """One line of the headline numbers, for the CLI."""
    parts = [f"coarse test {result['coarse_test_accuracy']:.4f}",
             f"coarse train (clean) {result['coarse_train_accuracy']:.4f}"]
    if result.get("running_coarse_train_accuracy") is not None:
        parts.append(f"running train {result['running_coarse_train_accuracy']:.4f}")
    if result.get("fine_test_accuracy") is not None:
        parts.append(f"fine test {result['fine_test_accuracy']:.4f}")
    parts.append(f"ACR {result['acr']:.4f}" if result.get("acr") is not None else "ACR n/a")
    for name, entry in sorted((result.get("by_hierarchy") or {}).items()):
        acr = f"{entry['acr']:.4f}" if entry["acr"] is not None else "n/a"
        parts.append(f"[{name}: coarse test {entry['coarse_test_accuracy']:.4f}, ACR {acr}]")
    return ", ".join(parts)

