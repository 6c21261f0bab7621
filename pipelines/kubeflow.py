"""The same components as a Kubeflow Pipelines v2 pipeline: compiled, or run by kfp's local runner.

The planner's runs are expanded at compile time into parallel branches, one per run (no
ParallelFor, so the pipeline also runs under `kfp.local`): an example_gen task per dataset build, a
trainer task per run (requesting one NVIDIA GPU) and an evaluator task after each trainer. A derived
dataset (cluster labels, `pipelines.cluster_experiment`) becomes a cluster task fed by its parent's
build and its features run's trainer. The config of every task is one JSON string.

The pipeline ends in one reporter task after every evaluator. Its signature is written for the
plan (components/reporter/kfp_component.py): the plan as a JSON string and one input artifact per
run, each evaluator's 'records' output (the run's JSON records and figures, no weights). Why not a
shared pipeline root that the reporter lists: on a cluster the pipeline root is an object store
(gs://, s3://, minio) that a task sees only through the artifacts passed to it, as local paths the
launcher downloads or mounts, and the layout under it is the backend's, not ours; explicit inputs
are the one way that works alike under `kfp.local` (local paths under --pipeline-root) and on a
cluster, and they make the reporter wait for every evaluator. The records are a few hundred
kilobytes per run, so the reporter never downloads models or TensorBoard files. Its outputs
(report directory, Markdown, HTML, CSV tables, figures, Metrics) appear on the reporter task in
the Kubeflow UI.

Compiling plans portably (`planner.plan(portable=True)`): a choice that depends on the training
machine (the cpu profile's bfloat16 on CPUs that compute it natively) stays in the configs as the
rule, train.mixed_precision 'native_bfloat16', which the trainer decides where it runs and records
as config.json's dtype_policy. So the package does not depend on the host that compiled it.

    lg pipeline compile --profile paper --out pipeline.yaml --image REGISTRY/lg-keras:0.1.0
    lg pipeline run-local --profile smoke --only table1 --datasets cifar10 --pipeline-root /tmp/kfp

kfp is imported inside the functions, so the `lg` command starts without it.
"""

import dataclasses
import glob
import json
import logging
import os
import time

from components.example_gen.__main__ import add_source_arguments, source_access_from_args
from components.example_gen.source_access import SourceAccess
from lg_keras.config_io import to_dict
from pipelines import planner, reproduce
from pipelines.plan import Plan

DEFAULT_BASE_IMAGE = "lg-keras:latest"
# kfp.local's SubprocessRunner ignores the image and runs this Python; naming a Python image
# spares its warning about running a custom image in a plain Python environment.
LOCAL_IMAGE = "python:3.11-slim"
GPU_RESOURCE = "nvidia.com/gpu"


def pipeline_from_plan(plan: Plan, *, base_image: str = DEFAULT_BASE_IMAGE,
                       access: SourceAccess = SourceAccess(), gpu: bool = True):
    """A kfp pipeline function with one branch per run of `plan`, ending in the report.

    Args:
        plan: the plan (`pipelines.planner.plan`).
        base_image: the component image (this repository installed, see the Dockerfile).
        access: the example_gen tasks' source access, its paths as the containers see them.
        gpu: request one NVIDIA GPU for every trainer task.

    Returns:
        The `@dsl.pipeline` function (call it under `kfp.local.init`, or compile it).
    """
    # pylint: disable=import-outside-toplevel
    from kfp import dsl

    from components.evaluator.kfp_component import make_evaluator_component
    from components.example_gen.kfp_component import make_example_gen_component
    from components.reporter.kfp_component import make_reporter_component
    from components.trainer.kfp_component import make_trainer_component

    example_gen_op = make_example_gen_component(base_image)
    trainer_op = make_trainer_component(base_image)
    evaluator_op = make_evaluator_component(base_image)
    reporter_op = make_reporter_component(base_image, num_runs=len(plan.runs))
    specs = {d.key: d for d in plan.datasets}

    @dsl.pipeline(name=f"lg-keras-{plan.profile}",
                  description=f"Label granularity (Chen et al. 2018), profile {plan.profile}: "
                              f"{', '.join(plan.experiments)}.")
    def lg_pipeline():
        datasets, trainers, records = {}, {}, []

        def dataset_output(key: str):
            if key not in datasets:
                datasets[key] = _dataset_task(specs[key], example_gen_op, dataset_output, trainers,
                                              base_image, access)
            return datasets[key]

        for run in plan.runs:
            examples = dataset_output(run.dataset)
            cfg = dataclasses.replace(run.experiment, data=dataclasses.replace(
                run.experiment.data, dataset_dir=""))
            train = trainer_op(examples=examples, config_json=json.dumps(to_dict(cfg)))
            train.set_display_name(f"train {run.key}")
            if gpu:
                train.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(1)
            trainers[run.key] = train
            evaluate = evaluator_op(model=train.outputs["model"], examples=examples,
                                    config_json=json.dumps(plan.evaluator_config(run)))
            evaluate.set_display_name(f"evaluate {run.key}")
            records.append(evaluate.outputs["records"])
        report = reporter_op(plan_json=json.dumps(plan.to_dict()),
                             **{f"run_{i}": r for i, r in enumerate(records)})
        report.set_display_name("report")

    return lg_pipeline


