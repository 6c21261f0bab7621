"""reporter: writes report.md, report.html, tables/*.csv and figures/*.png for a runs directory.

`run(cfg, inputs, outputs)` takes the runs in one of two forms:

- `inputs['runs']`: a runs directory (plan.json and the run directories written by the trainer and
  evaluator); the report goes into `outputs['report']`, the runs directory itself for `lg report`
  and for the local runner, which calls this after its runs.
- `inputs['plan']` and `inputs['records']`: a Kubeflow pipeline's runs, the plan
  (`Plan.to_dict()` or its JSON) and, in the plan's run order, each run's records directory (the
  evaluator's 'records' output). They are first assembled in `outputs['report']` in the layout of
  `lg reproduce` (plan.json, trainer/model/<run key>/, example_gen/examples/<build hash>/), so the
  report directory is itself a runs directory of records, which `lg report DIR` rewrites once
  downloaded.

Optional outputs, for the Kubeflow UI: 'markdown' (a copy of report.md), 'html' (report.html with
its figures inlined, since the UI shows one file), 'tables' and 'figures' (directories with copies
of tables/*.csv and figures/*.png). The returned 'metrics' are numbers for a kfp Metrics artifact.
The work is `report.write_report` in this package; this module is its entry point for the CLI,
the local runner and Kubeflow.
"""

import json
import logging
import os
import shutil

from lg_keras import outputs as outputs_lib, run_files
from lg_keras.component_configs import ReporterConfig
from lg_keras.config_io import parse_config
from lg_keras.errors import ConfigError, RunDirError

DATASET_FILE = "dataset.json"


def _name(value, field: str) -> str:
    """A plan's run key or build hash, checked to be one path component."""
    if not isinstance(value, str) or value in ("", ".", "..") or os.path.basename(value) != value:
        raise ConfigError(f"The plan's {field} must be a plain name; got {value!r}.")
    return value


def assemble_runs(plan: dict | str, records: list[str], runs_dir: str) -> str:
    """Lays out a pipeline's run records in `runs_dir` as `lg reproduce` does; returns plan.json.

    Args:
        plan: `Plan.to_dict()`, or its JSON.
        records: each run's records directory, in the order of plan['runs'].
        runs_dir: where to lay them out (created).

    Raises:
        ConfigError: for a plan that is no JSON object of runs and datasets, a record count that
            differs from the plan's run count, or a run key or build hash that is not a plain name.
        RunDirError: when a records directory does not exist.
    """
    try:
        plan = json.loads(plan) if isinstance(plan, str) else json.loads(json.dumps(plan))
        runs, datasets = plan["runs"], plan["datasets"]
    except (json.JSONDecodeError, TypeError, KeyError) as e:
        raise ConfigError(f"The reporter's plan must be a JSON object with 'runs' and 'datasets' "
                          f"(Plan.to_dict()); got {str(plan)[:200]!r} ({e!r}).") from e
    if len(records) != len(runs):
        raise ConfigError(f"The reporter got {len(records)} run records for a plan of "
                          f"{len(runs)} runs.")
    for entry, source in zip(runs, records):
        if not os.path.isdir(source):
            raise RunDirError(f"Records directory {source!r} of run {entry.get('key')!r} does "
                              f"not exist.")
        run_dir = os.path.join(run_files.RUNS_SUBDIR, _name(entry.get("key"), "run key"))
        build = (datasets.get(entry.get("dataset")) or {}).get("build_hash")
        dataset_dir = os.path.join(run_files.BUILDS_SUBDIR, _name(build, "build_hash"))
        shutil.copytree(source, os.path.join(runs_dir, run_dir), dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(DATASET_FILE))
        if os.path.isfile(os.path.join(source, DATASET_FILE)):
            os.makedirs(os.path.join(runs_dir, dataset_dir), exist_ok=True)
            shutil.copyfile(os.path.join(source, DATASET_FILE),
                            os.path.join(runs_dir, dataset_dir, DATASET_FILE))
        done = run_files.has_metrics(os.path.join(runs_dir, run_dir))
        entry.update(run_dir=run_dir, dataset_dir=dataset_dir, status="done" if done else
                     "pending")
    for spec in datasets.values():
        spec.setdefault("status", "done")
    path = run_files.plan_path(runs_dir)
    outputs_lib.write_json_atomic(path, plan)
    return path


