"""The `cluster_labels` experiment: its requests, its derived dataset specs, the plan they make."""

import dataclasses
import json
import subprocess
import sys

from lg_keras.component_configs import ClusterConfig
from lg_keras.config import DataConfig
from lg_keras.config_io import parse_config
from pipelines import cluster_experiment, experiments, planner, profiles


def test_registered_with_a_command():
    assert "cluster_labels" in experiments.experiment_names()
    exp = experiments.get_experiment("cluster_labels", profiles.get_profile("smoke"))
    assert exp.command == "lg reproduce --profile cpu --only cluster_labels"


def test_importing_the_registry_alone_registers_it_last():
    """No import hook: `pipelines.experiments` imports the extension module itself, whichever of
    the two a program imports first, and the extension comes after the paper's tables."""
    for first in ("pipelines.experiments", "pipelines.cluster_experiment"):
        code = (f"import {first}\nfrom pipelines import experiments\n"
                "print(experiments.experiment_names()[-1])")
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                             text=True).stdout
        assert out.split() == ["cluster_labels"], (first, out)
    assert not hasattr(experiments, "EXTENSIONS")


def test_the_parent_is_a_field_of_every_dataset_spec():
    exp = experiments.get_experiment("cluster_labels", profiles.get_profile("smoke"))
    parents = {r.dataset.key: r.dataset.parent and r.dataset.parent.key for r in exp.runs}
    assert parents == {"cifar10": None, "cifar100": None,
                       "cifar10_clusters_seed0": "cifar10", "cifar100_clusters_seed0": "cifar100"}
    # plan.json names no parent: the reporter files a derived dataset under its build.
    plan = planner.plan("smoke", ["cluster_labels"])
    assert all("parent" not in d for d in plan.to_dict()["datasets"].values())


def test_requests_per_dataset_and_seed():
    profile = dataclasses.replace(profiles.get_profile("smoke"), seeds=2, pair_seeds=2)
    exp = experiments.get_experiment("cluster_labels", profile)
    assert len(exp.runs) == 2 * 2 * (2 + len(cluster_experiment.CLUSTER_KS))
    for request in exp.runs:
        labels, seed = request.experiment.data.labels, request.experiment.train.seed
        DataConfig(labels=labels)  # a valid label view
        spec = request.dataset
        if labels.startswith("fine_cluster_"):
            assert isinstance(spec, cluster_experiment.ClusteredDatasetSpec)
            assert spec.build == spec.parent.build  # the reporter files it under the parent
            assert spec.features_experiment.data.labels == "coarse"
            assert spec.features_experiment.train.seed == seed == spec.cluster_seed
            assert request.group == f"{spec.parent.key}/seed{seed}"
            # The features run is the coarse request of the same group.
            assert any(r.dataset == spec.parent and r.experiment == spec.features_experiment
                       and r.group == request.group for r in exp.runs)
            assert parse_config(ClusterConfig, spec.cluster_config()).k == (2, 5, 10)
        else:
            assert labels in ("fine", "coarse") and type(spec) is experiments.DatasetSpec


def test_build_hash_names_parent_features_and_config():
    exp = experiments.get_experiment("cluster_labels", profiles.get_profile("smoke"))
    spec = next(r.dataset for r in exp.runs if r.experiment.data.labels == "fine_cluster_5")
    assert spec.build_hash != spec.parent.build_hash
    assert dataclasses.replace(spec, cluster_seed=1).build_hash != spec.build_hash
    other = dataclasses.replace(spec.features_experiment.train, epochs=3)
    moved = dataclasses.replace(spec, features_experiment=dataclasses.replace(
        spec.features_experiment, train=other))
    assert moved.build_hash != spec.build_hash


def test_plan_orders_the_features_run_first_and_serialises():
    plan = planner.plan("smoke", ["cluster_labels"])
    keys = [r.key for r in plan.runs]
    by_key = {d.key: d for d in plan.datasets}
    for index, run in enumerate(plan.runs):
        spec = by_key[run.dataset]
        if isinstance(spec, cluster_experiment.ClusteredDatasetSpec):
            # The run the local runner must finish before clustering is in the plan, earlier.
            assert keys.index(spec.features_run.key) < index
    assert len({d.build_hash for d in plan.datasets}) == len(plan.datasets) == 4
    json.dumps(plan.to_dict())
