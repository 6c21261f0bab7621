"""What every section of the report is made of, and the comparison all verdicts go through.

A `Section` holds tables (a display frame of formatted strings for report.md/html and a numeric
frame for RUNS_DIR/tables/*.csv), figures, notes and verdicts. `compare` computes a paired
difference between two settings, its verdict against the paper's number and the secondary McNemar
tests, and records the McNemar tests in the context for the report's secondary table. A difference
the paper calls negligible is compared with `negligible=True`: an equivalence test, not a sign test.
A trend claim (ΔA against ACR, r or the class count) collects `trend_point`s, is judged by
`add_trend` and drawn by `add_scatter`.
"""

import dataclasses
import math
import os

import pandas as pd

from components.reporter import report_figures, report_mcnemar
from components.reporter import report_stats as stats
from components.reporter.report_runs import state_of, values_by_seed

TEST = "coarse_test_accuracy"


@dataclasses.dataclass
class Table:
    """One table: formatted for reading, numeric for the CSV file `name`.csv."""

    name: str
    caption: str
    display: pd.DataFrame
    numeric: pd.DataFrame


@dataclasses.dataclass
class Section:
    """One part of the report (a paper table or figure, or bookkeeping)."""

    key: str
    title: str
    claim: str = ""
    tables: list = dataclasses.field(default_factory=list)
    figures: list = dataclasses.field(default_factory=list)  # (file name in figures/, caption)
    notes: list = dataclasses.field(default_factory=list)
    verdicts: list = dataclasses.field(default_factory=list)  # (claim, verdict, evidence)


@dataclasses.dataclass
class Context:
    """What the section builders share."""

    runs: pd.DataFrame
    figures_dir: str
    confidence: float = stats.CONFIDENCE
    mcnemar: list = dataclasses.field(default_factory=list)
    tested_pairs: set = dataclasses.field(default_factory=set)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A - B between two settings over seed pairs."""

    estimate: stats.Estimate
    verdict: str
    mcnemar: tuple
    negligible: bool = False

    def evidence(self, paper_value: float | None, what: str = "ΔA") -> str:
        """'ours ΔA +0.60 [+0.10, +1.10] (n=3) vs paper +0.78' (negligible claims: the 90%
        interval against the margin, `report_stats.equivalence_evidence`)."""
        if self.negligible:
            return stats.equivalence_evidence(self.estimate, paper_value)
        paper = "—" if paper_value is None else f"{paper_value:+.2f}"
        return f"ours {what} {self.estimate.format(signed=True)} vs paper {paper}"


def compare(ctx: Context, label: str, rows_a: pd.DataFrame, rows_b: pd.DataFrame,
            paper_value: float | None, *, metric: str = TEST, hierarchy_a: str | None = None,
            hierarchy_b: str | None = None, negligible: bool = False) -> Comparison:
    """metric(A) - metric(B) over seed pairs, its verdict and McNemar tests on test_correct.

    Args:
        ctx: the report context (collects the McNemar tests under `label`).
        label: what is compared, e.g. 'Table I CIFAR-10: fine - coarse'; '' skips the McNemar
            tests (for comparisons another section already reports).
        rows_a: runs of setting A (e.g. fine-trained), from `report_runs.select`.
        rows_b: runs of setting B (e.g. coarse-trained).
        paper_value: the paper's A - B, for the verdict (None or 0: no direction).
        metric: the metrics.json key compared.
        hierarchy_a: read A's metric under by_hierarchy[hierarchy_a] (Table VI).
        hierarchy_b: the same for B.
        negligible: the paper calls this difference negligible: test equivalence within
            +-report_stats.NEGLIGIBLE_MARGIN instead of the sign of paper_value.

    Returns:
        The Comparison.
    """
    est = stats.paired_difference(values_by_seed(rows_a, metric, hierarchy_a),
                                  values_by_seed(rows_b, metric, hierarchy_b), ctx.confidence)
    missing = stats.availability(state_of(rows_a), state_of(rows_b))
    tests = ()
    if metric == TEST and label:
        tests = tuple(report_mcnemar.by_seed(
            values_by_seed(rows_a, "test_correct", hierarchy_a),
            values_by_seed(rows_b, "test_correct", hierarchy_b)))
        # The same two settings recur across tables (Table I = Fig. 2 at 100% = Table VII r=0):
        # list each pair of networks once, under the first table that compares them. Networks
        # are named by their run keys: a condition leaves out the dataset, so CIFAR-10's and
        # CIFAR-100's pairs share one when a profile trains both with one recipe.
        pair = (_networks(rows_a), hierarchy_a, _networks(rows_b), hierarchy_b)
        if pair not in ctx.tested_pairs:
            ctx.tested_pairs.add(pair)
            ctx.mcnemar.extend({"comparison": label, **t} for t in tests)
    verdict = (stats.equivalence_verdict(est, missing) if negligible
               else stats.verdict(paper_value, est, missing))
    return Comparison(est, verdict, tests, negligible)


def _networks(rows: pd.DataFrame) -> tuple[str, ...]:
    return tuple(sorted(rows["run_key"]))


def measure(ctx: Context, rows: pd.DataFrame, metric: str = TEST,
            hierarchy: str | None = None) -> stats.Estimate:
    """Mean and interval over the seeds of one setting."""
    return stats.estimate(values_by_seed(rows, metric, hierarchy), ctx.confidence)


def put(display: dict, numeric: dict, column: str, key: str, est: stats.Estimate, *,
        scale: float = 100.0, digits: int = 2, signed: bool = False) -> None:
    """Writes an estimate into a display row (formatted) and a numeric row (mean/low/high/n)."""
    display[column] = est.format(scale, digits, signed)
    numeric.update({f"{key}_mean": est.mean * scale if est.n else math.nan,
                    f"{key}_low": est.low * scale, f"{key}_high": est.high * scale,
                    f"{key}_n": est.n})


def missing_text(rows: pd.DataFrame) -> str:
    """'—' plus why: pending or not run."""
    state = state_of(rows)
    return "—" if state == "done" else f"— ({state})"


def paper(value: float | None, digits: int = 2, signed: bool = False) -> str:
    """A paper number as printed ('—' for None)."""
    if value is None:
        return "—"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def make_table(name: str, caption: str, display_rows: list, numeric_rows: list) -> Table:
    """A Table from lists of row dicts."""
    return Table(name, caption, pd.DataFrame(display_rows), pd.DataFrame(numeric_rows))


def trend_point(label, x, est: stats.Estimate, series: str = "") -> dict:
    """One point of a trend scatter: `est` (a fraction) in percent with its interval."""
    return {"label": label, "x": x, "y": est.mean * 100, "y_low": est.low * 100,
            "y_high": est.high * 100, "series": series}


def add_trend(section: Section, claim: str, points: pd.DataFrame, sign: int,
              missing: str | None, x: str = "x") -> str:
    """Adds the rank-trend verdict of `claim` (y against column `x`) and returns its evidence."""
    verdict, evidence = stats.trend_verdict(points[x], points["y"], sign, missing)
    section.verdicts.append((claim, verdict, evidence))
    return evidence


def add_scatter(ctx: Context, section: Section, points: pd.DataFrame, name: str, title: str,
                xlabel: str, caption: str) -> None:
    """Draws `points` into figures/`name` and adds the figure to `section`."""
    report_figures.plot_scatter(points, os.path.join(ctx.figures_dir, name), title=title,
                                xlabel=xlabel)
    section.figures.append((name, caption))
