"""Tests for lg_keras.models.layers (PyTorch-default layer factories)."""

import math

import keras
import numpy as np
import tensorflow as tf
import pytest

from lg_keras.errors import ConfigError
from lg_keras.models import layers


def _conv_model(shape, filters, kernel_size, stride, use_bias=False):
    inputs = keras.Input(shape)
    outputs = layers.conv2d(inputs, filters, kernel_size, stride=stride, use_bias=use_bias,
                            weight_decay=5e-4, name='conv')
    return keras.Model(inputs, outputs)


def _reference_conv(x, kernel, stride, pad):
    """Naive PyTorch-semantics conv: zero padding `pad` on every side, no bias. x: HWC, kernel: kkCF."""
    k = kernel.shape[0]
    x = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    out_h = (x.shape[0] - k) // stride + 1
    out_w = (x.shape[1] - k) // stride + 1
    out = np.zeros((out_h, out_w, kernel.shape[-1]))
    for i in range(out_h):
        for j in range(out_w):
            patch = x[i * stride:i * stride + k, j * stride:j * stride + k, :]
            out[i, j] = np.tensordot(patch, kernel, axes=3)
    return out


@pytest.mark.parametrize('size, stride, kernel_size', [(8, 2, 3), (7, 2, 3), (8, 1, 3), (8, 2, 1)])
def test_conv_matches_pytorch_padding(size, stride, kernel_size):
    model = _conv_model((size, size, 2), 3, kernel_size, stride)
    x = np.random.default_rng(0).normal(size=(1, size, size, 2)).astype('float32')
    kernel = model.get_layer('conv').kernel.numpy()
    expected = _reference_conv(x[0], kernel, stride, kernel_size // 2)
    np.testing.assert_allclose(model(x)[0], expected, rtol=1e-4, atol=1e-5)


def test_kernel_and_bias_init_follow_pytorch_bounds():
    keras.utils.set_random_seed(0)
    model = _conv_model((8, 8, 16), 64, 3, 1, use_bias=True)
    conv = model.get_layer('conv')
    bound = 1 / math.sqrt(16 * 3 * 3)  # kaiming_uniform(a=sqrt(5)) and the bias rule share it
    for w in (conv.kernel.numpy(), conv.bias.numpy()):
        assert np.abs(w).max() <= bound
        assert np.abs(w).max() > 0.9 * bound  # uniform over the whole range, not a narrower one


def test_l2_is_half_the_pytorch_weight_decay():
    w = np.array([1.0, -2.0, 3.0], 'float32')
    np.testing.assert_allclose(float(layers.l2(5e-4)(w)), 5e-4 / 2 * 14, rtol=1e-6)
    assert layers.l2(0.0) is None


def test_batch_norm_decays_gamma_and_beta():
    inputs = keras.Input((4, 4, 3))
    outputs = layers.batch_norm(inputs, momentum=0.9, epsilon=1e-5, weight_decay=1e-3, name='bn')
    model = keras.Model(inputs, outputs)
    bn = model.get_layer('bn')
    assert bn.momentum == 0.9 and bn.epsilon == 1e-5
    assert len(model.losses) == 2  # gamma (ones: 3 * 1e-3 / 2) and beta (zeros)
    np.testing.assert_allclose(sorted(float(l) for l in model.losses), [0.0, 3 * 1e-3 / 2], atol=1e-9)


@pytest.mark.parametrize('kwargs', [dict(weight_decay=-1.0), dict(bn_momentum=1.0), dict(bn_epsilon=0.0)])
def test_check_layer_args_rejects(kwargs):
    args = dict(weight_decay=5e-4, bn_momentum=0.9, bn_epsilon=1e-5) | kwargs
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        layers.check_layer_args('Model', **args)


def _bn_pair(momentum=0.9, epsilon=1e-5):
    ours = layers.BatchNormalization(momentum=momentum, epsilon=epsilon)
    keras_bn = keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon)
    for layer in (ours, keras_bn):
        layer.build((None, 5, 4, 3))
        layer.gamma.assign([1.5, 0.5, -1.0])
        layer.beta.assign([0.1, -0.2, 0.3])
    return ours, keras_bn


def test_batch_norm_trains_like_pytorch():
    x = np.random.default_rng(0).normal(2.0, 3.0, (6, 5, 4, 3)).astype('float32')
    ours, _ = _bn_pair()
    y = ours(x, training=True).numpy()
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))  # normalise: biased variance
    expected = (x - mean) / np.sqrt(var + 1e-5) * [1.5, 0.5, -1.0] + [0.1, -0.2, 0.3]
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.moving_mean.numpy(), 0.1 * mean, rtol=1e-5)
    # The running variance follows the kernel's batch variance: biased (oneDNN on CPU, Keras'
    # convention) or unbiased (cuDNN, PyTorch's), never anything else.
    n = x.size // 3
    running = ours.moving_variance.numpy()
    assert any(np.allclose(running, 0.9 + 0.1 * var * factor, rtol=1e-5)
               for factor in (1.0, n / (n - 1))), running


def test_batch_norm_trains_with_the_fused_kernel():
    layer, _ = _bn_pair()
    graph = tf.function(lambda x: layer(x, training=True)).get_concrete_function(
        tf.TensorSpec((2, 5, 4, 3), tf.float32)).graph
    assert any(op.type.startswith('FusedBatchNorm') for op in graph.get_operations())
    graph = tf.function(lambda x: layer(x, training=False)).get_concrete_function(
        tf.TensorSpec((2, 5, 4, 3), tf.float32)).graph
    assert not any(op.type.startswith('FusedBatchNorm') for op in graph.get_operations())


def test_batch_norm_gradients_and_inference_match_keras():
    x = tf.constant(np.random.default_rng(1).normal(0.0, 2.0, (4, 5, 4, 3)).astype('float32'))
    ours, keras_bn = _bn_pair()
    grads = []
    for layer in (ours, keras_bn):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) ** 3)
        grads.append(tape.gradient(loss, [x, layer.gamma.value, layer.beta.value]))
    for a, b in zip(*grads):
        assert a is not None and b is not None
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-3, atol=1e-3)
    keras_bn.moving_mean.assign(ours.moving_mean.numpy())
    keras_bn.moving_variance.assign(ours.moving_variance.numpy())
    np.testing.assert_allclose(ours(x, training=False).numpy(), keras_bn(x, training=False).numpy(),
                               rtol=1e-6)


def test_batch_norm_loads_weights_saved_with_keras_layer(tmp_path):
    def model(make_bn):
        inputs = keras.Input((4, 4, 3))
        return keras.Model(inputs, make_bn(name='bn')(keras.layers.Conv2D(2, 1, name='c')(inputs)))

    saved = model(lambda name: keras.layers.BatchNormalization(name=name))
    saved.get_layer('bn').moving_mean.assign([0.25, -0.5])
    path = str(tmp_path / 'keras_bn.keras')
    saved.save(path)
    ours = model(lambda name: layers.BatchNormalization(name=name))
    ours.load_weights(path)
    np.testing.assert_allclose(ours.get_layer('bn').moving_mean.numpy(), [0.25, -0.5])
