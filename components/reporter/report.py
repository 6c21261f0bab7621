"""The reproduction report: every paper table and figure with our numbers beside the paper's.

    path = write_report("runs/cpu")   # runs/cpu/report.md, report.html, tables/*.csv, figures/*.png

`write_report` reads RUNS_DIR (plan.json and the run directories, `report_runs.load_runs`) and
works on partial results: it is called after every run, so missing runs show '—' with 'pending'
(planned, not finished) or 'not run' (not in the plan). Our final-epoch accuracy is the primary
figure, with the mean and 95% Student t interval over seeds; ΔA intervals are over seed pairs.
The paper's numbers (`components.reporter.paper_numbers`) sit in adjacent columns. Each claim gets a verdict
(`report_stats`); a claim resting on one seed is 'inconclusive' by rule, whatever its sign, and a
difference the paper calls negligible is tested for equivalence within a margin, not for sign.
McNemar's test on the same test images is reported as secondary: it ignores run-to-run training
variance.
"""

import base64
import datetime
import html
import logging
import os
import platform
import re
import shutil
import subprocess

import matplotlib
import numpy as np
import pandas as pd

from components.reporter import (paper_numbers, report_acr, report_curves, report_noise,
                                 report_stats, report_tables)
from components.reporter.report_runs import DONE, load_runs, read_json  # noqa: F401  (load_runs is part of this API)
from components.reporter.report_sections import Context, Section, Table, make_table
from lg_keras import machine, run_files

BUILDERS = (report_tables.table_i, report_curves.figure_2, report_curves.figure_3,
            report_tables.table_iv, report_tables.figures_4_5, report_tables.table_v,
            report_acr.figure_6, report_acr.table_vi, report_noise.table_vii, report_acr.table_viii,
            report_acr.early_acr, report_tables.cluster_labels)
RUN_COLUMNS = ("run_key", "dataset", "paper_name", "labels", "fraction", "model", "width", "head",
               "dropout", "epochs", "precision", "seed", "max_train_per_class", "status",
               "train_seconds", "eval_seconds", "experiments")

METHOD_NOTES = (
    "Primary figure: coarse test accuracy of the network at the end of training (final epoch). "
    "The paper's numbers are probably best-epoch values selected on the test set (the authors' "
    "code keeps the best-test checkpoint); ours of that kind are in their own column, labelled "
    "'best epoch selected on test'.",
    "Training accuracy: 'running' is the average over augmented batches in training mode during "
    "the last epoch (what the paper reports); 'clean pass' is a separate inference pass over the "
    "training data.",
    "Intervals: mean and 95% Student t interval over seeds (lg_keras.statistics."
    "mean_confidence_interval); ΔA over seed pairs (fine seed s minus coarse seed s). One seed: "
    "no interval ('one seed').",
    "Verdicts: 'reproduced' = our interval excludes 0 on the paper's side; 'not reproduced' = it "
    "excludes 0 on the other side; 'inconclusive' = it covers 0, or one seed only (the sign is "
    "given for information, not as evidence); 'pending' = planned runs not finished; 'not run' = "
    "not in this profile's plan. Differences the paper calls negligible get an equivalence test "
    "instead ('reproduced (negligible)', see 'Negligible differences'). 'not counted' = a test "
    "that restates another claim's by construction (Fig. 7b on noisy test labels). Trends (Fig. "
    "6, 7, Table VII, VIII) use a one-sided permutation test of Spearman's rank correlation over "
    "the points' means at the 5% level (lg_keras.statistics.spearman_permutation_p: exact over "
    "all n! pairings, the observed one included, up to 8 points; above, (k + 1) / (N + 1) over "
    "N = 20,000 seeded random pairings, k of them at least as extreme).",
    "Secondary: McNemar's paired test compares the fine- and coarse-trained networks of one seed "
    "on the same test images. It ignores run-to-run training variance (another seed can move "
    "both networks), so it is not the verdict's evidence.",
)


# --------------------------------------------------------------------------- environment

def hardware() -> dict:
    """CPU model, core count, memory and GPUs of this machine (GPU via nvidia-smi, if present)."""
    machine_ = machine.describe()
    memory = f"{machine_['memory_gib']:.1f} GiB" if machine_["memory_gib"] else "unknown"
    gpus = "none detected"
    if shutil.which("nvidia-smi"):
        try:
            result = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                    capture_output=True, text=True, timeout=20, check=False)
            names = [n.strip() for n in result.stdout.splitlines() if n.strip()]
            gpus = ", ".join(names) if names else "none detected"
        except (OSError, subprocess.TimeoutExpired):
            gpus = "nvidia-smi failed"
    return {"cpu": machine_["cpu"], "cores": machine_["cores"], "memory": memory,
            "native bfloat16": machine_["native_bfloat16"], "gpus": gpus,
            "platform": machine_["platform"]}


