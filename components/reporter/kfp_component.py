"""The reporter as a kfp v2 lightweight component: Input[Artifact] (runs) -> Output[Artifact].

The input artifact is a runs directory (plan.json and the run directories); the report artifact
becomes a directory holding report.md, report.html, tables/ and figures/ (executor docstring), and
the Markdown artifact carries report.md so the Kubeflow UI shows it. The config crosses kfp as one
JSON string, validated by `executor.parse_config`. The image holds this repository installed;
nothing is installed at run time (`install_kfp_package=False`, no `packages_to_install`, FACTS.md).

    reporter_op = make_reporter_component(base_image="REGISTRY/lg-keras:0.1.0")
    task = reporter_op(runs=runs_artifact, config_json='{"confidence": 0.95}')
"""

from kfp import dsl
from kfp.dsl import Artifact, Input, Markdown, Output

# The same image as the trainer's and evaluator's.
DEFAULT_BASE_IMAGE = "lg-keras:latest"


def make_reporter_component(base_image: str = DEFAULT_BASE_IMAGE):
    """The reporter component running in `base_image` (an image with lg_keras installed)."""

    @dsl.component(base_image=base_image, install_kfp_package=False)
    def reporter(runs: Input[Artifact], report: Output[Artifact], summary: Output[Markdown],
                 config_json: str = "{}"):
        """Writes the reproduction report of the runs directory `runs` into `report`."""
        # Imported inside: kfp runs the function's body alone in the component's process.
        import shutil  # pylint: disable=import-outside-toplevel

        from components.reporter import executor  # pylint: disable=import-outside-toplevel

        result = executor.run(config_json, {"runs": runs.path}, {"report": report.path})
        shutil.copyfile(result["report"], summary.path)

    return reporter


reporter = make_reporter_component()
