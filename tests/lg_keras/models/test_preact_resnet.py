"""Tests for lg_keras.models.preact_resnet."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from lg_keras.errors import ConfigError
from lg_keras.models.preact_resnet import PreActResNet18
from tests.helpers.model_checks import assert_pytorch_weight_decay, images, trainable_param_count

TINY = dict(num_classes=5, width=4)


@pytest.fixture(scope='module')
def tiny():
    keras.utils.set_random_seed(0)
    return PreActResNet18(image_shape=(32, 32, 3), **TINY)


@pytest.mark.parametrize('shape', [(32, 32, 3), (28, 28, 1), (64, 64, 3)])
def test_output_shape_any_input_size(shape):
    model = PreActResNet18(image_shape=shape, **TINY)
    logits = model(images(2, *shape), training=False)
    assert tuple(logits.shape) == (2, 5)
    assert logits.dtype == 'float32'


def test_unknown_spatial_size_accepts_several_sizes():
    model = PreActResNet18(**TINY)  # image_shape (None, None, 3)
    for size in (32, 40):
        assert tuple(model(images(2, size, size, 3)).shape) == (2, 5)


def test_config_round_trip(tiny):
    config = tiny.get_config()
    json.dumps(config)  # the .keras format stores it as JSON
    clone = PreActResNet18.from_config(config)
    assert clone.get_config() == config
    assert trainable_param_count(clone) == trainable_param_count(tiny)
    for arg in ('num_classes', 'width', 'head', 'num_fine_classes', 'dropout', 'weight_decay',
                'bn_momentum', 'bn_epsilon', 'final_norm', 'image_shape'):
        assert getattr(tiny, arg) == config[arg]


@pytest.mark.parametrize('width, table_iii', [(64, 11.1e6), (16, 0.7e6)])
def test_param_count_matches_table_iii(width, table_iii):
    model = PreActResNet18(num_classes=10, width=width, image_shape=(32, 32, 3))
    count = trainable_param_count(model)
    assert abs(count - table_iii) / table_iii < 0.03, count
    assert model.get_layer('penultimate').output.shape[-1] == 8 * width


def test_final_norm_false_matches_kuangliu_parameter_count():
    # kuangliu/pytorch-cifar PreActResNet18(): 11,171,146 parameters; our default adds the final BN.
    model = PreActResNet18(num_classes=10, width=64, final_norm=False)
    assert trainable_param_count(model) == 11_171_146
    with_norm = PreActResNet18(num_classes=10, width=64)
    assert trainable_param_count(with_norm) == 11_171_146 + 2 * 512


def test_penultimate_embeddings(tiny):
    embed = keras.Model(tiny.input, tiny.get_layer('penultimate').output)
    features = embed(images(2, 32, 32, 3), training=False)
    assert tuple(features.shape) == (2, 8 * TINY['width'])
    assert np.all(np.asarray(features) >= 0)  # pooled after the final ReLU


def test_architecture_follows_kuangliu(tiny):
    convs = [l for l in tiny.layers if isinstance(l, keras.layers.Conv2D)]
    # stem + 8 blocks * 2 convs + 3 projection shortcuts (stages 2-4)
    assert len(convs) == 1 + 16 + 3
    assert not any(c.use_bias for c in convs)
    assert [c.strides for c in convs if c.name.endswith('block1_conv1')] == [(1, 1), (2, 2), (2, 2), (2, 2)]
    # The projection shortcut reads the pre-activated input, as in the PyTorch PreActBlock.
    shortcut = tiny.get_layer('stage2_block1_shortcut')
    assert shortcut.input is tiny.get_layer('stage2_block1_preact_relu').output
    bns = [l for l in tiny.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert all(bn.momentum == 0.9 and bn.epsilon == 1e-5 for bn in bns)
    assert tiny.get_layer('logits').activation is keras.activations.linear


def test_strided_conv_pads_like_pytorch():
    # Strided 3x3 convs pad one pixel on every side (PyTorch padding=1), not Keras 'same'.
    model = PreActResNet18(num_classes=2, width=1, image_shape=(8, 8, 1))
    conv = model.get_layer('stage2_block1_conv1')
    pad = model.get_layer('stage2_block1_conv1_pad')
    assert pad.padding == ((1, 1), (1, 1)) and conv.padding == 'valid'


def test_weight_decay_covers_every_trainable_weight(tiny):
    assert_pytorch_weight_decay(tiny, 5e-4)


def test_zero_weight_decay_adds_no_losses():
    model = PreActResNet18(weight_decay=0.0, **TINY)
    assert model.losses == []


def test_gradients_reach_every_weight_and_bn_updates():
    model = PreActResNet18(image_shape=(16, 16, 3), **TINY)
    before = model.get_layer('final_bn').moving_mean.numpy().copy()
    with tf.GradientTape() as tape:
        logits = model(images(4, 16, 16, 3), training=True)
        loss = keras.losses.sparse_categorical_crossentropy(np.arange(4), logits, from_logits=True)
        loss = tf.reduce_mean(loss) + tf.add_n(model.losses)
    grads = tape.gradient(loss, model.trainable_variables)
    assert np.isfinite(float(loss))
    assert all(g is not None and np.any(g.numpy()) for g in grads)
    assert not np.allclose(before, model.get_layer('final_bn').moving_mean.numpy())


def test_mixed_precision_keeps_float32_logits():
    keras.mixed_precision.set_global_policy('mixed_bfloat16')
    try:
        model = PreActResNet18(image_shape=(32, 32, 3), **TINY)
        assert model.get_layer('stem_conv').compute_dtype == 'bfloat16'
        assert model(images(2, 32, 32, 3)).dtype == 'float32'
    finally:
        keras.mixed_precision.set_global_policy('float32')


def test_a_saved_mixed_precision_model_loads_in_its_own_policy(tmp_path):
    """The model rebuilds its layers from constructor arguments: the policy must travel too."""
    keras.mixed_precision.set_global_policy('mixed_bfloat16')
    try:
        model = PreActResNet18(image_shape=(32, 32, 3), **TINY)
    finally:
        keras.mixed_precision.set_global_policy('float32')
    model.save(tmp_path / 'm.keras')
    loaded = keras.models.load_model(tmp_path / 'm.keras')
    assert loaded.get_layer('stem_conv').compute_dtype == 'bfloat16'
    assert keras.config.dtype_policy().name == 'float32'
    x = images(2, 32, 32, 3)
    np.testing.assert_array_equal(loaded(x), model(x))
    plain = PreActResNet18(image_shape=(32, 32, 3), **TINY)
    plain.save(tmp_path / 'p.keras')
    assert keras.models.load_model(tmp_path / 'p.keras').get_layer(
        'stem_conv').compute_dtype == 'float32'


@pytest.mark.parametrize('kwargs, field', [
    (dict(width=0), 'width'),
    (dict(num_classes=0), 'num_classes'),
    (dict(head='mlp'), 'Available'),
    (dict(head='extra_layer'), 'num_fine_classes'),
    (dict(dropout=1.0), 'dropout'),
    (dict(bn_momentum=1.5), 'bn_momentum'),
    (dict(image_shape=(32, 32)), 'image_shape'),
])
def test_invalid_arguments_raise_config_error(kwargs, field):
    args = dict(TINY, **kwargs)
    with pytest.raises(ConfigError, match=field):
        PreActResNet18(**args)


def test_keras_save_load_round_trip(tiny, tmp_path):
    path = tmp_path / 'model.keras'
    tiny.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, PreActResNet18)
    assert loaded.get_config() == tiny.get_config()
    x = images(2, 32, 32, 3)
    np.testing.assert_allclose(loaded(x, training=False), tiny(x, training=False), rtol=1e-5, atol=1e-6)
    assert 'penultimate' in [layer.name for layer in loaded.layers]


@pytest.mark.slow
def test_keras_save_load_round_trip_full_width(tmp_path):
    model = PreActResNet18(num_classes=10, width=64, head='extra_layer', num_fine_classes=10,
                           image_shape=(32, 32, 3))
    path = tmp_path / 'model.keras'
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = images(2, 32, 32, 3)
    np.testing.assert_allclose(loaded(x, training=False), model(x, training=False), rtol=1e-4, atol=1e-5)
