"""Pins of every `cpu`-profile run and dataset build: hours of CPU that new config fields must
not rename.

A run's directory is named by its key (dataset key + hash of its config without the dataset
path) and a build's by its build hash; the runner skips a finished run only when they match. So
each field added to `BuildConfig` or `ExperimentConfig` must enter through `HASHED_WHEN_DEFAULT`
at a default that keeps today's behaviour, and the `cpu` profile must keep its recipes. If one of
these tests fails, a change renamed finished runs: fix the change, never the pins.

The finished runs trained in mixed bfloat16, which the `cpu` profile chooses on CPUs that compute
it natively (this machine's kind); the pins hold for that choice on any host.
"""

import dataclasses

import pytest

from lg_keras.config import BuildConfig, DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lg_keras.config_io import HASHED_WHEN_DEFAULT, config_hash
from lg_keras.errors import ConfigError
from pipelines import planner, profiles

DEFAULT_BUILD_HASH = "73fe5b3d46300afc"

BUILD_HASHES = {
    'cifar10': '01dd217a53dbd696',
    'cifar100': 'e780f69864e82fbb',
    'cifar100_animals': 'e25ca14736c5a80d',
    'imagenet_dogcat': '3ef1fa74af79a879',
    'imagenet_fruitveg': '9ff64da18d4b67f9',
    'fashion_mnist': '7f575ff6a09e9e55',
    'cifar10_custom_2': '53a5b3cbc4b19cd9',
    'cifar10_custom_3': '39f4763f6f080921',
    'cifar10_custom_4': 'dac808b23d9d5a0d',
    'cifar10_custom_5': 'b74c8c135492a0f7',
    'cifar10_custom_6': 'a67fabf153792bfc',
    'cifar10_custom_7': 'f307439059f8de9e',
    'cifar10_custom_8': '7777a80c08c91077',
    'cifar10_custom_9': '4f2f064eedaeb993',
    'cifar10_custom_10': '5a0bc683244fb568',
    'cifar100_5': '2e1616d3f3bda6ab',
    'cifar100_15': 'd0f20dbe56812fcd',
    'cifar10_clusters_seed0': '1cedbec74765a1c2',
    'cifar100_clusters_seed0': '0ebd5f845bc4e1a6',
}
RUN_HASHES = {
    'cifar10-fine-19f33c4996': '19f33c4996844eb0',
    'cifar10-coarse-8147bcdbf0': '8147bcdbf0a57e3f',
    'cifar10-fine-717b334104': '717b334104ad9ab5',
    'cifar10-coarse-8616120744': '86161207440b368e',
    'cifar10-fine-9fe10eeb63': '9fe10eeb63ee883c',
    'cifar10-coarse-94d8a4ffda': '94d8a4ffda9e0264',
    'cifar100-fine-19f33c4996': '19f33c4996844eb0',
    'cifar100-coarse-8147bcdbf0': '8147bcdbf0a57e3f',
    'cifar100_animals-fine-19f33c4996': '19f33c4996844eb0',
    'cifar100_animals-coarse-8147bcdbf0': '8147bcdbf0a57e3f',
    'imagenet_dogcat-fine-665a555363': '665a5553637d71fe',
    'imagenet_dogcat-coarse-e09a2d1ecd': 'e09a2d1ecd444d3e',
    'imagenet_fruitveg-fine-665a555363': '665a5553637d71fe',
    'imagenet_fruitveg-coarse-e09a2d1ecd': 'e09a2d1ecd444d3e',
    'fashion_mnist-fine-19f33c4996': '19f33c4996844eb0',
    'fashion_mnist-coarse-8147bcdbf0': '8147bcdbf0a57e3f',
    'cifar10_custom_2-coarse-8147bcdbf0': '8147bcdbf0a57e3f',
    'cifar10_custom_3-coarse-8147bcdbf0': '8147bcdbf0a57e3f',
    'cifar10_custom_4-coarse-8147bcdbf0': '8147bcdbf0a57e3f',
    'cifar10_custom_5-coarse-8147bcdbf0': '8147bcdbf0a57e3f',
    'cifar10_custom_6-coarse-8147bcdbf0': '8147bcdbf0a57e3f',
    'cifar10_custom_7-coarse-8147bcdbf0': '8147bcdbf0a57e3f',
    'cifar10_custom_8-coarse-8147bcdbf0': '8147bcdbf0a57e3f',
    'cifar10_custom_9-coarse-8147bcdbf0': '8147bcdbf0a57e3f',
    'cifar10_custom_10-coarse-8147bcdbf0': '8147bcdbf0a57e3f',
    'cifar10-fine_noise_0.01-eef991b459': 'eef991b4593c458d',
    'cifar10-fine_noise_0.03-349f10ab15': '349f10ab1553eb01',
    'cifar10-fine_noise_0.1-c0c863894a': 'c0c863894a4e2dd7',
    'cifar10-fine_noise_0.3-8e45c5efb9': '8e45c5efb9035017',
    'cifar100_5-fine-19f33c4996': '19f33c4996844eb0',
    'cifar100_5-coarse-8147bcdbf0': '8147bcdbf0a57e3f',
    'cifar100_15-fine-19f33c4996': '19f33c4996844eb0',
    'cifar100_15-coarse-8147bcdbf0': '8147bcdbf0a57e3f',
    'cifar10-fine-ce57fe473b': 'ce57fe473b609d97',
    'cifar10-coarse-f4e4a1b2a4': 'f4e4a1b2a4771d26',
    'cifar10-fine-f637328bed': 'f637328bedebe4b6',
    'cifar10-coarse-3a3ba189d1': '3a3ba189d1380efe',
    'cifar10-coarse-20da4c3601': '20da4c3601db06b1',
    'cifar100-coarse-20da4c3601': '20da4c3601db06b1',
    'cifar100_animals-coarse-20da4c3601': '20da4c3601db06b1',
    'imagenet_dogcat-coarse-b478a86599': 'b478a865998d8d3b',
    'imagenet_fruitveg-coarse-b478a86599': 'b478a865998d8d3b',
    'cifar10-fine-f7507d17c4': 'f7507d17c42239a9',
    'cifar10-coarse-d5de40325e': 'd5de40325e93307a',
    'imagenet_dogcat-fine-b455ad164a': 'b455ad164a354078',
    'imagenet_dogcat-coarse-6780652bc7': '6780652bc7c1b28e',
    'imagenet_fruitveg-fine-b455ad164a': 'b455ad164a354078',
    'imagenet_fruitveg-coarse-6780652bc7': '6780652bc7c1b28e',
    'cifar10_clusters_seed0-fine_cluster_2-b628dffec4': 'b628dffec47d8ffa',
    'cifar10_clusters_seed0-fine_cluster_5-c5b937b42c': 'c5b937b42cf071f0',
    'cifar10_clusters_seed0-fine_cluster_10-ed489d0d4b': 'ed489d0d4b5f932f',
    'cifar100_clusters_seed0-fine_cluster_2-b628dffec4': 'b628dffec47d8ffa',
    'cifar100_clusters_seed0-fine_cluster_5-c5b937b42c': 'c5b937b42cf071f0',
    'cifar100_clusters_seed0-fine_cluster_10-ed489d0d4b': 'ed489d0d4b5f932f',
}


