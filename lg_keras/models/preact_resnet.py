"""Pre-activation ResNet-18, the paper's CIFAR-10 and ImageNet-subset network (Table III).

He et al. 2016, "Identity Mappings in Deep Residual Networks", in the layout of the
kuangliu/pytorch-cifar `PreActResNet18` the authors used: a 3x3 stride-1 stem, four stages of two
PreActBlocks (widths w, 2w, 4w, 8w; strides 1, 2, 2, 2), global average pooling and a head.
Convolutions have no bias. Base width 64 (widest 512) gives 11.17M parameters with 10 classes
(Table III: 11.1M); base width 16 (widest 128) gives 0.70M (Table III: 0.7M).

Differences from the authors' PyTorch code, on purpose:
- `final_norm=True` (default) adds BN+ReLU after the last stage, as in He et al. 2016. The kuangliu
  code pools the raw output of the last block (no final BN+ReLU); `final_norm=False` reproduces it.
  The difference is 2 * 8w parameters.
- Pooling is global, so any input size works (the PyTorch code's `avg_pool2d(out, 4)` equals it
  only for 32x32 inputs).
"""

import keras

from lg_keras.models import heads
from lg_keras.models import layers

_STAGE_STRIDES = (1, 2, 2, 2)
_BLOCKS_PER_STAGE = 2


@keras.saving.register_keras_serializable(package='lg_keras')
class PreActResNet18(keras.Model):
    """Pre-activation ResNet-18 (He et al. 2016), the paper's CIFAR-10 / ImageNet-subset CNN.

    Functional model: NHWC images in, float32 logits out. The pooled features are the output of the
    layer named `penultimate` (8 * width channels); the last Dense layer is named `logits`.

    Example:
        model = PreActResNet18(num_classes=10, width=64, image_shape=(32, 32, 3))
        logits = model(np.zeros((2, 32, 32, 3), 'float32'))  # (2, 10)
        embed = keras.Model(model.input, model.get_layer('penultimate').output)

    Args:
        num_classes: number of output logits.
        width: base width w; the stages have w, 2w, 4w, 8w channels (64 for CIFAR-10, 16 for the
            ImageNet subsets).
        head: classifier head, one of `heads.HEAD_NAMES`.
        num_fine_classes: width of the extra layer (extra-layer heads only).
        dropout: rate of the 'dropout' head (Table V uses 0.3).
        weight_decay: PyTorch-style SGD weight decay, applied as L2(weight_decay / 2) to every
            kernel, bias, gamma and beta.
        bn_momentum: Keras BatchNorm momentum (0.9 = PyTorch's default 0.1).
        bn_epsilon: BatchNorm epsilon (1e-5 = PyTorch's default).
        final_norm: BN+ReLU before pooling (He et al.); False reproduces kuangliu's code exactly.
        init: 'default' (PyTorch >= 1.0: BatchNorm gamma 1) or 'authors' (PyTorch 0.3, what the
            authors ran: gamma U(0, 1)). Convs and linear layers get PyTorch's default either way.
        image_shape: (height, width, channels); height and width may be None.
        **kwargs: forwarded to `keras.Model` (e.g. `name`).

    Raises:
        ConfigError: if an argument breaks its rule.
    """

    def __init__(self, num_classes, width=64, head='linear', num_fine_classes=None, dropout=0.3,
                 weight_decay=5e-4, bn_momentum=0.9, bn_epsilon=1e-5, final_norm=True,
                 init='default', image_shape=(None, None, 3), **kwargs):
        owner = type(self).__name__
        layers.check_positive_int(owner, 'num_classes', num_classes)
        layers.check_positive_int(owner, 'width', width)
        heads.check_head_args(owner, head, num_fine_classes, dropout)
        layers.check_layer_args(owner, weight_decay, bn_momentum, bn_epsilon)
        layers.check_init(owner, init)
        image_shape = layers.check_image_shape(owner, image_shape)
        norm = dict(momentum=bn_momentum, epsilon=bn_epsilon, weight_decay=weight_decay,
                    gamma_initializer=layers.bn_gamma_initializer(init))

        # === Functional graph ===
        inputs = keras.Input(shape=image_shape, name='images')
        x = layers.conv2d(inputs, width, 3, use_bias=False, weight_decay=weight_decay, name='stem_conv')
        for stage, stride in enumerate(_STAGE_STRIDES):
            filters = width * 2 ** stage
            for block in range(_BLOCKS_PER_STAGE):
                x = _preact_block(x, filters, stride if block == 0 else 1, norm,
                                  name=f'stage{stage + 1}_block{block + 1}')
        if final_norm:
            x = layers.bn_relu(x, **norm, name='final')
        features = keras.layers.GlobalAveragePooling2D(name='penultimate')(x)
        logits = heads.apply_head(features, head, num_classes, num_fine_classes=num_fine_classes,
                                  dropout=dropout, weight_decay=weight_decay)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.width = width
        self.head = head
        self.num_fine_classes = num_fine_classes
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon
        self.final_norm = final_norm
        self.init = init
        self.image_shape = image_shape
        self.compute_policy = layers.current_policy()

    def get_config(self):
        """Returns the constructor arguments (plus name, trainable and the dtype policy)."""
        return {
            'name': self.name,
            'trainable': self.trainable,
            'num_classes': self.num_classes,
            'width': self.width,
            'head': self.head,
            'num_fine_classes': self.num_fine_classes,
            'dropout': self.dropout,
            'weight_decay': self.weight_decay,
            'bn_momentum': self.bn_momentum,
            'bn_epsilon': self.bn_epsilon,
            'final_norm': self.final_norm,
            'init': self.init,
            'image_shape': self.image_shape,
            'compute_policy': self.compute_policy,
        }

    @classmethod
    def from_config(cls, config):
        """Rebuilds the model from `get_config()` output, in the dtype policy it was built with."""
        return layers.from_config_under_policy(cls, config)


def _preact_block(x, filters, stride, norm, name):
    """kuangliu's PreActBlock: BN-ReLU, then conv3x3(stride)-BN-ReLU-conv3x3, plus shortcut.

    The projection shortcut (1x1 conv, when the shape changes) reads the pre-activated input; the
    identity shortcut reads the raw input, as in He et al. 2016 and the authors' code.
    """
    out = layers.bn_relu(x, **norm, name=f'{name}_preact')
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.conv2d(out, filters, 1, stride=stride, use_bias=False,
                                 weight_decay=norm['weight_decay'], name=f'{name}_shortcut')
    else:
        shortcut = x
    out = layers.conv2d(out, filters, 3, stride=stride, use_bias=False,
                        weight_decay=norm['weight_decay'], name=f'{name}_conv1')
    out = layers.bn_relu(out, **norm, name=f'{name}_mid')
    out = layers.conv2d(out, filters, 3, use_bias=False, weight_decay=norm['weight_decay'],
                        name=f'{name}_conv2')
    return keras.layers.Add(name=f'{name}_add')([out, shortcut])