def software(runs: pd.DataFrame) -> dict:
    """Versions recorded by the runs (all distinct values) and those of the reporter itself."""
    recorded = {}
    for versions in runs.get("versions", pd.Series(dtype=object)):
        for name, value in (versions or {}).items():
            recorded.setdefault(name, set()).add(str(value))
    out = {name: ", ".join(sorted(values)) for name, values in sorted(recorded.items())}
    out.update({"reporter python": platform.python_version(), "reporter pandas": pd.__version__,
                "reporter numpy": np.__version__, "reporter matplotlib": matplotlib.__version__})
    return out


# --------------------------------------------------------------------------- sections

def _header(runs: pd.DataFrame, runs_dir: str) -> list:
    done = runs[runs["status"] == DONE] if len(runs) else runs
    seconds = (done["train_seconds"].fillna(0).sum() + done["eval_seconds"].fillna(0).sum()
               if len(done) else 0.0)
    counts = runs["status"].value_counts().to_dict() if len(runs) else {}
    seeds = sorted({int(s) for s in runs["seed"]}) if len(runs) else []
    one_seed = 0
    if len(done):
        one_seed = int((done.groupby(["paper_dataset", "condition"])["seed"].nunique() == 1).sum())
    blocks = [
        ("h", 1, "Label granularity (Chen et al. 2018): reproduction report"),
        ("ul", [f"Runs directory: {runs_dir}",
                f"Profile: {runs.attrs.get('profile') or 'unknown (no plan.json)'}",
                f"Generated: {datetime.datetime.now().isoformat(timespec='seconds')}",
                "Runs: " + (", ".join(f"{v} {k}" for k, v in counts.items()) or "none"),
                f"Seeds: {', '.join(map(str, seeds)) or '—'}; {one_seed} finished setting(s) "
                f"have one seed only, so every claim resting on them is inconclusive by rule",
                f"Wall time of finished runs (training + evaluation): {seconds / 3600:.2f} h"]),
    ]
    notes = runs.attrs.get("notes") or []
    if notes:
        blocks += [("p", "This profile trims the paper's setup:"), ("ul", list(notes))]
    skipped = runs.attrs.get("skipped") or []
    if skipped:
        blocks.append(("p", f"{len(skipped)} item(s) of the plan were skipped; the 'Skipped' "
                            f"section lists each with its reason. Claims that need them read "
                            f"'not run'."))
    return blocks


def _verdict_summary(sections: list) -> tuple[list, Table]:
    rows = [{"Claim": claim, "Verdict": verdict, "Evidence": evidence, "Section": s.title}
            for s in sections for claim, verdict, evidence in s.verdicts]
    table = make_table("verdicts", "Every claim checked", rows, rows)
    counts = pd.Series([verdict_kind(r["Verdict"]) for r in rows]).value_counts().to_dict()
    text = "Verdict counts: " + (", ".join(f"{v} {k}" for k, v in counts.items()) or "none")
    if report_stats.NOT_COUNTED in counts:
        text += (f". '{report_stats.NOT_COUNTED}' claims restate another claim's test by "
                 "construction and are not separate reproductions.")
    shown = [r for r in rows if r["Verdict"] != report_stats.NOT_RUN]
    blocks = [("h", 2, "Summary of verdicts"), ("p", text),
              ("table", make_table("verdicts_shown", "", shown, shown))]
    not_run = [r["Claim"] for r in rows if r["Verdict"] == report_stats.NOT_RUN]
    if not_run:
        blocks.append(("p", f"Not run in this plan ({len(not_run)} claims: left out by the "
                            f"profile's trims listed above, or skipped by the plan, see "
                            f"'Skipped'): " + "; ".join(not_run) + "."))
    return blocks, table


def verdict_kind(verdict: str) -> str:
    """The verdict without its parenthesised detail, except 'reproduced (negligible)'."""
    return verdict if verdict == report_stats.REPRODUCED_NEGLIGIBLE else verdict.split(" (")[0]


