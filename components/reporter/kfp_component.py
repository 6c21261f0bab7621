"""The reporter as a kfp v2 lightweight component whose inputs are one plan's runs.

Its inputs are the plan (`Plan.to_dict()` as one JSON string) and one `Input[Artifact]` per run,
`run_0` ... `run_{N-1}` in the plan's run order: each evaluator task's records output (the run's
JSON records and figures, no weights). kfp has no list input that gathers artifacts from several
tasks outside a ParallelFor, and kfp's local runner has no ParallelFor, so the signature is written
for the plan's run count (`make_reporter_component(num_runs=N)`). Its outputs (executor docstring):

- report (Artifact): a directory with report.md, report.html, tables/, figures/ and the runs'
  records in `lg reproduce`'s layout, which `lg report DIR` rewrites after a download;
- markdown (Markdown) and html (HTML): the report as the Kubeflow UI renders it (figures inlined);
- tables (Dataset) and figures (Artifact): the CSV tables and the PNG figures;
- metrics (Metrics): planned and finished runs, each run's coarse test accuracy, verdict counts.

The config crosses kfp as one JSON string, decoded and validated by `executor.run`
(`lg_keras.config_io.parse_config` -> `ReporterConfig`). The image holds this repository installed;
nothing is installed at run time (`install_kfp_package=False`, no `packages_to_install`, FACTS.md).

    reporter_op = make_reporter_component("REGISTRY/lg-keras:0.1.0", num_runs=len(plan.runs))
    task = reporter_op(plan_json=json.dumps(plan.to_dict()),
                       **{f"run_{i}": t.outputs["records"] for i, t in enumerate(evaluators)})
"""

import linecache

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Output

# The same image as the trainer's and evaluator's.
DEFAULT_BASE_IMAGE = "lg-keras:latest"

# kfp ships a lightweight component as its function's source text and calls it with the inputs its
# signature names, so the N run inputs must be written out in that text.
_SOURCE = '''\
def reporter(plan_json: str, report: Output[Artifact], markdown: Output[Markdown],
             html: Output[HTML], tables: Output[Dataset], figures: Output[Artifact],
             metrics: Output[Metrics], {inputs}config_json: str = "{{}}"):
    """Writes the reproduction report of the plan's {count} runs into `report`."""
    # Imported inside: kfp runs the function's body alone in the component's process.
    from components.reporter import executor  # pylint: disable=import-outside-toplevel

    records = [{names}]
    result = executor.run(config_json, {{"plan": plan_json, "records": [r.path for r in records]}},
                          {{"report": report.path, "markdown": markdown.path, "html": html.path,
                           "tables": tables.path, "figures": figures.path}})
    for name, value in result["metrics"].items():
        metrics.log_metric(name, value)
'''


def _reporter_function(num_runs: int):
    """The reporter function with inputs run_0 ... run_{num_runs-1}, its source readable by
    `inspect.getsource` (registered in linecache under a pseudo file name, as IPython does)."""
    names = [f"run_{i}" for i in range(num_runs)]
    source = _SOURCE.format(inputs="".join(f"{n}: Input[Artifact], " for n in names),
                            names=", ".join(names), count=num_runs)
    filename = f"<lg_keras reporter of {num_runs} runs>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"Input": Input, "Output": Output, "Artifact": Artifact, "Markdown": Markdown,
                 "HTML": HTML, "Dataset": Dataset, "Metrics": Metrics}
    exec(compile(source, filename, "exec"), namespace)  # pylint: disable=exec-used
    return namespace["reporter"]


def make_reporter_component(base_image: str = DEFAULT_BASE_IMAGE, num_runs: int = 0):
    """The reporter component of a plan of `num_runs` runs, running in `base_image` (with none,
    the report says what the plan skipped).

    Raises:
        ValueError: when num_runs is not an integer >= 0.
    """
    if isinstance(num_runs, bool) or not isinstance(num_runs, int) or num_runs < 0:
        raise ValueError(f"num_runs must be an integer >= 0; got {num_runs!r}.")
    return dsl.component(base_image=base_image, install_kfp_package=False)(
        _reporter_function(num_runs))
