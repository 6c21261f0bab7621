"""components.reporter.report_study: the report of `lg study` from chosen numbers (no training):
the answer, balanced accuracy for imbalanced coarse classes, equivalence at the study's margin."""

import json
import os

import pytest

from components.reporter import report, report_study
from tests.helpers import report_fixtures as rf

# Coarse test accuracy per seed: fine within 0.1 points of coarse, so ΔA is negligible.
FINE, COARSE = (0.901, 0.902, 0.900), (0.900, 0.899, 0.901)
# Test split: 100 images of coarse class 'rare', 900 of 'common' (imbalanced).
CONFUSION = {"fine": [[60, 40], [0, 900]], "coarse": [[40, 60], [0, 900]]}


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    runs_dir = str(tmp_path_factory.mktemp("study"))
    entries = []
    for labels, values in (("coarse", COARSE), ("fine", FINE)):
        for seed, value in enumerate(values):
            entry = rf.write_run(runs_dir, "pets", labels, seed, value, experiments=("study",),
                                 acr=None if labels == "coarse" else 0.3)
            path = os.path.join(entry["run_dir"], "metrics.json")
            with open(path) as f:
                metrics = json.load(f)
            metrics["coarse_confusion_matrix"] = CONFUSION[labels]
            with open(path, "w") as f:
                json.dump(metrics, f)
            entries.append(entry)
    rf.write_plan(runs_dir, entries, profile="cpu")
    with open(os.path.join(runs_dir, "plan.json")) as f:
        plan = json.load(f)
    plan["study"] = {"dataset": "pets", "margin": 0.005, "command": "lg study --dataset x",
                     "recipe": ["family: images of 32 px <= 64 px -> the CIFAR recipe"]}
    plan["datasets"]["pets"]["dataset_dir"] = "data/pets"
    with open(os.path.join(runs_dir, "plan.json"), "w") as f:
        json.dump(plan, f)
    os.makedirs(os.path.join(runs_dir, "data", "pets"))
    with open(os.path.join(runs_dir, "data", "pets", "dataset.json"), "w") as f:
        json.dump({"counts": {"train": {"fine": {"a": 400, "b": 400, "c": 3600}},
                              "test": {"fine": {"a": 50, "b": 50, "c": 900},
                                       "coarse": {"rare": 100, "common": 900}}},
                   "hierarchy": {"fine_names": ["a", "b", "c"], "coarse_names": ["rare", "common"],
                                 "fine_to_coarse": [0, 0, 1]},
                   "source": {"path": "/data/pets"}, "build_seconds": 12.0}, f)
    return runs_dir


def test_the_study_report_is_written_for_a_study_plan(study_dir):
    path = report.write_report(study_dir)
    with open(path) as f:
        text = f.read()
    assert text.startswith("# lg study: do fine labels give pets a better coarse classifier?")
    answer = text.split("## The answer", 1)[1].split("\n## ", 1)[0]
    assert "ΔA = A_FC - A_CC = +0.10 [" in answer and "(n=3)" in answer
    assert "No clear effect: the interval covers 0" in answer
    assert "equivalent: the 90% interval [" in answer and "lies inside ±0.50 points" in answer
    # Imbalanced coarse classes: balanced accuracy, and ΔA on it (60/100 vs 40/100 on 'rare').
    assert "on balanced accuracy (the mean of per-class recalls) ΔA = +10.00" in answer
    assert "Balanced coarse accuracy %" in text and "80.00" in text
    assert "| a | rare | 400 | 50 |" in text and "Dataset builds: 0.2 min" in text
    assert "family: images of 32 px" in text and "Command: lg study --dataset x" in text
    assert os.path.isfile(os.path.join(study_dir, "report.html"))
    with open(os.path.join(study_dir, "tables", "verdicts.csv")) as f:
        assert f.readline().strip() == "Claim,Verdict,Evidence,Section"


def test_equivalence_words_for_each_outcome():
    est = report_study.report_stats.estimate
    assert report_study._equivalence(est({0: 0.001}), 0.005).startswith("undecided: one seed")
    assert report_study._equivalence(est({0: 0.020, 1: 0.021, 2: 0.022}), 0.005).startswith(
        "different: the 90% interval")
    assert report_study._equivalence(est({0: -0.01, 1: 0.01, 2: 0.0}), 0.005).startswith(
        "undecided: the 90% interval")
