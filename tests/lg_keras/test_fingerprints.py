"""Every hashing scheme goes through `fingerprints.fingerprint` and keeps its digests.

Runs, builds, evaluations and report rows on disk are named by these digests. The expected values
below were computed with the code before the schemes shared one helper (issue 16 item 5), on the
same inputs, so a change of canonical form, of truncation or of what a scheme hashes fails here.
"""

import dataclasses
import hashlib
import os

import pytest

from components.cluster import executor as cluster_executor
from components.evaluator import executor as evaluator_executor
from components.reporter import report_runs
from lg_keras.component_configs import ClusterConfig, EvaluatorConfig
from lg_keras.config import BuildConfig, DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lg_keras.config_io import config_hash, from_dict, to_dict
from lg_keras.fingerprints import canonical_json, fingerprint
from pipelines import cluster_experiment
from pipelines.plan import DatasetSpec, RunSpec

SOURCE_HASH, RUN_HASH = "0123456789abcdef", "fedcba9876543210"


def _experiment() -> ExperimentConfig:
    """Non-default fields in every section, late (unhashed-at-default) ones included."""
    return ExperimentConfig(
        data=DataConfig(dataset_dir="/d", labels="fine_noise_0.1", fraction=0.5),
        model=ModelConfig(head="dropout", init="authors"),
        train=TrainConfig(epochs=30, schedule="milestones",
                          lr_milestones=((10, 0.1), (20, 0.2)), warmup_epochs=2))


def _build() -> BuildConfig:
    return BuildConfig(dataset="cifar100", hierarchy="cifar100_animals", noise=(0.1, 0.3),
                       max_train_per_class=50)


def test_the_canonical_form_is_sorted_json_with_default_separators():
    value = {"b": (1, 2.5), "a": {"y": None, "x": True}, 3: "int key"}
    assert canonical_json(value) == '{"3": "int key", "a": {"x": true, "y": null}, "b": [1, 2.5]}'
    text = b'{"3": "int key", "a": {"x": true, "y": null}, "b": [1, 2.5]}'
    assert fingerprint(value) == hashlib.sha256(text).hexdigest()[:16]
    assert fingerprint(value, length=10) == fingerprint(value)[:10]
    assert fingerprint({"k": (2, 5)}) == fingerprint({"k": [2, 5]})  # tuples are lists
    assert fingerprint({"x": 2}) != fingerprint({"x": 2.0})  # numbers hash as written
    with pytest.raises(TypeError):
        fingerprint({1, 2})


def test_config_hash_and_plan_names_keep_their_digests():
    parent = DatasetSpec(key="cifar100_animals", build=_build(), paper_name="CIFAR-100 animals")
    run = RunSpec(dataset="cifar100_animals", experiment=_experiment())
    assert config_hash(_experiment()) == "efc7f2fa1674fd7c"
    assert config_hash(_build()) == parent.build_hash == "1372d10684db7a89"
    assert run.key == "cifar100_animals-fine_noise_0.1-19590f7e86"


def test_a_float_field_rebuilt_from_json_hashes_its_float():
    """`from_dict` turns a JSON 2 into 2.0 for a float field (warmup_epochs), and the hash sees the
    float: finished runs carry whichever digest built them, so both stay as they are."""
    rebuilt = from_dict(ExperimentConfig, to_dict(_experiment()))
    assert rebuilt.train.warmup_epochs == 2.0 and isinstance(rebuilt.train.warmup_epochs, float)
    assert config_hash(rebuilt) == "6906da7618439b27" != config_hash(_experiment())


def test_clustered_dataset_hashes_keep_their_digests():
    parent = DatasetSpec(key="cifar100_animals", build=_build(), paper_name="CIFAR-100 animals")
    coarse = dataclasses.replace(_experiment(), data=dataclasses.replace(_experiment().data,
                                                                         labels="coarse"))
    spec = cluster_experiment.clustered_spec(parent, coarse, 3)
    assert spec.cluster_config() == {"k": [2, 5, 10], "features": "run", "seed": 3}
    assert spec.build_hash == "faa83488a4f152e1"
    assert cluster_executor.dataset_hash(ClusterConfig(k=(2, 5), features="run", seed=3),
                                         SOURCE_HASH, RUN_HASH) == "47cf1c139e17d52b"
    assert cluster_executor.dataset_hash(ClusterConfig(k=(4,), features="pixels", seed=0),
                                         SOURCE_HASH, None) == "3be97e1a8a1c33e1"


def test_evaluation_keys_keep_their_digests(tmp_path):
    model = tmp_path / "model.keras"
    model.write_bytes(b"x" * 1234)
    os.utime(model, ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    cfg = EvaluatorConfig(hierarchies=("cifar10_custom_1",), embeddings=False, batch_size=512)
    assert evaluator_executor.evaluation_key(cfg, RUN_HASH, str(model),
                                             SOURCE_HASH) == "0f51609fe2c7011e"
    assert evaluator_executor.evaluation_key(EvaluatorConfig(), None, str(model),
                                             None) == "4e88fb63d4118571"
    os.utime(model, ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_790))
    assert evaluator_executor.evaluation_key(EvaluatorConfig(), None, str(model),
                                             None) != "4e88fb63d4118571"  # a retrained model


def test_report_condition_ids_keep_their_digests():
    assert report_runs.condition_id(to_dict(_experiment())) == "b4adee5809"
    unreadable = {"train": {"seed": 1, "epochs": "x"}, "data": {"dataset_dir": "/d"},
                  "extra": [1, 2.5, None]}
    assert report_runs.condition_id(unreadable) == "e754724606"
    assert report_runs.condition_id(None) == "2220177b21"
