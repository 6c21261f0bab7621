"""The evaluator as a kfp v2 lightweight component: Input[Model], Input[Dataset] -> Output[Metrics].

The model artifact is a trainer run directory; the metrics artifact becomes a directory holding
metrics.json, figures/ and logs/evaluation/ (executor docstring). Headline numbers are also logged
on the Metrics artifact so the Kubeflow UI lists them. The image already has lg_keras installed, hence
install_kfp_package=False and no packages_to_install (FACTS.md).
"""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output


@dsl.component(install_kfp_package=False)
def evaluate_component(model: Input[Model], examples: Input[Dataset], metrics: Output[Metrics],
                       config: str = "{}"):
    """Evaluates a trained run; `config` is the evaluator config as one JSON string."""
    # Imported inside: kfp runs the function's body alone in the component's process.
    from components.evaluator import executor  # pylint: disable=import-outside-toplevel

    result = executor.run(config, {"model": model.path, "examples": examples.path},
                          {"metrics": metrics.path})
    for name in ("coarse_test_accuracy", "coarse_train_accuracy", "running_coarse_train_accuracy",
                 "fine_test_accuracy", "acr", "acr_noisy_test_labels",
                 "best_epoch_val_coarse_accuracy"):
        if result.get(name) is not None:
            metrics.log_metric(name, result[name])
    for name, entry in (result.get("by_hierarchy") or {}).items():
        metrics.log_metric(f"{name}/coarse_test_accuracy", entry["coarse_test_accuracy"])
        if entry["acr"] is not None:
            metrics.log_metric(f"{name}/acr", entry["acr"])
