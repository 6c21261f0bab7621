"""The dataset table, the source table and the model registry: one entry adds a dataset or a
model to every layer; an unknown name is an error listing the known ones; and every run keeps
its hash.

Frozen data (tests/data/):
- plan_hashes.json: run key -> config hash and build hash of every run of the smoke, cpu and
  paper plans (ImageNet available, no budget), and the run keys of the budgeted cpu plan with
  and without ImageNet ('cpu_budgeted', 'cpu_budgeted_imagenet'), mixed_precision
  'native_bfloat16' resolved to 'bfloat16'; written by the planner before the tables existed
  (commit a210897, the parent of the model registry's commit).
- cpu_plan.json: results/cpu/plan.json as committed at 77c92c9 (20 runs, 17 of them done).
"""

import dataclasses
import json
import os
import types

import pytest

from lg_keras import dataset_table, models
from lg_keras.config import BuildConfig, ModelConfig
from lg_keras.config_io import config_hash, to_dict
from lg_keras.errors import ConfigError
from lg_keras.sources import catalog
from pipelines import estimates, experiments, planner, profiles
from pipelines.plan import Experiment, RunRequest

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data")


@pytest.fixture
def host_bfloat16(monkeypatch):
    """Plans as the machine that wrote the frozen plans did: 'native_bfloat16' -> 'bfloat16'
    (a host fact, so a host without bfloat16 units plans the same configs)."""
    monkeypatch.setattr(profiles, "host_precision", lambda: "bfloat16")


# --------------------------------------------------------------------------- one entry each

def _fake_net_images_per_s(cfg) -> float:
    return 100.0 * cfg.width / 16


@pytest.fixture
def fake_entries():
    """A fake source, a dataset key on it and a fake model, each registered by one call."""
    def layouts(data_dir, tfds_data_dir):
        del tfds_data_dir
        return [catalog.Candidate(os.path.join(data_dir, "fake"), os.path.isdir, None, "folder")]

    catalog.register_source(catalog.SourceEntry(
        "fake_source", "Fake", 10, catalog.SourceSize(200, 40, 16, 2400, 1200.0), layouts,
        "put fake/ in DIR"))
    dataset_table.register_dataset(dataset_table.DatasetEntry(
        "fake_key", "fake_source", "Fake (test)", "cifar100", hierarchy="cifar10"))
    models.register_model("fake_net", models.ModelEntry(
        build=None, train_images_per_s=_fake_net_images_per_s,
        describe=lambda cfg: f"fake_net width {cfg.width}"))
    yield
    models.unregister_model("fake_net")
    dataset_table.unregister_dataset("fake_key")
    catalog.unregister_source("fake_source")


def test_a_fake_dataset_and_a_fake_model_run_through_the_planner(fake_entries):
    smoke = profiles.get_profile("smoke")
    recipe = dataclasses.replace(smoke.cifar100, model=ModelConfig(name="fake_net", width=8))
    profile = dataclasses.replace(smoke, cifar100=recipe)
    assert profiles.family_of("fake_key") == "cifar100"
    assert "fake_net width 8" in profiles.describe_recipe(profile.recipe_for("fake_key"))
    spec = experiments.dataset_spec("fake_key", profile)
    assert (spec.build.dataset, spec.build.hierarchy, spec.paper_name) == (
        "fake_source", "cifar10", "Fake (test)")
    cfg = profile.recipe_for("fake_key").experiment("fine")
    exp = Experiment("fake", "Fake", "", 0, (RunRequest(spec, cfg, group="g"),))

    plan = planner.plan_experiments(profile, [exp])

    (run,) = plan.runs
    assert run.dataset == "fake_key" and run.experiment.model.name == "fake_net"
    (dataset,) = plan.datasets
    # The source's entry sizes the build (2,400 images at 1,200/s) and the run (10 classes of
    # the smoke cap, 16 px); the model's entry gives the throughput (width 8: 50 images/s).
    assert dataset.estimated_seconds == pytest.approx(estimates.BUILD_OVERHEAD_S + 2.0)
    assert estimates.split_sizes(spec) == (10 * 24, 10 * 10)
    rate = estimates.train_images_per_second(cfg.model, 16, cfg.train.mixed_precision)
    assert rate == pytest.approx(min(50.0 * 4, estimates.MAX_TRAIN_IMAGES_PER_S))
    assert run.estimated_seconds == round(estimates.estimate_run_seconds(cfg, spec), 1)


def test_the_registries_names_are_what_the_config_accepts(fake_entries):
    assert ModelConfig(name="fake_net").name == "fake_net"
    assert "fake_source" in catalog.source_names() and "fake_key" in dataset_table.dataset_keys()
    with pytest.raises(ConfigError, match="Unknown model.name 'resnet50'. Available: "
                                          "preact_resnet18, wide_resnet, fake_net."):
        ModelConfig(name="resnet50")


# --------------------------------------------------------------------------- unknown names

