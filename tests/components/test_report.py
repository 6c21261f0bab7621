"""The reporter (components/reporter/report*.py): transcription, statistics, verdicts, tables,
partial results.

The reporter aggregates files, so the RUNS_DIR here is written by the test with chosen numbers
(tests/helpers/report_fixtures.py) in the trainer's and evaluator's layouts.
"""

import json
import math
import os
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from components.reporter import __main__ as reporter_main
from components.reporter import executor as reporter
from lg_keras.errors import ConfigError, RunDirError
from components.reporter import paper_numbers as pn
from components.reporter import report, report_mcnemar, report_sections, report_stats
from components.reporter.report_runs import load_runs
from tests.helpers import report_fixtures as rf

PAPER = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "paper.md")
T_975_2 = 4.302652729911275  # Student t, 95% two-sided, 2 degrees of freedom

def _reported(runs_dir) -> tuple:
    """(RUNS_DIR, report.md text, tables dir) after writing the report of `runs_dir` once."""
    with open(report.write_report(runs_dir)) as f:
        text = f.read()
    return runs_dir, text, os.path.join(runs_dir, "tables")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The report of the constructed directory."""
    return _reported(rf.build_runs_dir(tmp_path_factory.mktemp("runs")))


@pytest.fixture(scope="module")
def verdict_cases(tmp_path_factory):
    """The report of the runs that hit every verdict outcome."""
    return _reported(rf.build_verdict_runs_dir(tmp_path_factory.mktemp("verdicts")))


def _csv(written, name) -> pd.DataFrame:
    return pd.read_csv(os.path.join(written[2], f"{name}.csv"))


def _verdicts(written) -> dict:
    return dict(_csv(written, "verdicts")[["Claim", "Verdict"]].itertuples(index=False))


# --------------------------------------------------------------------------- transcription

def _paper_lines(start: str, stop: str) -> list[str]:
    with open(PAPER, encoding="utf-8") as f:
        text = f.read()
    begin = text.index(start)
    return text[begin:text.index(stop, begin)].splitlines()[1:]


@pytest.mark.skipif(not os.path.exists(PAPER), reason="../shared/paper.md is not available")
def test_tables_i_iv_v_match_the_paper_text():
    names = {v: k for k, v in pn.DATASET_NAMES.items()}
    names["ImageNet fruit vs. vege"] = "imagenet_fruitveg"
    rows, dataset = [], None
    for line in _paper_lines("TABLE I:", "approach is"):
        fields = line.split("\t")
        if len(fields) == 5 and re.match(r"^\d+$", fields[1]):
            dataset = names[fields[0]] if fields[0] else dataset
            rows.append((dataset, int(fields[1]), int(fields[2]), float(fields[3]),
                         float(fields[4])))
    assert len(rows) == 10
    for dataset, train_classes, test_classes, train, test in rows:
        kind = "coarse" if train_classes == test_classes else "fine"
        assert pn.TABLE_I[dataset][kind] == {"train_classes": train_classes,
                                             "test_classes": test_classes, "train": train,
                                             "test": test}
    pairs = re.compile(r"([\d.]+) \(([+-][\d.]+)\)")
    dataset, seen = None, 0
    for line in _paper_lines("TABLE IV:", "We can see that, compared"):
        fields = line.split("\t")
        if len(fields) == 5 and fields[2] in ("F", "C"):
            dataset = names[fields[0]] if fields[0] else dataset
            key = "baseline_fine" if fields[2] == "F" else "extra_layer_coarse"
            (train, train_delta), (test, test_delta) = (pairs.match(f).groups()
                                                        for f in fields[3:])
            assert pn.TABLE_IV[dataset][key] == {
                "train": float(train), "train_delta": float(train_delta), "test": float(test),
                "test_delta": float(test_delta)}
            seen += 1
    assert seen == 10
    dataset, seen = None, 0
    for line in _paper_lines("TABLE V:", "V. CHARACTERIZING"):
        fields = line.split("\t")
        if len(fields) == 5 and fields[2] in ("F", "C"):
            dataset = names[fields[0]] if fields[0] else dataset
            expected = {"dropout": float(fields[1]),
                        "labels": "fine" if fields[2] == "F" else "coarse",
                        "train": float(fields[3]), "test": float(fields[4])}
            assert expected in pn.TABLE_V[dataset]
            seen += 1
    assert seen == 12


@pytest.mark.skipif(not os.path.exists(PAPER), reason="../shared/paper.md is not available")
def test_tables_vi_vii_viii_match_the_paper_text():
    lines = _paper_lines("TABLE VI:", "Fig. 5:")
    (header,) = [line for line in lines if line.startswith("\t\tplane")]
    assert tuple(header.split("\t")[2:12]) == pn.TABLE_VI_CLASSES
    pattern = re.compile(r"^\((\d+)\)\t(6:4|5:5)?\t((?:[01]\t){10})"
                         r"([\d.]+)\t([\d.]+)\t([+-][\d.]+)$")
    parsed = [pattern.match(line).groups() for line in lines if pattern.match(line)]
    assert len(parsed) == 10
    ratio = None
    for (row_id, row_ratio, cells, a_cc, a_fc, delta), row in zip(parsed, pn.TABLE_VI):
        ratio = row_ratio or ratio
        printed = tuple(int(c) for c in cells.split("\t") if c)
        assert (int(row_id), ratio, printed) == (row["id"], row["ratio"], row["printed"])
        assert (float(a_cc), float(a_fc), float(delta)) == (row["a_cc"], row["a_fc"],
                                                            row["delta"])
        # The rows we run keep the stated ratio; only (3) and (6) differ from the print.
        assert sorted((sum(row["row"]), 10 - sum(row["row"]))) == sorted(
            int(x) for x in ratio.split(":"))
        assert row["corrected"] == (row["row"] != row["printed"]) == (row["id"] in (3, 6))
    table_vii = [tuple(float(x) for x in line.split("\t")) for line in
                 _paper_lines("TABLE VII:", "In the following experiments")
                 if re.match(r"^[\d.]+\t[\d.]+\t-?[\d.]+$", line)]
    assert table_vii == [(r["rate"], r["a_fc"], r["delta"]) for r in pn.TABLE_VII]
    assert all(round(r["a_fc"] - r["delta"], 2) == pn.TABLE_VII_A_CC for r in pn.TABLE_VII)
    table_viii = [re.search(r"\t(\d+)\t([\d.]+)\t([\d.]+) \(\+([\d.]+)\)", line).groups()
                  for line in _paper_lines("TABLE VIII:", "application and dataset")
                  if "✓" in line]
    assert [(int(t), float(c), float(f), float(d)) for t, c, f, d in table_viii] == [
        (r["total"], r["a_cc"], r["a_fc"], r["delta"]) for r in pn.TABLE_VIII]
    assert [len(r["coarse_indices"]) for r in pn.TABLE_VIII] == [5, 10, 15, 20]


# --------------------------------------------------------------------------- statistics

def test_estimate_is_the_hand_computed_t_interval():
    est = report_stats.estimate({0: 0.008, 1: 0.007, 2: 0.006})
    half = T_975_2 * 0.001 / math.sqrt(3)
    np.testing.assert_allclose([est.mean, est.low, est.high], [0.007, 0.007 - half, 0.007 + half])
    assert est.format(signed=True) == "+0.70 [+0.45, +0.95] (n=3)"
    assert report_stats.estimate({4: 0.5}).format() == "50.00 (one seed)"
    assert report_stats.estimate({}).format() == "—"


def test_paired_difference_pairs_seeds_and_flags_unpaired():
    est = report_stats.paired_difference({0: 0.9, 1: 0.8, 2: 0.7}, {1: 0.5, 2: 0.6, 3: 0.1})
    assert est.seeds == (1, 2) and est.values == pytest.approx((0.3, 0.1))
    unpaired = report_stats.paired_difference({0: 0.9}, {1: 0.5})
    assert unpaired.unpaired and unpaired.mean == pytest.approx(0.4)
    assert report_stats.verdict(1.0, unpaired).startswith("inconclusive (unpaired")


@pytest.mark.parametrize("values, paper, expected", [
    ([0.008, 0.007, 0.006], 0.78, "reproduced"),            # clear gain
    ([-0.03, -0.035, -0.03], 0.01, "not reproduced"),       # clear loss
    ([-0.01, 0.02, -0.015], 2.02, "inconclusive"),          # interval covers 0
    ([0.02], 1.99, "inconclusive (one seed; same sign as the paper)"),
    ([-0.02], 1.99, "inconclusive (one seed; opposite sign to the paper)"),
    ([-0.004, -0.003, -0.002], -0.30, "reproduced"),        # the paper's negative rows
    ([0.01, 0.02], 0.0, "no directional claim"),
])
def test_verdict_on_constructed_cases(values, paper, expected):
    est = report_stats.estimate(dict(enumerate(values)))
    assert report_stats.verdict(paper, est) == expected


@pytest.mark.parametrize("values, unpaired, evidence, against_plus, reading, advice", [
    ([0.008, 0.007, 0.006], False, "interval", "reproduced", "gain (interval above 0)",
     "Fine labels paid off: the whole interval is above 0."),
    ([-0.03, -0.035, -0.03], False, "interval", "not reproduced", "loss (interval below 0)",
     "Fine labels did not pay off: they lowered coarse accuracy (interval below 0)."),
    ([-0.01, 0.02, -0.015], False, "interval", "inconclusive",
     "no clear effect (interval covers 0)",
     "No clear effect: the interval covers 0; more seeds would narrow it."),
    ([-0.02], False, "one seed", "inconclusive (one seed; opposite sign to the paper)",
     "loss from one seed (run-to-run variation unknown)",
     "Not enough evidence: one seed pair only (lower with fine labels). Run-to-run variation is "
     "unknown with one seed; run more seeds before deciding."),
    ([0.01], True, "unpaired", "inconclusive (unpaired seeds; same sign as the paper)",
     "gain from one seed (run-to-run variation unknown)",
     "Unclear: the fine and coarse runs share no seed, so there is no paired interval; run "
     "matching seeds."),
])
def test_one_verdict_renders_the_report_and_the_advice(values, unpaired, evidence, against_plus,
                                                       reading, advice):
    """The report's verdict, its plain reading and lg advise's words come from one Verdict."""
    est = (report_stats.paired_difference({0: values[0]}, {1: 0.0}) if unpaired
           else report_stats.estimate(dict(enumerate(values))))
    verdict = report_stats.Verdict.of(est)
    assert verdict.evidence == evidence
    assert verdict.against(+1.0) == report_stats.verdict(+1.0, est) == against_plus
    assert verdict.reading() == reading
    assert verdict.advice() == advice


def test_a_tiny_p_value_is_printed_as_a_value_not_as_zero():
    """Ten perfectly ranked points: the Monte Carlo permutation p is 1 / 20,001, not '0.000'."""
    assert report_stats.format_p(0.0421) == "0.042"
    assert report_stats.format_p(1 / 20001) == "5e-05"
    x = np.arange(10.0)
    verdict, text = report_stats.trend_verdict(x, 2 * x + 1, +1)
    assert verdict == report_stats.REPRODUCED
    assert "permutation p = 5e-05 in the paper's direction" in text
    verdict, text = report_stats.trend_verdict(x, -x, +1)
    assert verdict == report_stats.NOT_REPRODUCED
    assert text.endswith(", p = 5e-05 against it")


def test_verdict_without_a_result():
    verdict = report_stats.Verdict.of(report_stats.Estimate())
    assert verdict.evidence == report_stats.NO_RESULT
    assert verdict.against(1.0) == "pending" and verdict.against(1.0, "not run") == "not run"
    assert verdict.reading() == "no result yet"


@pytest.mark.parametrize("values, expected", [
    ([0.001, -0.0005, 0.0002], "reproduced (negligible)"),   # 90% interval inside ±0.5 points
    ([0.015, 0.016, 0.014], "not reproduced"),               # entirely above +0.5
    ([-0.02, -0.03, -0.025], "not reproduced"),              # entirely below -0.5
    ([0.005, 0.012, 0.001], "inconclusive"),                 # across +0.5
    ([-0.004, 0.0, 0.004], "inconclusive"),                  # covers 0, too wide for ±0.5
    ([0.001], "inconclusive (one seed; inside ±0.50)"),
    ([0.02], "inconclusive (one seed; outside ±0.50)"),
])
def test_equivalence_verdict_on_constructed_cases(values, expected):
    est = report_stats.estimate(dict(enumerate(values)))
    assert report_stats.equivalence_verdict(est) == expected


def test_equivalence_verdict_edges_and_evidence():
    unpaired = report_stats.paired_difference({0: 0.85}, {1: 0.85})
    assert report_stats.equivalence_verdict(unpaired).startswith("inconclusive (unpaired seeds")
    assert report_stats.equivalence_verdict(report_stats.Estimate(), "not run") == "not run"
    assert report_stats.equivalence_verdict(report_stats.Estimate()) == "pending"
    # Mean +0.02 points, sd 0.1 points: 90% interval +0.02 +- 2.920 * 0.1 / sqrt(3) = +-0.17.
    est = report_stats.estimate({0: 0.0012, 1: 0.0002, 2: -0.0008})
    evidence = report_stats.equivalence_evidence(est, 0.01)
    assert evidence.startswith("ours ΔA +0.02, 90% interval [-0.15, +0.19] (n=3) inside ±0.50 "
                               "points vs paper +0.01; TOST p = ")
    assert "seed-pair sd (0.10 points), 2 seed pairs would let it pass" in evidence
    one = report_stats.equivalence_evidence(report_stats.estimate({0: 0.001}), 0.16)
    assert "at least 3 seed pairs at this machine's seed spread" in one


def test_equivalence_design_states_margin_and_seed_count():
    # The reference spread: 0.40 * sqrt(3) / t(0.975, 2) = 0.161 points per seed pair.
    assert report_stats.SEED_PAIR_SD == pytest.approx(0.0040 * math.sqrt(3) / T_975_2)
    text = " ".join(report_stats.equivalence_design())
    assert "margin of ±0.50 points" in text and "+0.78 on CIFAR-10" in text
    assert "0.72 (n=2), 0.27 (n=3), 0.19 (n=4)" in text
    assert "so n = 3 seed pairs at least" in text and "power 80%) gives n = 3" in text
    # A tighter margin needs more seeds: ±0.25 points -> 4 to be able to pass, 6 for 80% power.
    tight = " ".join(report_stats.equivalence_design(margin=0.0025))
    assert "so n = 4 seed pairs at least" in tight and "power 80%) gives n = 6" in tight


def test_verdict_without_results_says_pending_or_not_run():
    empty = report_stats.Estimate()
    assert report_stats.verdict(0.78, empty, "pending") == "pending"
    assert report_stats.verdict(0.78, empty, "not run") == "not run"
    assert report_stats.availability("done", "pending") == "pending"
    assert report_stats.availability("pending", "not run") == "not run"
    assert report_stats.availability("done", "done") is None


def test_trend_verdict_reads_one_sided_permutation_tests():
    # Perfect decreasing order over 4 points: exact one-sided p = 1/4! = 0.042 < 0.05.
    verdict, evidence = report_stats.trend_verdict([5, 10, 15, 20], [2.7, 2.0, 0.2, 0.0], -1)
    assert verdict == "reproduced" and "rho = -1.00" in evidence and "p = 0.042" in evidence
    # The same points against a claimed rise: p = 1 on the paper's side, 1/24 against it.
    verdict, evidence = report_stats.trend_verdict([5, 10, 15, 20], [2.7, 2.0, 0.2, 0.0], +1)
    assert verdict == "not reproduced" and "p = 0.042 against it" in evidence
    # Three points cannot reach 5% (the smallest exact p is 1/3! = 0.167).
    assert report_stats.trend_verdict([1, 2, 3], [1, 2, 3], +1)[0] == "inconclusive"
    assert report_stats.trend_verdict([1, 2], [1, 2], +1, "pending")[0] == "pending"



def test_a_trend_claim_collects_points_and_adds_its_verdict():
    points = pd.DataFrame([report_sections.trend_point(n, n, report_stats.estimate({0: d}))
                           for n, d in ((5, 0.027), (10, 0.020), (15, 0.002), (20, 0.0))])
    assert points["y"].tolist() == pytest.approx([2.7, 2.0, 0.2, 0.0])  # percent
    section = report_sections.Section("t", "T")
    evidence = report_sections.add_trend(section, "ΔA falls", points, -1, None)
    assert section.verdicts == [("ΔA falls", "reproduced", evidence)] and "rho = -1.00" in evidence
    report_sections.add_trend(section, "ΔA rises", points.iloc[:2], +1, "pending")
    assert section.verdicts[-1][:2] == ("ΔA rises", "pending") and len(section.verdicts) == 2

def test_mcnemar_by_seed_reads_correctness_strings():
    tests = report_mcnemar.by_seed({0: rf.correct_string(0.992), 1: "11"},
                                   {0: rf.correct_string(0.984), 2: "10"})
    assert len(tests) == 1 and (tests[0]["b"], tests[0]["c"]) == (8, 0)
    assert tests[0]["p_value"] == pytest.approx(2 / 2**8)
    assert report_mcnemar.format_tests(tests) == "p = 0.008 (b 8, c 0; seed 0)"


# --------------------------------------------------------------------------- loading

def test_load_runs_has_one_row_per_run_with_status(written):
    runs = load_runs(written[0])
    assert len(runs) == 2 * 10 + 3 + 1 + 2 + 4 + 3
    by_key = runs.set_index("run_key")
    assert by_key.loc["cifar10-fine-linear-1-s2", "coarse_test_accuracy"] == 0.991
    assert by_key.loc["cifar10-fine-linear-1-s2", "seed"] == 2
    assert by_key.loc["cifar10-fine-linear-1-s1", "precision"] == "mixed_bfloat16"
    assert by_key.loc["cifar10-fine-linear-1-s2", "precision"] == "float32"
    assert by_key.loc["imagenet_fruitveg-fine-linear-1-s0", "status"] == "pending"
    assert by_key.loc["imagenet_fruitveg-coarse-linear-1-s0", "status"] == "running or interrupted"
    assert by_key.loc["cifar100_5-fine-linear-1-s0", "status"] == "trained, not evaluated"
    assert by_key.loc["cifar100_15-fine-linear-1-s0", "status"] == "skipped"
    cluster = runs[runs["label_kind"] == "cluster"]
    assert len(cluster) == 3 and not cluster["in_plan"].any() and set(cluster["cluster_k"]) == {3}
    noisy = by_key.loc["cifar10-fine_noise_0.1-linear-1-s0"]
    assert (noisy["label_kind"], noisy["noise_rate"]) == ("noise", 0.1)
    assert runs.attrs["profile"] == "test" and len(runs.attrs["skipped"]) == 2


# --------------------------------------------------------------------------- the report

def test_table_i_holds_our_numbers_intervals_and_the_papers(written):
    table = _csv(written, "table1").set_index(["dataset", "labels"])
    half = T_975_2 * 0.1 / math.sqrt(3)  # percentage points; sd of 99.2, 99.0, 99.1 is 0.1
    row = table.loc[("cifar10", "fine")]
    np.testing.assert_allclose([row["test_mean"], row["test_low"], row["test_high"]],
                               [99.1, 99.1 - half, 99.1 + half])
    assert (row["paper_test"], row["paper_train"], row["test_n"]) == (99.20, 100.0, 3)
    assert row["test_best_mean"] == pytest.approx(99.3)  # best epoch, its own column
    assert table.loc[("imagenet_dogcat", "coarse"), "test_n"] == 1
    assert math.isnan(table.loc[("imagenet_dogcat", "coarse"), "test_low"])
    _, text, _ = written
    assert "| CIFAR-10 | fine | 10 |" in text and "99.10 [98.85, 99.35] (n=3)" in text
    assert "fashion_mnist (not in the paper)" in text


def test_delta_verdicts_and_mcnemar(written):
    delta = _csv(written, "table1_delta").set_index("dataset")
    assert delta.loc["cifar10", "verdict_test"] == "reproduced"
    np.testing.assert_allclose(
        delta.loc["cifar10", ["delta_test_mean", "delta_test_low", "delta_test_high"]],
        [0.7, 0.7 - T_975_2 * 0.1 / math.sqrt(3), 0.7 + T_975_2 * 0.1 / math.sqrt(3)])
    # CIFAR-100's paper ΔA (+0.01) is a negligible claim: -3 points is outside the ±0.5 margin.
    assert delta.loc["cifar100", "verdict_test"] == "not reproduced"
    assert delta.loc["cifar100_animals", "verdict_test"] == "inconclusive"
    assert delta.loc["imagenet_dogcat", "verdict_test"].startswith("inconclusive (one seed")
    assert delta.loc["imagenet_fruitveg", "verdict_test"] == "pending"
    assert delta.loc["fashion_mnist", "verdict_test"] == "no directional claim"
    mcnemar = _csv(written, "mcnemar")
    cifar10 = mcnemar[mcnemar["Comparison"] == "Table I CIFAR-10: fine - coarse"]
    assert list(cifar10["Seed"]) == [0, 1, 2]
    assert list(cifar10["b (A right, B wrong)"]) == [8, 7, 6]
    assert cifar10["p"].iloc[0] == pytest.approx(2 / 2**8)
    # CIFAR-100's runs share CIFAR-10's recipe, so their conditions match; their networks
    # differ and get their own tests.
    cifar100 = mcnemar[mcnemar["Comparison"] == "Table I CIFAR-100: fine - coarse"]
    assert list(cifar100["Seed"]) == [0, 1, 2]
    assert "Table I CIFAR-100 animals: fine - coarse" in set(mcnemar["Comparison"])
    # An extra dataset's tests carry its Table I row's name, not its key alone.
    assert "Table I fashion_mnist (not in the paper): fine - coarse" in set(mcnemar["Comparison"])
    # The same pair of networks recurs in Fig. 2, Table V and VII; it is tested once.
    assert not mcnemar.duplicated(["Seed", "b (A right, B wrong)", "c (A wrong, B right)",
                                   "Comparison"]).any()
    text = written[1]
    assert "Secondary: McNemar" in text and "ignores run-to-run training variance" in text
    assert "p = 0.008, 0.016, 0.031 (seeds 0, 1, 2)" in text


def test_every_verdict_outcome(written, verdict_cases):
    directional = "fine-grain training raises coarse test accuracy"
    negligible = "fine-grain training gives a negligible gain (within ±0.50 points)"
    verdicts = _verdicts(verdict_cases)
    assert verdicts[f"Table I CIFAR-10: {directional}"] == "reproduced"
    assert verdicts[f"Table I CIFAR-100 animals: {directional}"] == "not reproduced"
    assert verdicts["Table VIII 10 coarse classes: sign of ΔA"] == "not reproduced"
    assert verdicts[f"Table I ImageNet dog vs. cat: {directional}"] == "inconclusive"
    assert verdicts[f"Table I ImageNet fruit vs. vege.: {directional}"] == (
        "inconclusive (one seed; same sign as the paper)")
    assert verdicts[f"Table I CIFAR-100: {negligible}"] == "reproduced (negligible)"
    assert verdicts["Table VIII 20 coarse classes: ΔA negligible (within ±0.50 points)"] == (
        "reproduced (negligible)")
    assert verdicts["Table VIII 15 coarse classes: ΔA negligible (within ±0.50 points)"] == (
        "inconclusive")
    # The other directory's CIFAR-100 (-3 points) is the negligible claim outside the margin.
    assert _verdicts(written)[f"Table I CIFAR-100: {negligible}"] == "not reproduced"
    outcomes = {}
    for claims in (verdicts, _verdicts(written)):
        for claim, verdict in claims.items():
            kind = "negligible" if "negligible" in claim else "directional"
            outcomes.setdefault(kind, set()).add(verdict.split(" (one seed")[0])
    assert {"reproduced", "not reproduced", "inconclusive"} <= outcomes["directional"]
    assert {"reproduced (negligible)", "not reproduced", "inconclusive"} <= (
        outcomes["negligible"])
    delta = _csv(verdict_cases, "table1_delta").set_index("dataset")
    assert delta.loc["cifar100", "verdict_test"] == "reproduced (negligible)"
    text = verdict_cases[1]
    assert ("**reproduced (negligible)** (ours ΔA +0.01, 90% interval [-0.05, +0.06] (n=3) "
            "inside ±0.50 points vs paper +0.01; TOST p = 0.00071") in text
    assert "ours ΔA +0.60, 90% interval [-0.34, +1.54] (n=3) not inside ±0.50 points" in text
    assert "## Negligible differences: the equivalence test" in text
    assert "2 reproduced (negligible)" in text  # counted apart from the directional 'reproduced'


def test_fig7b_on_noisy_test_labels_is_not_counted(verdict_cases):
    verdicts = _verdicts(verdict_cases)
    assert verdicts["Table VII: ΔA falls as the randomness factor grows"] == "reproduced"
    assert verdicts["Fig. 7b: ΔA grows with ACR (clean test labels)"] == "reproduced"
    noisy = "Fig. 7b as the authors drew it: ΔA grows with ACR on noisy test labels"
    assert verdicts[noisy] == "not counted"
    _, text, _ = verdict_cases
    assert (f"{noisy}: **not counted** (Spearman rho = +1.00 over 5 points; one-sided "
            "permutation p = 0.008 in the paper's direction (the test alone reads 'reproduced'); "
            "this ACR falls with r by construction") in text
    assert "this ACR falls with r by construction, and its rank correlation" in text
    reproduced = sum(v == "reproduced" for v in verdicts.values())
    assert f"{reproduced} reproduced," in text.split("Verdict counts: ")[1].split("\n")[0]
    assert "1 not counted" in text
    table = _csv(verdict_cases, "table7").set_index("rate")
    np.testing.assert_allclose(table.loc[[0.01, 0.3], "acr_noisy_mean"], [0.11, 0.03])


def test_table_vii_sets_the_two_noise_kinds_side_by_side(verdict_cases):
    table = _csv(verdict_cases, "table7_noise_kinds").set_index("rate")
    # r = 0 is the clean fine run for both kinds (seed 0 of 3: 99.2, ΔA over 3 seeds +0.70).
    assert table.loc[0.0, "launched_a_fc_mean"] == table.loc[0.0, "within_coarse_a_fc_mean"]
    assert table.loc[0.0, "launched_delta_n"] == 3
    np.testing.assert_allclose(table.loc[[0.01, 0.03, 0.1, 0.3], "launched_a_fc_mean"],
                               [98.8, 98.5, 98.0, 97.0])
    np.testing.assert_allclose(table.loc[[0.01, 0.03, 0.1, 0.3], "launched_a_fc_best_mean"],
                               [99.0, 98.9, 98.6, 98.1])
    # Paired with the seed-0 coarse run (98.4), the only seed the launched runs have.
    np.testing.assert_allclose(table.loc[[0.01, 0.3], "launched_delta_mean"], [0.4, -1.4],
                               atol=1e-9)
    np.testing.assert_allclose(table.loc[[0.1, 0.3], "within_coarse_a_fc_mean"], [98.7, 98.5])
    np.testing.assert_allclose(table.loc[[0.01, 0.1, 0.3], "coarse_targets_changed"],
                               [0.9, 8.9, 22.0])
    assert table.loc[[0.1, 0.3], "paper_delta"].tolist() == [-0.30, -0.70]
    verdicts = _verdicts(verdict_cases)
    launched = "Table VII r={} with the launched noise (the loop the paper's runs used): sign of ΔA"
    assert verdicts[launched.format("0.01")].startswith("inconclusive (one seed; same sign")
    assert verdicts[launched.format("0.1")].startswith("inconclusive (one seed; same sign")
    _, text, _ = verdict_cases
    assert ("Ours, within-coarse: ΔA negative at no r (mean over seeds), A_FC 99.10 -> 98.50 "
            "(-0.60 points) by r = 0.3") in text
    assert "launched: ΔA negative from r = 0.1 (mean over seeds), A_FC 99.10 -> 97.00" in text
    assert "| 22.0% |" in text


def test_no_memorisation_table_without_its_runs(written):
    runs_dir, text, _ = written
    assert not os.path.exists(os.path.join(runs_dir, "tables", "table7_memorisation.csv"))
    assert "Memorisation check" not in text


def test_the_memorisation_check_compares_the_long_runs_with_table7s(verdict_cases):
    table = _csv(verdict_cases, "table7_memorisation").set_index(["labels", "epochs"])
    assert table.loc[("fine", 32), "a_fc_mean"] == pytest.approx(99.0)
    assert table.loc[("fine_noise_0.3", 32), "running_train_mean"] == pytest.approx(95.0)
    assert table.loc[("fine_noise_0.3", 8), "a_fc_mean"] == pytest.approx(98.5)
    # The one-seed long runs are set against seed 0 of the 3-seed short ones, not their mean
    # (99.10): 99.0 - 99.2 and 98.0 - 98.5.
    assert table.loc[("fine", 32), "a_fc_change_mean"] == pytest.approx(-0.2)
    assert table.loc[("fine_noise_0.3", 32), "a_fc_change_mean"] == pytest.approx(-0.5)
    assert table.loc[("fine", 32), "a_fc_change_n"] == 1
    _, text, _ = verdict_cases
    assert "| clean | 8 | 0, 1, 2 | 99.10 [" in text
    assert "| clean | 32 | 0 | 99.00 (one seed) |" in text
    assert "| -0.20 (one seed) (from 8 epochs) |" in text


def test_table_vi_uses_the_fine_models_by_hierarchy_scores(written):
    table = _csv(written, "table6").set_index("id")
    row = table.loc[3]
    assert row["a_fc_mean"] == pytest.approx(98.0) and row["a_cc_mean"] == pytest.approx(97.0)
    assert row["delta_mean"] == pytest.approx(1.0) and row["verdict"] == "reproduced"
    assert row["acr_mean"] == pytest.approx(0.2) and row["paper_delta"] == 1.07
    assert "corrected; printed 0 0 0 1 1 1 1 1 0 0" in row["row"]
    assert table.loc[1, "verdict"] == "reproduced"  # row (1) is Table I's CIFAR-10 pair
    assert table.loc[2, "verdict"] == "not run"


def test_table_vii_and_early_acr(written):
    table = _csv(written, "table7").set_index("rate")
    assert table.loc[0.1, "acr_mean"] == pytest.approx(0.15)
    assert table.loc[0.1, "acr_noisy_mean"] == pytest.approx(0.11)
    assert table.loc[0.1, "delta_mean"] == pytest.approx(98.3 - 98.4)
    assert table.loc[0.1, "verdict"] == "inconclusive (one seed; same sign as the paper)"
    early = _csv(written, "early_acr").set_index(["group", "point"])
    # val_acr runs linearly from 0.3 to 0.12 over 8 epochs: epoch 1 and epoch 2 (25%).
    assert early.loc[("noise levels", "r=0"), "val_acr_epoch1"] == pytest.approx(0.3 - 0.18 / 8)
    assert early.loc[("noise levels", "r=0"), "val_acr_quarter"] == pytest.approx(0.3 - 0.36 / 8)
    assert early.loc[("noise levels", "r=0"), "quarter_epoch"] == 2
    # Table VI row (3) from the shared fine run's by_hierarchy per-epoch ACR (0.5 - 0.02 epoch).
    assert early.loc[("Table VI mappings", "(3)"), "val_acr_epoch1"] == pytest.approx(0.48)
    assert early.loc[("Table VI mappings", "(3)"), "val_acr_quarter"] == pytest.approx(0.46)
    assert math.isnan(early.loc[("Table VI mappings", "(5)"), "val_acr_epoch1"])
    # Every finished fine run here has per-epoch ACR, so the report does not warn of missing ones.
    assert "no per-epoch ACR" not in written[1]


def test_report_sections_figures_and_bookkeeping(written):
    runs_dir, text, tables = written
    for title in ("Table I", "Fig. 2", "Fig. 3", "Table IV", "Fig. 4 and 5", "Table V", "Fig. 6",
                  "Table VI and Fig. 7a", "Table VII and Fig. 7b", "Table VIII",
                  "ACR as an early signal", "Extension: cluster-derived fine labels", "Runs",
                  "Skipped",
                  "Hardware and software"):
        assert f"## {title}" in text, title
    for name in ("fig2", "fig3", "fig6", "fig7a", "fig7b", "early_acr", "fig4_tsne_fine",
                 "fig5_confusion_fine"):
        assert os.path.getsize(os.path.join(runs_dir, "figures", f"{name}.png")) > 0
    assert "Table IV CIFAR-10: fine-grain training vs. coarse training" in text
    assert "Skipped by the plan (1 item(s), e.g. cifar10-coarse-x (table4, table5))" in text
    assert "cifar100_15: cannot obtain the dataset: test" in text
    assert "Profile: test" in text and "cores" in text and "tensorflow | 2.21.0" in text
    runs = _csv(written, "runs")
    assert {"seed", "train_seconds", "eval_seconds", "status"} <= set(runs.columns)
    # The dataset key tells apart builds that share a paper name (a dataset and its variants).
    assert list(runs.columns[:3]) == ["run_key", "dataset", "paper_name"]
    assert (runs["dataset"] == runs["run_key"].str.split("-").str[0]).all()
    verdicts = _csv(written, "verdicts")
    assert (verdicts["Verdict"] == "not run").any() and (verdicts["Verdict"] == "pending").any()
    assert "claims: left out by the profile's trims listed above, or skipped by the plan" in text
    cluster = _csv(written, "cluster_labels")
    assert cluster["delta_mean"].iloc[0] == pytest.approx(0.3)
    html = open(os.path.join(runs_dir, "report.html"), encoding="utf-8").read()
    assert "<table" in html and "figures/fig2.png" in html


def test_report_on_empty_and_pending_directories(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    text = open(report.write_report(str(empty)), encoding="utf-8").read()
    assert "Runs: none" in text
    pending = str(tmp_path / "pending")
    os.makedirs(pending)
    entries = [rf.write_run(pending, "cifar10", labels, 0, None, state="pending")
               for labels in ("fine", "coarse")]
    rf.write_plan(pending, entries)
    out = str(tmp_path / "out")
    text = open(report.write_report(pending, out_dir=out), encoding="utf-8").read()
    assert "| CIFAR-10 | coarse | — | — | — | 99.9 | — (pending) | 98.42 | — |" in text
    assert os.path.exists(os.path.join(out, "tables", "table1.csv"))
    assert not os.path.exists(os.path.join(pending, "report.md"))


# --------------------------------------------------------------------------- the component

def test_reporter_component_cli_and_config(tmp_path, capsys):
    runs_dir = str(tmp_path / "runs")
    os.makedirs(runs_dir)
    rf.write_plan(runs_dir, [rf.write_run(runs_dir, "cifar10", "fine", 0, 0.99),
                             rf.write_run(runs_dir, "cifar10", "coarse", 0, 0.98)])
    assert reporter_main.main([runs_dir, "--out", str(tmp_path / "report")]) == 0
    assert "report.html" in capsys.readouterr().out
    assert os.path.exists(tmp_path / "report" / "report.md")
    missing = {"runs": str(tmp_path / "missing")}  # the config is checked first
    with pytest.raises(ConfigError, match="Unknown field 'colour'. Available: confidence"):
        reporter.run({"colour": 1}, missing, {"report": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"confidence must be a number in \(0, 1\); got 1.5"):
        reporter.run('{"confidence": 1.5}', missing, {"report": str(tmp_path)})
    with pytest.raises(ConfigError, match="ReporterConfig must be a JSON object"):
        reporter.run('{"confidence": ', missing, {"report": str(tmp_path)})
    with pytest.raises(RunDirError, match="does not exist"):
        reporter.run({}, {"runs": str(tmp_path / "missing")}, {"report": str(tmp_path)})


def _pipeline_records(root) -> tuple[dict, list[str]]:
    """A plan of three runs and each run's records directory, as the evaluator's records outputs
    hold them (the run's files flat, with its build's dataset.json); the third never finished."""
    runs_dir = os.path.join(root, "written")
    os.makedirs(runs_dir)
    entries = [rf.write_run(runs_dir, "cifar10", "fine", 0, 0.99),
               rf.write_run(runs_dir, "cifar10", "coarse", 0, 0.98),
               rf.write_run(runs_dir, "cifar10", "fine", 1, None, state="running")]
    rf.write_plan(runs_dir, entries)
    with open(os.path.join(runs_dir, "plan.json")) as f:
        plan = json.load(f)
    records = []
    for i, entry in enumerate(plan["runs"]):
        out = os.path.join(root, "evaluator", str(i), "records")
        os.makedirs(out)
        for name in os.listdir(entry.pop("run_dir")):
            os.replace(os.path.join(runs_dir, "runs", entry["key"], name), os.path.join(out, name))
        with open(os.path.join(out, "dataset.json"), "w") as f:
            json.dump({"noise": {}}, f)
        records.append(out)
        del entry["dataset_dir"]
    return plan, records


def test_the_pipeline_form_lays_out_the_records_and_fills_the_ui_outputs(tmp_path):
    """A Kubeflow reporter task: the plan and each evaluator's records in, the report directory
    (a runs directory `lg report` rewrites), Markdown, self-contained HTML, CSV tables, figures
    and metrics out."""
    plan, records = _pipeline_records(str(tmp_path))
    report_dir = str(tmp_path / "report")
    ui = {name: str(tmp_path / "ui" / name) for name in ("markdown", "html", "tables", "figures")}
    os.makedirs(tmp_path / "ui")
    result = reporter.run("{}", {"plan": json.dumps(plan), "records": records},
                          {"report": report_dir, **ui})
    keys = [e["key"] for e in plan["runs"]]
    build = plan["datasets"]["cifar10"]["build_hash"]
    for key in keys[:2]:
        assert os.path.isfile(os.path.join(report_dir, "trainer", "model", key, "metrics.json"))
    assert os.path.isfile(os.path.join(report_dir, "example_gen", "examples", build,
                                       "dataset.json"))
    runs = load_runs(report_dir)
    assert list(runs["status"])[:2] == ["done", "done"] and runs["status"].iloc[2] != "done"
    text = open(result["report"], encoding="utf-8").read()
    assert open(ui["markdown"], encoding="utf-8").read() == text
    page = open(ui["html"], encoding="utf-8").read()
    assert "src='figures/" not in page and "src='data:image/png;base64," in page
    assert sorted(os.listdir(ui["tables"])) == sorted(os.listdir(os.path.join(report_dir,
                                                                              "tables")))
    assert "fig2.png" in os.listdir(ui["figures"])
    metrics = result["metrics"]
    assert (metrics["runs_planned"], metrics["runs_done"]) == (3, 2)
    assert metrics[f"{keys[0]}/coarse_test_accuracy"] == pytest.approx(0.99)
    assert f"{keys[2]}/coarse_test_accuracy" not in metrics and metrics["verdicts/not run"] > 0
    again = reporter.run({}, {"runs": report_dir}, {"report": report_dir})  # `lg report DIR`
    assert again["metrics"] == metrics


def test_the_pipeline_form_checks_its_inputs(tmp_path):
    plan, records = _pipeline_records(str(tmp_path))
    out = {"report": str(tmp_path / "report")}
    with pytest.raises(ConfigError, match="got 2 run records for a plan of 3 runs"):
        reporter.run({}, {"plan": plan, "records": records[:2]}, out)
    with pytest.raises(ConfigError, match="'runs' and 'datasets'"):
        reporter.run({}, {"plan": "[]", "records": []}, out)
    key, plan["runs"][0]["key"] = plan["runs"][0]["key"], "../escape"
    with pytest.raises(ConfigError, match="run key must be a plain name; got '../escape'"):
        reporter.run({}, {"plan": plan, "records": records}, out)
    plan["runs"][0]["key"] = key
    with pytest.raises(RunDirError, match="does not exist"):
        reporter.run({}, {"plan": plan, "records": records[:2] + ["/nonexistent"]}, out)


@pytest.mark.parametrize("num_runs", [0, 3])
def test_kfp_component_compiles_with_one_input_per_run(tmp_path, num_runs):
    from kfp import compiler  # pylint: disable=g-import-not-at-top

    from components.reporter import kfp_component  # pylint: disable=g-import-not-at-top

    path = str(tmp_path / "reporter.yaml")
    compiler.Compiler().compile(
        kfp_component.make_reporter_component("lg-keras:test", num_runs=num_runs), path)
    with open(path) as f:
        spec = yaml.safe_load(f)["components"]["comp-reporter"]
    assert sorted(spec["inputDefinitions"].get("artifacts", {})) == sorted(
        f"run_{i}" for i in range(num_runs))
    assert set(spec["inputDefinitions"]["parameters"]) == {"plan_json", "config_json"}
    outputs = {name: o["artifactType"]["schemaTitle"]
               for name, o in spec["outputDefinitions"]["artifacts"].items()}
    assert outputs == {"report": "system.Artifact", "markdown": "system.Markdown",
                       "html": "system.HTML", "tables": "system.Dataset",
                       "figures": "system.Artifact", "metrics": "system.Metrics"}
    text = open(path).read()
    assert "pip install" not in text and "lg-keras:test" in text
    with pytest.raises(ValueError, match="num_runs"):
        kfp_component.make_reporter_component(num_runs=-1)


def test_the_report_says_where_the_papers_text_and_the_authors_code_differ(written):
    text = written[1]
    assert "Where the paper's text and the authors' code differ on the recipe" in text
    assert "the ImageNet-subset regime sets 1e-4" in text and "999 epochs at f = 0.2" in text


def test_authors_protocol_columns_appear_only_with_runs_scored_that_way(tmp_path, written):
    runs_dir = str(tmp_path / "runs")
    entries = [rf.write_run(runs_dir, "cifar10", labels, 0, a, acr=acr, experiments=("table1",
                                                                                       "fig6"))
               for labels, a, acr in (("fine", 0.99, 0.12), ("coarse", 0.98, None))]
    for seed, (fine, coarse, acr) in enumerate([(0.90, 0.88, 0.30), (0.92, 0.89, 0.34)]):
        for labels, a, best in (("fine", fine, 0.95 + seed / 100), ("coarse", coarse, 0.93)):
            entry = rf.write_run(runs_dir, "imagenet_dogcat", labels, seed, a,
                                 acr=acr if labels == "fine" else None,
                                 experiments=("table1", "fig6"))
            path = os.path.join(entry["run_dir"], "metrics.json")
            metrics = json.load(open(path))
            metrics["authors_protocol"] = {
                "passes": 5, "best_epoch": 3, "best_test_coarse_accuracy": best, "final_epoch": 8,
                "final_epoch_acr": acr + 0.1 if labels == "fine" else None, "description": "d"}
            json.dump(metrics, open(path, "w"))
            entries.append(entry)
    rf.write_plan(runs_dir, entries)
    with open(report.write_report(runs_dir)) as f:
        text = f.read()
    table = pd.read_csv(os.path.join(runs_dir, "tables", "table1.csv")).set_index(
        ["dataset", "labels"])
    assert table.loc[("imagenet_dogcat", "fine"), "test_authors_mean"] == pytest.approx(95.5)
    assert table.loc[("imagenet_dogcat", "coarse"), "test_authors_mean"] == pytest.approx(93.0)
    assert math.isnan(table.loc[("cifar10", "fine"), "test_authors_mean"])
    assert table.loc[("imagenet_dogcat", "fine"), "test_mean"] == pytest.approx(91.0)
    fig6 = pd.read_csv(os.path.join(runs_dir, "tables", "fig6.csv")).set_index("dataset")
    assert fig6.loc["imagenet_dogcat", "acr_authors_mean"] == pytest.approx(0.42)
    assert fig6.loc["imagenet_dogcat", "acr_mean"] == pytest.approx(0.32)
    assert "Test, authors' protocol: best epoch, random crop (ours)" in text
    assert "ACR, authors' protocol: final epoch, 5 random passes (ours)" in text
    assert "biased upwards" in text and "comparable with the paper's ImageNet points" in text
    # A directory without such runs has neither the columns nor the notes.
    assert "test_authors_mean" not in _csv(written, "table1")
    assert "acr_authors_mean" not in _csv(written, "fig6") and "authors' protocol" not in written[1]


def test_a_run_recorded_before_a_late_field_is_the_same_setting_as_one_after():
    """Seed 0 trained before train.collective_timeout_s existed, seed 1 after: one setting."""
    from components.reporter.report_runs import condition_id  # pylint: disable=import-outside-toplevel
    from lg_keras.config import ExperimentConfig, TrainConfig  # pylint: disable=import-outside-toplevel
    from lg_keras.config_io import to_dict  # pylint: disable=import-outside-toplevel

    after = to_dict(ExperimentConfig(train=TrainConfig(seed=1)))
    before = to_dict(ExperimentConfig())
    del before["train"]["collective_timeout_s"]
    assert condition_id(before) == condition_id(after)
    after["train"]["collective_timeout_s"] = 60.0  # a late field away from its default counts
    assert condition_id(before) != condition_id(after)
