"""The `lg advise` verdict: did fine labels pay off on the datasets of a RUNS_DIR?

For each dataset with finished runs it compares every fine-type label view (human fine labels,
cluster-derived `fine_cluster_<k>` labels, simulated noisy `fine_noise_<r>` labels) with coarse
training at the same data fraction and head, and says in plain words what the seeds show:

    CIFAR-10 (cifar10), full training data, linear head
      coarse labels: A_CC 98.50% [98.25, 98.75] (3 seeds)
      human fine labels (10 classes): A_FC 99.10% [98.85, 99.35]; ΔA +0.60 points, 95% interval
        [+0.10, +1.10] over 3 seed pairs; ACR 0.120; McNemar p = 0.008 (secondary).
        -> Fine labels paid off: the whole interval is above 0.

The interval over seed pairs is the evidence. With one seed there is no interval, and the advice
says so: a single pair cannot separate the effect of the labels from run-to-run variation.
McNemar's p (same test images, one seed) is shown as secondary; it ignores that variation.

The verdict is `report_stats.Verdict`, the report's own, rendered in these words by
`Verdict.advice`. `pipelines.advice` is the command (`lg advise`); the study report
(`report_study`) quotes the same verdict, so this lives with the reporter.
"""

import os

import numpy as np
import pandas as pd

from lg_keras.errors import ConfigError, RunDirError
from lg_keras.label_views import parse_label_view
from components.reporter import report_mcnemar, report_stats
from components.reporter.report_runs import DONE, load_runs, select, values_by_seed

_VIEW_ORDER = {"fine": 0, "cluster": 1, "noise": 2}


def _describe_view(label_view: str, rows: pd.DataFrame, hierarchy: str | None = None) -> str:
    classes = rows.loc[rows["status"] == DONE, "num_trained_classes"].dropna()
    count = f" ({int(classes.iloc[0])} classes)" if len(classes) else ""
    if hierarchy is not None:
        source = rows["paper_dataset"].iloc[0]
        return (f"human fine labels{count}, the {source} fine-trained network scored under this "
                f"mapping")
    view = parse_label_view(label_view)
    if view.kind == "fine":
        return f"human fine labels{count}"
    if view.kind == "cluster":
        return f"cluster-derived fine labels, {view.clusters} per coarse class{count}"
    if view.noise_kind == "launched":
        return (f"fine labels with the authors' launched noise r={view.rate:g} (swaps across "
                f"coarse classes){count}")
    return f"fine labels with simulated noise r={view.rate:g}{count}"


def _percent(est: report_stats.Estimate) -> str:
    if est.n == 1:
        return f"{est.mean * 100:.2f}% (one seed)"
    return (f"{est.mean * 100:.2f}% [{est.low * 100:.2f}, {est.high * 100:.2f}] over {est.n} "
            f"seeds")


def _view_lines(rows: pd.DataFrame, label_view: str, coarse: pd.DataFrame,
                hierarchy: str | None = None) -> list[str]:
    fine = values_by_seed(rows, "coarse_test_accuracy", hierarchy)
    accuracy = report_stats.estimate(fine)
    if not accuracy.n:
        return []
    delta = report_stats.paired_difference(fine, values_by_seed(coarse, "coarse_test_accuracy"))
    lines = [f"  {_describe_view(label_view, rows, hierarchy)}: A_FC {_percent(accuracy)}"]
    if not delta.n:
        lines.append("    -> No finished coarse-trained run to compare with (train one with "
                     "--labels coarse).")
        return lines
    verdict = report_stats.Verdict.of(delta)
    if verdict.evidence == report_stats.UNPAIRED:
        text = f"ΔA {delta.mean * 100:+.2f} points (difference of means, no shared seed)"
    elif verdict.evidence == report_stats.ONE_SEED:
        text = f"ΔA {delta.mean * 100:+.2f} points (one seed pair, no interval)"
    else:
        text = (f"ΔA {delta.mean * 100:+.2f} points, 95% interval [{delta.low * 100:+.2f}, "
                f"{delta.high * 100:+.2f}] over {delta.n} seed pairs")
    acr = report_stats.estimate(values_by_seed(rows, "acr", hierarchy))
    if acr.n:
        text += f"; ACR {acr.mean:.3f}"
    tests = report_mcnemar.by_seed(values_by_seed(rows, "test_correct", hierarchy),
                                   values_by_seed(coarse, "test_correct"))
    if tests:
        text += (f"; McNemar {report_mcnemar.format_tests(tests)} (secondary: same test images, "
                 f"ignores run-to-run variation)")
    lines.append(f"    {text}.")
    lines.append(f"    -> {verdict.advice()}")
    return lines


