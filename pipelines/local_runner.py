"""Runs a Plan in this process with the components: example_gen, trainer, evaluator, then a report.

Layout under RUNS_DIR (TFX-style `<pipeline_root>/<component>/<output>/<execution>`):

    plan.json                                   Plan.to_dict() plus, per dataset and run, its
                                                directory (relative to RUNS_DIR) and status, and
                                                after the plan's runs those an earlier plan of
                                                the profile asked for (`keep_earlier`)
    example_gen/examples/<build_hash>/          one dataset build (dataset.json, train/, test/)
    trainer/model/<run key>/                    one run directory; the evaluator writes its
                                                metrics.json, figures/ and logs/evaluation/ here
    report.md ...                               written by components/reporter after every run

Every component skips work it has already done for the same config (a finished build, a finished
run, an identical evaluation), so rerunning after an interruption only does what is missing and
resumes an interrupted training run from its last checkpoint. A lock on RUNS_DIR keeps a second
`lg reproduce` out. A dataset that cannot be obtained (DataError from its source, e.g. no ImageNet)
is recorded as skipped with the reason and how to provide it; its runs are skipped, the rest go on.

    summary = run_plan(planner.plan("smoke", ["table1"]), "runs/smoke",
                       access=SourceAccess(data_dirs=("data",)))
"""

import dataclasses
import importlib
import logging
import math
import os
import time
from typing import Callable

from components.example_gen.source_access import SourceAccess
from lg_keras import outputs, run_files
from lg_keras.errors import DataError, RunDirError
from pipelines.plan import DatasetSpec, Plan, RunSpec
from pipelines import run_records

DONE, PENDING = "done", "pending"
# The report is rewritten after a run at most this often (and always at the end).
REPORT_INTERVAL_S = 600.0


def dataset_dir(runs_dir: str, spec: DatasetSpec) -> str:
    """Where example_gen writes a build: RUNS_DIR/example_gen/examples/<build_hash>."""
    return run_files.build_path(runs_dir, spec.build_hash)


def run_dir(runs_dir: str, run: RunSpec) -> str:
    """Where the trainer writes a run: RUNS_DIR/trainer/model/<run key>."""
    return run_files.run_path(runs_dir, run.key)


def report_hook(runs_dir: str, min_interval_s: float = REPORT_INTERVAL_S
                ) -> Callable[[RunSpec | None, dict], None]:
    """The reporter component (`components.reporter.executor.run`) on RUNS_DIR as an
    on_run_finished hook: the report goes into RUNS_DIR.

    The report takes a while (tables, figures), so after a run it is rewritten only when
    `min_interval_s` have passed since the last one; the final call (run None) always writes.
    """
    # Imported here: pandas and matplotlib load only when a report is written.
    reporter = importlib.import_module("components.reporter.executor")
    last = [-math.inf]

    def write(run: RunSpec | None, result: dict) -> None:
        del result
        if run is not None and time.time() - last[0] < min_interval_s:
            return
        start = time.time()
        # The report is derived output that `lg report RUNS_DIR` can always rewrite: a failure
        # here is logged with its traceback and must not stop hours of training.
        try:
            path = reporter.run({}, {"runs": runs_dir}, {"report": runs_dir})["report"]
        except Exception:  # pylint: disable=broad-except
            logging.exception("Writing the report failed; rerun `lg report %s` later.", runs_dir)
        else:
            logging.info("Report %s written in %.0f s.", path, time.time() - start)
        last[0] = time.time()

    return write


