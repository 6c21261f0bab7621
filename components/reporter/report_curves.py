"""Sections of the report on accuracy against the amount of training: Fig. 2 (coarse accuracy per
training-data fraction, and the paper's data-efficiency claims) and Fig. 3 (training curves).

Fig. 2's claims compare a fine run on part of the data with a coarse run on more of it; where our
profile lacks the paper's fraction, the largest smaller one stands in and the claim says so.
Fig. 3 reads the per-epoch history: the running training accuracy, as the paper plots it.
"""

import os

import numpy as np
import pandas as pd

from components.reporter import paper_numbers as pn
from components.reporter import report_figures, report_stats
from components.reporter.report_runs import DONE, select, state_of
from components.reporter.report_sections import TEST, Section, compare, make_table, measure, put
from components.reporter.report_tables import CLEAN, RUNNING, dataset_name


def figure_2(ctx) -> Section:
    """Fig. 2: accuracy vs. data fraction, and the paper's data-efficiency claims."""
    section = Section("fig2", "Fig. 2: accuracy vs. amount of training data",
                      claim=pn.FIGURE_CLAIMS["fig2"])
    points, display = [], []
    for dataset in pn.MAIN_DATASETS:
        present = ctx.runs.loc[ctx.runs["paper_dataset"] == dataset, "fraction"] if len(
            ctx.runs) else pd.Series(dtype=float)
        fractions = sorted(set(pn.FIG2_FRACTIONS) | {round(f, 4) for f in present})
        for fraction in fractions:
            row = {"paper_name": dataset_name(dataset), "dataset": dataset, "fraction": fraction}
            pair = {}
            for labels in ("fine", "coarse"):
                r = select(ctx.runs, dataset, labels, fraction=fraction, experiment="fig2")
                pair[labels] = r
                p = {**row, "labels": labels}
                put({}, p, "", "test", measure(ctx, r, TEST))
                put({}, p, "", "train", measure(ctx, r, RUNNING))
                put({}, p, "", "train_clean", measure(ctx, r, CLEAN))
                points.append(p)
            # The full-data CIFAR-100 point is Table I's negligible gain (the paper's Fig. 2 text).
            c = compare(ctx, f"Fig. 2 {dataset_name(dataset)} at {fraction:g}: fine - coarse",
                        pair["fine"], pair["coarse"], +1,
                        negligible=dataset in pn.TABLE_I_NEGLIGIBLE and fraction == 1.0)
            display.append({"Dataset": dataset_name(dataset), "Fraction": f"{fraction:g}",
                            "A_FC test (ours)": measure(ctx, pair["fine"]).format(),
                            "A_CC test (ours)": measure(ctx, pair["coarse"]).format(),
                            "ΔA (ours)": c.estimate.format(signed=True), "Verdict": c.verdict})
    frame = pd.DataFrame(points)
    plotted = frame[frame["test_n"] > 0] if len(frame) else frame
    report_figures.plot_fraction_curves(plotted, os.path.join(ctx.figures_dir, "fig2.png"))
    section.figures.append(("fig2.png", "Coarse accuracy vs. training data: fine (red) vs. coarse "
                            "(blue), running training accuracy dotted, test solid; bars: 95% "
                            "intervals over seeds."))
    section.tables.append(make_table("fig2", "Coarse test accuracy (%) per data fraction; the "
                                     "verdict tests the paper's 'fine almost always improves'",
                                     display, points))
    for dataset, fine_fraction, coarse_fraction, sign in pn.FIG2_CHECKS:
        fine_fraction, note = _fraction_at_most(ctx, dataset, fine_fraction, coarse_fraction)
        fine = select(ctx.runs, dataset, "fine", fraction=fine_fraction, experiment="fig2")
        coarse = select(ctx.runs, dataset, "coarse", fraction=coarse_fraction, experiment="fig2")
        c = compare(ctx, f"Fig. 2 {dataset_name(dataset)}: fine {fine_fraction:g} - coarse "
                    f"{coarse_fraction:g}", fine, coarse, sign)
        claim = (f"Fig. 2 {dataset_name(dataset)}: fine on {fine_fraction:.0%} of the data "
                 f"{'beats' if sign else 'is comparable to'} coarse on {coarse_fraction:.0%}"
                 f"{note}")
        section.verdicts.append((claim, c.verdict, f"ours {c.estimate.format(signed=True)}"))
    return section