def _scored_elsewhere(runs: pd.DataFrame, dataset: str, fraction: float, head: str):
    """Fine runs of another dataset whose by_hierarchy scores them under `dataset`'s mapping."""
    done = runs[(runs["status"] == DONE) & (runs["labels"] == "fine")
                & np.isclose(runs["fraction"], fraction) & (runs["head"] == head)]
    for source in dict.fromkeys(done["paper_dataset"]):
        rows = select(runs, source, "fine", fraction=fraction, head=head)
        if any(dataset in (h or {}) for h in rows["by_hierarchy"]):
            return rows
    return None


def _dataset_lines(runs: pd.DataFrame, dataset: str) -> list[str]:
    done = runs[(runs["paper_dataset"] == dataset) & (runs["status"] == DONE)]
    name = done["paper_name"].iloc[0]
    lines = []
    settings = done[["fraction", "head"]].drop_duplicates().sort_values(
        ["fraction", "head"], ascending=[False, True])
    for fraction, head in settings.itertuples(index=False):
        coarse = select(runs, dataset, "coarse", fraction=fraction, head=head)
        views = sorted(set(done.loc[np.isclose(done["fraction"], fraction)
                                    & (done["head"] == head)
                                    & (done["label_kind"] != "coarse"), "labels"]),
                       key=lambda v: (_VIEW_ORDER.get(parse_label_view(v).kind, 3), v))
        elsewhere = None if views else _scored_elsewhere(runs, dataset, fraction, head)
        if not views and elsewhere is None:
            continue
        data = "full training data" if fraction >= 1 else f"{fraction:.0%} of the training data"
        lines.append(f"{name} ({dataset}), {data}, {head} head")
        a_cc = report_stats.estimate(values_by_seed(coarse, "coarse_test_accuracy"))
        lines.append(f"  coarse labels: A_CC {_percent(a_cc)}" if a_cc.n else
                     "  coarse labels: no finished run")
        for label_view in views:
            lines += _view_lines(select(runs, dataset, label_view, fraction=fraction, head=head),
                                 label_view, coarse)
        if elsewhere is not None:
            lines += _view_lines(elsewhere, "fine", coarse, hierarchy=dataset)
    if not lines:
        lines.append(f"{name} ({dataset}): only coarse-trained runs so far; train on fine labels "
                     f"to compare.")
    return lines


def summarize(runs_dir: str, dataset: str | None = None) -> str:
    """A plain-language summary of whether fine labels paid off, per dataset.

    Args:
        runs_dir: a directory of runs (from `lg reproduce`, or holding `lg train` runs).
        dataset: only this dataset (its hierarchy name, e.g. 'cifar10', or plan dataset key).

    Returns:
        The summary text.

    Raises:
        RunDirError: when runs_dir does not exist.
        ConfigError: when `dataset` has no finished runs (the message lists those that do).
    """
    if not os.path.isdir(runs_dir):
        raise RunDirError(f"Runs directory {runs_dir!r} does not exist.")
    runs = load_runs(runs_dir)
    done = runs[runs["status"] == DONE] if len(runs) else runs
    available = list(dict.fromkeys(done["paper_dataset"])) if len(done) else []
    if dataset is not None:
        matches = [d for d in available if d == dataset
                   or dataset in set(done.loc[done["paper_dataset"] == d, "dataset"])]
        if not matches:
            raise ConfigError(f"No finished runs for dataset {dataset!r} in {runs_dir!r}. "
                              f"Available: {', '.join(available) or 'none'}.")
        available = matches
    if not available:
        pending = len(runs)
        return (f"No finished runs in {runs_dir} yet" + (f" ({pending} planned or running)."
                                                        if pending else "."))
    blocks = ["\n".join(_dataset_lines(runs, d)) for d in available]
    footer = ("ΔA = coarse test accuracy with fine-type labels minus with coarse labels (final "
              "epoch), paired by seed; the interval is a 95% Student t interval over seed pairs.")
    return "\n\n".join(blocks + [footer])
