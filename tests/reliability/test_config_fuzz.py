"""Property tests: any config dict or `--set` override is accepted or refused with a ConfigError
that names the field, never a TypeError, KeyError or RecursionError from inside.
"""

import dataclasses
import json

from hypothesis import example, given
from hypothesis import strategies as st
import pytest

from lg_keras import config
from lg_keras.config import BuildConfig, ExperimentConfig
from lg_keras.config_io import apply_overrides, config_hash, from_dict, to_dict
from lg_keras.errors import ConfigError
from tests.helpers.fuzz import fuzz, json_values, names_any

SECTIONS = {"data": config.DataConfig, "model": config.ModelConfig, "train": config.TrainConfig}
EXPERIMENT_FIELDS = [(s, f.name) for s, kind in SECTIONS.items() for f in dataclasses.fields(kind)]
BUILD_FIELDS = [f.name for f in dataclasses.fields(BuildConfig)]
# Strings near the ones the configs accept: the choices themselves and near misses.
PLAUSIBLE_STRINGS = sorted({
    *config.AUGMENTATIONS, *config.NORMALIZATIONS, *config.SCHEDULES, *config.STRATEGIES,
    *config.IMAGE_ENCODINGS, *config.COMPRESSIONS, *config.MODEL_NAMES, *config.HEAD_NAMES,
    "on", "off", "fine", "coarse", "fine_noise_0.1", "fine_noise_1", "fine_noise_", "fine_noise_x",
    "fine_cluster_5", "fine_cluster_", "Fine", "", " ", "cifar10", "folder:/nonexistent"})

values = st.one_of(json_values, st.sampled_from(PLAUSIBLE_STRINGS),
                   st.lists(st.floats(-1, 2) | st.integers(-2, 3), max_size=4))


def _check_accepted(cfg) -> None:
    """An accepted config survives the JSON round trip that kfp and config.json use."""
    again = from_dict(type(cfg), json.loads(json.dumps(to_dict(cfg))))
    assert config_hash(again) == config_hash(cfg)


@fuzz(120)
@given(changes=st.lists(st.tuples(st.sampled_from(EXPERIMENT_FIELDS + [("data", None),
                                                                       ("junk", None)]),
                                  st.text(max_size=6), values), min_size=1, max_size=3))
@example(changes=[(("train", "schedule"), "", "milestones")])  # once named only lr_milestones
def test_experiment_from_dict(changes, counts):
    counts["generated_config_dicts"] += 1
    tree = to_dict(ExperimentConfig())
    named = []
    for (section, field), key, value in changes:
        if section == "junk":  # an unknown top-level or section key
            tree.setdefault(key or "x", value)
            named += [key or "x", "Unknown field"]
        elif field is None:  # a whole section replaced
            tree[section] = value
            named.append(section)
        elif isinstance(tree[section], dict):
            tree[section][field] = value
            named.append(f"{section}.{field}")
    try:
        cfg = from_dict(ExperimentConfig, tree)
    except ConfigError as e:
        assert names_any(str(e), named), (str(e), named)
        counts["generated_inputs_rejected_cleanly"] += 1
    else:
        _check_accepted(cfg)
        counts["generated_inputs_accepted"] += 1


@fuzz(80)
@given(changes=st.dictionaries(st.sampled_from(BUILD_FIELDS) | st.text(max_size=6), values,
                               min_size=1, max_size=3))
@example(changes={"max_train_per_class": True})  # a bool is not an int (was accepted)
@example(changes={"noise": [0.5, 0.5]})
def test_build_config_from_dict(changes, counts):
    counts["generated_config_dicts"] += 1
    tree = {**to_dict(BuildConfig()), **changes}
    try:
        cfg = from_dict(BuildConfig, tree)
    except ConfigError as e:
        assert names_any(str(e), list(changes)), (str(e), changes)
        counts["generated_inputs_rejected_cleanly"] += 1
    else:
        _check_accepted(cfg)
        counts["generated_inputs_accepted"] += 1


def test_from_dict_names_a_non_string_key():
    """JSON keys are strings, but a YAML or Python caller's may not be (was a TypeError)."""
    with pytest.raises(ConfigError, match=r"Unknown field 'data\.1'"):
        from_dict(ExperimentConfig, {"data": {1: 2, "labels": "fine"}})


_PATHS = [f"{s}.{f}" for s, f in EXPERIMENT_FIELDS] + list(SECTIONS) + [
    "train", "train.", ".epochs", "train.epochs.x", "data..labels", " train.epochs ", "model.x"]


@st.composite
def overrides(draw):
    """`--set` arguments: FIELD=JSON, FIELD=text, odd numbers, or no '=' at all."""
    path = draw(st.sampled_from(_PATHS) | st.text(max_size=10))
    kind = draw(st.integers(0, 3))
    if kind == 0:
        value = json.dumps(draw(values))
    elif kind == 1:
        value = draw(st.sampled_from(["1e400", "-1e400", "NaN", "Infinity", "-0", "0x10", "1_000",
                                      "[0.5,", "{", "null", "true", "\"2\"", "2.0", "[]", "{}"]))
    elif kind == 2:
        value = draw(st.text(max_size=10))
    else:
        return draw(st.text(max_size=12).filter(lambda t: "=" not in t))
    return f"{path}={value}"


@fuzz(120)
@given(items=st.lists(overrides(), min_size=1, max_size=3))
@example(items=["train.epochs=" + "[" * 100_000])  # was a RecursionError from json
@example(items=["data={}"])
def test_apply_overrides(items, counts):
    counts["generated_overrides"] += 1
    try:
        cfg = apply_overrides(ExperimentConfig(), items)
    except ConfigError as e:
        paths = [i.split("=", 1)[0].strip() for i in items if "=" in i]
        assert names_any(str(e), items + paths + [p.split(".")[0] for p in paths]) or (
            "--set expects FIELD=VALUE" in str(e)), (str(e), items)
        counts["generated_inputs_rejected_cleanly"] += 1
    else:
        _check_accepted(cfg)
        counts["generated_inputs_accepted"] += 1