def test_unknown_dataset_key_is_an_error_listing_the_keys():
    cpu = profiles.get_profile("cpu")
    for call in (lambda: profiles.family_of("cifar1000"), lambda: cpu.recipe_for("cifar1000"),
                 lambda: experiments.dataset_spec("cifar1000", cpu)):
        with pytest.raises(ConfigError, match=r"Unknown dataset key 'cifar1000'\. Available: "
                                              r"cifar10, cifar100, cifar100_animals, "):
            call()


def test_unknown_source_is_an_error_in_the_planner_not_a_default_size():
    spec = experiments.dataset_spec("cifar10", profiles.get_profile("smoke"))
    odd = dataclasses.replace(spec, build=BuildConfig(dataset="svhn", hierarchy="cifar10"))
    with pytest.raises(ConfigError, match=r"Unknown dataset 'svhn'\. Available: cifar10, "
                                          r"cifar100, fashion_mnist, imagenet2012, folder:PATH"):
        estimates.estimate_build_seconds(odd)


def test_unknown_model_is_an_error_in_the_planner_not_the_wide_resnet_formula():
    # ModelConfig refuses the name, so a stand-in carries it to the formula lookup.
    odd = types.SimpleNamespace(name="resnet50", width=16, depth=28, widen_factor=10)
    with pytest.raises(ConfigError, match=r"Unknown model 'resnet50'\. Available: "
                                          r"preact_resnet18, wide_resnet\."):
        estimates.train_images_per_second(odd, 32)
    with pytest.raises(ConfigError, match=r"Unknown model.name 'resnet50'"):
        dataclasses.replace(ModelConfig(), name="resnet50")


def test_an_entry_of_an_unknown_family_source_or_noise_kind_is_refused():
    entry = dataset_table.DatasetEntry("odd", "cifar10", "Odd", "svhn")
    with pytest.raises(ConfigError, match=r"Unknown family 'svhn' .*Available: cifar10, "
                                          r"cifar100, imagenet\."):
        dataset_table.register_dataset(entry)
    with pytest.raises(ConfigError, match=r"Unknown dataset 'svhn'\. Available: cifar10, "):
        dataset_table.register_dataset(dataclasses.replace(entry, source="svhn",
                                                           family="cifar10"))
    with pytest.raises(ConfigError, match=r"Unknown noise kind 'across'"):
        dataset_table.register_dataset(dataclasses.replace(entry, family="cifar10",
                                                           noise_kind="across"))
    with pytest.raises(ConfigError, match="registered twice"):
        dataset_table.register_dataset(dataset_table.dataset_entry("cifar10"))
    assert "odd" not in dataset_table.dataset_keys()


def test_every_family_is_a_profile_field_and_every_key_a_hierarchy():
    from lg_keras import hierarchy_files
    fields = {f.name for f in dataclasses.fields(profiles.Profile)}
    for key in dataset_table.dataset_keys():
        entry = dataset_table.dataset_entry(key)
        assert entry.family in fields
        hierarchy_files.load_hierarchy(entry.hierarchy_name)


# --------------------------------------------------------------------------- hashes kept

@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_every_run_keeps_its_key_config_hash_and_build_hash(profile, host_bfloat16):
    with open(os.path.join(DATA, "plan_hashes.json")) as f:
        frozen = json.load(f)[profile]
    plan = planner.plan(profile, imagenet_available=True, budget_hours=None)
    builds = {d.key: d.build_hash for d in plan.datasets}
    now = {r.key: {"config_hash": config_hash(r.experiment), "build_hash": builds[r.dataset]}
           for r in plan.runs}
    assert now == frozen


def test_every_finished_cpu_run_keeps_its_hashes(host_bfloat16):
    with open(os.path.join(DATA, "cpu_plan.json")) as f:
        saved = json.load(f)
    done = [r for r in saved["runs"] if r.get("status") == "done"]
    assert len(done) >= 17
    plan = planner.plan("cpu", imagenet_available=True, budget_hours=None)
    runs = {r.key: r for r in plan.runs}
    builds = {d.key: d.build_hash for d in plan.datasets}
    for old in done:
        new = runs[old["key"]]  # the key ends with the config hash's first 10 digits
        assert old["key"].endswith(config_hash(new.experiment)[:10])
        assert to_dict(new.experiment) == old["experiment"]
        assert builds[new.dataset] == saved["datasets"][old["dataset"]]["build_hash"] == \
            os.path.basename(old["dataset_dir"])


@pytest.mark.parametrize("imagenet", [False, True])
def test_the_budgeted_cpu_plan_holds_the_same_runs_in_the_same_order(imagenet, host_bfloat16):
    """The budget cut too: the cpu plan as `lg reproduce` makes it, with and without ImageNet."""
    with open(os.path.join(DATA, "plan_hashes.json")) as f:
        frozen = json.load(f)["cpu_budgeted" + ("_imagenet" if imagenet else "")]
    plan = planner.plan("cpu", imagenet_available=imagenet)
    assert [r.key for r in plan.runs] == frozen