def _skipped_notes(sections: list, skipped: list) -> None:
    """Adds the plan's skip reasons to the sections of the experiments they concern.

    plan.json's 'skipped' holds (what, reason) pairs: a dataset key the runner could not obtain,
    an experiment name, or 'RUN_KEY (exp1, exp2)' for a run dropped by the budget.
    """
    aliases = {"fig4": "fig4_5", "fig5": "fig4_5"}
    for section in sections:
        reasons = {}
        for what, reason in skipped:
            match = re.search(r"\(([^)]*)\)\s*$", str(what))
            names = [n.strip() for n in match.group(1).split(",")] if match else [str(what)]
            if section.key in {aliases.get(n, n) for n in names}:
                reasons.setdefault(reason, []).append(str(what))
        for reason, whats in reasons.items():
            section.notes.append(f"Skipped by the plan ({len(whats)} item(s), e.g. {whats[0]}): "
                                 f"{reason}")


def _mcnemar_section(ctx: Context) -> tuple[list, Table]:
    rows = [{"Comparison": t["comparison"], "Seed": t["seed"], "b (A right, B wrong)": t["b"],
             "c (A wrong, B right)": t["c"], "Statistic": round(t["statistic"], 3),
             "p": t["p_value"], "Method": t["method"]} for t in ctx.mcnemar]
    table = make_table("mcnemar", "McNemar tests (A = fine-type training, B = the other setting)",
                       rows, rows)
    caveat = ("Table VI's coarse runs train on their own builds of CIFAR-10 (one per mapping); "
              "their test correctness is paired with the fine run's image by image, which "
              "assumes each build lists the same test images in the same order (same source, "
              "same split; only the labels differ).")
    return [("h", 2, "Secondary: McNemar tests on the same test images"),
            ("p", METHOD_NOTES[4]), ("p", caveat), ("table", table)], table


def _runs_section(runs: pd.DataFrame) -> tuple[list, Table]:
    frame = runs[[c for c in RUN_COLUMNS if c in runs]].copy() if len(runs) else pd.DataFrame(
        columns=RUN_COLUMNS)
    frame["experiments"] = frame["experiments"].map(lambda e: ", ".join(e) if e else "")
    table = make_table("runs", "Every run of the plan (one row per seed)", frame, frame)
    skipped = runs.attrs.get("skipped") or []
    blocks = [("h", 2, "Runs"), ("table", table), ("h", 2, "Skipped")]
    blocks.append(("ul", [f"{name}: {reason}" for name, reason in skipped]) if skipped
                  else ("p", "Nothing was skipped by the plan."))
    return blocks, table


def _section_blocks(section: Section) -> list:
    blocks = [("h", 2, section.title)]
    if section.claim:
        blocks.append(("p", f"Paper: {section.claim}"))
    for table in section.tables:
        blocks += [("p", table.caption), ("table", table)]
    for name, caption in section.figures:
        blocks.append(("img", f"figures/{name}", caption))
    if section.verdicts:
        blocks.append(("ul", [f"{claim}: **{verdict}** ({evidence})"
                              for claim, verdict, evidence in section.verdicts]))
    for note in section.notes:
        blocks.append(("p", f"Note: {note}"))
    return blocks


# --------------------------------------------------------------------------- rendering

