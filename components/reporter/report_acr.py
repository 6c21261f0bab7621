"""Sections of the report on ACR: Table VI + Fig. 7a, Table VIII, Fig. 6, and ACR as an early
signal (Table VII + Fig. 7b, noisy labels, are in report_noise).

ACR is the authors' code's orientation (inter-coarse over intra-coarse confusion, FACTS.md) of
the fine-trained network's test confusion matrix. Table VI's mappings share one fine-trained
CIFAR-10 network: its A_FC and ACR under mapping i come from metrics.json['by_hierarchy'] and its
A_CC from a network trained on mapping i's coarse labels.
"""

import math

import numpy as np
import pandas as pd

from components.reporter import paper_numbers as pn
from components.reporter import report_mcnemar, report_stats, report_tables
from components.reporter.report_noise import noise_labels
from components.reporter.report_runs import DONE, authors_passes, select, state_of
from components.reporter.report_sections import (Section, add_scatter, add_trend, compare,
                                                 make_table, measure, paper, put,
                                                 trend_point)
from lg_keras import statistics

EARLY_FRACTION = 0.25


def mapping_runs(ctx, row_id: int, labels: str) -> tuple[pd.DataFrame, str | None]:
    """(runs, by_hierarchy name or None) giving Table VI row `row_id` for `labels`.

    Fine: a fine run on the mapping's own dataset if there is one, else the CIFAR-10 fine run's
    by_hierarchy entry. Coarse: a coarse run on the mapping's dataset; row (1) is CIFAR-10's own
    animal/vehicle split, so Table I's CIFAR-10 runs stand in for it.
    """
    hierarchy = pn.table_vi_hierarchy(row_id)
    own = select(ctx.runs, hierarchy, labels, experiment="table6")
    if labels == "coarse":
        if own.empty and row_id == 1:
            return select(ctx.runs, "cifar10", "coarse", experiment="table6"), None
        return own, None
    if (own["status"] == DONE).any():
        return own, None
    shared = select(ctx.runs, "cifar10", "fine", experiment="table6")
    # Row (1) is CIFAR-10's own grouping: the shared run's own metrics and per-epoch ACR are it.
    return shared, None if row_id == 1 else hierarchy


def table_vi(ctx) -> Section:
    """Table VI (customised coarse classes of CIFAR-10) and Fig. 7a."""
    section = Section("table6", "Table VI and Fig. 7a: customised coarse classes (CIFAR-10)",
                      claim="Fine-grain training beats coarse-grain training under every "
                            "mapping, and ΔA grows with ACR (Fig. 7a).")
    out, numeric, points, states = [], [], [], []
    for p in pn.TABLE_VI:
        fine, hierarchy = mapping_runs(ctx, p["id"], "fine")
        coarse, _ = mapping_runs(ctx, p["id"], "coarse")
        states += [state_of(fine), state_of(coarse)]
        c = compare(ctx, f"Table VI row ({p['id']}): fine - coarse", fine, coarse, p["delta"],
                    hierarchy_a=hierarchy)
        acr = measure(ctx, fine, "acr", hierarchy)
        row = " ".join(map(str, p["row"]))
        if p["corrected"]:
            row += f" (corrected; printed {' '.join(map(str, p['printed']))})"
        d = {"ID": f"({p['id']})", "Ratio": p["ratio"], "Mapping (0/1)": row}
        n = {"id": p["id"], "ratio": p["ratio"], "row": row, "paper_a_cc": p["a_cc"],
             "paper_a_fc": p["a_fc"], "paper_delta": p["delta"], "verdict": c.verdict}
        put(d, n, "A_CC (ours)", "a_cc", measure(ctx, coarse))
        d["A_CC (paper)"] = paper(p["a_cc"])
        put(d, n, "A_FC (ours)", "a_fc", measure(ctx, fine, hierarchy=hierarchy))
        d["A_FC (paper)"] = paper(p["a_fc"])
        put(d, n, "ΔA (ours)", "delta", c.estimate, signed=True)
        d["ΔA (paper)"] = paper(p["delta"], signed=True)
        d["Verdict"] = c.verdict
        put(d, n, "ACR (ours)", "acr", acr, scale=1.0, digits=3)
        d["McNemar, secondary"] = report_mcnemar.format_tests(list(c.mcnemar))
        out.append(d)
        numeric.append(n)
        section.verdicts.append((f"Table VI row ({p['id']}): fine-grain beats coarse-grain",
                                 c.verdict, c.evidence(p["delta"])))
        if c.estimate.n and acr.n:
            points.append(trend_point(p["id"], acr.mean, c.estimate))
    section.tables.append(make_table("table6", "Coarse test accuracy (%) per mapping; columns in "
                                     "CIFAR-10 label order (plane ... truck)", out, numeric))
    frame = pd.DataFrame(points, columns=["label", "x", "y", "y_low", "y_high", "series"])
    evidence = add_trend(section, "Fig. 7a: ΔA grows with ACR over the Table VI mappings",
                         frame, +1, report_stats.availability(*states))
    add_scatter(ctx, section, frame, "fig7a.png", f"Fig. 7a: {evidence}",
                "ACR (fine-trained net)",
                "ΔA vs. ACR over the Table VI mappings; labels are row IDs; bars: 95% intervals.")
    section.notes.append(pn.NOTES[1])
    return section


