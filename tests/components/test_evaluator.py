"""components.evaluator: metrics.json, figures, TensorBoard files, the CLI and the kfp wrapper."""

import json
import os
import shutil

import pytest
import tensorflow as tf

from components.evaluator import executor, kfp_component
from lg_keras import data, embeddings, evaluate, metrics, predictions
from lg_keras.dataset_info import load_dataset_info
from lg_keras.errors import ConfigError
from pipelines import cli
from tests.helpers.evaluator_fixtures import (FINE_FRACTION, evaluated_run, tiny_dataset,  # noqa: F401
                                      tiny_runs)
from tests.helpers.authors_fixtures import authors_dataset, authors_run  # noqa: F401


def _strict_json(path):
    def refuse(constant):
        raise ValueError(f"{path} holds {constant}")

    with open(path) as f:
        return json.load(f, parse_constant=refuse)


def _events(log_dir):
    found = {}
    for name in os.listdir(log_dir):
        if name.startswith("events.out.tfevents"):
            for event in tf.compat.v1.train.summary_iterator(os.path.join(log_dir, name)):
                for value in event.summary.value:
                    found[value.tag] = (event.step, value)
    return found


def test_executor_writes_metrics_figures_and_tensorboard_files(evaluated_run, tiny_dataset):
    run_dir, result = evaluated_run
    written = _strict_json(os.path.join(run_dir, "metrics.json"))
    assert written == json.loads(json.dumps(result))
    assert set(written["by_hierarchy"]) == {"tiny_pets_vehicles", "tiny_crossed"}
    assert written["config"]["hierarchies"][0].endswith("own.yaml")
    assert written["config"]["run_config"]["experiment"]["data"]["fraction"] == FINE_FRACTION
    # The executor's numbers are the library's: evaluate_run again and compare.
    info = load_dataset_info(tiny_dataset)
    again = evaluate.evaluate_run(run_dir, info)
    for key in ("coarse_test_accuracy", "coarse_train_accuracy", "acr", "fine_confusion_matrix",
                "test_correct", "running_coarse_train_accuracy", "best_epoch_val_coarse_accuracy"):
        assert written[key] == again[key]
    for figure in ("confusion.png", "tsne.png"):
        assert os.path.getsize(os.path.join(run_dir, "figures", figure)) > 1000
    log_dir = os.path.join(run_dir, "logs", "evaluation")
    events = _events(log_dir)
    step, image = events["confusion_matrix/fine"]
    assert step == written["num_epochs"]
    height, width = int(image.tensor.string_val[1]), int(image.tensor.string_val[0])
    assert height > 100 and width > 100
    scalar = tf.make_ndarray(events["evaluation/coarse_test_accuracy"][1].tensor)
    assert float(scalar) == pytest.approx(written["coarse_test_accuracy"])
    features = tf.train.load_checkpoint(tf.train.latest_checkpoint(log_dir)).get_tensor(
        embeddings.TENSOR_NAME)
    assert features.shape == (written["num_test_examples"], 32)  # all 24 < the 2,000 cap
    rows = open(os.path.join(log_dir, "metadata.tsv")).read().splitlines()
    assert rows[0] == "fine\tcoarse" and len(rows) == 1 + len(features)
    assert all(r.split("\t")[1] in info.coarse_names for r in rows[1:])


def test_executor_skips_a_finished_evaluation_and_recomputes_when_asked(evaluated_run, tiny_dataset):
    run_dir, result = evaluated_run
    cfg = result["config"]
    inputs = {"model": run_dir, "examples": tiny_dataset}
    cached = executor.run({"hierarchies": cfg["hierarchies"]}, inputs, {"metrics": run_dir})
    assert cached["evaluation_key"] == result["evaluation_key"]
    assert cached["evaluation_seconds"] == result["evaluation_seconds"]
    other = executor.run({"hierarchies": [], "embeddings": False}, inputs,
                         {"metrics": os.path.join(os.path.dirname(run_dir), "other")})
    assert other["evaluation_key"] != result["evaluation_key"] and "by_hierarchy" not in other
    assert other["coarse_test_accuracy"] == result["coarse_test_accuracy"]
    assert not os.path.exists(os.path.join(os.path.dirname(run_dir), "other", "figures", "tsne.png"))


def test_the_records_output_holds_what_the_reporter_reads_and_no_weights(evaluated_run,
                                                                         tiny_dataset, tmp_path):
    """The pipeline's evaluator also fills a records directory (a finished evaluation too)."""
    run_dir, result = evaluated_run
    records = str(tmp_path / "records")
    again = executor.run({"hierarchies": result["config"]["hierarchies"]},
                         {"model": run_dir, "examples": tiny_dataset},
                         {"metrics": run_dir, "records": records})
    assert again["evaluation_key"] == result["evaluation_key"]  # found, not recomputed
    files = sorted(os.path.relpath(os.path.join(d, f), records)
                   for d, _, names in os.walk(records) for f in names)
    assert files == ["config.json", "dataset.json", "figures/confusion.png", "figures/tsne.png",
                     "history.json", "metrics.json", "train_state.json"]
    assert _strict_json(os.path.join(records, "metrics.json")) == result