def _cell(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: list) -> str:
    """Markdown of ('h', level, text), ('p', text), ('ul', items), ('table', Table) and
    ('img', path, caption) blocks."""
    lines = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            lines += ["#" * block[1] + " " + block[2], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "ul":
            lines += [f"- {item}" for item in block[1]] + [""]
        elif kind == "img":
            lines += [f"![{block[2]}]({block[1]})", "", f"*{block[2]}*", ""]
        elif kind == "table":
            frame = block[1].display
            if frame.empty:
                lines += ["(no rows yet)", ""]
                continue
            lines.append("| " + " | ".join(map(_cell, frame.columns)) + " |")
            lines.append("|" + "---|" * len(frame.columns))
            lines += ["| " + " | ".join(_cell(v) for v in row) + " |"
                      for row in frame.itertuples(index=False)]
            lines.append("")
    return "\n".join(lines)


def render_html(blocks: list, title: str) -> str:
    """A self-contained HTML page of the same blocks (tables via pandas.to_html)."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             "</title><style>body{font-family:sans-serif;max-width:1400px;margin:auto}"
             "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
             "padding:3px 6px}img{max-width:100%}</style></head><body>"]
    for block in blocks:
        kind = block[0]
        if kind == "h":
            parts.append(f"<h{block[1]}>{html.escape(block[2])}</h{block[1]}>")
        elif kind == "p":
            parts.append(f"<p>{html.escape(block[1])}</p>")
        elif kind == "ul":
            items = "".join(f"<li>{html.escape(i).replace('**', '')}</li>" for i in block[1])
            parts.append(f"<ul>{items}</ul>")
        elif kind == "img":
            parts.append(f"<figure><img src='{html.escape(block[1])}'><figcaption>"
                         f"{html.escape(block[2])}</figcaption></figure>")
        elif kind == "table":
            frame = block[1].display
            parts.append("<p>(no rows yet)</p>" if frame.empty else
                         frame.map(_cell).to_html(index=False, escape=True))
    parts.append("</body></html>")
    return "\n".join(parts)


def inline_figures(page: str, base_dir: str) -> str:
    """`render_html`'s page with each figure (img src='figures/NAME.png', relative to base_dir)
    inlined as a data URI, so the page shows its figures on its own (the Kubeflow UI shows one
    HTML file). A figure that is missing keeps its link."""
    def inline(match: re.Match) -> str:
        path = os.path.join(base_dir, html.unescape(match.group(1)))
        if not os.path.isfile(path):
            return match.group(0)
        with open(path, "rb") as f:
            data = base64.b64encode(f.read()).decode("ascii")
        return f"<img src='data:image/png;base64,{data}'>"

    return re.sub(r"<img src='(figures/[^']+\.png)'>", inline, page)


def _write_text(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- entry point

def write_report(runs_dir: str, out_dir: str | None = None,
                 confidence: float = report_stats.CONFIDENCE) -> str:
    """Writes report.md, report.html, tables/*.csv and figures/*.png for RUNS_DIR.

    Args:
        runs_dir: the runs directory (plan.json and run directories); partial results are fine.
        out_dir: where to write (default: runs_dir itself).
        confidence: coverage of the intervals.

    Returns:
        The path of report.md.
    """
    runs_dir = os.path.abspath(runs_dir)
    out_dir = os.path.abspath(out_dir or runs_dir)
    if (read_json(run_files.plan_path(runs_dir), {}) or {}).get("study"):
        # A plan of `lg study` (a user's dataset): its own report (report_study imports this).
        from components.reporter import report_study  # pylint: disable=import-outside-toplevel
        return report_study.write_study_report(runs_dir, out_dir, confidence)
    figures_dir, tables_dir = os.path.join(out_dir, "figures"), os.path.join(out_dir, "tables")
    os.makedirs(figures_dir, exist_ok=True)
    os.makedirs(tables_dir, exist_ok=True)
    runs = load_runs(runs_dir)
    # pandas deep-copies attrs on every operation; the sections do not need them.
    ctx = Context(runs=runs.copy(), figures_dir=figures_dir, confidence=confidence)
    ctx.runs.attrs = {}
    sections = [build(ctx) for build in BUILDERS]
    _skipped_notes(sections, runs.attrs.get("skipped") or [])
    summary_blocks, summary = _verdict_summary(sections)
    mcnemar_blocks, mcnemar = _mcnemar_section(ctx)
    runs_blocks, runs_table = _runs_section(runs)
    blocks = _header(runs, runs_dir) + [("h", 2, "How to read this report"),
                                        ("ul", list(METHOD_NOTES)),
                                        ("h", 2, "Negligible differences: the equivalence test")]
    blocks += [("p", text) for text in report_stats.equivalence_design()] + summary_blocks
    for section in sections:
        blocks += _section_blocks(section)
    blocks += mcnemar_blocks
    blocks += [("h", 2, "The paper's text"), ("ul", list(paper_numbers.NOTES)),
               ("p", "Where the paper's text and the authors' code differ on the recipe (the "
                     "`paper` profile follows the code):"),
               ("ul", list(paper_numbers.TEXT_VS_CODE))]
    blocks += runs_blocks
    env = [{"Item": k, "Value": str(v)} for k, v in {**hardware(), **software(runs)}.items()]
    blocks += [("h", 2, "Hardware and software"),
               ("p", "Hardware of the machine that wrote this report (the runs' own machine when "
                     "the report is written after each run); software as recorded by each run."),
               ("table", make_table("environment", "", env, env))]
    tables = [t for s in sections for t in s.tables] + [summary, mcnemar, runs_table]
    for table in tables:
        table.numeric.to_csv(os.path.join(tables_dir, f"{table.name}.csv"), index=False)
    path = os.path.join(out_dir, "report.md")
    _write_text(path, render_markdown(blocks))
    _write_text(os.path.join(out_dir, "report.html"),
                render_html(blocks, "Label granularity: reproduction report"))
    logging.info("Wrote %s (%d runs, %d finished).", path, len(runs),
                 int((runs["status"] == DONE).sum()) if len(runs) else 0)
    return path