def table_viii(ctx) -> Section:
    """Table VIII: number of CIFAR-100 coarse classes."""
    section = Section("table8", "Table VIII: number of coarse classes (CIFAR-100)",
                      claim="ΔA shrinks as the number of coarse classes grows.")
    out, numeric, points, states = [], [], [], []
    for p in pn.TABLE_VIII:
        fine = select(ctx.runs, p["dataset"], "fine", experiment="table8")
        coarse = select(ctx.runs, p["dataset"], "coarse", experiment="table8")
        states += [state_of(fine), state_of(coarse)]
        c = compare(ctx, f"Table VIII {p['total']} coarse classes: fine - coarse", fine, coarse,
                    p["delta"], negligible=p["negligible"])
        d = {"Coarse classes": p["total"], "Dataset": pn.DATASET_NAMES[p["dataset"]]}
        n = {"total": p["total"], "dataset": p["dataset"], "paper_a_cc": p["a_cc"],
             "paper_a_fc": p["a_fc"], "paper_delta": p["delta"], "verdict": c.verdict}
        put(d, n, "A_CC (ours)", "a_cc", measure(ctx, coarse))
        d["A_CC (paper)"] = paper(p["a_cc"])
        put(d, n, "A_FC (ours)", "a_fc", measure(ctx, fine))
        d["A_FC (paper)"] = paper(p["a_fc"])
        put(d, n, "ΔA (ours)", "delta", c.estimate, signed=True)
        d["ΔA (paper)"] = paper(p["delta"], signed=True)
        d["Verdict"] = c.verdict
        put(d, n, "ACR (ours)", "acr", measure(ctx, fine, "acr"), scale=1.0, digits=3)
        d["McNemar, secondary"] = report_mcnemar.format_tests(list(c.mcnemar))
        out.append(d)
        numeric.append(n)
        claim = (f"Table VIII {p['total']} coarse classes: ΔA negligible (within "
                 f"±{report_stats.NEGLIGIBLE_MARGIN * 100:.2f} points)" if p["negligible"] else
                 f"Table VIII {p['total']} coarse classes: sign of ΔA")
        section.verdicts.append((claim, c.verdict, c.evidence(p["delta"])))
        if c.estimate.n:
            points.append(trend_point(p["total"], p["total"], c.estimate))
    section.tables.append(make_table("table8", "Coarse test accuracy (%) with 5-20 CIFAR-100 "
                                     "coarse classes", out, numeric))
    frame = pd.DataFrame(points, columns=["label", "x", "y", "y_low", "y_high", "series"])
    add_trend(section, "Table VIII: ΔA falls as the number of coarse classes grows", frame, -1,
              report_stats.availability(*states))
    return section


