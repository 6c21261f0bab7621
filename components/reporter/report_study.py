"""The report of `lg study`: would fine labels give this dataset a better coarse classifier?

`report.write_report` hands a runs directory whose plan.json has a 'study' entry (written by
`pipelines.study`) to `write_study_report`, so `lg study`, `lg report RUNS_DIR` and the reporter
component all write this report for a study. It reads the same run records as the paper's report
(`report_runs.load_runs`) and uses the same statistics (`report_stats`):

1. The answer: ΔA = A_FC - A_CC (coarse test accuracy of the fine-trained network minus that of
   the coarse-trained one, full training data, final epoch) with its 95% Student t interval over
   seed pairs, in the words of `lg advise` (`report_stats.Verdict.advice`), and the equivalence
   verdict at the study's margin (two one-sided t tests: the 90% interval inside ±margin).
2. Accuracies per training-label view and data fraction: coarse test accuracy, balanced coarse
   accuracy where the coarse classes are imbalanced (`IMBALANCE_RATIO`), fine test accuracy of
   the fine-trained networks, ACR, ΔA against coarse training at the same fraction, equivalence,
   McNemar's test on the same test images (secondary: it ignores run-to-run variation).
3. `lg advise`'s verdict as it prints it; the fine-trained network's confusion matrix and the
   t-SNE of both networks' penultimate features (the evaluator's figures, first seed); the
   dataset's images per class and split (with the held-out split's rule); the recipe the rule
   chose; the time it took (builds, training, evaluation) beside the plan's estimate; the runs.
"""

import dataclasses
import datetime
import logging
import math
import os
import shutil

import numpy as np
import pandas as pd

from components.reporter import report, report_advice, report_mcnemar, report_stats
from components.reporter.report_runs import DONE, load_runs, read_json, select, values_by_seed
from components.reporter.report_sections import make_table
from lg_keras import run_files, statistics
from lg_keras.label_views import parse_label_view

# Coarse classes count as imbalanced, and balanced accuracy is shown beside accuracy, when the
# largest has more than this many times the test images of the smallest.
IMBALANCE_RATIO = 1.25
TEST, BALANCED = "coarse_test_accuracy", "balanced_coarse_test_accuracy"


@dataclasses.dataclass
class _Study:
    """What the sections share: the plan's study entry, the runs and the build's dataset.json."""

    runs_dir: str
    plan: dict
    runs: pd.DataFrame
    dataset: dict
    confidence: float

    @property
    def key(self) -> str:
        """The plan's key of the study's dataset."""
        return self.plan["study"]["dataset"]

    @property
    def margin(self) -> float:
        """The equivalence margin, a fraction (0.005 = 0.5 points)."""
        return float(self.plan["study"]["margin"])

    @property
    def imbalanced(self) -> bool:
        """Whether the coarse classes' test counts differ by more than IMBALANCE_RATIO."""
        counts = [n for n in ((self.dataset.get("counts") or {}).get("test") or {})
                  .get("coarse", {}).values()]
        return bool(counts) and min(counts) > 0 and max(counts) / min(counts) > IMBALANCE_RATIO

    def rows(self, labels: str, fraction: float = 1.0) -> pd.DataFrame:
        """The runs (all seeds) of one label view and data fraction."""
        return select(self.runs, self.paper_dataset, labels, fraction=fraction)

    @property
    def paper_dataset(self) -> str:
        """The runs' `paper_dataset` (their hierarchy's name, as `lg advise` groups them; the
        cluster-label datasets share it)."""
        mine = self.runs[self.runs["dataset"] == self.key]
        return mine["paper_dataset"].iloc[0] if len(mine) else self.key


def _load(runs_dir: str, confidence: float) -> _Study:
    plan = read_json(run_files.plan_path(runs_dir), {}) or {}
    entry = (plan.get("datasets") or {}).get(plan["study"]["dataset"]) or {}
    dataset = read_json(os.path.join(runs_dir, entry.get("dataset_dir", ""), "dataset.json"),
                        {}) if entry.get("dataset_dir") else {}
    return _Study(runs_dir, plan, load_runs(runs_dir), dataset or {}, confidence)


# --------------------------------------------------------------------------- numbers

