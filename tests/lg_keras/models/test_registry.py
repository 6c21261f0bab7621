"""Tests for the lg_keras.models registry (build_model)."""

import dataclasses
import types

import keras
import pytest

from lg_keras.config import ModelConfig
from lg_keras.errors import ConfigError
from lg_keras.models import HEAD_NAMES, MODEL_NAMES, PreActResNet18, WideResNet, build_model


def _cfg(**overrides):
    """A stand-in for lg_keras.config.ModelConfig with its defaults."""
    defaults = dict(name='preact_resnet18', width=64, head='linear', dropout=0.3, weight_decay=5e-4,
                    bn_momentum=0.9, bn_epsilon=1e-5, depth=28, widen_factor=10, block_dropout=0.3,
                    final_norm=True, init='default')
    return types.SimpleNamespace(**(defaults | overrides))


def test_names():
    assert MODEL_NAMES == ('preact_resnet18', 'wide_resnet')
    assert HEAD_NAMES == ('linear', 'extra_layer', 'extra_layer_relu', 'dropout')


def test_builds_preact_resnet_from_config_fields():
    model = build_model(_cfg(width=4, head='extra_layer', dropout=0.1, weight_decay=1e-3, bn_momentum=0.8,
                             bn_epsilon=1e-4), num_classes=2, input_shape=(28, 28, 1), num_fine_classes=10)
    assert isinstance(model, PreActResNet18)
    assert (model.width, model.head, model.num_fine_classes, model.dropout, model.weight_decay,
            model.bn_momentum, model.bn_epsilon, model.image_shape) == (
                4, 'extra_layer', 10, 0.1, 1e-3, 0.8, 1e-4, (28, 28, 1))
    assert tuple(model.output.shape) == (None, 2)
    assert model.get_layer('extra_layer').units == 10
    assert model.final_norm and model.get_layer('final_bn')


def test_final_norm_false_builds_the_authors_network_without_the_last_batchnorm():
    model = build_model(_cfg(width=4, final_norm=False), num_classes=2, input_shape=(8, 8, 3))
    assert not model.final_norm
    assert 'final_bn' not in [layer.name for layer in model.layers]


def test_builds_wide_resnet_from_config_fields():
    model = build_model(_cfg(name='wide_resnet', depth=10, widen_factor=1, block_dropout=0.0, head='dropout'),
                        num_classes=5, input_shape=(32, 32, 3))
    assert isinstance(model, WideResNet)
    assert (model.depth, model.widen_factor, model.block_dropout, model.head) == (10, 1, 0.0, 'dropout')
    assert model.get_layer('penultimate').output.shape[-1] == 64
    assert model.get_layer('head_dropout').rate == 0.3


def test_unknown_model_lists_choices():
    message = "Unknown model 'resnet50'. Available: preact_resnet18, wide_resnet."
    with pytest.raises(ConfigError, match=message):
        build_model(_cfg(name='resnet50'), 10, (32, 32, 3))


def test_unknown_head_lists_choices():
    with pytest.raises(ConfigError, match="Unknown head 'mlp'. Available: linear, extra_layer"):
        build_model(_cfg(head='mlp'), 10, (32, 32, 3))


def test_extra_layer_without_num_fine_classes_fails():
    with pytest.raises(ConfigError, match='num_fine_classes'):
        build_model(_cfg(width=4, head='extra_layer'), 2, (32, 32, 3))


def test_project_model_config_defaults_build():
    model = build_model(dataclasses.replace(ModelConfig(), width=4), 10, (32, 32, 3))
    assert isinstance(model, PreActResNet18)