def figure_6(ctx) -> Section:
    """Fig. 6: ACR vs. ΔA across datasets."""
    section = Section("fig6", "Fig. 6: ACR vs. ΔA across datasets", claim=pn.FIGURE_CLAIMS["fig6"])
    out, points, states = [], [], []
    passes = authors_passes(ctx.runs)
    extras = report_tables.extra_datasets(ctx.runs, "fig6", pn.FIG6_DATASETS)
    for dataset in pn.FIG6_DATASETS + tuple(extras):
        in_paper = dataset in pn.FIG6_DATASETS
        fine = select(ctx.runs, dataset, "fine", experiment="fig6")
        coarse = select(ctx.runs, dataset, "coarse", experiment="fig6")
        if in_paper:
            states += [state_of(fine), state_of(coarse)]
        c = compare(ctx, "", fine, coarse, None)
        acr = measure(ctx, fine, "acr")
        name = report_tables.display_name(ctx.runs, dataset)
        d = {"Dataset": name if in_paper else f"{name} (not in the paper)"}
        n = {"dataset": dataset, "in_paper": in_paper}
        put(d, n, "ACR (ours)", "acr", acr, scale=1.0, digits=3)
        if passes:
            put(d, n, f"ACR, authors' protocol: final epoch, {passes} random passes (ours)",
                "acr_authors", measure(ctx, fine, "authors_final_epoch_acr"), scale=1.0, digits=3)
        put(d, n, "ΔA (ours)", "delta", c.estimate, signed=True)
        out.append((d, n))
        if c.estimate.n and acr.n:
            points.append(trend_point(name, acr.mean, c.estimate,
                                      "paper's datasets" if in_paper else "extra datasets"))
    section.tables.append(make_table("fig6", "ACR of the fine-trained network and ΔA (points)",
                                     [d for d, _ in out], [n for _, n in out]))
    frame = pd.DataFrame(points, columns=["label", "x", "y", "y_low", "y_high", "series"])
    evidence = add_trend(section, "Fig. 6: ΔA grows with ACR across the paper's datasets",
                         frame[frame["series"] == "paper's datasets"], +1,
                         report_stats.availability(*states))
    if (frame["series"] == "extra datasets").any():
        rho = statistics.spearman(frame["x"], frame["y"])
        section.notes.append(f"With the extra datasets, Spearman rho = {rho:+.2f} over "
                             f"{len(frame)} points (descriptive; the verdict uses the paper's "
                             f"datasets only).")
    if passes:
        section.notes.append(
            "The authors' ImageNet script logged ACR each epoch as sum(inter) / sum(intra) over "
            f"{passes} passes of the test split through the random training crop + flip; the "
            "'authors' protocol' column is that figure for our final network, comparable with the "
            "paper's ImageNet points. 'ACR (ours)' (centre crop, final network) is the primary "
            "figure and the one plotted and tested.")
    add_scatter(ctx, section, frame, "fig6.png", f"Fig. 6: {evidence}", "ACR (fine-trained net)",
                "ΔA vs. ACR across datasets; bars: 95% intervals over seed pairs.")
    return section


def _history_value(history: list, keys, epoch: int):
    """The first finite value of any of `keys` at or after `epoch` (1-based); None if none."""
    for i, record in enumerate(history):
        if record.get("epoch", i + 1) < epoch:
            continue
        for key in keys:
            value = record.get(key)
            if isinstance(value, (int, float)) and math.isfinite(value):
                return float(value), int(record.get("epoch", i + 1))
    return None


def _early(rows: pd.DataFrame, keys, hierarchy: str | None = None) -> dict:
    """Mean over finished seeds of the per-epoch val ACR at epoch 1 and at 25% of training.

    Under another hierarchy (a Table VI mapping of the shared fine run) the per-epoch values are
    the evaluator's `by_hierarchy[h]['val_acr_by_epoch']`, from the recorded confusion matrices.
    """
    out = {"epoch1": [], "quarter": [], "quarter_epoch": []}
    for _, row in rows[rows["status"] == DONE].iterrows():
        history = row["history"] or []
        if hierarchy is not None:
            history = (row["by_hierarchy"] or {}).get(hierarchy, {}).get("val_acr_by_epoch") or []
        first = _history_value(history, keys, 1)
        epochs = int(row["epochs"] or 0) or len(history)
        quarter = _history_value(history, keys, max(1, round(EARLY_FRACTION * epochs)))
        if first:
            out["epoch1"].append(first[0])
        if quarter:
            out["quarter"].append(quarter[0])
            out["quarter_epoch"].append(quarter[1])
    return {k: (float(np.mean(v)) if v else math.nan) for k, v in out.items()}