def _equivalence(est: report_stats.Estimate, margin: float) -> str:
    bound = f"±{margin * 100:.2f} points"
    if est.n < 2 or est.unpaired:
        return f"undecided: {'one seed pair' if est.n == 1 else 'no paired seeds'}, no interval"
    result = statistics.equivalence_test(est.values, margin,
                                         report_stats.EQUIVALENCE_CONFIDENCE)
    interval = (f"{report_stats.EQUIVALENCE_CONFIDENCE:.0%} interval [{result['low'] * 100:+.2f}, "
                f"{result['high'] * 100:+.2f}]")
    return {"equivalent": f"equivalent: the {interval} lies inside {bound}",
            "outside": f"different: the {interval} lies entirely outside {bound}"}.get(
        result["outcome"], f"undecided: the {interval} reaches beyond {bound}")


def _view_name(label_view: str) -> str:
    view = parse_label_view(label_view)
    if view.kind == "cluster":
        return f"{view.cluster_key} k-means clusters per coarse class"
    return {"coarse": "coarse labels", "fine": "fine labels (the hierarchy's)"}.get(view.kind,
                                                                                   label_view)


def _accuracy_rows(study: _Study) -> tuple[list, list, list]:
    """(display rows, numeric rows, verdict rows) per label view and fraction."""
    display, numeric, verdicts = [], [], []
    fractions = sorted(set(study.runs["fraction"].round(6)), reverse=True)
    for fraction in fractions:
        coarse = study.rows("coarse", fraction)
        views = ["coarse"] + sorted(
            {v for v in study.runs.loc[np.isclose(study.runs["fraction"], fraction), "labels"]
             if v != "coarse"}, key=lambda v: (v != "fine", len(v), v))
        for labels in views:
            rows = study.rows(labels, fraction)
            if rows.empty:
                continue
            a = report_stats.estimate(values_by_seed(rows, TEST), study.confidence)
            shown = {"Training labels": _view_name(labels), "Data": f"{fraction:.0%}",
                     "Seeds done": f"{int((rows['status'] == DONE).sum())} of {len(rows)}",
                     "Coarse test accuracy %": a.format()}
            number = {"labels": labels, "fraction": fraction, "seeds": a.n,
                      "coarse_test_accuracy": a.mean * 100 if a.n else math.nan}
            if study.imbalanced:
                b = report_stats.estimate(values_by_seed(rows, BALANCED), study.confidence)
                shown["Balanced coarse accuracy %"] = b.format()
                number["balanced_coarse_test_accuracy"] = b.mean * 100 if b.n else math.nan
            fine = report_stats.estimate(values_by_seed(rows, "fine_test_accuracy"))
            shown["Fine test accuracy %"] = fine.format() if fine.n else "—"
            acr = report_stats.estimate(values_by_seed(rows, "acr"))
            shown["ACR"] = f"{acr.mean:.3f}" if acr.n else "—"
            if labels != "coarse":
                delta = report_stats.paired_difference(values_by_seed(rows, TEST),
                                                       values_by_seed(coarse, TEST),
                                                       study.confidence)
                shown["ΔA vs coarse (points)"] = delta.format(signed=True)
                shown[f"Equivalence at ±{study.margin * 100:g}"] = _equivalence(delta,
                                                                               study.margin)
                tests = report_mcnemar.by_seed(values_by_seed(rows, "test_correct"),
                                               values_by_seed(coarse, "test_correct"))
                shown["McNemar (secondary)"] = report_mcnemar.format_tests(tests)
                number.update(delta_mean=delta.mean * 100 if delta.n else math.nan,
                              delta_low=delta.low * 100, delta_high=delta.high * 100,
                              delta_pairs=delta.n)
                if delta.n:
                    verdicts.append({"Claim": f"{_view_name(labels)} beat coarse labels "
                                              f"({fraction:.0%} of the data)",
                                     "Verdict": report_stats.Verdict.of(delta).advice(),
                                     "Evidence": f"ΔA {delta.format(signed=True)}",
                                     "Section": "Accuracies"})
            display.append(shown)
            numeric.append(number)
    return display, numeric, verdicts


# --------------------------------------------------------------------------- sections

def _answer(study: _Study) -> list:
    fine, coarse = study.rows("fine"), study.rows("coarse")
    delta = report_stats.paired_difference(values_by_seed(fine, TEST),
                                           values_by_seed(coarse, TEST), study.confidence)
    if not delta.n:
        planned = len(study.runs)
        return [("p", f"No finished fine/coarse seed pair yet ({planned} runs planned); the "
                      f"answer appears here once both networks of a seed are evaluated.")]
    verdict = report_stats.Verdict.of(delta)
    text = (f"ΔA = A_FC - A_CC = {delta.format(signed=True)} points of coarse test accuracy "
            f"({study.confidence:.0%} interval over seed pairs): {verdict.advice()}")
    items = [text,
             f"Equivalence at the margin of ±{study.margin * 100:g} points: "
             f"{_equivalence(delta, study.margin)}.",
             f"In words: {verdict.reading()}."]
    if study.imbalanced:
        balanced = report_stats.paired_difference(values_by_seed(fine, BALANCED),
                                                  values_by_seed(coarse, BALANCED),
                                                  study.confidence)
        items.append(f"The coarse classes are imbalanced; on balanced accuracy (the mean of "
                     f"per-class recalls) ΔA = {balanced.format(signed=True)} points.")
    return [("ul", items)]


