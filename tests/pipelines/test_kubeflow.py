"""pipelines.kubeflow: every profile compiles to a parseable package; a tiny plan runs locally."""

import collections
import json
import os

import pytest
import yaml

from pipelines import cli, kubeflow, planner
from pipelines.plan import Plan
from tests.conftest import require_copy
from tests.pipelines.test_local_runner import tiny_plan


def _kind(task: dict) -> str:
    return task["componentRef"]["name"].removeprefix("comp-").rstrip("-0123456789")


def _package(path: str) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def _tasks(path: str) -> tuple[collections.Counter, dict]:
    """(task count per component kind, executors) of a compiled package."""
    package = _package(path)
    kinds = collections.Counter(_kind(t) for t in package["root"]["dag"]["tasks"].values())
    return kinds, package["deploymentSpec"]["executors"]


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
    derived = sum(hasattr(d, "features_run") for d in plan.datasets)
    assert kinds["trainer"] == kinds["evaluator"] == len(plan.runs)
    assert kinds["example-gen"] == len(plan.datasets) - derived and kinds["cluster"] == derived
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


def test_a_tiny_plan_runs_under_kfp_local(tmp_path):
    """example_gen, trainer and evaluator in kfp's SubprocessRunner (about a minute)."""
    plan = tiny_plan(str(tmp_path / "data"))
    root = str(tmp_path / "root")
    kubeflow.run_local(plan, root)
    found = {name: os.path.join(d, name) for d, _, files in os.walk(root) for name in files
             if name in ("metrics.json", "dataset.json", "model.keras")}
    assert set(found) == {"metrics.json", "dataset.json", "model.keras"}
    with open(found["metrics.json"]) as f:
        metrics = json.load(f)
    assert list(metrics["by_hierarchy"]) and metrics["config"]["max_embedding_examples"] == 8
    assert isinstance(plan, Plan)


@pytest.mark.slow
def test_run_local_command_on_fashion_mnist(tmp_path, capsys):
    """`lg pipeline run-local --profile smoke --only table1 --datasets fashion_mnist` (minutes)."""
    require_copy("fashion_mnist")
    root = str(tmp_path / "root")
    assert cli.main(["pipeline", "run-local", "--profile", "smoke", "--only", "table1",
                     "--datasets", "fashion_mnist", "--pipeline-root", root,
                     "--no-download"]) == 0
    assert "pipeline finished" in capsys.readouterr().out
    metrics = [os.path.join(d, "metrics.json") for d, _, files in os.walk(root)
               if "metrics.json" in files]
    assert len(metrics) == 2


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