class _Progress:
    """Run i of N, elapsed time and the time left, scaled by how the estimates fared so far."""

    def __init__(self, plan: Plan):
        self._start = time.time()
        self._left = sum(r.estimated_seconds for r in plan.runs)
        self._estimated_done = self._actual_done = 0.0

    def finished(self, run: RunSpec, seconds: float, share: float) -> None:
        """`run` took `seconds` for `share` (0-1) of its training: a run resumed after half its
        epochs counts half its estimate; one only evaluated or found finished (share 0) counts
        nothing, so neither skews the scale."""
        self._left -= run.estimated_seconds
        if share > 0:
            self._estimated_done += run.estimated_seconds * share
            self._actual_done += seconds

    def line(self, i: int, n: int, run: RunSpec) -> str:
        scale = self._actual_done / self._estimated_done if self._estimated_done else 1.0
        return (f"[run {i}/{n}] {run.dataset} labels={run.experiment.data.labels} "
                f"head={run.experiment.model.head} fraction={run.experiment.data.fraction:g} "
                f"seed={run.experiment.train.seed} | elapsed {_clock(time.time() - self._start)}"
                f", about {_clock(self._left * scale)} left")


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _Book:
    """plan.json: the plan, the directories and the status of every dataset and run.

    The first `len(plan.runs)` entries of data['runs'] are the plan's, in its order; after them
    come the runs an earlier plan of the same profile recorded in RUNS_DIR and this one does not
    name (`keep_earlier`), so a narrower `--only` keeps the report's view of the whole directory.
    """

    def __init__(self, plan: Plan, runs_dir: str):
        self.runs_dir = runs_dir
        self.planned = len(plan.runs)
        self.data = plan.to_dict()
        for spec in plan.datasets:
            self.data["datasets"][spec.key].update(
                dataset_dir=os.path.relpath(dataset_dir(runs_dir, spec), runs_dir), status=PENDING)
        for entry, run in zip(self.data["runs"], plan.runs):
            entry.update(run_dir=os.path.relpath(run_dir(runs_dir, run), runs_dir),
                         dataset_dir=self.data["datasets"][run.dataset]["dataset_dir"],
                         status=DONE if run_files.has_metrics(run_dir(runs_dir, run)) else PENDING)
        earlier = run_files.read_json(run_files.plan_path(runs_dir), None)
        own_skips = len(self.data["skipped"])
        kept = keep_earlier(self.data, earlier, runs_dir)
        self.earlier_skips = self.data["skipped"][own_skips:]
        if kept:
            logging.info("plan.json keeps %d run(s) of the earlier plan in %s that this plan does "
                         "not name (the report covers them; delete plan.json to start afresh).",
                         kept, runs_dir)

    def set_dataset(self, key: str, status: str) -> None:
        if key in self.data["datasets"]:  # a derived dataset's parent may serve no run itself
            self.data["datasets"][key]["status"] = status

    def set_run(self, index: int, status: str) -> None:
        self.data["runs"][index]["status"] = status

    def skip(self, what: str, reason: str) -> None:
        if [what, reason] not in self.data["skipped"]:
            self.data["skipped"].append([what, reason])

    def write(self) -> None:
        outputs.write_json_atomic(run_files.plan_path(self.runs_dir), self.data)


def keep_earlier(data: dict, earlier: dict | None, runs_dir: str) -> int:
    """Adds to plan.json's `data` what an earlier plan.json of RUNS_DIR asked for and it lacks.

    Only between two plans of the same profile, neither a study's (a different profile, or a
    study, replaces the record). The earlier plan's runs that `data` does not name (by run key)
    are appended, with their status read again from their directories (done when metrics.json is
    there, else pending; skipped stays skipped), with the datasets they use, the experiments it
    asked for and its skipped items about a dataset or run that `data` does not plan. `data`
    keeps its own budget, estimate, evaluator fields and notes.

    Returns:
        How many earlier runs were kept.
    """
    if (not isinstance(earlier, dict) or earlier.get("profile") != data.get("profile")
            or earlier.get("study") or data.get("study")):
        return 0
    planned = {entry["key"] for entry in data["runs"]} | set(data["datasets"])
    kept = [dict(entry) for entry in earlier.get("runs") or []
            if isinstance(entry, dict) and entry.get("key") not in planned
            and isinstance(entry.get("run_dir"), str) and entry.get("dataset")]
    for entry in kept:
        if entry.get("status") != "skipped":
            done = run_files.has_metrics(os.path.join(runs_dir, entry["run_dir"]))
            entry["status"] = DONE if done else PENDING
        dataset = (earlier.get("datasets") or {}).get(entry["dataset"])
        if isinstance(dataset, dict):
            data["datasets"].setdefault(entry["dataset"], dict(dataset))
    data["runs"].extend(kept)
    data["experiments"] = {**(earlier.get("experiments") or {}), **data["experiments"]}
    for item in earlier.get("skipped") or []:
        # A skipped item names a dataset key, or a run key followed by its experiments.
        if (isinstance(item, (list, tuple)) and len(item) == 2 and list(item) not in data["skipped"]
                and str(item[0]).split(" ")[0] not in planned):
            data["skipped"].append(list(item))
    return len(kept)