def _figures(study: _Study, figures_dir: str) -> list:
    blocks = []
    for labels, name, caption in (
            ("fine", "confusion", "Fine confusion matrix of the fine-trained network (test "
                                  "split, rows true), first seed"),
            ("fine", "tsne", "t-SNE of the fine-trained network's penultimate features, "
                             "coloured by coarse class, first seed"),
            ("coarse", "tsne", "t-SNE of the coarse-trained network's penultimate features, "
                               "first seed")):
        rows = study.rows(labels)
        rows = rows[rows["status"] == DONE].sort_values("seed")
        if rows.empty:
            continue
        source = os.path.join(rows["figures_dir"].iloc[0], f"{name}.png")
        if os.path.isfile(source):
            target = f"study_{name}_{labels}.png"
            shutil.copyfile(source, os.path.join(figures_dir, target))
            blocks.append(("img", f"figures/{target}", caption))
    return blocks or [("p", "No finished run has figures yet.")]


def _dataset_section(study: _Study) -> tuple[list, pd.DataFrame]:
    counts, hierarchy = study.dataset.get("counts") or {}, study.dataset.get("hierarchy") or {}
    fine_names, coarse_names = hierarchy.get("fine_names", []), hierarchy.get("coarse_names", [])
    rows = [{"Fine class": f, "Coarse class": coarse_names[c] if c < len(coarse_names) else c,
             "Train images": (counts.get("train") or {}).get("fine", {}).get(f),
             "Test images": (counts.get("test") or {}).get("fine", {}).get(f)}
            for f, c in zip(fine_names, hierarchy.get("fine_to_coarse", []))]
    frame = pd.DataFrame(rows)
    source = study.dataset.get("source") or {}
    notes = [f"Source: {source.get('path') or study.dataset.get('build', {}).get('dataset')}"]
    held = source.get("held_out")
    if held:
        notes.append(f"The folder has no test split: the test split is held out of "
                     f"{held['from']} with test_fraction {held['test_fraction']:g} and seed "
                     f"{held['seed']} ({held['rule']}).")
    build = study.dataset.get("build") or {}
    if build.get("max_train_per_class") or build.get("max_test_per_class"):
        notes.append(f"This profile cuts each class to {build.get('max_train_per_class')} "
                     f"training and {build.get('max_test_per_class')} test images (counts below "
                     f"are after the cut).")
    if study.imbalanced:
        notes.append(f"Coarse classes are imbalanced (largest over smallest test count > "
                     f"{IMBALANCE_RATIO:g}), so balanced accuracy is shown beside accuracy.")
    if not rows:
        return [("p", "The dataset is not built yet.")], frame
    table = make_table("study_dataset", "", rows, rows)
    return [("ul", notes), ("table", table)], frame


def _time_section(study: _Study) -> list:
    done = study.runs[study.runs["status"] == DONE]
    builds = 0.0
    for entry in (study.plan.get("datasets") or {}).values():
        meta = read_json(os.path.join(study.runs_dir, entry.get("dataset_dir", ""),
                                      "dataset.json"), {}) if entry.get("dataset_dir") else {}
        builds += float((meta or {}).get("build_seconds") or 0.0)
    train = float(done["train_seconds"].fillna(0).sum()) if len(done) else 0.0
    evaluation = float(done["eval_seconds"].fillna(0).sum()) if len(done) else 0.0
    estimated = float(study.plan.get("estimated_seconds") or 0.0)
    total = builds + train + evaluation
    return [("ul", [
        f"Dataset builds: {builds / 60:.1f} min; training: {train / 60:.1f} min; evaluation: "
        f"{evaluation / 60:.1f} min; in all {total / 60:.1f} min of compute for "
        f"{len(done)} finished run(s) (sessions of a resumed study add up).",
        f"The plan estimated {estimated / 60:.1f} min for all {len(study.runs)} run(s) and "
        f"their builds on this machine."])]