def _copy_outputs(out_dir: str, outputs: dict) -> None:
    """The optional Kubeflow UI outputs (module docstring) from the report in out_dir."""
    from components.reporter import report  # pylint: disable=import-outside-toplevel

    if outputs.get("markdown"):
        shutil.copyfile(os.path.join(out_dir, "report.md"), outputs["markdown"])
    if outputs.get("html"):
        with open(os.path.join(out_dir, "report.html"), encoding="utf-8") as f:
            page = report.inline_figures(f.read(), out_dir)
        with open(outputs["html"], "w", encoding="utf-8") as f:
            f.write(page)
    for name in ("tables", "figures"):
        if outputs.get(name):
            shutil.copytree(os.path.join(out_dir, name), outputs[name], dirs_exist_ok=True)


def report_metrics(runs_dir: str, out_dir: str) -> dict[str, float]:
    """Numbers of a written report for a kfp Metrics artifact: planned and finished runs, each
    run's coarse test accuracy, and the count of each kind of verdict."""
    # pylint: disable=import-outside-toplevel
    import pandas as pd

    from components.reporter import report

    runs = report.load_runs(runs_dir)
    metrics = {"runs_planned": float(len(runs)),
               "runs_done": float((runs["status"] == report.DONE).sum()) if len(runs) else 0.0}
    for key, value in zip(runs.get("run_key", []), runs.get("coarse_test_accuracy", [])):
        if pd.notna(value):
            metrics[f"{key}/coarse_test_accuracy"] = float(value)
    verdicts_csv = os.path.join(out_dir, "tables", "verdicts.csv")
    if os.path.isfile(verdicts_csv):  # a report of the paper's claims (not of `lg study`)
        verdicts = pd.read_csv(verdicts_csv)["Verdict"]
        for kind, count in verdicts.map(report.verdict_kind).value_counts().items():
            metrics[f"verdicts/{kind}"] = float(count)
    return metrics


def run(cfg: ReporterConfig | str | dict | None, inputs: dict, outputs: dict) -> dict:
    """Writes the report of the runs in `inputs` into `outputs['report']`.

    Args:
        cfg: a ReporterConfig, its dict ({'confidence': coverage of the intervals, default 0.95})
            or that dict as JSON; None for the defaults.
        inputs: {'runs': RUNS_DIR}, or {'plan': plan, 'records': [records directory per run]}
            (module docstring).
        outputs: {'report': output directory (may be RUNS_DIR itself)}, and optionally
            'markdown', 'html' (files), 'tables', 'figures' (directories).

    Returns:
        {'report': path of report.md, 'html': path of report.html, 'out_dir': the directory,
         'metrics': {name: number}}.

    Raises:
        RunDirError: when the runs directory or a records directory does not exist.
        ConfigError: for a bad config or plan.
    """
    from components.reporter import report  # pylint: disable=import-outside-toplevel

    cfg = parse_config(ReporterConfig, cfg)
    if "plan" in inputs:
        runs_dir = out_dir = os.path.abspath(outputs["report"])
        os.makedirs(out_dir, exist_ok=True)
        assemble_runs(inputs["plan"], list(inputs.get("records") or []), runs_dir)
    else:
        runs_dir = inputs["runs"]
        if not os.path.isdir(runs_dir):
            raise RunDirError(f"Runs directory {runs_dir!r} does not exist.")
        out_dir = outputs.get("report") or runs_dir
        os.makedirs(out_dir, exist_ok=True)
    path = report.write_report(runs_dir, out_dir=out_dir, confidence=cfg.confidence)
    logging.info("Report of %s written to %s.", runs_dir, path)
    out_dir = os.path.dirname(path)
    _copy_outputs(out_dir, outputs)
    return {"report": path, "html": os.path.join(out_dir, "report.html"), "out_dir": out_dir,
            "metrics": report_metrics(runs_dir, out_dir)}
