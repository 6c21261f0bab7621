"""The trainer as a Kubeflow Pipelines v2 component: typed artifacts in and out, then executor.run.

The config crosses kfp as one JSON string (`to_dict(cfg)`), decoded and validated here. The image
must hold this repository installed (`pip install -e .[gpu]`); nothing is installed at run time
(`install_kfp_package=False`, no `packages_to_install`), so it also runs offline with
`kfp.local.SubprocessRunner(use_venv=False)`.

    trainer_op = make_trainer_component(base_image="REGISTRY/lg-keras:0.1.0")
    task = trainer_op(examples=build_task.outputs["examples"], config_json=json.dumps(to_dict(cfg)))
"""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

DEFAULT_BASE_IMAGE = "lg-keras:latest"


def make_trainer_component(base_image: str = DEFAULT_BASE_IMAGE):
    """The trainer component running in `base_image` (an image with lg_keras installed)."""

    @dsl.component(base_image=base_image, install_kfp_package=False)
    def trainer(examples: Input[Dataset], config_json: str, model: Output[Model],
                metrics: Output[Metrics]):
        """Trains the experiment `config_json` on `examples`; the run directory is `model`."""
        import json  # pylint: disable=g-import-not-at-top,import-outside-toplevel

        from components.trainer import executor  # pylint: disable=import-outside-toplevel
        from lg_keras.config import ExperimentConfig  # pylint: disable=import-outside-toplevel
        from lg_keras.config_io import from_dict  # pylint: disable=import-outside-toplevel

        cfg = from_dict(ExperimentConfig, json.loads(config_json))
        result = executor.run(cfg, {"examples": examples.path}, {"model": model.path})
        model.metadata["config_hash"] = result["config_hash"]
        for key, value in result["final"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics.log_metric(key, value)

    return trainer


trainer = make_trainer_component()
