"""pipelines.kubeflow: every profile compiles to a parseable package ending in the reporter, the
same on any host; the pipeline runs locally and ends in the report."""

import collections
import functools
import json
import os
import re

import pytest
import yaml

from components.reporter.report_runs import load_runs
from lg_keras import machine
from pipelines import cli, kubeflow, planner
from tests.helpers.data_copies import require_copy
from tests.helpers.plans import tiny_plan


def _kind(task: dict) -> str:
    return task["componentRef"]["name"].removeprefix("comp-").rstrip("-0123456789")


@functools.lru_cache(maxsize=2)
def _package(path: str) -> dict:
    """The parsed package, once per path (a paper package takes seconds to parse)."""
    with open(path) as f:
        return yaml.safe_load(f)


def _tasks(path: str) -> tuple[collections.Counter, dict]:
    """(task count per component kind, executors) of a compiled package."""
    package = _package(path)
    kinds = collections.Counter(_kind(t) for t in package["root"]["dag"]["tasks"].values())
    return kinds, package["deploymentSpec"]["executors"]


def _reporter_inputs(path: str) -> tuple[list[str], dict]:
    """(the evaluator task feeding each run_i input, in i order; the plan) of the reporter task."""
    tasks = _package(path)["root"]["dag"]["tasks"]
    (report,) = [t for t in tasks.values() if _kind(t) == "reporter"]
    artifacts = report["inputs"]["artifacts"] if "artifacts" in report["inputs"] else {}
    assert all(a["taskOutputArtifact"]["outputArtifactKey"] == "records"
               for a in artifacts.values())
    producers = [artifacts[f"run_{i}"]["taskOutputArtifact"]["producerTask"]
                 for i in range(len(artifacts))]
    assert all(_kind(tasks[p]) == "evaluator" for p in producers)
    assert sorted(report.get("dependentTasks", [])) == sorted(producers)
    plan = json.loads(report["inputs"]["parameters"]["plan_json"]["runtimeValue"]["constant"])
    return producers, plan


def _configs(path: str, kind: str) -> list[dict]:
    """The config_json constants of the tasks of one kind."""
    tasks = _package(path)["root"]["dag"]["tasks"].values()
    return [json.loads(t["inputs"]["parameters"]["config_json"]["runtimeValue"]["constant"])
            for t in tasks if _kind(t) == kind]


@pytest.mark.parametrize("profile,only", [
    ("smoke", None), ("cpu", ["table1", "table7"]), ("paper", ["table1", "table6"]),
    # Every run: about 130 and 540 tasks, tens of seconds each on 2 busy cores.
    pytest.param("cpu", None, marks=pytest.mark.slow),
    pytest.param("paper", None, marks=pytest.mark.slow),
])
def test_every_profile_compiles_with_one_branch_per_run(profile, only, tmp_path):
    path = str(tmp_path / f"{profile}.yaml")
    plan = kubeflow.compile_pipeline(profile, only, path, "registry.example/lg-keras:1",
                                     imagenet_available=profile == "paper")
    kinds, executors = _tasks(path)
    derived = sum(d.parent is not None for d in plan.datasets)
    assert kinds["trainer"] == kinds["evaluator"] == len(plan.runs)
    assert kinds["example-gen"] == len(plan.datasets) - derived and kinds["cluster"] == derived
    assert kinds["reporter"] == 1
    producers, planned = _reporter_inputs(path)
    assert len(set(producers)) == len(plan.runs)  # every evaluator, once
    assert [r["key"] for r in planned["runs"]] == [r.key for r in plan.runs]
    trainers = [e["container"] for name, e in executors.items() if name.startswith("exec-trainer")]
    assert trainers
    for container in trainers:
        assert container["image"] == "registry.example/lg-keras:1"
        assert container["resources"]["accelerator"]["resourceType"] == kubeflow.GPU_RESOURCE
        assert container["resources"]["accelerator"]["resourceCount"] == "1"
    text = open(path).read()
    assert "pip install" not in text
    if profile == "paper":
        assert {r.dataset for r in plan.runs} >= {"imagenet_dogcat", "imagenet_fruitveg"}
        assert len(plan.runs) > (150 if only is None else 30)
        configs = _configs(path, "trainer")
        assert {c["model"]["width"] for c in configs if c["model"]["name"] == "preact_resnet18"} \
            == {16, 64}
        assert {c["data"]["image_size"] for c in configs} == {0, 224}


def test_the_evaluator_tasks_carry_the_table6_hierarchies(tmp_path):
    path = str(tmp_path / "table6.yaml")
    plan = kubeflow.compile_pipeline("smoke", ["table6"], path)
    hierarchies = [c["hierarchies"] for c in _configs(path, "evaluator")]
    assert sorted(map(len, hierarchies)) == [0, 0, 10] and len(plan.runs) == 3