def _previous_hierarchies(path: str) -> list[str]:
    """Hierarchies an earlier evaluation of this run scored, so a narrower plan keeps them."""
    evaluated = (run_files.read_metrics(path) or {}).get("config")
    return list(evaluated.get("hierarchies") or []) if isinstance(evaluated, dict) else []


class _Datasets:
    """Obtains each dataset once: example_gen, or for a derived dataset (a spec with a `parent`,
    see pipelines.experiments) the parent's build then the cluster component.
    """

    def __init__(self, runs_dir: str, access: SourceAccess):
        self._runs_dir, self._access = runs_dir, access
        self.ready, self.missing = set(), {}

    def obtain(self, spec: DatasetSpec) -> str | None:
        """The dataset directory, or None when the dataset cannot be obtained (see `missing`)."""
        out = dataset_dir(self._runs_dir, spec)
        if spec.key in self.missing:
            return None
        if spec.key in self.ready:
            return out
        start = time.time()
        parent = spec.parent
        try:
            if parent is None:
                self._example_gen(spec, out)
            elif self.obtain(parent) is None:
                self.missing[spec.key] = self.missing[parent.key]
                return None
            else:
                self._derive(spec, parent, out)
        except DataError as e:
            logging.warning("Skipping dataset %s and its runs: %s", spec.key, e)
            self.missing[spec.key] = f"cannot obtain the dataset: {e}"
            return None
        logging.info("Dataset %s ready in %.1f s: %s", spec.key, time.time() - start, out)
        self.ready.add(spec.key)
        return out

    def _example_gen(self, spec: DatasetSpec, out: str) -> None:
        from components.example_gen import executor  # pylint: disable=import-outside-toplevel

        meta = executor.run(spec.build, self._access, {"examples": out})
        logging.info("%s: %s train, %s test images.", spec.key, meta["counts"]["train"]["total"],
                     meta["counts"]["test"]["total"])

    def _derive(self, spec, parent: DatasetSpec, out: str) -> None:
        # pylint: disable-next=import-outside-toplevel
        from pipelines.cluster_experiment import build_clustered_dataset

        build_clustered_dataset(spec, dataset_dir(self._runs_dir, parent),
                                run_dir(self._runs_dir, spec.features_run), out,
                                self._access.beam_args)


def _train_and_evaluate(run: RunSpec, evaluator_cfg: dict, data: str,
                        out: str) -> tuple[dict, bool, float]:
    """Trains (or finds finished) and evaluates (or finds evaluated) one run.

    Returns:
        (metrics, whether anything was computed, the share of the run's epochs trained now).
    """
    # pylint: disable=import-outside-toplevel
    import keras

    from components.evaluator import executor as evaluator
    from components.trainer import executor as trainer

    cfg = dataclasses.replace(run.experiment,
                              data=dataclasses.replace(run.experiment.data, dataset_dir=data))
    epochs = max(cfg.epochs_to_run(), 1)
    try:
        resumed_at = min(run_files.epochs_completed(out), epochs)
    except RunDirError:  # the trainer names the damage, or finds the run finished anyway
        resumed_at = 0
    trained = trainer.run(cfg, {"examples": data}, {"model": out})
    share = 0.0 if trained["skipped"] else 1.0 - resumed_at / epochs
    previous = _previous_hierarchies(out)
    hierarchies = previous + [h for h in evaluator_cfg["hierarchies"] if h not in previous]
    metrics_path = os.path.join(out, run_files.METRICS_FILE)
    before = os.stat(metrics_path).st_mtime_ns if os.path.exists(metrics_path) else None
    metrics = evaluator.run({**evaluator_cfg, "hierarchies": hierarchies},
                            {"model": out, "examples": data},
                            {"metrics": out})
    evaluated = os.stat(metrics_path).st_mtime_ns != before
    if not trained["skipped"]:
        # The next run builds a fresh model: drop Keras' global state. Python's own collector
        # frees the old model; a forced collection costs seconds per run on 2 cores.
        keras.utils.clear_session(free_memory=False)
    return metrics, evaluated or not trained["skipped"], share


