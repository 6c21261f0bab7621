"""Wide residual network, the paper's CIFAR-100 and CIFAR-100-animals network (Table III).

Zagoruyko & Komodakis 2016, as in meliketoy/wide-resnet.pytorch `Wide_ResNet(28, 10, 0.3, classes)`,
the code the authors used: a 3x3 stem conv with 16 channels, three stages of n = (depth - 4) / 6
`wide_basic` blocks with 16k, 32k, 64k channels (strides 1, 2, 2), final BN-ReLU, global average
pooling and a head. WRN-28-10 with 100 classes has 36.5M parameters (Table III: 36.5M, "26 layers").

Details kept from that code:
- `wide_basic` is BN-ReLU-conv3x3-dropout-BN-ReLU-conv3x3; the stride sits on the SECOND conv.
- The shortcut (a 1x1 conv when stride or width changes) reads the block's raw input, not the
  pre-activated one (unlike the PreActResNet block).
- Every conv has a bias (PyTorch's default `bias=True`).
- Initialisation. meliketoy's file defines `conv_init` (conv kernels xavier_uniform(gain=sqrt(2)),
  conv biases 0), but the authors' scripts never call `net.apply(conv_init)` (FACTS.md): their
  WRN runs started from PyTorch 0.3's defaults, every conv and linear weight and bias
  U(+-1/sqrt(fan_in)) and BatchNorm gamma U(0, 1). `init='authors'` builds that (the paper
  profile); `init='default'` keeps `conv_init` on the convs and gamma 1. The final Linear has
  PyTorch's default init either way.
- The final BatchNorm is built with PyTorch `momentum=0.9`, i.e. Keras momentum 0.1 (its running
  statistics follow the latest batches). `final_bn_momentum` defaults to that value; the block
  BatchNorms use `bn_momentum`.
Pooling is global, so any input size works (the code's `avg_pool2d(out, 8)` equals it for 32x32).
"""

import keras

from lg_keras.errors import ConfigError
from lg_keras.models import heads
from lg_keras.models import layers

# meliketoy `self.bn1 = nn.BatchNorm2d(nStages[3], momentum=0.9)`: PyTorch 0.9 = Keras 0.1.
AUTHORS_FINAL_BN_MOMENTUM = 0.1
_STAGE_STRIDES = (1, 2, 2)
_STEM_WIDTH = 16


def _conv_init():
    """meliketoy `conv_init`: xavier_uniform_(gain=sqrt(2)) -> U(+-sqrt(12 / (fan_in + fan_out)))."""
    return keras.initializers.VarianceScaling(scale=2.0, mode='fan_avg', distribution='uniform')


