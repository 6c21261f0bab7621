"""pipelines.planner: shared runs, priority order, the budget, estimates, errors, the printout."""

import dataclasses
import json
import os

import pytest

from lg_keras.config import ModelConfig
from lg_keras.errors import ConfigError
from pipelines import cli, estimates, experiments, plan, planner, profiles, speeds
from pipelines.profiles import PROFILES


def _find(plan, dataset, labels, *, seed=0, fraction=1.0, head="linear"):
    (run,) = [r for r in plan.runs if r.dataset == dataset and r.experiment.data.labels == labels
              and r.experiment.train.seed == seed and r.experiment.data.fraction == fraction
              and r.experiment.model.head == head]
    return run


@pytest.fixture(scope="module")
def cpu_plan():
    return planner.plan("cpu")


def test_experiments_share_runs(cpu_plan):
    assert len(cpu_plan.runs) < planner.independent_run_count("cpu")
    assert len({r.key for r in cpu_plan.runs}) == len(cpu_plan.runs)
    fine = _find(cpu_plan, "cifar10", "fine")
    assert set(experiments.TABLE6_HIERARCHIES) <= set(fine.hierarchies)
    assert {"table1", "fig2", "fig3", "fig4", "fig5", "table6", "table7"} <= set(fine.experiments)
    coarse = _find(cpu_plan, "cifar10", "coarse")  # Table VI row (1), Table VII's A_CC
    assert {"table1", "table6", "table7"} <= set(coarse.experiments) and not coarse.hierarchies
    assert len([r for r in cpu_plan.runs if r.hierarchies]) == 1  # one fine model per seed


def test_runs_come_in_priority_order_with_table1_first(cpu_plan):
    priorities = [r.priority for r in cpu_plan.runs]
    assert priorities == sorted(priorities)
    assert [r.experiment.train.seed for r in cpu_plan.runs[:6]] == [0, 0, 1, 1, 2, 2]
    assert all(r.dataset == "cifar10" for r in cpu_plan.runs[:6])


def test_the_budget_is_respected_and_drops_whole_groups_lowest_priority_first():
    plan = planner.plan("cpu", imagenet_available=True)
    assert plan.estimated_seconds <= plan.budget_seconds == 10 * 3600
    dropped = [what for what, reason in plan.skipped if "budget" in reason]
    assert dropped and not any("imagenet" in what and "table1" in what for what in dropped)
    assert {r.dataset for r in plan.runs} >= {"imagenet_dogcat", "imagenet_fruitveg"}
    tight = planner.plan("cpu", ["table1", "table4"], budget_hours=1.0)
    assert tight.estimated_seconds <= 3600 and "table4" not in {
        e for r in tight.runs for e in r.experiments if len(r.experiments) == 1}
    labels = [(r.dataset, r.experiment.data.labels, r.experiment.train.seed) for r in tight.runs]
    assert len(labels) % 2 == 0  # fine/coarse pairs are never split
    unlimited = planner.plan("cpu", budget_hours=None)
    assert unlimited.budget_seconds is None and len(unlimited.runs) >= len(plan.runs)


def test_smoke_covers_every_experiment_in_minutes():
    plan = planner.plan("smoke")
    assert set(plan.experiments) == set(experiments.experiment_names())
    assert plan.estimated_seconds < 15 * 60 and not [s for s in plan.skipped if "budget" in s[1]]
    assert all(r.estimated_seconds < 60 for r in plan.runs)


def test_unavailable_imagenet_is_skipped_with_how_to_provide_it():
    plan = planner.plan("smoke", ["table5"])
    assert {r.dataset for r in plan.runs} == {"cifar10"}
    reasons = dict(plan.skipped)
    assert "--data-dir DIR" in reasons["imagenet_dogcat"] and "ILSVRC2012" in reasons[
        "imagenet_fruitveg"]
    with_imagenet = planner.plan("smoke", ["table5"], imagenet_available=True)
    assert len(with_imagenet.runs) == 3 * len(plan.runs)


def test_find_imagenet_looks_at_the_source_layouts(tmp_path):
    assert planner.find_imagenet([str(tmp_path)], str(tmp_path / "tfds")) is None
    os.makedirs(tmp_path / "imagenet" / "train")
    assert planner.find_imagenet([str(tmp_path)]) == str(tmp_path / "imagenet")
    manual = tmp_path / "tfds" / "downloads" / "manual"
    os.makedirs(manual)
    for name in ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar"):
        (manual / name).write_bytes(b"")
    assert planner.find_imagenet([], str(tmp_path / "tfds")) == str(manual)


