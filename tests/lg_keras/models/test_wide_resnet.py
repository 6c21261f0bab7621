"""Tests for lg_keras.models.wide_resnet."""

import json

import keras
import numpy as np
import pytest

from lg_keras.errors import ConfigError
from lg_keras.models.wide_resnet import WideResNet
from tests.helpers.model_checks import assert_pytorch_weight_decay, images, trainable_param_count

# WRN-10-1: one block per stage, widths 16, 32, 64 -- the same code path as WRN-28-10, fast on CPU.
SMALL = dict(num_classes=7, depth=10, widen_factor=1)


@pytest.fixture(scope='module')
def small():
    keras.utils.set_random_seed(0)
    return WideResNet(image_shape=(32, 32, 3), **SMALL)


@pytest.fixture(scope='module')
def wrn_28_10():
    # Constructing the full network runs no convolution; it takes about 1.5 s.
    return WideResNet(num_classes=100, depth=28, widen_factor=10, block_dropout=0.3,
                      image_shape=(32, 32, 3))


@pytest.mark.parametrize('shape', [(32, 32, 3), (28, 28, 1), (64, 64, 3)])
def test_output_shape_any_input_size(shape):
    model = WideResNet(image_shape=shape, **SMALL)
    logits = model(images(2, *shape), training=False)
    assert tuple(logits.shape) == (2, 7)
    assert logits.dtype == 'float32'


def test_config_round_trip(small):
    config = small.get_config()
    json.dumps(config)
    clone = WideResNet.from_config(config)
    assert clone.get_config() == config
    assert trainable_param_count(clone) == trainable_param_count(small)
    for arg in ('num_classes', 'depth', 'widen_factor', 'block_dropout', 'head', 'num_fine_classes',
                'dropout', 'weight_decay', 'bn_momentum', 'bn_epsilon', 'final_bn_momentum', 'image_shape'):
        assert getattr(small, arg) == config[arg]


def test_wrn_28_10_param_count_matches_table_iii(wrn_28_10):
    count = trainable_param_count(wrn_28_10)
    assert abs(count - 36.5e6) / 36.5e6 < 0.03, count
    # The same count as meliketoy Wide_ResNet(28, 10, 0.3, 100) in PyTorch.
    assert count == 36_546_980


def test_wrn_28_10_layout(wrn_28_10):
    assert wrn_28_10.get_layer('penultimate').output.shape[-1] == 640
    convs = [l for l in wrn_28_10.layers if isinstance(l, keras.layers.Conv2D)]
    # stem + 12 blocks * 2 convs + 3 projection shortcuts = 28 convs (+ the linear layer)
    assert len(convs) == 1 + 24 + 3
    assert all(c.use_bias for c in convs)
    assert [wrn_28_10.get_layer(f'stage{s}_block1_conv2').filters for s in (1, 2, 3)] == [160, 320, 640]
    dropouts = [l for l in wrn_28_10.layers if isinstance(l, keras.layers.Dropout)]
    assert len(dropouts) == 12 and all(d.rate == 0.3 for d in dropouts)


def test_block_follows_meliketoy(small):
    # The stride sits on the second conv of the first block of stages 2 and 3.
    assert small.get_layer('stage2_block1_conv1').strides == (1, 1)
    assert small.get_layer('stage2_block1_conv2').strides == (2, 2)
    # The shortcut reads the block's raw input, not the pre-activated one.
    assert small.get_layer('stage2_block1_shortcut').input is small.get_layer('stage1_block1_add').output
    # Dropout sits between conv1 and the second BN.
    assert small.get_layer('stage1_block1_dropout').input is small.get_layer('stage1_block1_conv1').output
    # Block BNs use bn_momentum; the final BN keeps the authors' PyTorch momentum=0.9 (Keras 0.1).
    assert small.get_layer('stage1_block1_preact_bn').momentum == 0.9
    assert small.get_layer('final_bn').momentum == 0.1
    assert all(bn.epsilon == 1e-5 for bn in small.layers if isinstance(bn, keras.layers.BatchNormalization))


def test_conv_biases_start_at_zero(small):
    for layer in small.layers:
        if isinstance(layer, keras.layers.Conv2D):
            assert not np.any(layer.bias.numpy())


def test_zero_block_dropout_has_no_dropout_layers():
    model = WideResNet(block_dropout=0.0, **SMALL)
    assert not any(isinstance(l, keras.layers.Dropout) for l in model.layers)


def test_penultimate_embeddings(small):
    embed = keras.Model(small.input, small.get_layer('penultimate').output)
    assert tuple(embed(images(2, 32, 32, 3), training=False).shape) == (2, 64)


def test_weight_decay_covers_every_trainable_weight(small):
    assert_pytorch_weight_decay(small, 5e-4)


@pytest.mark.parametrize('kwargs, field', [
    (dict(depth=27), 'depth'),
    (dict(depth=4), 'depth'),
    (dict(widen_factor=0), 'widen_factor'),
    (dict(block_dropout=-0.1), 'block_dropout'),
    (dict(head='extra_layer_relu'), 'num_fine_classes'),
    (dict(head='nope'), 'Available'),
])
def test_invalid_arguments_raise_config_error(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        WideResNet(**(SMALL | kwargs))


def test_keras_save_load_round_trip(small, tmp_path):
    path = tmp_path / 'model.keras'
    small.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, WideResNet)
    assert loaded.get_config() == small.get_config()
    x = images(2, 32, 32, 3)
    np.testing.assert_allclose(loaded(x, training=False), small(x, training=False), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_wrn_28_10_forward_and_save_load(wrn_28_10, tmp_path):
    x = images(2, 32, 32, 3)
    logits = wrn_28_10(x, training=False)
    assert tuple(logits.shape) == (2, 100)
    path = tmp_path / 'wrn.keras'
    wrn_28_10.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded(x, training=False), logits, rtol=1e-4, atol=1e-5)