# Added by issue 14 (Table VII's launched noise and extra seeds, Table I/VIII claim seeds, the
# memorisation check): pinned from their first commit, so later changes keep them too.
ADDED_BUILD_HASHES = {'cifar10_launched': '501c00bef475bc1e'}
ADDED_RUN_HASHES = {
    'cifar10_launched-fine_noise_launched_0.01-a0336bbc4b': 'a0336bbc4beda787',
    'cifar10_launched-fine_noise_launched_0.03-7ab40d26f3': '7ab40d26f3136d95',
    'cifar10_launched-fine_noise_launched_0.1-671a425ce3': '671a425ce3c9e899',
    'cifar10_launched-fine_noise_launched_0.3-771f48bbc1': '771f48bbc19534c8',
    'cifar100-fine-717b334104': '717b334104ad9ab5',
    'cifar100-coarse-8616120744': '86161207440b368e',
    'cifar100_animals-fine-717b334104': '717b334104ad9ab5',
    'cifar100_animals-coarse-8616120744': '86161207440b368e',
    'cifar100-fine-9fe10eeb63': '9fe10eeb63ee883c',
    'cifar100-coarse-94d8a4ffda': '94d8a4ffda9e0264',
    'cifar100_animals-fine-9fe10eeb63': '9fe10eeb63ee883c',
    'cifar100_animals-coarse-94d8a4ffda': '94d8a4ffda9e0264',
    'cifar10-fine_noise_0.1-dd3e7a42b3': 'dd3e7a42b3825d71',
    'cifar10-fine_noise_0.3-eb72505001': 'eb72505001302955',
    'cifar10_launched-fine_noise_launched_0.1-aa9ac4ac83': 'aa9ac4ac83d734ae',
    'cifar10_launched-fine_noise_launched_0.3-82e0063d54': '82e0063d54990c57',
    'cifar10-fine_noise_0.1-d787525f86': 'd787525f8645a0d0',
    'cifar10-fine_noise_0.3-103c7f5e17': '103c7f5e175df1f8',
    'cifar10_launched-fine_noise_launched_0.1-2ba26164e5': '2ba26164e57e2576',
    'cifar10_launched-fine_noise_launched_0.3-90222ccec5': '90222ccec5201f2d',
    'cifar100_5-fine-717b334104': '717b334104ad9ab5',
    'cifar100_5-coarse-8616120744': '86161207440b368e',
    'cifar100_15-fine-717b334104': '717b334104ad9ab5',
    'cifar100_15-coarse-8616120744': '86161207440b368e',
    'cifar100_5-fine-9fe10eeb63': '9fe10eeb63ee883c',
    'cifar100_5-coarse-94d8a4ffda': '94d8a4ffda9e0264',
    'cifar100_15-fine-9fe10eeb63': '9fe10eeb63ee883c',
    'cifar100_15-coarse-94d8a4ffda': '94d8a4ffda9e0264',
    'cifar10-fine-2a757a3182': '2a757a318255236a',
    'cifar10-fine_noise_0.3-fa28b05046': 'fa28b05046ee42d7',
}


