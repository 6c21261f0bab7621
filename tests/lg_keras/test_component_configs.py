"""The evaluator, cluster and reporter configs: defaults, `parse_config`/`from_dict`, and errors
that name the field, the rule and the value."""

import dataclasses
import json

import pytest

from lg_keras.component_configs import (MAX_PROJECTOR_EXAMPLES, ClusterConfig, EvaluatorConfig,
                                        ReporterConfig)
from lg_keras.config_io import from_dict, parse_config, to_dict
from lg_keras.errors import ConfigError

KINDS = (EvaluatorConfig, ClusterConfig, ReporterConfig)


@pytest.mark.parametrize("kind", KINDS)
def test_defaults_round_trip_through_json(kind):
    cfg = kind()
    assert parse_config(kind, None) == parse_config(kind, "") == parse_config(kind, {}) == cfg
    assert parse_config(kind, json.dumps(to_dict(cfg))) == cfg
    assert parse_config(kind, cfg) is cfg  # an entry point's config passes through
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(cfg, dataclasses.fields(kind)[0].name, None)


def test_values_from_json_become_the_typed_fields():
    cfg = parse_config(EvaluatorConfig, '{"hierarchies": ["cifar10_custom_1"], "batch_size": 64}')
    assert cfg.hierarchies == ("cifar10_custom_1",) and cfg.batch_size == 64
    assert parse_config(ClusterConfig, {"k": [5, 2], "seed": 3}) == ClusterConfig(k=(5, 2), seed=3)
    assert parse_config(ReporterConfig, {"confidence": 0.9}).confidence == 0.9


@pytest.mark.parametrize("kind, value, message", [
    (EvaluatorConfig, {"hierarchy": ["x"]},
     "Unknown field 'hierarchy'. Available: batch_size, embeddings, hierarchies, "
     "max_embedding_examples, tsne_seed."),
    (EvaluatorConfig, {"hierarchies": "cifar10"}, "hierarchies must be a list; got 'cifar10'."),
    (EvaluatorConfig, {"hierarchies": [""]},
     "hierarchies must be non-empty strings (names or YAML paths); got ['']."),
    (EvaluatorConfig, {"embeddings": 1}, "embeddings must be of type bool; got 1."),
    (EvaluatorConfig, {"batch_size": -1}, "batch_size must be an integer >= 0; got -1."),
    (EvaluatorConfig, {"max_embedding_examples": MAX_PROJECTOR_EXAMPLES + 1},
     f"max_embedding_examples must be an integer in [2, {MAX_PROJECTOR_EXAMPLES}]; got "
     f"{MAX_PROJECTOR_EXAMPLES + 1}."),
    (ClusterConfig, {"k": 5}, "k must be a list; got 5."),
    (ClusterConfig, {"k": []}, "k must be a non-empty list of integers >= 1; got ()."),
    (ClusterConfig, {"k": [2, 0]}, "k must be a list of integers >= 1; got [2, 0]."),
    (ClusterConfig, {"k": [2, 2]}, "k must not repeat a value; got [2, 2]."),
    (ClusterConfig, {"features": "pca"}, "Unknown features 'pca'. Available: run, pixels."),
    (ClusterConfig, {"seed": -1}, "seed must be a non-negative integer; got -1."),
    (ReporterConfig, '{"confidence": 1.5}', "confidence must be a number in (0, 1); got 1.5."),
    (ReporterConfig, '{"confidence": true}', "confidence must be of type float; got True."),
    (ReporterConfig, "[0.9]", "ReporterConfig must be a mapping; got [0.9]."),
])
def test_errors_name_the_field_rule_and_value(kind, value, message):
    with pytest.raises(ConfigError) as error:
        parse_config(kind, value)
    assert str(error.value) == message


def test_malformed_json_names_the_config():
    with pytest.raises(ConfigError, match=r"^The ClusterConfig must be a JSON object; got '\{k'"):
        parse_config(ClusterConfig, "{k")


def test_direct_construction_validates_too():
    """A config built in code (the CLIs build them with from_dict) is checked the same way."""
    with pytest.raises(ConfigError, match="k must be a non-empty list of integers >= 1; got 5."):
        ClusterConfig(k=5)
    with pytest.raises(ConfigError, match="confidence must be a number in"):
        ReporterConfig(confidence=1)
    assert from_dict(ReporterConfig, {"confidence": 0.5}) == ReporterConfig(0.5)