def test_compile_command(tmp_path, capsys):
    out = str(tmp_path / "p.yaml")
    assert cli.main(["pipeline", "compile", "--profile", "smoke", "--only", "table1,table8",
                     "--out", out, "--image", "r/lg:2"]) == 0
    assert "trainer (1 GPU each)" in capsys.readouterr().out
    kinds, _ = _tasks(out)
    assert kinds["trainer"] == len(planner.plan("smoke", ["table1", "table8"]).runs)


def test_compile_study_emits_lg_study_as_a_pipeline_that_ends_in_its_report(tmp_path, capsys):
    """`lg pipeline compile --study`: the study's plan (the same as `lg study` makes) as tasks."""
    from pipelines import make_example_folder, study  # pylint: disable=import-outside-toplevel

    folder, hierarchy = make_example_folder.write_example_folder(str(tmp_path / "shapes"),
                                                                 per_class=10, size=8)
    out = str(tmp_path / "study.yaml")
    assert cli.main(["pipeline", "compile", "--study", "--dataset", f"folder:{folder}",
                     "--hierarchy", hierarchy, "--profile", "smoke", "--seeds", "2",
                     "--out", out]) == 0
    assert "trainer (1 GPU each)" in capsys.readouterr().out
    kinds, _ = _tasks(out)
    assert (kinds["example-gen"], kinds["trainer"], kinds["evaluator"], kinds["reporter"]) == (
        1, 4, 4, 1)
    producers, plan = _reporter_inputs(out)
    assert len(producers) == 4 and plan["study"]["seeds"] == 2
    local, _, _ = study.plan_study(f"folder:{folder}", hierarchy, profile="smoke", seeds=2)
    assert [r["key"] for r in plan["runs"]] == [r.key for r in local.runs]
    (build,) = [json.loads(t["inputs"]["parameters"]["build_json"]["runtimeValue"]["constant"])
                for t in _package(out)["root"]["dag"]["tasks"].values()
                if _kind(t) == "example-gen"]
    assert build["dataset"] == f"folder:{folder}" and build["test_fraction"] > 0
    # A study needs its dataset and hierarchy: one error line, nothing written.
    os.remove(out)
    assert cli.main(["pipeline", "compile", "--study", "--profile", "smoke", "--out", out]) != 0
    assert "needs --dataset and --hierarchy" in capsys.readouterr().err
    assert not os.path.exists(out)


def _evaluator_metrics(root: str) -> list[str]:
    """The metrics.json of each evaluator task under a kfp.local pipeline root (the records
    outputs and the report directory hold copies)."""
    return [os.path.join(d, "metrics.json") for d, _, files in os.walk(root)
            if "metrics.json" in files and os.path.basename(d) == "metrics"]


@pytest.mark.slow
def test_a_tiny_plan_runs_under_kfp_local(tmp_path):
    """example_gen, trainer, evaluator (with a Table VI hierarchy) and reporter in kfp's
    SubprocessRunner on a generated folder (about a minute; the fast suite runs CIFAR-10's
    command below instead)."""
    plan = tiny_plan(str(tmp_path / "data"))
    root = str(tmp_path / "root")
    kubeflow.run_local(plan, root)
    found = {name: os.path.join(d, name) for d, _, files in os.walk(root) for name in files
             if name in ("dataset.json", "model.keras")}
    assert set(found) == {"dataset.json", "model.keras"}
    (metrics_path,) = _evaluator_metrics(root)
    with open(metrics_path) as f:
        metrics = json.load(f)
    assert list(metrics["by_hierarchy"]) and metrics["config"]["max_embedding_examples"] == 8
    runs = load_runs(kubeflow.report_dir(root, "smoke"))
    assert list(runs["run_key"]) == [plan.runs[0].key] and list(runs["status"]) == ["done"]