def _cpu_plan():
    return planner.plan("cpu", imagenet_available=True, budget_hours=None)


def _as_recorded(cfg: ExperimentConfig) -> ExperimentConfig:
    """The run as it was recorded: no dataset path, mixed bfloat16 (see the module docstring)."""
    train = cfg.train
    if train.mixed_precision == profiles.CPU_MIXED_PRECISION:
        train = dataclasses.replace(train, mixed_precision="bfloat16")
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, dataset_dir=""),
                               train=train)


def test_every_cpu_build_keeps_its_hash():
    plan = _cpu_plan()
    assert {d.key: d.build_hash for d in plan.datasets} == {**BUILD_HASHES, **ADDED_BUILD_HASHES}


def test_every_cpu_run_keeps_its_key_and_config_hash():
    plan = _cpu_plan()
    got = {}
    for run in plan.runs:
        chash = config_hash(_as_recorded(run.experiment))
        got[f"{run.key.rsplit('-', 1)[0]}-{chash[:10]}"] = chash
    assert {k: got.get(k) for k in RUN_HASHES} == RUN_HASHES  # the finished runs, unrenamed
    assert got == {**RUN_HASHES, **ADDED_RUN_HASHES}  # and nothing else changed


def test_the_budgeted_cpu_plan_keeps_every_finished_run_within_budget():
    """`make reproduce` (no ImageNet copy here) still runs the 44 runs it ran before issue 14; the
    additions fill what the budget leaves, by priority."""
    plan = planner.plan("cpu")
    keys = {f"{r.key.rsplit('-', 1)[0]}-{config_hash(_as_recorded(r.experiment))[:10]}"
            for r in plan.runs}
    before = {k for k in RUN_HASHES if not k.startswith("imagenet")}
    assert len(before) == 44 and before <= keys <= set(RUN_HASHES) | set(ADDED_RUN_HASHES)
    assert sum(r.estimated_seconds for r in plan.runs) <= plan.budget_seconds


@pytest.mark.parametrize("fraction,epochs", [(1.0, 12), (0.6, 20), (0.2, 60)])
def test_cpu_profile_keeps_the_ceil_rule_for_fractions(fraction, epochs):
    cfg = profiles.get_profile("cpu").recipe_for("cifar10").experiment("fine", fraction=fraction)
    assert cfg.epochs_to_run() == epochs


def test_default_configs_keep_their_hashes():
    assert config_hash(ExperimentConfig()) == "b99024e3375b71c0"  # recorded before final_norm
    assert config_hash(BuildConfig()) == DEFAULT_BUILD_HASH


@pytest.mark.parametrize("kind", [BuildConfig, DataConfig, ModelConfig, TrainConfig])
def test_a_late_field_counts_once_it_leaves_its_default(kind):
    """Fields added after runs were recorded are hashed only away from their default."""
    late = [f for f in dataclasses.fields(kind) if not f.metadata.get(HASHED_WHEN_DEFAULT, True)]
    for field in late:
        other = _other_value(field.default, field.name)
        if other is None:
            continue
        try:
            changed = dataclasses.replace(kind(), **{field.name: other})
        except ConfigError:
            continue  # the other value is invalid on its own (a rule tying it to other fields)
        assert config_hash(changed) != config_hash(kind()), field.name


# Another valid value of each late string field.
_OTHER_STRINGS = {"init": "authors", "epoch_rounding": "floor", "noise_kind": "launched"}


def _other_value(default, name=""):
    if name in _OTHER_STRINGS:
        return _OTHER_STRINGS[name]
    if isinstance(default, bool):
        return not default
    if isinstance(default, (int, float)):
        return default + 1
    return None