def test_bad_names_are_errors_listing_the_choices():
    with pytest.raises(ConfigError, match=r"Unknown experiment 'tabel1' in --only\. Available: "
                                          r"table1, fig2"):
        planner.plan("cpu", ["table1,tabel1"])
    with pytest.raises(ConfigError, match="Unknown profile 'fast'"):
        planner.plan("fast")
    with pytest.raises(ConfigError, match=r"Unknown dataset 'cifar1000' in --datasets.*cifar10"):
        planner.plan("cpu", ["table1"], datasets=["cifar1000"])
    with pytest.raises(ConfigError, match="--budget-hours must be > 0"):
        planner.plan("cpu", budget_hours=0)


def test_datasets_filter_and_only_select_runs():
    plan = planner.plan("smoke", ["table1", "table7"], datasets=["cifar10"])
    assert {r.dataset for r in plan.runs} == {"cifar10"} and len(plan.runs) == 6
    assert [d.key for d in plan.datasets] == ["cifar10"]
    assert list(plan.experiments) == ["table1", "table7"]


def test_datasets_filter_keeps_derived_cluster_datasets():
    plan = planner.plan("cpu", ["cluster_labels"], datasets=["cifar10"], budget_hours=None)
    assert {r.dataset for r in plan.runs} == {"cifar10", "cifar10_clusters_seed0"}
    assert sorted(r.experiment.data.labels for r in plan.runs) == [
        "coarse", "fine", "fine_cluster_10", "fine_cluster_2", "fine_cluster_5"]


def test_estimates_match_the_measured_speeds():
    cpu_run = _find(planner.plan("cpu", ["table1"]), "cifar10", "fine")
    # Measured: about 18 min in float32, 13 min in mixed bfloat16 (AMX).
    minutes = (11, 15) if profiles.CPU_MIXED_PRECISION == "bfloat16" else (15, 22)
    assert minutes[0] * 60 < cpu_run.estimated_seconds < minutes[1] * 60
    assert estimates.train_images_per_second(ModelConfig(width=16), 32, "bfloat16") == (
        pytest.approx(speeds.BFLOAT16_SPEEDUP * speeds.THIN_TRAIN_IMAGES_PER_S))
    assert estimates.train_images_per_second(ModelConfig(width=64), 32) == pytest.approx(80)
    assert estimates.train_images_per_second(ModelConfig(width=16), 64) == pytest.approx(160)
    wide = ModelConfig(name="wide_resnet", depth=28, widen_factor=10)
    assert estimates.train_images_per_second(wide, 32) < 20


def test_the_plan_prints_and_serialises(cpu_plan):
    text = planner.format_plan(cpu_plan)
    assert f"{len(cpu_plan.runs)} runs" in text and "budget 10.0 h" in text
    assert "Trimmed relative to the paper profile" in text and "Skipped:" in text
    data = json.loads(json.dumps(cpu_plan.to_dict()))
    assert len(data["runs"]) == len(cpu_plan.runs) and data["notes"] == list(cpu_plan.notes)
    assert data["experiments"]["table1"]["command"] == "lg reproduce --profile cpu --only table1"


def test_the_paper_plan_runs_everything_three_times():
    plan = planner.plan("paper", imagenet_available=True)
    assert plan.budget_seconds is None and not plan.skipped
    fine = _find(plan, "imagenet_dogcat", "fine", seed=2, fraction=0.4)
    assert fine.experiment.epochs_to_run() == 562  # the authors' int(225 // 0.4)
    assert len(plan.runs) < planner.independent_run_count("paper", imagenet_available=True)
    assert PROFILES["paper"].seeds == 3


def test_dry_run_prints_the_plan(capsys):
    assert cli.main(["reproduce", "--profile", "smoke", "--only", "table8", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Plan 'smoke': 8 runs on 4 dataset builds" in out and "cifar100_15" in out
    assert cli.main(["reproduce", "--only", "nope", "--dry-run"]) == 2
    assert "Available: table1" in capsys.readouterr().err


def test_config_hashes_stay_stable_when_a_late_field_is_at_its_default():
    """`model.final_norm` was added after runs were recorded: at its default the hash is what it
    was before (so finished runs are kept); set, it changes."""
    from lg_keras.config import ExperimentConfig
    from lg_keras.config_io import config_hash
    cfg = ExperimentConfig()
    assert config_hash(cfg) == "b99024e3375b71c0"  # recorded before final_norm existed
    authors = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, final_norm=False))
    assert config_hash(authors) != config_hash(cfg)
    with pytest.raises(ConfigError, match="model.final_norm can be false only for preact"):
        ModelConfig(name="wide_resnet", final_norm=False)
    with pytest.raises(ConfigError, match="model.final_norm must be true or false; got 'no'"):
        ModelConfig(final_norm="no")
    assert "(paper: preact_resnet18 width 64 (no final BN)" in planner.format_plan(
        planner.plan("cpu", ["table1"]))


