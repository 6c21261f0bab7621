"""The evaluator as a kfp v2 lightweight component: Input[Model], Input[Dataset] -> Output[Metrics],
Output[Artifact] (records).

The model artifact is a trainer run directory; the metrics artifact becomes a directory holding
metrics.json, figures/ and logs/evaluation/ (executor docstring). Headline numbers are also logged
on the Metrics artifact so the Kubeflow UI lists them. The records artifact holds the run's records
without weights or TensorBoard files (executor docstring): the pipeline's reporter reads those.
The config crosses kfp as one JSON string, decoded and validated by `executor.run`
(`lg_keras.config_io.parse_config` -> `EvaluatorConfig`). The image holds this repository installed;
nothing is installed at run time (`install_kfp_package=False`, no `packages_to_install`, FACTS.md).

    evaluator_op = make_evaluator_component(base_image="REGISTRY/lg-keras:0.1.0")
    task = evaluator_op(model=train_task.outputs["model"], examples=build_task.outputs["examples"],
                        config_json=json.dumps({"hierarchies": ["cifar10_custom_1"]}))
"""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

# The same image as the trainer's (components/trainer/kfp_component.py).
DEFAULT_BASE_IMAGE = "lg-keras:latest"


def make_evaluator_component(base_image: str = DEFAULT_BASE_IMAGE):
    """The evaluator component running in `base_image` (an image with lg_keras installed)."""

    @dsl.component(base_image=base_image, install_kfp_package=False)
    def evaluator(model: Input[Model], examples: Input[Dataset], metrics: Output[Metrics],
                  records: Output[Artifact], config_json: str = "{}"):
        """Evaluates the run directory `model` on `examples`; writes into `metrics`."""
        # Imported inside: kfp runs the function's body alone in the component's process.
        from components.evaluator import executor  # pylint: disable=import-outside-toplevel

        logged = ("coarse_test_accuracy", "coarse_train_accuracy",
                  "running_coarse_train_accuracy", "fine_test_accuracy", "acr",
                  "acr_noisy_test_labels", "best_epoch_val_coarse_accuracy")
        result = executor.run(config_json, {"model": model.path, "examples": examples.path},
                              {"metrics": metrics.path, "records": records.path})
        for name in logged:
            if result.get(name) is not None:
                metrics.log_metric(name, result[name])
        for name, entry in (result.get("by_hierarchy") or {}).items():
            metrics.log_metric(f"{name}/coarse_test_accuracy", entry["coarse_test_accuracy"])
            if entry["acr"] is not None:
                metrics.log_metric(f"{name}/acr", entry["acr"])

    return evaluator


evaluator = make_evaluator_component()