def run_plan(plan: Plan, runs_dir: str, *, access: SourceAccess = SourceAccess(),
             on_run_finished: Callable[[RunSpec | None, dict], None] | None | str = "report"
             ) -> dict:
    """Builds, trains and evaluates everything in `plan` under `runs_dir`, skipping done work.

    Args:
        plan: the plan (`pipelines.planner.plan`).
        runs_dir: the pipeline root (created).
        access: how example_gen obtains the sources (local copies, TFDS, Beam options).
        on_run_finished: called as hook(run, metrics) after every run that computed something
            and once as hook(None, {}) at the end; "report" (default) is `report_hook(runs_dir)`:
            the reporter component writes RUNS_DIR's report; None for nothing.

    Returns:
        {'runs': N, 'done': finished runs, 'computed': runs that trained or evaluated now,
         'skipped': [(what, reason)], 'seconds': wall time, 'plan_path': plan.json}.

    Raises:
        RunDirError: another process holds RUNS_DIR, or an output holds something else.
        LgError: from the components, for anything but an unobtainable dataset.
    """
    runs_dir = os.path.abspath(runs_dir)
    try:
        os.makedirs(runs_dir, exist_ok=True)
    except OSError as e:
        raise RunDirError(f"Cannot create the runs directory {runs_dir!r} ({e.strerror}).") from e
    hook = report_hook(runs_dir) if on_run_finished == "report" else on_run_finished
    specs = {d.key: d for d in plan.datasets}
    datasets = _Datasets(runs_dir, access)
    start, computed = time.time(), 0
    with outputs.exclusive_lock(runs_dir):
        book = _Book(plan, runs_dir)
        book.write()
        progress = _Progress(plan)
        for index, run in enumerate(plan.runs):
            spec = specs[run.dataset]
            out = run_dir(runs_dir, run)
            if run_records.restored_metrics(out, run.experiment, spec.build_hash) is not None:
                # Restored by `lg records restore`: its numbers are here, its weights are not.
                logging.info("%s: restored from saved records; not trained again.", out)
                book.set_run(index, DONE)
                book.write()
                progress.finished(run, 0.0, share=0.0)
                continue
            data = datasets.obtain(spec)
            for key in datasets.ready:
                book.set_dataset(key, DONE)
            for key, reason in datasets.missing.items():
                book.set_dataset(key, "skipped")
                book.skip(key, reason)
            if data is None:
                book.set_run(index, "skipped")
                book.write()
                progress.finished(run, 0.0, share=0.0)
                continue
            logging.info("%s", progress.line(index + 1, len(plan.runs), run))
            run_start = time.time()
            metrics, worked, share = _train_and_evaluate(run, plan.evaluator_config(run), data,
                                                         out)
            progress.finished(run, time.time() - run_start, share)
            book.set_run(index, DONE)
            book.write()
            if worked:
                computed += 1
                logging.info("Run %s: coarse test accuracy %.4f (%.0f s).", run.key,
                             metrics["coarse_test_accuracy"], time.time() - run_start)
                if hook:
                    hook(run, metrics)
        if hook:
            hook(None, {})
    summary = {"runs": len(plan.runs),
               "done": sum(r["status"] == DONE for r in book.data["runs"][:book.planned]),
               "computed": computed,
               "skipped": [tuple(s) for s in book.data["skipped"] if s not in book.earlier_skips],
               "seconds": round(time.time() - start, 1),
               "plan_path": run_files.plan_path(runs_dir)}
    logging.info("Finished %d of %d runs (%d computed now) in %s.", summary["done"],
                 summary["runs"], computed, _clock(summary["seconds"]))
    return summary