@keras.saving.register_keras_serializable(package='lg_keras')
class WideResNet(keras.Model):
    """Wide ResNet (WRN-28-10 with dropout 0.3), the paper's CIFAR-100 CNN.

    Functional model: NHWC images in, float32 logits out. The pooled features are the output of the
    layer named `penultimate` (64 * widen_factor channels); the last Dense layer is named `logits`.

    Example:
        model = WideResNet(num_classes=100, depth=28, widen_factor=10, image_shape=(32, 32, 3))
        logits = model(np.zeros((2, 32, 32, 3), 'float32'))  # (2, 100)
        embed = keras.Model(model.input, model.get_layer('penultimate').output)

    Args:
        num_classes: number of output logits.
        depth: total depth 6n + 4 (28 in the paper's runs).
        widen_factor: k; stage widths 16k, 32k, 64k (10 in the paper's runs).
        block_dropout: dropout rate between the two convs of every block (0.3 in the paper's runs).
        head: classifier head, one of `heads.HEAD_NAMES`.
        num_fine_classes: width of the extra layer (extra-layer heads only).
        dropout: rate of the 'dropout' head (separate from `block_dropout`).
        weight_decay: PyTorch-style SGD weight decay, applied as L2(weight_decay / 2) to every
            kernel, bias, gamma and beta.
        bn_momentum: Keras momentum of the block BatchNorms (0.9 = PyTorch's default 0.1).
        bn_epsilon: BatchNorm epsilon (1e-5 = PyTorch's default).
        final_bn_momentum: Keras momentum of the BatchNorm before pooling; default 0.1 reproduces
            the authors' code; pass `bn_momentum` for a conventional network.
        init: 'default' (meliketoy's `conv_init` on the convs, BatchNorm gamma 1) or 'authors'
            (PyTorch 0.3 defaults, as the authors' runs started; see the module docstring).
        image_shape: (height, width, channels); height and width may be None.
        **kwargs: forwarded to `keras.Model` (e.g. `name`).

    Raises:
        ConfigError: if an argument breaks its rule.
    """

    def __init__(self, num_classes, depth=28, widen_factor=10, block_dropout=0.3, head='linear',
                 num_fine_classes=None, dropout=0.3, weight_decay=5e-4, bn_momentum=0.9,
                 bn_epsilon=1e-5, final_bn_momentum=AUTHORS_FINAL_BN_MOMENTUM, init='default',
                 image_shape=(None, None, 3), **kwargs):
        owner = type(self).__name__
        layers.check_positive_int(owner, 'num_classes', num_classes)
        layers.check_positive_int(owner, 'depth', depth)
        if depth < 10 or (depth - 4) % 6:
            raise ConfigError(f'{owner} depth must be 6n + 4 with n >= 1 (e.g. 28); got {depth!r}.')
        layers.check_positive_int(owner, 'widen_factor', widen_factor)
        if not 0 <= block_dropout < 1:
            raise ConfigError(f'{owner} block_dropout must be in [0, 1); got {block_dropout!r}.')
        heads.check_head_args(owner, head, num_fine_classes, dropout)
        layers.check_layer_args(owner, weight_decay, bn_momentum, bn_epsilon)
        layers.check_layer_args(owner, weight_decay, final_bn_momentum, bn_epsilon)
        layers.check_init(owner, init)
        image_shape = layers.check_image_shape(owner, image_shape)
        gamma = layers.bn_gamma_initializer(init)
        norm = dict(momentum=bn_momentum, epsilon=bn_epsilon, weight_decay=weight_decay,
                    gamma_initializer=gamma)

        # === Functional graph ===
        inputs = keras.Input(shape=image_shape, name='images')
        x = _conv(inputs, _STEM_WIDTH, 3, 1, weight_decay, init, name='stem_conv')
        for stage, stride in enumerate(_STAGE_STRIDES):
            filters = _STEM_WIDTH * widen_factor * 2 ** stage
            for block in range((depth - 4) // 6):
                x = _wide_basic(x, filters, stride if block == 0 else 1, block_dropout, norm, init,
                                name=f'stage{stage + 1}_block{block + 1}')
        x = layers.bn_relu(x, momentum=final_bn_momentum, epsilon=bn_epsilon, weight_decay=weight_decay,
                           gamma_initializer=gamma, name='final')
        features = keras.layers.GlobalAveragePooling2D(name='penultimate')(x)
        logits = heads.apply_head(features, head, num_classes, num_fine_classes=num_fine_classes,
                                  dropout=dropout, weight_decay=weight_decay)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.depth = depth
        self.widen_factor = widen_factor
        self.block_dropout = block_dropout
        self.head = head
        self.num_fine_classes = num_fine_classes
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon
        self.final_bn_momentum = final_bn_momentum
        self.init = init
        self.image_shape = image_shape
        self.compute_policy = layers.current_policy()

    def get_config(self):
        """Returns the constructor arguments (plus name, trainable and the dtype policy)."""
        return {
            'name': self.name,
            'trainable': self.trainable,
            'num_classes': self.num_classes,
            'depth': self.depth,
            'widen_factor': self.widen_factor,
            'block_dropout': self.block_dropout,
            'head': self.head,
            'num_fine_classes': self.num_fine_classes,
            'dropout': self.dropout,
            'weight_decay': self.weight_decay,
            'bn_momentum': self.bn_momentum,
            'bn_epsilon': self.bn_epsilon,
            'final_bn_momentum': self.final_bn_momentum,
            'init': self.init,
            'image_shape': self.image_shape,
            'compute_policy': self.compute_policy,
        }

    @classmethod
    def from_config(cls, config):
        """Rebuilds the model from `get_config()` output, in the dtype policy it was built with."""
        return layers.from_config_under_policy(cls, config)


def _conv(x, filters, kernel_size, stride, weight_decay, init, name):
    """A meliketoy conv with its bias: `conv_init` ('default') or PyTorch's default ('authors')."""
    if init == 'authors':  # layers.conv2d's defaults are PyTorch's
        return layers.conv2d(x, filters, kernel_size, stride=stride, use_bias=True,
                             weight_decay=weight_decay, name=name)
    return layers.conv2d(x, filters, kernel_size, stride=stride, use_bias=True, weight_decay=weight_decay,
                         kernel_initializer=_conv_init(), bias_initializer='zeros', name=name)


def _wide_basic(x, filters, stride, block_dropout, norm, init, name):
    """meliketoy `wide_basic`: BN-ReLU-conv3x3-dropout-BN-ReLU-conv3x3(stride) + shortcut(raw x)."""
    out = layers.bn_relu(x, **norm, name=f'{name}_preact')
    out = _conv(out, filters, 3, 1, norm['weight_decay'], init, name=f'{name}_conv1')
    if block_dropout > 0:
        out = keras.layers.Dropout(block_dropout, name=f'{name}_dropout')(out)
    out = layers.bn_relu(out, **norm, name=f'{name}_mid')
    out = _conv(out, filters, 3, stride, norm['weight_decay'], init, name=f'{name}_conv2')
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _conv(x, filters, 1, stride, norm['weight_decay'], init, name=f'{name}_shortcut')
    else:
        shortcut = x
    return keras.layers.Add(name=f'{name}_add')([out, shortcut])