def _dataset_task(spec, example_gen_op, dataset_output, trainers, base_image,
                  access: SourceAccess):
    """The output artifact of the task that produces dataset `spec`."""
    if spec.parent is None:
        task = example_gen_op(build_json=json.dumps(to_dict(spec.build)),
                              **access.kfp_arguments())
        task.set_display_name(f"example_gen {spec.key}")
        return task.outputs["examples"]
    # pylint: disable-next=import-outside-toplevel
    from components.cluster.kfp_component import make_cluster_component

    features = trainers.get(spec.features_run.key)
    if features is None:
        raise ValueError(f"Dataset {spec.key!r} needs run {spec.features_run.key!r} earlier in "
                         f"the plan.")
    task = make_cluster_component(base_image)(
        examples=dataset_output(spec.parent.key), features_run=features.outputs["model"],
        config_json=json.dumps(spec.cluster_config()))
    task.set_display_name(f"cluster {spec.key}")
    return task.outputs["clustered"]


def compile_pipeline(profile: str, only, out_yaml: str, base_image: str = DEFAULT_BASE_IMAGE, *,
                     datasets=None, access: SourceAccess = SourceAccess(),
                     imagenet_available: bool = False,
                     budget_hours: float | None | planner.ProfileBudget = planner.PROFILE_BUDGET
                     ) -> Plan:
    """Plans `profile` for any machine (module docstring) and compiles its pipeline to `out_yaml`.

    Args:
        profile: 'smoke', 'cpu' or 'paper'.
        only: experiment names (None or empty: all).
        out_yaml: the pipeline package to write.
        base_image: the component image.
        datasets: restrict to these dataset keys (None: all).
        access: the example_gen tasks' source access, its paths inside the containers.
        imagenet_available: whether the containers can read ImageNet (from `access`).
        budget_hours: as `planner.plan` (default: the profile's budget).

    Returns:
        The compiled plan.
    """
    plan = planner.plan(profile, only, imagenet_available, datasets=datasets,
                        budget_hours=budget_hours, portable=True)
    compile_plan(plan, out_yaml, base_image, access=access)
    return plan


def compile_plan(plan: Plan, out_yaml: str, base_image: str = DEFAULT_BASE_IMAGE, *,
                 access: SourceAccess = SourceAccess()) -> None:
    """Compiles a plan made for any machine (a profile's, or `lg study`'s) to `out_yaml`."""
    from kfp import compiler  # pylint: disable=import-outside-toplevel

    pipeline = pipeline_from_plan(plan, base_image=base_image, access=access)
    compiler.Compiler().compile(pipeline, out_yaml)
    logging.info("Compiled %d runs on %d datasets to %s.", len(plan.runs), len(plan.datasets),
                 out_yaml)


def run_local(plan: Plan, pipeline_root: str, *,
              access: SourceAccess = SourceAccess()) -> None:
    """Runs the plan's pipeline with kfp's local SubprocessRunner (no GPU requests, no cluster).

    Every task runs in a fresh Python process of this interpreter (lg_keras must be installed in
    it, as `pip install -e .` does); outputs go under `pipeline_root`, the report in
    PIPELINE_ROOT/lg-keras-PROFILE-TIMESTAMP/reporter/report/report.md (`report_dir`).
    """
    from kfp import local  # pylint: disable=import-outside-toplevel

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=pipeline_root)
    pipeline = pipeline_from_plan(plan, base_image=LOCAL_IMAGE, access=access, gpu=False)
    pipeline()


