"""pipelines.study: `lg study` plans a user's dataset as one more experiment of the planner, and
runs it end to end like `lg reproduce` (the README's example folder, smoke size, two seeds)."""

import json
import os
import re

import pytest

from lg_keras import run_files
from pipelines import cli, estimates, make_example_folder, study


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """The README's example folder at test size: 4 classes x 20 images of 8 px, no test split
    (even counts in every split: width-4 networks need even batches on oneDNN, profiles.py)."""
    return make_example_folder.write_example_folder(str(tmp_path_factory.mktemp("shapes")),
                                                    per_class=20, size=8)


@pytest.fixture(scope="module")
def studied(shapes, tmp_path_factory):
    """`lg study --profile smoke --seeds 2` run once: (runs dir, stdout of the run)."""
    folder, hierarchy = shapes
    out = str(tmp_path_factory.mktemp("study") / "runs")
    assert cli.main(["study", "--dataset", f"folder:{folder}", "--hierarchy", hierarchy,
                     "--profile", "smoke", "--seeds", "2", "--out", out]) == 0
    return out


def test_the_example_folder_is_seeded_and_learnable_in_principle(tmp_path):
    a = make_example_folder.write_example_folder(str(tmp_path / "a"), per_class=3, size=12)
    b = make_example_folder.write_example_folder(str(tmp_path / "b"), per_class=3, size=12)
    names = sorted(os.listdir(a[0]))
    assert names == ["cross", "disc", "ring", "square"]
    for name in names:
        for f in os.listdir(os.path.join(a[0], name)):
            with open(os.path.join(a[0], name, f), "rb") as x, \
                    open(os.path.join(b[0], name, f), "rb") as y:
                assert x.read() == y.read()
    with open(a[1]) as f:
        assert "round: [disc, ring]" in f.read()


def test_the_plan_is_the_planners_with_the_rule_and_counted_estimates(shapes, tmp_path):
    folder, hierarchy = shapes
    plan, survey, choice = study.plan_study(f"folder:{folder}", hierarchy, profile="cpu",
                                            seeds=3, fractions=(0.5, 1.0), clusters=(2, 3))
    labels = [(r.dataset, r.experiment.data.labels, r.experiment.data.fraction,
               r.experiment.train.seed) for r in plan.runs]
    assert labels[:6] == [("shapes", l, 1.0, s) for s in range(3) for l in ("coarse", "fine")]
    assert ("shapes_clusters_seed1", "fine_cluster_3", 1.0, 1) in labels
    assert sum(f == 0.5 for _, _, f, _ in labels) == 6 and len(labels) == 18
    assert {d.key for d in plan.datasets} == {"shapes", *(f"shapes_clusters_seed{s}"
                                                          for s in range(3))}
    assert plan.datasets[0].build.test_fraction == 0.2 == survey.test_fraction
    assert all(r.experiment.train.epochs == choice.recipe.train.epochs == 120 for r in plan.runs)
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["study"]["margin"] == pytest.approx(0.005) and data["study"]["dataset"] == "shapes"
    # The estimate counts the folder's images: four times the images, more time.
    bigger = make_example_folder.write_example_folder(str(tmp_path), per_class=80, size=8)
    big, _, _ = study.plan_study(f"folder:{bigger[0]}", bigger[1], profile="smoke", seeds=2)
    small, _, _ = study.plan_study(f"folder:{folder}", hierarchy, profile="smoke", seeds=2)
    assert big.datasets[0].estimated_seconds > small.datasets[0].estimated_seconds
    assert estimates.split_sizes(small.datasets[0]) == (64, 16)


def test_dry_run_prints_the_rule_and_the_estimate_and_builds_nothing(shapes, tmp_path, capsys):
    folder, hierarchy = shapes
    out = tmp_path / "runs"
    assert cli.main(["study", "--dataset", f"folder:{folder}", "--hierarchy", hierarchy,
                     "--profile", "smoke", "--seeds", "2", "--dry-run", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"Plan 'smoke': 4 runs on 1 dataset builds, estimated \d+ s", text)
    assert "Recipe (lg study's rule" in text and "images of 8 px <= 64 px" in text
    assert "64 training images at batch 32 = 2 steps per epoch" in text
    assert "test split held out: 0.2 of each class" in text and not out.exists()
    for bad, message in ((["--seeds", "0"], "--seeds must be"),
                         (["--fractions", "0,1"], "--fractions must be"),
                         (["--clusters", "1"], "--clusters must be"),
                         (["--margin", "-1"], "--margin must be")):
        assert cli.main(["study", "--dataset", f"folder:{folder}", "--hierarchy", hierarchy,
                         "--dry-run", *bad]) == 2
        assert message in capsys.readouterr().err


def test_lg_study_writes_the_report_with_delta_a_and_its_interval(studied):
    with open(os.path.join(studied, "report.md")) as f:
        report = f.read()
    answer = report.split("## The answer", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"ΔA = A_FC - A_CC = [+-]\d+\.\d\d \[[+-]\d+\.\d\d, [+-]\d+\.\d\d\] \(n=2\)",
                     answer), answer
    assert "Equivalence at the margin of ±0.5 points" in answer
    for section in ("## Accuracies", "## lg advise", "## Figures", "## The dataset",
                    "## The recipe (lg study's rule)", "## Time", "## Runs"):
        assert section in report
    assert "McNemar" in report and "ACR" in report and "Fine test accuracy" in report
    assert "held out of ./ with test_fraction 0.2 and seed 0" in report
    for name in ("study_confusion_fine.png", "study_tsne_fine.png", "study_tsne_coarse.png"):
        assert os.path.isfile(os.path.join(studied, "figures", name))
    assert os.path.isfile(os.path.join(studied, "report.html"))
    with open(os.path.join(studied, "tables", "verdicts.csv")) as f:
        assert "fine labels (the hierarchy's) beat coarse labels" in f.read()
    with open(os.path.join(studied, "plan.json")) as f:
        book = json.load(f)
    assert [r["status"] for r in book["runs"]] == ["done"] * 4
    with open(os.path.join(studied, book["datasets"]["shapes"]["dataset_dir"],
                           "dataset.json")) as f:
        meta = json.load(f)
    assert meta["source"]["held_out"]["test_fraction"] == 0.2
    assert meta["counts"]["test"]["fine"] == dict.fromkeys(["cross", "disc", "ring", "square"], 4)


def test_a_rerun_resumes_and_a_running_study_is_locked(studied, shapes, capsys):
    folder, hierarchy = shapes
    argv = ["study", "--dataset", f"folder:{folder}", "--hierarchy", hierarchy,
            "--profile", "smoke", "--seeds", "2", "--out", studied]
    capsys.readouterr()
    assert cli.main(argv) == 0
    assert "4 of 4 runs done (0 computed now)" in capsys.readouterr().out
    lock = studied + ".lock"
    with open(lock, "w") as f:
        f.write("1")  # pid 1 is alive: another process holds RUNS_DIR
    try:
        assert cli.main(argv) == 2
    finally:
        os.remove(lock)
    assert "is in use by another process" in capsys.readouterr().err
    assert run_files.PLAN_FILE in os.listdir(studied)
    assert cli.main(["report", studied]) == 0 and cli.main(["advise", studied]) == 0
    assert "full training data" in capsys.readouterr().out