def early_acr(ctx) -> Section:
    """Per-epoch validation ACR of the fine runs early in training vs. the final ΔA."""
    section = Section("early_acr", "ACR as an early signal",
                      claim="If ACR predicts ΔA, the ACR measured early in fine-grain training "
                            "could tell whether fine labels will pay off before training ends.")
    groups = []
    for dataset in pn.FIG6_DATASETS:
        fine = select(ctx.runs, dataset, "fine", experiment="fig6")
        coarse = select(ctx.runs, dataset, "coarse", experiment="fig6")
        groups.append(("datasets", pn.DATASET_NAMES[dataset], fine, coarse, None, ("val_acr",)))
    for p in pn.TABLE_VI:
        fine, hierarchy = mapping_runs(ctx, p["id"], "fine")
        coarse, _ = mapping_runs(ctx, p["id"], "coarse")
        keys = ("val_acr",)
        groups.append(("Table VI mappings", f"({p['id']})", fine, coarse, hierarchy, keys))
    coarse10 = select(ctx.runs, "cifar10", "coarse", experiment="table7")
    for p in pn.TABLE_VII:
        fine = select(ctx.runs, "cifar10", noise_labels(p["rate"]), experiment="table7")
        groups.append(("noise levels", f"r={p['rate']:g}", fine, coarse10, None, ("val_acr",)))
    rows, unrecorded = [], 0
    for group, label, fine, coarse, hierarchy, keys in groups:
        c = compare(ctx, "", fine, coarse, None, hierarchy_a=hierarchy)
        early = _early(fine, keys, hierarchy)
        if c.estimate.n and (fine["status"] == DONE).any() and math.isnan(early["epoch1"]):
            unrecorded += 1
        rows.append({"group": group, "point": label, "val_acr_epoch1": early["epoch1"],
                     "val_acr_quarter": early["quarter"],
                     "quarter_epoch": early["quarter_epoch"],
                     "final_acr": measure(ctx, fine, "acr", hierarchy).mean,
                     "delta_mean": c.estimate.mean * 100, "delta_n": c.estimate.n})
    frame = pd.DataFrame(rows)
    display = []
    for group, g in frame.groupby("group", sort=False):
        usable = g.dropna(subset=["delta_mean"])
        for column, what in (("val_acr_epoch1", "epoch 1"),
                             ("val_acr_quarter", f"{EARLY_FRACTION:.0%} of training"),
                             ("final_acr", "final (evaluator)")):
            pts = usable.dropna(subset=[column])
            rho = statistics.spearman(pts[column], pts["delta_mean"])
            display.append({"Group": group, "ACR at": what, "Points": len(pts),
                            "Spearman rho vs. final ΔA": "—" if math.isnan(rho) else
                            f"{rho:+.2f}"})
    section.tables.append(make_table("early_acr", "Rank correlation of ACR (fine-trained runs) "
                                     "with the final ΔA", display, frame.to_dict("records")))
    quarter = frame.dropna(subset=["val_acr_quarter", "delta_mean"])
    points = pd.DataFrame({"label": quarter["point"], "x": quarter["val_acr_quarter"],
                           "y": quarter["delta_mean"], "y_low": math.nan, "y_high": math.nan,
                           "series": quarter["group"]})
    add_scatter(ctx, section, points, "early_acr.png",
                f"Validation ACR at {EARLY_FRACTION:.0%} of training vs. final ΔA",
                "early val ACR",
                "Early-epoch validation ACR (fine-trained runs) vs. the final ΔA.")
    section.notes.append("Validation ACR is computed per epoch on the test split with the run's "
                         "own training labels (for noisy runs: the noisy test labels). The "
                         "correlations use the seed means and are descriptive (no verdict).")
    if unrecorded:
        section.notes.append(f"{unrecorded} point(s) have no per-epoch ACR in history.json: the "
                             "trainer records the ACR of the run's own hierarchy only, not of the "
                             "Table VI mappings evaluated afterwards (or evaluation per epoch was "
                             "off).")
    return section