def report_dir(pipeline_root: str, profile: str) -> str | None:
    """The newest report directory a local run of `profile` left under `pipeline_root`, if any.

    kfp.local writes each task's outputs to
    PIPELINE_ROOT/<pipeline name>-<timestamp>/<task name>/<output name>.
    """
    found = glob.glob(os.path.join(glob.escape(pipeline_root), f"lg-keras-{profile}-*",
                                   "reporter", "report", "report.md"))
    return os.path.dirname(max(found, key=os.path.getmtime)) if found else None


def _compile(args) -> None:
    access = source_access_from_args(args)  # paths inside the containers (add_source_arguments)
    if args.study:
        from pipelines import study  # pylint: disable=import-outside-toplevel

        plan = study.plan_from_args(args, portable=True, imagenet_available=args.with_imagenet)
        compile_plan(plan, args.out, args.image, access=access)
    else:
        plan = compile_pipeline(args.profile, args.only, args.out, args.image,
                                datasets=args.datasets, access=access,
                                imagenet_available=args.with_imagenet,
                                budget_hours=args.budget_hours)
    print(planner.format_plan(plan))
    print(f"wrote {args.out}: {len(plan.datasets)} dataset, {len(plan.runs)} trainer (1 GPU "
          f"each) and {len(plan.runs)} evaluator tasks and a reporter task; image {args.image}")


def _run_local(args) -> None:
    access = source_access_from_args(args)
    plan = reproduce.plan_from_args(args, access)
    print(planner.format_plan(plan), flush=True)
    root = os.path.abspath(args.pipeline_root)
    start = time.time()
    run_local(plan, root, access=access)
    print(f"pipeline finished in {time.time() - start:.0f} s; artifacts under {root}")
    report = report_dir(root, plan.profile)
    if report:
        print(f"report: {os.path.join(report, 'report.md')} (and report.html)")


def register(commands, data_commands) -> None:
    """Adds `lg pipeline compile` and `lg pipeline run-local` to the `lg` command."""
    del data_commands
    pipeline = commands.add_parser("pipeline", help="the components as a Kubeflow pipeline")
    sub = pipeline.add_subparsers(dest="pipeline_command", required=True, metavar="SUBCOMMAND")
    compile_ = sub.add_parser(
        "compile", help="compile a profile's experiments to a kfp v2 pipeline package (YAML)",
        description="Plans the experiments like `lg reproduce` and writes a pipeline package "
                    "with one example_gen task per dataset, a trainer (1 GPU) and evaluator "
                    "task per run, and a reporter task after them. Submit it with "
                    "kfp.Client().create_run_from_pipeline_package.")
    reproduce.add_plan_arguments(compile_, default_profile="paper")
    add_source_arguments(compile_, containers=True, download=False)
    compile_.add_argument("--out", default="pipeline.yaml", help="the YAML file to write")
    compile_.add_argument("--image", default=DEFAULT_BASE_IMAGE,
                          help="component image with this repository installed (Dockerfile)")
    compile_.add_argument("--with-imagenet", action="store_true",
                          help="include the ImageNet subsets (the containers can read ImageNet "
                               "from --data-dir or the TFDS data dir)")
    compile_.add_argument("--study", action="store_true",
                          help="compile `lg study`'s plan for --dataset and --hierarchy instead "
                               "of the paper's experiments (a folder: dataset is counted here "
                               "and must be at the same path inside the containers)")
    from pipelines import study  # pylint: disable=import-outside-toplevel

    study.add_study_arguments(compile_, required=False)
    compile_.set_defaults(func=_compile)
    local_ = sub.add_parser(
        "run-local", help="run the pipeline with kfp's local SubprocessRunner (small profiles)",
        description="Runs the compiled pipeline's tasks one by one in subprocesses of this "
                    "Python (no cluster, no GPU requests), the report last. Use --only and "
                    "--datasets to keep it small.")
    reproduce.add_plan_arguments(local_, default_profile="smoke")
    add_source_arguments(local_, beam=False,
                         without_copy="an example_gen task without a local copy fails")
    local_.add_argument("--pipeline-root", required=True, help="where kfp writes the artifacts")
    local_.set_defaults(func=_run_local)
