"""Keras layers configured to behave like the PyTorch layers of the authors' code.

The paper's networks were trained in PyTorch. Three PyTorch defaults differ from Keras and matter here:

- Weight decay. PyTorch SGD's `weight_decay=wd` adds `wd * w` to the gradient of EVERY parameter,
  inside momentum: conv and dense kernels, biases, BatchNorm gamma and beta. The Keras equivalent is
  an L2 regulariser of `wd / 2` on each of them (`L2(l)` adds `l * sum(w**2)` to the loss, whose
  gradient is `2 * l * w = wd * w`). Keras' optimizer `weight_decay` is decoupled and is not the same.
- BatchNorm. PyTorch momentum 0.1 is Keras momentum 0.9 (Keras weights the old running value);
  PyTorch epsilon is 1e-5 (Keras default 1e-3).
- Initialisation. `nn.Conv2d` and `nn.Linear` draw kernels from kaiming_uniform(a=sqrt(5)), i.e.
  U(-1/sqrt(fan_in), 1/sqrt(fan_in)) = Keras VarianceScaling(1/3, 'fan_in', 'uniform'), and biases
  from U(-1/sqrt(fan_in), 1/sqrt(fan_in)). We reproduce the bias rule exactly: fan_in is known when
  the functional graph is built, so each bias gets a RandomUniform with that bound. PyTorch before
  1.0 (the authors' 0.3) drew BatchNorm gamma from U(0, 1) (beta 0); 1.0 changed it to 1.
  `init='authors'` (`bn_gamma_initializer`) gives the old rule.

`BatchNormalization` below calls TensorFlow's fused kernel in training (one op for the batch statistics, the
normalisation and their gradient, where Keras 3 composes several): the thin ResNet-18 trains about
1.4-1.7x faster on this CPU (445 -> 654 and 375 -> 626 images/s in two paired runs).

Strided 3x3 convolutions pad explicitly by one pixel on every side, as PyTorch's `padding=1` does;
Keras 'same' would pad only the bottom/right for even inputs, shifting the sampling grid.
"""

import contextlib
import math

import keras
import tensorflow as tf

from lg_keras.errors import ConfigError



def check_layer_args(owner, weight_decay, bn_momentum, bn_epsilon):
    """Validates the hyperparameters shared by every layer factory here.

    Args:
        owner: name of the model being built, for the error message.
        weight_decay: PyTorch-style weight decay; must be >= 0.
        bn_momentum: Keras BatchNorm momentum; must be in [0, 1).
        bn_epsilon: BatchNorm epsilon; must be > 0.

    Raises:
        ConfigError: if a value breaks its rule.
    """
    if not weight_decay >= 0:
        raise ConfigError(f'{owner} weight_decay must be >= 0; got {weight_decay!r}.')
    if not 0 <= bn_momentum < 1:
        raise ConfigError(f'{owner} bn_momentum must be in [0, 1) (Keras convention: PyTorch 0.1 = '
                          f'Keras 0.9); got {bn_momentum!r}.')
    if not bn_epsilon > 0:
        raise ConfigError(f'{owner} bn_epsilon must be > 0; got {bn_epsilon!r}.')


def check_positive_int(owner, field, value):
    """Raises ConfigError unless `value` is an int >= 1 (bools rejected).

    Args:
        owner: name of the model being built, for the error message.
        field: name of the argument.
        value: the value received.

    Raises:
        ConfigError: if `value` is not a positive integer.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f'{owner} {field} must be a positive integer; got {value!r}.')


def check_image_shape(owner, image_shape):
    """Validates and normalises an (height, width, channels) input shape.

    Height and width may be None (any size); channels must be a positive integer because the stem's
    kernel depends on it.

    Args:
        owner: name of the model being built, for the error message.
        image_shape: sequence of three entries.

    Returns:
        The shape as a tuple.

    Raises:
        ConfigError: if the shape is malformed.
    """
    shape = tuple(image_shape)
    if len(shape) != 3 or any(d is not None and (not isinstance(d, int) or d < 1) for d in shape[:2]):
        raise ConfigError(f'{owner} image_shape must be (height, width, channels) with positive or None '
                          f'height/width (channels last); got {image_shape!r}.')
    check_positive_int(owner, 'image_shape[2] (channels)', shape[2])
    return shape


def current_policy():
    """The name of the global Keras dtype policy, which layers built now compute in."""
    return keras.config.dtype_policy().name


@contextlib.contextmanager
def policy_scope(policy):
    """Layers built inside compute in the Keras dtype policy `policy` (None: leave it as it is)."""
    previous = keras.config.dtype_policy()
    if policy:
        keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def from_config_under_policy(cls, config):
    """Rebuilds a model class from its config under the dtype policy it was built with.

    The models here rebuild their layers from constructor arguments, so a saved mixed-precision
    model would otherwise come back in whatever policy is global at load time. `config` may hold
    'compute_policy' (absent in files saved before it was recorded: the global policy is used).
    """
    config = dict(config)
    with policy_scope(config.pop('compute_policy', None)):
        return cls(**config)


def l2(weight_decay):
    """Returns the Keras regulariser equal to PyTorch SGD weight decay `weight_decay`, or None for 0."""
    return keras.regularizers.L2(weight_decay / 2.0) if weight_decay > 0 else None


def torch_kernel_init():
    """PyTorch's default conv/linear kernel init, kaiming_uniform(a=sqrt(5)): U(+-1/sqrt(fan_in))."""
    return keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode='fan_in', distribution='uniform')


def torch_bias_init(fan_in):
    """PyTorch's default bias init U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for a layer with this fan-in."""
    bound = 1.0 / math.sqrt(fan_in)
    return keras.initializers.RandomUniform(-bound, bound)