def _fraction_at_most(ctx, dataset: str, fraction: float, coarse_fraction: float):
    """The paper's fraction, or the largest smaller one our fine runs have (the paper's claim is
    'less than 40%'), with a note saying which was used."""
    if ctx.runs.empty or coarse_fraction == fraction:
        return fraction, ""
    have = ctx.runs[(ctx.runs["paper_dataset"] == dataset) & (ctx.runs["labels"] == "fine")]
    fractions = sorted(set(have["fraction"].round(4)))
    if any(np.isclose(f, fraction) for f in fractions):
        return fraction, ""
    smaller = [f for f in fractions if f < fraction]
    if not smaller:
        return fraction, ""
    return smaller[-1], f" (the paper's point is {fraction:.0%}; ours has {smaller[-1]:.0%})"


def _curve(rows: pd.DataFrame) -> pd.DataFrame | None:
    """Mean per-epoch running and test coarse accuracy (%) over a setting's finished seeds."""
    frames = []
    for _, row in rows[rows["status"] == DONE].iterrows():
        history = row["history"]
        if not history:
            continue
        frames.append(pd.DataFrame({
            "epoch": [h.get("epoch", i + 1) for i, h in enumerate(history)],
            "train": [h.get("coarse_accuracy", h.get("accuracy")) for h in history],
            "test": [h.get("val_coarse_accuracy", h.get("val_accuracy")) for h in history],
            "seed": row["seed"]}))
    if not frames:
        return None
    frame = pd.concat(frames).astype({"train": float, "test": float})
    return frame.groupby("epoch", as_index=False)[["train", "test"]].mean().assign(
        train=lambda f: f["train"] * 100, test=lambda f: f["test"] * 100)


def _curve_gap(fine: pd.DataFrame, coarse: pd.DataFrame, ctx) -> report_stats.Estimate:
    """Per seed pair, the mean over epochs of fine minus coarse running training accuracy."""
    gaps = {}
    for seed in set(fine["seed"]) & set(coarse["seed"]):
        f = fine[(fine["seed"] == seed) & (fine["status"] == DONE)]
        c = coarse[(coarse["seed"] == seed) & (coarse["status"] == DONE)]
        if f.empty or c.empty:
            continue
        a = [h.get("coarse_accuracy", h.get("accuracy")) for h in f.iloc[0]["history"]]
        b = [h.get("coarse_accuracy", h.get("accuracy")) for h in c.iloc[0]["history"]]
        length = min(len(a), len(b))
        diffs = [x - y for x, y in zip(a[:length], b[:length]) if x is not None and y is not None]
        if diffs:
            gaps[int(seed)] = float(np.mean(diffs))
    return report_stats.estimate(gaps, ctx.confidence)


def figure_3(ctx) -> Section:
    """Fig. 3: training curves of fine vs. coarse training."""
    section = Section("fig3", "Fig. 3: training curves", claim=pn.FIGURE_CLAIMS["fig3"])
    curves = {}
    for dataset in pn.MAIN_DATASETS:
        fine = select(ctx.runs, dataset, "fine", experiment="fig3")
        coarse = select(ctx.runs, dataset, "coarse", experiment="fig3")
        by_labels = {k: c for k, c in (("fine", _curve(fine)), ("coarse", _curve(coarse)))
                     if c is not None}
        if by_labels:
            curves[dataset_name(dataset)] = by_labels
        gap = _curve_gap(fine, coarse, ctx)
        missing = report_stats.availability(state_of(fine), state_of(coarse))
        verdict = report_stats.verdict(+1, gap, missing)
        section.verdicts.append((f"Fig. 3 {dataset_name(dataset)}: fine-grain running training "
                                 f"accuracy above coarse over training", verdict,
                                 f"mean gap over epochs {gap.format(signed=True)} points"))
    report_figures.plot_training_curves(curves, os.path.join(ctx.figures_dir, "fig3.png"))
    section.figures.append(("fig3.png", "Per-epoch running training accuracy (dotted) and test "
                            "coarse accuracy (solid), fine (red) vs. coarse (blue), mean over "
                            "seeds."))
    section.notes.append("The test curve is the per-epoch evaluation on the test split; it is "
                         "only logged, never used to choose a checkpoint.")
    return section