def test_executor_config_errors_name_the_field(tiny_runs, tiny_dataset, tmp_path):
    inputs = {"model": tiny_runs("coarse"), "examples": tiny_dataset}
    with pytest.raises(ConfigError, match="Unknown field 'hierarchy'.*hierarchies"):
        executor.run({"hierarchy": ["cifar10"]}, inputs, {"metrics": str(tmp_path)})
    with pytest.raises(ConfigError, match="JSON object"):
        executor.run("{not json", inputs, {"metrics": str(tmp_path)})
    with pytest.raises(ConfigError, match="hierarchies must be a list; got 'cifar10'"):
        executor.run('{"hierarchies": "cifar10"}', inputs, {"metrics": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"max_embedding_examples must be an integer in "
                                          r"\[2, 2000\]; got 5000"):
        executor.run({"max_embedding_examples": 5000}, inputs, {"metrics": str(tmp_path)})
    own = os.path.join(os.path.dirname(tiny_dataset), "hierarchy.yaml")
    with pytest.raises(ConfigError, match="needs a run trained on fine labels"):
        executor.run({"hierarchies": [own]}, inputs, {"metrics": str(tmp_path)})
    assert not os.path.exists(tmp_path / "metrics.json")


def test_lg_evaluate_cli_writes_into_the_run(tiny_runs, tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    shutil.copytree(tiny_runs("coarse"), run_dir)
    # --data defaults to the dataset recorded in config.json.
    assert cli.main(["evaluate", "--run", run_dir, "--no-embeddings"]) == 0
    out = capsys.readouterr().out
    assert "coarse test" in out and "ACR n/a" in out
    metrics = _strict_json(os.path.join(run_dir, "metrics.json"))
    assert metrics["acr"] is None and metrics["config"]["embeddings"] is False
    assert os.path.exists(os.path.join(run_dir, "figures", "confusion.png"))
    assert not os.path.exists(os.path.join(run_dir, "figures", "tsne.png"))
    assert cli.main(["evaluate", "--run", str(tmp_path / "missing"), "--data",
                     metrics["config"]["dataset_dir"]]) == 2
    assert "train_state.json" in capsys.readouterr().err


def test_kfp_component_compiles(tmp_path):
    from kfp import compiler  # pylint: disable=g-import-not-at-top

    path = str(tmp_path / "evaluator.yaml")
    compiler.Compiler().compile(kfp_component.make_evaluator_component("lg-keras:test"), path)
    text = open(path).read()
    assert "system.Metrics" in text and "system.Model" in text and "system.Dataset" in text
    assert "pip install" not in text and "lg-keras:test" in text


@pytest.mark.slow
def test_kfp_component_runs_locally(tiny_runs, tiny_dataset, tmp_path):
    """The compiled component in kfp's local SubprocessRunner (about 30 s: a fresh process)."""
    from kfp import dsl, local  # pylint: disable=g-import-not-at-top

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path))
    component = kfp_component.make_evaluator_component()
    run_dir = tiny_runs("fine", FINE_FRACTION)

    @dsl.pipeline
    def evaluate_pipeline():
        model = dsl.importer(artifact_uri=run_dir, artifact_class=dsl.Model)
        examples = dsl.importer(artifact_uri=tiny_dataset, artifact_class=dsl.Dataset)
        component(model=model.output, examples=examples.output,
                  config_json='{"embeddings": false}')

    evaluate_pipeline()
    # The 'metrics' output and the 'records' output (what the reporter task downloads) hold it.
    found = {os.path.basename(d): os.path.join(d, "metrics.json")
             for d, _, files in os.walk(tmp_path) if "metrics.json" in files}
    assert sorted(found) == ["metrics", "records"], found
    expected = evaluate.evaluate_run(run_dir, load_dataset_info(tiny_dataset))
    for path in found.values():
        assert _strict_json(path)["coarse_test_accuracy"] == expected["coarse_test_accuracy"]


def test_metrics_hold_the_authors_protocol_beside_the_primary_figures(authors_run, tmp_path):
    """A run trained with train.authors_test_passes: metrics.json['authors_protocol'] summarises
    history.json (best over epochs of both pass-1 accuracies, the final epoch's pooled ACR); the
    primary centre-crop figures are computed as for any run."""
    run_dir = str(tmp_path / "run")
    shutil.copytree(authors_run.run_dir, run_dir)
    result = executor.run({"embeddings": False}, {"model": run_dir,
                                                  "examples": authors_run.cfg.data.dataset_dir},
                          {"metrics": run_dir})
    written = _strict_json(os.path.join(run_dir, "metrics.json"))
    authors = written["authors_protocol"]
    history = authors_run.history
    scores = [max(h["authors_test_accuracy"], h["authors_test_coarse_accuracy"]) for h in history]
    assert authors["best_test_coarse_accuracy"] == max(scores)
    assert authors["best_epoch"] == history[scores.index(max(scores))]["epoch"]
    assert authors["final_epoch"] == 2 and authors["passes"] == 3
    assert authors["final_epoch_acr"] == history[-1]["authors_test_acr"]
    assert "FINAL epoch" in authors["description"]
    # The primary figures stay the deterministic centre crop of the final network.
    info = load_dataset_info(authors_run.cfg.data.dataset_dir)
    centre = predictions.predict_run(run_dir, info).test_logits
    coarse = data.read_labels(info, "test", ("coarse",))["coarse"]
    assert result["coarse_test_accuracy"] == metrics.coarse_accuracy(centre, coarse,
                                                                     info.fine_to_coarse)


def test_runs_without_the_option_have_no_authors_figures(evaluated_run):
    assert evaluated_run[1]["authors_protocol"] is None