def test_run_local_command_on_cifar10_ends_in_the_report(shared_data_dir, tmp_path, capsys):
    """`lg pipeline run-local --profile smoke --only table1 --datasets cifar10` on the real
    CIFAR-10: one build, two runs, the report under the pipeline root with a number for every
    planned run (about 2.5 min on 2 busy cores: each task is a fresh Python process)."""
    root = str(tmp_path / "root")
    assert cli.main(["pipeline", "run-local", "--profile", "smoke", "--only", "table1",
                     "--datasets", "cifar10", "--pipeline-root", root, "--data-dir",
                     shared_data_dir, "--no-download"]) == 0
    out = capsys.readouterr().out
    report = kubeflow.report_dir(root, "smoke")
    assert f"report: {os.path.join(report, 'report.md')}" in out
    assert report.startswith(root + os.sep)
    planned = planner.plan("smoke", ["table1"], datasets=["cifar10"]).runs
    assert len(_evaluator_metrics(root)) == len(planned) == 2
    runs = load_runs(report)  # the report directory is a runs directory of records
    assert sorted(runs["run_key"]) == sorted(r.key for r in planned)
    assert (runs["status"] == "done").all() and runs["coarse_test_accuracy"].notna().all()
    assert set(runs["precision"]) == {"float32"}  # 'auto' on a CPU, as the trainer recorded it
    with open(os.path.join(report, "report.md"), encoding="utf-8") as f:
        text = f.read()
    table1 = text.split("## Table I:", 1)[1].split("\n## ", 1)[0]
    for labels in ("fine", "coarse"):
        assert re.search(rf"\| CIFAR-10 \| {labels} \|.*\| \d+\.\d\d \(one seed\) \|", table1)
    runs_table = text.split("\n## Runs\n", 1)[1].split("\n## ", 1)[0]
    for run in planned:
        assert re.search(rf"\| {run.key} \|.*\| float32 \|.*\| done \| \d", runs_table)
    task = os.path.dirname(report)  # the reporter task's other outputs, as the UI shows them
    with open(os.path.join(task, "markdown"), encoding="utf-8") as f:
        assert f.read() == text
    with open(os.path.join(task, "html"), encoding="utf-8") as f:
        assert "src='data:image/png;base64," in f.read()
    assert "table1.csv" in os.listdir(os.path.join(task, "tables"))
    assert "fig2.png" in os.listdir(os.path.join(task, "figures"))


@pytest.mark.slow
def test_run_local_command_on_fashion_mnist(tmp_path, capsys):
    """`lg pipeline run-local --profile smoke --only table1 --datasets fashion_mnist` (minutes)."""
    require_copy("fashion_mnist")
    root = str(tmp_path / "root")
    assert cli.main(["pipeline", "run-local", "--profile", "smoke", "--only", "table1",
                     "--datasets", "fashion_mnist", "--pipeline-root", root,
                     "--no-download"]) == 0
    assert "pipeline finished" in capsys.readouterr().out
    assert len(_evaluator_metrics(root)) == 2
    assert kubeflow.report_dir(root, "smoke")


def test_paper_compile_writes_the_authors_recipe_into_every_trainer(tmp_path, capsys):
    """`lg pipeline compile --profile paper --with-imagenet`: batch, milestones, epochs and
    weight decay per family, as the authors' scripts (tests/pipelines/test_profiles.py)."""
    out = str(tmp_path / "paper.yaml")
    assert cli.main(["pipeline", "compile", "--profile", "paper", "--with-imagenet", "--only",
                     "table1,fig2", "--out", out]) == 0
    capsys.readouterr()
    expected = {  # family -> (batch, milestones, epochs, weight decay)
        "preact_resnet18/64": (256, [[150, 0.1]], 200, 5e-4),
        "wide_resnet/10": (128, [[60, 0.2], [120, 0.2], [160, 0.2]], 200, 5e-4),
        "preact_resnet18/16": (32, [[90, 0.1], [135, 0.1], [180, 0.1], [210, 0.1]], 225, 1e-4)}
    seen = collections.Counter()
    for c in _configs(out, "trainer"):
        m, t = c["model"], c["train"]
        family = f"{m['name']}/{m['width'] if m['name'] == 'preact_resnet18' else m['widen_factor']}"
        assert (c["data"]["batch_size"], t["lr_milestones"], t["epochs"], m["weight_decay"]) \
            == expected[family]
        assert (t["schedule"], t["epoch_rounding"], t["restart_momentum"], m["init"]) == \
            ("milestones", "floor", True, "authors")
        seen[family] += 1
    assert set(seen) == set(expected)
    producers, planned = _reporter_inputs(out)  # the pipeline ends in the report
    assert len(producers) == len(planned["runs"]) == sum(seen.values())
    assert {r["dataset"] for r in planned["runs"]} >= {"cifar10", "imagenet_dogcat"}


@pytest.mark.parametrize("only", [["table1"], ["table1", "table7"]])
def test_compiling_does_not_ask_the_host_about_bfloat16(tmp_path, monkeypatch, only):
    """The cpu profile compiles to the same package whatever this machine's CPU computes: its
    runs carry 'native_bfloat16', which the trainer decides where it runs."""
    texts = []
    for native in (True, False):
        monkeypatch.setattr(machine, "native_bfloat16", lambda *_, native=native: native)
        path = str(tmp_path / f"cpu-{native}.yaml")
        kubeflow.compile_pipeline("cpu", only, path)
        with open(path) as f:
            texts.append(f.read())
    assert texts[0] == texts[1]
    assert {c["train"]["mixed_precision"] for c in _configs(path, "trainer")} == {
        "native_bfloat16"}
    _, planned = _reporter_inputs(path)
    assert {r["experiment"]["train"]["mixed_precision"] for r in planned["runs"]} == {
        "native_bfloat16"}