def test_a_request_ranked_below_its_experiment_runs_after_every_higher_priority_group():
    """Table VII's extra seeds (RunRequest.priority 8) come after Table VII's seed-0 runs and,
    in the default plan, after every experiment of priority 7 or less."""
    from pipelines import experiments  # pylint: disable=import-outside-toplevel

    only = planner.plan("cpu", only=["table7"])
    assert [r.experiment.train.seed for r in only.runs] == [0] * 10 + [1] * 5 + [2] * 5
    assert [r.priority for r in only.runs] == [2] * 10 + [experiments.EXTRA_SEED_PRIORITY] * 10
    full = planner.plan("cpu")
    priorities = [r.priority for r in full.runs]
    assert priorities == sorted(priorities) and experiments.EXTRA_SEED_PRIORITY in priorities
    # A run shared with a higher-priority experiment keeps that priority (Table I's coarse seeds).
    coarse = [r for r in only.runs if r.experiment.data.labels == "coarse"]
    assert [r.priority for r in coarse] == [2, 8, 8]
    with_table1 = planner.plan("cpu", only=["table1", "table7"])
    assert sorted(r.priority for r in with_table1.runs if r.dataset == "cifar10"
                  and r.experiment.data.labels == "coarse") == [0, 0, 0]


def test_a_plan_is_made_from_given_experiments_as_from_registry_names():
    """plan_experiments (what `lg study` uses) is plan()'s own merging and ordering: the registry's
    experiments give the same plan, and an unregistered experiment plans like any other."""
    profile = profiles.get_profile("smoke")
    chosen = [experiments.get_experiment(n, profile) for n in ("table1", "fig5")]
    by_name = planner.plan("smoke", ["table1", "fig5"], budget_hours=None)
    given = planner.plan_experiments(profile, chosen, notes=profile.trims())
    assert given.to_dict() == by_name.to_dict() and "study" not in given.to_dict()
    spec = experiments.dataset_spec("cifar10", profile)
    recipe = profile.recipe_for("cifar10")
    mine = plan.Experiment(
        name="mine", title="a user's question", doc="", priority=0,
        runs=tuple(plan.RunRequest(spec, recipe.experiment(labels, seed=seed),
                                   group=f"seed{seed}")
                   for seed in range(2) for labels in ("coarse", "fine")))
    made = planner.plan_experiments(profile, [mine], study={"recipe": ["rule: chose this"]})
    assert [(r.experiment.data.labels, r.experiment.train.seed) for r in made.runs] == [
        ("coarse", 0), ("fine", 0), ("coarse", 1), ("fine", 1)]
    assert made.runs[1].key == _find(by_name, "cifar10", "fine").key  # shared, same key
    assert made.to_dict()["study"] == {"recipe": ["rule: chose this"]}
    text = planner.format_plan(made)
    assert "Recipe (lg study's rule" in text and "rule: chose this" in text
    assert "Recipes (per dataset family)" not in text


def test_a_counted_dataset_size_drives_the_estimates():
    """A spec carrying `source_size` (a user's folder, counted) is estimated by it, and a dataset
    derived from it (its cluster labels) by its parent's."""
    @dataclasses.dataclass(frozen=True)
    class Counted(experiments.DatasetSpec):
        source_size: estimates.SourceSize | None = None

    build = experiments.dataset_spec("cifar10", profiles.get_profile("smoke")).build
    small = Counted("mine", build, "mine", source_size=estimates.SourceSize(10, 2, 32, 240, 2500.0))
    large = dataclasses.replace(small, source_size=estimates.SourceSize(1000, 200, 32, 24_000,
                                                                       2500.0))
    assert estimates.split_sizes(small) == (100, 20)
    assert estimates.estimate_build_seconds(large) > estimates.estimate_build_seconds(small)
    cfg = profiles.get_profile("smoke").cifar10.experiment("fine")
    assert estimates.estimate_run_seconds(cfg, large) > estimates.estimate_run_seconds(cfg, small)