def conv2d(x, filters, kernel_size, *, stride=1, use_bias, weight_decay, name,
           kernel_initializer=None, bias_initializer=None):
    """Applies a PyTorch-like Conv2d (padding k//2, like the authors' `padding=1` for 3x3) to `x`.

    Args:
        x: NHWC tensor with a known channel count.
        filters: output channels.
        kernel_size: odd square kernel size (1 or 3 here).
        stride: spatial stride.
        use_bias: whether the conv has a bias.
        weight_decay: PyTorch-style weight decay for the kernel and bias.
        name: layer name (the explicit padding layer, if any, is named `name + '_pad'`).
        kernel_initializer: Keras initializer; PyTorch default kaiming_uniform(a=sqrt(5)) if None.
        bias_initializer: Keras initializer; PyTorch default U(+-1/sqrt(fan_in)) if None.

    Returns:
        NHWC tensor with `filters` channels.
    """
    fan_in = x.shape[-1] * kernel_size * kernel_size
    padding = 'same'
    if stride > 1 and kernel_size > 1:
        x = keras.layers.ZeroPadding2D(kernel_size // 2, name=f'{name}_pad')(x)
        padding = 'valid'
    return keras.layers.Conv2D(
        filters, kernel_size, strides=stride, padding=padding, use_bias=use_bias,
        kernel_initializer=kernel_initializer or torch_kernel_init(),
        bias_initializer=bias_initializer or torch_bias_init(fan_in),
        kernel_regularizer=l2(weight_decay), bias_regularizer=l2(weight_decay) if use_bias else None,
        name=name)(x)


@keras.saving.register_keras_serializable(package='lg_keras')
class BatchNormalization(keras.layers.BatchNormalization):
    """Keras' BatchNormalization with TensorFlow's fused kernel in training.

    It keeps Keras' class name on purpose: `.keras` files store a layer's weights under a path
    made from its class name, so models and checkpoints saved with Keras' layer load into this
    one and back.

    Training on a 4-D NHWC input normalises with `tf.nn.fused_batch_norm` (batch mean and biased
    variance, as Keras and PyTorch do). The running variance moves towards the batch variance the
    kernel reports: the biased one from TensorFlow's oneDNN CPU kernel (Keras' convention), the
    unbiased one from cuDNN (PyTorch's). The two differ by n / (n - 1) for n values per channel:
    at most 1.0005 with batch 128 on 32 x 32 inputs. Inference, and any other input rank, is
    Keras' own path, which reads the same running statistics.
    """

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable) or len(inputs.shape) != 4 or self.axis not in (-1, 3):
            return super().call(inputs, training=training, mask=mask)
        x = inputs if inputs.dtype in (tf.float16, tf.bfloat16, tf.float32) else tf.cast(
            inputs, tf.float32)
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x, tf.cast(self.gamma, tf.float32), tf.cast(self.beta, tf.float32),
            epsilon=self.epsilon, data_format='NHWC', is_training=True)
        keep = self.momentum
        self.moving_mean.assign(self.moving_mean * keep + mean * (1.0 - keep))
        self.moving_variance.assign(self.moving_variance * keep + variance * (1.0 - keep))
        return tf.cast(y, self.compute_dtype)


INITIALIZATIONS = ('default', 'authors')


def check_init(owner, init):
    """Raises ConfigError unless `init` is one of INITIALIZATIONS."""
    if init not in INITIALIZATIONS:
        raise ConfigError(f"Unknown {owner} init {init!r}. Available: {', '.join(INITIALIZATIONS)}.")


def bn_gamma_initializer(init):
    """BatchNorm gamma's initializer: 1 ('default', PyTorch >= 1.0) or U(0, 1) ('authors': PyTorch
    0.3, `BatchNorm2d.reset_parameters` drew `weight.data.uniform_()`)."""
    return 'ones' if init == 'default' else keras.initializers.RandomUniform(0.0, 1.0)


def batch_norm(x, *, momentum, epsilon, weight_decay, name, gamma_initializer='ones'):
    """Applies BatchNorm (beta 0, gamma and beta decayed like PyTorch) over the channel axis of `x`."""
    return BatchNormalization(
        momentum=momentum, epsilon=epsilon, gamma_initializer=gamma_initializer,
        gamma_regularizer=l2(weight_decay), beta_regularizer=l2(weight_decay), name=name)(x)


def bn_relu(x, *, momentum, epsilon, weight_decay, name, gamma_initializer='ones'):
    """BatchNorm then ReLU, the pre-activation unit; layers are named `name + '_bn'`/`'_relu'`."""
    x = batch_norm(x, momentum=momentum, epsilon=epsilon, weight_decay=weight_decay,
                   gamma_initializer=gamma_initializer, name=f'{name}_bn')
    return keras.layers.ReLU(name=f'{name}_relu')(x)


def dense(x, units, *, weight_decay, name, activation=None, dtype=None):
    """Applies a PyTorch-default nn.Linear (kernel and bias init, both decayed) to `x`.

    Args:
        x: (batch, features) tensor.
        units: output features.
        weight_decay: PyTorch-style weight decay for the kernel and bias.
        name: layer name.
        activation: Keras activation, None for linear.
        dtype: layer dtype or policy; 'float32' keeps logits in float32 under mixed precision.

    Returns:
        (batch, units) tensor.
    """
    return keras.layers.Dense(
        units, activation=activation,
        kernel_initializer=torch_kernel_init(), bias_initializer=torch_bias_init(x.shape[-1]),
        kernel_regularizer=l2(weight_decay), bias_regularizer=l2(weight_decay),
        dtype=dtype, name=name)(x)
