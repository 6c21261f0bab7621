"""Assertions shared by the model tests."""

import numpy as np


def trainable_param_count(model):
    """Number of trainable scalars, PyTorch's `sum(p.numel() for p in net.parameters())`."""
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def assert_pytorch_weight_decay(model, weight_decay):
    """Asserts every trainable weight carries L2(wd / 2) and model.losses holds exactly those terms."""
    weights = model.trainable_weights
    assert len(model.losses) == len(weights)
    expected = []
    for w in weights:
        assert w.regularizer is not None, f'{w.path} has no regulariser'
        expected.append(weight_decay / 2 * float(np.sum(np.square(np.asarray(w.numpy(), 'float64')))))
    got = sorted(float(loss) for loss in model.losses)
    np.testing.assert_allclose(got, sorted(expected), rtol=1e-5, atol=1e-12)


def images(*shape, seed=0):
    """Seeded standard-normal float32 images of the given NHWC shape."""
    return np.random.default_rng(seed).normal(size=shape).astype('float32')
