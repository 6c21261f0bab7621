"""The authors' initialisation (`init='authors'`): PyTorch 0.3's defaults, layer by layer.

PyTorch 0.3 drew every conv and linear weight and bias from U(+-1/sqrt(fan_in)) and BatchNorm gamma
from U(0, 1), beta 0. For a uniform U(-b, b): max |w| approaches b and std is b / sqrt(3).
"""

import math

import keras
import numpy as np
import pytest

from lg_keras.errors import ConfigError
from lg_keras.models import PreActResNet18, WideResNet


def _authors_nets():
    keras.utils.set_random_seed(0)
    return {"preact_resnet18": PreActResNet18(num_classes=10, width=8, final_norm=False,
                                              init="authors", image_shape=(32, 32, 3)),
            "wide_resnet": WideResNet(num_classes=10, depth=10, widen_factor=2, init="authors",
                                      image_shape=(32, 32, 3))}


def _weighted(model, kind):
    return [layer for layer in model.layers if isinstance(layer, kind)]


def _fan_in(layer) -> int:
    kernel = np.asarray(layer.kernel)
    return int(np.prod(kernel.shape[:-1]))


@pytest.fixture(scope="module")
def nets():
    return _authors_nets()


@pytest.mark.parametrize("name", ["preact_resnet18", "wide_resnet"])
def test_every_kernel_is_uniform_within_one_over_sqrt_fan_in(nets, name):
    layers = _weighted(nets[name], (keras.layers.Conv2D, keras.layers.Dense))
    assert len(layers) >= 10
    for layer in layers:
        w, bound = np.asarray(layer.kernel), 1.0 / math.sqrt(_fan_in(layer))
        assert np.abs(w).max() <= bound * (1 + 1e-6), layer.name
        if w.size >= 1000:
            assert np.abs(w).max() >= 0.97 * bound, layer.name
            assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.1), layer.name


@pytest.mark.parametrize("name", ["preact_resnet18", "wide_resnet"])
def test_every_bias_is_uniform_too_and_not_zero(nets, name):
    layers = [layer for layer in _weighted(nets[name], (keras.layers.Conv2D, keras.layers.Dense))
              if layer.use_bias]
    # kuangliu's ResNet convs have no bias (only the linear head has one); meliketoy's all do.
    assert len(layers) == (1 if name == "preact_resnet18" else 11)  # stem, 3 x 3 convs, head
    for layer in layers:
        b, bound = np.asarray(layer.bias), 1.0 / math.sqrt(_fan_in(layer))
        assert np.any(b != 0) and np.abs(b).max() <= bound * (1 + 1e-6), layer.name
        assert len(np.unique(b)) == b.size, layer.name


@pytest.mark.parametrize("name", ["preact_resnet18", "wide_resnet"])
def test_batchnorm_gamma_is_uniform_on_0_1_and_beta_zero(nets, name):
    norms = _weighted(nets[name], keras.layers.BatchNormalization)
    gammas = np.concatenate([np.asarray(n.gamma) for n in norms])
    assert np.all((gammas > 0) & (gammas < 1))
    assert gammas.std() == pytest.approx(1 / math.sqrt(12), rel=0.15)
    assert all(np.all(np.asarray(n.beta) == 0) for n in norms)


def test_the_default_init_differs_where_the_authors_did():
    keras.utils.set_random_seed(0)
    wrn = WideResNet(num_classes=10, depth=10, widen_factor=2, image_shape=(32, 32, 3))
    convs = _weighted(wrn, keras.layers.Conv2D)
    assert all(np.all(np.asarray(c.bias) == 0) for c in convs)  # meliketoy's conv_init
    stem = convs[0]
    fan_out = stem.kernel.shape[-1] * 9
    assert np.abs(np.asarray(stem.kernel)).max() > 1.0 / math.sqrt(_fan_in(stem))
    assert np.abs(np.asarray(stem.kernel)).max() <= math.sqrt(12 / (_fan_in(stem) + fan_out))
    norms = _weighted(wrn, keras.layers.BatchNormalization)
    assert all(np.all(np.asarray(n.gamma) == 1) for n in norms)


def test_an_unknown_init_is_rejected_by_name():
    with pytest.raises(ConfigError, match="Unknown PreActResNet18 init 'xavier'. Available: "
                                          "default, authors"):
        PreActResNet18(num_classes=2, width=4, init="xavier")


def test_the_init_survives_the_config_round_trip(nets):
    for model in nets.values():
        assert type(model).from_config(model.get_config()).init == "authors"
