"""Tests for lg_keras.models.heads."""

import math

import keras
import numpy as np
import pytest

from lg_keras.errors import ConfigError
from lg_keras.models.heads import HEAD_NAMES, apply_head

FEATURES = 8


def _head_model(head, num_classes=3, num_fine_classes=6, dropout=0.3, weight_decay=5e-4):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((FEATURES,))
    logits = apply_head(inputs, head, num_classes, num_fine_classes=num_fine_classes, dropout=dropout,
                        weight_decay=weight_decay)
    return keras.Model(inputs, logits)


def _dense_layers(model):
    return [l for l in model.layers if isinstance(l, keras.layers.Dense)]


def _features(n, seed):
    return np.random.default_rng(seed).normal(size=(n, FEATURES)).astype('float32')


@pytest.mark.parametrize('head', HEAD_NAMES)
def test_every_head_outputs_float32_logits(head):
    model = _head_model(head)
    logits = model(_features(2, 0))
    assert tuple(logits.shape) == (2, 3) and logits.dtype == 'float32'
    assert model.layers[-1].name == 'logits'
    assert model.get_layer('logits').activation is keras.activations.linear  # logits, no softmax


def test_linear_head_is_one_dense():
    assert [l.units for l in _dense_layers(_head_model('linear'))] == [3]


def test_extra_layer_is_two_dense_layers_without_activation():
    model = _head_model('extra_layer')
    dense = _dense_layers(model)
    assert [l.units for l in dense] == [6, 3]  # features -> fine classes -> classes
    assert all(l.activation is keras.activations.linear for l in dense)
    assert len(model.layers) == 3  # input, extra_layer, logits: nothing in between
    # The composite is affine: f(a + b) - f(b) == f(a) - f(0).
    a, b, zero = _features(4, 1), _features(4, 2), np.zeros((4, FEATURES), 'float32')
    f = lambda x: np.asarray(model(x), 'float64')
    np.testing.assert_allclose(f(a + b) - f(b), f(a) - f(zero), atol=1e-5)


def test_extra_layer_relu_is_not_affine():
    model = _head_model('extra_layer_relu')
    assert model.get_layer('extra_layer').activation is keras.activations.relu
    a, b, zero = _features(16, 1), _features(16, 2), np.zeros((16, FEATURES), 'float32')
    f = lambda x: np.asarray(model(x), 'float64')
    assert not np.allclose(f(a + b) - f(b), f(a) - f(zero), atol=1e-3)


def test_dropout_head_sits_between_features_and_logits():
    model = _head_model('dropout', dropout=0.3)
    dropout = model.get_layer('head_dropout')
    assert dropout.rate == 0.3
    assert model.get_layer('logits').input is dropout.output
    x = _features(64, 3)
    logits = model.get_layer('logits')
    np.testing.assert_allclose(model(x, training=False), logits(x), rtol=1e-6)  # identity at inference
    assert not np.allclose(model(x, training=True), logits(x))


def test_dense_init_follows_pytorch_linear():
    model = _head_model('extra_layer')
    for layer, fan_in in zip(_dense_layers(model), (FEATURES, 6)):
        bound = 1 / math.sqrt(fan_in)
        assert np.abs(layer.kernel.numpy()).max() <= bound
        assert 0 < np.abs(layer.bias.numpy()).max() <= bound


@pytest.mark.parametrize('head', HEAD_NAMES)
def test_weight_decay_on_every_kernel_and_bias(head):
    model = _head_model(head, weight_decay=1e-2)
    weights = model.trainable_weights
    assert len(model.losses) == len(weights) == 2 * len(_dense_layers(model))
    expected = sorted(1e-2 / 2 * float(np.sum(np.square(w.numpy()))) for w in weights)
    np.testing.assert_allclose(sorted(float(l) for l in model.losses), expected, rtol=1e-5)


def test_logits_stay_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy('mixed_bfloat16')
    try:
        model = _head_model('extra_layer')
        assert model.get_layer('extra_layer').compute_dtype == 'bfloat16'
        assert model(_features(2, 0)).dtype == 'float32'
    finally:
        keras.mixed_precision.set_global_policy('float32')


def test_unknown_head_lists_choices():
    choices = 'linear, extra_layer, extra_layer_relu, dropout'
    with pytest.raises(ConfigError, match=f"Unknown head 'mlp'.*{choices}"):
        _head_model('mlp')


@pytest.mark.parametrize('head', ['extra_layer', 'extra_layer_relu'])
def test_extra_layer_needs_num_fine_classes(head):
    with pytest.raises(ConfigError, match='num_fine_classes'):
        _head_model(head, num_fine_classes=None)