def _runs_table(study: _Study) -> pd.DataFrame:
    columns = ["run_key", "labels", "fraction", "seed", "epochs", "status", TEST, BALANCED,
               "fine_test_accuracy", "acr", "train_seconds", "eval_seconds"]
    return study.runs[[c for c in columns if c in study.runs]].copy()


# --------------------------------------------------------------------------- entry point

def _write_text(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def write_study_report(runs_dir: str, out_dir: str,
                       confidence: float = report_stats.CONFIDENCE) -> str:
    """Writes report.md, report.html, tables/*.csv and figures/*.png of a study's RUNS_DIR.

    Args:
        runs_dir: the runs directory of `lg study` (plan.json with a 'study' entry).
        out_dir: where to write (created).
        confidence: coverage of the intervals over seeds.

    Returns:
        The path of report.md.
    """
    figures_dir, tables_dir = os.path.join(out_dir, "figures"), os.path.join(out_dir, "tables")
    os.makedirs(figures_dir, exist_ok=True)
    os.makedirs(tables_dir, exist_ok=True)
    study = _load(runs_dir, confidence)
    info = study.plan["study"]
    name = (study.plan.get("datasets") or {}).get(study.key, {}).get("paper_name", study.key)
    display, numeric, verdicts = _accuracy_rows(study)
    accuracy = make_table("study_accuracy", "", display, numeric)
    dataset_blocks, dataset_frame = _dataset_section(study)
    advice = report_advice.summarize(runs_dir) if (study.runs["status"] == DONE).any() else ""
    blocks = [
        ("h", 1, f"lg study: do fine labels give {name} a better coarse classifier?"),
        ("ul", [f"Command: {info.get('command', 'lg study')}",
                f"Runs directory: {runs_dir}", f"Profile: {study.plan.get('profile')}",
                f"Generated: {datetime.datetime.now().isoformat(timespec='seconds')}"]),
        ("h", 2, "The answer"), *_answer(study),
        ("h", 2, "Accuracies"),
        ("p", f"Coarse test accuracy at the final epoch, mean and {confidence:.0%} Student t "
              f"interval over seeds; ΔA over seed pairs against coarse training on the same "
              f"share of the data. Equivalence: two one-sided t tests at 5% each (the "
              f"{report_stats.EQUIVALENCE_CONFIDENCE:.0%} interval of ΔA) against ±"
              f"{study.margin * 100:g} points, the margin this study was run with. McNemar's "
              f"test compares two networks of one seed on the same test images; it ignores "
              f"run-to-run variation, so it is secondary."),
        ("table", accuracy),
        ("h", 2, "lg advise"),
        ("ul", [line.strip() for line in advice.splitlines() if line.strip()]
         or ["No finished runs yet."]),
        ("h", 2, "Figures"), *_figures(study, figures_dir),
        ("h", 2, "The dataset"), *dataset_blocks,
        ("h", 2, "The recipe (lg study's rule)"), ("ul", list(info.get("recipe") or [])),
        ("h", 2, "Time"), *_time_section(study),
    ]
    runs_frame = _runs_table(study)
    runs_table = make_table("study_runs", "", runs_frame, runs_frame)
    skipped = study.runs.attrs.get("skipped") or []
    blocks += [("h", 2, "Runs"), ("table", runs_table), ("h", 2, "Skipped"),
               ("ul", [f"{what}: {why}" for what, why in skipped]) if skipped
               else ("p", "Nothing was skipped.")]
    env = [{"Item": k, "Value": str(v)} for k, v in report.hardware().items()]
    blocks += [("h", 2, "Hardware"), ("table", make_table("environment", "", env, env))]
    # verdicts.csv as the paper's report writes it (Claim, Verdict, Evidence, Section), so tools
    # that count a report's verdicts read a study's too.
    verdict_frame = pd.DataFrame(verdicts, columns=["Claim", "Verdict", "Evidence", "Section"])
    for name_, frame in (("study_accuracy", accuracy.numeric), ("study_runs", runs_frame),
                         ("study_dataset", dataset_frame), ("verdicts", verdict_frame)):
        frame.to_csv(os.path.join(tables_dir, f"{name_}.csv"), index=False)
    path = os.path.join(out_dir, "report.md")
    _write_text(path, report.render_markdown(blocks))
    _write_text(os.path.join(out_dir, "report.html"),
                report.render_html(blocks, f"lg study: {name}"))
    logging.info("Wrote the study report %s (%d runs, %d finished).", path, len(study.runs),
                 int((study.runs["status"] == DONE).sum()))
    return path
